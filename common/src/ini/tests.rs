//! The INI rules of SPEC 2.1 and 3, one behaviour per test (DECNET's INI tests as the
//! checklist), plus property tests: any text gives a spec or typed errors, never a panic.

use super::*;
use crate::catalogue;
use crate::persona::PersonaValue;
use proptest::prelude::*;

fn ok(text: &str) -> FleetSpec {
    match parse(text) {
        Ok(spec) => spec,
        Err(e) => panic!("expected a valid INI, got {e}"),
    }
}

fn err(text: &str) -> IniError {
    match parse(text) {
        Ok(spec) => panic!("expected an error, got {spec:?}"),
        Err(e) => e,
    }
}

fn names(spec: &FleetSpec) -> Vec<&str> {
    spec.deckies.iter().map(|d| d.name.as_str()).collect()
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn available_services() -> String {
    let mut all: Vec<String> = catalogue::services()
        .map(|s| format!("'{}'", s.slug))
        .collect();
    all.sort();
    format!("[{}]", all.join(", "))
}

// --- the example of SPEC 3 --------------------------------------------------------------

const SPEC_EXAMPLE: &str = "\
[general]                 ; optional
net=192.168.1.0/24
gw=192.168.1.1
interface=eth0
mutate_interval=30

[web-01]
services=ssh,http
archetype=linux-server
nmap_os=linux
mutate_interval=60
amount=3

[web-01.ssh]
users=root:toor

[custom-myservice]
binary=my-image:latest
exec=/usr/bin/myservice -p 8080
ports=8080
";

#[test]
fn spec_example_parses() {
    let spec = ok(SPEC_EXAMPLE);
    assert_eq!(spec.general.net.to_string(), "192.168.1.0/24");
    assert_eq!(spec.general.gateway, ip("192.168.1.1"));
    assert_eq!(spec.general.interface.as_deref(), Some("eth0"));
    assert_eq!(spec.general.driver, NetworkDriver::Macvlan);
    assert_eq!(
        spec.general.mutate_interval.and_then(|i| i.minutes()),
        Some(30)
    );
    assert_eq!(names(&spec), ["web-01-01", "web-01-02", "web-01-03"]);
    let d = &spec.deckies[0];
    assert_eq!(d.services.as_ref().unwrap(), &["ssh", "http"]);
    assert_eq!(d.archetype.unwrap().slug, "linux-server");
    assert_eq!(d.nmap_os, Some(NmapOs::Linux));
    assert_eq!(d.mutate_interval.and_then(|i| i.minutes()), Some(60));
    assert_eq!(d.line, 7);
    assert_eq!(spec.custom_services.len(), 1);
    let c = &spec.custom_services[0];
    assert_eq!(c.slug, "myservice");
    assert_eq!(c.image, "my-image:latest");
    assert_eq!(c.exec.as_deref(), Some("/usr/bin/myservice -p 8080"));
    assert_eq!(c.ports, [8080]);
}

// --- format -----------------------------------------------------------------------------

#[test]
fn spaces_and_tabs_around_equals_are_allowed() {
    let spec = ok("[a]\nip \t=\t 192.168.1.10 \nservices  =  ssh , http");
    assert_eq!(spec.deckies[0].ip, Some(ip("192.168.1.10")));
    assert_eq!(spec.deckies[0].services.as_ref().unwrap(), &["ssh", "http"]);
}

#[test]
fn continuation_lines_extend_a_value() {
    let spec = ok("[a]\nservices = ssh,\n    http,\n\tftp\n");
    assert_eq!(
        spec.deckies[0].services.as_ref().unwrap(),
        &["ssh", "http", "ftp"]
    );
}

#[test]
fn keys_are_case_insensitive() {
    let spec = ok("[a]\nIP=192.168.1.10\nServices=ssh\nNMAP_OS=windows");
    let d = &spec.deckies[0];
    assert_eq!(d.ip, Some(ip("192.168.1.10")));
    assert_eq!(d.nmap_os, Some(NmapOs::Windows));
}

#[test]
fn section_names_are_case_sensitive_and_must_be_lowercase() {
    let e = err("[Web]\nservices=ssh");
    assert_eq!(e.kind, IniErrorKind::Semantic);
    assert!(e.message.starts_with("Invalid decky name 'Web'"), "{e}");
    assert_eq!(e.line, Some(1));
}

#[test]
fn later_duplicate_keys_win() {
    let spec = ok("[a]\nip=192.168.1.10\nservices=ssh\nip=192.168.1.11");
    assert_eq!(spec.deckies[0].ip, Some(ip("192.168.1.11")));
}

#[test]
fn percent_is_literal() {
    let spec = ok("[a]\nservices=http\n[a.http]\ncustom_body=100% %(home)s %%\n");
    let cfg = &spec.deckies[0].service_config;
    let http = cfg.get(&ServiceSlug::parse("http").unwrap()).unwrap();
    assert_eq!(
        http.get("custom_body"),
        Some(&PersonaValue::Text("100% %(home)s %%".into()))
    );
}

#[test]
fn bare_key_is_a_syntax_error_with_its_line_number() {
    let e = err("[general]\nnet=10.0.0.0/24\n\n[a]\nservices=ssh\nbarekey\n");
    assert_eq!(e.kind, IniErrorKind::Syntax);
    assert_eq!(e.line, Some(6));
    assert_eq!(
        e.detail(),
        "Configuration conflict: INI syntax or characters are invalid."
    );
    assert!(e.to_string().starts_with("line 6: 'barekey'"), "{e}");
}

#[test]
fn garbage_before_any_section_is_a_syntax_error() {
    let e = err("hello\n[a]\n");
    assert_eq!(e.kind, IniErrorKind::Syntax);
    assert_eq!(e.line, Some(1));
}

#[test]
fn comments_with_hash_and_semicolon_are_ignored() {
    let spec =
        ok("# a comment\n; another\n[a] # header comment\n  # indented\nservices=ssh\n; end");
    assert_eq!(spec.deckies[0].services.as_ref().unwrap(), &["ssh"]);
}

#[test]
fn semicolon_inside_a_value_is_not_a_comment() {
    let e = err("[a]\nservices=ssh ; literal");
    assert!(e.message.contains("['ssh ; literal']"), "{e}");
}

// --- structure ----------------------------------------------------------------------------

#[test]
fn empty_and_blank_content_is_empty() {
    for text in ["", "   ", "\n\n\t\n"] {
        let e = err(text);
        assert_eq!(e.kind, IniErrorKind::Empty);
        assert_eq!(e.detail(), "Configuration conflict: INI content is empty.");
        assert_eq!(e.line, None);
    }
}

#[test]
fn content_over_512_kib_is_too_large() {
    let text = format!("[a]\nservices=ssh\n#{}", "x".repeat(MAX_INI_BYTES));
    let e = err(&text);
    assert_eq!(e.kind, IniErrorKind::TooLarge);
    assert_eq!(e.detail(), "Invalid INI config");
    // Exactly at the limit is accepted.
    let pad = MAX_INI_BYTES - "[a]\nservices=ssh\n#".len();
    let text = format!("[a]\nservices=ssh\n#{}", "x".repeat(pad));
    assert_eq!(text.len(), MAX_INI_BYTES);
    ok(&text);
}

#[test]
fn ini_without_decky_sections_has_no_deckies() {
    for text in [
        "[general]\nnet=10.0.0.0/24",
        "# only a comment",
        "[custom-x]\nbinary=img",
        "[a.ssh]\nuser=root",
    ] {
        let e = err(text);
        assert_eq!(e.kind, IniErrorKind::NoDeckies, "{text}");
        assert_eq!(
            e.detail(),
            "Invalid INI config structure: No decky sections found."
        );
    }
}

#[test]
fn syntax_errors_come_before_no_deckies_and_semantic_errors() {
    let e = err("[general]\nnet=nonsense\nbare\n");
    assert_eq!(e.kind, IniErrorKind::Syntax);
    let e = err("[general]\nnet=nonsense\n");
    assert_eq!(e.kind, IniErrorKind::NoDeckies);
}

#[test]
fn validate_all_reports_every_error_with_its_line() {
    let text = "\
[a]
services=nosuch
bare
[b]
archetype=x
amount=0
[c]
ip=10.9.9.9
";
    let errors = validate_all(text);
    let lines: Vec<_> = errors.iter().map(|e| (e.kind, e.line)).collect();
    assert_eq!(
        lines,
        vec![
            (IniErrorKind::Syntax, Some(3)),
            (IniErrorKind::Semantic, Some(2)),
            (IniErrorKind::Semantic, Some(5)),
            (IniErrorKind::Semantic, Some(6)),
            (IniErrorKind::Semantic, Some(8)),
        ]
    );
    assert_eq!(parse(text).unwrap_err(), errors[0]);
}

#[test]
fn error_lists_are_capped_with_a_closing_count() {
    let text = "[a]\n".to_owned() + &"garbage\n".repeat(300);
    let errors = validate_all(&text);
    assert_eq!(errors.len(), MAX_ERRORS + 1);
    assert_eq!(errors[0].line, Some(2));
    let last = errors.last().unwrap();
    assert_eq!(
        last.message,
        "200 more error(s) not listed; fix the ones above first"
    );
    assert_eq!(last.line, None);
}

#[test]
fn more_than_max_deckies_is_rejected_without_expanding_them() {
    let sections = |n: usize| {
        (0..n)
            .map(|i| format!("[g{i}]\namount=100\n"))
            .collect::<String>()
    };
    let base = "[general]\nnet=10.0.0.0/16\n".to_owned();
    let spec = ok(&(base.clone() + &sections(10)));
    assert_eq!(spec.deckies.len(), MAX_DECKIES);
    let e = err(&(base + &sections(11)));
    assert_eq!(
        e.message,
        "[g10] brings the INI to more than 1000 deckies; no fleet may be that large (the \
         deployment limit is at most 500)"
    );
    assert_eq!(e.line, Some(23));
}

#[test]
fn validate_all_of_a_valid_ini_is_empty() {
    assert!(validate_all(SPEC_EXAMPLE).is_empty());
}

// --- deckies ----------------------------------------------------------------------------

#[test]
fn amount_expands_to_numbered_names() {
    let spec = ok("[web-01]\namount=3\nservices=ssh");
    assert_eq!(names(&spec), ["web-01-01", "web-01-02", "web-01-03"]);
    assert!(spec.deckies.iter().all(|d| d.section == "web-01"));
}

#[test]
fn amount_of_100_uses_three_digits_for_the_last() {
    let spec = ok("[n]\namount=100\nservices=ssh\n[general]\nnet=10.0.0.0/24");
    assert_eq!(spec.deckies.len(), 100);
    assert_eq!(spec.deckies[8].name, "n-09");
    assert_eq!(spec.deckies[99].name, "n-100");
}

#[test]
fn amount_of_one_keeps_the_section_name() {
    let spec = ok("[solo]\namount=1\nip=192.168.1.9");
    assert_eq!(names(&spec), ["solo"]);
    assert_eq!(spec.deckies[0].ip, Some(ip("192.168.1.9")));
}

#[test]
fn amount_over_100_is_rejected() {
    let e = err("[a]\namount=101");
    assert_eq!(e.message, "[a] amount=101 exceeds maximum allowed (100).");
    assert_eq!(e.line, Some(2));
    let e = err("[a]\namount=99999999999999999999999");
    assert_eq!(
        e.message,
        "[a] amount=99999999999999999999999 exceeds maximum allowed (100)."
    );
}

#[test]
fn amount_must_be_a_positive_integer() {
    for raw in ["0", "-1", "abc", "1.5", "", "00"] {
        let e = err(&format!("[a]\namount={raw}"));
        assert_eq!(
            e.message,
            format!("[a] amount= must be a positive integer, got '{raw}'"),
        );
    }
}

#[test]
fn ip_cannot_be_combined_with_amount() {
    let e = err("[a]\nip=192.168.1.10\namount=2");
    assert_eq!(
        e.message,
        "[a] Cannot combine ip= with amount=2. Remove ip= or use amount=1."
    );
    assert_eq!(e.kind, IniErrorKind::Semantic);
    assert_eq!(e.detail(), e.message);
}

#[test]
fn expansion_names_must_fit_the_name_rule() {
    let long = "a".repeat(62);
    let e = err(&format!("[{long}]\namount=2"));
    assert!(e.message.contains("longer than 63 characters"), "{e}");
    ok(&format!("[{}]\namount=2", "a".repeat(60)));
}

#[test]
fn the_same_decky_name_twice_is_rejected() {
    let e = err("[web]\namount=2\n[web-01]\n");
    assert_eq!(
        e.message,
        "[web-01] decky name 'web-01' is already used by [web]"
    );
    assert_eq!(e.line, Some(3));
}

#[test]
fn repeated_section_headers_merge_into_one_decky() {
    let spec = ok("[a]\nservices=ssh\n[b]\n[a]\nip=192.168.1.7");
    assert_eq!(names(&spec), ["a", "b"]);
    assert_eq!(spec.deckies[0].ip, Some(ip("192.168.1.7")));
}

#[test]
fn unknown_keys_in_a_decky_section_are_errors() {
    let e = err("[a]\nservices=ssh\nservice=http");
    assert_eq!(
        e.message,
        "[a] Unknown key 'service'. Allowed: ip, services, archetype, nmap_os, \
         mutate_interval, amount"
    );
    assert_eq!(e.line, Some(3));
}

#[test]
fn unknown_service_is_rejected_with_the_available_list() {
    let e = err("[a]\nservices=ssh,nosuch");
    assert_eq!(
        e.message,
        format!(
            "Unknown service(s) in [a]: ['nosuch']. Available: {}",
            available_services()
        )
    );
    assert_eq!(e.line, Some(2));
}

#[test]
fn every_spec_service_is_known_and_conpot_may_run_beside_snmp() {
    let spec = ok(
        "[a]\nservices=dns,tftp,smb,ldap,llmnr,sip,mssql,mongodb,elasticsearch\n\n\
                   [b]\nservices=conpot,snmp",
    );
    assert_eq!(
        spec.deckies[1].services.as_ref().unwrap(),
        &["conpot", "snmp"]
    );
}

#[test]
fn service_lists_drop_blanks_and_duplicates() {
    let spec = ok("[a]\nservices=ssh,, ssh ,http,");
    assert_eq!(spec.deckies[0].services.as_ref().unwrap(), &["ssh", "http"]);
    let spec = ok("[a]\nservices=");
    assert_eq!(spec.deckies[0].services, None);
}

#[test]
fn unknown_archetype_is_rejected_with_the_available_list() {
    let e = err("[a]\narchetype=x");
    let mut all: Vec<&str> = catalogue::archetypes().iter().map(|a| &*a.slug).collect();
    all.sort();
    assert_eq!(
        e.message,
        format!("Unknown archetype 'x'. Available: {}", all.join(", "))
    );
    assert!(e
        .message
        .starts_with("Unknown archetype 'x'. Available: database-server, deaddeck, devops-host"));
}

#[test]
fn unknown_nmap_os_is_rejected() {
    let e = err("[a]\nnmap_os=solaris");
    assert_eq!(
        e.message,
        "[a] Unknown nmap_os 'solaris'. Available: linux, windows, bsd, embedded, cisco"
    );
    assert_eq!(ok("[a]\nnmap-os=bsd").deckies[0].nmap_os, Some(NmapOs::Bsd));
}

#[test]
fn mutate_interval_takes_minutes_units_and_off() {
    let spec = ok("[a]\nmutate_interval=60\n[b]\nmutate_interval=1d\n[c]\nmutate_interval=off");
    let m: Vec<_> = spec.deckies.iter().map(|d| d.mutate_interval).collect();
    assert_eq!(m[0].and_then(|i| i.minutes()), Some(60));
    assert_eq!(m[1].and_then(|i| i.minutes()), Some(1440));
    assert_eq!(m[2], Some(IntervalSetting::Off));
    let e = err("[a]\nmutate_interval=soon");
    assert!(
        e.message
            .starts_with("[a] mutate_interval='soon' is not valid"),
        "{e}"
    );
}

// --- IPs and [general] --------------------------------------------------------------------

#[test]
fn ip_outside_net_is_rejected() {
    let e = err("[general]\nnet=10.0.0.0/24\n[a]\nip=10.0.1.5");
    assert_eq!(e.message, "[a] ip=10.0.1.5 is not inside net 10.0.0.0/24");
    assert_eq!(e.line, Some(4));
}

#[test]
fn ip_outside_the_default_net_is_rejected() {
    let e = err("[a]\nip=10.0.0.5");
    assert_eq!(
        e.message,
        "[a] ip=10.0.0.5 is not inside net 192.168.1.0/24"
    );
}

#[test]
fn network_broadcast_and_gateway_ips_are_rejected() {
    let text = |ip: &str| format!("[general]\nnet=10.0.0.0/24\ngw=10.0.0.254\n[a]\nip={ip}");
    assert_eq!(
        err(&text("10.0.0.0")).message,
        "[a] ip=10.0.0.0 is the network address of 10.0.0.0/24"
    );
    assert_eq!(
        err(&text("10.0.0.255")).message,
        "[a] ip=10.0.0.255 is the broadcast address of 10.0.0.0/24"
    );
    assert_eq!(
        err(&text("10.0.0.254")).message,
        "[a] ip=10.0.0.254 is the gateway address"
    );
    ok(&text("10.0.0.1"));
}

#[test]
fn duplicate_explicit_ips_are_rejected() {
    let e = err("[a]\nip=192.168.1.5\n[b]\nip=192.168.1.5");
    assert_eq!(e.message, "[b] ip=192.168.1.5 is already used by [a]");
    assert_eq!(e.line, Some(4));
}

#[test]
fn malformed_ip_is_rejected() {
    let e = err("[a]\nip=192.168.1");
    assert_eq!(e.message, "[a] ip='192.168.1' is not a valid IPv4 address");
}

#[test]
fn default_net_and_gateway_apply_without_general() {
    let spec = ok("[a]");
    assert_eq!(spec.general.net, Subnet::DEFAULT);
    assert_eq!(spec.general.gateway, DEFAULT_GATEWAY);
    assert_eq!(spec.general.driver, NetworkDriver::Bridge);
    assert_eq!(spec.general.mutate_interval, None);
}

#[test]
fn gateway_defaults_to_the_first_host_of_net() {
    let spec = ok("[general]\nnet=10.1.2.0/24\n[a]");
    assert_eq!(spec.general.gateway, ip("10.1.2.1"));
}

#[test]
fn general_values_are_validated() {
    let cases = [
        (
            "net=10.0.0.0/33",
            "[general] net='10.0.0.0/33' has an unsupported prefix",
        ),
        (
            "net=banana",
            "[general] net='banana' is not a valid IPv4 network",
        ),
        (
            "gw=10.0.0.1",
            "[general] gw=10.0.0.1 is not a host address of net 192.168.1.0/24",
        ),
        ("gw=x", "[general] gw='x' is not a valid IPv4 address"),
        (
            "interface=eth 0",
            "[general] interface='eth 0' is not a network interface name",
        ),
        (
            "interface=eth0\ndriver=vxlan",
            "[general] driver='vxlan' is not one of",
        ),
        (
            "interface=eth0\nipvlan=maybe",
            "[general] ipvlan='maybe' is not a boolean",
        ),
        ("driver=ipvlan", "[general] driver=ipvlan needs interface="),
        ("ipvlan=on", "[general] ipvlan=on needs interface="),
        (
            "interface=eth0\ndriver=macvlan\nipvlan=true",
            "[general] driver=macvlan contradicts ipvlan=true",
        ),
        (
            "interface=eth0\nipvlan=no\ndriver=ipvlan",
            "[general] driver=ipvlan contradicts ipvlan=no",
        ),
        (
            "mutate_interval=0",
            "[general] mutate_interval='0' is not valid",
        ),
        (
            "log_target=1.2.3.4:514",
            "[general] Unknown key 'log_target'",
        ),
    ];
    for (body, expected) in cases {
        let e = err(&format!("[general]\n{body}\n[a]"));
        assert!(e.message.starts_with(expected), "{body}: {e}");
        assert_eq!(e.kind, IniErrorKind::Semantic);
    }
}

#[test]
fn ipvlan_is_chosen_by_driver_or_flag() {
    let d = |body: &str| ok(&format!("[general]\n{body}\n[a]")).general.driver;
    assert_eq!(d("interface=eth0\ndriver=ipvlan"), NetworkDriver::Ipvlan);
    assert_eq!(d("interface=eth0\nipvlan=yes"), NetworkDriver::Ipvlan);
    assert_eq!(d("interface=eth0\nipvlan=false"), NetworkDriver::Macvlan);
    assert_eq!(d("interface=eth0\ndriver=MACVLAN"), NetworkDriver::Macvlan);
    assert_eq!(d("ipvlan=false"), NetworkDriver::Bridge);
}

// --- persona subsections ------------------------------------------------------------------

fn persona<'a>(d: &'a DeckySpec, service: &str) -> &'a crate::persona::PersonaMap {
    d.service_config
        .get(&ServiceSlug::parse(service).unwrap())
        .unwrap_or_else(|| panic!("no {service} persona on {}", d.name))
}

