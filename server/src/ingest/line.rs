//! One line of a decoy's stdout -> a [`DecoyEvent`], or the reason it is kept raw.
//!
//! The decoy writes one JSON object per line (decoy/README.md). Anything else (a custom
//! service's own output, a truncated or corrupted line) is not an error: it becomes a raw
//! row. Nothing here can panic on any input, and nothing it returns is unbounded.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use decnet_common::dto::CaptureEventKind;
use decnet_common::name::{DeckyName, ServiceSlug};
use serde::de::{Deserializer, Error as _};
use serde::Deserialize;
use serde_json::{Map, Value};

/// Longest line kept (bytes); a longer one is cut to this and stored raw.
pub const MAX_LINE: usize = 64 * 1024;
/// Most per-event fields (besides the common ones) an event may carry.
pub const MAX_FIELDS: usize = 64;
/// Longest field name.
pub const MAX_KEY: usize = 64;

/// A valid decoy event.
#[derive(Clone, Debug, PartialEq)]
pub struct DecoyEvent {
    pub ts: DateTime<Utc>,
    /// Per-process sequence number, from 1.
    pub seq: i64,
    pub decky: String,
    pub service: String,
    /// Never [`CaptureEventKind::Raw`].
    pub kind: CaptureEventKind,
    pub src_ip: IpAddr,
    pub src_port: u16,
    /// Everything but the common fields: username, password, method, path, payload, ...
    pub fields: Map<String, Value>,
}

impl DecoyEvent {
    /// A string field, if present and a string.
    pub fn str_field(&self, key: &str) -> Option<&str> {
        self.fields.get(key).and_then(Value::as_str)
    }
}

/// Why a line was kept raw.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RawReason {
    /// Not a JSON object with the event's fields and types.
    NotAnEvent,
    /// Over [`MAX_LINE`] bytes.
    Oversized,
    /// A valid event naming another decky or service than the container it came from.
    Mismatch,
    /// The frame carried no Docker timestamp.
    NoTimestamp,
}

impl RawReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RawReason::NotAnEvent => "not_an_event",
            RawReason::Oversized => "oversized",
            RawReason::Mismatch => "decky_or_service_mismatch",
            RawReason::NoTimestamp => "no_timestamp",
        }
    }
}

/// What a line turned out to be.
#[derive(Clone, Debug, PartialEq)]
pub enum Parsed {
    Event(Box<DecoyEvent>),
    Raw(RawReason),
}

/// A string of at most `N` bytes.
struct Bounded<const N: usize>(String);

impl<'de, const N: usize> Deserialize<'de> for Bounded<N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.len() > N {
            return Err(D::Error::custom(format_args!("longer than {N} bytes")));
        }
        Ok(Bounded(s))
    }
}

/// The line as the decoy writes it: the common fields, typed, and the rest.
#[derive(Deserialize)]
struct Wire {
    ts: Bounded<40>,
    seq: u64,
    decky: Bounded<63>,
    service: Bounded<63>,
    event: Bounded<16>,
    src_ip: Bounded<45>,
    src_port: u16,
    #[serde(flatten)]
    fields: Map<String, Value>,
}

/// Parses one line (without its Docker timestamp; a trailing newline is ignored).
pub fn parse_line(line: &[u8]) -> Parsed {
    let line = trim_newline(line);
    if line.len() > MAX_LINE {
        return Parsed::Raw(RawReason::Oversized);
    }
    match parse_event(line) {
        Some(ev) => Parsed::Event(Box::new(ev)),
        None => Parsed::Raw(RawReason::NotAnEvent),
    }
}

fn parse_event(line: &[u8]) -> Option<DecoyEvent> {
    let w: Wire = serde_json::from_slice(line).ok()?;
    let kind = CaptureEventKind::parse(&w.event.0).filter(|k| *k != CaptureEventKind::Raw)?;
    let seq = i64::try_from(w.seq).ok().filter(|s| *s >= 1)?;
    let ts = DateTime::parse_from_rfc3339(&w.ts.0)
        .ok()?
        .with_timezone(&Utc);
    let decky = DeckyName::parse(&w.decky.0).ok()?.into_string();
    let service = ServiceSlug::parse(&w.service.0).ok()?.as_str().to_owned();
    let src_ip = w.src_ip.0.parse::<IpAddr>().ok()?;
    if w.fields.len() > MAX_FIELDS || w.fields.keys().any(|k| k.is_empty() || k.len() > MAX_KEY) {
        return None;
    }
    Some(DecoyEvent {
        ts,
        seq,
        decky,
        service,
        kind,
        src_ip,
        src_port: w.src_port,
        fields: w.fields,
    })
}

