//! The built binary as the server runs it: a child process with `--port`, events on
//! stdout, diagnostics on stderr, and a prompt exit 0 on SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_decnet-decoy");

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// `decnet-decoy serve ARGS` with `env`; its stdout lines (the events) arrive on the channel.
fn serve(args: &[&str], env: &[(&str, &str)]) -> (Child, mpsc::Receiver<String>) {
    let mut child = Command::new(BIN)
        .arg("serve")
        .args(args)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

fn sigterm(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

/// Waits for exit, failing the test if it takes longer than `within`.
fn exit_code(child: &mut Child, within: Duration) -> i32 {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status.code().unwrap_or(-1);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("did not exit within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn connect(port: u16) -> TcpStream {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => {
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                return s;
            }
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => panic!("service never listened: {e}"),
        }
    }
}

fn read_line(r: &mut impl BufRead) -> String {
    let mut line = String::new();
    r.read_line(&mut line).expect("line");
    line
}

#[test]
fn list_prints_one_slug_per_line() {
    let out = Command::new(BIN).arg("list").output().expect("run");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let slugs: Vec<&str> = text.lines().collect();
    for expected in [
        "ssh",
        "http",
        "https",
        "ftp",
        "telnet",
        "smtp",
        "mysql",
        "postgres",
        "smb",
        "ldap",
        "mssql",
        "mongodb",
        "elasticsearch",
        "dns",
        "snmp",
        "tftp",
        "llmnr",
        "sip",
        "conpot",
    ] {
        assert!(
            slugs.contains(&expected),
            "{expected} missing from {slugs:?}"
        );
    }
    assert!(slugs.iter().all(|s| !s.is_empty() && !s.contains(' ')));
}

#[test]
fn idle_exits_zero_on_sigterm() {
    let mut child = Command::new(BIN).arg("idle").spawn().expect("run");
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        child.try_wait().unwrap().is_none(),
        "idle must keep running"
    );
    sigterm(&child);
    assert_eq!(exit_code(&mut child, Duration::from_secs(2)), 0);
}

#[test]
fn bad_usage_exits_two() {
    let out = Command::new(BIN)
        .args(["serve", "nosuch"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "nothing but events on stdout");
}

#[test]
fn serve_emits_json_lines_and_stops_on_sigterm() {
    let port = free_port();
    let (mut child, rx) = serve(
        &["ftp", "--port", &port.to_string()],
        &[
            ("DECNET_DECKY", "files-01"),
            ("DECNET_OS", "plan9"),
            ("DECNET_PERSONA", "{\"banner\":\"FTP ready\"}"),
        ],
    );

    let stream = connect(port);
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    assert_eq!(read_line(&mut reader), "220 FTP ready\r\n");
    writer.write_all(b"USER admin\r\n").unwrap();
    assert!(read_line(&mut reader).starts_with("331"));
    writer.write_all(b"PASS letmein\r\n").unwrap();
    // The default pause before a failed login is about a second.
    assert!(read_line(&mut reader).starts_with("530"));
    writer.write_all(b"QUIT\r\n").unwrap();
    assert!(read_line(&mut reader).starts_with("221"));
    drop(writer);

    let mut events = Vec::new();
    while events.len() < 4 {
        let line = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("event line");
        let ev: serde_json::Value = serde_json::from_str(&line).expect("each line is JSON");
        events.push(ev);
    }
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["connect", "auth", "command", "disconnect"]);
    for (i, ev) in events.iter().enumerate() {
        assert_eq!(ev["seq"], i as u64 + 1);
        assert_eq!(ev["decky"], "files-01");
        assert_eq!(ev["service"], "ftp");
        assert_eq!(ev["src_ip"], "127.0.0.1");
        assert!(ev["src_port"].as_u64().unwrap() > 0);
        let ts = ev["ts"].as_str().unwrap();
        assert!(ts.ends_with('Z') && ts.len() == 24, "{ts}");
    }
    assert_eq!(events[1]["username"], "admin");
    assert_eq!(events[1]["password"], "letmein");

    sigterm(&child);
    assert_eq!(exit_code(&mut child, Duration::from_secs(2)), 0);
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("using defaults"))
        .collect();
    assert_eq!(warnings.len(), 1, "one warning for bad env: {stderr}");
    assert!(warnings[0].contains("DECNET_OS"));
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("free udp port")
}

#[test]
fn udp_services_answer_and_report_without_connect_events() {
    let port = free_udp_port();
    let (mut child, rx) = serve(
        &["snmp", "--port", &port.to_string()],
        &[
            ("DECNET_DECKY", "printer-01"),
            ("DECNET_HOSTNAME", "lab-printer"),
            ("DECNET_OS", "embedded"),
        ],
    );
    // nmap's SNMPv1public probe (sysName.0).
    let probe = b"0\x82\0/\x02\x01\0\x04\x06public\xa0\x82\0\x20\x02\x04\x4c\x33\xa7\x56\x02\x01\0\x02\x01\0\x30\x82\0\x10\x30\x82\0\x0c\x06\x08\x2b\x06\x01\x02\x01\x01\x05\0\x05\0";
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buf = [0u8; 2048];
    let deadline = Instant::now() + Duration::from_secs(10);
    let reply = loop {
        // The service may not be bound yet: UDP has no connect to wait on, so retry.
        client.send_to(probe, ("127.0.0.1", port)).unwrap();
        if let Ok((n, _)) = client.recv_from(&mut buf) {
            break buf[..n].to_vec();
        }
        assert!(Instant::now() < deadline, "no SNMP reply");
    };
    assert!(reply.ends_with(b"\x04\x0blab-printer"));
    let line = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("event line");
    let ev: serde_json::Value = serde_json::from_str(&line).expect("JSON");
    assert_eq!(ev["event"], "auth");
    assert_eq!(ev["service"], "snmp");
    assert_eq!(ev["decky"], "printer-01");
    assert_eq!(ev["password"], "public");
    assert_eq!(ev["src_ip"], "127.0.0.1");
    assert_eq!(ev["seq"], 1);
    sigterm(&child);
    assert_eq!(exit_code(&mut child, Duration::from_secs(2)), 0);
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(stderr.contains(&format!("0.0.0.0:{port}/udp")), "{stderr}");
}

#[test]
fn port_zero_leaves_that_port_to_a_sibling_service() {
    // conpot without its SNMP agent: the decky's snmp service owns 161/udp.
    let (modbus, web) = (free_port(), free_port());
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "conpot",
            "--port",
            &modbus.to_string(),
            "--port",
            "0",
        ])
        .args(["--port", &web.to_string()])
        .env("DECNET_DECKY", "ics")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let listening = read_line(&mut err);
    drop(connect(modbus));
    drop(connect(web));
    sigterm(&child);
    assert_eq!(exit_code(&mut child, Duration::from_secs(5)), 0);
    assert!(!listening.contains("udp"), "{listening}");
    assert!(listening.contains(&modbus.to_string()), "{listening}");
}
