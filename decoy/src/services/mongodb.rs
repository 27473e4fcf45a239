//! `mongodb`: a mongod (4.4 by default, persona `version`) with authentication on.
//! OP_QUERY and OP_MSG both work. The handshake (`isMaster`/`hello`), `buildInfo`,
//! `ping` and `whatsmyuri` answer as for anyone; `saslStart` reports the user of the
//! SCRAM client-first-message (or the password of a PLAIN one) and fails with error 18,
//! as mongod does for an unknown user; every other command is reported with its document
//! and refused with error 13 (Unauthorized). BSON is decoded with bounded depth, element
//! count and lengths.

use std::io;

use crate::clock::unix_millis;
use crate::config::Config;
use crate::event::{self, Event};
use crate::limits::{Conn, Handler};

/// Largest message read (mongod accepts 48 MB; nothing an attacker needs to send is big).
const MAX_MESSAGE: usize = 64 * 1024;
const MAX_DEPTH: usize = 16;
const MAX_ELEMENTS: usize = 2000;
const MAX_REQUESTS: usize = 200;
/// Longest rendering of a command document kept.
const MAX_RENDER: usize = 2048;

const OP_REPLY: i32 = 1;
const OP_QUERY: i32 = 2004;
const OP_MSG: i32 = 2013;

/// A decoded BSON value (what we need of it).
#[derive(Clone, Debug, PartialEq)]
pub enum Bson {
    Double(f64),
    Str(Vec<u8>),
    Doc(Vec<(Vec<u8>, Bson)>),
    Array(Vec<Bson>),
    Binary(u8, Vec<u8>),
    ObjectId([u8; 12]),
    Bool(bool),
    Date(i64),
    Null,
    Int32(i32),
    Int64(i64),
    Timestamp(u64),
    /// A type we skip over but do not keep (regex, code, decimal128, ...).
    Other(u8),
}

impl Bson {
    pub fn as_str(&self) -> Option<&[u8]> {
        match self {
            Bson::Str(s) => Some(s),
            _ => None,
        }
    }
}

struct Cur<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Cur<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.b.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    fn i32(&mut self) -> Option<i32> {
        self.take(4)
            .map(|s| i32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }

    fn u64(&mut self) -> Option<u64> {
        let s = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Some(u64::from_le_bytes(a))
    }

    fn cstr(&mut self) -> Option<&'a [u8]> {
        let rest = self.b.get(self.pos..)?;
        let n = rest.iter().position(|&b| b == 0)?;
        self.pos += n + 1;
        Some(&rest[..n])
    }

    /// A length-prefixed BSON string.
    fn string(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.i32()?).ok()?;
        let s = self.take(n)?;
        s.strip_suffix(&[0])
    }
}

/// A document's elements, in order.
pub type Elements = Vec<(Vec<u8>, Bson)>;

/// One document at the start of `b`: its elements and its encoded length.
pub fn decode(b: &[u8]) -> Option<(Elements, usize)> {
    let mut budget = MAX_ELEMENTS;
    decode_doc(b, 0, &mut budget)
}

