//! The catalogue (SPEC 3.1-3.3) as static data: archetypes, distros, OS profiles, services.
//!
//! One entry per item, so adding a service or flipping it to implemented is a one-line
//! change. Only [`services`] (implemented ones) may be offered to users or named by an
//! archetype; [`all_services`] also lists those the decoy binary does not serve yet.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::name::ServiceSlug;
use crate::persona::{FieldType, PersonaField};

type List<T> = Cow<'static, [T]>;
type Text = Cow<'static, str>;

const fn t(s: &'static str) -> Text {
    Cow::Borrowed(s)
}

const fn svc(s: &'static str) -> ServiceSlug {
    ServiceSlug::known(s)
}

// Lists inside static items: a `const` item extends its borrowed array to 'static, where a
// plain `&[...]` argument of a const fn would be a temporary dropped at compile time.
macro_rules! slugs {
    ($($s:literal),* $(,)?) => {{
        const L: &[ServiceSlug] = &[$(svc($s)),*];
        L
    }};
}
macro_rules! texts {
    ($($s:literal),* $(,)?) => {{
        const L: &[Text] = &[$(t($s)),*];
        L
    }};
}
macro_rules! fields {
    ($($f:expr),* $(,)?) => {{
        const L: &[PersonaField] = &[$($f),*];
        L
    }};
}

/// The OS family a decky's TCP/IP stack imitates (`nmap_os=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NmapOs {
    Linux,
    Windows,
    Bsd,
    Embedded,
    Cisco,
}

impl NmapOs {
    pub const ALL: [NmapOs; 5] = [
        NmapOs::Linux,
        NmapOs::Windows,
        NmapOs::Bsd,
        NmapOs::Embedded,
        NmapOs::Cisco,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NmapOs::Linux => "linux",
            NmapOs::Windows => "windows",
            NmapOs::Bsd => "bsd",
            NmapOs::Embedded => "embedded",
            NmapOs::Cisco => "cisco",
        }
    }

    /// Exact, lowercase slug.
    pub fn parse(s: &str) -> Option<NmapOs> {
        NmapOs::ALL.into_iter().find(|os| os.as_str() == s)
    }

    /// The sysctls that make this family's fingerprint (SPEC 3.3).
    pub fn profile(self) -> &'static OsProfile {
        // Same order as ALL; a unit test checks the table covers every family.
        let i = NmapOs::ALL.iter().position(|&os| os == self).unwrap_or(0);
        &OS_PROFILES[i]
    }
}

impl fmt::Display for NmapOs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for NmapOs {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        NmapOs::parse(s).ok_or_else(|| format!("unknown nmap_os '{s}'"))
    }
}

/// A pre-packaged machine identity (SPEC 3.1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Archetype {
    pub slug: Text,
    pub display_name: Text,
    pub description: Text,
    /// Its services, and its pool when the mutator rotates them.
    pub services: List<ServiceSlug>,
    /// Distro slugs, taken in turn by INI position.
    pub preferred_distros: List<Text>,
    pub nmap_os: NmapOs,
}

/// How a distro's machines are usually named.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HostnameStyle {
    /// Debian/Ubuntu: `SRV-WEB-42`.
    Generic,
    /// RHEL family: `db17.localdomain`.
    Rhel,
    /// Alpine: `mail-55`.
    Minimal,
    /// Kali/Arch: `nova-backup`.
    Rolling,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Distro {
    pub slug: Text,
    pub display_name: Text,
    pub hostname_style: HostnameStyle,
}

/// One sysctl written in the decky's network namespace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sysctl {
    pub key: Text,
    pub value: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OsProfile {
    pub nmap_os: NmapOs,
    pub sysctls: List<Sysctl>,
}

/// A decoy service (SPEC 3.2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    pub slug: ServiceSlug,
    pub ports: List<u16>,
    /// The keys a `[decky.<slug>]` subsection may set.
    pub persona: List<PersonaField>,
    /// Whether the decoy binary serves it; only implemented services are offered.
    pub implemented: bool,
}

impl Service {
    pub fn persona_field(&self, key: &str) -> Option<&PersonaField> {
        self.persona.iter().find(|f| f.key == key)
    }
}

// ---------------------------------------------------------------------------------------
// Data
// ---------------------------------------------------------------------------------------