#[test]
fn subsection_applies_to_its_decky() {
    let spec = ok("[a]\nservices=ssh\n[a.ssh]\nusers=root:toor\nbanner=SSH-2.0-OpenSSH_8.9");
    let p = persona(&spec.deckies[0], "ssh");
    assert_eq!(
        p.get("users"),
        Some(&PersonaValue::Text("root:toor".into()))
    );
    assert_eq!(p.len(), 2);
}

#[test]
fn subsection_propagates_to_every_expansion() {
    let spec = ok("[grp]\namount=3\nservices=ssh\n[grp.ssh]\nuser=admin\n[grp-x]\n");
    for d in spec.deckies.iter().filter(|d| d.section == "grp") {
        assert_eq!(
            persona(d, "ssh").get("user"),
            Some(&PersonaValue::Text("admin".into()))
        );
    }
    // DECNET matched by name prefix and leaked it into [grp-x]; we match by section.
    assert!(spec.deckies[3].service_config.is_empty());
}

#[test]
fn subsection_for_one_expansion_overrides_the_section_wide_one() {
    let spec = ok(
        "[w]\namount=2\n[w-02.http]\nresponse_code=404\n[w.http]\nresponse_code=200\n\
                   fake_app=wordpress\n",
    );
    let code = |i: usize| {
        persona(&spec.deckies[i], "http")
            .get("response_code")
            .cloned()
    };
    assert_eq!(code(0), Some(PersonaValue::Int(200)));
    assert_eq!(code(1), Some(PersonaValue::Int(404)));
    assert_eq!(
        persona(&spec.deckies[1], "http").get("fake_app"),
        Some(&PersonaValue::Text("wordpress".into()))
    );
}