fn decode_doc(b: &[u8], depth: usize, budget: &mut usize) -> Option<(Elements, usize)> {
    if depth > MAX_DEPTH {
        return None;
    }
    let len = usize::try_from(i32::from_le_bytes(b.get(..4)?.try_into().ok()?)).ok()?;
    if len < 5 {
        return None;
    }
    let body = b.get(4..len)?;
    let mut c = Cur { b: body, pos: 0 };
    let mut out = Vec::new();
    loop {
        let kind = *c.take(1)?.first()?;
        if kind == 0 {
            return (c.pos == body.len()).then_some((out, len));
        }
        *budget = budget.checked_sub(1)?;
        let key = c.cstr()?.to_vec();
        let value = match kind {
            0x01 => Bson::Double(f64::from_bits(c.u64()?)),
            0x02 => Bson::Str(c.string()?.to_vec()),
            0x03 | 0x04 => {
                let (doc, n) = decode_doc(c.b.get(c.pos..)?, depth + 1, budget)?;
                c.take(n)?;
                if kind == 0x03 {
                    Bson::Doc(doc)
                } else {
                    Bson::Array(doc.into_iter().map(|(_, v)| v).collect())
                }
            }
            0x05 => {
                let n = usize::try_from(c.i32()?).ok()?;
                let sub = *c.take(1)?.first()?;
                Bson::Binary(sub, c.take(n)?.to_vec())
            }
            0x06 | 0x0a | 0x7f | 0xff => Bson::Null,
            0x07 => Bson::ObjectId(c.take(12)?.try_into().ok()?),
            0x08 => Bson::Bool(*c.take(1)?.first()? != 0),
            0x09 => Bson::Date(c.u64()? as i64),
            0x0b => {
                c.cstr()?;
                c.cstr()?;
                Bson::Other(kind)
            }
            0x0c => {
                c.string()?;
                c.take(12)?;
                Bson::Other(kind)
            }
            0x0d | 0x0e => Bson::Str(c.string()?.to_vec()),
            0x0f => {
                let n = usize::try_from(c.i32()?).ok()?;
                c.take(n.checked_sub(4)?)?;
                Bson::Other(kind)
            }
            0x10 => Bson::Int32(c.i32()?),
            0x11 => Bson::Timestamp(c.u64()?),
            0x12 => Bson::Int64(c.u64()? as i64),
            0x13 => {
                c.take(16)?;
                Bson::Other(kind)
            }
            _ => return None,
        };
        out.push((key, value));
    }
}

/// mongod's rendering of a document (`{ serverStatus: 1.0, $db: "admin" }`), bounded.
pub fn render(doc: &[(Vec<u8>, Bson)]) -> String {
    let mut out = String::new();
    render_doc(doc, &mut out);
    if out.len() > MAX_RENDER {
        let cut = (0..=MAX_RENDER)
            .rev()
            .find(|&i| out.is_char_boundary(i))
            .unwrap_or(0);
        out.truncate(cut);
        out.push_str("...");
    }
    out
}

fn render_doc(doc: &[(Vec<u8>, Bson)], out: &mut String) {
    if doc.is_empty() {
        out.push_str("{}");
        return;
    }
    out.push_str("{ ");
    for (i, (k, v)) in doc.iter().enumerate() {
        if out.len() > MAX_RENDER {
            return;
        }
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&event::text(k, 128));
        out.push_str(": ");
        render_value(v, out);
    }
    out.push_str(" }");
}

fn render_value(v: &Bson, out: &mut String) {
    match v {
        Bson::Double(d) if d.fract() == 0.0 && d.abs() < 1e15 => out.push_str(&format!("{d:.1}")),
        Bson::Double(d) => out.push_str(&d.to_string()),
        Bson::Str(s) => out.push_str(&format!("{:?}", event::text(s, 256))),
        Bson::Doc(d) => render_doc(d, out),
        Bson::Array(a) => {
            out.push_str("[ ");
            for (i, v) in a.iter().enumerate() {
                if out.len() > MAX_RENDER {
                    return;
                }
                if i > 0 {
                    out.push_str(", ");
                }
                render_value(v, out);
            }
            out.push_str(" ]");
        }
        Bson::Binary(sub, b) => out.push_str(&format!(
            "BinData({sub}, {})",
            event::hex(&b[..b.len().min(128)]).to_ascii_uppercase()
        )),
        Bson::ObjectId(id) => out.push_str(&format!("ObjectId('{}')", event::hex(id))),
        Bson::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Bson::Date(ms) => out.push_str(&format!("new Date({ms})")),
        Bson::Null => out.push_str("null"),
        Bson::Int32(i) => out.push_str(&i.to_string()),
        Bson::Int64(i) => out.push_str(&i.to_string()),
        Bson::Timestamp(t) => out.push_str(&format!("Timestamp({}, {})", t >> 32, t & 0xffff_ffff)),
        Bson::Other(k) => out.push_str(&format!("<type {k}>")),
    }
}