const fn archetype(
    slug: &'static str,
    display_name: &'static str,
    description: &'static str,
    services: &'static [ServiceSlug],
    preferred_distros: &'static [Text],
    nmap_os: NmapOs,
) -> Archetype {
    Archetype {
        slug: t(slug),
        display_name: t(display_name),
        description: t(description),
        services: Cow::Borrowed(services),
        preferred_distros: Cow::Borrowed(preferred_distros),
        nmap_os,
    }
}

/// SPEC 3.1.
static ARCHETYPES: [Archetype; 15] = [
    archetype(
        "windows-workstation",
        "Windows Workstation",
        "Office desktop on a Windows domain: remote desktop.",
        slugs!["smb", "rdp"],
        texts!["debian", "ubuntu22"],
        NmapOs::Windows,
    ),
    archetype(
        "windows-server",
        "Windows Server",
        "Windows member server: file shares, remote desktop and directory lookups.",
        slugs!["smb", "rdp", "ldap"],
        texts!["debian", "ubuntu22"],
        NmapOs::Windows,
    ),
    archetype(
        "domain-controller",
        "Domain Controller",
        "Active Directory controller: LDAP, SMB, RDP and LLMNR name resolution.",
        slugs!["ldap", "smb", "rdp", "llmnr"],
        texts!["debian", "ubuntu22"],
        NmapOs::Windows,
    ),
    archetype(
        "linux-server",
        "Linux Server",
        "General-purpose Linux host with SSH and a web server.",
        slugs!["ssh", "http"],
        texts!["debian", "ubuntu22", "rocky9", "fedora"],
        NmapOs::Linux,
    ),
    archetype(
        "web-server",
        "Web Server",
        "Public-facing web host with FTP for uploads.",
        slugs!["http", "ftp"],
        texts!["debian", "ubuntu22", "ubuntu20"],
        NmapOs::Linux,
    ),
    archetype(
        "database-server",
        "Database Server",
        "Data tier: MySQL, PostgreSQL and Redis.",
        slugs!["mysql", "postgres", "redis"],
        texts!["debian", "ubuntu22"],
        NmapOs::Linux,
    ),
    archetype(
        "mail-server",
        "Mail Server",
        "Mail relay and mailbox host: SMTP, POP3 and IMAP.",
        slugs!["smtp", "pop3", "imap"],
        texts!["debian", "ubuntu22"],
        NmapOs::Linux,
    ),
    archetype(
        "file-server",
        "File Server",
        "File storage node: SMB shares, FTP and SSH.",
        slugs!["smb", "ftp", "ssh"],
        texts!["debian", "ubuntu22", "rocky9"],
        NmapOs::Linux,
    ),
    archetype(
        "printer",
        "Network Printer",
        "Office printer answering SNMP and FTP print jobs.",
        slugs!["snmp", "ftp"],
        texts!["alpine", "debian"],
        NmapOs::Embedded,
    ),
    archetype(
        "iot-device",
        "IoT Device",
        "Embedded device: MQTT broker, SNMP and a Telnet console.",
        slugs!["mqtt", "snmp", "telnet"],
        texts!["alpine"],
        NmapOs::Embedded,
    ),
    archetype(
        "industrial-control",
        "Industrial Control",
        "PLC on the plant network: Modbus/TCP, SNMP and its web console.",
        slugs!["conpot", "snmp"],
        texts!["debian"],
        NmapOs::Embedded,
    ),
    archetype(
        "voip-server",
        "VoIP Server",
        "IP PBX taking SIP registrations.",
        slugs!["sip"],
        texts!["debian", "ubuntu22"],
        NmapOs::Linux,
    ),
    archetype(
        "monitoring-node",
        "Monitoring Node",
        "Infrastructure monitoring host: SNMP and SSH.",
        slugs!["snmp", "ssh"],
        texts!["debian", "rocky9"],
        NmapOs::Linux,
    ),
    archetype(
        "devops-host",
        "DevOps Host",
        "CI/CD or container host: Docker API, Kubernetes API and SSH.",
        slugs!["docker_api", "ssh", "k8s"],
        texts!["ubuntu22", "debian"],
        NmapOs::Linux,
    ),
    archetype(
        "deaddeck",
        "Deaddeck (Entry Point)",
        "Internet-facing entry point with only SSH open.",
        slugs!["ssh"],
        texts!["debian", "ubuntu22"],
        NmapOs::Linux,
    ),
];