#[test]
fn ghost_subsections_are_ignored() {
    let spec = ok("[a]\nservices=ssh\n[ghost.ssh]\nnot_a_key=1\n[ghost.nosuch]\nx=y\n");
    assert_eq!(names(&spec), ["a"]);
    assert!(spec.deckies[0].service_config.is_empty());
}

#[test]
fn persona_values_are_typed() {
    let spec = ok(
        "[a]\nservices=rdp,http\n[a.rdp]\nnla=false\n[a.http]\nresponse_code=503\n\
                   extra_headers=X-A: 1\n  X-B: 2\ncustom_body=b64:PGgxPmhpPC9oMT4=\n",
    );
    let d = &spec.deckies[0];
    assert_eq!(
        persona(d, "rdp").get("nla"),
        Some(&PersonaValue::Bool(false))
    );
    let http = persona(d, "http");
    assert_eq!(http.get("response_code"), Some(&PersonaValue::Int(503)));
    assert_eq!(
        http.get("extra_headers"),
        Some(&PersonaValue::Text("X-A: 1\nX-B: 2".into()))
    );
    assert_eq!(
        http.get("custom_body"),
        Some(&PersonaValue::Text("<h1>hi</h1>".into()))
    );
}

#[test]
fn persona_unknown_key_names_section_and_key() {
    let e = err("[a]\n[a.rdp]\nnla=true\ncolour=blue\n");
    assert_eq!(
        e.message,
        "[a.rdp] Unknown key 'colour' for service 'rdp'. Allowed: nla"
    );
    assert_eq!(e.line, Some(4));
    let e = err("[a]\n[a.vnc]\nx=1\n");
    assert_eq!(
        e.message,
        "[a.vnc] Unknown key 'x' for service 'vnc'. service 'vnc' has no persona keys"
    );
}

