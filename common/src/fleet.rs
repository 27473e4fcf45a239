//! The builder: a [`FleetSpec`] plus the current fleet -> the deckies to create
//! ([`DeckyPlan`]s), and the mutator's service pick ([`pick_new_services`]).
//!
//! Pure and deterministic: randomness comes from the caller's seed, so the server can log
//! the seed and reproduce a plan, and the browser can preview one.

use std::collections::{BTreeMap, BTreeSet};
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

    let existing_names: BTreeSet<&DeckyName> = existing.iter().map(|e| &e.name).collect();
    let existing_ips: BTreeSet<Ipv4Addr> = existing.iter().map(|e| e.ip).collect();
    for d in &spec.deckies {
        if existing_names.contains(&d.name) {
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
            if existing_ips.contains(&ip) {
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
        .chain(existing_ips)
        .collect();
    let mut free = net.hosts();

    let implemented: Vec<ServiceSlug> = catalogue::services().map(|s| s.slug.clone()).collect();
    let custom: BTreeMap<&ServiceSlug, &CustomService> =
        spec.custom_services.iter().map(|c| (&c.slug, c)).collect();
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

        // By position in the INI: the archetype's preferred distros, else all, in turn.
        let distro: &str = match d.archetype {
            Some(a) => {
                let pool = &a.preferred_distros;
                pool.get(index % pool.len().max(1)).map(|s| &**s)
            }
            None => {
                let pool = catalogue::distros();
                pool.get(index % pool.len().max(1)).map(|d| &*d.slug)
            }
        }
        .unwrap_or("debian");
        let style = catalogue::distro_by_slug(distro)
            .map(|d| d.hostname_style)
            .unwrap_or(HostnameStyle::Generic);
        let mut rng = SplitMix64::derive(ctx.seed, STREAM_HOSTNAME, index as u64);
        let hostname = unique_hostname(style, &mut rng, &mut hostnames);

        let services = match (&d.services, d.archetype) {
            (Some(explicit), _) => {
                if let Some((a, b, port)) = first_port_clash(explicit, &custom) {
                    return Err(semantic(
                        format!(
                            "[{}] services {a} and {b} both listen on port {port}; a decky can run \
                             only one of them.",
                            d.section
                        ),
                        Some(d.line),
                    ));
                }
                explicit.clone()
            }
            (None, Some(a)) => a.services.to_vec(),
            (None, None) => {
                let mut rng = SplitMix64::derive(ctx.seed, STREAM_SERVICES, index as u64);
                random_services(&implemented, &mut rng)
            }
        };
        let custom_services = services
            .iter()
            .filter_map(|s| custom.get(s).map(|&c| c.clone()))
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

/// 1 to 3 distinct services of `pool` that can share one network namespace (a service
/// whose port is already taken by an earlier pick is dropped).
fn random_services(pool: &[ServiceSlug], rng: &mut SplitMix64) -> Vec<ServiceSlug> {
    let k = rng.between(1, MAX_RANDOM_SERVICES.min(pool.len()));
    let mut chosen: Vec<ServiceSlug> = Vec::with_capacity(k);
    for s in rng.sample(pool, k) {
        if chosen
            .iter()
            .all(|c| catalogue::shared_port(c.as_str(), s.as_str()).is_none())
        {
            chosen.push(s);
        }
    }
    chosen
}

/// The first pair of services (built-in or bring-your-own) that listen on one port.
fn first_port_clash(
    services: &[ServiceSlug],
    custom: &std::collections::BTreeMap<&ServiceSlug, &CustomService>,
) -> Option<(ServiceSlug, ServiceSlug, u16)> {
    let ports = |s: &ServiceSlug| -> Vec<u16> {
        match custom.get(s) {
            Some(c) => c.ports.clone(),
            None => catalogue::service_by_slug(s.as_str())
                .map(|x| x.ports.to_vec())
                .unwrap_or_default(),
        }
    };
    for (i, a) in services.iter().enumerate() {
        for b in &services[i + 1..] {
            let pa = ports(a);
            let shared = match (custom.get(a), custom.get(b)) {
                // Built-ins know which ports they give up to each other (conpot and snmp).
                (None, None) => catalogue::shared_port(a.as_str(), b.as_str()),
                _ => ports(b).into_iter().find(|p| pa.contains(p)),
            };
            if let Some(p) = shared {
                return Some((a.clone(), b.clone(), p));
            }
        }
    }
    None
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
    let mut seen = BTreeSet::new();
    let distinct: Vec<ServiceSlug> = pool.iter().filter(|s| seen.insert(*s)).cloned().collect();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ini::parse;
    use proptest::prelude::*;

    fn spec(text: &str) -> FleetSpec {
        parse(text).unwrap_or_else(|e| panic!("{e}"))
    }

    fn planned(text: &str, ctx: &PlanContext<'_>) -> Vec<DeckyPlan> {
        plan(&spec(text), ctx).unwrap_or_else(|e| panic!("{e}"))
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn existing(name: &str, addr: &str, hostname: &str) -> ExistingDecky {
        ExistingDecky {
            name: DeckyName::parse(name).unwrap(),
            ip: ip(addr),
            hostname: hostname.to_owned(),
        }
    }

    fn slugs(v: &[&str]) -> Vec<ServiceSlug> {
        v.iter().map(|s| ServiceSlug::parse(s).unwrap()).collect()
    }

    #[test]
    fn explicit_ips_first_then_lowest_free_hosts() {
        let plans = planned("[a]\n[b]\nip=192.168.1.2\n[c]\n", &PlanContext::default());
        let ips: Vec<_> = plans.iter().map(|p| p.ip).collect();
        // .0 network, .1 gateway, .2 explicit for b.
        assert_eq!(
            ips,
            [ip("192.168.1.3"), ip("192.168.1.2"), ip("192.168.1.4")]
        );
    }

    #[test]
    fn allocation_skips_host_ip_existing_ips_and_gateway() {
        let fleet = [existing("old", "10.0.0.3", "old-host")];
        let ctx = PlanContext {
            existing: &fleet,
            host_ip: Some(ip("10.0.0.2")),
            ..Default::default()
        };
        let plans = planned(
            "[general]\nnet=10.0.0.0/24\ngw=10.0.0.1\n[a]\namount=2",
            &ctx,
        );
        let ips: Vec<_> = plans.iter().map(|p| p.ip).collect();
        assert_eq!(ips, [ip("10.0.0.4"), ip("10.0.0.5")]);
    }

    #[test]
    fn not_enough_free_ips_names_the_decky() {
        let e = plan(
            &spec("[general]\nnet=192.168.1.0/30\n[a]\n[b]\n"),
            &PlanContext::default(),
        )
        .unwrap_err();
        assert_eq!(
            e.message,
            "Not enough free IPs in 192.168.1.0/30 while assigning IP for 'b'."
        );
        assert_eq!(e.kind, IniErrorKind::Semantic);
        assert_eq!(e.line, Some(4));
        // validate_all finds it without a server.
        let all = crate::ini::validate_all("[general]\nnet=192.168.1.0/30\n[a]\n[b]\n");
        assert_eq!(all, vec![e]);
    }

    #[test]
    fn existing_name_is_a_conflict_unless_replacing() {
        let fleet = [existing("web", "192.168.1.50", "h")];
        let ctx = PlanContext {
            existing: &fleet,
            ..Default::default()
        };
        let e = plan(&spec("[web]\n"), &ctx).unwrap_err();
        assert_eq!(
            e.message,
            "decky 'web' already exists; submit with replace_fleet=true to overwrite the fleet"
        );
        assert_eq!(e.kind, IniErrorKind::Conflict);
        assert_eq!(e.detail(), e.message);
        let ctx = PlanContext {
            replace_fleet: true,
            ..ctx
        };
        assert_eq!(planned("[web]\n", &ctx).len(), 1);
    }

    #[test]
    fn ip_in_use_is_a_conflict_unless_replacing() {
        let fleet = [existing("old", "192.168.1.50", "h")];
        let ctx = PlanContext {
            existing: &fleet,
            ..Default::default()
        };
        let e = plan(&spec("[web]\nip=192.168.1.50"), &ctx).unwrap_err();
        assert_eq!(
            e.message,
            "IP 192.168.1.50 is already in use by an existing decky"
        );
        assert_eq!(e.kind, IniErrorKind::Conflict);
        let ctx = PlanContext {
            replace_fleet: true,
            ..ctx
        };
        assert_eq!(
            planned("[web]\nip=192.168.1.50", &ctx)[0].ip,
            ip("192.168.1.50")
        );
    }

    #[test]
    fn explicit_host_ip_is_rejected() {
        let ctx = PlanContext {
            host_ip: Some(ip("192.168.1.9")),
            ..Default::default()
        };
        let e = plan(&spec("[a]\nip=192.168.1.9"), &ctx).unwrap_err();
        assert_eq!(e.message, "[a] ip=192.168.1.9 is the host's own address");
    }

    #[test]
    fn deployment_limit_counts_existing_and_new() {
        let fleet = [
            existing("x", "192.168.1.50", "h1"),
            existing("y", "192.168.1.51", "h2"),
        ];
        let ctx = PlanContext {
            existing: &fleet,
            deployment_limit: Some(10),
            ..Default::default()
        };
        let e = plan(&spec("[a]\namount=9"), &ctx).unwrap_err();
        assert_eq!(
            e.message,
            "Deployment would result in 11 deckies, exceeding the configured limit of 10"
        );
        assert_eq!(e.kind, IniErrorKind::Conflict);
        assert_eq!(e.line, None);
        assert_eq!(planned("[a]\namount=8", &ctx).len(), 8);
        let replacing = PlanContext {
            replace_fleet: true,
            ..ctx
        };
        assert_eq!(planned("[a]\namount=10", &replacing).len(), 10);
    }

    #[test]
    fn distro_follows_archetype_preference_by_position() {
        let plans = planned(
            "[l]\narchetype=linux-server\namount=5",
            &PlanContext::default(),
        );
        let distros: Vec<_> = plans.iter().map(|p| p.distro.as_str()).collect();
        assert_eq!(
            distros,
            ["debian", "ubuntu22", "rocky9", "fedora", "debian"]
        );
    }

    #[test]
    fn distro_cycles_all_distros_without_archetype_by_fleet_position() {
        let plans = planned(
            "[general]\nnet=10.0.0.0/24\n[a]\narchetype=iot-device\n[b]\namount=10",
            &PlanContext::default(),
        );
        let distros: Vec<_> = plans.iter().map(|p| p.distro.as_str()).collect();
        // b-01 is the second decky of the INI: index 1 of the distro list.
        assert_eq!(
            distros,
            [
                "alpine", "ubuntu22", "ubuntu20", "rocky9", "centos7", "fedora", "alpine", "kali",
                "arch", "debian", "ubuntu22"
            ]
        );
    }

    #[test]
    fn hostnames_follow_the_distro_style() {
        let plans = planned(
            "[general]\nnet=10.0.0.0/24\n[a]\namount=9\nservices=ssh",
            &PlanContext::default(),
        );
        for p in &plans {
            let h = &p.hostname;
            let ok = match catalogue::distro_by_slug(&p.distro).unwrap().hostname_style {
                HostnameStyle::Generic => {
                    h.starts_with("SRV-") && h == &h.to_ascii_uppercase() && h.len() > 7
                }
                HostnameStyle::Rhel => h.ends_with(".localdomain"),
                HostnameStyle::Minimal => h
                    .rsplit_once('-')
                    .is_some_and(|(_, n)| n.parse::<u8>().is_ok()),
                HostnameStyle::Rolling => h
                    .split_once('-')
                    .is_some_and(|(a, b)| a != b && !b.is_empty()),
            };
            assert!(ok, "{} for {}", h, p.distro);
        }
    }

    #[test]
    fn hostnames_are_unique_across_the_fleet_and_existing_deckies() {
        let fleet: Vec<ExistingDecky> = (0..50)
            .map(|i| {
                existing(
                    &format!("old-{i}"),
                    &format!("10.9.0.{}", i + 1),
                    "SRV-WEB-42",
                )
            })
            .collect();
        let ctx = PlanContext {
            existing: &fleet,
            seed: 42,
            ..Default::default()
        };
        let text = "[general]\nnet=10.0.0.0/16\n[k]\nservices=ssh\n".to_owned()
            + &(0..5)
                .map(|i| format!("[g{i}]\narchetype=iot-device\namount=100\n"))
                .collect::<String>();
        let plans = planned(&text, &ctx);
        assert_eq!(plans.len(), 501);
        let mut seen = BTreeSet::new();
        for p in &plans {
            assert!(
                seen.insert(p.hostname.to_ascii_lowercase()),
                "{}",
                p.hostname
            );
            assert_ne!(p.hostname.to_ascii_lowercase(), "srv-web-42");
        }
    }

    #[test]
    fn hostnames_stay_unique_when_a_style_runs_out_of_names() {
        // Rolling has 20 * 19 = 380 word pairs: 500 names need the suffix fallback.
        let mut used = BTreeSet::new();
        let mut rng = SplitMix64::new(3);
        let names: Vec<String> = (0..500)
            .map(|_| unique_hostname(HostnameStyle::Rolling, &mut rng, &mut used))
            .collect();
        assert_eq!(used.len(), 500);
        assert!(names.iter().any(|n| n.matches('-').count() == 2));
        let rhel = unique_hostname(HostnameStyle::Rhel, &mut rng, &mut used);
        assert!(rhel.ends_with(".localdomain"));
    }

    #[test]
    fn plans_are_deterministic_per_seed() {
        let text = "[general]\nnet=10.0.0.0/24\n[a]\namount=20";
        let ctx = |seed| PlanContext {
            seed,
            ..Default::default()
        };
        assert_eq!(planned(text, &ctx(7)), planned(text, &ctx(7)));
        assert_ne!(planned(text, &ctx(7)), planned(text, &ctx(8)));
    }

    #[test]
    fn nmap_os_explicit_then_archetype_then_linux() {
        let plans = planned(
            "[a]\narchetype=windows-server\nnmap_os=bsd\n[b]\narchetype=printer\n[c]\n",
            &PlanContext::default(),
        );
        let os: Vec<_> = plans.iter().map(|p| p.nmap_os).collect();
        assert_eq!(os, [NmapOs::Bsd, NmapOs::Embedded, NmapOs::Linux]);
    }

    #[test]
    fn services_explicit_then_archetype_then_random() {
        let plans = planned(
            "[a]\narchetype=mail-server\nservices=ssh\n[b]\narchetype=mail-server\n[c]\n",
            &PlanContext::default(),
        );
        assert_eq!(plans[0].services, slugs(&["ssh"]));
        assert_eq!(plans[0].archetype.as_deref(), Some("mail-server"));
        assert_eq!(plans[1].services, slugs(&["smtp", "pop3", "imap"]));
        let random = &plans[2].services;
        assert!((1..=3).contains(&random.len()));
        for s in random {
            assert!(catalogue::service_by_slug(s.as_str()).is_some());
        }
        assert_eq!(random.iter().collect::<BTreeSet<_>>().len(), random.len());
    }

    #[test]
    fn mutate_interval_decky_then_general_then_global() {
        let text = "[general]\nmutate_interval=45\n[a]\nmutate_interval=2d\n[b]\n\
                    [c]\nmutate_interval=off";
        let plans = planned(text, &PlanContext::default());
        let m: Vec<_> = plans.iter().map(|p| p.mutate_interval).collect();
        assert_eq!(m, [Some(2880), Some(45), None]);

        let plans = planned("[a]\n", &PlanContext::default());
        assert_eq!(plans[0].mutate_interval, Some(30));
        let ctx = PlanContext {
            global_interval: MutateInterval::from_minutes(90),
            ..Default::default()
        };
        assert_eq!(planned("[a]\n", &ctx)[0].mutate_interval, Some(90));
        let plans = planned("[general]\nmutate_interval=off\n[a]\n", &ctx);
        assert_eq!(plans[0].mutate_interval, None);
    }

    #[test]
    fn plans_carry_persona_and_custom_service_definitions() {
        let plans = planned(
            "[a]\nservices=ssh,myx\n[a.ssh]\nuser=bob\n[custom-myx]\nbinary=img\n\
             [custom-unused]\nbinary=img2\n",
            &PlanContext::default(),
        );
        assert_eq!(plans[0].custom_services.len(), 1);
        assert_eq!(plans[0].custom_services[0].slug, "myx");
        assert_eq!(plans[0].service_config.len(), 1);
    }

    #[test]
    fn plan_serialises_interval_as_minutes_and_names_as_strings() {
        let plans = planned(
            "[a]\nservices=rdp\n[a.rdp]\nnla=no",
            &PlanContext::default(),
        );
        let json = serde_json::to_value(&plans[0]).unwrap();
        assert_eq!(json["name"], "a");
        assert_eq!(json["mutate_interval"], 30);
        assert_eq!(json["nmap_os"], "linux");
        assert_eq!(json["service_config"]["rdp"]["nla"], false);
        let back: DeckyPlan = serde_json::from_value(json).unwrap();
        assert_eq!(back, plans[0]);
    }

    #[test]
    fn mutation_picks_a_different_set_from_the_pool() {
        let pool = mutation_pool(Some("database-server"));
        assert_eq!(pool, slugs(&["mysql", "postgres", "redis"]));
        let current = slugs(&["mysql", "postgres", "redis"]);
        for seed in 0..200 {
            let new = pick_new_services(&current, &pool, seed).unwrap();
            assert!((1..=3).contains(&new.len()));
            assert!(new.iter().all(|s| pool.contains(s)));
            assert_ne!(
                new.iter().collect::<BTreeSet<_>>(),
                current.iter().collect::<BTreeSet<_>>()
            );
        }
    }

    #[test]
    fn mutation_without_alternatives_gives_none() {
        let pool = mutation_pool(Some("deaddeck"));
        assert_eq!(pool, slugs(&["ssh"]));
        assert_eq!(pick_new_services(&slugs(&["ssh"]), &pool, 1), None);
        assert_eq!(pick_new_services(&[], &[], 1), None);
        assert_eq!(pick_new_services(&[], &pool, 1), Some(slugs(&["ssh"])));
    }

    #[test]
    fn services_sharing_a_port_cannot_share_a_decky() {
        let err = plan(&spec("[a]\nservices=http,https\n"), &PlanContext::default()).unwrap_err();
        assert_eq!(err.kind, IniErrorKind::Semantic);
        assert_eq!(
            err.message,
            "[a] services http and https both listen on port 443; a decky can run only one of them."
        );
    }

    proptest! {
        #[test]
        fn random_and_mutated_service_sets_never_share_a_port(seed: u64) {
            let pool = mutation_pool(None);
            let picked = pick_new_services(&[], &pool, seed).unwrap();
            for (i, a) in picked.iter().enumerate() {
                for b in &picked[i + 1..] {
                    prop_assert!(catalogue::shared_port(a.as_str(), b.as_str()).is_none(), "{a} {b}");
                }
            }
        }
    }

    #[test]
    fn mutation_pool_without_archetype_is_every_implemented_service() {
        assert_eq!(mutation_pool(None).len(), catalogue::services().count());
        assert_eq!(mutation_pool(Some("no-such")), mutation_pool(None));
    }

    proptest! {
        #[test]
        fn pick_new_services_is_deterministic_and_bounded(seed: u64, n in 0usize..6) {
            let pool = mutation_pool(None);
            let current: Vec<_> = pool.iter().take(n).cloned().collect();
            let a = pick_new_services(&current, &pool, seed);
            prop_assert_eq!(&a, &pick_new_services(&current, &pool, seed));
            let a = a.unwrap();
            prop_assert!((1..=3).contains(&a.len()));
        }
    }
}