const fn distro(slug: &'static str, display_name: &'static str, style: HostnameStyle) -> Distro {
    Distro {
        slug: t(slug),
        display_name: t(display_name),
        hostname_style: style,
    }
}

/// In SPEC order; decky sections without an archetype take them in turn.
static DISTROS: [Distro; 9] = [
    distro("debian", "Debian 12 (Bookworm)", HostnameStyle::Generic),
    distro(
        "ubuntu22",
        "Ubuntu 22.04 LTS (Jammy)",
        HostnameStyle::Generic,
    ),
    distro(
        "ubuntu20",
        "Ubuntu 20.04 LTS (Focal)",
        HostnameStyle::Generic,
    ),
    distro("rocky9", "Rocky Linux 9", HostnameStyle::Rhel),
    distro("centos7", "CentOS 7", HostnameStyle::Rhel),
    distro("fedora", "Fedora 39", HostnameStyle::Rhel),
    distro("alpine", "Alpine Linux 3.19", HostnameStyle::Minimal),
    distro("kali", "Kali Linux (Rolling)", HostnameStyle::Rolling),
    distro("arch", "Arch Linux", HostnameStyle::Rolling),
];

const fn sysctls(v: [u32; 10]) -> [Sysctl; 10] {
    const fn s(key: &'static str, value: u32) -> Sysctl {
        Sysctl { key: t(key), value }
    }
    [
        s("net.ipv4.ip_default_ttl", v[0]),
        s("net.ipv4.tcp_syn_retries", v[1]),
        s("net.ipv4.tcp_timestamps", v[2]),
        s("net.ipv4.tcp_window_scaling", v[3]),
        s("net.ipv4.tcp_sack", v[4]),
        s("net.ipv4.tcp_ecn", v[5]),
        s("net.ipv4.ip_no_pmtu_disc", v[6]),
        s("net.ipv4.tcp_fin_timeout", v[7]),
        s("net.ipv4.icmp_ratelimit", v[8]),
        s("net.ipv4.icmp_ratemask", v[9]),
    ]
}

// Columns of SPEC 3.3, one row per family, in NmapOs::ALL order.
static LINUX_SYSCTLS: [Sysctl; 10] = sysctls([64, 6, 1, 1, 1, 2, 0, 60, 1000, 6168]);
static WINDOWS_SYSCTLS: [Sysctl; 10] = sysctls([128, 2, 0, 1, 1, 0, 0, 30, 0, 0]);
static BSD_SYSCTLS: [Sysctl; 10] = sysctls([64, 6, 1, 1, 1, 0, 0, 60, 250, 6168]);
static EMBEDDED_SYSCTLS: [Sysctl; 10] = sysctls([255, 3, 0, 0, 0, 0, 1, 15, 0, 0]);
static CISCO_SYSCTLS: [Sysctl; 10] = sysctls([255, 2, 0, 0, 0, 0, 1, 15, 0, 0]);

static OS_PROFILES: [OsProfile; 5] = [
    OsProfile {
        nmap_os: NmapOs::Linux,
        sysctls: Cow::Borrowed(&LINUX_SYSCTLS),
    },
    OsProfile {
        nmap_os: NmapOs::Windows,
        sysctls: Cow::Borrowed(&WINDOWS_SYSCTLS),
    },
    OsProfile {
        nmap_os: NmapOs::Bsd,
        sysctls: Cow::Borrowed(&BSD_SYSCTLS),
    },
    OsProfile {
        nmap_os: NmapOs::Embedded,
        sysctls: Cow::Borrowed(&EMBEDDED_SYSCTLS),
    },
    OsProfile {
        nmap_os: NmapOs::Cisco,
        sysctls: Cow::Borrowed(&CISCO_SYSCTLS),
    },
];

const fn field(
    key: &'static str,
    field_type: FieldType,
    default: Option<&'static str>,
    description: &'static str,
) -> PersonaField {
    PersonaField {
        key: t(key),
        field_type,
        default: match default {
            Some(d) => Some(t(d)),
            None => None,
        },
        description: t(description),
    }
}

const fn one_of(values: &'static [Text]) -> FieldType {
    FieldType::Enum {
        values: Cow::Borrowed(values),
    }
}

const BANNER_FTP: PersonaField = field(
    "banner",
    FieldType::String,
    Some("220 (vsFTPd 3.0.5)"),
    "Greeting sent on connect.",
);

