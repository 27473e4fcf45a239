//! Sections -> [`FleetSpec`]: every semantic rule of SPEC 2.1 and 3, errors collected.
//!
//! Each check reports and carries on, so one pass yields every error for the editor; the
//! errors are ordered as the deploy API must meet them (size, empty, syntax, no deckies,
//! then semantic errors by line).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use super::lexer::{self, Section};
use super::{
    CustomService, DeckySpec, ErrorSink, FleetSpec, General, IniError, IniErrorKind, NetworkDriver,
    MAX_AMOUNT, MAX_CUSTOM_PERSONA_KEYS, MAX_CUSTOM_SERVICES, MAX_DECKIES, MAX_INI_BYTES,
    MAX_SERVICES_PER_DECKY,
};
use crate::catalogue::{self, Archetype, NmapOs};
use crate::interval::IntervalSetting;
use crate::name::{shown, DeckyName, ServiceSlug};
use crate::persona::{self, key_value, PersonaMap, PersonaValue};
use crate::subnet::Subnet;

const GENERAL_KEYS: [&str; 6] = [
    "net",
    "gw",
    "interface",
    "mutate_interval",
    "driver",
    "ipvlan",
];
const DECKY_KEYS: [&str; 6] = [
    "ip",
    "services",
    "archetype",
    "nmap_os",
    "mutate_interval",
    "amount",
];
/// Accepted as DECNET did, not advertised.
const DECKY_KEY_ALIASES: [&str; 1] = ["nmap-os"];
const CUSTOM_KEYS: [&str; 3] = ["binary", "exec", "ports"];
const CUSTOM_PREFIX: &str = "custom-";

/// Semantic errors, each with the line it belongs to.
#[derive(Default)]
struct Report(ErrorSink);

impl Report {
    /// The message is built only if it will be kept (see [`super::MAX_ERRORS`]).
    fn at<S: Into<String>>(&mut self, line: usize, message: impl FnOnce() -> S) {
        self.0
            .push_with(|| IniError::new(IniErrorKind::Semantic, message(), Some(line)));
    }

    fn count(&self) -> usize {
        self.0.total()
    }
}

