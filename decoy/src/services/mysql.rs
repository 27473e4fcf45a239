//! `mysql`: the server greeting (protocol v10) with the persona's version, the client's
//! HandshakeResponse parsed (username, scrambled auth data, database, client attributes),
//! then `ERROR 1045 Access denied`. The scramble and salt are recorded in hex: with a
//! wordlist they reveal the password offline.

use std::io;

use serde_json::{Map, Value};

use crate::config::{Config, Os};
use crate::event::{self, Event};
use crate::limits::{Conn, Handler};

const CLIENT_CONNECT_WITH_DB: u32 = 0x0000_0008;
const CLIENT_PROTOCOL_41: u32 = 0x0000_0200;
const CLIENT_SSL: u32 = 0x0000_0800;
const CLIENT_SECURE_CONNECTION: u32 = 0x0000_8000;
const CLIENT_PLUGIN_AUTH: u32 = 0x0008_0000;
const CLIENT_CONNECT_ATTRS: u32 = 0x0010_0000;
const CLIENT_PLUGIN_AUTH_LENENC_DATA: u32 = 0x0020_0000;

/// Largest client packet we read during the handshake.
const MAX_PACKET: usize = 16 * 1024;

pub struct Mysql {
    version: String,
    plugin: &'static str,
    charset: u8,
    caps: u32,
}

impl Mysql {
    pub fn new(cfg: &Config) -> Self {
        let version = cfg
            .persona
            .string("version")
            .map(|v| v.replace('\0', ""))
            .unwrap_or_else(|| {
                if cfg.os == Os::Linux {
                    "8.0.36-0ubuntu0.22.04.1".to_owned()
                } else {
                    "8.0.36".to_owned()
                }
            });
        let legacy =
            version.starts_with('5') || version.starts_with("10.") || version.contains("MariaDB");
        // Every capability of a stock server but SSL, which we cannot complete.
        let (plugin, charset, caps) = if legacy {
            ("mysql_native_password", 0x21, 0x81ff_f7ff)
        } else {
            ("caching_sha2_password", 0xff, 0xdfff_f7ff)
        };
        Mysql {
            version,
            plugin,
            charset,
            caps,
        }
    }

    fn greeting(&self, connection_id: u32, salt: &[u8; 20]) -> Vec<u8> {
        let mut p = vec![10u8];
        p.extend_from_slice(self.version.as_bytes());
        p.push(0);
        p.extend_from_slice(&connection_id.to_le_bytes());
        p.extend_from_slice(&salt[..8]);
        p.push(0);
        p.extend_from_slice(&(self.caps as u16).to_le_bytes());
        p.push(self.charset);
        p.extend_from_slice(&2u16.to_le_bytes());
        p.extend_from_slice(&((self.caps >> 16) as u16).to_le_bytes());
        p.push(21);
        p.extend_from_slice(&[0; 10]);
        p.extend_from_slice(&salt[8..]);
        p.push(0);
        p.extend_from_slice(self.plugin.as_bytes());
        p.push(0);
        p
    }
}

fn packet(seq: u8, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut out = len.to_le_bytes()[..3].to_vec();
    out.push(seq);
    out.extend_from_slice(payload);
    out
}

fn error_packet(code: u16, state: &str, message: &str) -> Vec<u8> {
    let mut p = vec![0xff];
    p.extend_from_slice(&code.to_le_bytes());
    p.push(b'#');
    p.extend_from_slice(state.as_bytes());
    p.extend_from_slice(message.as_bytes());
    p
}

/// Salt bytes are printable, non-NUL, as MySQL's own generator makes them.
fn salt() -> [u8; 20] {
    let mut s = [0u8; 20];
    let _ = getrandom::getrandom(&mut s);
    for b in &mut s {
        *b = 0x21 + (*b % 0x5e);
    }
    s
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct HandshakeResponse {
    pub caps: u32,
    pub username: Vec<u8>,
    pub auth: Vec<u8>,
    pub database: Option<Vec<u8>>,
    pub plugin: Option<Vec<u8>>,
    pub attrs: Vec<(Vec<u8>, Vec<u8>)>,
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let out = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(out)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn u32(&mut self) -> Option<u32> {
        let b = self.take(4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn cstr(&mut self) -> Option<&'a [u8]> {
        let rest = self.buf.get(self.pos..)?;
        let n = rest.iter().position(|&b| b == 0)?;
        self.pos += n + 1;
        Some(&rest[..n])
    }

    fn lenenc(&mut self) -> Option<u64> {
        match self.u8()? {
            n @ 0..=0xfa => Some(u64::from(n)),
            0xfc => self
                .take(2)
                .map(|b| u64::from(u16::from_le_bytes([b[0], b[1]]))),
            0xfd => self
                .take(3)
                .map(|b| u64::from(u32::from_le_bytes([b[0], b[1], b[2], 0]))),
            0xfe => self
                .take(8)
                .map(|b| u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])),
            _ => None,
        }
    }

    fn lenenc_bytes(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.lenenc()?).ok()?;
        self.take(n)
    }

    fn rest(&mut self) -> &'a [u8] {
        let out = self.buf.get(self.pos..).unwrap_or(&[]);
        self.pos = self.buf.len();
        out
    }

    fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }
}

