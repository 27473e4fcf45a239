//! `dns`: an authoritative BIND 9 for the decky's zone, over UDP and TCP (53).
//!
//! The zone (persona `domain`, else the hostname's parent, else `corp.local`) holds a few
//! plausible hosts around the decky's own address, with SOA, NS, MX, TXT, SRV and the
//! reverse /24. `version.bind` answers as BIND does, so scanners name it. Nothing is ever
//! resolved elsewhere: names outside the zone are REFUSED (`zone_mode` auth, recursive) or
//! NXDOMAIN with recursion advertised (`open`); zone transfers are REFUSED; ANY gets the
//! RFC 8482 minimal answer. Every message is a `request` event with `qname` and `qtype`.

use std::io;
use std::net::{IpAddr, Ipv4Addr};

use crate::clock::Civil;
use crate::config::Config;
use crate::event::Event;
use crate::limits::{Conn, Handler};
use crate::udp::{own_ip_towards, Datagram};

use super::dnswire::*;

/// Most messages one TCP connection may send.
const MAX_TCP_MESSAGES: usize = 100;
const TTL: u32 = 3600;
const NEGATIVE_TTL: u32 = 300;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Auth,
    Recursive,
    Open,
}

pub struct Dns {
    zone: Name,
    host: String,
    version: String,
    nsid: Option<Vec<u8>>,
    mode: Mode,
    serial: u32,
}

/// The zone's hosts, as (name relative to the zone, last octet or `None` for the decky).
const HOSTS: &[(&str, Option<u8>)] = &[
    ("", None),
    ("ns1", None),
    ("www", None),
    ("ns2", Some(3)),
    ("vpn", Some(2)),
    ("dc01", Some(10)),
    ("fs01", Some(12)),
    ("intranet", Some(20)),
    ("mail", Some(25)),
    ("git", Some(30)),
    ("backup", Some(40)),
    ("printer", Some(50)),
];

/// What one record says; written by [`Dns::write_rdata`].
enum Data {
    A(Ipv4Addr),
    Aaaa([u8; 16]),
    Ns(Name),
    Mx(u16, Name),
    Txt(String),
    Srv(u16, Name),
    Ptr(Name),
    Soa,
    Hinfo,
}

enum Lookup {
    Found(Vec<Data>),
    NoData,
    NxDomain,
}

/// Parts of a reply before it is written.
struct Reply {
    rcode: u8,
    aa: bool,
    answers: Vec<(Name, u16, u32, Data)>,
    /// SOA in the authority section (negative answers), owned by this zone apex.
    soa: Option<Name>,
}

impl Reply {
    fn rcode(rcode: u8) -> Self {
        Reply {
            rcode,
            aa: false,
            answers: Vec::new(),
            soa: None,
        }
    }
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

fn rcode_name(r: u8) -> &'static str {
    match r {
        RCODE_NOERROR => "NOERROR",
        RCODE_FORMERR => "FORMERR",
        RCODE_SERVFAIL => "SERVFAIL",
        RCODE_NXDOMAIN => "NXDOMAIN",
        RCODE_NOTIMP => "NOTIMP",
        RCODE_REFUSED => "REFUSED",
        _ => "OTHER",
    }
}

impl Dns {
    pub fn new(cfg: &Config) -> Self {
        let p = &cfg.persona;
        let hostname = cfg.hostname().to_ascii_lowercase();
        let (host, parent) = match hostname.split_once('.') {
            Some((h, rest)) if !rest.is_empty() => (h.to_owned(), Some(rest.to_owned())),
            _ => (hostname.clone(), None),
        };
        let domain = p
            .str("domain")
            .map(|d| d.trim().trim_end_matches('.').to_ascii_lowercase())
            .filter(|d| !d.is_empty() && d.len() < 200)
            .or(parent)
            .unwrap_or_else(|| "corp.local".to_owned());
        let mode = match p.str("zone_mode").map(str::to_ascii_lowercase).as_deref() {
            Some("recursive") => Mode::Recursive,
            Some("open") => Mode::Open,
            _ => Mode::Auth,
        };
        let now = Civil::now();
        let serial = (now.year.clamp(2000, 4000) as u32) * 1_000_000
            + now.month * 10_000
            + now.day * 100
            + 1;
        Dns {
            zone: Name::parse(&domain),
            host,
            version: p
                .string("bind_version")
                .unwrap_or_else(|| "9.18.28-1~deb12u2-Debian".to_owned()),
            nsid: p.string("nsid").map(String::into_bytes),
            mode,
            serial,
        }
    }

