//! `postgres`: the v3 startup exchange (declining SSL and GSS encryption), a request for a
//! cleartext password, capture of user, database and password, then FATAL 28P01.

use std::io;

use crate::config::Config;
use crate::event::Event;
use crate::limits::{Conn, Handler};

const SSL_REQUEST: u32 = 80_877_103;
const GSSENC_REQUEST: u32 = 80_877_104;
const CANCEL_REQUEST: u32 = 80_877_102;
const PROTOCOL_3: u32 = 196_608;
/// PostgreSQL's own limit (MAX_STARTUP_PACKET_LENGTH).
const MAX_STARTUP: usize = 10_000;
const MAX_PASSWORD_MSG: usize = 8 * 1024;

pub struct Postgres;

impl Postgres {
    pub fn new(_cfg: &Config) -> Self {
        Postgres
    }
}

/// An ErrorResponse in the field layout PostgreSQL 14+ sends.
fn error_response(code: &str, message: &str, at: (&str, &str, &str)) -> Vec<u8> {
    let (file, line, routine) = at;
    let mut body = Vec::new();
    for (tag, value) in [
        (b'S', "FATAL"),
        (b'V', "FATAL"),
        (b'C', code),
        (b'M', message),
        (b'F', file),
        (b'L', line),
        (b'R', routine),
    ] {
        body.push(tag);
        body.extend_from_slice(value.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut out = vec![b'E'];
    out.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

const AT_STARTUP: (&str, &str, &str) = ("postmaster.c", "2188", "ProcessStartupPacket");

/// `key\0value\0...\0` -> pairs (at most 64).
pub fn parse_params(body: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut parts = body.split(|&b| b == 0);
    let mut out = Vec::new();
    while out.len() < 64 {
        let Some(key) = parts.next() else { break };
        if key.is_empty() {
            break;
        }
        let value = parts.next().unwrap_or_default();
        out.push((key.to_vec(), value.to_vec()));
    }
    out
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

impl Handler for Postgres {
    async fn handle(&self, mut conn: Conn) -> io::Result<()> {
        // Up to two encryption requests (SSL, then GSS, or the reverse) before the startup.
        let mut params = None;
        for _ in 0..3 {
            let len = be32(&conn.read_exact(4).await?) as usize;
            if !(8..=MAX_STARTUP).contains(&len) {
                let err = error_response("08P01", "invalid length of startup packet", AT_STARTUP);
                return conn.write_all(&err).await;
            }
            let body = conn.read_exact(len - 4).await?;
            match be32(&body) {
                SSL_REQUEST | GSSENC_REQUEST => conn.write_all(b"N").await?,
                CANCEL_REQUEST => return Ok(()),
                PROTOCOL_3 => {
                    params = Some(parse_params(&body[4..]));
                    break;
                }
                other => {
                    let message = format!(
                        "unsupported frontend protocol {}.{}: server supports 3.0 to 3.0",
                        other >> 16,
                        other & 0xffff
                    );
                    let err = error_response("0A000", &message, AT_STARTUP);
                    return conn.write_all(&err).await;
                }
            }
        }
        let Some(params) = params else {
            return Ok(());
        };
        let param = |name: &[u8]| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_slice())
        };
        let Some(user) = param(b"user").filter(|u| !u.is_empty()) else {
            let err = error_response(
                "28000",
                "no PostgreSQL user name specified in startup packet",
                AT_STARTUP,
            );
            return conn.write_all(&err).await;
        };
        let user = user.to_vec();
        let database = param(b"database").unwrap_or(&user).to_vec();
        let application = param(b"application_name").map(<[u8]>::to_vec);

        // AuthenticationCleartextPassword
        conn.write_all(&[b'R', 0, 0, 0, 8, 0, 0, 0, 3]).await?;
        let head = conn.read_exact(5).await?;
        let len = be32(&head[1..]) as usize;
        if head[0] != b'p' || !(4..=MAX_PASSWORD_MSG).contains(&len) {
            let message = format!("expected password response, got message type {}", head[0]);
            let err = error_response("08P01", &message, ("auth.c", "745", "recv_password_packet"));
            return conn.write_all(&err).await;
        }
        let body = conn.read_exact(len - 4).await?;
        let password = body.split(|&b| b == 0).next().unwrap_or_default();
        let mut ev = Event::auth(&user, password)
            .field("method", "cleartext")
            .text("database", &database);
        if let Some(app) = &application {
            ev = ev.text("application_name", app);
        }
        conn.emit(ev);
        conn.auth_pause().await;
        let message = format!(
            "password authentication failed for user \"{}\"",
            crate::event::text(&user, 64)
        );
        let err = error_response("28P01", &message, ("auth.c", "326", "auth_failed"));
        conn.write_all(&err).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::testkit;
    use proptest::prelude::*;

    fn startup(pairs: &[(&str, &str)]) -> Vec<u8> {
        let mut body = PROTOCOL_3.to_be_bytes().to_vec();
        for (k, v) in pairs {
            body.extend_from_slice(k.as_bytes());
            body.push(0);
            body.extend_from_slice(v.as_bytes());
            body.push(0);
        }
        body.push(0);
        let mut out = (body.len() as u32 + 4).to_be_bytes().to_vec();
        out.extend_from_slice(&body);
        out
    }

    #[tokio::test]
    async fn ssl_is_declined_and_password_is_captured() {
        let t = testkit::start("postgres", Config::default()).await;
        let mut c = t.connect(0).await;
        c.send(&[0, 0, 0, 8, 4, 210, 22, 47]).await;
        assert_eq!(c.read_exact(1).await, b"N");
        c.send(&startup(&[
            ("user", "postgres"),
            ("database", "prod"),
            ("application_name", "psql"),
        ]))
        .await;
        assert_eq!(c.read_exact(9).await, [b'R', 0, 0, 0, 8, 0, 0, 0, 3]);
        c.send(b"p\0\0\0\x0dhunter22\0").await;
        let err = c.read_to_close().await;
        assert_eq!(err[0], b'E');
        let text = String::from_utf8_lossy(&err);
        assert!(text.contains("C28P01\0"));
        assert!(text.contains("password authentication failed for user \"postgres\""));
        let a = t.events().expect("auth").await;
        assert_eq!(a["username"], "postgres");
        assert_eq!(a["password"], "hunter22");
        assert_eq!(a["database"], "prod");
        assert_eq!(a["application_name"], "psql");
    }

    #[tokio::test]
    async fn unknown_protocol_versions_get_postgres_error() {
        let t = testkit::start("postgres", Config::default()).await;
        let mut c = t.connect(0).await;
        c.send(&[0, 0, 0, 8, 0xff, 0x53, 0x4d, 0x42]).await;
        let err = c.read_to_close().await;
        let text = String::from_utf8_lossy(&err);
        assert!(
            text.contains("unsupported frontend protocol 65363.19778: server supports 3.0 to 3.0")
        );
    }

    proptest! {
        #[test]
        fn params_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            prop_assert!(parse_params(&bytes).len() <= 64);
        }
    }
}
