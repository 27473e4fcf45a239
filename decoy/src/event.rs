//! The event stream: one JSON object per line on stdout, numbered by a per-process `seq`.
//!
//! Every attacker-supplied string goes through [`text`] or [`excerpt`] before it is put in
//! an event, so a line never carries more than a few KiB whatever the peer sent. The
//! sequence number is taken under the same lock as the write, so `seq` grows strictly in
//! output order. Tests swap stdout for a channel ([`Emitter::channel`]).

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};
#[cfg(test)]
use tokio::sync::mpsc;

use crate::clock::Civil;

/// Longest username, password, path, user agent or command kept in an event (chars).
pub const FIELD_MAX: usize = 512;
/// Longest payload or body excerpt kept in an event (chars).
pub const PAYLOAD_MAX: usize = 1024;

/// What happened; the `event` field of the line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Connect,
    Auth,
    Command,
    Request,
    Disconnect,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Connect => "connect",
            Kind::Auth => "auth",
            Kind::Command => "command",
            Kind::Request => "request",
            Kind::Disconnect => "disconnect",
        }
    }
}

/// One interaction, before the common fields (`ts`, `seq`, `decky`, ...) are added.
#[derive(Clone, Debug)]
pub struct Event {
    kind: Kind,
    fields: Vec<(&'static str, Value)>,
}

impl Event {
    pub fn new(kind: Kind) -> Self {
        Event {
            kind,
            fields: Vec::new(),
        }
    }

    pub fn connect() -> Self {
        Self::new(Kind::Connect)
    }

    pub fn disconnect() -> Self {
        Self::new(Kind::Disconnect)
    }

    /// An authentication attempt. Protocols that carry no cleartext password (MySQL,
    /// VNC, public keys) pass `""` and add what they saw with [`Event::hex`].
    pub fn auth(username: impl AsRef<[u8]>, password: impl AsRef<[u8]>) -> Self {
        Self::new(Kind::Auth)
            .text("username", username)
            .text("password", password)
    }

    pub fn command(command: impl AsRef<[u8]>) -> Self {
        Self::new(Kind::Command).text("command", command)
    }

    pub fn request(
        method: impl AsRef<[u8]>,
        path: impl AsRef<[u8]>,
        user_agent: impl AsRef<[u8]>,
    ) -> Self {
        Self::new(Kind::Request)
            .text("method", method)
            .text("path", path)
            .text("user_agent", user_agent)
    }

    /// Adds a field verbatim (numbers, booleans, strings we produced ourselves).
    pub fn field(mut self, key: &'static str, value: impl Into<Value>) -> Self {
        self.fields.push((key, value.into()));
        self
    }

    /// Adds attacker-supplied text, lossily decoded and cut to [`FIELD_MAX`] chars.
    pub fn text(self, key: &'static str, bytes: impl AsRef<[u8]>) -> Self {
        self.field(key, text(bytes.as_ref(), FIELD_MAX))
    }

    /// Adds bytes as lowercase hex (at most [`PAYLOAD_MAX`] hex digits).
    pub fn hex(self, key: &'static str, bytes: impl AsRef<[u8]>) -> Self {
        let bytes = bytes.as_ref();
        let shown = &bytes[..bytes.len().min(PAYLOAD_MAX / 2)];
        self.field(key, hex(shown))
    }

    /// Adds a payload excerpt (see [`excerpt`]) under `payload`.
    pub fn payload(self, bytes: impl AsRef<[u8]>) -> Self {
        self.excerpt("payload", bytes)
    }

    /// Adds an excerpt (see [`excerpt`]) under `key`.
    pub fn excerpt(self, key: &'static str, bytes: impl AsRef<[u8]>) -> Self {
        self.field(key, excerpt(bytes.as_ref(), PAYLOAD_MAX))
    }
}

/// Lossy UTF-8, at most `max` chars.
pub fn text(bytes: &[u8], max: usize) -> String {
    let s = String::from_utf8_lossy(bytes);
    match s.char_indices().nth(max) {
        Some((cut, _)) => s[..cut].to_owned(),
        None => s.into_owned(),
    }
}

/// Text if the bytes are UTF-8, else `hex:` and their hex digits; at most `max` chars.
pub fn excerpt(bytes: &[u8], max: usize) -> String {
    match std::str::from_utf8(bytes) {
        Ok(_) => text(bytes, max),
        Err(_) => {
            let room = max.saturating_sub(4) / 2;
            format!("hex:{}", hex(&bytes[..bytes.len().min(room)]))
        }
    }
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    out
}

enum Sink {
    Stdout(std::io::Stdout),
    #[cfg(test)]
    Channel(mpsc::UnboundedSender<Value>),
}

struct Output {
    seq: u64,
    sink: Sink,
}

/// Writes events; cheap to clone, one per process (its `seq` is the process's).
#[derive(Clone)]
pub struct Emitter {
    decky: Arc<str>,
    out: Arc<Mutex<Output>>,
}

impl Emitter {
    pub fn stdout(decky: &str) -> Self {
        Self::with_sink(decky, Sink::Stdout(std::io::stdout()))
    }

