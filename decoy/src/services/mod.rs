//! The catalogue of fake services this binary implements, their standard ports (SPEC 3.2),
//! and how one is bound and run.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use tokio::net::{TcpListener, UdpSocket};
use tokio_rustls::TlsAcceptor;

use crate::config::Config;
use crate::event::Emitter;
use crate::limits::{serve_all, Handler, Limits, Listener, ServiceCtx, Socket};

pub mod asn1;
pub mod conpot;
pub mod dns;
pub mod dnswire;
pub mod docker_api;
pub mod elasticsearch;
pub mod ftp;
pub mod http;
pub mod httpd;
pub mod imap;
pub mod k8s;
pub mod ldap;
pub mod llmnr;
pub mod mongodb;
pub mod mqtt;
pub mod mssql;
pub mod mysql;
pub mod ntlm;
pub mod pop3;
pub mod postgres;
pub mod rdp;
pub mod redis;
pub mod sasl;
pub mod sip;
pub mod smb;
pub mod smtp;
pub mod snmp;
pub mod ssh;
pub mod starttls;
pub mod telnet;
pub mod tftp;
pub mod vnc;

#[cfg(test)]
pub mod testkit;

#[derive(Clone, Copy, Debug)]
pub struct Port {
    pub number: u16,
    /// Implicit TLS on this port (443, 993, 995, 2376, 6443).
    pub tls: bool,
    /// A UDP port (else TCP).
    pub udp: bool,
    /// Multicast group the UDP socket joins (LLMNR, mDNS).
    pub group: Option<Ipv4Addr>,
}

const fn plain(number: u16) -> Port {
    Port {
        number,
        tls: false,
        udp: false,
        group: None,
    }
}

const fn tls(number: u16) -> Port {
    Port {
        number,
        tls: true,
        udp: false,
        group: None,
    }
}

const fn udp(number: u16) -> Port {
    Port {
        number,
        tls: false,
        udp: true,
        group: None,
    }
}

const fn multicast(number: u16, group: Ipv4Addr) -> Port {
    Port {
        number,
        tls: false,
        udp: true,
        group: Some(group),
    }
}

#[derive(Debug)]
pub struct ServiceDef {
    pub slug: &'static str,
    pub ports: &'static [Port],
    /// ALPN protocols offered on TLS ports.
    pub alpn: &'static [&'static [u8]],
}

const HTTP_ALPN: &[&[u8]] = &[b"http/1.1"];