    fn own_v4(peer: IpAddr) -> Ipv4Addr {
        match own_ip_towards(peer) {
            Some(IpAddr::V4(v4)) => v4,
            _ => Ipv4Addr::new(10, 0, 0, 53),
        }
    }

    fn hosts(&self, own: Ipv4Addr) -> Vec<(String, Ipv4Addr)> {
        let [a, b, c, _] = own.octets();
        let mut out = vec![(self.host.clone(), own)];
        for (name, octet) in HOSTS {
            let ip = octet.map_or(own, |d| Ipv4Addr::new(a, b, c, d));
            out.push(((*name).to_owned(), ip));
        }
        out
    }

    fn reverse_zone(own: Ipv4Addr) -> Name {
        let [a, b, c, _] = own.octets();
        Name::parse(&format!("{c}.{b}.{a}.in-addr.arpa"))
    }

    fn aaaa(&self, ip: Ipv4Addr) -> [u8; 16] {
        // A ULA prefix derived from the zone, the IPv4 host number as interface id.
        let h = fnv(self.zone.to_string().as_bytes()).to_be_bytes();
        let mut v6 = [0u8; 16];
        v6[0] = 0xfd;
        v6[1..6].copy_from_slice(&h[..5]);
        v6[7] = 1;
        v6[15] = ip.octets()[3];
        v6
    }

    fn lookup(&self, rel: &str, qtype: u16, own: Ipv4Addr) -> Lookup {
        let zone = &self.zone;
        let hosts = self.hosts(own);
        let mut data = Vec::new();
        if rel.is_empty() {
            let [a, b, c, _] = own.octets();
            match qtype {
                TYPE_SOA => data.push(Data::Soa),
                TYPE_NS => {
                    data.push(Data::Ns(zone.child("ns1")));
                    data.push(Data::Ns(zone.child("ns2")));
                }
                TYPE_MX => data.push(Data::Mx(10, zone.child("mail"))),
                TYPE_TXT => {
                    data.push(Data::Txt(format!("v=spf1 mx a ip4:{a}.{b}.{c}.0/24 -all")));
                    let token = fnv(zone.to_string().as_bytes());
                    data.push(Data::Txt(format!("MS=ms{}", token % 100_000_000)));
                }
                _ => {}
            }
        }
        match rel {
            "_dmarc" if qtype == TYPE_TXT => data.push(Data::Txt(format!(
                "v=DMARC1; p=quarantine; rua=mailto:dmarc@{zone}"
            ))),
            "_ldap._tcp" | "_ldap._tcp.dc._msdcs" if qtype == TYPE_SRV => {
                data.push(Data::Srv(389, zone.child("dc01")))
            }
            "_kerberos._tcp" | "_kerberos._udp" if qtype == TYPE_SRV => {
                data.push(Data::Srv(88, zone.child("dc01")))
            }
            _ => {}
        }
        let matching: Vec<Ipv4Addr> = hosts
            .iter()
            .filter(|(n, _)| n == rel)
            .map(|(_, ip)| *ip)
            .take(1)
            .collect();
        for ip in &matching {
            match qtype {
                TYPE_A => data.push(Data::A(*ip)),
                TYPE_AAAA => data.push(Data::Aaaa(self.aaaa(*ip))),
                _ => {}
            }
        }
        let exists = !matching.is_empty()
            || matches!(
                rel,
                "_dmarc"
                    | "_ldap._tcp"
                    | "_ldap._tcp.dc._msdcs"
                    | "_kerberos._tcp"
                    | "_kerberos._udp"
                    | "_tcp"
                    | "_udp"
                    | "_msdcs"
                    | "dc._msdcs"
                    | "_tcp.dc._msdcs"
            );
        if !data.is_empty() {
            Lookup::Found(data)
        } else if exists {
            Lookup::NoData
        } else {
            Lookup::NxDomain
        }
    }

