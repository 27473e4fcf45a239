//! `snmp`: an SNMP agent (161/udp) with the system and interfaces groups.
//!
//! v1 and v2c GET, GETNEXT and GETBULK are answered for the configured community (persona
//! `community`, default `public`); a wrong community gets no reply, as from a real agent.
//! Every v1/v2c message is an `auth` event (`password` = the community, `method`
//! `community`); SETs are also `command` events and refused. v3 gets the USM discovery
//! report (engine ID, boots, time) and every user is unknown; a named user is an `auth`
//! event (`method` `usm`). Replies never exceed the datagram budget: GETBULK is cut short
//! and anything else becomes `tooBig`. The BER decoder is strict and bounded.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use crate::config::{Config, Os};
use crate::event::Event;
use crate::limits::Handler;
use crate::udp::Datagram;

/// Most variable bindings read from a request or put in a reply.
const MAX_VARBINDS: usize = 64;
/// Most arcs in an OID.
const MAX_ARCS: usize = 128;

// ---- BER ----

const INTEGER: u8 = 0x02;
const OCTET_STRING: u8 = 0x04;
#[cfg(test)]
const NULL: u8 = 0x05;
const OID: u8 = 0x06;
const SEQUENCE: u8 = 0x30;
const COUNTER32: u8 = 0x41;
const GAUGE32: u8 = 0x42;
const TIMETICKS: u8 = 0x43;
const NO_SUCH_OBJECT: u8 = 0x80;
const END_OF_MIB_VIEW: u8 = 0x82;

const PDU_GET: u8 = 0xa0;
const PDU_GETNEXT: u8 = 0xa1;
const PDU_RESPONSE: u8 = 0xa2;
const PDU_SET: u8 = 0xa3;
const PDU_TRAP_V1: u8 = 0xa4;
const PDU_GETBULK: u8 = 0xa5;
const PDU_INFORM: u8 = 0xa6;
const PDU_TRAP_V2: u8 = 0xa7;
const PDU_REPORT: u8 = 0xa8;

/// Reads TLVs from a buffer; every length is checked against what is left.
struct Ber<'a> {
    buf: &'a [u8],
}

impl<'a> Ber<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Ber { buf }
    }

    fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    fn next(&mut self) -> Option<(u8, &'a [u8])> {
        let (&tag, rest) = self.buf.split_first()?;
        if tag & 0x1f == 0x1f {
            // Multi-byte tags: SNMP never uses them.
            return None;
        }
        let (&first, rest) = rest.split_first()?;
        let (len, rest) = if first < 0x80 {
            (usize::from(first), rest)
        } else {
            let n = usize::from(first & 0x7f);
            // Indefinite lengths (n = 0) are not allowed in SNMP; 4 bytes is plenty.
            if n == 0 || n > 4 {
                return None;
            }
            let bytes = rest.get(..n)?;
            let len = bytes.iter().fold(0u64, |l, &b| (l << 8) | u64::from(b));
            (usize::try_from(len).ok()?, rest.get(n..)?)
        };
        let value = rest.get(..len)?;
        self.buf = rest.get(len..)?;
        Some((tag, value))
    }

    fn expect(&mut self, tag: u8) -> Option<&'a [u8]> {
        match self.next()? {
            (t, v) if t == tag => Some(v),
            _ => None,
        }
    }

    fn int(&mut self) -> Option<i64> {
        parse_int(self.expect(INTEGER)?)
    }
}

fn parse_int(b: &[u8]) -> Option<i64> {
    if b.is_empty() || b.len() > 8 {
        return None;
    }
    let neg = b[0] & 0x80 != 0;
    let start: i64 = if neg { -1 } else { 0 };
    Some(b.iter().fold(start, |v, &x| (v << 8) | i64::from(x)))
}

fn parse_oid(b: &[u8]) -> Option<Vec<u32>> {
    if b.is_empty() {
        return None;
    }
    let mut arcs = Vec::new();
    let mut cur: u64 = 0;
    let mut digits = 0;
    for &x in b {
        cur = (cur << 7) | u64::from(x & 0x7f);
        digits += 1;
        if digits > 5 || cur > u64::from(u32::MAX) {
            return None;
        }
        if x & 0x80 == 0 {
            if arcs.is_empty() {
                let (a, rest) = match cur {
                    0..=39 => (0, cur),
                    40..=79 => (1, cur - 40),
                    _ => (2, cur - 80),
                };
                arcs.push(a);
                arcs.push(rest as u32);
            } else {
                arcs.push(cur as u32);
            }
            if arcs.len() > MAX_ARCS {
                return None;
            }
            cur = 0;
            digits = 0;
        }
    }
    (digits == 0).then_some(arcs)
}

pub fn oid_string(arcs: &[u32]) -> String {
    arcs.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

fn oid_from(text: &str) -> Vec<u32> {
    text.split('.').filter_map(|a| a.parse().ok()).collect()
}

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    out.push(tag);
    let n = content.len();
    match n {
        0..=0x7f => out.push(n as u8),
        0x80..=0xff => out.extend_from_slice(&[0x81, n as u8]),
        0x100..=0xffff => out.extend_from_slice(&[0x82, (n >> 8) as u8, n as u8]),
        _ => out.extend_from_slice(&[0x83, (n >> 16) as u8, (n >> 8) as u8, n as u8]),
    }
    out.extend_from_slice(content);
    out
}