/// Every service `decnet-decoy serve` can run, in the order `list` prints them.
pub static CATALOGUE: &[ServiceDef] = &[
    ServiceDef {
        slug: "ssh",
        ports: &[plain(22)],
        alpn: &[],
    },
    ServiceDef {
        slug: "http",
        ports: &[plain(80), tls(443)],
        alpn: HTTP_ALPN,
    },
    ServiceDef {
        slug: "https",
        ports: &[tls(443)],
        alpn: HTTP_ALPN,
    },
    ServiceDef {
        slug: "ftp",
        ports: &[plain(21)],
        alpn: &[],
    },
    ServiceDef {
        slug: "telnet",
        ports: &[plain(23)],
        alpn: &[],
    },
    ServiceDef {
        slug: "smtp",
        ports: &[plain(25), plain(587)],
        alpn: &[],
    },
    ServiceDef {
        slug: "pop3",
        ports: &[plain(110), tls(995)],
        alpn: &[],
    },
    ServiceDef {
        slug: "imap",
        ports: &[plain(143), tls(993)],
        alpn: &[],
    },
    ServiceDef {
        slug: "redis",
        ports: &[plain(6379)],
        alpn: &[],
    },
    ServiceDef {
        slug: "mysql",
        ports: &[plain(3306)],
        alpn: &[],
    },
    ServiceDef {
        slug: "postgres",
        ports: &[plain(5432)],
        alpn: &[],
    },
    ServiceDef {
        slug: "mqtt",
        ports: &[plain(1883)],
        alpn: &[],
    },
    ServiceDef {
        slug: "rdp",
        // TLS is negotiated inside the protocol, not implicit on the port.
        ports: &[plain(3389)],
        alpn: &[],
    },
    ServiceDef {
        slug: "vnc",
        ports: &[plain(5900)],
        alpn: &[],
    },
    ServiceDef {
        slug: "docker_api",
        ports: &[plain(2375), tls(2376)],
        alpn: HTTP_ALPN,
    },
    ServiceDef {
        slug: "k8s",
        ports: &[tls(6443), plain(8080)],
        alpn: HTTP_ALPN,
    },
    ServiceDef {
        slug: "smb",
        // 445 is SMB over TCP; 139 the NetBIOS session service in front of it.
        ports: &[plain(445), plain(139)],
        alpn: &[],
    },
    ServiceDef {
        slug: "ldap",
        // 389 also offers StartTLS.
        ports: &[plain(389), tls(636)],
        alpn: &[],
    },
    ServiceDef {
        slug: "mssql",
        ports: &[plain(1433)],
        alpn: &[],
    },
    ServiceDef {
        slug: "mongodb",
        ports: &[plain(27017)],
        alpn: &[],
    },
    ServiceDef {
        slug: "elasticsearch",
        ports: &[plain(9200)],
        alpn: &[],
    },
    ServiceDef {
        slug: "conpot",
        // Modbus/TCP, SNMP, the web server; the handler tells them apart by position.
        ports: &[plain(502), udp(161), plain(80)],
        alpn: &[],
    },
    ServiceDef {
        slug: "dns",
        ports: &[udp(53), plain(53)],
        alpn: &[],
    },
    ServiceDef {
        slug: "snmp",
        ports: &[udp(161)],
        alpn: &[],
    },
    ServiceDef {
        slug: "tftp",
        ports: &[udp(69)],
        alpn: &[],
    },
    ServiceDef {
        slug: "sip",
        ports: &[udp(5060), plain(5060)],
        alpn: &[],
    },
    ServiceDef {
        slug: "llmnr",
        ports: &[
            multicast(5355, Ipv4Addr::new(224, 0, 0, 252)),
            multicast(5353, Ipv4Addr::new(224, 0, 0, 251)),
        ],
        alpn: &[],
    },
];

pub fn find(slug: &str) -> Option<&'static ServiceDef> {
    CATALOGUE.iter().find(|d| d.slug == slug)
}

/// Binds every port of `def` on `ip`; `ports` overrides the standard ports in order, `None`
/// leaving that port unserved. A TLS port is skipped, with a warning, when TLS cannot be set
/// up on this CPU.
pub async fn bind(
    def: &ServiceDef,
    cfg: &Config,
    ip: IpAddr,
    ports: &[Option<u16>],
) -> Result<Vec<Listener>, String> {
    if ports.len() > def.ports.len() {
        return Err(format!(
            "{} has {} port(s), got {} --port values",
            def.slug,
            def.ports.len(),
            ports.len()
        ));
    }
    let mut acceptor: Option<Result<TlsAcceptor, String>> = None;
    let mut listeners = Vec::new();
    for (i, port) in def.ports.iter().enumerate() {
        let number = match ports.get(i) {
            Some(Some(n)) => *n,
            Some(None) => continue,
            None => port.number,
        };
        let tls = if port.tls {
            let built = acceptor.get_or_insert_with(|| {
                let cn = cfg.persona.str("tls_cn").unwrap_or_else(|| cfg.hostname());
                crate::tls::acceptor(cn, def.alpn)
            });
            match built {
                Ok(a) => Some(a.clone()),
                Err(e) => {
                    eprintln!("decnet-decoy: {}: port {number} skipped: {e}", def.slug);
                    continue;
                }
            }
        } else {
            None
        };
        let socket = if port.udp {
            let socket = UdpSocket::bind((ip, number))
                .await
                .map_err(|e| format!("{}: cannot bind {ip} udp port {number}: {e}", def.slug))?;
            if let Some(group) = port.group {
                // Best effort: a namespace without multicast still gets unicast queries.
                if let Err(e) = socket.join_multicast_v4(group, Ipv4Addr::UNSPECIFIED) {
                    if ip.is_unspecified() {
                        eprintln!("decnet-decoy: {}: cannot join {group}: {e}", def.slug);
                    }
                }
            }
            Socket::Udp(socket)
        } else {
            let socket = TcpListener::bind((ip, number))
                .await
                .map_err(|e| format!("{}: cannot listen on {ip} port {number}: {e}", def.slug))?;
            Socket::Tcp(socket)
        };
        listeners.push(Listener {
            socket,
            tls,
            index: i,
        });
    }
    if listeners.is_empty() {
        return Err(format!("{}: no port could be served", def.slug));
    }
    Ok(listeners)
}