/// Builds a BSON document.
#[derive(Default)]
pub struct Doc(Vec<u8>);

impl Doc {
    pub fn new() -> Self {
        Doc::default()
    }

    fn key(mut self, kind: u8, key: &str) -> Self {
        self.0.push(kind);
        self.0.extend_from_slice(key.as_bytes());
        self.0.push(0);
        self
    }

    pub fn f64(self, key: &str, v: f64) -> Self {
        let mut d = self.key(0x01, key);
        d.0.extend_from_slice(&v.to_le_bytes());
        d
    }

    pub fn str(self, key: &str, v: &str) -> Self {
        let mut d = self.key(0x02, key);
        d.0.extend_from_slice(&((v.len() + 1) as i32).to_le_bytes());
        d.0.extend_from_slice(v.as_bytes());
        d.0.push(0);
        d
    }

    pub fn doc(self, key: &str, v: Doc) -> Self {
        let mut d = self.key(0x03, key);
        d.0.extend_from_slice(&v.finish());
        d
    }

    pub fn strs(self, key: &str, vs: &[&str]) -> Self {
        let mut a = Doc::new();
        for (i, v) in vs.iter().enumerate() {
            a = a.str(&i.to_string(), v);
        }
        let mut d = self.key(0x04, key);
        d.0.extend_from_slice(&a.finish());
        d
    }

    pub fn i32s(self, key: &str, vs: &[i32]) -> Self {
        let mut a = Doc::new();
        for (i, v) in vs.iter().enumerate() {
            a = a.i32(&i.to_string(), *v);
        }
        let mut d = self.key(0x04, key);
        d.0.extend_from_slice(&a.finish());
        d
    }

    pub fn bool(self, key: &str, v: bool) -> Self {
        let mut d = self.key(0x08, key);
        d.0.push(u8::from(v));
        d
    }

    pub fn date(self, key: &str, ms: i64) -> Self {
        let mut d = self.key(0x09, key);
        d.0.extend_from_slice(&ms.to_le_bytes());
        d
    }

    pub fn i32(self, key: &str, v: i32) -> Self {
        let mut d = self.key(0x10, key);
        d.0.extend_from_slice(&v.to_le_bytes());
        d
    }

    #[cfg(test)]
    pub fn i64(self, key: &str, v: i64) -> Self {
        let mut d = self.key(0x12, key);
        d.0.extend_from_slice(&v.to_le_bytes());
        d
    }

    pub fn finish(self) -> Vec<u8> {
        let mut out = ((self.0.len() + 5) as i32).to_le_bytes().to_vec();
        out.extend_from_slice(&self.0);
        out.push(0);
        out
    }
}

pub struct Mongodb {
    version: String,
    wire: i32,
}

impl Mongodb {
    pub fn new(cfg: &Config) -> Self {
        let version = cfg
            .persona
            .str("version")
            .filter(|v| v.len() < 32 && v.bytes().all(|b| b.is_ascii_digit() || b == b'.'))
            .unwrap_or("4.4.29")
            .to_owned();
        let major_minor: Vec<u32> = version
            .split('.')
            .take(2)
            .filter_map(|p| p.parse().ok())
            .collect();
        // Wire versions by release (4.0 -> 7, 4.2 -> 8, 4.4 -> 9, 5.0 -> 13, ...).
        let wire = match major_minor.as_slice() {
            [3, 6] => 6,
            [4, 0] => 7,
            [4, 2] => 8,
            [4, 4] => 9,
            [5, _] => 13,
            [6, _] => 17,
            [7, _] => 21,
            [8, _] => 25,
            _ => 9,
        };
        Mongodb { version, wire }
    }