pub(super) fn load(text: &str) -> (Option<FleetSpec>, Vec<IniError>) {
    if text.len() > MAX_INI_BYTES {
        let message = format!(
            "INI content is {} bytes; the limit is {} bytes (512 KiB).",
            text.len(),
            MAX_INI_BYTES
        );
        return (
            None,
            vec![IniError::new(IniErrorKind::TooLarge, message, None)],
        );
    }
    if text.trim().is_empty() {
        let e = IniError::new(IniErrorKind::Empty, "INI content is empty.", None);
        return (None, vec![e]);
    }

    let mut syntax = ErrorSink::default();
    let sections = lexer::lex(text, &mut syntax);
    let syntax_dropped = syntax.dropped();
    let mut errors = syntax.into_kept();

    let mut general = None;
    let mut customs = Vec::new();
    let mut decky_sections = Vec::new();
    let mut subsections = Vec::new();
    for s in &sections {
        if s.name == "general" {
            general = Some(s);
        } else if s.name.contains('.') {
            subsections.push(s);
        } else if s.name.starts_with(CUSTOM_PREFIX) {
            customs.push(s);
        } else {
            decky_sections.push(s);
        }
    }
    if decky_sections.is_empty() {
        errors.push(IniError::new(
            IniErrorKind::NoDeckies,
            "No decky sections found: add a section such as [web-01].",
            None,
        ));
    }

    let mut report = Report::default();
    let (general, net_known) = load_general(general, &mut report);
    for s in customs.iter().skip(MAX_CUSTOM_SERVICES) {
        report.at(s.line, || {
            format!(
                "[{}] is one custom service too many: an INI may define at most \
                 {MAX_CUSTOM_SERVICES}",
                s.name
            )
        });
    }
    let custom_services: Vec<CustomService> = customs
        .iter()
        .take(MAX_CUSTOM_SERVICES)
        .filter_map(|s| load_custom(s, &mut report))
        .collect();
    let catalogue = Services::new(&custom_services);

    let mut deckies = Vec::new();
    // Section name -> its deckies' indices, for subsections; `None` when it did not load.
    let mut by_section: BTreeMap<&str, Option<std::ops::Range<usize>>> = BTreeMap::new();
    let mut names: BTreeMap<String, &str> = BTreeMap::new();
    let mut explicit_ips: BTreeMap<Ipv4Addr, &str> = BTreeMap::new();
    let net = net_known.then_some((general.net, general.gateway));
    let mut too_many = false;
    for s in &decky_sections {
        let Some(loaded) = load_decky_section(s, net, &catalogue, &mut report) else {
            by_section.insert(s.name, None);
            continue;
        };
        if let Some((ip, line)) = loaded.ip {
            if let Some(other) = explicit_ips.insert(ip, s.name) {
                report.at(line, || {
                    format!("[{}] ip={ip} is already used by [{other}]", s.name)
                });
            }
        }
        if too_many {
            continue;
        }
        if deckies.len() + loaded.names.len() > MAX_DECKIES {
            report.at(s.line, || {
                format!(
                    "[{}] brings the INI to more than {MAX_DECKIES} deckies; no fleet may be \
                     that large (the deployment limit is at most 500)",
                    s.name
                )
            });
            too_many = true;
            continue;
        }
        let start = deckies.len();
        for name in loaded.names {
            if let Some(other) = names.insert(name.as_str().to_owned(), s.name) {
                report.at(s.line, || {
                    format!(
                        "[{}] decky name '{name}' is already used by [{other}]",
                        s.name
                    )
                });
            }
            deckies.push(DeckySpec {
                name,
                section: s.name.to_owned(),
                line: s.line,
                ip: loaded.ip.map(|(ip, _)| ip),
                services: loaded.services.clone(),
                archetype: loaded.archetype,
                nmap_os: loaded.nmap_os,
                mutate_interval: loaded.mutate_interval,
                service_config: Default::default(),
            });
        }
        by_section.insert(s.name, Some(start..deckies.len()));
    }

    apply_subsections(
        &subsections,
        &by_section,
        &mut deckies,
        &catalogue,
        &mut report,
    );

    let semantic_dropped = report.0.dropped();
    let mut semantic = report.0.into_kept();
    semantic.sort_by_key(|e| e.line.unwrap_or(usize::MAX));
    errors.extend(semantic);
    if syntax_dropped + semantic_dropped > 0 {
        let kind = if semantic_dropped > 0 {
            IniErrorKind::Semantic
        } else {
            IniErrorKind::Syntax
        };
        let message = format!(
            "{} more error(s) not listed; fix the ones above first",
            syntax_dropped + semantic_dropped
        );
        errors.push(IniError::new(kind, message, None));
    }
    let spec = errors.is_empty().then_some(FleetSpec {
        general,
        deckies,
        custom_services,
    });
    (spec, errors)
}

/// Rejects keys a section may not have.
fn check_keys(s: &Section<'_>, allowed: &[&str], aliases: &[&str], report: &mut Report) {
    for (key, entry) in &s.keys {
        if !allowed.contains(&key.as_str()) && !aliases.contains(&key.as_str()) {
            report.at(entry.line, || {
                format!(
                    "[{}] Unknown key '{}'. Allowed: {}",
                    s.name,
                    shown(key),
                    allowed.join(", ")
                )
            });
        }
    }
}