    fn reverse(&self, rel: &str, qtype: u16, own: Ipv4Addr) -> Lookup {
        if rel.is_empty() {
            return match qtype {
                TYPE_SOA => Lookup::Found(vec![Data::Soa]),
                TYPE_NS => Lookup::Found(vec![
                    Data::Ns(self.zone.child("ns1")),
                    Data::Ns(self.zone.child("ns2")),
                ]),
                _ => Lookup::NoData,
            };
        }
        let Ok(octet) = rel.parse::<u8>() else {
            return Lookup::NxDomain;
        };
        let hit = self
            .hosts(own)
            .into_iter()
            .find(|(_, ip)| ip.octets()[3] == octet);
        match hit {
            Some((name, _)) if qtype == TYPE_PTR || qtype == TYPE_ANY => {
                let target = if name.is_empty() {
                    self.zone.clone()
                } else {
                    self.zone.child(&name)
                };
                Lookup::Found(vec![Data::Ptr(target)])
            }
            Some(_) => Lookup::NoData,
            None => Lookup::NxDomain,
        }
    }

    fn chaos(&self, q: &Question) -> Reply {
        let name = q.name.to_string().to_ascii_lowercase();
        let text = match name.as_str() {
            "version.bind" | "version.server" => Some(self.version.clone()),
            "hostname.bind" => Some(self.host.clone()),
            "id.server" => Some(
                self.nsid
                    .as_ref()
                    .map(|n| String::from_utf8_lossy(n).into_owned())
                    .unwrap_or_else(|| self.host.clone()),
            ),
            _ => None,
        };
        match text {
            Some(t) if q.qtype == TYPE_TXT || q.qtype == TYPE_ANY => Reply {
                rcode: RCODE_NOERROR,
                aa: true,
                answers: vec![(q.name.clone(), CLASS_CH, 0, Data::Txt(t))],
                soa: None,
            },
            Some(_) => Reply {
                rcode: RCODE_NOERROR,
                aa: true,
                answers: Vec::new(),
                soa: None,
            },
            None => Reply::rcode(RCODE_REFUSED),
        }
    }

    fn resolve(&self, q: &Question, own: Ipv4Addr) -> Reply {
        let class = q.qclass & 0x7fff;
        if class == CLASS_CH {
            return self.chaos(q);
        }
        if class != CLASS_IN && class != CLASS_ANY {
            return Reply::rcode(RCODE_REFUSED);
        }
        match q.qtype {
            TYPE_AXFR | TYPE_IXFR => return Reply::rcode(RCODE_REFUSED),
            // MAILB, MAILA, TKEY, TSIG...: not served.
            249 | 250 | 253 | 254 => return Reply::rcode(RCODE_NOTIMP),
            _ => {}
        }
        let reverse = Self::reverse_zone(own);
        let (apex, lookup) = if let Some(rel) = q.name.relative_to(&self.zone) {
            (self.zone.clone(), self.lookup(&rel, q.qtype, own))
        } else if let Some(rel) = q.name.relative_to(&reverse) {
            (reverse, self.reverse(&rel, q.qtype, own))
        } else {
            return match self.mode {
                Mode::Open => Reply {
                    rcode: RCODE_NXDOMAIN,
                    aa: false,
                    answers: Vec::new(),
                    soa: None,
                },
                _ => Reply::rcode(RCODE_REFUSED),
            };
        };
        let ttl = TTL;
        match lookup {
            _ if q.qtype == TYPE_ANY => Reply {
                // RFC 8482: one small record instead of everything.
                rcode: RCODE_NOERROR,
                aa: true,
                answers: vec![(q.name.clone(), CLASS_IN, ttl, Data::Hinfo)],
                soa: None,
            },
            Lookup::Found(data) => Reply {
                rcode: RCODE_NOERROR,
                aa: true,
                answers: data
                    .into_iter()
                    .map(|d| (q.name.clone(), CLASS_IN, ttl, d))
                    .collect(),
                soa: None,
            },
            Lookup::NoData => Reply {
                rcode: RCODE_NOERROR,
                aa: true,
                answers: Vec::new(),
                soa: Some(apex),
            },
            Lookup::NxDomain => Reply {
                rcode: RCODE_NXDOMAIN,
                aa: true,
                answers: Vec::new(),
                soa: Some(apex),
            },
        }
    }