    fn hello(&self, conn_id: i32, cmd: &[(Vec<u8>, Bson)], modern: bool) -> Doc {
        let primary = if modern {
            "isWritablePrimary"
        } else {
            "ismaster"
        };
        let mut d = Doc::new()
            .bool(primary, true)
            .bool("helloOk", true)
            .i32("maxBsonObjectSize", 16_777_216)
            .i32("maxMessageSizeBytes", 48_000_000)
            .i32("maxWriteBatchSize", 100_000)
            .date("localTime", unix_millis())
            .i32("logicalSessionTimeoutMinutes", 30)
            .i32("connectionId", conn_id)
            .i32("minWireVersion", 0)
            .i32("maxWireVersion", self.wire)
            .bool("readOnly", false);
        if field(cmd, "saslSupportedMechs").is_some() {
            d = d.strs("saslSupportedMechs", &["SCRAM-SHA-1", "SCRAM-SHA-256"]);
        }
        d.f64("ok", 1.0)
    }

    fn build_info(&self) -> Doc {
        let parts: Vec<i32> = self
            .version
            .split('.')
            .filter_map(|p| p.parse().ok())
            .chain(std::iter::repeat(0))
            .take(4)
            .collect();
        Doc::new()
            .str("version", &self.version)
            .str("gitVersion", "af1a9dc12adcfa83cc19571cb3faba26eeddac92")
            .strs("modules", &[])
            .str("allocator", "tcmalloc")
            .str("javascriptEngine", "mozjs")
            .str("sysInfo", "deprecated")
            .i32s("versionArray", &parts)
            .doc(
                "openssl",
                Doc::new()
                    .str("running", "OpenSSL 1.1.1f  31 Mar 2020")
                    .str("compiled", "OpenSSL 1.1.1f  31 Mar 2020"),
            )
            .doc(
                "buildEnvironment",
                Doc::new()
                    .str("distmod", "ubuntu2004")
                    .str("distarch", "x86_64")
                    .str("target_arch", "x86_64")
                    .str("target_os", "linux"),
            )
            .i32("bits", 64)
            .bool("debug", false)
            .i32("maxBsonObjectSize", 16_777_216)
            .strs(
                "storageEngines",
                &["biggie", "devnull", "ephemeralForTest", "wiredTiger"],
            )
            .f64("ok", 1.0)
    }
}

fn field<'a>(doc: &'a [(Vec<u8>, Bson)], name: &str) -> Option<&'a Bson> {
    doc.iter()
        .find(|(k, _)| k == name.as_bytes())
        .map(|(_, v)| v)
}

fn error(code: i32, name: &str, msg: &str) -> Doc {
    Doc::new()
        .f64("ok", 0.0)
        .str("errmsg", msg)
        .i32("code", code)
        .str("codeName", name)
}

/// The username of a SCRAM client-first-message (`n,,n=user,r=nonce`), unescaped.
pub fn scram_user(msg: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(msg);
    let mut parts = text.splitn(3, ',');
    let _gs2 = parts.next()?;
    let _authzid = parts.next()?;
    let bare = parts.next()?;
    let user = bare.split(',').find_map(|a| a.strip_prefix("n="))?;
    Some(user.replace("=2C", ",").replace("=3D", "="))
}

/// A parsed request: its opcode, request id, command document, and (OP_QUERY) database.
pub struct Request {
    pub op: i32,
    pub id: i32,
    pub doc: Elements,
    pub db: String,
}

/// The command document of an OP_QUERY or OP_MSG body (after the 16-byte header).
pub fn parse_request(op: i32, id: i32, body: &[u8]) -> Option<Request> {
    let mut c = Cur { b: body, pos: 0 };
    match op {
        OP_QUERY => {
            c.i32()?;
            let collection = event::text(c.cstr()?, 256);
            c.i32()?;
            c.i32()?;
            let (doc, _) = decode(c.b.get(c.pos..)?)?;
            let db = collection
                .split_once('.')
                .map(|(db, _)| db.to_owned())
                .unwrap_or(collection);
            Some(Request { op, id, doc, db })
        }
        OP_MSG => {
            c.i32()?;
            // Sections: kind 0 is the command body; kind 1 (document sequences) is skipped.
            for _ in 0..16 {
                match *c.take(1)?.first()? {
                    0 => {
                        let (doc, n) = decode(c.b.get(c.pos..)?)?;
                        c.take(n)?;
                        let db = field(&doc, "$db")
                            .and_then(Bson::as_str)
                            .map(|d| event::text(d, 128))
                            .unwrap_or_else(|| "admin".to_owned());
                        return Some(Request { op, id, doc, db });
                    }
                    1 => {
                        let n = usize::try_from(c.i32()?).ok()?;
                        c.take(n.checked_sub(4)?)?;
                    }
                    _ => return None,
                }
            }
            None
        }
        _ => None,
    }
}

