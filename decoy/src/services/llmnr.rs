//! `llmnr`: the name-resolution chatter of a Windows or Apple host, LLMNR (5355/udp,
//! group 224.0.0.252) and mDNS (5353/udp, group 224.0.0.251).
//!
//! It records who asks for which name (a `request` event per query, with `qname`, `qtype`
//! and whether it was `answered`) and answers only for the decky's own hostname (LLMNR) or
//! `<hostname>.local` (mDNS), with the decky's address, so nothing on the segment is ever
//! misdirected. LLMNR *responses* arriving here are reported too (`method`
//! `LLMNR-response`): someone on the segment answers names (Responder and its kin).

use std::net::IpAddr;

use crate::config::Config;
use crate::event::Event;
use crate::limits::Handler;
use crate::udp::{own_ip_towards, Datagram};

use super::dnswire::*;

const LLMNR_TTL: u32 = 30;
const MDNS_TTL: u32 = 120;
const MDNS_PORT: u16 = 5353;

pub struct Llmnr {
    host: Name,
    local: Name,
}

impl Llmnr {
    pub fn new(cfg: &Config) -> Self {
        let host = cfg.hostname();
        let label = host.split('.').next().unwrap_or(host);
        Llmnr {
            host: Name::parse(label),
            local: Name::parse(&format!("{label}.local")),
        }
    }

    /// The reply to one LLMNR (`mdns` false) or mDNS datagram from `peer`, reporting it.
    pub fn answer(
        &self,
        data: &[u8],
        peer: std::net::SocketAddr,
        mdns: bool,
        own: impl Fn(IpAddr) -> Option<IpAddr>,
        emit: impl Fn(Event),
    ) -> Option<Vec<u8>> {
        let proto = if mdns { "mDNS" } else { "LLMNR" };
        let msg = match parse(data) {
            Ok(m) => m,
            Err(_) => {
                emit(
                    Event::request("malformed", "", "")
                        .field("protocol", proto)
                        .payload(data),
                );
                return None;
            }
        };
        let names: Vec<String> = msg.questions.iter().map(|q| q.name.to_string()).collect();
        let first = msg.questions.first();
        if msg.header.qr() {
            if !mdns {
                // An LLMNR answer sent to us: somebody answers names on this segment.
                let answers: Vec<String> = msg
                    .records
                    .iter()
                    .take(4)
                    .map(|r| match (r.rtype, r.rdata.as_slice()) {
                        (TYPE_A, [a, b, c, d]) => format!("{} A {a}.{b}.{c}.{d}", r.name),
                        _ => format!("{} {}", r.name, type_name(r.rtype)),
                    })
                    .collect();
                emit(
                    Event::request("LLMNR-response", names.join(","), "")
                        .text("qname", names.join(","))
                        .text("answers", answers.join(", ")),
                );
            }
            return None;
        }
        let target = if mdns { &self.local } else { &self.host };
        let wanted: Vec<&Question> = msg
            .questions
            .iter()
            .filter(|q| {
                q.name.eq_ignore_case(target)
                    && matches!(q.qtype, TYPE_A | TYPE_ANY)
                    && matches!(q.qclass & 0x7fff, CLASS_IN | CLASS_ANY)
            })
            .collect();
        let ip = match own(peer.ip()) {
            Some(IpAddr::V4(v4)) if !wanted.is_empty() && msg.header.opcode() == 0 => Some(v4),
            _ => None,
        };
        let mut ev = Event::request(proto, names.join(","), "")
            .text("qname", names.join(","))
            .field("answered", ip.is_some());
        if let Some(q) = first {
            ev = ev.field("qtype", type_name(q.qtype));
        }
        emit(ev);
        let ip = ip?;
        let name = &wanted.first()?.name;
        // mDNS to port 5353 is a multicast-style answer (no question, cache-flush);
        // from any other port it is a legacy unicast query, answered like DNS.
        let legacy = !mdns || peer.port() != MDNS_PORT;
        let flags = if mdns { 0x8400 } else { 0x8000 };
        let mut w = Writer::new(&Header {
            id: if legacy { msg.header.id } else { 0 },
            flags,
            qdcount: 0,
            ancount: 0,
            nscount: 0,
            arcount: 0,
        });
        if legacy {
            for q in &wanted {
                w.question(q);
            }
            w.set_count(0, wanted.len() as u16);
        }
        let (class, ttl) = match (mdns, legacy) {
            (true, false) => (0x8000 | CLASS_IN, MDNS_TTL),
            (true, true) => (CLASS_IN, 10),
            _ => (CLASS_IN, LLMNR_TTL),
        };
        w.record(name, TYPE_A, class, ttl, |w| {
            w.buf.extend_from_slice(&ip.octets())
        });
        w.set_count(1, 1);
        Some(w.finish())
    }
}