#[test]
fn persona_bad_values_name_section_and_key() {
    let cases = [
        ("rdp", "nla=maybe", "[a.rdp] nla='maybe' is not a boolean"),
        (
            "http",
            "response_code=abc",
            "[a.http] response_code='abc' is not an integer",
        ),
        (
            "http",
            "response_code=999",
            "[a.http] response_code='999' is not an integer",
        ),
        (
            "http",
            "fake_app=joomla",
            "[a.http] fake_app='joomla' is not one of: none, wordpress",
        ),
        (
            "http",
            "custom_body=b64:***",
            "[a.http] custom_body='b64:***' is not valid base64",
        ),
        (
            "smtp",
            "mta=qmail",
            "[a.smtp] mta='qmail' is not one of: postfix, exim, sendmail",
        ),
    ];
    for (service, body, expected) in cases {
        let e = err(&format!("[a]\n[a.{service}]\n{body}\n"));
        assert!(e.message.starts_with(expected), "{body}: {e}");
        assert_eq!(e.line, Some(3));
    }
}

#[test]
fn persona_for_an_unknown_service_is_rejected() {
    let e = err("[a]\n[a.nosuch]\nx=1\n");
    assert_eq!(
        e.message,
        format!(
            "[a.nosuch] Unknown service 'nosuch'. Available: {}",
            available_services()
        )
    );
}