impl Mongodb {
    /// The reply document to `req`, after reporting it.
    async fn answer(&self, conn: &mut Conn, req: &Request, conn_id: i32) -> Doc {
        let Some((name, _)) = req.doc.first() else {
            return error(59, "CommandNotFound", "no such command: ''");
        };
        let name = event::text(name, 128);
        let rendered = render(&req.doc);
        match name.to_ascii_lowercase().as_str() {
            "ismaster" | "hello" => {
                conn.emit(Event::command(&name).text("database", &req.db));
                self.hello(conn_id, &req.doc, name == "hello")
            }
            "buildinfo" => {
                conn.emit(Event::command(&name).text("database", &req.db));
                self.build_info()
            }
            "ping" => Doc::new().f64("ok", 1.0),
            "whatsmyuri" => Doc::new()
                .str("you", &conn.session.peer.to_string())
                .f64("ok", 1.0),
            "saslstart" | "authenticate" => {
                let mechanism = field(&req.doc, "mechanism")
                    .and_then(Bson::as_str)
                    .map(|m| event::text(m, 64))
                    .unwrap_or_else(|| "MONGODB-CR".to_owned());
                let payload = match field(&req.doc, "payload") {
                    Some(Bson::Binary(_, b)) => b.clone(),
                    Some(Bson::Str(s)) => s.clone(),
                    _ => Vec::new(),
                };
                let ev = if mechanism == "PLAIN" {
                    let (u, p) = super::sasl::plain(&payload).unwrap_or_default();
                    Event::auth(u, p)
                } else if let Some(user) = scram_user(&payload) {
                    Event::auth(user, "").excerpt("client_first", &payload)
                } else {
                    let user = field(&req.doc, "user")
                        .and_then(Bson::as_str)
                        .unwrap_or_default();
                    let mut ev = Event::auth(user, "");
                    if let Some(Bson::Str(key)) = field(&req.doc, "key") {
                        ev = ev.text("key", key);
                    }
                    ev
                };
                conn.emit(ev.field("method", mechanism).text("database", &req.db));
                conn.auth_pause().await;
                error(18, "AuthenticationFailed", "Authentication failed.")
            }
            "logout" | "endsessions" => {
                conn.emit(Event::command(&name).payload(&rendered));
                Doc::new().f64("ok", 1.0)
            }
            _ => {
                conn.emit(
                    Event::command(&name)
                        .text("database", &req.db)
                        .payload(&rendered),
                );
                let msg = format!("not authorized on {} to execute command {rendered}", req.db);
                error(13, "Unauthorized", &msg)
            }
        }
    }
}