    fn write_rdata(&self, w: &mut Writer, data: &Data) {
        match data {
            Data::A(ip) => w.buf.extend_from_slice(&ip.octets()),
            Data::Aaaa(v6) => w.buf.extend_from_slice(v6),
            Data::Ns(n) | Data::Ptr(n) => w.name(n),
            Data::Mx(pref, n) => {
                w.u16(*pref);
                w.name(n);
            }
            Data::Txt(t) => w.strings(&[t.as_bytes()]),
            Data::Srv(port, n) => {
                w.u16(0);
                w.u16(100);
                w.u16(*port);
                w.name(n);
            }
            Data::Soa => {
                w.name(&self.zone.child("ns1"));
                w.name(&self.zone.child("hostmaster"));
                for v in [self.serial, 3600, 900, 1_209_600, NEGATIVE_TTL] {
                    w.u32(v);
                }
            }
            Data::Hinfo => w.strings(&[b"RFC8482", b""]),
        }
    }

    fn rtype(data: &Data) -> u16 {
        match data {
            Data::A(_) => TYPE_A,
            Data::Aaaa(_) => TYPE_AAAA,
            Data::Ns(_) => TYPE_NS,
            Data::Mx(..) => TYPE_MX,
            Data::Txt(_) => TYPE_TXT,
            Data::Srv(..) => TYPE_SRV,
            Data::Ptr(_) => TYPE_PTR,
            Data::Soa => TYPE_SOA,
            Data::Hinfo => TYPE_HINFO,
        }
    }

    /// Writes the reply; with `truncate`, only the header, question and OPT (TC set).
    fn write(&self, msg: &Message, reply: &Reply, truncate: bool) -> Vec<u8> {
        let h = &msg.header;
        let ra = self.mode != Mode::Auth;
        let mut flags = 0x8000 | (h.flags & 0x7900) | u16::from(reply.rcode & 0x0f);
        if reply.aa {
            flags |= 0x0400;
        }
        if ra {
            flags |= 0x0080;
        }
        if truncate {
            flags |= 0x0200;
        }
        let mut w = Writer::new(&Header {
            id: h.id,
            flags,
            qdcount: msg.questions.len().min(1) as u16,
            ancount: 0,
            nscount: 0,
            arcount: 0,
        });
        if let Some(q) = msg.questions.first() {
            w.question(q);
        }
        if !truncate {
            for (name, class, ttl, data) in &reply.answers {
                w.record(name, Self::rtype(data), *class, *ttl, |w| {
                    self.write_rdata(w, data)
                });
            }
            w.set_count(1, reply.answers.len() as u16);
            if let Some(apex) = &reply.soa {
                w.record(apex, TYPE_SOA, CLASS_IN, NEGATIVE_TTL, |w| {
                    self.write_rdata(w, &Data::Soa)
                });
                w.set_count(2, 1);
            }
        }
        if let Some(e) = &msg.edns {
            let badvers = e.version > 0;
            let nsid = if e.nsid { self.nsid.as_deref() } else { None };
            let ext_rcode: u32 = if badvers { 1 } else { 0 };
            w.record(&Name::root(), TYPE_OPT, 1232, ext_rcode << 24, |w| {
                if let Some(id) = nsid.filter(|_| !badvers) {
                    let id = &id[..id.len().min(128)];
                    w.u16(3);
                    w.u16(id.len() as u16);
                    w.buf.extend_from_slice(id);
                }
            });
            w.set_count(3, 1);
        }
        w.finish()
    }

