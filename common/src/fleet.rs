//! The builder: a [`FleetSpec`] plus the current fleet -> the deckies to create
//! ([`DeckyPlan`]s), and the mutator's service pick ([`pick_new_services`]).
//!
//! Pure and deterministic: randomness comes from the caller's seed, so the server can log
//! the seed and reproduce a plan, and the browser can preview one.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::catalogue::{self, HostnameStyle, NmapOs};
use crate::ini::{CustomService, FleetSpec, IniError, IniErrorKind};
use crate::interval::{IntervalSetting, MutateInterval};
use crate::name::{DeckyName, ServiceSlug};
use crate::persona::ServiceConfig;
use crate::rng::SplitMix64;

/// A decky already in the fleet, as the builder needs to see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExistingDecky {
    pub name: DeckyName,
    pub ip: Ipv4Addr,
    pub hostname: String,
}

/// Everything besides the INI that decides a plan.
#[derive(Clone, Debug)]
pub struct PlanContext<'a> {
    /// The current fleet.
    pub existing: &'a [ExistingDecky],
    /// The new INI replaces the fleet: existing deckies are ignored for name, IP and
    /// hostname clashes and for the limit, since they will be torn down.
    pub replace_fleet: bool,
    /// `None`: no limit (validation without a server).
    pub deployment_limit: Option<u32>,
    /// The global setting; applies to deckies whose section and `[general]` set nothing.
    pub global_interval: Option<MutateInterval>,
    /// The host's own address on the decoy LAN: never allocated, never accepted.
    pub host_ip: Option<Ipv4Addr>,
    /// Drives random services and hostnames.
    pub seed: u64,
}

impl Default for PlanContext<'_> {
    /// An empty fleet, no limit, the default global interval (30m), seed 0.
    fn default() -> Self {
        PlanContext {
            existing: &[],
            replace_fleet: false,
            deployment_limit: None,
            global_interval: Some(MutateInterval::DEFAULT),
            host_ip: None,
            seed: 0,
        }
    }
}

/// One decky to create: the desired state the server stores and the runner realises.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeckyPlan {
    pub name: DeckyName,
    pub ip: Ipv4Addr,
    pub hostname: String,
    /// Distro slug.
    pub distro: String,
    /// Archetype slug.
    pub archetype: Option<String>,
    pub nmap_os: NmapOs,
    pub services: Vec<ServiceSlug>,
    pub service_config: ServiceConfig,
    /// Minutes between automatic mutations; `None`: never.
    pub mutate_interval: Option<u32>,
    /// Definitions of the bring-your-own services among `services`.
    pub custom_services: Vec<CustomService>,
}

/// Most services a random pick or a mutation gives a decky.
const MAX_RANDOM_SERVICES: usize = 3;
/// Draws before the mutator gives up finding a set different from the current one.
const MUTATION_DRAWS: usize = 20;

// Independent random streams, so adding a draw to one never shifts the other.
const STREAM_SERVICES: u64 = 1;
const STREAM_HOSTNAME: u64 = 2;