/// `[general]` with defaults; the flag says whether `net`/`gw` can be trusted for checks.
fn load_general(s: Option<&Section<'_>>, report: &mut Report) -> (General, bool) {
    let mut general = General::default();
    let Some(s) = s else {
        return (general, true);
    };
    check_keys(s, &GENERAL_KEYS, &[], report);
    let mut net_known = true;

    if let Some((raw, line)) = s.value("net") {
        match Subnet::parse(raw) {
            Ok(net) => general.net = net,
            Err(e) => {
                report.at(line, || format!("[general] net={e}"));
                net_known = false;
            }
        }
    }
    general.gateway = general.net.first_host();
    if let Some((raw, line)) = s.value("gw") {
        match raw.parse::<Ipv4Addr>() {
            Ok(gw) if net_known && !general.net.is_host(gw) => {
                report.at(line, || {
                    format!(
                        "[general] gw={gw} is not a host address of net {}",
                        general.net
                    )
                });
                net_known = false;
            }
            Ok(gw) => general.gateway = gw,
            Err(_) => {
                report.at(line, || {
                    format!("[general] gw='{}' is not a valid IPv4 address", shown(raw))
                });
                net_known = false;
            }
        }
    }

    if let Some((raw, line)) = s.value("interface") {
        if is_interface_name(raw) {
            general.interface = Some(raw.to_owned());
        } else {
            report.at(line, || {
                format!(
                    "[general] interface='{}' is not a network interface name (1 to 15 \
                     letters, digits, '.', '_' or '-')",
                    shown(raw)
                )
            });
        }
    }

    // (driver, line, what the user wrote) for messages.
    let driver =
        s.value("driver")
            .and_then(|(raw, line)| match raw.to_ascii_lowercase().as_str() {
                "macvlan" => Some((NetworkDriver::Macvlan, line, format!("driver={raw}"))),
                "ipvlan" => Some((NetworkDriver::Ipvlan, line, format!("driver={raw}"))),
                _ => {
                    report.at(line, || {
                        format!(
                            "[general] driver='{}' is not one of: macvlan, ipvlan",
                            shown(raw)
                        )
                    });
                    None
                }
            });
    let ipvlan = s
        .value("ipvlan")
        .and_then(|(raw, line)| match persona::parse_bool(raw) {
            Some(b) => Some((b, line, format!("ipvlan={raw}"))),
            None => {
                report.at(line, || {
                    format!(
                        "[general] ipvlan='{}' is not a boolean: use true/false, yes/no, on/off \
                         or 1/0",
                        shown(raw)
                    )
                });
                None
            }
        });
    let wanted = match (driver, ipvlan) {
        (Some((d, line, dw)), Some((flag, _, iw))) if (d == NetworkDriver::Ipvlan) != flag => {
            report.at(line, || {
                format!("[general] {dw} contradicts {iw}; keep one of them")
            });
            None
        }
        (Some(d), _) => Some(d),
        (None, Some((true, line, i))) => Some((NetworkDriver::Ipvlan, line, i)),
        (None, _) => None,
    };
    general.driver = match (&general.interface, wanted) {
        (Some(_), Some((d, _, _))) => d,
        (Some(_), None) => NetworkDriver::Macvlan,
        (None, Some((_, line, written))) => {
            // A bad interface= was reported already.
            if s.value("interface").is_none() {
                report.at(line, || {
                    format!(
                        "[general] {written} needs interface= (without one, deckies get an \
                         isolated bridge network)"
                    )
                });
            }
            NetworkDriver::Bridge
        }
        (None, None) => NetworkDriver::Bridge,
    };

    if let Some((raw, line)) = s.value("mutate_interval") {
        match IntervalSetting::parse_ini(raw) {
            Ok(i) => general.mutate_interval = Some(i),
            Err(e) => report.at(line, || format!("[general] mutate_interval={e}")),
        }
    }
    (general, net_known)
}

/// Linux's IFNAMSIZ allows 15 bytes; the characters are what Docker accepts as a parent.
fn is_interface_name(s: &str) -> bool {
    (1..=15).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn load_custom(s: &Section<'_>, report: &mut Report) -> Option<CustomService> {
    check_keys(s, &CUSTOM_KEYS, &[], report);
    let raw_slug = s.name.strip_prefix(CUSTOM_PREFIX).unwrap_or(s.name);
    let slug = match ServiceSlug::parse(raw_slug) {
        Ok(slug) => slug,
        Err(e) => {
            report.at(s.line, || format!("[{}] {e}", s.name));
            return None;
        }
    };
    if catalogue::all_services().iter().any(|b| b.slug == slug) {
        report.at(s.line, || {
            format!(
                "[{}] custom service '{slug}' clashes with the built-in service of that name; \
                 rename the section",
                s.name
            )
        });
        return None;
    }
    let image = match s.value("binary") {
        Some((raw, _)) if !raw.contains(char::is_whitespace) && raw.len() <= 255 => raw.to_owned(),
        Some((raw, line)) => {
            report.at(line, || {
                format!(
                    "[{}] binary='{}' is not an image reference (no spaces, at most 255 \
                     characters)",
                    s.name,
                    shown(raw)
                )
            });
            return None;
        }
        None => {
            report.at(s.line, || {
                format!(
                    "[{}] binary= is required: the image to run, e.g. my-image:latest",
                    s.name
                )
            });
            return None;
        }
    };
    let exec = match s.value("exec") {
        Some((raw, line)) if raw.contains('\n') => {
            report.at(line, || format!("[{}] exec= must be a single line", s.name));
            None
        }
        other => other.map(|(raw, _)| raw.to_owned()),
    };
    let mut ports = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    if let Some((raw, line)) = s.value("ports") {
        for token in raw.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            match token.parse::<u16>() {
                Ok(p) if p > 0 => {
                    if seen.insert(p) {
                        ports.push(p);
                    }
                }
                _ => {
                    report.at(line, || {
                        format!(
                            "[{}] ports='{}' must be a comma-separated list of ports 1-65535",
                            s.name,
                            shown(raw)
                        )
                    });
                    break;
                }
            }
        }
    }
    Some(CustomService {
        slug,
        image,
        exec,
        ports,
    })
}