#[test]
fn persona_for_a_service_not_running_yet_is_kept_for_mutation() {
    let spec = ok("[a]\nservices=ssh\n[a.http]\nresponse_code=302\n");
    assert_eq!(
        persona(&spec.deckies[0], "http").get("response_code"),
        Some(&PersonaValue::Int(302))
    );
}

// --- custom services ----------------------------------------------------------------------

#[test]
fn custom_services_do_not_create_deckies() {
    let spec = ok("[custom-myservice]\nbinary=img:1\nports=8080, 8081\n[a]\nservices=ssh");
    assert_eq!(names(&spec), ["a"]);
    assert_eq!(spec.custom_services[0].ports, [8080, 8081]);
    assert_eq!(spec.custom_services[0].exec, None);
}

#[test]
fn custom_services_can_be_named_in_services() {
    let spec = ok(
        "[a]\nservices=ssh,myservice\n[custom-myservice]\nbinary=img\n\
                   [a.myservice]\nanything=goes\n",
    );
    let d = &spec.deckies[0];
    assert_eq!(d.services.as_ref().unwrap(), &["ssh", "myservice"]);
    assert_eq!(
        persona(d, "myservice").get("anything"),
        Some(&PersonaValue::Text("goes".into()))
    );
    let e = err("[a]\nservices=myservice\n[custom-myservice]\nbinary=img\nservices=x");
    assert_eq!(
        e.message,
        "[custom-myservice] Unknown key 'services'. Allowed: binary, exec, ports"
    );
}

