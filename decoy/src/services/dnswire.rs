//! DNS wire format, shared by `dns` and `llmnr` (LLMNR and mDNS use the same layout).
//!
//! The parser is strict and bounded: names at most 255 bytes, compression pointers only
//! backwards and at most 16 per name, at most [`MAX_QUESTIONS`] questions and
//! [`MAX_RECORDS`] records read. The writer compresses names against those already written.

use std::fmt::Write as _;

/// Most questions read from one message.
pub const MAX_QUESTIONS: usize = 8;
/// Most answer/authority/additional records read from one message.
pub const MAX_RECORDS: usize = 16;
const MAX_NAME: usize = 255;
const MAX_JUMPS: usize = 16;

pub const TYPE_A: u16 = 1;
pub const TYPE_NS: u16 = 2;
pub const TYPE_CNAME: u16 = 5;
pub const TYPE_SOA: u16 = 6;
pub const TYPE_PTR: u16 = 12;
pub const TYPE_HINFO: u16 = 13;
pub const TYPE_MX: u16 = 15;
pub const TYPE_TXT: u16 = 16;
pub const TYPE_AAAA: u16 = 28;
pub const TYPE_SRV: u16 = 33;
pub const TYPE_OPT: u16 = 41;
pub const TYPE_IXFR: u16 = 251;
pub const TYPE_AXFR: u16 = 252;
pub const TYPE_ANY: u16 = 255;

pub const CLASS_IN: u16 = 1;
pub const CLASS_CH: u16 = 3;
pub const CLASS_ANY: u16 = 255;

pub const RCODE_NOERROR: u8 = 0;
pub const RCODE_FORMERR: u8 = 1;
pub const RCODE_SERVFAIL: u8 = 2;
pub const RCODE_NXDOMAIN: u8 = 3;
pub const RCODE_NOTIMP: u8 = 4;
pub const RCODE_REFUSED: u8 = 5;

pub fn type_name(t: u16) -> String {
    match t {
        TYPE_A => "A".into(),
        TYPE_NS => "NS".into(),
        TYPE_CNAME => "CNAME".into(),
        TYPE_SOA => "SOA".into(),
        TYPE_PTR => "PTR".into(),
        TYPE_HINFO => "HINFO".into(),
        TYPE_MX => "MX".into(),
        TYPE_TXT => "TXT".into(),
        TYPE_AAAA => "AAAA".into(),
        TYPE_SRV => "SRV".into(),
        TYPE_OPT => "OPT".into(),
        43 => "DS".into(),
        46 => "RRSIG".into(),
        48 => "DNSKEY".into(),
        65 => "HTTPS".into(),
        TYPE_IXFR => "IXFR".into(),
        TYPE_AXFR => "AXFR".into(),
        TYPE_ANY => "ANY".into(),
        other => format!("TYPE{other}"),
    }
}

pub fn class_name(c: u16) -> String {
    match c & 0x7fff {
        CLASS_IN => "IN".into(),
        CLASS_CH => "CH".into(),
        4 => "HS".into(),
        CLASS_ANY => "ANY".into(),
        other => format!("CLASS{other}"),
    }
}

pub fn opcode_name(op: u8) -> &'static str {
    match op {
        0 => "QUERY",
        1 => "IQUERY",
        2 => "STATUS",
        4 => "NOTIFY",
        5 => "UPDATE",
        6 => "DSO",
        _ => "OPCODE",
    }
}

/// A domain name as its wire labels (case kept).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Name {
    pub labels: Vec<Vec<u8>>,
}

impl Name {
    pub fn root() -> Self {
        Name::default()
    }

    /// From dotted text (no escapes; empty labels skipped).
    pub fn parse(text: &str) -> Self {
        Name {
            labels: text
                .split('.')
                .filter(|l| !l.is_empty())
                .map(|l| l.as_bytes().iter().take(63).copied().collect())
                .take(127)
                .collect(),
        }
    }

    /// `prefix.self`.
    pub fn child(&self, prefix: &str) -> Name {
        let mut n = Name::parse(prefix);
        n.labels.extend(self.labels.iter().cloned());
        n
    }

    /// Whether `self` is `zone` or below it (ASCII case-insensitive).
    pub fn is_under(&self, zone: &Name) -> bool {
        self.labels.len() >= zone.labels.len()
            && self.labels[self.labels.len() - zone.labels.len()..]
                .iter()
                .zip(&zone.labels)
                .all(|(a, b)| a.eq_ignore_ascii_case(b))
    }