    /// The reply to one message (`None`: stay silent), reporting it. `max` bounds the
    /// reply; a UDP reply that would not fit goes out truncated (TC) instead.
    pub fn answer(
        &self,
        bytes: &[u8],
        peer: IpAddr,
        proto: &'static str,
        max: usize,
        emit: impl Fn(Event),
    ) -> Option<Vec<u8>> {
        let msg = match parse(bytes) {
            Ok(m) => m,
            Err(_) => {
                emit(
                    Event::request("malformed", "", "")
                        .field("transport", proto)
                        .payload(bytes),
                );
                // A header is enough to say FORMERR, as BIND does.
                let header = Header::parse(bytes).filter(|h| !h.qr())?;
                let flags = 0x8000 | (header.flags & 0x7900) | u16::from(RCODE_FORMERR);
                let w = Writer::new(&Header {
                    id: header.id,
                    flags,
                    qdcount: 0,
                    ancount: 0,
                    nscount: 0,
                    arcount: 0,
                });
                return Some(w.finish());
            }
        };
        let h = &msg.header;
        let first = msg.questions.first();
        let mut ev = Event::request(
            opcode_name(h.opcode()),
            first.map(|q| q.name.to_string()).unwrap_or_default(),
            "",
        )
        .field("transport", proto);
        if let Some(q) = first {
            ev = ev
                .text("qname", q.name.to_string())
                .field("qtype", type_name(q.qtype))
                .field("qclass", class_name(q.qclass));
        }
        if h.qr() {
            // Someone else's answer (backscatter, a spoofing attempt): note it, never reply.
            emit(ev.field("response", true));
            return None;
        }
        let own = Self::own_v4(peer);
        let reply = match (h.opcode(), msg.questions.len()) {
            (0, 1) => match first {
                Some(q) => self.resolve(q, own),
                None => Reply::rcode(RCODE_FORMERR),
            },
            (0, _) => Reply::rcode(RCODE_FORMERR),
            (4 | 5, _) => Reply::rcode(RCODE_REFUSED),
            _ => Reply::rcode(RCODE_NOTIMP),
        };
        emit(
            ev.field("rcode", rcode_name(reply.rcode))
                .field("recursion_desired", h.rd()),
        );
        let full = self.write(&msg, &reply, false);
        let limit = match &msg.edns {
            Some(e) if proto == "udp" => usize::from(e.udp_size.clamp(512, 1232)).min(max),
            None if proto == "udp" => max.min(512),
            _ => max,
        };
        if full.len() <= limit {
            Some(full)
        } else {
            Some(self.write(&msg, &reply, true))
        }
    }
}

impl Handler for Dns {
    async fn handle(&self, mut conn: Conn) -> io::Result<()> {
        let peer = conn.session.peer.ip();
        for _ in 0..MAX_TCP_MESSAGES {
            let len = match conn.read_exact(2).await {
                Ok(b) => usize::from(u16::from_be_bytes([b[0], b[1]])),
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
                Err(e) => return Err(e),
            };
            if len == 0 {
                return Ok(());
            }
            let msg = conn.read_exact(len).await?;
            let session = conn.session.clone();
            let reply = self.answer(&msg, peer, "tcp", usize::from(u16::MAX), |e| {
                session.emit(e)
            });
            if let Some(reply) = reply {
                let mut out = (reply.len() as u16).to_be_bytes().to_vec();
                out.extend_from_slice(&reply);
                conn.write_all(&out).await?;
            }
        }
        Ok(())
    }