#[test]
fn custom_service_rules() {
    let cases = [
        ("[custom-x]\nexec=/bin/x", "[custom-x] binary= is required"),
        (
            "[custom-x]\nbinary=a b",
            "[custom-x] binary='a b' is not an image reference",
        ),
        (
            "[custom-x]\nbinary=i\nports=80,http",
            "[custom-x] ports='80,http' must be",
        ),
        (
            "[custom-x]\nbinary=i\nports=0",
            "[custom-x] ports='0' must be",
        ),
        (
            "[custom-ssh]\nbinary=i",
            "[custom-ssh] custom service 'ssh' clashes",
        ),
        (
            "[custom-dns]\nbinary=i",
            "[custom-dns] custom service 'dns' clashes",
        ),
        (
            "[custom-My]\nbinary=i",
            "[custom-My] Invalid service name 'My'",
        ),
    ];
    for (section, expected) in cases {
        let e = err(&format!("[a]\n{section}\n"));
        assert!(e.message.starts_with(expected), "{section}: {e}");
    }
}

#[test]
fn custom_service_counts_are_bounded() {
    let customs: String = (0..=MAX_CUSTOM_SERVICES)
        .map(|i| format!("[custom-c{i}]\nbinary=img\n"))
        .collect();
    let e = err(&format!("[a]\n{customs}"));
    assert_eq!(
        e.message,
        "[custom-c32] is one custom service too many: an INI may define at most 32"
    );

    let list: Vec<String> = (0..=MAX_SERVICES_PER_DECKY)
        .map(|i| format!("c{i}"))
        .collect();
    let customs: String = (0..MAX_SERVICES_PER_DECKY)
        .map(|i| format!("[custom-c{i}]\nbinary=img\n"))
        .collect();
    let e = err(&format!("[a]\nservices=ssh,{}\n{customs}", list.join(",")));
    assert!(
        e.message.starts_with("Unknown service(s) in [a]: ['c32']"),
        "{e}"
    );
    let e = err(&format!(
        "[a]\nservices=ssh,{}\n{customs}",
        list[..32].join(",")
    ));
    assert_eq!(
        e.message,
        "[a] services= lists 33 services; a decky may run at most 32"
    );

    let keys: String = (0..=MAX_CUSTOM_PERSONA_KEYS)
        .map(|i| format!("k{i}=v\n"))
        .collect();
    let e = err(&format!("[a]\n[custom-x]\nbinary=i\n[a.x]\n{keys}"));
    assert_eq!(
        e.message,
        "[a.x] sets 65 keys; the persona of a custom service may set at most 64"
    );
}