/// Builds the handler of `$slug` as `$h` and evaluates `$body` with it (one arm per
/// service, so each handler type is used without boxing). Unknown slugs return an error
/// from the enclosing function.
macro_rules! with_handler {
    ($slug:expr, $cfg:expr, $limits:expr, |$h:ident| $body:expr) => {
        match $slug {
            "ssh" => {
                let $h = ssh::Ssh::new($cfg, $limits)?;
                $body
            }
            "http" | "https" => {
                let $h = http::Http::new($cfg);
                $body
            }
            "ftp" => {
                let $h = ftp::Ftp::new($cfg);
                $body
            }
            "telnet" => {
                let $h = telnet::Telnet::new($cfg);
                $body
            }
            "smtp" => {
                let $h = smtp::Smtp::new($cfg);
                $body
            }
            "pop3" => {
                let $h = pop3::Pop3::new($cfg);
                $body
            }
            "imap" => {
                let $h = imap::Imap::new($cfg);
                $body
            }
            "redis" => {
                let $h = redis::Redis::new($cfg);
                $body
            }
            "mysql" => {
                let $h = mysql::Mysql::new($cfg);
                $body
            }
            "postgres" => {
                let $h = postgres::Postgres::new($cfg);
                $body
            }
            "mqtt" => {
                let $h = mqtt::Mqtt::new($cfg);
                $body
            }
            "rdp" => {
                let $h = rdp::Rdp::new($cfg);
                $body
            }
            "vnc" => {
                let $h = vnc::Vnc::new($cfg);
                $body
            }
            "docker_api" => {
                let $h = docker_api::DockerApi::new($cfg);
                $body
            }
            "k8s" => {
                let $h = k8s::K8s::new($cfg);
                $body
            }
            "smb" => {
                let $h = smb::Smb::new($cfg);
                $body
            }
            "ldap" => {
                let $h = ldap::Ldap::new($cfg);
                $body
            }
            "mssql" => {
                let $h = mssql::Mssql::new($cfg);
                $body
            }
            "mongodb" => {
                let $h = mongodb::Mongodb::new($cfg);
                $body
            }
            "elasticsearch" => {
                let $h = elasticsearch::Elasticsearch::new($cfg);
                $body
            }
            "dns" => {
                let $h = dns::Dns::new($cfg);
                $body
            }
            "snmp" => {
                let $h = snmp::Snmp::new($cfg);
                $body
            }
            "tftp" => {
                let $h = tftp::Tftp::new($cfg);
                $body
            }
            "llmnr" => {
                let $h = llmnr::Llmnr::new($cfg);
                $body
            }
            "sip" => {
                let $h = sip::Sip::new($cfg);
                $body
            }
            "conpot" => {
                let $h = conpot::Conpot::new($cfg);
                $body
            }
            other => return Err(format!("unknown service {other:?}")),
        }
    };
}

/// Runs `def` on `listeners` until the process ends.
pub async fn serve(
    def: &ServiceDef,
    cfg: &Config,
    listeners: Vec<Listener>,
    emitter: Emitter,
    limits: Limits,
) -> Result<(), String> {
    let ctx = ServiceCtx::new(def.slug, emitter, limits);
    with_handler!(def.slug, cfg, limits, |h| run(listeners, h, ctx).await);
    Ok(())
}

