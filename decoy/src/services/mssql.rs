//! `mssql`: Microsoft SQL Server's TDS on 1433. PRELOGIN is answered as SQL Server 2019
//! (15.0.2000) without encryption support, so LOGIN7 arrives in the clear: the user,
//! the password (TDS only scrambles it), the client's host name, application, library and
//! database are reported, then error 18456 "Login failed for user". Integrated (SSPI)
//! logins go through NTLMSSP and are reported like smb's. A client that insists on
//! encryption is told it is not supported and hung up on.

use std::io;

use crate::config::Config;
use crate::event::{self, Event};
use crate::limits::{Conn, Handler};

use super::ntlm::{self, Identity, Step};

/// Largest TDS packet accepted (the protocol's own maximum is 32 KiB).
const MAX_PACKET: usize = 32 * 1024;
/// Largest message reassembled from packets.
const MAX_MESSAGE: usize = 64 * 1024;
const MAX_PACKETS_PER_MESSAGE: usize = 16;

const PRELOGIN: u8 = 0x12;
const LOGIN7: u8 = 0x10;
const SSPI: u8 = 0x11;
const TABULAR: u8 = 0x04;

const ENCRYPT_ON: u8 = 1;
const ENCRYPT_NOT_SUP: u8 = 2;
const ENCRYPT_REQ: u8 = 3;

pub struct Mssql {
    id: Identity,
    version: [u8; 6],
}

impl Mssql {
    pub fn new(cfg: &Config) -> Self {
        Mssql {
            id: Identity::from_config(cfg),
            version: parse_version(cfg.persona.str("version").unwrap_or("")),
        }
    }
}

/// `15.0.2000` -> the PRELOGIN VERSION bytes (major, minor, build BE, sub-build 0).
fn parse_version(v: &str) -> [u8; 6] {
    let mut parts = v.trim().split('.').map(|p| p.parse::<u16>().ok());
    match (
        parts.next().flatten(),
        parts.next().flatten(),
        parts.next().flatten(),
    ) {
        (Some(major), Some(minor), Some(build)) if major < 256 && minor < 256 => {
            let b = build.to_be_bytes();
            [major as u8, minor as u8, b[0], b[1], 0, 0]
        }
        _ => [15, 0, 0x07, 0xd0, 0, 0],
    }
}

fn packet(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![kind, 0x01];
    out.extend_from_slice(&((payload.len() + 8) as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0, 1, 0]);
    out.extend_from_slice(payload);
    out
}

/// One TDS message: `(type, payload)` reassembled up to the end-of-message packet.
async fn read_message(conn: &mut Conn) -> io::Result<Option<(u8, Vec<u8>)>> {
    let mut kind = None;
    let mut payload = Vec::new();
    for _ in 0..MAX_PACKETS_PER_MESSAGE {
        let head = match conn.read_exact(8).await {
            Ok(h) => h,
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && kind.is_none() => {
                return Ok(None)
            }
            Err(e) => return Err(e),
        };
        let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
        if !(8..=MAX_PACKET).contains(&len) || payload.len() + len > MAX_MESSAGE {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "bad TDS length"));
        }
        if *kind.get_or_insert(head[0]) != head[0] {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "mixed TDS packets",
            ));
        }
        payload.extend_from_slice(&conn.read_exact(len - 8).await?);
        if head[1] & 0x01 != 0 {
            return Ok(kind.map(|k| (k, payload)));
        }
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidData,
        "too many TDS packets",
    ))
}

/// PRELOGIN options: `(token, data)` pairs (at most 16).
pub fn parse_prelogin(p: &[u8]) -> Vec<(u8, &[u8])> {
    let mut out = Vec::new();
    let mut at = 0;
    while out.len() < 16 {
        let Some(&token) = p.get(at) else { break };
        if token == 0xff {
            break;
        }
        let Some(d) = p.get(at + 1..at + 5) else {
            break;
        };
        let off = usize::from(u16::from_be_bytes([d[0], d[1]]));
        let len = usize::from(u16::from_be_bytes([d[2], d[3]]));
        out.push((token, p.get(off..off + len).unwrap_or_default()));
        at += 5;
    }
    out
}