    fn datagram(&self, dg: &Datagram<'_>) -> Vec<Vec<u8>> {
        self.answer(dg.data, dg.peer().ip(), "udp", dg.budget, |e| dg.emit(e))
            .into_iter()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::testkit;
    use serde_json::json;

    fn cfg(persona: serde_json::Value) -> Config {
        testkit::config_with_persona("ns", "ns-01", persona)
    }

    fn query(name: &str, qtype: u16, qclass: u16) -> Vec<u8> {
        let mut w = Writer::new(&Header {
            id: 0xbeef,
            flags: 0x0100,
            qdcount: 1,
            ancount: 0,
            nscount: 0,
            arcount: 0,
        });
        w.question(&Question {
            name: Name::parse(name),
            qtype,
            qclass,
        });
        w.finish()
    }

    #[tokio::test]
    async fn zone_records_over_udp() {
        let t = testkit::start("dns", cfg(json!({"domain": "acme.example"}))).await;
        let c = t.udp(0).await;
        let mut ev = t.events();

        let r = parse(
            &c.exchange(&query("www.ACME.example", TYPE_A, CLASS_IN))
                .await,
        )
        .unwrap();
        assert_eq!(r.header.id, 0xbeef);
        assert_eq!(r.header.flags & 0x840f, 0x8400, "QR AA NOERROR");
        assert_eq!(r.header.flags & 0x0080, 0, "no recursion offered");
        assert_eq!(r.records.len(), 1);
        assert_eq!(r.records[0].rdata, vec![127, 0, 0, 1]);
        assert_eq!(r.questions[0].name.to_string(), "www.ACME.example");
        let e = ev.expect("request").await;
        assert_eq!(e["service"], "dns");
        assert_eq!(e["method"], "QUERY");
        assert_eq!(e["qname"], "www.ACME.example");
        assert_eq!(e["qtype"], "A");
        assert_eq!(e["rcode"], "NOERROR");
        assert_eq!(e["transport"], "udp");

        let r = parse(
            &c.exchange(&query("mail.acme.example", TYPE_AAAA, CLASS_IN))
                .await,
        )
        .unwrap();
        assert_eq!(r.records[0].rtype, TYPE_AAAA);
        assert_eq!(r.records[0].rdata[0], 0xfd);
        assert_eq!(r.records[0].rdata[15], 25);

        let raw = c.exchange(&query("acme.example", TYPE_SOA, CLASS_IN)).await;
        let r = parse(&raw).unwrap();
        assert_eq!(r.records[0].rtype, TYPE_SOA);
        let (mname, _) = read_name(&raw, 12 + 18 + 12).unwrap();
        assert_eq!(mname.to_string(), "ns1.acme.example");

        let r = parse(&c.exchange(&query("acme.example", TYPE_NS, CLASS_IN)).await).unwrap();
        assert_eq!(r.records.len(), 2);
        let r = parse(&c.exchange(&query("acme.example", TYPE_TXT, CLASS_IN)).await).unwrap();
        assert!(String::from_utf8_lossy(&r.records[0].rdata).contains("v=spf1"));

        let raw = c
            .exchange(&query("1.0.0.127.in-addr.arpa", TYPE_PTR, CLASS_IN))
            .await;
        let r = parse(&raw).unwrap();
        let (ptr, _) = read_name(&raw, raw.len() - r.records[0].rdata.len()).unwrap();
        assert_eq!(ptr.to_string(), "ns-01.acme.example");

        let r = parse(
            &c.exchange(&query("nosuch.acme.example", TYPE_A, CLASS_IN))
                .await,
        )
        .unwrap();
        assert_eq!(r.header.flags & 0x0f, u16::from(RCODE_NXDOMAIN));
        assert_eq!(r.records.len(), 1, "SOA in authority");
        assert_eq!(r.records[0].rtype, TYPE_SOA);

        let r = parse(
            &c.exchange(&query("www.acme.example", TYPE_MX, CLASS_IN))
                .await,
        )
        .unwrap();
        assert_eq!(r.header.flags & 0x0f, 0, "NODATA");
        assert_eq!(r.header.ancount, 0);

        let r = parse(&c.exchange(&query("example.org", TYPE_A, CLASS_IN)).await).unwrap();
        assert_eq!(r.header.flags & 0x0f, u16::from(RCODE_REFUSED));
    }

    #[tokio::test]
    async fn version_bind_names_isc_bind_and_axfr_and_any_are_refused_or_minimal() {
        let t = testkit::start("dns", cfg(json!({}))).await;
        let c = t.udp(0).await;
        let mut ev = t.events();
        // nmap's DNSVersionBindReq probe, byte for byte.
        let probe = b"\0\x06\x01\0\0\x01\0\0\0\0\0\0\x07version\x04bind\0\0\x10\0\x03";
        let r = c.exchange(probe).await;
        let want = b"\x07version\x04bind\0\0\x10\0\x03\xc0\x0c\0\x10\0\x03";
        let at = r.windows(want.len()).position(|w| w == want).unwrap();
        let text = &r[at + want.len() + 7..];
        assert_eq!(text, b"9.18.28-1~deb12u2-Debian");
        assert_eq!(ev.expect("request").await["qclass"], "CH");

        let r = parse(&c.exchange(&query("corp.local", TYPE_AXFR, CLASS_IN)).await).unwrap();
        assert_eq!(r.header.flags & 0x0f, u16::from(RCODE_REFUSED));
        let e = ev.expect("request").await;
        assert_eq!(
            (e["qtype"].as_str(), e["rcode"].as_str()),
            (Some("AXFR"), Some("REFUSED"))
        );

        let r = parse(&c.exchange(&query("corp.local", TYPE_ANY, CLASS_IN)).await).unwrap();
        assert_eq!(r.records.len(), 1);
        assert_eq!(r.records[0].rtype, TYPE_HINFO);

        // nmap's DNSStatusRequest: NOTIMP, as BIND.
        let r = c.exchange(b"\0\0\x10\0\0\0\0\0\0\0\0\0").await;
        assert_eq!(r, b"\0\0\x90\x04\0\0\0\0\0\0\0\0");
    }

    #[tokio::test]
    async fn tcp_queries_are_length_prefixed() {
        let t = testkit::start("dns", cfg(json!({"zone_mode": "open"}))).await;
        let mut c = t.connect(1).await;
        let q = query("example.org", TYPE_A, CLASS_IN);
        let mut framed = (q.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&q);
        c.send(&framed).await;
        let len = c.read_exact(2).await;
        let body = c
            .read_exact(usize::from(u16::from_be_bytes([len[0], len[1]])))
            .await;
        let r = parse(&body).unwrap();
        assert_eq!(r.header.flags & 0x0f, u16::from(RCODE_NXDOMAIN));
        assert_ne!(r.header.flags & 0x0080, 0, "open mode offers recursion");
        let e = t.events().expect("request").await;
        assert_eq!(e["transport"], "tcp");
    }

    #[test]
    fn replies_fit_the_budget_or_are_truncated() {
        let dns = Dns::new(&cfg(
            json!({"domain": "a-rather-long-zone-name.example.internal"}),
        ));
        let q = query(
            "a-rather-long-zone-name.example.internal",
            TYPE_SOA,
            CLASS_IN,
        );
        let peer: IpAddr = "127.0.0.1".parse().unwrap();
        let full = dns.answer(&q, peer, "udp", 4096, |_| {}).unwrap();
        let small = dns.answer(&q, peer, "udp", full.len() - 1, |_| {}).unwrap();
        assert!(small.len() < full.len());
        assert_ne!(small[2] & 0x02, 0, "TC set");
        // Junk: a FORMERR of 12 bytes, or nothing without a header.
        assert_eq!(
            dns.answer(b"\x12\x34\x01\x00\x00\x01", peer, "udp", 100, |_| {}),
            None
        );
        let r = dns
            .answer(
                b"\x12\x34\x01\x00\x00\x01\0\0\0\0\0\0\x05ab",
                peer,
                "udp",
                100,
                |_| {},
            )
            .unwrap();
        assert_eq!(r.len(), 12);
        assert_eq!(r[3] & 0x0f, RCODE_FORMERR);
    }

    #[test]
    fn edns_nsid_is_answered_when_configured() {
        let dns = Dns::new(&cfg(json!({"nsid": "ns1-fra"})));
        let mut q = query("corp.local", TYPE_A, CLASS_IN);
        q[11] = 1;
        q.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 4, 0, 3, 0, 0]);
        let r = dns
            .answer(&q, "127.0.0.1".parse().unwrap(), "udp", 4096, |_| {})
            .unwrap();
        assert!(r.ends_with(b"\0\x03\0\x07ns1-fra"));
    }

    proptest::proptest! {
        #[test]
        fn answers_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let dns = Dns::new(&cfg(json!({})));
            let peer: IpAddr = "127.0.0.1".parse().unwrap();
            if let Some(r) = dns.answer(&bytes, peer, "udp", bytes.len() * 4, |_| {}) {
                proptest::prop_assert!(r.len() <= (bytes.len() * 4).max(12));
            }
        }
    }
}