/// Builds the deckies of `spec` against the current fleet: clashes, the deployment limit,
/// IP allocation, distro, hostname, OS, services and interval (SPEC 2.1, 3). The first
/// problem is returned, with the line of the section it concerns.
pub fn plan(spec: &FleetSpec, ctx: &PlanContext<'_>) -> Result<Vec<DeckyPlan>, IniError> {
    let existing: &[ExistingDecky] = if ctx.replace_fleet { &[] } else { ctx.existing };
    let conflict = |message: String, line| IniError::new(IniErrorKind::Conflict, message, line);
    let semantic = |message: String, line| IniError::new(IniErrorKind::Semantic, message, line);

    for d in &spec.deckies {
        if existing.iter().any(|e| e.name == d.name) {
            return Err(conflict(
                format!(
                    "decky '{}' already exists; submit with replace_fleet=true to overwrite \
                     the fleet",
                    d.name
                ),
                Some(d.line),
            ));
        }
        if let Some(ip) = d.ip {
            if existing.iter().any(|e| e.ip == ip) {
                return Err(conflict(
                    format!("IP {ip} is already in use by an existing decky"),
                    Some(d.line),
                ));
            }
            if ctx.host_ip == Some(ip) {
                return Err(semantic(
                    format!("[{}] ip={ip} is the host's own address", d.section),
                    Some(d.line),
                ));
            }
        }
    }

    let total = existing.len().saturating_add(spec.deckies.len());
    if let Some(limit) = ctx.deployment_limit {
        if total > limit as usize {
            return Err(conflict(
                format!(
                    "Deployment would result in {total} deckies, exceeding the configured \
                     limit of {limit}"
                ),
                None,
            ));
        }
    }

    let net = spec.general.net;
    let mut reserved: BTreeSet<Ipv4Addr> = [net.network(), net.broadcast(), spec.general.gateway]
        .into_iter()
        .chain(ctx.host_ip)
        .chain(spec.deckies.iter().filter_map(|d| d.ip))
        .chain(existing.iter().map(|e| e.ip))
        .collect();
    let mut free = net.hosts();

    let implemented: Vec<ServiceSlug> = catalogue::services().map(|s| s.slug.clone()).collect();
    let all_distros: Vec<&str> = catalogue::distros().iter().map(|d| &*d.slug).collect();
    let mut hostnames: BTreeSet<String> = existing
        .iter()
        .map(|e| e.hostname.to_ascii_lowercase())
        .collect();

    let mut plans = Vec::with_capacity(spec.deckies.len());
    for (index, d) in spec.deckies.iter().enumerate() {
        let ip = match d.ip {
            Some(ip) => ip,
            None => {
                let next = free.by_ref().find(|ip| !reserved.contains(ip));
                let Some(ip) = next else {
                    return Err(semantic(
                        format!(
                            "Not enough free IPs in {net} while assigning IP for '{}'.",
                            d.name
                        ),
                        Some(d.line),
                    ));
                };
                reserved.insert(ip);
                ip
            }
        };

        let distro_pool: Vec<&str> = match d.archetype {
            Some(a) => a.preferred_distros.iter().map(|s| &**s).collect(),
            None => all_distros.clone(),
        };
        let distro = distro_pool
            .get(index % distro_pool.len().max(1))
            .copied()
            .unwrap_or("debian");
        let style = catalogue::distro_by_slug(distro)
            .map(|d| d.hostname_style)
            .unwrap_or(HostnameStyle::Generic);
        let mut rng = SplitMix64::derive(ctx.seed, STREAM_HOSTNAME, index as u64);
        let hostname = unique_hostname(style, &mut rng, &mut hostnames);

        let services = match (&d.services, d.archetype) {
            (Some(explicit), _) => explicit.clone(),
            (None, Some(a)) => a.services.to_vec(),
            (None, None) => {
                let mut rng = SplitMix64::derive(ctx.seed, STREAM_SERVICES, index as u64);
                random_services(&implemented, &mut rng)
            }
        };
        let custom_services = spec
            .custom_services
            .iter()
            .filter(|c| services.contains(&c.slug))
            .cloned()
            .collect();

        let nmap_os = d
            .nmap_os
            .or(d.archetype.map(|a| a.nmap_os))
            .unwrap_or(NmapOs::Linux);

        let mutate_interval = match d.mutate_interval.or(spec.general.mutate_interval) {
            Some(IntervalSetting::Off) => None,
            Some(IntervalSetting::Every(i)) => Some(i.minutes()),
            None => ctx.global_interval.map(MutateInterval::minutes),
        };

        plans.push(DeckyPlan {
            name: d.name.clone(),
            ip,
            hostname,
            distro: distro.to_owned(),
            archetype: d.archetype.map(|a| a.slug.to_string()),
            nmap_os,
            services,
            service_config: d.service_config.clone(),
            mutate_interval,
            custom_services,
        });
    }
    Ok(plans)
}