/// The services an INI may name: implemented built-ins plus its own custom ones.
struct Services<'a> {
    custom: BTreeMap<&'a str, &'a CustomService>,
    /// The "Available: [...]" list, built once: every unknown-service error repeats it.
    available: std::cell::OnceCell<String>,
}

enum Known<'a> {
    Builtin(&'static catalogue::Service),
    Custom(&'a CustomService),
}

impl Known<'_> {
    fn slug(&self) -> ServiceSlug {
        match self {
            Known::Builtin(b) => b.slug.clone(),
            Known::Custom(c) => c.slug.clone(),
        }
    }
}

impl<'a> Services<'a> {
    fn new(custom: &'a [CustomService]) -> Self {
        Services {
            custom: custom.iter().map(|c| (c.slug.as_str(), c)).collect(),
            available: std::cell::OnceCell::new(),
        }
    }

    fn get(&self, slug: &str) -> Option<Known<'a>> {
        if let Some(s) = catalogue::service_by_slug(slug) {
            return Some(Known::Builtin(s));
        }
        self.custom.get(slug).copied().map(Known::Custom)
    }

    /// As DECNET printed it: a Python list of the sorted names.
    fn available(&self) -> &str {
        self.available.get_or_init(|| {
            let mut all: Vec<&str> = catalogue::services()
                .map(|s| s.slug.as_str())
                .chain(self.custom.keys().copied())
                .collect();
            all.sort_unstable();
            all.dedup();
            py_list(&all)
        })
    }
}

/// `['a', 'b']`, quoting like Python's `repr` of a list of strings.
fn py_list(items: &[&str]) -> String {
    let quoted: Vec<String> = items
        .iter()
        .map(|s| {
            let s = shown(s).replace('\\', "\\\\").replace('\'', "\\'");
            format!("'{s}'")
        })
        .collect();
    format!("[{}]", quoted.join(", "))
}

/// One decky section, validated; its expansion names in order.
struct LoadedSection {
    names: Vec<DeckyName>,
    ip: Option<(Ipv4Addr, usize)>,
    services: Option<Vec<ServiceSlug>>,
    archetype: Option<&'static Archetype>,
    nmap_os: Option<NmapOs>,
    mutate_interval: Option<IntervalSetting>,
}