/// HandshakeResponse41 (or the old 320 form). Optional trailing parts that are missing or
/// malformed are left empty rather than failing the whole parse.
pub fn parse_handshake_response(payload: &[u8]) -> Option<HandshakeResponse> {
    let mut c = Cursor {
        buf: payload,
        pos: 0,
    };
    let first = c.take(2)?;
    let low = u32::from(u16::from_le_bytes([first[0], first[1]]));
    let mut r = HandshakeResponse::default();
    if low & CLIENT_PROTOCOL_41 == 0 {
        r.caps = low;
        c.take(3)?;
        r.username = c.cstr()?.to_vec();
        r.auth = if low & CLIENT_CONNECT_WITH_DB != 0 {
            let a = c.cstr().unwrap_or_default().to_vec();
            r.database = c.cstr().map(<[u8]>::to_vec);
            a
        } else {
            c.cstr()
                .map(<[u8]>::to_vec)
                .unwrap_or_else(|| c.rest().to_vec())
        };
        return Some(r);
    }
    let high = c.take(2)?;
    r.caps = low | u32::from(u16::from_le_bytes([high[0], high[1]])) << 16;
    c.u32()?; // max packet size
    c.u8()?; // charset
    c.take(23)?;
    r.username = c.cstr()?.to_vec();
    r.auth = if r.caps & CLIENT_PLUGIN_AUTH_LENENC_DATA != 0 {
        c.lenenc_bytes()?.to_vec()
    } else if r.caps & CLIENT_SECURE_CONNECTION != 0 {
        let n = usize::from(c.u8()?);
        c.take(n)?.to_vec()
    } else {
        c.cstr()?.to_vec()
    };
    if r.caps & CLIENT_CONNECT_WITH_DB != 0 && !c.done() {
        r.database = c.cstr().map(<[u8]>::to_vec);
    }
    if r.caps & CLIENT_PLUGIN_AUTH != 0 && !c.done() {
        r.plugin = c.cstr().map(<[u8]>::to_vec);
    }
    if r.caps & CLIENT_CONNECT_ATTRS != 0 && !c.done() {
        if let Some(block) = c.lenenc_bytes() {
            let mut a = Cursor { buf: block, pos: 0 };
            while !a.done() && r.attrs.len() < 32 {
                let (Some(k), Some(v)) = (a.lenenc_bytes(), a.lenenc_bytes()) else {
                    break;
                };
                r.attrs.push((k.to_vec(), v.to_vec()));
            }
        }
    }
    Some(r)
}

async fn read_packet(conn: &mut Conn) -> io::Result<Option<(u8, Vec<u8>)>> {
    let head = match conn.read_exact(4).await {
        Ok(h) => h,
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    };
    let len = u32::from_le_bytes([head[0], head[1], head[2], 0]) as usize;
    if len > MAX_PACKET {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "packet too big"));
    }
    Ok(Some((head[3], conn.read_exact(len).await?)))
}