const HTTP_SERVER_HEADER: PersonaField = field(
    "server_header",
    FieldType::String,
    Some("Apache/2.4.57 (Debian)"),
    "Value of the Server response header.",
);
const HTTP_RESPONSE_CODE: PersonaField = field(
    "response_code",
    FieldType::Int { min: 100, max: 599 },
    Some("200"),
    "Status code of the default page.",
);
const HTTP_FAKE_APP: PersonaField = field(
    "fake_app",
    one_of(texts![
        "none",
        "wordpress",
        "phpmyadmin",
        "tomcat",
        "jenkins"
    ]),
    Some("none"),
    "Web application the site pretends to run.",
);
const HTTP_EXTRA_HEADERS: PersonaField = field(
    "extra_headers",
    FieldType::Textarea,
    None,
    "Additional response headers, one 'Name: value' per line.",
);
const HTTP_CUSTOM_BODY: PersonaField = field(
    "custom_body",
    FieldType::Textarea,
    None,
    "Body of the default page instead of the built-in one.",
);
const HTTPS_TLS_CN: PersonaField = field(
    "tls_cn",
    FieldType::String,
    None,
    "Common name of the self-signed certificate (default: the hostname).",
);

static HTTP_PERSONA: [PersonaField; 5] = [
    HTTP_SERVER_HEADER,
    HTTP_RESPONSE_CODE,
    HTTP_FAKE_APP,
    HTTP_EXTRA_HEADERS,
    HTTP_CUSTOM_BODY,
];
static HTTPS_PERSONA: [PersonaField; 6] = [
    HTTP_SERVER_HEADER,
    HTTP_RESPONSE_CODE,
    HTTP_FAKE_APP,
    HTTP_EXTRA_HEADERS,
    HTTP_CUSTOM_BODY,
    HTTPS_TLS_CN,
];

/// SSH and Telnet share their persona ("telnet: as ssh"). `users` is not in SPEC 3.2's
/// list but is what SPEC 3's own example INI sets, so it is accepted.
static LOGIN_PERSONA: [PersonaField; 6] = [
    field(
        "password",
        FieldType::String,
        None,
        "Password accepted for root (default: any password fails).",
    ),
    field("user", FieldType::String, None, "An extra account name."),
    field(
        "user_password",
        FieldType::String,
        None,
        "Password of that extra account.",
    ),
    field(
        "users",
        FieldType::String,
        None,
        "Accounts that log in, as user:password pairs separated by commas.",
    ),
    field(
        "hostname",
        FieldType::String,
        None,
        "Hostname shown in the prompt (default: the decky's hostname).",
    ),
    field(
        "banner",
        FieldType::String,
        None,
        "Version or login banner sent on connect.",
    ),
];

static DNS_PERSONA: [PersonaField; 4] = [
    field(
        "zone_mode",
        one_of(texts!["auth", "recursive", "open"]),
        Some("auth"),
        "Authoritative only, recursive for clients, or an open resolver.",
    ),
    field(
        "domain",
        FieldType::String,
        Some("corp.local"),
        "Zone served.",
    ),
    field(
        "bind_version",
        FieldType::String,
        None,
        "Answer to version.bind queries.",
    ),
    field("nsid", FieldType::String, None, "Name server identifier."),
];

static MYSQL_PERSONA: [PersonaField; 1] = [field(
    "version",
    FieldType::String,
    Some("8.0.36"),
    "Server version in the handshake.",
)];

static RDP_PERSONA: [PersonaField; 1] = [field(
    "nla",
    FieldType::Bool,
    Some("true"),
    "Require Network Level Authentication.",
)];

static REDIS_PERSONA: [PersonaField; 2] = [
    field(
        "version",
        FieldType::String,
        Some("7.2.4"),
        "redis_version reported by INFO.",
    ),
    field(
        "os_string",
        FieldType::String,
        Some("Linux 6.1.0-18-amd64 x86_64"),
        "os reported by INFO.",
    ),
];

static SMTP_PERSONA: [PersonaField; 2] = [
    field("banner", FieldType::String, None, "220 greeting line."),
    field(
        "mta",
        one_of(texts!["postfix", "exim", "sendmail"]),
        Some("postfix"),
        "Mail server software to imitate.",
    ),
];

const fn service(
    slug: &'static str,
    ports: &'static [u16],
    persona: &'static [PersonaField],
    implemented: bool,
) -> Service {
    Service {
        slug: svc(slug),
        ports: Cow::Borrowed(ports),
        persona: Cow::Borrowed(persona),
        implemented,
    }
}