fn load_decky_section(
    s: &Section<'_>,
    net: Option<(Subnet, Ipv4Addr)>,
    services: &Services<'_>,
    report: &mut Report,
) -> Option<LoadedSection> {
    let before = report.count();
    let name = s.name;
    check_keys(s, &DECKY_KEYS, &DECKY_KEY_ALIASES, report);

    let base = DeckyName::parse(name)
        .map_err(|e| report.at(s.line, || e.to_string()))
        .ok();

    // Absent is 1; present must be an integer in 1..=MAX_AMOUNT (blank included, as
    // DECNET's int('') failed).
    let amount = match s.get("amount") {
        None => Some(1),
        Some(entry) => {
            let raw = entry.value.trim();
            let digits = !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit());
            match raw.parse::<u64>() {
                Ok(n) if digits && (1..=u64::from(MAX_AMOUNT)).contains(&n) => {
                    u32::try_from(n).ok()
                }
                _ if digits && raw.bytes().any(|b| b != b'0') => {
                    report.at(entry.line, || {
                        format!(
                            "[{name}] amount={} exceeds maximum allowed ({MAX_AMOUNT}).",
                            shown(raw)
                        )
                    });
                    None
                }
                _ => {
                    report.at(entry.line, || {
                        format!(
                            "[{name}] amount= must be a positive integer, got '{}'",
                            shown(raw)
                        )
                    });
                    None
                }
            }
        }
    };

    let ip = s.value("ip").and_then(|(raw, line)| {
        let Ok(ip) = raw.parse::<Ipv4Addr>() else {
            report.at(line, || {
                format!("[{name}] ip='{}' is not a valid IPv4 address", shown(raw))
            });
            return None;
        };
        if let Some((net, gw)) = net {
            let problem = if !net.contains(ip) {
                Some(format!("is not inside net {net}"))
            } else if ip == net.network() {
                Some(format!("is the network address of {net}"))
            } else if ip == net.broadcast() {
                Some(format!("is the broadcast address of {net}"))
            } else if ip == gw {
                Some("is the gateway address".to_owned())
            } else {
                None
            };
            if let Some(problem) = problem {
                report.at(line, || format!("[{name}] ip={ip} {problem}"));
                return None;
            }
        }
        Some((ip, line))
    });
    if let (Some(n), Some((_, line))) = (amount, ip) {
        if n > 1 {
            report.at(line, || {
                format!("[{name}] Cannot combine ip= with amount={n}. Remove ip= or use amount=1.")
            });
        }
    }

    let explicit = s.value("services").and_then(|(raw, line)| {
        let mut slugs: Vec<ServiceSlug> = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        let mut unknown: Vec<&str> = Vec::new();
        for token in raw.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            match services.get(token) {
                Some(known) if seen.insert(token) => slugs.push(known.slug()),
                Some(_) => {}
                None => unknown.push(token),
            }
        }
        if !unknown.is_empty() {
            report.at(line, || {
                format!(
                    "Unknown service(s) in [{name}]: {}. Available: {}",
                    py_list(&unknown),
                    services.available()
                )
            });
            return None;
        }
        if slugs.len() > MAX_SERVICES_PER_DECKY {
            report.at(line, || {
                format!(
                    "[{name}] services= lists {} services; a decky may run at most \
                     {MAX_SERVICES_PER_DECKY}",
                    slugs.len()
                )
            });
            return None;
        }
        (!slugs.is_empty()).then_some(slugs)
    });

    let archetype = s.value("archetype").and_then(|(raw, line)| {
        let found = catalogue::archetype_by_slug(raw);
        if found.is_none() {
            let mut all: Vec<&str> = catalogue::archetypes().iter().map(|a| &*a.slug).collect();
            all.sort_unstable();
            report.at(line, || {
                format!(
                    "Unknown archetype '{}'. Available: {}",
                    shown(raw),
                    all.join(", ")
                )
            });
        }
        found
    });

    // `nmap_os` and DECNET's `nmap-os`: whichever was written last.
    let os_entry = ["nmap_os", "nmap-os"]
        .iter()
        .filter_map(|k| s.value(k))
        .max_by_key(|&(_, line)| line);
    let nmap_os = os_entry.and_then(|(raw, line)| {
        let os = NmapOs::parse(raw);
        if os.is_none() {
            let all: Vec<&str> = NmapOs::ALL.iter().map(|o| o.as_str()).collect();
            report.at(line, || {
                format!(
                    "[{name}] Unknown nmap_os '{}'. Available: {}",
                    shown(raw),
                    all.join(", ")
                )
            });
        }
        os
    });

    let mutate_interval = s.value("mutate_interval").and_then(|(raw, line)| {
        IntervalSetting::parse_ini(raw)
            .map_err(|e| report.at(line, || format!("[{name}] mutate_interval={e}")))
            .ok()
    });

    let names = match (base, amount) {
        (Some(base), Some(1)) => vec![base],
        (Some(base), Some(n)) => {
            let names: Result<Vec<_>, _> = (1..=n)
                .map(|i| DeckyName::parse(&format!("{base}-{i:02}")))
                .collect();
            match names {
                Ok(names) => names,
                Err(_) => {
                    report.at(s.line, || {
                        format!(
                            "[{name}] amount={n} would create names like '{base}-{n:02}', \
                             longer than 63 characters; shorten the section name"
                        )
                    });
                    Vec::new()
                }
            }
        }
        _ => Vec::new(),
    };

    (report.count() == before).then_some(LoadedSection {
        names,
        ip,
        services: explicit,
        archetype,
        nmap_os,
        mutate_interval,
    })
}