    /// The labels above `zone`, lowercased and dotted ("" for the apex); `None` if not under.
    pub fn relative_to(&self, zone: &Name) -> Option<String> {
        if !self.is_under(zone) {
            return None;
        }
        let n = self.labels.len() - zone.labels.len();
        let rel = Name {
            labels: self.labels[..n].to_vec(),
        };
        Some(rel.to_string().to_ascii_lowercase())
    }

    pub fn eq_ignore_case(&self, other: &Name) -> bool {
        self.labels.len() == other.labels.len() && self.is_under(other)
    }
}

impl std::fmt::Display for Name {
    /// Dotted, without the final dot; bytes outside printable ASCII as `\DDD`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, label) in self.labels.iter().enumerate() {
            if i > 0 {
                f.write_char('.')?;
            }
            for &b in label {
                match b {
                    b'.' | b'\\' => write!(f, "\\{}", b as char)?,
                    0x21..=0x7e => f.write_char(b as char)?,
                    _ => write!(f, "\\{b:03}")?,
                }
            }
        }
        Ok(())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub id: u16,
    pub flags: u16,
    pub qdcount: u16,
    pub ancount: u16,
    pub nscount: u16,
    pub arcount: u16,
}

impl Header {
    pub fn parse(buf: &[u8]) -> Option<Header> {
        let w = |i: usize| -> Option<u16> {
            Some(u16::from_be_bytes([*buf.get(i)?, *buf.get(i + 1)?]))
        };
        Some(Header {
            id: w(0)?,
            flags: w(2)?,
            qdcount: w(4)?,
            ancount: w(6)?,
            nscount: w(8)?,
            arcount: w(10)?,
        })
    }

    pub fn qr(&self) -> bool {
        self.flags & 0x8000 != 0
    }

    pub fn opcode(&self) -> u8 {
        ((self.flags >> 11) & 0x0f) as u8
    }

    pub fn rd(&self) -> bool {
        self.flags & 0x0100 != 0
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Question {
    pub name: Name,
    pub qtype: u16,
    pub qclass: u16,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub name: Name,
    pub rtype: u16,
    pub class: u16,
    pub ttl: u32,
    pub rdata: Vec<u8>,
}

/// EDNS(0) from an OPT record.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Edns {
    pub udp_size: u16,
    pub version: u8,
    pub nsid: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub header: Header,
    pub questions: Vec<Question>,
    /// Answer, authority and additional records (bounded), OPT excluded.
    pub records: Vec<Record>,
    pub edns: Option<Edns>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// Fewer than 12 bytes: not even a header to answer.
    NoHeader,
    /// A header, but the rest does not parse.
    Malformed,
}

/// Reads the name at `pos`; returns it and the position after it in the message.
pub fn read_name(buf: &[u8], start: usize) -> Option<(Name, usize)> {
    let mut labels = Vec::new();
    let mut pos = start;
    let mut total = 1usize;
    let mut jumps = 0usize;
    let mut after = None;
    loop {
        let len = *buf.get(pos)?;
        match len & 0xc0 {
            0x00 if len == 0 => {
                return Some((Name { labels }, after.unwrap_or(pos + 1)));
            }
            0x00 => {
                let l = usize::from(len);
                let label = buf.get(pos + 1..pos + 1 + l)?;
                total += l + 1;
                if total > MAX_NAME {
                    return None;
                }
                labels.push(label.to_vec());
                pos += 1 + l;
            }
            0xc0 => {
                let low = *buf.get(pos + 1)?;
                let target = (usize::from(len & 0x3f) << 8) | usize::from(low);
                after.get_or_insert(pos + 2);
                jumps += 1;
                // Only backwards, and not too often: no loop can last.
                if target >= pos || jumps > MAX_JUMPS {
                    return None;
                }
                pos = target;
            }
            _ => return None,
        }
    }
}

fn u16_at(buf: &[u8], pos: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*buf.get(pos)?, *buf.get(pos + 1)?]))
}

fn u32_at(buf: &[u8], pos: usize) -> Option<u32> {
    Some(u32::from_be_bytes([
        *buf.get(pos)?,
        *buf.get(pos + 1)?,
        *buf.get(pos + 2)?,
        *buf.get(pos + 3)?,
    ]))
}