fn reply(op: i32, id: i32, response_to: i32, doc: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    if op == OP_MSG {
        body.extend_from_slice(&0u32.to_le_bytes());
        body.push(0);
    } else {
        body.extend_from_slice(&8i32.to_le_bytes()); // AwaitCapable
        body.extend_from_slice(&0i64.to_le_bytes());
        body.extend_from_slice(&0i32.to_le_bytes());
        body.extend_from_slice(&1i32.to_le_bytes());
    }
    body.extend_from_slice(doc);
    let mut out = ((body.len() + 16) as i32).to_le_bytes().to_vec();
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(&response_to.to_le_bytes());
    out.extend_from_slice(&(if op == OP_MSG { OP_MSG } else { OP_REPLY }).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

impl Handler for Mongodb {
    async fn handle(&self, mut conn: Conn) -> io::Result<()> {
        let mut b = [0u8; 2];
        let _ = getrandom::getrandom(&mut b);
        let conn_id = 1000 + i32::from(u16::from_le_bytes(b) % 30_000);
        let mut next_id = conn_id.wrapping_mul(1000);
        for _ in 0..MAX_REQUESTS {
            let head = match conn.read_exact(16).await {
                Ok(h) => h,
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
                Err(e) => return Err(e),
            };
            let int = |at: usize| {
                i32::from_le_bytes([head[at], head[at + 1], head[at + 2], head[at + 3]])
            };
            let (len, id, op) = (int(0), int(4), int(12));
            let Some(body_len) = usize::try_from(len)
                .ok()
                .and_then(|l| l.checked_sub(16))
                .filter(|&l| l <= MAX_MESSAGE)
            else {
                conn.emit(Event::command("invalid message").payload(&head));
                return Ok(());
            };
            let body = conn.read_exact(body_len).await?;
            let Some(req) = parse_request(op, id, &body) else {
                conn.emit(Event::command(format!("opcode {op}")).payload(&body));
                // mongod closes on what it cannot parse.
                return Ok(());
            };
            let doc = self.answer(&mut conn, &req, conn_id).await.finish();
            next_id = next_id.wrapping_add(1);
            conn.write_all(&reply(req.op, next_id, req.id, &doc))
                .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::testkit::{self, Client};
    use proptest::prelude::*;

    const NMAP_PROBE: &[u8] = b"\x41\0\0\0\x3a\x30\0\0\xff\xff\xff\xff\xd4\x07\0\0\0\0\0\0test.$cmd\0\0\0\0\0\xff\xff\xff\xff\x1b\0\0\0\x01serverStatus\0\0\0\0\0\0\0\xf0\x3f\0";

    fn op_msg(id: i32, doc: &[u8]) -> Vec<u8> {
        let mut body = 0u32.to_le_bytes().to_vec();
        body.push(0);
        body.extend_from_slice(doc);
        let mut out = ((body.len() + 16) as i32).to_le_bytes().to_vec();
        out.extend_from_slice(&id.to_le_bytes());
        out.extend_from_slice(&0i32.to_le_bytes());
        out.extend_from_slice(&OP_MSG.to_le_bytes());
        out.extend_from_slice(&body);
        out
    }

    async fn read_reply(c: &mut Client) -> (i32, Vec<(Vec<u8>, Bson)>) {
        let head = c.read_exact(16).await;
        let len = i32::from_le_bytes(head[..4].try_into().unwrap()) as usize;
        let op = i32::from_le_bytes(head[12..16].try_into().unwrap());
        let body = c.read_exact(len - 16).await;
        let at = if op == OP_MSG { 5 } else { 20 };
        (op, decode(&body[at..]).unwrap().0)
    }

    #[tokio::test]
    async fn nmap_probe_gets_the_unauthorized_reply() {
        let t = testkit::start("mongodb", Config::default()).await;
        let mut c = t.connect(0).await;
        c.send(NMAP_PROBE).await;
        let head = c.read_exact(36).await;
        assert_eq!(&head[8..16], b":0\0\0\x01\0\0\0");
        assert_eq!(&head[16..20], b"\x08\0\0\0");
        let len = i32::from_le_bytes(head[..4].try_into().unwrap()) as usize;
        let doc = c.read_exact(len - 36).await;
        let text = String::from_utf8_lossy(&doc);
        assert!(text.contains("\x01ok\0\0\0\0\0\0\0\0\0\x02errmsg\0"));
        assert!(text.contains(
            "not authorized on test to execute command { serverStatus: 1.0 }\0\x10code\0\r\0\0\0"
        ));
        let cmd = t.events().expect("command").await;
        assert_eq!(cmd["command"], "serverStatus");
        assert_eq!(cmd["database"], "test");
    }

    #[tokio::test]
    async fn handshake_build_info_and_scram_capture() {
        let t = testkit::start("mongodb", Config::default()).await;
        let mut c = t.connect(0).await;
        let hello = Doc::new()
            .i32("hello", 1)
            .str("saslSupportedMechs", "admin.root")
            .str("$db", "admin")
            .finish();
        c.send(&op_msg(1, &hello)).await;
        let (op, doc) = read_reply(&mut c).await;
        assert_eq!(op, OP_MSG);
        assert_eq!(field(&doc, "maxWireVersion"), Some(&Bson::Int32(9)));
        assert_eq!(field(&doc, "isWritablePrimary"), Some(&Bson::Bool(true)));
        assert!(field(&doc, "saslSupportedMechs").is_some());

        c.send(&op_msg(
            2,
            &Doc::new().i32("buildInfo", 1).str("$db", "admin").finish(),
        ))
        .await;
        let (_, doc) = read_reply(&mut c).await;
        assert_eq!(field(&doc, "version"), Some(&Bson::Str(b"4.4.29".to_vec())));

        let mut start = Doc::new()
            .i32("saslStart", 1)
            .str("mechanism", "SCRAM-SHA-256");
        start = {
            let mut d = start.key(0x05, "payload");
            let p = b"n,,n=ro=3Dot,r=abcdef";
            d.0.extend_from_slice(&(p.len() as i32).to_le_bytes());
            d.0.push(0);
            d.0.extend_from_slice(p);
            d
        };
        c.send(&op_msg(3, &start.str("$db", "admin").finish()))
            .await;
        let (_, doc) = read_reply(&mut c).await;
        assert_eq!(field(&doc, "code"), Some(&Bson::Int32(18)));

        c.send(&op_msg(
            4,
            &Doc::new()
                .i32("listDatabases", 1)
                .str("$db", "admin")
                .finish(),
        ))
        .await;
        let (_, doc) = read_reply(&mut c).await;
        assert_eq!(field(&doc, "code"), Some(&Bson::Int32(13)));

        let mut ev = t.events();
        let a = ev.expect("auth").await;
        assert_eq!(a["username"], "ro=ot");
        assert_eq!(a["password"], "");
        assert_eq!(a["method"], "SCRAM-SHA-256");
        assert_eq!(a["database"], "admin");
        let cmd = ev.expect("command").await;
        assert_eq!(cmd["command"], "listDatabases");
        assert_eq!(cmd["payload"], "{ listDatabases: 1, $db: \"admin\" }");
    }

    #[test]
    fn bson_round_trips_and_refuses_lies() {
        let d = Doc::new()
            .f64("a", 1.5)
            .str("b", "x")
            .doc("c", Doc::new().bool("d", true))
            .i32s("e", &[1, 2])
            .i64("f", -3)
            .finish();
        let (doc, n) = decode(&d).unwrap();
        assert_eq!(n, d.len());
        assert_eq!(
            render(&doc),
            "{ a: 1.5, b: \"x\", c: { d: true }, e: [ 1, 2 ], f: -3 }"
        );
        let mut bad = d.clone();
        bad[0] = 0xff;
        assert!(decode(&bad).is_none());
        let mut bad = d;
        bad[18] = 0x7f; // string length lies
        assert!(decode(&bad).is_none());
        assert_eq!(scram_user(b"n,,n=a=2Cb,r=x").as_deref(), Some("a,b"));
    }

    #[test]
    fn deep_documents_are_refused() {
        let mut d = Doc::new().i32("x", 1);
        for _ in 0..40 {
            d = Doc::new().doc("n", d);
        }
        assert!(decode(&d.finish()).is_none());
    }

    proptest! {
        #[test]
        fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            if let Some((doc, n)) = decode(&bytes) {
                prop_assert!(n <= bytes.len());
                prop_assert!(render(&doc).len() <= MAX_RENDER + 8);
            }
            let _ = parse_request(OP_QUERY, 1, &bytes);
            let _ = parse_request(OP_MSG, 1, &bytes);
            let _ = scram_user(&bytes);
        }
    }
}