fn enc_int(v: i64) -> Vec<u8> {
    let bytes = v.to_be_bytes();
    let mut i = 0;
    // Drop redundant sign bytes.
    while i < 7
        && ((bytes[i] == 0 && bytes[i + 1] & 0x80 == 0)
            || (bytes[i] == 0xff && bytes[i + 1] & 0x80 != 0))
    {
        i += 1;
    }
    tlv(INTEGER, &bytes[i..])
}

fn enc_unsigned(tag: u8, v: u32) -> Vec<u8> {
    let mut content = v.to_be_bytes().to_vec();
    while content.len() > 1 && content[0] == 0 && content[1] & 0x80 == 0 {
        content.remove(0);
    }
    if content[0] & 0x80 != 0 {
        content.insert(0, 0);
    }
    tlv(tag, &content)
}

fn enc_oid(arcs: &[u32]) -> Vec<u8> {
    fn base128(out: &mut Vec<u8>, v: u64) {
        let mut tmp = [0u8; 10];
        let mut n = 0;
        let mut v = v;
        loop {
            tmp[n] = (v & 0x7f) as u8;
            n += 1;
            v >>= 7;
            if v == 0 {
                break;
            }
        }
        for i in (0..n).rev() {
            out.push(tmp[i] | if i > 0 { 0x80 } else { 0 });
        }
    }
    let mut content = Vec::new();
    let a = u64::from(arcs.first().copied().unwrap_or(0));
    let b = u64::from(arcs.get(1).copied().unwrap_or(0));
    base128(&mut content, a * 40 + b);
    for &arc in arcs.iter().skip(2) {
        base128(&mut content, u64::from(arc));
    }
    tlv(OID, &content)
}

// ---- MIB ----

#[derive(Clone, Debug, PartialEq, Eq)]
enum Value {
    Str(Vec<u8>),
    Int(i64),
    Oid(Vec<u32>),
    Gauge(u32),
    Counter(u32),
    /// sysUpTime, computed when asked.
    Uptime,
}

/// Who the agent pretends to be.
pub struct Profile {
    pub descr: String,
    pub object_id: &'static str,
    pub contact: String,
    pub location: String,
    pub services: i64,
    /// Interfaces: description, ifType, MTU, speed.
    pub ifaces: Vec<(String, i64, i64, u32)>,
    /// The v3 engine ID's enterprise prefix (e.g. net-snmp's 8072); `None`: v1/v2c only.
    pub engine_enterprise: Option<u32>,
}

impl Profile {
    fn for_os(os: Os, host: &str) -> Profile {
        let eth = |name: &str| (name.to_owned(), 6, 1500, 1_000_000_000u32);
        match os {
            Os::Linux => Profile {
                descr: format!(
                    "Linux {host} 5.15.0-91-generic #101-Ubuntu SMP Tue Nov 14 13:30:08 UTC 2023 x86_64"
                ),
                object_id: "1.3.6.1.4.1.8072.3.2.10",
                contact: "Me <me@example.org>".into(),
                location: "Sitting on the Dock of the Bay".into(),
                services: 72,
                ifaces: vec![("lo".into(), 24, 65536, 10_000_000), eth("eth0")],
                engine_enterprise: Some(8072),
            },
            Os::Bsd => Profile {
                descr: format!(
                    "FreeBSD {host} 13.2-RELEASE FreeBSD 13.2-RELEASE releng/13.2-n254617-525ecfdad597 GENERIC amd64"
                ),
                object_id: "1.3.6.1.4.1.8072.3.2.8",
                contact: "Me <me@example.org>".into(),
                location: "Sitting on the Dock of the Bay".into(),
                services: 72,
                ifaces: vec![eth("em0"), ("lo0".into(), 24, 16384, 0)],
                engine_enterprise: Some(8072),
            },
            Os::Windows => Profile {
                descr: "Hardware: Intel64 Family 6 Model 85 Stepping 7 AT/AT COMPATIBLE - Software: Windows Version 6.3 (Build 17763 Multiprocessor Free)".into(),
                object_id: "1.3.6.1.4.1.311.1.1.3.1.2",
                contact: String::new(),
                location: String::new(),
                services: 76,
                ifaces: vec![
                    ("Software Loopback Interface 1".into(), 24, 1500, 1_073_741_824),
                    eth("Intel(R) 82574L Gigabit Network Connection"),
                ],
                engine_enterprise: None,
            },
            Os::Cisco => Profile {
                descr: "Cisco IOS Software, C2960 Software (C2960-LANBASEK9-M), Version 15.0(2)SE11, RELEASE SOFTWARE (fc3)".into(),
                object_id: "1.3.6.1.4.1.9.1.1208",
                contact: String::new(),
                location: String::new(),
                services: 6,
                ifaces: vec![eth("Vlan1"), eth("GigabitEthernet0/1")],
                engine_enterprise: Some(9),
            },
            Os::Embedded => Profile {
                descr: "HP ETHERNET MULTI-ENVIRONMENT,ROM none,JETDIRECT,JD153,EEPROM JSI24090012,CIDATE 06/20/2023".into(),
                object_id: "1.3.6.1.4.1.11.2.3.9.1",
                contact: String::new(),
                location: String::new(),
                services: 72,
                ifaces: vec![("NetDrvr".into(), 6, 1500, 100_000_000)],
                engine_enterprise: Some(11),
            },
        }
    }