impl Mssql {
    /// The PRELOGIN answer: VERSION, ENCRYPTION (not supported), INSTOPT, THREADID, and
    /// MARS / FEDAUTHREQUIRED when the client asked about them.
    fn prelogin_reply(&self, options: &[(u8, &[u8])]) -> Vec<u8> {
        let mut tokens: Vec<(u8, Vec<u8>)> = vec![
            (0, self.version.to_vec()),
            (1, vec![ENCRYPT_NOT_SUP]),
            (2, vec![0]),
            (3, vec![]),
        ];
        if options.iter().any(|(t, _)| *t == 4) {
            tokens.push((4, vec![0]));
        }
        if options.iter().any(|(t, _)| *t == 6) {
            tokens.push((6, vec![0]));
        }
        let mut head = Vec::new();
        let mut data = Vec::new();
        let mut off = tokens.len() * 5 + 1;
        for (t, d) in &tokens {
            head.push(*t);
            head.extend_from_slice(&(off as u16).to_be_bytes());
            head.extend_from_slice(&(d.len() as u16).to_be_bytes());
            off += d.len();
            data.extend_from_slice(d);
        }
        head.push(0xff);
        head.extend_from_slice(&data);
        packet(TABULAR, &head)
    }

    /// ERROR 18456 and DONE, as SQL Server ends a failed login.
    fn login_failed(&self, user: &str, tds_version: u32) -> Vec<u8> {
        let msg = format!("Login failed for user '{}'.", user.replace('\'', "''"));
        let text = ntlm::utf16(&msg);
        let server = ntlm::utf16(&self.id.computer);
        let mut body = Vec::new();
        body.extend_from_slice(&18456i32.to_le_bytes());
        body.push(1); // state
        body.push(14); // class
        body.extend_from_slice(&((text.len() / 2) as u16).to_le_bytes());
        body.extend_from_slice(&text);
        body.push((server.len() / 2) as u8);
        body.extend_from_slice(&server);
        body.push(0); // proc name
        body.extend_from_slice(&1i32.to_le_bytes()); // line number
        let mut out = vec![0xaa];
        out.extend_from_slice(&(body.len() as u16).to_le_bytes());
        out.extend_from_slice(&body);
        out.push(0xfd);
        out.extend_from_slice(&0x0002u16.to_le_bytes()); // DONE_ERROR
        out.extend_from_slice(&0u16.to_le_bytes());
        if tds_version >= 0x7209_0002 {
            out.extend_from_slice(&0u64.to_le_bytes());
        } else {
            out.extend_from_slice(&0u32.to_le_bytes());
        }
        packet(TABULAR, &out)
    }
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Login7 {
    pub tds_version: u32,
    pub hostname: String,
    pub username: String,
    pub password: String,
    pub app_name: String,
    pub server_name: String,
    pub library: String,
    pub database: String,
    pub sspi: Vec<u8>,
}

/// TDS's password scrambling undone: XOR 0xA5, then swap the nibbles back.
pub fn unscramble(b: &[u8]) -> Vec<u8> {
    b.iter().map(|&x| (x ^ 0xa5).rotate_left(4)).collect()
}

pub fn parse_login7(p: &[u8]) -> Option<Login7> {
    let u16_at = |at: usize| p.get(at..at + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let tds_version = u32::from_le_bytes(p.get(4..8)?.try_into().ok()?);
    p.get(..86)?;
    // (offset, char count) pairs -> UTF-16 bytes within the message.
    let raw = |at: usize| -> &[u8] {
        let (Some(off), Some(cch)) = (u16_at(at), u16_at(at + 2)) else {
            return &[];
        };
        let (off, len) = (usize::from(off), usize::from(cch) * 2);
        p.get(off..off + len).unwrap_or_default()
    };
    let text = |at: usize| ntlm::from_utf16(raw(at), event::FIELD_MAX);
    let sspi = {
        let off = usize::from(u16_at(78)?);
        let len = usize::from(u16_at(80)?);
        p.get(off..off + len).unwrap_or_default().to_vec()
    };
    Some(Login7 {
        tds_version,
        hostname: text(36),
        username: text(40),
        password: ntlm::from_utf16(&unscramble(raw(44)), event::FIELD_MAX),
        app_name: text(48),
        server_name: text(52),
        library: text(60),
        database: text(68),
        sspi,
    })
}

impl Handler for Mssql {
    async fn handle(&self, mut conn: Conn) -> io::Result<()> {
        let challenge = ntlm::random_challenge();
        let mut login: Option<Login7> = None;
        for _ in 0..8 {
            let Some((kind, payload)) = read_message(&mut conn).await? else {
                return Ok(());
            };
            match kind {
                PRELOGIN => {
                    let options = parse_prelogin(&payload);
                    conn.write_all(&self.prelogin_reply(&options)).await?;
                    let wants = options
                        .iter()
                        .find(|(t, _)| *t == 1)
                        .and_then(|(_, d)| d.first().copied());
                    if matches!(wants, Some(ENCRYPT_ON | ENCRYPT_REQ)) {
                        conn.emit(Event::command("PRELOGIN encryption required"));
                        return Ok(());
                    }
                }
                LOGIN7 => {
                    let Some(l) = parse_login7(&payload) else {
                        conn.emit(Event::command("LOGIN7").payload(&payload));
                        return Ok(());
                    };
                    if l.sspi.is_empty() {
                        conn.emit(
                            Event::auth(&l.username, &l.password)
                                .field("method", "sql")
                                .text("hostname", &l.hostname)
                                .text("app_name", &l.app_name)
                                .text("library", &l.library)
                                .text("database", &l.database)
                                .text("server_name", &l.server_name),
                        );
                        conn.auth_pause().await;
                        return conn
                            .write_all(&self.login_failed(&l.username, l.tds_version))
                            .await;
                    }
                    match ntlm::server_step(&self.id, &l.sspi, &challenge) {
                        Step::Challenge(token) => {
                            let mut out = vec![0xed];
                            out.extend_from_slice(&(token.len() as u16).to_le_bytes());
                            out.extend_from_slice(&token);
                            conn.write_all(&packet(TABULAR, &out)).await?;
                            login = Some(l);
                        }
                        _ => {
                            conn.emit(Event::command("LOGIN7 SSPI").payload(&l.sspi));
                            return conn.write_all(&self.login_failed("", l.tds_version)).await;
                        }
                    }
                }
                SSPI if login.is_some() => {
                    let l = login.take().unwrap_or_default();
                    let user = match ntlm::server_step(&self.id, &payload, &challenge) {
                        Step::Authenticated(a) => {
                            conn.emit(
                                ntlm::auth_event(&a, &challenge, "ntlmssp")
                                    .text("hostname", &l.hostname)
                                    .text("app_name", &l.app_name)
                                    .text("database", &l.database),
                            );
                            if a.domain.is_empty() {
                                a.user
                            } else {
                                format!("{}\\{}", a.domain, a.user)
                            }
                        }
                        _ => {
                            conn.emit(Event::command("SSPI").payload(&payload));
                            String::new()
                        }
                    };
                    conn.auth_pause().await;
                    return conn
                        .write_all(&self.login_failed(&user, l.tds_version))
                        .await;
                }
                other => {
                    conn.emit(Event::command(format!("TDS 0x{other:02x}")).payload(&payload));
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::testkit::{self, Client};
    use proptest::prelude::*;

    fn cfg() -> Config {
        testkit::config("sql", "sql01")
    }

    /// nmap's ms-sql-s probe.
    const NMAP_PRELOGIN: &[u8] = b"\x12\x01\x00\x34\x00\x00\x00\x00\x00\x00\x15\x00\x06\x01\x00\x1b\x00\x01\x02\x00\x1c\x00\x0c\x03\x00\x28\x00\x04\xff\x08\x00\x01\x55\x00\x00\x00\x4d\x53\x53\x51\x4c\x53\x65\x72\x76\x65\x72\x00\x48\x0f\x00\x00";

    fn scramble(pw: &str) -> Vec<u8> {
        ntlm::utf16(pw)
            .iter()
            .map(|&b| b.rotate_left(4) ^ 0xa5)
            .collect()
    }

    /// LOGIN7 as FreeTDS and the .NET client build it (TDS 7.4).
    pub fn login7(user: &str, pw: &str, sspi: &[u8]) -> Vec<u8> {
        let fields: Vec<Vec<u8>> = vec![
            ntlm::utf16("kali"),
            ntlm::utf16(user),
            scramble(pw),
            ntlm::utf16("sqlcmd"),
            ntlm::utf16("10.0.0.5"),
            vec![],
            ntlm::utf16("ODBC"),
            ntlm::utf16("us_english"),
            ntlm::utf16("master"),
        ];
        let mut fixed = vec![0u8; 94];
        fixed[4..8].copy_from_slice(&0x7400_0004u32.to_le_bytes());
        let mut data = Vec::new();
        let slots = [36, 40, 44, 48, 52, 56, 60, 64, 68];
        for (slot, f) in slots.iter().zip(&fields) {
            let off = (94 + data.len()) as u16;
            fixed[*slot..slot + 2].copy_from_slice(&off.to_le_bytes());
            fixed[slot + 2..slot + 4].copy_from_slice(&((f.len() / 2) as u16).to_le_bytes());
            data.extend_from_slice(f);
        }
        let off = (94 + data.len()) as u16;
        fixed[78..80].copy_from_slice(&off.to_le_bytes());
        fixed[80..82].copy_from_slice(&(sspi.len() as u16).to_le_bytes());
        data.extend_from_slice(sspi);
        let total = (fixed.len() + data.len()) as u32;
        fixed[0..4].copy_from_slice(&total.to_le_bytes());
        fixed.extend_from_slice(&data);
        fixed
    }

    async fn read_packet(c: &mut Client) -> Vec<u8> {
        let head = c.read_exact(8).await;
        assert_eq!(head[0], TABULAR);
        let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
        c.read_exact(len - 8).await
    }

    #[tokio::test]
    async fn prelogin_matches_sql_server_2019_and_login_is_captured() {
        let t = testkit::start("mssql", cfg()).await;
        let mut c = t.connect(0).await;
        c.send(NMAP_PRELOGIN).await;
        let mut reply = b"\x04\x01\x00\x25\x00\x00\x01\x00".to_vec();
        reply.extend(read_packet(&mut c).await);
        assert_eq!(
            reply,
            b"\x04\x01\x00\x25\x00\x00\x01\x00\x00\x00\x15\x00\x06\x01\x00\x1b\x00\x01\x02\x00\x1c\x00\x01\x03\x00\x1d\x00\x00\xff\x0f\x00\x07\xd0\x00\x00\x02\x00"
        );
        c.send(&packet(LOGIN7, &login7("sa", "S3cret!", &[]))).await;
        let r = read_packet(&mut c).await;
        assert_eq!(r[0], 0xaa);
        assert_eq!(&r[3..7], &18456i32.to_le_bytes());
        let text = ntlm::from_utf16(&r[11..], 27);
        assert_eq!(text, "Login failed for user 'sa'.");
        let a = t.events().expect("auth").await;
        assert_eq!(a["username"], "sa");
        assert_eq!(a["password"], "S3cret!");
        assert_eq!(a["hostname"], "kali");
        assert_eq!(a["app_name"], "sqlcmd");
        assert_eq!(a["database"], "master");
        assert_eq!(a["library"], "ODBC");
        assert_eq!(a["method"], "sql");
    }

    #[tokio::test]
    async fn clients_requiring_encryption_are_refused() {
        let t = testkit::start("mssql", cfg()).await;
        let mut c = t.connect(0).await;
        let mut p = NMAP_PRELOGIN.to_vec();
        p[8 + 0x1b] = ENCRYPT_ON;
        c.send(&p).await;
        let r = read_packet(&mut c).await;
        assert_eq!(parse_prelogin(&r)[1], (1, &[ENCRYPT_NOT_SUP][..]));
        assert!(c.read_to_close().await.is_empty());
    }

    #[tokio::test]
    async fn integrated_logins_go_through_ntlm() {
        let t = testkit::start("mssql", cfg()).await;
        let mut c = t.connect(0).await;
        c.send(&packet(LOGIN7, &login7("", "", &ntlm::tests::negotiate())))
            .await;
        let r = read_packet(&mut c).await;
        assert_eq!(r[0], 0xed);
        let chal = ntlm::find(&r).unwrap();
        assert_eq!(ntlm::message_type(chal), Some(2));
        let mut nt = vec![3; 16];
        nt.extend_from_slice(&[1, 1, 0, 0, 0, 0, 0, 0]);
        c.send(&packet(
            SSPI,
            &ntlm::tests::authenticate("svc_sql", "CORP", "WS", &nt),
        ))
        .await;
        let r = read_packet(&mut c).await;
        assert_eq!(r[0], 0xaa);
        let a = t.events().expect("auth").await;
        assert_eq!(a["username"], "svc_sql");
        assert_eq!(a["method"], "ntlmssp");
        assert_eq!(a["app_name"], "sqlcmd");
    }

    #[test]
    fn passwords_unscramble() {
        assert_eq!(unscramble(&scramble("pässw0rd")), ntlm::utf16("pässw0rd"));
        assert_eq!(parse_version("16.0.1000"), [16, 0, 0x03, 0xe8, 0, 0]);
        assert_eq!(parse_version("junk"), [15, 0, 0x07, 0xd0, 0, 0]);
    }

    proptest! {
        #[test]
        fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            prop_assert!(parse_prelogin(&bytes).len() <= 16);
            let _ = parse_login7(&bytes);
            let mut l = login7("u", "p", &[]);
            for (i, b) in bytes.iter().enumerate().take(64) {
                let at = (i * 13) % l.len();
                l[at] = *b;
            }
            let _ = parse_login7(&l);
        }
    }
}