async fn run<H: Handler>(listeners: Vec<Listener>, handler: H, ctx: Arc<ServiceCtx>) {
    serve_all(listeners, Arc::new(handler), ctx).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::{Conn, Session};
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Deterministic xorshift, so a failure reproduces.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn bytes(&mut self, max: usize) -> Vec<u8> {
            let n = (self.next() as usize) % (max + 1);
            (0..n).map(|_| self.next() as u8).collect()
        }
    }

    /// Openings of every protocol we speak, so garbage also reaches the later states.
    const PREFIXES: &[&[u8]] = &[
        b"",
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n",
        b"POST /wp-login.php HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"USER root\r\nPASS ",
        b"EHLO x\r\nAUTH LOGIN\r\n",
        b"EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n",
        b"a1 LOGIN {5}\r\n",
        b"a1 AUTHENTICATE PLAIN\r\n",
        b"*3\r\n$3\r\nSET\r\n$",
        b"\x55\x00\x00\x01\x85\xa6\xff\x01",
        b"\x00\x00\x00\x08\x04\xd2\x16\x2f\x00\x00\x00\x30\x00\x03\x00\x00user\x00",
        b"\x10\x20\x00\x04MQTT\x05\xc2\x00\x3c\x05",
        b"RFB 003.008\n\x02",
        b"SSH-2.0-OpenSSH_9.6\r\n",
        b"\xff\xfa\x1f",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        b"\x81\0\0\x04abcd\0\0\0\x2f\xffSMBr\0\0\0\0\x08\x01\xc8\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x0c\0\x02NT LM 0.12\0",
        b"\x30\x84\0\0\x01\0\x02\x01\x01\x60\x84\0\0\0\xf0\x02\x01\x03\x04\x04cn=a\x80\x82",
        b"\x30\x30\x02\x01\x02\x63\x2b\x04\0\x0a\x01\x02\x0a\x01\0\x02\x01\0\x02\x01\0\x01\x01\0\xa0\x84\0\0\0",
        b"\x12\x01\x00\x34\x00\x00\x00\x00\x00\x00\x15\x00\x06\x01\x00\x1b\x00\x01\x02\x00\x1c\x00\x0c\x03\x00\x28\x00\x04\xff\x08\x00\x01\x55\x00\x00\x00MSSQLServer\x00\x48\x0f\x00\x00\x10\x01\x01\x00\0\0\x01\0",
        b"\x41\0\0\0\x3a\x30\0\0\xff\xff\xff\xff\xd4\x07\0\0\0\0\0\0test.$cmd\0\0\0\0\0\xff\xff\xff\xff\x1b\0\0\0\x01serverStatus\0\0\0\0\0\0\0\xf0\x3f\0",
        b"\x40\0\0\0\x01\0\0\0\0\0\0\0\xdd\x07\0\0\0\0\0\0\0\x2b\0\0\0\x10saslStart\0\x01\0\0\0\x05payload\0",
        b"\0\0\0\x4e\xfeSMB\x40\0\0\0\0\0\0\0\0\0\x01\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x19\0\0\x01",
    ];

    async fn throw<H: Handler>(handler: &H, slug: &'static str, input: Vec<u8>) {
        let (client, server) = tokio::io::duplex(16 * 1024);
        let (mut from_server, mut to_server) = tokio::io::split(client);
        let writer = tokio::spawn(async move {
            let _ = to_server.write_all(&input).await;
            let _ = to_server.shutdown().await;
        });
        // Read what the service answers while writing, as a TCP peer would.
        let reader = tokio::spawn(async move {
            let mut sink = [0u8; 4096];
            for _ in 0..10_000 {
                match from_server.read(&mut sink).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        });
        let (emitter, mut rx) = Emitter::channel("fuzz");
        let session = Session::new(slug, "127.0.0.1:4444".parse().unwrap(), emitter);
        let limits = crate::services::testkit::test_limits();
        let conn = Conn::new(Box::new(server), session, limits);
        let done = tokio::time::timeout(Duration::from_secs(10), handler.handle(conn)).await;
        assert!(
            done.is_ok(),
            "{slug}: handler did not finish on closed input"
        );
        writer.abort();
        reader.abort();
        while let Ok(ev) = rx.try_recv() {
            event_is_bounded(slug, &ev);
        }
    }

    /// Every event stays small and carries the fields ingest relies on.
    fn event_is_bounded(slug: &str, ev: &serde_json::Value) {
        let line = serde_json::to_string(ev).unwrap();
        assert!(
            line.len() < 16 * 1024,
            "{slug}: oversized event {}",
            line.len()
        );
        for key in [
            "ts", "seq", "decky", "service", "event", "src_ip", "src_port",
        ] {
            assert!(ev.get(key).is_some(), "{slug}: event without {key}");
        }
    }

    async fn fuzz_service(def: &'static ServiceDef, rounds: usize) -> Result<(), String> {
        let cfg = Config::default();
        let limits = crate::services::testkit::test_limits();
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ def.slug.len() as u64);
        with_handler!(def.slug, &cfg, limits, |h| {
            for round in 0..rounds {
                let mut input = PREFIXES[round % PREFIXES.len()].to_vec();
                input.extend(rng.bytes(if round % 7 == 0 { 70_000 } else { 600 }));
                throw(&h, def.slug, input).await;
            }
        });
        Ok(())
    }

    #[tokio::test]
    async fn every_service_survives_random_bytes() {
        for def in CATALOGUE {
            fuzz_service(def, 120).await.unwrap();
        }
    }

    #[tokio::test]
    async fn a_flood_beyond_the_cap_is_shed_and_service_continues() {
        let limits = crate::limits::Limits {
            max_conns: 8,
            ..crate::services::testkit::test_limits()
        };
        let t = crate::services::testkit::start_with("ftp", Config::default(), limits).await;
        let mut clients = Vec::new();
        for _ in 0..40 {
            clients.push(t.connect(0).await);
        }
        let mut greeted = 0;
        for c in &mut clients {
            let mut buf = [0u8; 3];
            let got = tokio::time::timeout(Duration::from_secs(5), c.stream.read(&mut buf)).await;
            if matches!(got, Ok(Ok(3))) && &buf == b"220" {
                greeted += 1;
            }
        }
        assert_eq!(greeted, 8, "exactly the cap is served");
        drop(clients);
        // Slots come back as the handlers see EOF; a new client is served again.
        let mut served = false;
        for _ in 0..50 {
            let mut c = t.connect(0).await;
            let mut buf = [0u8; 3];
            let got =
                tokio::time::timeout(Duration::from_millis(200), c.stream.read(&mut buf)).await;
            if matches!(got, Ok(Ok(3))) {
                served = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(served, "service answers again after the flood");
    }

    async fn closes_within(c: &mut crate::services::testkit::Client, within: Duration) -> bool {
        let mut sink = Vec::new();
        matches!(
            tokio::time::timeout(within, c.stream.read_to_end(&mut sink)).await,
            Ok(Ok(_)) | Ok(Err(_))
        )
    }

    #[tokio::test]
    async fn idle_and_session_timeouts_end_connections() {
        let idle = crate::limits::Limits {
            idle: Duration::from_millis(300),
            ..crate::services::testkit::test_limits()
        };
        let t = crate::services::testkit::start_with("ftp", Config::default(), idle).await;
        let mut c = t.connect(0).await;
        c.read_line().await;
        assert!(closes_within(&mut c, Duration::from_secs(5)).await);
        let d = t.events().expect("disconnect").await;
        assert_eq!(d["reason"], "idle_timeout");

        let session = crate::limits::Limits {
            session: Duration::from_millis(500),
            ..crate::services::testkit::test_limits()
        };
        let t = crate::services::testkit::start_with("ftp", Config::default(), session).await;
        let mut c = t.connect(0).await;
        c.read_line().await;
        for _ in 0..10 {
            // Busy but never done: only the session limit ends it.
            let _ = c.stream.write_all(b"NOOP\r\n").await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(closes_within(&mut c, Duration::from_secs(5)).await);
        let d = t.events().expect("disconnect").await;
        assert_eq!(d["reason"], "session_timeout");
    }

    #[tokio::test]
    async fn ssh_sessions_end_at_the_session_limit() {
        let session = crate::limits::Limits {
            session: Duration::from_millis(500),
            ..crate::services::testkit::test_limits()
        };
        let t = crate::services::testkit::start_with("ssh", Config::default(), session).await;
        let mut c = t.connect(0).await;
        c.read_line().await;
        c.send(b"SSH-2.0-OpenSSH_9.6\r\n").await;
        // russh's own task holds the socket; the kill switch must close it anyway.
        assert!(closes_within(&mut c, Duration::from_secs(5)).await);
    }

    /// Openings of the UDP protocols we speak.
    const UDP_PREFIXES: &[&[u8]] = &[
        b"",
        // DNS / LLMNR query header.
        b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x01",
        // SNMP v2c and v3.
        b"\x30\x82\x01\x00\x02\x01\x01\x04\x06public\xa5",
        b"\x30\x3a\x02\x01\x03\x30\x0f\x02\x02\x4a\x69\x02\x03\0\xff\xe3\x04\x01\x04",
        // TFTP RRQ / WRQ.
        b"\x00\x01startup-config\x00",
        b"\x00\x02x\x00octet\x00",
        // SIP.
        b"REGISTER sip:x SIP/2.0\r\nVia: SIP/2.0/UDP a\r\nFrom: b\r\nTo: c\r\nCall-ID: d\r\nCSeq: 1 REGISTER\r\n",
    ];

    fn datagram_events_are_bounded(
        slug: &str,
        rx: &mut tokio::sync::mpsc::UnboundedReceiver<serde_json::Value>,
    ) {
        while let Ok(ev) = rx.try_recv() {
            event_is_bounded(slug, &ev);
            assert_ne!(ev["event"], "connect", "{slug}: no connect events over UDP");
        }
    }

    async fn fuzz_datagrams(def: &'static ServiceDef, rounds: usize) -> Result<(), String> {
        let cfg = Config::default();
        let limits = crate::services::testkit::test_limits();
        let mut rng = Rng(0x2545_f491_4f6c_dd1d ^ def.slug.len() as u64);
        let udp_ports: Vec<usize> = (0..def.ports.len()).filter(|&i| def.ports[i].udp).collect();
        with_handler!(def.slug, &cfg, limits, |h| {
            let (emitter, mut rx) = Emitter::channel("fuzz");
            for round in 0..rounds {
                let mut data = UDP_PREFIXES[round % UDP_PREFIXES.len()].to_vec();
                data.extend(rng.bytes(if round % 11 == 0 { 65_000 } else { 500 }));
                data.truncate(crate::udp::DATAGRAM_MAX);
                let port = udp_ports[round % udp_ports.len()];
                let dg = crate::udp::Datagram {
                    data: &data,
                    session: Session::new(
                        def.slug,
                        "127.0.0.1:4444".parse().unwrap(),
                        emitter.clone(),
                    ),
                    port,
                    local: "127.0.0.1:0".parse().unwrap(),
                    budget: limits.udp.budget(data.len()),
                };
                let replies = h.datagram(&dg);
                assert!(
                    replies.len() <= 4,
                    "{}: {} replies",
                    def.slug,
                    replies.len()
                );
                datagram_events_are_bounded(def.slug, &mut rx);
            }
        });
        Ok(())
    }

    #[tokio::test]
    async fn every_udp_service_survives_random_datagrams() {
        for def in CATALOGUE.iter().filter(|d| d.ports.iter().any(|p| p.udp)) {
            fuzz_datagrams(def, 300).await.unwrap();
        }
    }

    #[tokio::test]
    async fn a_udp_flood_is_rate_limited_and_the_service_still_answers() {
        let limits = crate::limits::Limits {
            udp: crate::udp::UdpLimits {
                source_rate: 5,
                source_burst: 10,
                ..crate::udp::UdpLimits::default()
            },
            ..crate::services::testkit::test_limits()
        };
        let t = crate::services::testkit::start_with("dns", Config::default(), limits).await;
        let flood = t.udp(0).await;
        let query = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03www\x05corp\x05local\x00\x00\x01\x00\x01";
        for _ in 0..3000 {
            flood.send(query).await;
        }
        let mut answered = 0;
        while flood
            .recv_within(Duration::from_millis(300))
            .await
            .is_some()
        {
            answered += 1;
        }
        // The burst, and what the rate refilled while the flood lasted.
        assert!((10..=40).contains(&answered), "answered {answered}");
        // Another source is still served.
        let other = t.udp(0).await;
        assert!(!other.exchange(query).await.is_empty());
    }

    #[test]
    fn catalogue_slugs_are_unique_and_findable() {
        for def in CATALOGUE {
            assert_eq!(CATALOGUE.iter().filter(|d| d.slug == def.slug).count(), 1);
            assert_eq!(find(def.slug).map(|d| d.slug), Some(def.slug));
            assert!(!def.ports.is_empty());
        }
    }
}