pub fn trim_newline(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// The line as text for a raw row: lossy UTF-8, at most [`MAX_LINE`] bytes.
pub fn raw_text(line: &[u8]) -> String {
    let line = trim_newline(line);
    let line = &line[..line.len().min(MAX_LINE)];
    let mut s = String::from_utf8_lossy(line).into_owned();
    if s.len() > MAX_LINE {
        // Replacement characters can make the text longer than the bytes were.
        let mut cut = MAX_LINE;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

/// Splits a Docker log frame (`timestamps=true`) into its timestamp (ns since the epoch)
/// and the content after the separating space.
pub fn split_timestamp(frame: &[u8]) -> Option<(i64, &[u8])> {
    // RFC3339Nano with a zone: at most ~35 bytes.
    let space = frame.iter().take(48).position(|b| *b == b' ')?;
    let stamp = std::str::from_utf8(&frame[..space]).ok()?;
    let ns = DateTime::parse_from_rfc3339(stamp)
        .ok()?
        .timestamp_nanos_opt()?;
    Some((ns, &frame[space + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const AUTH: &str = r#"{"ts":"2026-11-29T10:00:00.123Z","seq":7,"decky":"web-01","service":"ftp","event":"auth","src_ip":"10.0.0.9","src_port":40000,"username":"root","password":"toor","method":"password"}"#;

    fn event(line: &str) -> DecoyEvent {
        match parse_line(line.as_bytes()) {
            Parsed::Event(e) => *e,
            Parsed::Raw(r) => panic!("{line} was raw: {r:?}"),
        }
    }

    fn raw(line: &[u8]) -> RawReason {
        match parse_line(line) {
            Parsed::Raw(r) => r,
            Parsed::Event(e) => panic!("{} parsed as {e:?}", String::from_utf8_lossy(line)),
        }
    }

    #[test]
    fn a_decoy_auth_line_parses_with_its_fields() {
        let e = event(AUTH);
        assert_eq!(e.seq, 7);
        assert_eq!(e.decky, "web-01");
        assert_eq!(e.service, "ftp");
        assert_eq!(e.kind, CaptureEventKind::Auth);
        assert_eq!(e.src_ip.to_string(), "10.0.0.9");
        assert_eq!(e.src_port, 40000);
        assert_eq!(e.ts.timestamp_millis() % 1000, 123);
        assert_eq!(e.str_field("username"), Some("root"));
        assert_eq!(e.str_field("password"), Some("toor"));
        assert_eq!(e.str_field("method"), Some("password"));
        assert_eq!(e.fields.len(), 3);
    }

    #[test]
    fn every_event_kind_parses_and_raw_is_not_an_event_kind() {
        for kind in ["connect", "auth", "command", "request", "disconnect"] {
            let line = AUTH.replace(r#""event":"auth""#, &format!(r#""event":"{kind}""#));
            assert_eq!(event(&line).kind.as_str(), kind);
        }
        assert_eq!(
            raw(AUTH.replace(r#""auth""#, r#""raw""#).as_bytes()),
            RawReason::NotAnEvent
        );
        assert_eq!(
            raw(AUTH.replace(r#""auth""#, r#""login""#).as_bytes()),
            RawReason::NotAnEvent
        );
    }

    #[test]
    fn nested_fields_and_ipv6_sources_are_accepted() {
        let line = AUTH
            .replace(
                r#""method":"password""#,
                r#""client_attrs":{"_client_name":"libmysql"},"rcpt_to":["a","b"]"#,
            )
            .replace("10.0.0.9", "2001:db8::1");
        let e = event(&line);
        assert_eq!(e.fields["client_attrs"]["_client_name"], "libmysql");
        assert!(e.src_ip.is_ipv6());
    }

    #[test]
    fn a_trailing_newline_or_crlf_is_ignored() {
        assert_eq!(event(&format!("{AUTH}\n")).seq, 7);
        assert_eq!(event(&format!("{AUTH}\r\n")).seq, 7);
    }

    #[test]
    fn garbage_is_raw() {
        for line in [
            &b""[..],
            b"hello",
            b"{",
            b"[]",
            b"null",
            b"42",
            b"\xff\xfe{}",
            b"{\"ts\":1}",
        ] {
            assert_eq!(raw(line), RawReason::NotAnEvent);
        }
    }

    #[test]
    fn each_missing_common_field_makes_the_line_raw() {
        let v: Value = serde_json::from_str(AUTH).unwrap();
        for key in [
            "ts", "seq", "decky", "service", "event", "src_ip", "src_port",
        ] {
            let mut v = v.clone();
            v.as_object_mut().unwrap().remove(key);
            assert_eq!(
                raw(v.to_string().as_bytes()),
                RawReason::NotAnEvent,
                "without {key}"
            );
        }
    }

    #[test]
    fn bad_values_of_common_fields_make_the_line_raw() {
        let cases = [
            (r#""seq":7"#, r#""seq":0"#),
            (r#""seq":7"#, r#""seq":-1"#),
            (r#""seq":7"#, r#""seq":"7""#),
            (r#""seq":7"#, r#""seq":18446744073709551615"#),
            (r#""src_port":40000"#, r#""src_port":70000"#),
            (r#""src_ip":"10.0.0.9""#, r#""src_ip":"10.0.0.999""#),
            (r#""decky":"web-01""#, r#""decky":"Web 01""#),
            (r#""service":"ftp""#, r#""service":"ft/p""#),
            (r#""ts":"2026-11-29T10:00:00.123Z""#, r#""ts":"yesterday""#),
            (r#""ts":"2026-11-29T10:00:00.123Z""#, r#""ts":1700000000"#),
        ];
        for (from, to) in cases {
            assert_eq!(
                raw(AUTH.replace(from, to).as_bytes()),
                RawReason::NotAnEvent,
                "{to}"
            );
        }
    }

    #[test]
    fn oversized_common_fields_and_too_many_fields_are_raw() {
        let long = format!(r#""decky":"{}""#, "a".repeat(64));
        assert_eq!(
            raw(AUTH.replace(r#""decky":"web-01""#, &long).as_bytes()),
            RawReason::NotAnEvent
        );
        let many: String = (0..=MAX_FIELDS).map(|i| format!(r#","f{i}":1"#)).collect();
        let line = AUTH.replacen('}', &format!("{many}}}"), 1);
        assert_eq!(raw(line.as_bytes()), RawReason::NotAnEvent);
        let long_key = format!(r#","{}":1}}"#, "k".repeat(MAX_KEY + 1));
        assert_eq!(
            raw(AUTH.replacen('}', &long_key, 1).as_bytes()),
            RawReason::NotAnEvent
        );
    }

    #[test]
    fn an_oversized_line_is_raw_and_its_text_is_bounded() {
        let big = format!(r#"{{"payload":"{}"}}"#, "x".repeat(MAX_LINE));
        assert_eq!(raw(big.as_bytes()), RawReason::Oversized);
        assert_eq!(raw_text(big.as_bytes()).len(), MAX_LINE);
        let invalid = vec![0xffu8; MAX_LINE * 2];
        assert!(raw_text(&invalid).len() <= MAX_LINE);
    }

    #[test]
    fn docker_timestamps_split_off_the_frame() {
        let (ns, rest) = split_timestamp(b"2026-11-29T10:00:00.123456789Z {\"a\":1}\n").unwrap();
        assert_eq!(ns % 1_000_000_000, 123_456_789);
        assert_eq!(rest, b"{\"a\":1}\n");
        assert!(split_timestamp(b"{\"a\":1}").is_none());
        assert!(split_timestamp(b"notatime x").is_none());
        assert!(split_timestamp(b"").is_none());
    }

    proptest! {
        #[test]
        fn no_input_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = parse_line(&bytes);
            let _ = split_timestamp(&bytes);
            prop_assert!(raw_text(&bytes).len() <= MAX_LINE);
        }

        #[test]
        fn json_like_input_never_panics(s in r#"\{("[a-z_]{1,8}":("[^"\\]{0,12}"|-?[0-9]{1,20}|\{\}|\[\]|null|true),?){0,10}\}"#) {
            let _ = parse_line(s.as_bytes());
        }

        #[test]
        fn any_valid_event_round_trips(
            seq in 1i64..i64::MAX,
            port in any::<u16>(),
            ip in any::<std::net::Ipv4Addr>(),
            user in "\\PC{0,40}",
            decky in "[a-z0-9][a-z0-9-]{0,20}",
        ) {
            let line = serde_json::json!({
                "ts": "2026-01-01T00:00:00.000Z", "seq": seq, "decky": decky, "service": "ssh",
                "event": "auth", "src_ip": ip.to_string(), "src_port": port, "username": user, "password": "",
            }).to_string();
            match parse_line(line.as_bytes()) {
                Parsed::Event(e) => {
                    prop_assert_eq!(e.seq, seq);
                    prop_assert_eq!(e.src_port, port);
                    prop_assert_eq!(e.str_field("username"), Some(user.as_str()));
                }
                Parsed::Raw(r) => prop_assert!(false, "raw: {:?}", r),
            }
        }
    }
}