    /// An emitter whose lines go to a channel as parsed JSON (for tests).
    #[cfg(test)]
    pub fn channel(decky: &str) -> (Self, mpsc::UnboundedReceiver<Value>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self::with_sink(decky, Sink::Channel(tx)), rx)
    }

    fn with_sink(decky: &str, sink: Sink) -> Self {
        Emitter {
            decky: Arc::from(decky),
            out: Arc::new(Mutex::new(Output { seq: 0, sink })),
        }
    }

    pub fn emit(&self, service: &str, peer: SocketAddr, event: Event) {
        let mut line = Map::new();
        // Poisoning needs a panic while the lock is held; recover rather than go quiet.
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        out.seq += 1;
        line.insert("ts".into(), Civil::now().rfc3339_millis().into());
        line.insert("seq".into(), out.seq.into());
        line.insert("decky".into(), Value::from(&*self.decky));
        line.insert("service".into(), service.into());
        line.insert("event".into(), event.kind.as_str().into());
        line.insert("src_ip".into(), peer.ip().to_canonical().to_string().into());
        line.insert("src_port".into(), peer.port().into());
        for (key, value) in event.fields {
            line.insert(key.into(), value);
        }
        match &mut out.sink {
            Sink::Stdout(stdout) => {
                let mut handle = stdout.lock();
                let written = serde_json::to_writer(&mut handle, &line)
                    .map_err(std::io::Error::from)
                    .and_then(|()| handle.write_all(b"\n"))
                    .and_then(|()| handle.flush());
                if let Err(e) = written {
                    // stdout gone (log driver closed): nothing sensible left to do but say so.
                    eprintln!("decnet-decoy: cannot write event: {e}");
                }
            }
            #[cfg(test)]
            Sink::Channel(tx) => {
                // A test that dropped its receiver no longer cares.
                let _ = tx.send(Value::Object(line));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> SocketAddr {
        "192.0.2.7:40000".parse().unwrap()
    }

    #[test]
    fn lines_carry_common_fields_and_increasing_seq() {
        let (em, mut rx) = Emitter::channel("web-01");
        em.emit("ftp", peer(), Event::connect());
        em.emit(
            "ftp",
            peer(),
            Event::auth("root", "toor").field("method", "password"),
        );
        let a = rx.try_recv().unwrap();
        let b = rx.try_recv().unwrap();
        assert_eq!(a["seq"], 1);
        assert_eq!(b["seq"], 2);
        assert_eq!(a["event"], "connect");
        assert_eq!(b["event"], "auth");
        assert_eq!(b["decky"], "web-01");
        assert_eq!(b["service"], "ftp");
        assert_eq!(b["src_ip"], "192.0.2.7");
        assert_eq!(b["src_port"], 40000);
        assert_eq!(b["username"], "root");
        assert_eq!(b["password"], "toor");
        assert_eq!(b["method"], "password");
        let ts = a["ts"].as_str().unwrap();
        assert_eq!(ts.len(), "2026-01-01T00:00:00.000Z".len());
        assert!(ts.ends_with('Z'));
    }

    #[test]
    fn mapped_ipv4_is_reported_as_ipv4() {
        let (em, mut rx) = Emitter::channel("d");
        em.emit(
            "x",
            "[::ffff:10.1.2.3]:5".parse().unwrap(),
            Event::connect(),
        );
        assert_eq!(rx.try_recv().unwrap()["src_ip"], "10.1.2.3");
    }

    #[test]
    fn text_is_cut_on_char_boundaries() {
        assert_eq!(text("héllo".as_bytes(), 2), "hé");
        assert_eq!(text(b"abc", 10), "abc");
        assert_eq!(text(&[0xff, b'a'], 10), "\u{fffd}a");
    }

    #[test]
    fn binary_excerpts_are_hex_and_bounded() {
        assert_eq!(excerpt(&[0xde, 0xad, 0xbe, 0xef, 0xff], 12), "hex:deadbeef");
        assert_eq!(excerpt(b"GET /", 100), "GET /");
        let big = vec![0xffu8; 100_000];
        assert!(excerpt(&big, PAYLOAD_MAX).len() <= PAYLOAD_MAX);
        let big = vec![b'a'; 100_000];
        assert_eq!(excerpt(&big, PAYLOAD_MAX).len(), PAYLOAD_MAX);
    }

    #[test]
    fn control_characters_stay_inside_one_line() {
        let (em, mut rx) = Emitter::channel("d");
        em.emit("x", peer(), Event::command("a\r\nb\u{0}\"c"));
        let v = rx.try_recv().unwrap();
        let line = serde_json::to_string(&v).unwrap();
        assert!(!line.contains('\n'));
        assert_eq!(v["command"], "a\r\nb\u{0}\"c");
    }
}