/// SPEC 3.2, alphabetical. Flip `implemented` when the decoy binary gains a service.
static SERVICES: [Service; 27] = [
    service("conpot", &[502, 161, 80], &[], true),
    service("dns", &[53], &DNS_PERSONA, true),
    service("docker_api", &[2375, 2376], &[], true),
    service("elasticsearch", &[9200], &[], true),
    service("ftp", &[21], fields![BANNER_FTP], true),
    service("http", &[80, 443], &HTTP_PERSONA, true),
    service("https", &[443], &HTTPS_PERSONA, true),
    service("imap", &[143, 993], &[], true),
    service("k8s", &[6443, 8080], &[], true),
    service("ldap", &[389, 636], &[], true),
    service("llmnr", &[5355, 5353], &[], true),
    service("mongodb", &[27017], &[], true),
    service("mqtt", &[1883], &[], true),
    service("mssql", &[1433], &[], true),
    service("mysql", &[3306], &MYSQL_PERSONA, true),
    service("pop3", &[110, 995], &[], true),
    service("postgres", &[5432], &[], true),
    service("rdp", &[3389], &RDP_PERSONA, true),
    service("redis", &[6379], &REDIS_PERSONA, true),
    service("sip", &[5060], &[], true),
    service("smb", &[445, 139], &[], true),
    service("smtp", &[25, 587], &SMTP_PERSONA, true),
    service("snmp", &[161], &[], true),
    service("ssh", &[22], &LOGIN_PERSONA, true),
    service("telnet", &[23], &LOGIN_PERSONA, true),
    service("tftp", &[69], &[], true),
    service("vnc", &[5900], &[], true),
];

// ---------------------------------------------------------------------------------------
// Lookups
// ---------------------------------------------------------------------------------------

pub fn archetypes() -> &'static [Archetype] {
    &ARCHETYPES
}

pub fn archetype_by_slug(slug: &str) -> Option<&'static Archetype> {
    ARCHETYPES.iter().find(|a| a.slug == slug)
}

/// In SPEC order: the pool for deckies without an archetype.
pub fn distros() -> &'static [Distro] {
    &DISTROS
}

pub fn distro_by_slug(slug: &str) -> Option<&'static Distro> {
    DISTROS.iter().find(|d| d.slug == slug)
}

pub fn os_profiles() -> &'static [OsProfile] {
    &OS_PROFILES
}

/// Services the decoy binary implements: the only ones users may pick.
pub fn services() -> impl Iterator<Item = &'static Service> + Clone {
    SERVICES.iter().filter(|s| s.implemented)
}

/// Every SPEC 3.2 service, implemented or not.
pub fn all_services() -> &'static [Service] {
    &SERVICES
}

/// Ports a service gives up to another service of the same decky that owns them: conpot's
/// SNMP agent steps back for the snmp service (SPEC's industrial-control runs both).
static YIELDS: [(&str, u16, &str); 1] = [("conpot", 161, "snmp")];

fn yields(slug: &str, port: u16, to: &str) -> bool {
    YIELDS.contains(&(slug, port, to))
}

/// A port two catalogue services both listen on: they cannot run in one decky's namespace.
pub fn shared_port(a: &str, b: &str) -> Option<u16> {
    let (sa, sb) = (
        all_services().iter().find(|s| s.slug == a)?,
        all_services().iter().find(|s| s.slug == b)?,
    );
    sa.ports
        .iter()
        .copied()
        .find(|&p| sb.ports.contains(&p) && !yields(a, p, b) && !yields(b, p, a))
}

/// The ports `slug` serves beside the decky's other services, in catalogue order, with 0
/// for a port it gives up; `None` when it gives up nothing (it serves its standard ports).
pub fn ports_beside<'a>(slug: &str, others: impl IntoIterator<Item = &'a str>) -> Option<Vec<u16>> {
    let service = all_services().iter().find(|s| s.slug == slug)?;
    let others: Vec<&str> = others.into_iter().collect();
    let ports: Vec<u16> = service
        .ports
        .iter()
        .map(|&p| {
            if others.iter().any(|o| yields(slug, p, o)) {
                0
            } else {
                p
            }
        })
        .collect();
    ports.contains(&0).then_some(ports)
}