impl Handler for Llmnr {
    fn datagram(&self, dg: &Datagram<'_>) -> Vec<Vec<u8>> {
        self.answer(dg.data, dg.peer(), dg.port == 1, own_ip_towards, |e| {
            dg.emit(e)
        })
        .into_iter()
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::testkit;
    use proptest::prelude::*;
    use std::time::Duration;

    fn cfg() -> Config {
        testkit::config("dc", "DC01")
    }

    fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
        let mut w = Writer::new(&Header {
            id,
            flags: 0,
            qdcount: 1,
            ancount: 0,
            nscount: 0,
            arcount: 0,
        });
        w.question(&Question {
            name: Name::parse(name),
            qtype,
            qclass: CLASS_IN,
        });
        w.finish()
    }

    #[tokio::test]
    async fn own_name_is_answered_others_only_recorded() {
        let t = testkit::start("llmnr", cfg()).await;
        let c = t.udp(0).await;
        let mut ev = t.events();
        let r = parse(&c.exchange(&query(0x4242, "dc01", TYPE_A)).await).unwrap();
        assert_eq!(r.header.id, 0x4242);
        assert!(r.header.qr());
        assert_eq!(r.records.len(), 1);
        assert_eq!(r.records[0].rdata, vec![127, 0, 0, 1]);
        let e = ev.expect("request").await;
        assert_eq!(e["service"], "llmnr");
        assert_eq!(e["method"], "LLMNR");
        assert_eq!(e["qname"], "dc01");
        assert_eq!(e["qtype"], "A");
        assert_eq!(e["answered"], true);

        // The name a mistyped share or WPAD lookup asks for: recorded, never answered.
        c.send(&query(7, "wpad", TYPE_A)).await;
        assert!(c.recv_within(Duration::from_millis(300)).await.is_none());
        let e = ev.expect("request").await;
        assert_eq!(
            (e["qname"].as_str(), e["answered"].as_bool()),
            (Some("wpad"), Some(false))
        );

        // Someone answering LLMNR: reported.
        let mut resp = query(9, "fileserver", TYPE_A);
        resp[2] = 0x80;
        resp[7] = 1;
        resp.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 10, 9, 9, 9]);
        c.send(&resp).await;
        let e = ev.expect("request").await;
        assert_eq!(e["method"], "LLMNR-response");
        assert_eq!(e["answers"], "fileserver A 10.9.9.9");
    }

    #[tokio::test]
    async fn mdns_answers_hostname_local() {
        let t = testkit::start("llmnr", cfg()).await;
        let c = t.udp(1).await;
        let r = parse(&c.exchange(&query(0x0101, "DC01.local", TYPE_A)).await).unwrap();
        // Legacy unicast (our client is not on port 5353): id and question echoed.
        assert_eq!(r.header.id, 0x0101);
        assert_eq!(r.header.flags, 0x8400);
        assert_eq!(r.questions.len(), 1);
        assert_eq!(r.records[0].rdata, vec![127, 0, 0, 1]);
        let e = t.events().expect("request").await;
        assert_eq!(e["method"], "mDNS");
        assert_eq!(e["answered"], true);
    }

    #[test]
    fn multicast_style_mdns_answers_carry_cache_flush() {
        let l = Llmnr::new(&cfg());
        let q = query(0, "dc01.local", TYPE_ANY);
        let peer = "192.0.2.5:5353".parse().unwrap();
        let own = |_| Some("192.0.2.10".parse().unwrap());
        let r = l.answer(&q, peer, true, own, |_| {}).unwrap();
        let m = parse(&r).unwrap();
        assert_eq!(m.header.qdcount, 0);
        assert_eq!(m.records[0].class, 0x8001);
        assert_eq!(m.records[0].rdata, vec![192, 0, 2, 10]);
    }

    proptest! {
        #[test]
        fn answers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512), mdns in any::<bool>()) {
            let l = Llmnr::new(&cfg());
            let peer = "192.0.2.5:5353".parse().unwrap();
            let own = |_| Some("192.0.2.10".parse().unwrap());
            if let Some(r) = l.answer(&bytes, peer, mdns, own, |_| {}) {
                prop_assert!(r.len() <= bytes.len() + 32);
            }
        }
    }
}