    /// A PLC (conpot): a Schneider Electric Modicon M340 Ethernet module.
    pub fn ics() -> Profile {
        Profile {
            descr: "Schneider Electric BMX NOE 0100 Ethernet TCP/IP Module, Modicon M340 V3.1"
                .into(),
            object_id: "1.3.6.1.4.1.3833.1.7.255.4",
            contact: String::new(),
            location: "Pump station 3".into(),
            services: 79,
            ifaces: vec![("ETH_1".into(), 6, 1500, 100_000_000)],
            engine_enterprise: None,
        }
    }
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

pub struct Snmp {
    community: Vec<u8>,
    mib: BTreeMap<Vec<u32>, Value>,
    engine_id: Option<Vec<u8>>,
    started: Instant,
    /// Seconds the host had been up when the decoy started.
    uptime_base: u64,
    boots: i64,
    reports: AtomicU32,
}

const SYS: &str = "1.3.6.1.2.1.1";
const IF_TABLE: &str = "1.3.6.1.2.1.2.2.1";
const USM_UNKNOWN_USER: &str = "1.3.6.1.6.3.15.1.1.3.0";
const USM_UNKNOWN_ENGINE: &str = "1.3.6.1.6.3.15.1.1.4.0";

impl Snmp {
    pub fn new(cfg: &Config) -> Self {
        Self::with_profile(cfg, Profile::for_os(cfg.os, cfg.hostname()))
    }

    pub fn with_profile(cfg: &Config, mut profile: Profile) -> Self {
        let p = &cfg.persona;
        let host = cfg.hostname().to_owned();
        if let Some(d) = p.string("sys_descr") {
            profile.descr = d;
        }
        if let Some(c) = p.string("sys_contact") {
            profile.contact = c;
        }
        if let Some(l) = p.string("sys_location") {
            profile.location = l;
        }
        let seed = fnv(host.as_bytes());
        let mac = [
            0x00,
            0x1b,
            0x21,
            (seed >> 8) as u8,
            (seed >> 16) as u8,
            (seed >> 24) as u8,
        ];
        let mut mib = BTreeMap::new();
        let sys = |n: u32| {
            let mut o = oid_from(SYS);
            o.extend([n, 0]);
            o
        };
        mib.insert(sys(1), Value::Str(profile.descr.into_bytes()));
        mib.insert(sys(2), Value::Oid(oid_from(profile.object_id)));
        mib.insert(sys(3), Value::Uptime);
        mib.insert(sys(4), Value::Str(profile.contact.into_bytes()));
        mib.insert(sys(5), Value::Str(host.clone().into_bytes()));
        mib.insert(sys(6), Value::Str(profile.location.into_bytes()));
        mib.insert(sys(7), Value::Int(profile.services));
        mib.insert(
            oid_from("1.3.6.1.2.1.2.1.0"),
            Value::Int(profile.ifaces.len() as i64),
        );
        for (i, (descr, kind, mtu, speed)) in profile.ifaces.iter().enumerate() {
            let index = i as u32 + 1;
            let col = |c: u32| {
                let mut o = oid_from(IF_TABLE);
                o.extend([c, index]);
                o
            };
            let loopback = *kind == 24;
            let traffic = (seed >> (i * 8)) as u32 & 0x0fff_ffff;
            mib.insert(col(1), Value::Int(i64::from(index)));
            mib.insert(col(2), Value::Str(descr.clone().into_bytes()));
            mib.insert(col(3), Value::Int(*kind));
            mib.insert(col(4), Value::Int(*mtu));
            mib.insert(col(5), Value::Gauge(*speed));
            let phys = if loopback { Vec::new() } else { mac.to_vec() };
            mib.insert(col(6), Value::Str(phys));
            mib.insert(col(7), Value::Int(1));
            mib.insert(col(8), Value::Int(1));
            mib.insert(col(10), Value::Counter(traffic.wrapping_mul(7)));
            mib.insert(col(16), Value::Counter(traffic.wrapping_mul(3)));
        }
        let engine_id = profile.engine_enterprise.map(|ent| {
            let mut id = (ent | 0x8000_0000).to_be_bytes().to_vec();
            if ent == 8072 {
                // net-snmp's own format: 0x80 and 8 random-looking bytes.
                id.push(0x80);
                id.extend_from_slice(&seed.to_be_bytes());
            } else {
                // Format 3: a MAC address.
                id.push(0x03);
                id.extend_from_slice(&mac);
            }
            id
        });
        let community = p
            .string("community")
            .unwrap_or_else(|| "public".to_owned())
            .into_bytes();
        Snmp {
            community,
            mib,
            engine_id,
            started: Instant::now(),
            uptime_base: 3 * 86_400 + seed % (90 * 86_400),
            boots: 1 + (seed % 23) as i64,
            reports: AtomicU32::new(1 + (seed % 400) as u32),
        }
    }

    fn uptime_secs(&self) -> u64 {
        self.uptime_base + self.started.elapsed().as_secs()
    }

