//! Real client programs (Debian's smbclient, ldapsearch, tsql, snmpget, sipsak, tftp, dig,
//! installed by `scripts/setup.sh test`) log in to deckies on the real engine; what they
//! typed comes back through `GET /credentials` and `/logs`. And `nmap -sV` names every port.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{api_get, deploy_and_wait, spawn_real};

/// Runs a client program to completion (its exit status is not the point: every login fails).
fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new("timeout")
        .arg("120")
        .arg(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e} (scripts/setup.sh test installs it)"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("$ {program} {}\n{}", args.join(" "), text.trim_end());
    text
}

#[tokio::test]
async fn real_client_programs_leave_their_credentials_in_the_api() {
    let app = spawn_real(None).await;
    let admin = app.admin_token().await;
    let ini = "[general]\nnet=10.234.1.0/24\ngw=10.234.1.1\n\n\
               [cl-win]\nservices=smb,ldap,mssql\nnmap_os=windows\n\n\
               [cl-infra]\nservices=elasticsearch,snmp,sip,tftp,dns\n";
    let (ips, _cleanup) = deploy_and_wait(&app, &admin, ini).await;
    let (win, infra) = (ips["cl-win"].as_str(), ips["cl-infra"].as_str());
    let t0 = Instant::now();

    run(
        "smbclient",
        &[
            "-L",
            &format!("//{win}"),
            "-U",
            "alice%smb-secret",
            "-t",
            "10",
        ],
    );
    run(
        "ldapsearch",
        &[
            "-x",
            "-H",
            &format!("ldap://{win}"),
            "-D",
            "cn=bob,dc=corp,dc=local",
            "-w",
            "ldap-secret",
            "-b",
            "dc=corp,dc=local",
        ],
    );
    run(
        "tsql",
        &["-H", win, "-p", "1433", "-U", "sa", "-P", "mssql-secret"],
    );
    run(
        "curl",
        &[
            "-sS",
            "-m",
            "10",
            "-u",
            "elastic:es-secret",
            &format!("http://{infra}:9200/_cat/indices"),
        ],
    );
    run(
        "snmpget",
        &[
            "-v2c",
            "-c",
            "snmp-community",
            "-t",
            "2",
            "-r",
            "0",
            infra,
            "1.3.6.1.2.1.1.5.0",
        ],
    );
    run(
        "sipsak",
        &[
            "-U",
            "-s",
            &format!("sip:1001@{infra}"),
            "-a",
            "sip-secret",
            "-u",
            "1001",
            "-D",
            "2",
        ],
    );
    let upload = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(upload.path(), b"enable secret 5 $1$pwned\n").unwrap();
    let upload_path = upload.path().to_str().unwrap().to_owned();
    run("tftp", &[infra, "-c", "put", &upload_path, "router.cfg"]);
    run(
        "dig",
        &[
            &format!("@{infra}"),
            "+time=2",
            "+tries=1",
            "secret-db.corp.local",
            "A",
        ],
    );
    let typed = t0.elapsed();

    // (decky, service, username, password): "" where the protocol carries a hash instead.
    let expected = [
        ("cl-win", "smb", "alice", ""),
        ("cl-win", "ldap", "cn=bob,dc=corp,dc=local", "ldap-secret"),
        ("cl-win", "mssql", "sa", "mssql-secret"),
        ("cl-infra", "elasticsearch", "elastic", "es-secret"),
        ("cl-infra", "snmp", "", "snmp-community"),
        ("cl-infra", "sip", "1001", ""),
    ];
    let deadline = Instant::now() + Duration::from_secs(15);
    let creds = loop {
        let got = api_get(&app, &admin, "/credentials?limit=500").await;
        let items = got["items"].as_array().unwrap().clone();
        let missing: Vec<_> = expected
            .iter()
            .filter(|(d, s, u, p)| {
                !items.iter().any(|c| {
                    c["decky"] == *d
                        && c["service"] == *s
                        && c["username"] == *u
                        && c["password"] == *p
                })
            })
            .collect();
        if missing.is_empty() {
            break items;
        }
        assert!(
            Instant::now() < deadline,
            "missing {missing:?} in {items:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    println!("{} logins typed in {typed:?}", expected.len());
    let smb = creds.iter().find(|c| c["service"] == "smb").unwrap();
    let hashcat = smb["extra"]["hashcat"].as_str().unwrap_or_default();
    assert!(
        hashcat.to_ascii_lowercase().starts_with("alice::"),
        "NTLM material for offline cracking: {smb}"
    );
    let sip = creds.iter().find(|c| c["service"] == "sip").unwrap();
    assert!(
        sip["extra"]["response"].is_string(),
        "digest response: {sip}"
    );

    // What was not a login: the uploaded file and the DNS question.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let logs = api_get(&app, &admin, "/logs?decky=cl-infra&limit=500").await;
        let text = logs["items"].to_string();
        if text.contains("router.cfg")
            && text.contains("pwned")
            && text.contains("secret-db.corp.local")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "tftp or dns events missing: {logs:#}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `nmap -sV` output as port/proto -> "service version".
fn nmap(args: &[&str]) -> BTreeMap<String, String> {
    let text = run("nmap", args);
    text.lines()
        .filter_map(|l| {
            let mut cols = l.split_whitespace();
            let port = cols.next()?;
            if !port.contains("/tcp") && !port.contains("/udp") {
                return None;
            }
            let state = cols.next()?;
            let rest: Vec<&str> = cols.collect();
            Some((port.to_owned(), format!("{state} {}", rest.join(" "))))
        })
        .collect()
}

/// What nmap must recognise on each port (a case-insensitive substring of its answer).
const TCP_EXPECT: &[(u16, &str)] = &[
    (21, "vsftpd"),
    (22, "openssh"),
    (23, "telnet"),
    (25, "postfix"),
    (80, "nginx"),
    (110, "dovecot"),
    (139, "samba"),
    (143, "dovecot"),
    (389, "active directory"),
    (445, "samba"),
    (587, "postfix"),
    (636, "active directory"),
    (993, "imap"),
    (995, "pop3"),
    (1433, "sql server"),
    (1883, "mqtt"),
    (2375, "docker"),
    (2376, "docker"),
    (3306, "mysql"),
    (3389, "terminal serv"),
    (5432, "postgresql"),
    (5900, "vnc"),
    (6379, "redis"),
    (6443, "kubernetes"),
    (8080, "kubernetes"),
    (9200, "elasticsearch"),
    (27017, "mongodb"),
];

#[tokio::test]
async fn nmap_names_the_service_on_every_port_of_a_decky() {
    let app = spawn_real(None).await;
    let admin = app.admin_token().await;
    let ini = "[general]\nnet=10.234.2.0/24\ngw=10.234.2.1\n\n\
               [fp-all]\nservices=ssh,http,ftp,telnet,smtp,pop3,imap,redis,mysql,postgres,mqtt,\
               vnc,docker_api,k8s,rdp,smb,ldap,mssql,mongodb,elasticsearch,dns,tftp,snmp,llmnr,sip\n\n\
               [fp-ics]\narchetype=industrial-control\n";
    let (ips, _cleanup) = deploy_and_wait(&app, &admin, ini).await;
    let ip = ips["fp-all"].as_str();
    let ics = ips["fp-ics"].as_str();

    let ports: Vec<String> = TCP_EXPECT.iter().map(|(p, _)| p.to_string()).collect();
    let t = Instant::now();
    let tcp = nmap(&["-sV", "-Pn", "-n", "-T4", "-p", &ports.join(","), ip]);
    println!("nmap -sV (tcp, {} ports): {:?}", ports.len(), t.elapsed());
    let t = Instant::now();
    let udp = nmap(&["-sU", "-sV", "-Pn", "-n", "-T4", "-p", "53,69,161,5060", ip]);
    println!("nmap -sU -sV (udp, 4 ports): {:?}", t.elapsed());

    // industrial-control: conpot (Modbus, web) and snmp share one namespace.
    let t = Instant::now();
    // Modbus answers nmap's light probes; the full set would wait out every other one.
    let plc = nmap(&[
        "-sV",
        "--version-intensity",
        "2",
        "-Pn",
        "-n",
        "-T4",
        "-p",
        "80,502",
        ics,
    ]);
    let plc_snmp = nmap(&["-sU", "-sV", "-Pn", "-n", "-T4", "-p", "161", ics]);
    println!("nmap of the PLC: {:?}", t.elapsed());
    for (port, want, seen) in [
        ("502/tcp", "modbus", &plc),
        ("80/tcp", "http", &plc),
        ("161/udp", "snmp", &plc_snmp),
    ] {
        let got = seen.get(port).cloned().unwrap_or_default();
        println!("| {port} (industrial-control) | {got} |");
        assert!(
            got.starts_with("open") && got.to_lowercase().contains(want),
            "{port}: want {want:?}, nmap said {got:?}"
        );
    }

    println!("| port | nmap -sV |\n|---|---|");
    for (port, seen) in tcp.iter().chain(udp.iter()) {
        println!("| {port} | {seen} |");
    }
    let mut wrong = Vec::new();
    for (port, want) in TCP_EXPECT {
        let seen = tcp.get(&format!("{port}/tcp")).cloned().unwrap_or_default();
        if !seen.starts_with("open") || !seen.to_lowercase().contains(want) {
            wrong.push(format!("{port}/tcp: want {want:?}, nmap said {seen:?}"));
        }
    }
    for (port, want) in [(53, "bind"), (69, "tftp"), (161, "snmp"), (5060, "sip")] {
        let seen = udp.get(&format!("{port}/udp")).cloned().unwrap_or_default();
        if !seen.starts_with("open") || !seen.to_lowercase().contains(want) {
            wrong.push(format!("{port}/udp: want {want:?}, nmap said {seen:?}"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}