// --- property tests -----------------------------------------------------------------------

/// Lines that look like INI, built from the parts the rules care about.
fn ini_line() -> impl Strategy<Value = String> {
    let section = prop_oneof![
        Just("general".to_owned()),
        Just("a".to_owned()),
        Just("web-01".to_owned()),
        Just("a.ssh".to_owned()),
        Just("a.http".to_owned()),
        Just("web-01.rdp".to_owned()),
        Just("ghost.ssh".to_owned()),
        Just("custom-x".to_owned()),
        Just("custom-ssh".to_owned()),
        "[a-z0-9.-]{0,8}",
        "\\PC{0,6}",
    ];
    let key = prop_oneof![
        Just("ip"),
        Just("services"),
        Just("archetype"),
        Just("nmap_os"),
        Just("mutate_interval"),
        Just("amount"),
        Just("net"),
        Just("gw"),
        Just("interface"),
        Just("driver"),
        Just("ipvlan"),
        Just("binary"),
        Just("ports"),
        Just("exec"),
        Just("users"),
        Just("nla"),
        Just("response_code"),
        Just("custom_body"),
        Just("fake_app"),
        Just("bogus"),
    ];
    let value = prop_oneof![
        Just("192.168.1.10".to_owned()),
        Just("10.0.0.0/30".to_owned()),
        Just("192.168.1.0/24".to_owned()),
        Just("ssh,http".to_owned()),
        Just("x,myx".to_owned()),
        Just("linux-server".to_owned()),
        Just("windows".to_owned()),
        Just("off".to_owned()),
        Just("30m".to_owned()),
        Just("0".to_owned()),
        Just("3".to_owned()),
        Just("100".to_owned()),
        Just("101".to_owned()),
        Just("b64:aGk=".to_owned()),
        Just("true".to_owned()),
        Just("eth0".to_owned()),
        "[0-9]{1,3}(\\.[0-9]{1,3}){0,3}",
        "\\PC{0,12}",
    ];
    let indent = prop_oneof![Just(""), Just(""), Just("  "), Just("\t")];
    prop_oneof![
        (indent.clone(), section).prop_map(|(i, s)| format!("{i}[{s}]")),
        (indent.clone(), key, "[ \t]{0,2}", "[ \t]{0,2}", value)
            .prop_map(|(i, k, a, b, v)| format!("{i}{k}{a}={b}{v}")),
        (indent, "\\PC{0,10}").prop_map(|(i, s)| format!("{i}{s}")),
        Just(String::new()),
        Just("; comment".to_owned()),
        Just("# comment".to_owned()),
    ]
}