    fn encode_value(&self, v: &Value) -> Vec<u8> {
        match v {
            Value::Str(s) => tlv(OCTET_STRING, s),
            Value::Int(i) => enc_int(*i),
            Value::Oid(o) => enc_oid(o),
            Value::Gauge(g) => enc_unsigned(GAUGE32, *g),
            Value::Counter(c) => enc_unsigned(COUNTER32, *c),
            Value::Uptime => {
                let ticks = (self.uptime_secs().wrapping_mul(100) & 0xffff_ffff) as u32;
                enc_unsigned(TIMETICKS, ticks)
            }
        }
    }

    fn next_after(&self, oid: &[u32]) -> Option<(&Vec<u32>, &Value)> {
        use std::ops::Bound::{Excluded, Unbounded};
        self.mib
            .range::<[u32], _>((Excluded(oid), Unbounded))
            .next()
    }

    /// The reply to one datagram (`None`: silence), reporting it.
    pub fn answer(&self, data: &[u8], budget: usize, emit: impl Fn(Event)) -> Option<Vec<u8>> {
        let parsed = Ber::new(data).expect(SEQUENCE).and_then(|msg| {
            let mut r = Ber::new(msg);
            let version = r.int()?;
            Some((version, r))
        });
        let Some((version, rest)) = parsed else {
            emit(Event::request("malformed", "", "").payload(data));
            return None;
        };
        match version {
            0 | 1 => self.community_request(version, rest, budget, &emit, data),
            3 => self.v3(rest, budget, &emit, data),
            _ => {
                emit(
                    Event::request("malformed", "", "")
                        .field("version", version)
                        .payload(data),
                );
                None
            }
        }
    }

    fn community_request(
        &self,
        version: i64,
        mut r: Ber<'_>,
        budget: usize,
        emit: &impl Fn(Event),
        raw: &[u8],
    ) -> Option<Vec<u8>> {
        let vname = if version == 0 { "v1" } else { "v2c" };
        let parsed = (|| {
            let community = r.expect(OCTET_STRING)?;
            let (tag, pdu) = r.next()?;
            Some((community, tag, pdu))
        })();
        let Some((community, tag, pdu)) = parsed else {
            emit(
                Event::request("malformed", "", "")
                    .field("version", vname)
                    .payload(raw),
            );
            return None;
        };
        let request = parse_pdu(tag, pdu);
        let pdu_name = match tag {
            PDU_GET => "get",
            PDU_GETNEXT => "getnext",
            PDU_RESPONSE => "response",
            PDU_SET => "set",
            PDU_TRAP_V1 => "trap",
            PDU_GETBULK => "getbulk",
            PDU_INFORM => "inform",
            PDU_TRAP_V2 => "trap2",
            PDU_REPORT => "report",
            _ => "unknown",
        };
        let oids: Vec<String> = request
            .as_ref()
            .map(|p| {
                p.varbinds
                    .iter()
                    .take(8)
                    .map(|(o, _)| oid_string(o))
                    .collect()
            })
            .unwrap_or_default();
        emit(
            Event::auth("", community)
                .field("method", "community")
                .field("version", vname)
                .field("pdu", pdu_name)
                .text("oids", oids.join(",")),
        );
        if community != self.community.as_slice() {
            return None;
        }
        let req = request?;
        let reply = |status: i64, index: i64, varbinds: &[Vec<u8>]| {
            let mut body = enc_int(req.id);
            body.extend(enc_int(status));
            body.extend(enc_int(index));
            body.extend(tlv(SEQUENCE, &varbinds.concat()));
            let mut msg = enc_int(version);
            msg.extend(tlv(OCTET_STRING, community));
            msg.extend(tlv(PDU_RESPONSE, &body));
            tlv(SEQUENCE, &msg)
        };
        let varbind = |oid: &[u32], value: Vec<u8>| {
            let mut vb = enc_oid(oid);
            vb.extend(value);
            tlv(SEQUENCE, &vb)
        };
        let echo: Vec<Vec<u8>> = req
            .varbinds
            .iter()
            .map(|(o, v)| varbind(o, v.clone()))
            .collect();
        let v1 = version == 0;
        let mut out = Vec::new();
        match tag {
            PDU_GET | PDU_GETNEXT => {
                for (i, (oid, _)) in req.varbinds.iter().enumerate() {
                    let found = if tag == PDU_GET {
                        self.mib.get(oid).map(|v| (oid, v))
                    } else {
                        self.next_after(oid)
                    };
                    match found {
                        Some((o, v)) => out.push(varbind(o, self.encode_value(v))),
                        None if v1 => return Some(reply(2, i as i64 + 1, &echo)),
                        None if tag == PDU_GET => out.push(varbind(oid, vec![NO_SUCH_OBJECT, 0])),
                        None => out.push(varbind(oid, vec![END_OF_MIB_VIEW, 0])),
                    }
                }
                let full = reply(0, 0, &out);
                if full.len() <= budget {
                    Some(full)
                } else if v1 {
                    Some(reply(1, 0, &echo))
                } else {
                    Some(reply(1, 0, &[]))
                }
            }
            PDU_GETBULK if !v1 => {
                let n = req.varbinds.len();
                let non_rep = usize::try_from(req.status.max(0)).unwrap_or(0).min(n);
                let max_rep = usize::try_from(req.index.max(0))
                    .unwrap_or(0)
                    .min(MAX_VARBINDS);
                let mut cursors: Vec<Vec<u32>> =
                    req.varbinds.iter().map(|(o, _)| o.clone()).collect();
                let mut plan: Vec<usize> = (0..non_rep).collect();
                for _ in 0..max_rep {
                    plan.extend(non_rep..n);
                }
                let mut best = reply(0, 0, &[]);
                for col in plan.into_iter().take(MAX_VARBINDS) {
                    let Some(cur) = cursors.get(col).cloned() else {
                        break;
                    };
                    let vb = match self.next_after(&cur) {
                        Some((o, v)) => {
                            let vb = varbind(o, self.encode_value(v));
                            cursors[col] = o.clone();
                            vb
                        }
                        None => varbind(&cur, vec![END_OF_MIB_VIEW, 0]),
                    };
                    out.push(vb);
                    let candidate = reply(0, 0, &out);
                    if candidate.len() > budget {
                        break;
                    }
                    best = candidate;
                }
                Some(best)
            }
            PDU_SET => {
                for (oid, value) in req.varbinds.iter().take(8) {
                    let shown = Ber::new(value)
                        .next()
                        .map(|(t, v)| match t {
                            INTEGER => parse_int(v).map(|i| i.to_string()).unwrap_or_default(),
                            OCTET_STRING => crate::event::excerpt(v, 256),
                            _ => crate::event::hex(&v[..v.len().min(64)]),
                        })
                        .unwrap_or_default();
                    emit(
                        Event::command(format!("SET {}", oid_string(oid)))
                            .field("oid", oid_string(oid))
                            .text("value", shown),
                    );
                }
                // Read-only community: v1 noSuchName, v2c noAccess.
                let status = if v1 { 2 } else { 6 };
                Some(reply(status, 1, &echo)).filter(|r| r.len() <= budget)
            }
            _ => None,
        }
    }