pub fn parse(buf: &[u8]) -> Result<Message, ParseError> {
    let header = Header::parse(buf).ok_or(ParseError::NoHeader)?;
    parse_body(buf, header).ok_or(ParseError::Malformed)
}

fn parse_body(buf: &[u8], header: Header) -> Option<Message> {
    let mut pos = 12;
    if usize::from(header.qdcount) > MAX_QUESTIONS {
        return None;
    }
    let mut questions = Vec::new();
    for _ in 0..header.qdcount {
        let (name, next) = read_name(buf, pos)?;
        let qtype = u16_at(buf, next)?;
        let qclass = u16_at(buf, next + 2)?;
        pos = next + 4;
        questions.push(Question {
            name,
            qtype,
            qclass,
        });
    }
    let rr_count =
        usize::from(header.ancount) + usize::from(header.nscount) + usize::from(header.arcount);
    let mut records = Vec::new();
    let mut edns = None;
    for _ in 0..rr_count.min(MAX_RECORDS) {
        let (name, next) = read_name(buf, pos)?;
        let rtype = u16_at(buf, next)?;
        let class = u16_at(buf, next + 2)?;
        let ttl = u32_at(buf, next + 4)?;
        let rdlen = usize::from(u16_at(buf, next + 8)?);
        let rdata = buf.get(next + 10..next + 10 + rdlen)?;
        pos = next + 10 + rdlen;
        if rtype == TYPE_OPT {
            edns = Some(parse_opt(class, ttl, rdata));
        } else {
            records.push(Record {
                name,
                rtype,
                class,
                ttl,
                rdata: rdata.to_vec(),
            });
        }
    }
    Some(Message {
        header,
        questions,
        records,
        edns,
    })
}

fn parse_opt(class: u16, ttl: u32, rdata: &[u8]) -> Edns {
    let mut e = Edns {
        udp_size: class,
        version: ((ttl >> 16) & 0xff) as u8,
        nsid: false,
    };
    let mut i = 0;
    while let (Some(code), Some(len)) = (u16_at(rdata, i), u16_at(rdata, i + 2)) {
        if code == 3 {
            e.nsid = true;
        }
        i += 4 + usize::from(len);
    }
    e
}

/// Builds a message, compressing names against those already written.
pub struct Writer {
    pub buf: Vec<u8>,
    /// (lowercased labels of a written name suffix, its offset).
    names: Vec<(Vec<Vec<u8>>, u16)>,
}

impl Writer {
    pub fn new(header: &Header) -> Self {
        let mut buf = Vec::with_capacity(512);
        for v in [
            header.id,
            header.flags,
            header.qdcount,
            header.ancount,
            header.nscount,
            header.arcount,
        ] {
            buf.extend_from_slice(&v.to_be_bytes());
        }
        Writer {
            buf,
            names: Vec::new(),
        }
    }

    pub fn set_count(&mut self, section: usize, n: u16) {
        let at = 4 + 2 * section;
        if let Some(slot) = self.buf.get_mut(at..at + 2) {
            slot.copy_from_slice(&n.to_be_bytes());
        }
    }

    pub fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub fn name(&mut self, name: &Name) {
        for i in 0..name.labels.len() {
            let suffix: Vec<Vec<u8>> = name.labels[i..]
                .iter()
                .map(|l| l.to_ascii_lowercase())
                .collect();
            if let Some((_, off)) = self.names.iter().find(|(s, _)| *s == suffix) {
                let off = *off;
                self.u16(0xc000 | off);
                return;
            }
            if self.buf.len() < 0x3fff {
                self.names.push((suffix, self.buf.len() as u16));
            }
            let label = &name.labels[i];
            let label = &label[..label.len().min(63)];
            self.buf.push(label.len() as u8);
            self.buf.extend_from_slice(label);
        }
        self.buf.push(0);
    }

    pub fn question(&mut self, q: &Question) {
        self.name(&q.name);
        self.u16(q.qtype);
        self.u16(q.qclass);
    }

    /// A record whose data `rdata` writes (so names inside it are compressed too).
    pub fn record(
        &mut self,
        name: &Name,
        rtype: u16,
        class: u16,
        ttl: u32,
        rdata: impl FnOnce(&mut Writer),
    ) {
        self.name(name);
        self.u16(rtype);
        self.u16(class);
        self.u32(ttl);
        let len_at = self.buf.len();
        self.u16(0);
        rdata(self);
        let len = (self.buf.len() - len_at - 2).min(usize::from(u16::MAX)) as u16;
        self.buf[len_at..len_at + 2].copy_from_slice(&len.to_be_bytes());
    }