/// An implemented service by slug.
pub fn service_by_slug(slug: &str) -> Option<&'static Service> {
    services().find(|s| s.slug == slug)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archetypes_only_name_implemented_services() {
        for a in archetypes() {
            for s in a.services.iter() {
                assert!(
                    service_by_slug(s.as_str()).is_some(),
                    "{} names unimplemented or unknown service {}",
                    a.slug,
                    s
                );
            }
        }
    }

    #[test]
    fn archetypes_prefer_known_distros() {
        for a in archetypes() {
            assert!(!a.preferred_distros.is_empty(), "{}", a.slug);
            for d in a.preferred_distros.iter() {
                assert!(distro_by_slug(d).is_some(), "{}: {}", a.slug, d);
            }
        }
    }

    #[test]
    fn catalogue_slugs_are_unique_and_valid() {
        let mut seen = std::collections::BTreeSet::new();
        for s in all_services() {
            assert!(ServiceSlug::parse(s.slug.as_str()).is_ok(), "{}", s.slug);
            assert!(seen.insert(s.slug.as_str()), "duplicate {}", s.slug);
            assert!(!s.ports.is_empty(), "{}", s.slug);
        }
        let mut seen = std::collections::BTreeSet::new();
        for a in archetypes() {
            assert!(crate::name::DeckyName::parse(&a.slug).is_ok());
            assert!(seen.insert(&a.slug), "duplicate {}", a.slug);
        }
    }

    #[test]
    fn every_spec_service_is_implemented_and_offered() {
        assert_eq!(all_services().len(), 27);
        assert_eq!(services().count(), 27);
        assert!(service_by_slug("dns").is_some());
        assert_eq!(archetypes().len(), 15);
    }

    #[test]
    fn conpot_leaves_snmp_its_port_but_clashes_with_http() {
        assert_eq!(shared_port("conpot", "snmp"), None);
        assert_eq!(shared_port("snmp", "conpot"), None);
        assert_eq!(shared_port("conpot", "http"), Some(80));
        assert_eq!(shared_port("http", "https"), Some(443));
        assert_eq!(
            ports_beside("conpot", ["snmp", "ssh"]),
            Some(vec![502, 0, 80])
        );
        assert_eq!(ports_beside("conpot", ["ssh"]), None);
        assert_eq!(ports_beside("snmp", ["conpot"]), None);
    }

    #[test]
    fn persona_defaults_are_valid_values_of_their_own_type() {
        for s in all_services() {
            let mut keys = std::collections::BTreeSet::new();
            for f in s.persona.iter() {
                assert!(keys.insert(&f.key), "{}: duplicate key {}", s.slug, f.key);
                if let Some(d) = &f.default {
                    assert!(f.parse_value(d).is_ok(), "{}.{} default {d}", s.slug, f.key);
                }
            }
        }
    }

    #[test]
    fn https_has_http_keys_and_tls_cn() {
        let http = service_by_slug("http").unwrap();
        let https = service_by_slug("https").unwrap();
        for f in http.persona.iter() {
            assert!(https.persona_field(&f.key).is_some(), "{}", f.key);
        }
        assert!(https.persona_field("tls_cn").is_some());
        assert_eq!(
            service_by_slug("telnet").unwrap().persona,
            service_by_slug("ssh").unwrap().persona
        );
    }

    #[test]
    fn os_profiles_cover_every_family_in_order() {
        for os in NmapOs::ALL {
            assert_eq!(os.profile().nmap_os, os);
            assert_eq!(os.profile().sysctls.len(), 10);
            assert_eq!(NmapOs::parse(os.as_str()), Some(os));
        }
        let ttl = |os: NmapOs| os.profile().sysctls[0].value;
        assert_eq!(ttl(NmapOs::Linux), 64);
        assert_eq!(ttl(NmapOs::Windows), 128);
        assert_eq!(ttl(NmapOs::Cisco), 255);
        assert_eq!(
            NmapOs::Bsd.profile().sysctls[8].key,
            "net.ipv4.icmp_ratelimit"
        );
        assert_eq!(NmapOs::Bsd.profile().sysctls[8].value, 250);
    }

    #[test]
    fn catalogue_round_trips_through_json() {
        let json = serde_json::to_string(archetypes()).unwrap();
        let back: Vec<Archetype> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, archetypes());
        let json = serde_json::to_string(all_services()).unwrap();
        let back: Vec<Service> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, all_services());
        let json = serde_json::to_value(distros()).unwrap();
        assert_eq!(json[3]["hostname_style"], "rhel");
    }
}