    fn v3(
        &self,
        mut r: Ber<'_>,
        budget: usize,
        emit: &impl Fn(Event),
        raw: &[u8],
    ) -> Option<Vec<u8>> {
        let parsed = (|| {
            let mut global = Ber::new(r.expect(SEQUENCE)?);
            let msg_id = global.int()?;
            let _max_size = global.int()?;
            let flags = global.expect(OCTET_STRING)?.first().copied().unwrap_or(0);
            let model = global.int()?;
            let sec = r.expect(OCTET_STRING)?;
            let mut usm = Ber::new(Ber::new(sec).expect(SEQUENCE)?);
            let engine = usm.expect(OCTET_STRING)?;
            let _boots = usm.int()?;
            let _time = usm.int()?;
            let user = usm.expect(OCTET_STRING)?;
            let auth = usm.expect(OCTET_STRING)?;
            let _priv = usm.expect(OCTET_STRING)?;
            // Plaintext scoped PDU: its request id; encrypted: none.
            let request_id = r
                .expect(SEQUENCE)
                .and_then(|scoped| {
                    let mut s = Ber::new(scoped);
                    s.expect(OCTET_STRING)?;
                    s.expect(OCTET_STRING)?;
                    let (_, pdu) = s.next()?;
                    Ber::new(pdu).int()
                })
                .unwrap_or(0);
            Some((msg_id, flags, model, engine, user, auth, request_id))
        })();
        let Some((msg_id, flags, model, engine, user, auth, request_id)) = parsed else {
            emit(
                Event::request("malformed", "", "")
                    .field("version", "v3")
                    .payload(raw),
            );
            return None;
        };
        let level = match flags & 0x03 {
            0 => "noAuthNoPriv",
            1 => "authNoPriv",
            _ => "authPriv",
        };
        let ev = if user.is_empty() {
            Event::request("discovery", "", "")
        } else {
            Event::auth(user, "").field("method", "usm")
        };
        emit(
            ev.field("version", "v3")
                .field("security_level", level)
                .hex("engine_id", engine)
                .hex("auth_params", auth),
        );
        let ours = self.engine_id.as_ref()?;
        // Only reportable USM messages get a report.
        if flags & 0x04 == 0 || model != 3 {
            return None;
        }
        let which = if engine != ours.as_slice() {
            USM_UNKNOWN_ENGINE
        } else {
            USM_UNKNOWN_USER
        };
        let count = self.reports.fetch_add(1, Ordering::Relaxed);
        let secs = self.uptime_secs().min(i32::MAX as u64) as i64;
        let mut usm = tlv(OCTET_STRING, ours);
        usm.extend(enc_int(self.boots));
        usm.extend(enc_int(secs));
        usm.extend(tlv(OCTET_STRING, user));
        usm.extend(tlv(OCTET_STRING, b""));
        usm.extend(tlv(OCTET_STRING, b""));
        let mut vb = enc_oid(&oid_from(which));
        vb.extend(enc_unsigned(COUNTER32, count));
        let mut pdu = enc_int(request_id);
        pdu.extend(enc_int(0));
        pdu.extend(enc_int(0));
        pdu.extend(tlv(SEQUENCE, &tlv(SEQUENCE, &vb)));
        let mut scoped = tlv(OCTET_STRING, ours);
        scoped.extend(tlv(OCTET_STRING, b""));
        scoped.extend(tlv(PDU_REPORT, &pdu));
        let mut global = enc_int(msg_id);
        global.extend(enc_int(65507));
        global.extend(tlv(OCTET_STRING, &[0]));
        global.extend(enc_int(3));
        let mut msg = enc_int(3);
        msg.extend(tlv(SEQUENCE, &global));
        msg.extend(tlv(OCTET_STRING, &tlv(SEQUENCE, &usm)));
        msg.extend(tlv(SEQUENCE, &scoped));
        Some(tlv(SEQUENCE, &msg)).filter(|m| m.len() <= budget)
    }
}

struct Pdu {
    id: i64,
    /// error-status, or non-repeaters for GETBULK.
    status: i64,
    /// error-index, or max-repetitions for GETBULK.
    index: i64,
    /// OID and the raw TLV of its value.
    varbinds: Vec<(Vec<u32>, Vec<u8>)>,
}

fn parse_pdu(tag: u8, pdu: &[u8]) -> Option<Pdu> {
    if !matches!(
        tag,
        PDU_GET
            | PDU_GETNEXT
            | PDU_RESPONSE
            | PDU_SET
            | PDU_GETBULK
            | PDU_INFORM
            | PDU_TRAP_V2
            | PDU_REPORT
    ) {
        return None;
    }
    let mut r = Ber::new(pdu);
    let id = r.int()?;
    let status = r.int()?;
    let index = r.int()?;
    let mut list = Ber::new(r.expect(SEQUENCE)?);
    let mut varbinds = Vec::new();
    while !list.is_empty() {
        if varbinds.len() >= MAX_VARBINDS {
            return None;
        }
        let mut vb = Ber::new(list.expect(SEQUENCE)?);
        let oid = parse_oid(vb.expect(OID)?)?;
        let before = vb.buf;
        vb.next()?;
        let raw = before.get(..before.len() - vb.buf.len())?;
        varbinds.push((oid, raw.to_vec()));
    }
    Some(Pdu {
        id,
        status,
        index,
        varbinds,
    })
}

impl Handler for Snmp {
    fn datagram(&self, dg: &Datagram<'_>) -> Vec<Vec<u8>> {
        self.answer(dg.data, dg.budget, |e| dg.emit(e))
            .into_iter()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::testkit;
    use proptest::prelude::*;
    use serde_json::json;
    use std::time::Duration;

    fn cfg(persona: serde_json::Value) -> Config {
        testkit::config_with_persona("printer", "lab-printer", persona)
    }

    /// A v1/v2c request as net-snmp's tools send it.
    fn request(version: i64, community: &str, tag: u8, a: i64, b: i64, oids: &[&str]) -> Vec<u8> {
        let vbs: Vec<u8> = oids
            .iter()
            .flat_map(|o| {
                let mut vb = enc_oid(&oid_from(o));
                vb.extend([NULL, 0]);
                tlv(SEQUENCE, &vb)
            })
            .collect();
        let mut pdu = enc_int(0x1234_5678);
        pdu.extend(enc_int(a));
        pdu.extend(enc_int(b));
        pdu.extend(tlv(SEQUENCE, &vbs));
        let mut msg = enc_int(version);
        msg.extend(tlv(OCTET_STRING, community.as_bytes()));
        msg.extend(tlv(tag, &pdu));
        tlv(SEQUENCE, &msg)
    }

    /// The varbinds of a response: (OID, tag, value).
    fn varbinds(reply: &[u8]) -> (i64, Vec<(String, u8, Vec<u8>)>) {
        let mut r = Ber::new(Ber::new(reply).expect(SEQUENCE).unwrap());
        r.int().unwrap();
        r.expect(OCTET_STRING).unwrap();
        let mut pdu = Ber::new(r.expect(PDU_RESPONSE).unwrap());
        assert_eq!(pdu.int(), Some(0x1234_5678));
        let status = pdu.int().unwrap();
        pdu.int().unwrap();
        let mut list = Ber::new(pdu.expect(SEQUENCE).unwrap());
        let mut out = Vec::new();
        while !list.is_empty() {
            let mut vb = Ber::new(list.expect(SEQUENCE).unwrap());
            let oid = oid_string(&parse_oid(vb.expect(OID).unwrap()).unwrap());
            let (t, v) = vb.next().unwrap();
            out.push((oid, t, v.to_vec()));
        }
        (status, out)
    }

    #[test]
    fn ber_round_trips() {
        for v in [
            0i64,
            1,
            127,
            128,
            255,
            256,
            -1,
            -128,
            -129,
            i64::MAX,
            i64::MIN,
        ] {
            let e = enc_int(v);
            assert_eq!(Ber::new(&e).int(), Some(v), "{v}");
        }
        let o = oid_from("1.3.6.1.4.1.8072.3.2.10");
        assert_eq!(parse_oid(&enc_oid(&o)[2..]).unwrap(), o);
        let o = oid_from("2.999.4294967295");
        assert_eq!(parse_oid(&enc_oid(&o)[2..]).unwrap(), o);
        assert_eq!(enc_unsigned(TIMETICKS, 0x80), vec![TIMETICKS, 2, 0, 0x80]);
        // Long-form lengths, as nmap's probe uses.
        assert_eq!(
            Ber::new(&[0x04, 0x82, 0, 2, b'h', b'i']).next(),
            Some((4, &b"hi"[..]))
        );
        // Lengths past the end, indefinite lengths, huge lengths.
        assert_eq!(Ber::new(&[0x04, 5, 1]).next(), None);
        assert_eq!(Ber::new(&[0x30, 0x80, 0, 0]).next(), None);
        assert_eq!(Ber::new(&[0x04, 0x84, 0xff, 0xff, 0xff, 0xff]).next(), None);
        assert_eq!(parse_oid(&[0x2b, 0x86]), None, "unterminated");
        assert_eq!(
            parse_oid(&[0x2b, 0xff, 0xff, 0xff, 0xff, 0x7f]),
            None,
            "arc overflow"
        );
    }

    #[tokio::test]
    async fn v2c_get_getnext_getbulk_and_wrong_community() {
        let t = testkit::start("snmp", cfg(json!({}))).await;
        let c = t.udp(0).await;
        let mut ev = t.events();

        let reply = c
            .exchange(&request(
                1,
                "public",
                PDU_GET,
                0,
                0,
                &["1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.1.5.0"],
            ))
            .await;
        let (status, vbs) = varbinds(&reply);
        assert_eq!(status, 0);
        assert_eq!(vbs[0].0, "1.3.6.1.2.1.1.1.0");
        assert!(String::from_utf8_lossy(&vbs[0].2).starts_with("Linux lab-printer "));
        assert_eq!(vbs[1].2, b"lab-printer");
        let e = ev.expect("auth").await;
        assert_eq!(e["service"], "snmp");
        assert_eq!(e["username"], "");
        assert_eq!(e["password"], "public");
        assert_eq!(e["method"], "community");
        assert_eq!(e["version"], "v2c");
        assert_eq!(e["pdu"], "get");
        assert_eq!(e["oids"], "1.3.6.1.2.1.1.1.0,1.3.6.1.2.1.1.5.0");

        // A walk from the system group: next is sysObjectID, then sysUpTime.
        let reply = c
            .exchange(&request(
                1,
                "public",
                PDU_GETNEXT,
                0,
                0,
                &["1.3.6.1.2.1.1.1.0"],
            ))
            .await;
        let (_, vbs) = varbinds(&reply);
        assert_eq!(vbs[0].0, "1.3.6.1.2.1.1.2.0");
        assert_eq!(vbs[0].1, OID);
        let reply = c
            .exchange(&request(
                1,
                "public",
                PDU_GETNEXT,
                0,
                0,
                &["1.3.6.1.2.1.1.2.0"],
            ))
            .await;
        assert_eq!(varbinds(&reply).1[0].1, TIMETICKS);
        // Past the end.
        let reply = c
            .exchange(&request(1, "public", PDU_GETNEXT, 0, 0, &["1.3.6.1.9"]))
            .await;
        assert_eq!(varbinds(&reply).1[0].1, END_OF_MIB_VIEW);
        // Unknown object.
        let reply = c
            .exchange(&request(1, "public", PDU_GET, 0, 0, &["1.3.6.1.2.1.1.9.0"]))
            .await;
        assert_eq!(varbinds(&reply).1[0].1, NO_SUCH_OBJECT);

        // GETBULK: as many as the budget allows, in order.
        let reply = c
            .exchange(&request(
                1,
                "public",
                PDU_GETBULK,
                0,
                50,
                &["1.3.6.1.2.1.1"],
            ))
            .await;
        let (_, vbs) = varbinds(&reply);
        assert!(!vbs.is_empty());
        assert_eq!(vbs[0].0, "1.3.6.1.2.1.1.1.0");
        assert!(
            reply.len() <= 4 * request(1, "public", PDU_GETBULK, 0, 50, &["1.3.6.1.2.1.1"]).len()
        );

        // Wrong community: recorded, never answered.
        c.send(&request(1, "secret", PDU_GET, 0, 0, &["1.3.6.1.2.1.1.1.0"]))
            .await;
        assert!(c.recv_within(Duration::from_millis(300)).await.is_none());
        loop {
            let e = ev.expect("auth").await;
            if e["password"] == "secret" {
                break;
            }
        }
    }

    #[tokio::test]
    async fn v1_errors_and_set_is_refused_and_recorded() {
        let t = testkit::start("snmp", cfg(json!({"community": "n0c"}))).await;
        let c = t.udp(0).await;
        let mut ev = t.events();
        let reply = c
            .exchange(&request(0, "n0c", PDU_GET, 0, 0, &["1.3.6.1.2.1.1.9.0"]))
            .await;
        assert_eq!(varbinds(&reply).0, 2, "noSuchName");

        let mut vb = enc_oid(&oid_from("1.3.6.1.2.1.1.6.0"));
        vb.extend(tlv(OCTET_STRING, b"pwned"));
        let mut pdu = enc_int(0x1234_5678);
        pdu.extend(enc_int(0));
        pdu.extend(enc_int(0));
        pdu.extend(tlv(SEQUENCE, &tlv(SEQUENCE, &vb)));
        let mut msg = enc_int(1);
        msg.extend(tlv(OCTET_STRING, b"n0c"));
        msg.extend(tlv(PDU_SET, &pdu));
        let reply = c.exchange(&tlv(SEQUENCE, &msg)).await;
        assert_eq!(varbinds(&reply).0, 6, "noAccess");
        let cmd = ev.expect("command").await;
        assert_eq!(cmd["command"], "SET 1.3.6.1.2.1.1.6.0");
        assert_eq!(cmd["value"], "pwned");
    }

    #[tokio::test]
    async fn nmap_probes_are_answered_as_nmap_expects() {
        let t = testkit::start("snmp", cfg(json!({}))).await;
        let c = t.udp(0).await;
        // SNMPv1public: sysName with long-form lengths.
        let probe = b"0\x82\0/\x02\x01\0\x04\x06public\xa0\x82\0\x20\x02\x04\x4c\x33\xa7\x56\x02\x01\0\x02\x01\0\x30\x82\0\x10\x30\x82\0\x0c\x06\x08\x2b\x06\x01\x02\x01\x01\x05\0\x05\0";
        let reply = c.exchange(probe).await;
        assert!(reply
            .windows(12)
            .any(|w| w == b"\x02\x01\0\x04\x06public\xa2"));
        assert!(reply.ends_with(b"\x06\x08\x2b\x06\x01\x02\x01\x01\x05\0\x04\x0blab-printer"));
        // SNMPv3GetRequest: a discovery report naming net-snmp's engine.
        let probe = b"\x30\x3a\x02\x01\x03\x30\x0f\x02\x02\x4a\x69\x02\x03\0\xff\xe3\x04\x01\x04\x02\x01\x03\x04\x10\x30\x0e\x04\0\x02\x01\0\x02\x01\0\x04\0\x04\0\x04\0\x30\x12\x04\0\x04\0\xa0\x0c\x02\x02\x37\xf0\x02\x01\0\x02\x01\0\x30\0";
        let reply = c.exchange(probe).await;
        assert!(
            reply[1] < 0x80,
            "short-form length, as nmap's match expects"
        );
        assert_eq!(&reply[2..6], b"\x02\x01\x030");
        assert_eq!(&reply[7..11], b"\x02\x02Ji");
        let at = reply.windows(3).position(|w| w == b"\0\x1f\x88").unwrap();
        assert_eq!(reply[at - 1], 0x80);
        let e = t.events().expect("request").await;
        assert_eq!(e["method"], "discovery");
        assert_eq!(e["version"], "v3");
    }

    #[test]
    fn v3_users_are_recorded_and_unknown() {
        let snmp = Snmp::new(&cfg(json!({})));
        let engine = snmp.engine_id.clone().unwrap();
        let mut usm = tlv(OCTET_STRING, &engine);
        usm.extend(enc_int(1));
        usm.extend(enc_int(100));
        usm.extend(tlv(OCTET_STRING, b"admin"));
        usm.extend(tlv(OCTET_STRING, &[0xaa; 12]));
        usm.extend(tlv(OCTET_STRING, b""));
        let mut global = enc_int(7);
        global.extend(enc_int(65507));
        global.extend(tlv(OCTET_STRING, &[0x05]));
        global.extend(enc_int(3));
        let mut msg = enc_int(3);
        msg.extend(tlv(SEQUENCE, &global));
        msg.extend(tlv(OCTET_STRING, &tlv(SEQUENCE, &usm)));
        msg.extend(tlv(OCTET_STRING, &[0x11; 40])); // encrypted scoped PDU
        let msg = tlv(SEQUENCE, &msg);
        let events = std::cell::RefCell::new(Vec::new());
        let reply = snmp
            .answer(&msg, 4 * msg.len(), |e| events.borrow_mut().push(e))
            .unwrap();
        let unknown_user = enc_oid(&oid_from(USM_UNKNOWN_USER));
        assert!(reply.windows(unknown_user.len()).any(|w| w == unknown_user));
        let (em, mut rx) = crate::event::Emitter::channel("d");
        for e in events.into_inner() {
            em.emit("snmp", "127.0.0.1:1".parse().unwrap(), e);
        }
        let e = rx.try_recv().unwrap();
        assert_eq!(e["event"], "auth");
        assert_eq!(e["username"], "admin");
        assert_eq!(e["method"], "usm");
        assert_eq!(e["security_level"], "authNoPriv");
        assert_eq!(e["auth_params"], "aaaaaaaaaaaaaaaaaaaaaaaa");
    }

    #[test]
    fn replies_respect_the_budget() {
        let snmp = Snmp::new(&cfg(json!({"sys_descr": "x".repeat(400)})));
        let req = request(1, "public", PDU_GET, 0, 0, &["1.3.6.1.2.1.1.1.0"]);
        let reply = snmp.answer(&req, req.len() * 4, |_| {}).unwrap();
        assert!(reply.len() <= req.len() * 4);
        let (status, vbs) = varbinds(&reply);
        assert_eq!((status, vbs.len()), (1, 0), "tooBig");
    }

    proptest! {
        #[test]
        fn answers_never_panic_or_exceed_the_budget(
            bytes in proptest::collection::vec(any::<u8>(), 0..400),
            prefix in 0usize..4,
        ) {
            let snmp = Snmp::new(&cfg(json!({})));
            let heads: [&[u8]; 4] = [
                b"",
                b"\x30\x82\x01\x00\x02\x01\x01\x04\x06public",
                b"\x30\x81\xff\x02\x01\x03\x30\x0f\x02\x02\x4a\x69\x02\x03\0\xff\xe3\x04\x01\x04\x02\x01\x03\x04\x10",
                b"\x30\x40\x02\x01\x00\x04\x06public\xa5\x30\x02\x04\x01\x02\x03\x04\x02\x01\x00\x02\x01\x7f\x30",
            ];
            let mut data = heads[prefix].to_vec();
            data.extend(bytes);
            if let Some(r) = snmp.answer(&data, data.len() * 4, |_| {}) {
                prop_assert!(r.len() <= data.len() * 4);
            }
        }
    }
}