/// `[<decky>.<service>]`: typed persona settings for the deckies of section `<decky>` (all
/// its expansions) or for the one decky named `<decky>`; sections for neither are ghosts and
/// ignored, as DECNET did. Section-wide subsections apply first, so a per-expansion one
/// overrides them key by key.
fn apply_subsections(
    subsections: &[&Section<'_>],
    by_section: &BTreeMap<&str, Option<std::ops::Range<usize>>>,
    deckies: &mut [DeckySpec],
    services: &Services<'_>,
    report: &mut Report,
) {
    let by_name: BTreeMap<String, usize> = deckies
        .iter()
        .enumerate()
        .map(|(i, d)| (d.name.as_str().to_owned(), i))
        .collect();

    let mut targeted = Vec::new();
    for s in subsections {
        let Some((decky, service)) = s.name.split_once('.') else {
            continue;
        };
        let (order, targets) = match (by_section.get(decky), by_name.get(decky)) {
            (Some(range), _) => (0, range.clone().map(|r| r.collect()).unwrap_or_default()),
            (None, Some(&i)) => (1, vec![i]),
            (None, None) => continue,
        };
        let Some((slug, map)) = persona_map(s, service, services, report) else {
            continue;
        };
        targeted.push((order, s.line, slug, map, targets));
    }
    targeted.sort_by_key(|&(order, line, ..)| (order, line));

    for (_, _, slug, map, targets) in targeted {
        for i in targets {
            if let Some(d) = deckies.get_mut(i) {
                d.service_config
                    .entry(slug.clone())
                    .or_default()
                    .extend(map.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
        }
    }
}

fn persona_map(
    s: &Section<'_>,
    service: &str,
    services: &Services<'_>,
    report: &mut Report,
) -> Option<(ServiceSlug, PersonaMap)> {
    let Some(known) = services.get(service) else {
        report.at(s.line, || {
            format!(
                "[{}] Unknown service '{}'. Available: {}",
                s.name,
                shown(service),
                services.available()
            )
        });
        return None;
    };
    if matches!(known, Known::Custom(_)) && s.keys.len() > MAX_CUSTOM_PERSONA_KEYS {
        report.at(s.line, || {
            format!(
                "[{}] sets {} keys; the persona of a custom service may set at most \
                 {MAX_CUSTOM_PERSONA_KEYS}",
                s.name,
                s.keys.len()
            )
        });
        return None;
    }
    let mut map = PersonaMap::new();
    let mut ok = true;
    for (key, entry) in &s.keys {
        let value = match &known {
            // Bring-your-own services have no schema: values pass through as text.
            Known::Custom(_) => PersonaValue::Text(entry.value.trim().to_owned()),
            Known::Builtin(b) => {
                let Some(field) = b.persona_field(key) else {
                    let allowed: Vec<&str> = b.persona.iter().map(|f| &*f.key).collect();
                    let hint = if allowed.is_empty() {
                        format!("service '{service}' has no persona keys")
                    } else {
                        format!("Allowed: {}", allowed.join(", "))
                    };
                    report.at(entry.line, || {
                        format!(
                            "[{}] Unknown key '{}' for service '{service}'. {hint}",
                            s.name,
                            shown(key)
                        )
                    });
                    ok = false;
                    continue;
                };
                match field.parse_value(&entry.value) {
                    Ok(v) => v,
                    Err(why) => {
                        report.at(entry.line, || {
                            format!("[{}] {} {why}", s.name, key_value(key, &entry.value))
                        });
                        ok = false;
                        continue;
                    }
                }
            }
        };
        map.insert(key.clone(), value);
    }
    ok.then_some((known.slug(), map))
}
