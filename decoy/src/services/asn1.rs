//! Just enough ASN.1 BER/DER for LDAP and SPNEGO: a writer for the few structures we send,
//! and a reader that never trusts a length (every length is checked against what is left
//! of the buffer, long forms are capped at 4 bytes, indefinite lengths are refused).

/// A TLV with `tag` and `content`, in DER length form.
pub fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    out.push(tag);
    push_len(&mut out, content.len());
    out.extend_from_slice(content);
    out
}

fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = (len as u32).to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (4 - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

/// A SEQUENCE of already encoded elements.
pub fn seq(parts: &[&[u8]]) -> Vec<u8> {
    tlv(0x30, &parts.concat())
}

pub fn octets(bytes: &[u8]) -> Vec<u8> {
    tlv(0x04, bytes)
}

pub fn enumerated(v: u8) -> Vec<u8> {
    tlv(0x0a, &[v])
}

/// A non-negative INTEGER in minimal two's-complement form.
pub fn integer(v: u64) -> Vec<u8> {
    let bytes = v.to_be_bytes();
    let skip = bytes
        .iter()
        .take_while(|&&b| b == 0)
        .count()
        .min(bytes.len() - 1);
    let mut content = bytes[skip..].to_vec();
    if content[0] & 0x80 != 0 {
        content.insert(0, 0);
    }
    tlv(0x02, &content)
}

/// One element read by [`Reader`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tlv<'a> {
    pub tag: u8,
    pub content: &'a [u8],
}

impl<'a> Tlv<'a> {
    pub fn reader(&self) -> Reader<'a> {
        Reader::new(self.content)
    }

    /// An INTEGER (or ENUMERATED) that fits in an i64.
    pub fn int(&self) -> Option<i64> {
        if self.content.is_empty() || self.content.len() > 8 {
            return None;
        }
        let neg = self.content[0] & 0x80 != 0;
        let mut v: i64 = if neg { -1 } else { 0 };
        for &b in self.content {
            v = (v << 8) | i64::from(b);
        }
        Some(v)
    }
}

/// Reads consecutive TLVs from a buffer; `None` on anything malformed or truncated.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub fn next(&mut self) -> Option<Tlv<'a>> {
        let rest = self.buf.get(self.pos..)?;
        let (tag, header, len) = header(rest)?;
        let end = header.checked_add(len)?;
        let content = rest.get(header..end)?;
        self.pos = self.pos.checked_add(end)?;
        Some(Tlv { tag, content })
    }

    /// The next element, which must carry `tag`.
    pub fn expect(&mut self, tag: u8) -> Option<Tlv<'a>> {
        self.next().filter(|t| t.tag == tag)
    }
}

/// `(tag, header length, content length)` of the TLV at the start of `buf`; the content
/// need not be present yet (framing uses this to know how much more to read). Multi-byte
/// tags and the indefinite form are refused.
pub fn header(buf: &[u8]) -> Option<(u8, usize, usize)> {
    let tag = *buf.first()?;
    if tag & 0x1f == 0x1f {
        return None;
    }
    let first = *buf.get(1)?;
    if first < 0x80 {
        return Some((tag, 2, usize::from(first)));
    }
    let n = usize::from(first & 0x7f);
    if n == 0 || n > 4 {
        return None;
    }
    let bytes = buf.get(2..2 + n)?;
    let len = bytes
        .iter()
        .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
    Some((tag, 2 + n, len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn lengths_and_integers_encode() {
        assert_eq!(tlv(4, b"ab"), b"\x04\x02ab");
        let long = tlv(4, &[0; 300]);
        assert_eq!(long[..4], [4, 0x82, 0x01, 0x2c]);
        assert_eq!(integer(0), [2, 1, 0]);
        assert_eq!(integer(128), [2, 2, 0, 128]);
        assert_eq!(integer(0x1234), [2, 2, 0x12, 0x34]);
    }

    #[test]
    fn reader_round_trips_and_refuses_lies() {
        let s = seq(&[&integer(7), &octets(b"x")]);
        let outer = Reader::new(&s).expect(0x30).unwrap();
        let mut r = outer.reader();
        assert_eq!(r.expect(2).unwrap().int(), Some(7));
        assert_eq!(r.expect(4).unwrap().content, b"x");
        assert!(r.next().is_none());
        assert!(Reader::new(b"\x04\x05ab").next().is_none());
        assert!(Reader::new(b"\x04\x84\xff\xff\xff\xffab").next().is_none());
        assert!(Reader::new(b"\x04\x80ab\0\0").next().is_none());
        assert_eq!(
            Tlv {
                tag: 2,
                content: &[0xff]
            }
            .int(),
            Some(-1)
        );
    }

    proptest! {
        #[test]
        fn reader_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut r = Reader::new(&bytes);
            for _ in 0..300 {
                match r.next() {
                    Some(t) => {
                        prop_assert!(t.content.len() <= bytes.len());
                        let _ = t.int();
                        let mut inner = t.reader();
                        while inner.next().is_some() {}
                    }
                    None => break,
                }
            }
        }
    }
}