/// 1 to 3 distinct services of `pool`.
fn random_services(pool: &[ServiceSlug], rng: &mut SplitMix64) -> Vec<ServiceSlug> {
    let k = rng.between(1, MAX_RANDOM_SERVICES.min(pool.len()));
    rng.sample(pool, k)
}

/// The pool a decky's services rotate through: its archetype's services, else every
/// implemented service (SPEC 1, Mutation).
pub fn mutation_pool(archetype: Option<&str>) -> Vec<ServiceSlug> {
    match archetype.and_then(catalogue::archetype_by_slug) {
        Some(a) => a.services.to_vec(),
        None => catalogue::services().map(|s| s.slug.clone()).collect(),
    }
}

/// A new service set for a mutation: 1 to 3 services of `pool`, as a set different from
/// `current`, in up to 20 draws. `None` when no draw differs (e.g. a one-service pool the
/// decky already runs): "No services available to mutate".
pub fn pick_new_services(
    current: &[ServiceSlug],
    pool: &[ServiceSlug],
    seed: u64,
) -> Option<Vec<ServiceSlug>> {
    let mut distinct: Vec<ServiceSlug> = Vec::with_capacity(pool.len());
    for s in pool {
        if !distinct.contains(s) {
            distinct.push(s.clone());
        }
    }
    if distinct.is_empty() {
        return None;
    }
    let current: BTreeSet<&ServiceSlug> = current.iter().collect();
    let mut rng = SplitMix64::new(seed);
    (0..MUTATION_DRAWS)
        .map(|_| random_services(&distinct, &mut rng))
        .find(|chosen| chosen.iter().collect::<BTreeSet<_>>() != current)
}

/// Words for hostnames; with two-digit numbers, 1800 names per style (600 for `rolling`).
const WORDS: [&str; 20] = [
    "alpha", "atlas", "backup", "cache", "core", "db", "dev", "edge", "files", "gate", "hub",
    "mail", "nova", "ops", "orion", "prod", "proxy", "relay", "vault", "web",
];

/// A hostname in the distro's style, unique (case-insensitively) among `used`, which it
/// joins. Random draws first; once the style's space is crowded, a numeric suffix.
fn unique_hostname(
    style: HostnameStyle,
    rng: &mut SplitMix64,
    used: &mut BTreeSet<String>,
) -> String {
    const DRAWS: usize = 16;
    let mut candidate = String::new();
    for _ in 0..DRAWS {
        candidate = hostname(style, rng);
        if used.insert(candidate.to_ascii_lowercase()) {
            return candidate;
        }
    }
    // Terminates: `used` is finite, so some suffix is free.
    let mut n: u64 = 2;
    loop {
        let with_suffix = match style {
            // Keep `.localdomain` last.
            HostnameStyle::Rhel => match candidate.split_once('.') {
                Some((host, domain)) => format!("{host}-{n}.{domain}"),
                None => format!("{candidate}-{n}"),
            },
            _ => format!("{candidate}-{n}"),
        };
        if used.insert(with_suffix.to_ascii_lowercase()) {
            return with_suffix;
        }
        n = n.saturating_add(1);
    }
}

fn hostname(style: HostnameStyle, rng: &mut SplitMix64) -> String {
    let word = |rng: &mut SplitMix64| WORDS.get(rng.below(WORDS.len())).copied().unwrap_or("srv");
    let w = word(rng);
    let num = rng.between(10, 99);
    match style {
        HostnameStyle::Generic => format!("SRV-{}-{num}", w.to_ascii_uppercase()),
        HostnameStyle::Rhel => format!("{w}{num}.localdomain"),
        HostnameStyle::Minimal => format!("{w}-{num}"),
        HostnameStyle::Rolling => {
            let mut second = word(rng);
            if second == w {
                // Pick the next word instead of drawing again: always distinct.
                let i = WORDS.iter().position(|&x| x == w).unwrap_or(0);
                second = WORDS.get((i + 1) % WORDS.len()).copied().unwrap_or("node");
            }
            format!("{w}-{second}")
        }
    }
}