fn check_spec_invariants(spec: &FleetSpec) {
    let net = spec.general.net;
    for d in &spec.deckies {
        assert!(DeckyName::parse(d.name.as_str()).is_ok());
        if let Some(ip) = d.ip {
            assert!(net.is_host(ip) && ip != spec.general.gateway);
        }
        for s in d.services.iter().flatten() {
            assert!(
                catalogue::service_by_slug(s.as_str()).is_some()
                    || spec.custom_services.iter().any(|c| &c.slug == s)
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_text_gives_a_spec_or_typed_errors(text in "\\PC{0,300}") {
        let parsed = parse(&text);
        let all = validate_all(&text);
        if let Err(e) = &parsed {
            prop_assert_eq!(all.first(), Some(e));
        }
        if let Ok(spec) = &parsed {
            check_spec_invariants(spec);
        }
    }

    #[test]
    fn ini_shaped_text_gives_a_spec_or_typed_errors(
        lines in proptest::collection::vec(ini_line(), 0..40),
        seed: u64,
        limit in proptest::option::of(0u32..20),
    ) {
        let text = lines.join("\n");
        match parse(&text) {
            Ok(spec) => {
                check_spec_invariants(&spec);
                let ctx = crate::fleet::PlanContext {
                    deployment_limit: limit,
                    seed,
                    ..Default::default()
                };
                if let Ok(plans) = crate::fleet::plan(&spec, &ctx) {
                    prop_assert_eq!(plans.len(), spec.deckies.len());
                }
            }
            Err(e) => {
                let all = validate_all(&text);
                prop_assert_eq!(all.first(), Some(&e));
                if let Some(line) = e.line {
                    prop_assert!(line >= 1 && line <= lines.len().max(1));
                }
            }
        }
    }
}
