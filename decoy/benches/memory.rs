//! `cargo bench -p decnet-decoy --bench memory`: RSS of one `serve <service>` process per
//! service, idle and under a flood, printed as a table.
//!
//! Each service runs on free loopback ports (`--port`). The flood, per service: 500
//! concurrent TCP connections that each send 4 KiB of garbage and stay open (more than the
//! 256-connection cap), or 50,000 UDP datagrams of garbage for UDP-only services. Reported:
//! RSS idle, the peak sampled during the flood, and RSS 3 s after it ended (connections
//! closed). Target: under 5 MB idle, bounded under the flood.

use std::io::Write;
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The static musl build the containers run (`make decoy`), else this bench's own build.
fn bin() -> String {
    let target = std::env::var("CARGO_TARGET_DIR")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../target").to_owned());
    let musl = format!("{target}/x86_64-unknown-linux-musl/release/decnet-decoy");
    if std::path::Path::new(&musl).is_file() {
        musl
    } else {
        env!("CARGO_BIN_EXE_decnet-decoy").to_owned()
    }
}
const CONNS: usize = 500;
const DATAGRAMS: usize = 50_000;

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn free_tcp() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn free_udp() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

struct Decoy(Child);

impl Drop for Decoy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `serve slug` on free ports; returns it with its first TCP and first UDP port.
fn start(bin: &str, slug: &str, ports: &[(u16, bool)]) -> (Decoy, Option<u16>, Option<u16>) {
    let mut args = vec!["serve".to_owned(), slug.to_owned()];
    let (mut tcp, mut udp) = (None, None);
    for &(_, is_udp) in ports {
        let p = if is_udp { free_udp() } else { free_tcp() };
        if is_udp {
            udp.get_or_insert(p);
        } else {
            tcp.get_or_insert(p);
        }
        args.push("--port".into());
        args.push(p.to_string());
    }
    let child = Command::new(bin)
        .args(&args)
        .env("DECNET_DECKY", "bench")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("decoy");
    let decoy = Decoy(child);
    if let Some(p) = tcp {
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", p)).is_err() {
            assert!(Instant::now() < deadline, "{slug} never listened");
            std::thread::sleep(Duration::from_millis(20));
        }
    } else {
        std::thread::sleep(Duration::from_millis(300));
    }
    (decoy, tcp, udp)
}

fn garbage(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn main() {
    let bin = bin();
    let list = Command::new(&bin)
        .args(["list", "--ports"])
        .output()
        .unwrap();
    let services: Vec<(String, Vec<(u16, bool)>)> = String::from_utf8_lossy(&list.stdout)
        .lines()
        .filter_map(|l| {
            let mut cols = l.split_whitespace();
            let slug = cols.next()?.to_owned();
            let ports = cols
                .filter_map(|p| {
                    let (n, proto) = p.split_once('/')?;
                    Some((n.parse().ok()?, proto == "udp"))
                })
                .collect();
            Some((slug, ports))
        })
        .collect();

    println!("## decoy RSS per service ({bin}, one process each)");
    println!(
        "flood: {CONNS} TCP connections x 4 KiB garbage held open, or {DATAGRAMS} UDP datagrams\n"
    );
    println!("| service | idle | peak in flood | 3 s after | flood |");
    println!("|---|---|---|---|---|");
    let mut worst_idle = 0;
    for (slug, ports) in &services {
        let (decoy, tcp, udp) = start(&bin, slug, ports);
        let pid = decoy.0.id();
        std::thread::sleep(Duration::from_millis(300));
        let idle = rss_kb(pid);
        worst_idle = worst_idle.max(idle);
        let mut peak = idle;
        let what;
        if let Some(port) = tcp {
            let junk = garbage(4096, u64::from(port));
            let mut held = Vec::with_capacity(CONNS);
            for i in 0..CONNS {
                if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
                    let _ = s.set_write_timeout(Some(Duration::from_millis(200)));
                    let _ = s.write_all(&junk);
                    held.push(s);
                }
                if i % 50 == 0 {
                    peak = peak.max(rss_kb(pid));
                }
            }
            for _ in 0..10 {
                std::thread::sleep(Duration::from_millis(100));
                peak = peak.max(rss_kb(pid));
            }
            what = format!("{} tcp conns", held.len());
            drop(held);
        } else {
            let port = udp.expect("a port");
            let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
            for i in 0..DATAGRAMS {
                let junk = garbage(64 + i % 400, i as u64);
                let _ = sock.send_to(&junk, ("127.0.0.1", port));
                if i % 5000 == 0 {
                    peak = peak.max(rss_kb(pid));
                }
            }
            peak = peak.max(rss_kb(pid));
            what = format!("{DATAGRAMS} datagrams");
        }
        std::thread::sleep(Duration::from_secs(3));
        let after = rss_kb(pid);
        let alive = rss_kb(pid) > 0;
        println!(
            "| {slug} | {:.1} MB | {:.1} MB | {:.1} MB{} | {what} |",
            idle as f64 / 1024.0,
            peak as f64 / 1024.0,
            after as f64 / 1024.0,
            if alive { "" } else { " (died!)" }
        );
    }
    println!(
        "\nworst idle RSS: {:.1} MB (target < 5 MB)",
        worst_idle as f64 / 1024.0
    );
}