impl Handler for Mysql {
    async fn handle(&self, mut conn: Conn) -> io::Result<()> {
        let salt = salt();
        let mut id = [0u8; 2];
        let _ = getrandom::getrandom(&mut id);
        let connection_id = 8 + u32::from(u16::from_le_bytes(id));
        conn.write_all(&packet(0, &self.greeting(connection_id, &salt)))
            .await?;
        let Some((seq, payload)) = read_packet(&mut conn).await? else {
            return Ok(());
        };
        let peer_ip = conn.session.peer.ip().to_canonical();
        let low_caps = payload
            .get(..2)
            .map(|b| u32::from(u16::from_le_bytes([b[0], b[1]])));
        if payload.len() == 32 && low_caps.unwrap_or(0) & CLIENT_SSL != 0 {
            // An SSLRequest: we advertised no SSL, so a real client would not send one.
            conn.emit(Event::command("SSLRequest"));
            return Ok(());
        }
        let Some(resp) = parse_handshake_response(&payload) else {
            let err = error_packet(1043, "08S01", "Bad handshake");
            return conn.write_all(&packet(seq.wrapping_add(1), &err)).await;
        };
        let mut ev = Event::auth(&resp.username, "")
            .field(
                "method",
                resp.plugin
                    .as_deref()
                    .map(|p| event::text(p, 64))
                    .unwrap_or_else(|| self.plugin.to_owned()),
            )
            .hex("auth_data", &resp.auth)
            .hex("salt", salt);
        if let Some(db) = &resp.database {
            ev = ev.text("database", db);
        }
        if !resp.attrs.is_empty() {
            let attrs: Map<String, Value> = resp
                .attrs
                .iter()
                .map(|(k, v)| (event::text(k, 64), Value::from(event::text(v, 128))))
                .collect();
            ev = ev.field("client_attrs", Value::Object(attrs));
        }
        conn.emit(ev);
        conn.auth_pause().await;
        let message = format!(
            "Access denied for user '{}'@'{peer_ip}' (using password: {})",
            event::text(&resp.username, 64),
            if resp.auth.is_empty() { "NO" } else { "YES" }
        );
        let err = error_packet(1045, "28000", &message);
        conn.write_all(&packet(seq.wrapping_add(1), &err)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::testkit;
    use proptest::prelude::*;

    fn cfg() -> Config {
        testkit::config("db", "db")
    }

    /// What `mysql -u root -p -D shop` sends (protocol 41, lenenc auth data, attributes).
    fn client_response(user: &str, auth: &[u8], db: &str) -> Vec<u8> {
        let caps: u32 = CLIENT_PROTOCOL_41
            | CLIENT_SECURE_CONNECTION
            | CLIENT_PLUGIN_AUTH
            | CLIENT_PLUGIN_AUTH_LENENC_DATA
            | CLIENT_CONNECT_WITH_DB
            | CLIENT_CONNECT_ATTRS;
        let mut p = caps.to_le_bytes().to_vec();
        p.extend_from_slice(&(1u32 << 24).to_le_bytes());
        p.push(0xff);
        p.extend_from_slice(&[0; 23]);
        p.extend_from_slice(user.as_bytes());
        p.push(0);
        p.push(auth.len() as u8);
        p.extend_from_slice(auth);
        p.extend_from_slice(db.as_bytes());
        p.push(0);
        p.extend_from_slice(b"caching_sha2_password\0");
        let attrs = b"\x0c_client_name\x08libmysql";
        p.push(attrs.len() as u8);
        p.extend_from_slice(attrs);
        p
    }

    #[test]
    fn handshake_response_parses() {
        let r = parse_handshake_response(&client_response("root", &[1, 2, 3], "shop")).unwrap();
        assert_eq!(r.username, b"root");
        assert_eq!(r.auth, [1, 2, 3]);
        assert_eq!(r.database.as_deref(), Some(&b"shop"[..]));
        assert_eq!(r.plugin.as_deref(), Some(&b"caching_sha2_password"[..]));
        assert_eq!(
            r.attrs,
            vec![(b"_client_name".to_vec(), b"libmysql".to_vec())]
        );
    }

    #[tokio::test]
    async fn greeting_then_access_denied_with_capture() {
        let t = testkit::start("mysql", cfg()).await;
        let mut c = t.connect(0).await;
        let head = c.read_exact(4).await;
        let len = u32::from_le_bytes([head[0], head[1], head[2], 0]) as usize;
        let greeting = c.read_exact(len).await;
        assert_eq!(greeting[0], 10);
        assert!(greeting[1..].starts_with(b"8.0.36-0ubuntu0.22.04.1\0"));
        assert!(greeting.ends_with(b"caching_sha2_password\0"));
        let resp = client_response("root", &[0xab; 32], "shop");
        let mut pkt = (resp.len() as u32).to_le_bytes()[..3].to_vec();
        pkt.push(1);
        pkt.extend_from_slice(&resp);
        c.send(&pkt).await;
        let head = c.read_exact(4).await;
        assert_eq!(head[3], 2);
        let len = u32::from_le_bytes([head[0], head[1], head[2], 0]) as usize;
        let err = c.read_exact(len).await;
        assert_eq!(err[..3], [0xff, 0x15, 0x04]);
        let text = String::from_utf8_lossy(&err[9..]).into_owned();
        assert_eq!(
            text,
            "Access denied for user 'root'@'127.0.0.1' (using password: YES)"
        );
        let a = t.events().expect("auth").await;
        assert_eq!(a["username"], "root");
        assert_eq!(a["password"], "");
        assert_eq!(a["auth_data"], "ab".repeat(32));
        assert_eq!(a["database"], "shop");
        assert_eq!(a["method"], "caching_sha2_password");
        assert_eq!(a["client_attrs"]["_client_name"], "libmysql");
        assert_eq!(a["salt"].as_str().unwrap().len(), 40);
    }

    proptest! {
        #[test]
        fn parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = parse_handshake_response(&bytes);
        }

        #[test]
        fn parser_survives_mutated_real_responses(idx in 0usize..120, byte in any::<u8>()) {
            let mut p = client_response("admin", &[7; 20], "db");
            let i = idx % p.len();
            p[i] = byte;
            let _ = parse_handshake_response(&p);
        }
    }
}