    /// Character strings (TXT, HINFO), each cut to 255 bytes.
    pub fn strings(&mut self, parts: &[&[u8]]) {
        for p in parts {
            let p = &p[..p.len().min(255)];
            self.buf.push(p.len() as u8);
            self.buf.extend_from_slice(p);
        }
    }

    pub fn finish(self) -> Vec<u8> {
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn query(name: &str, qtype: u16) -> Vec<u8> {
        let h = Header {
            id: 0x1234,
            flags: 0x0100,
            qdcount: 1,
            ancount: 0,
            nscount: 0,
            arcount: 0,
        };
        let mut w = Writer::new(&h);
        w.question(&Question {
            name: Name::parse(name),
            qtype,
            qclass: CLASS_IN,
        });
        w.finish()
    }

    #[test]
    fn queries_round_trip() {
        let q = query("www.Example.com", TYPE_AAAA);
        let m = parse(&q).unwrap();
        assert_eq!(m.header.id, 0x1234);
        assert!(m.header.rd());
        assert_eq!(m.questions.len(), 1);
        assert_eq!(m.questions[0].name.to_string(), "www.Example.com");
        assert_eq!(m.questions[0].qtype, TYPE_AAAA);
        assert!(m.questions[0].name.is_under(&Name::parse("example.COM")));
        assert_eq!(
            m.questions[0]
                .name
                .relative_to(&Name::parse("example.com"))
                .as_deref(),
            Some("www")
        );
    }

    #[test]
    fn names_are_compressed_on_write_and_followed_on_read() {
        let h = Header::parse(&[0; 12]).unwrap();
        let mut w = Writer::new(&h);
        let zone = Name::parse("corp.example");
        w.name(&zone.child("www"));
        let before = w.buf.len();
        w.name(&zone.child("mail"));
        // "mail" + pointer to "corp.example".
        assert_eq!(w.buf.len() - before, 1 + 4 + 2);
        let buf = w.finish();
        let (n, next) = read_name(&buf, before).unwrap();
        assert_eq!(n.to_string(), "mail.corp.example");
        assert_eq!(next, buf.len());
    }

    #[test]
    fn pointer_loops_and_forward_pointers_are_rejected() {
        // A pointer to itself.
        let mut buf = vec![0u8; 12];
        buf.extend_from_slice(&[0xc0, 12]);
        assert!(read_name(&buf, 12).is_none());
        // A label followed by a pointer back to it: a loop, stopped by the length bound.
        let mut buf = vec![0u8; 12];
        buf.extend_from_slice(&[1, b'a', 0xc0, 12]);
        assert!(read_name(&buf, 12).is_none());
        // Forward pointer.
        let mut buf = vec![0u8; 12];
        buf.extend_from_slice(&[0xc0, 20, 0, 0, 0, 0, 0, 0, 0]);
        assert!(read_name(&buf, 12).is_none());
        // Names over 255 bytes.
        let mut buf = vec![0u8; 12];
        for _ in 0..5 {
            buf.push(63);
            buf.extend_from_slice(&[b'x'; 63]);
        }
        buf.push(0);
        assert!(read_name(&buf, 12).is_none());
    }

    #[test]
    fn display_escapes_odd_bytes() {
        let n = Name {
            labels: vec![b"a.b".to_vec(), vec![0, b'z']],
        };
        assert_eq!(n.to_string(), "a\\.b.\\000z");
    }

    #[test]
    fn edns_and_nsid_are_read() {
        let mut q = query("x", TYPE_A);
        q[11] = 1; // arcount
        q.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 4, 0, 3, 0, 0]);
        let m = parse(&q).unwrap();
        let e = m.edns.unwrap();
        assert_eq!(e.udp_size, 1232);
        assert!(e.nsid);
    }

    proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = parse(&bytes);
        }

        #[test]
        fn parse_never_panics_after_a_valid_header(
            tail in proptest::collection::vec(any::<u8>(), 0..300),
            counts in proptest::collection::vec(any::<u8>(), 8..9),
        ) {
            let mut buf = vec![0x12, 0x34, 0x01, 0x00];
            buf.extend_from_slice(&counts);
            buf.extend_from_slice(&tail);
            let _ = parse(&buf);
        }
    }
}
