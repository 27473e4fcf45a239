//! `smb`: a file server on 445 (direct TCP) and 139 (NetBIOS session service). SMB1
//! negotiations that offer SMB2 are upgraded; SMB2 (2.0.2 to 3.0.2) authenticates with
//! SPNEGO/NTLMSSP, whose AUTHENTICATE_MESSAGE is reported (user, domain, workstation and
//! the NTLM response to our random challenge, in hashcat's format) before
//! STATUS_LOGON_FAILURE. SMB1-only clients (scanners, hydra, old tools) get an NT LM 0.12
//! negotiation with a plain 8-byte challenge, laid out as Samba (linux) or Windows
//! (`DECNET_OS=windows`) does, and their LM/NTLM responses or cleartext password are
//! reported the same way.

use std::io;

use crate::config::{Config, Os};
use crate::event::{self, Event};
use crate::limits::{Conn, Handler};

use super::ntlm::{self, Identity, Step};

/// Messages served on one connection.
const MAX_MESSAGES: usize = 64;
/// Largest SMB message we read (client messages before a session are small).
const MAX_FRAME: usize = 64 * 1024;
/// Dialects kept from an SMB1 NEGOTIATE or SMB2 NEGOTIATE.
const MAX_DIALECTS: usize = 64;

const STATUS_SUCCESS: u32 = 0;
const STATUS_MORE_PROCESSING_REQUIRED: u32 = 0xc000_0016;
const STATUS_LOGON_FAILURE: u32 = 0xc000_006d;
const STATUS_ACCESS_DENIED: u32 = 0xc000_0022;
const STATUS_NOT_SUPPORTED: u32 = 0xc000_00bb;
const STATUS_INVALID_PARAMETER: u32 = 0xc000_000d;

const SMB1_NEGOTIATE: u8 = 0x72;
const SMB1_SESSION_SETUP_ANDX: u8 = 0x73;
const SMB1_FLAGS2_UNICODE: u16 = 0x8000;
const SMB1_FLAGS2_EXTENDED_SECURITY: u16 = 0x0800;

const SMB2_NEGOTIATE: u16 = 0;
const SMB2_SESSION_SETUP: u16 = 1;
const SMB2_LOGOFF: u16 = 2;
const SMB2_ECHO: u16 = 13;

/// SMB2 dialects we can select, best first.
const DIALECTS: &[u16] = &[0x0302, 0x0300, 0x0210, 0x0202];

pub struct Smb {
    id: Identity,
    guid: [u8; 16],
}

impl Smb {
    pub fn new(cfg: &Config) -> Self {
        let mut guid = [0u8; 16];
        let _ = getrandom::getrandom(&mut guid);
        Smb {
            id: Identity::from_config(cfg),
            guid,
        }
    }

    fn windows(&self) -> bool {
        self.id.os == Os::Windows
    }
}

/// Per-connection state.
struct State {
    challenge: [u8; 8],
    session_id: u64,
    failures: u32,
}

fn le16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([s[0], s[1]]))
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

fn le64(b: &[u8], at: usize) -> Option<u64> {
    let s = b.get(at..at.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Some(u64::from_le_bytes(a))
}

/// A session message with its 4-byte header (type 0, 24-bit length).
fn frame(msg: &[u8]) -> Vec<u8> {
    let len = (msg.len() as u32).to_be_bytes();
    let mut out = vec![0, len[1], len[2], len[3]];
    out.extend_from_slice(msg);
    out
}

/// Next transport frame: `(type, body)`; `None` at a clean end of stream.
async fn read_frame(conn: &mut Conn) -> io::Result<Option<(u8, Vec<u8>)>> {
    let head = match conn.read_exact(4).await {
        Ok(h) => h,
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    };
    let kind = head[0];
    let len = if kind == 0 {
        u32::from_be_bytes([0, head[1], head[2], head[3]]) as usize
    } else {
        // NetBIOS: one length-extension bit in the flags byte.
        (usize::from(head[1] & 1) << 16) | usize::from(u16::from_be_bytes([head[2], head[3]]))
    };
    if len > MAX_FRAME {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "frame too big"));
    }
    Ok(Some((kind, conn.read_exact(len).await?)))
}

/// SMB1 dialect strings of a NEGOTIATE's data (`\x02name\0` each).
pub fn smb1_dialects(data: &[u8]) -> Vec<String> {
    data.split(|&b| b == 0)
        .filter_map(|d| d.strip_prefix(&[2]))
        .take(MAX_DIALECTS)
        .map(|d| event::text(d, 64))
        .collect()
}

/// Dialect revisions of an SMB2 NEGOTIATE request body.
pub fn smb2_dialects(body: &[u8]) -> Vec<u16> {
    let count = usize::from(le16(body, 2).unwrap_or(0)).min(MAX_DIALECTS);
    (0..count).map_while(|i| le16(body, 36 + 2 * i)).collect()
}

fn dialect_name(d: u16) -> String {
    format!("{}.{}.{}", d >> 8, (d >> 4) & 0xf, d & 0xf)
}

/// The fields of an SMB1 SESSION_SETUP_ANDX we report.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Smb1Setup {
    pub user: String,
    pub domain: String,
    pub native_os: String,
    pub native_lanman: String,
    pub oem_password: Vec<u8>,
    pub unicode_password: Vec<u8>,
    /// Extended security: the SPNEGO/NTLMSSP blob instead of the above.
    pub blob: Option<Vec<u8>>,
}

/// Strings at `data[pos..]`: UTF-16 (NUL-terminated by a zero unit) or OEM C strings.
fn smb1_strings(data: &[u8], mut pos: usize, unicode: bool, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..n {
        let rest = data.get(pos..).unwrap_or_default();
        if unicode {
            let end = rest
                .chunks_exact(2)
                .position(|c| c == [0, 0])
                .map(|i| i * 2)
                .unwrap_or(rest.len() & !1);
            out.push(ntlm::from_utf16(&rest[..end], event::FIELD_MAX));
            pos = pos.saturating_add(end + 2);
        } else {
            let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
            out.push(event::text(&rest[..end], event::FIELD_MAX));
            pos = pos.saturating_add(end + 1);
        }
    }
    out
}

/// SESSION_SETUP_ANDX request (`msg` from the SMB header on).
pub fn parse_smb1_setup(msg: &[u8]) -> Option<Smb1Setup> {
    let unicode = le16(msg, 10)? & SMB1_FLAGS2_UNICODE != 0;
    let wc = usize::from(*msg.get(32)?);
    let words = msg.get(33..33 + 2 * wc)?;
    let bc = usize::from(le16(msg, 33 + 2 * wc)?);
    let data_at = 35 + 2 * wc;
    let data = msg.get(data_at..data_at.checked_add(bc)?.min(msg.len()))?;
    let mut s = Smb1Setup::default();
    match wc {
        12 => {
            let len = usize::from(le16(words, 14)?);
            let blob = data.get(..len)?;
            s.blob = Some(blob.to_vec());
            let pad = usize::from(unicode && (data_at + len) % 2 == 1);
            let strings = smb1_strings(data, len + pad, unicode, 2);
            s.native_os = strings[0].clone();
            s.native_lanman = strings[1].clone();
        }
        13 => {
            let oem = usize::from(le16(words, 14)?);
            let uni = usize::from(le16(words, 16)?);
            s.oem_password = data.get(..oem)?.to_vec();
            s.unicode_password = data.get(oem..oem.checked_add(uni)?)?.to_vec();
            let at = oem + uni;
            let pad = usize::from(unicode && (data_at + at) % 2 == 1);
            let strings = smb1_strings(data, at + pad, unicode, 4);
            s.user = strings[0].clone();
            s.domain = strings[1].clone();
            s.native_os = strings[2].clone();
            s.native_lanman = strings[3].clone();
        }
        _ => return None,
    }
    Some(s)
}

/// An SMB1 reply header for request `req` (same TID, PID, UID, MID).
fn smb1_header(req: &[u8], cmd: u8, status: u32, flags2: u16, uid: u16) -> Vec<u8> {
    let mut h = b"\xffSMB".to_vec();
    h.push(cmd);
    h.extend_from_slice(&status.to_le_bytes());
    h.push(0x88);
    h.extend_from_slice(&flags2.to_le_bytes());
    h.extend_from_slice(req.get(12..14).unwrap_or(&[0, 0])); // PID high
    h.extend_from_slice(&[0; 10]); // security features, reserved
    h.extend_from_slice(req.get(24..28).unwrap_or(&[0; 4])); // TID, PID
    h.extend_from_slice(&uid.to_le_bytes());
    h.extend_from_slice(req.get(30..32).unwrap_or(&[0, 0])); // MID
    h
}

fn smb1_error(req: &[u8], cmd: u8, status: u32) -> Vec<u8> {
    let flags2 = 0xc001 | le16(req, 10).unwrap_or(0) & 0x0800;
    let mut m = smb1_header(req, cmd, status, flags2, 0);
    m.extend_from_slice(&[0, 0, 0]);
    m
}

/// An SMB2 response header echoing request `req`.
fn smb2_header(req: &[u8], status: u32, session_id: u64, credits: u16) -> Vec<u8> {
    let mut h = b"\xfeSMB".to_vec();
    h.extend_from_slice(&64u16.to_le_bytes());
    h.extend_from_slice(&le16(req, 6).unwrap_or(0).to_le_bytes()); // credit charge
    h.extend_from_slice(&status.to_le_bytes());
    h.extend_from_slice(&le16(req, 12).unwrap_or(0).to_le_bytes()); // command
    h.extend_from_slice(&credits.to_le_bytes());
    h.extend_from_slice(&1u32.to_le_bytes()); // SERVER_TO_REDIR
    h.extend_from_slice(&0u32.to_le_bytes());
    h.extend_from_slice(&le64(req, 24).unwrap_or(0).to_le_bytes()); // message id
    h.extend_from_slice(&le32(req, 32).unwrap_or(0).to_le_bytes());
    h.extend_from_slice(&0u32.to_le_bytes()); // tree id
    h.extend_from_slice(&session_id.to_le_bytes());
    h.extend_from_slice(&[0; 16]);
    h
}

fn smb2_error(req: &[u8], status: u32, session_id: u64) -> Vec<u8> {
    let mut m = smb2_header(req, status, session_id, 1);
    m.extend_from_slice(&[9, 0, 0, 0, 0, 0, 0, 0, 0]);
    m
}

fn credits(req: &[u8]) -> u16 {
    le16(req, 14).unwrap_or(1).clamp(1, 64)
}

impl Smb {
    /// SMB2 NEGOTIATE response body selecting `dialect` (also the reply to an SMB1
    /// NEGOTIATE that offered SMB2, with 0x02ff or 0x0202).
    fn smb2_negotiate_body(&self, dialect: u16) -> Vec<u8> {
        let blob = ntlm::spnego_init_hint();
        let mut b = Vec::with_capacity(64 + blob.len());
        b.extend_from_slice(&65u16.to_le_bytes());
        b.extend_from_slice(&1u16.to_le_bytes()); // signing enabled
        b.extend_from_slice(&dialect.to_le_bytes());
        b.extend_from_slice(&0u16.to_le_bytes());
        b.extend_from_slice(&self.guid);
        b.extend_from_slice(&0x7u32.to_le_bytes()); // DFS, leasing, large MTU
        for _ in 0..3 {
            b.extend_from_slice(&8_388_608u32.to_le_bytes());
        }
        b.extend_from_slice(&ntlm::filetime_now().to_le_bytes());
        b.extend_from_slice(&0u64.to_le_bytes());
        b.extend_from_slice(&128u16.to_le_bytes());
        b.extend_from_slice(&(blob.len() as u16).to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&blob);
        b
    }

    /// An SMB2 NEGOTIATE response to an SMB1 multi-protocol NEGOTIATE.
    fn smb2_from_smb1(&self, dialect: u16) -> Vec<u8> {
        let mut h = b"\xfeSMB".to_vec();
        h.extend_from_slice(&64u16.to_le_bytes());
        h.extend_from_slice(&[0; 6]); // credit charge, status
        h.extend_from_slice(&[0, 0, 1, 0]); // command NEGOTIATE, 1 credit
        h.extend_from_slice(&1u32.to_le_bytes());
        h.extend_from_slice(&[0; 44]);
        h.extend_from_slice(&self.smb2_negotiate_body(dialect));
        h
    }

    /// The SMB1 NT LM 0.12 negotiate response in Samba's or Windows's layout: SPNEGO
    /// when the client asked for extended security, else a plain 8-byte challenge.
    fn smb1_negotiate(&self, req: &[u8], index: u16, challenge: &[u8; 8]) -> Vec<u8> {
        let client_flags2 = le16(req, 10).unwrap_or(0);
        let extended = client_flags2 & SMB1_FLAGS2_EXTENDED_SECURITY != 0;
        let (mut flags2, max_mpx, max_buf, mut caps) = if self.windows() {
            (
                0x4001 | client_flags2 & 0x8000,
                50u16,
                4356u32,
                0x0001_e3fcu32,
            )
        } else {
            (0xc001, 50, 16644, 0x0000_f3fd)
        };
        if extended {
            flags2 |= SMB1_FLAGS2_EXTENDED_SECURITY;
            caps |= 0x8000_0000;
        }
        let mut m = smb1_header(req, SMB1_NEGOTIATE, STATUS_SUCCESS, flags2, 0);
        m.push(17);
        m.extend_from_slice(&index.to_le_bytes());
        m.push(0x03); // user level, challenge/response
        m.extend_from_slice(&max_mpx.to_le_bytes());
        m.extend_from_slice(&1u16.to_le_bytes());
        m.extend_from_slice(&max_buf.to_le_bytes());
        m.extend_from_slice(&65536u32.to_le_bytes());
        m.extend_from_slice(&0u32.to_le_bytes());
        m.extend_from_slice(&caps.to_le_bytes());
        m.extend_from_slice(&ntlm::filetime_now().to_le_bytes());
        m.extend_from_slice(&0u16.to_le_bytes());
        let data = if extended {
            m.push(0);
            [&self.guid[..], &ntlm::spnego_init_hint()].concat()
        } else {
            m.push(8);
            let mut data = challenge.to_vec();
            data.extend_from_slice(&ntlm::utf16(&self.id.nb_domain));
            data.extend_from_slice(&[0, 0]);
            data.extend_from_slice(&ntlm::utf16(&self.id.computer));
            data.extend_from_slice(&[0, 0]);
            data
        };
        m.extend_from_slice(&(data.len() as u16).to_le_bytes());
        m.extend_from_slice(&data);
        m
    }

    async fn smb1(&self, conn: &mut Conn, st: &mut State, msg: &[u8]) -> io::Result<bool> {
        let cmd = msg.get(4).copied().unwrap_or(0);
        match cmd {
            SMB1_NEGOTIATE => {
                let data = le16(msg, 33)
                    .filter(|_| msg.get(32) == Some(&0))
                    .and_then(|bc| msg.get(35..(35 + usize::from(bc)).min(msg.len())))
                    .unwrap_or_default();
                let dialects = smb1_dialects(data);
                conn.emit(Event::command("SMB1 NEGOTIATE").field("dialects", dialects.join(", ")));
                let has = |name: &str| dialects.iter().position(|d| d == name);
                let reply = if has("SMB 2.???").is_some() {
                    self.smb2_from_smb1(0x02ff)
                } else if has("SMB 2.002").is_some() {
                    self.smb2_from_smb1(0x0202)
                } else {
                    let pick = if self.windows() {
                        has("NT LM 0.12")
                    } else {
                        has("NT LANMAN 1.0").or_else(|| has("NT LM 0.12"))
                    };
                    match pick {
                        Some(i) => self.smb1_negotiate(msg, i as u16, &st.challenge),
                        None => {
                            // No dialect we speak: index 0xffff, as Samba answers.
                            let mut m = smb1_header(msg, SMB1_NEGOTIATE, STATUS_SUCCESS, 0xc001, 0);
                            m.extend_from_slice(&[1, 0xff, 0xff, 0, 0]);
                            m
                        }
                    }
                };
                conn.write_all(&frame(&reply)).await?;
                Ok(true)
            }
            SMB1_SESSION_SETUP_ANDX => {
                let Some(setup) = parse_smb1_setup(msg) else {
                    let err = smb1_error(msg, cmd, STATUS_INVALID_PARAMETER);
                    conn.write_all(&frame(&err)).await?;
                    return Ok(false);
                };
                if let Some(blob) = &setup.blob {
                    return self.smb1_spnego(conn, st, msg, blob, &setup).await;
                }
                self.report_smb1(conn, st, &setup);
                conn.auth_pause().await;
                st.failures += 1;
                let err = smb1_error(msg, cmd, STATUS_LOGON_FAILURE);
                conn.write_all(&frame(&err)).await?;
                Ok(true)
            }
            other => {
                conn.emit(Event::command(format!("SMB1 0x{other:02x}")).payload(msg));
                let err = smb1_error(msg, other, STATUS_ACCESS_DENIED);
                conn.write_all(&frame(&err)).await?;
                Ok(true)
            }
        }
    }

    fn report_smb1(&self, conn: &Conn, st: &State, s: &Smb1Setup) {
        let (oem, uni) = (&s.oem_password, &s.unicode_password);
        let hashed = oem.len() == 24 || uni.len() >= 24;
        let mut ev = if hashed {
            let mut ev = Event::auth(&s.user, "")
                .field("method", "ntlm")
                .text("domain", &s.domain)
                .hex("challenge", st.challenge)
                .hex("nt_response", uni)
                .hex("lm_response", oem);
            if let Some(h) = ntlm::hashcat(&s.user, &s.domain, oem, uni, &st.challenge) {
                ev = ev.field("hashcat", h);
            }
            ev
        } else {
            // Cleartext (a client talking to a server that does not encrypt passwords).
            let pass = if uni.is_empty() {
                event::text(oem.split(|&b| b == 0).next().unwrap_or_default(), 512)
            } else {
                ntlm::from_utf16(uni, event::FIELD_MAX)
                    .trim_end_matches('\0')
                    .to_owned()
            };
            Event::auth(&s.user, pass)
                .field("method", "plaintext")
                .text("domain", &s.domain)
        };
        ev = ev
            .text("native_os", &s.native_os)
            .text("native_lanman", &s.native_lanman);
        conn.emit(ev);
    }

    /// SMB1 extended-security session setup (a client that insisted on SPNEGO).
    async fn smb1_spnego(
        &self,
        conn: &mut Conn,
        st: &mut State,
        msg: &[u8],
        blob: &[u8],
        setup: &Smb1Setup,
    ) -> io::Result<bool> {
        match ntlm::server_step(&self.id, blob, &st.challenge) {
            Step::Challenge(token) => {
                let mut m = smb1_header(
                    msg,
                    SMB1_SESSION_SETUP_ANDX,
                    STATUS_MORE_PROCESSING_REQUIRED,
                    0xc801,
                    0x0800,
                );
                m.push(4);
                m.extend_from_slice(&[0xff, 0, 0, 0, 0, 0]);
                m.extend_from_slice(&(token.len() as u16).to_le_bytes());
                let mut data = token;
                if (m.len() + 2 + data.len()) % 2 == 1 {
                    data.push(0);
                }
                let (os, lanman) = self.native();
                data.extend_from_slice(&ntlm::utf16(os));
                data.extend_from_slice(&[0, 0]);
                data.extend_from_slice(&ntlm::utf16(lanman));
                data.extend_from_slice(&[0, 0]);
                m.extend_from_slice(&(data.len() as u16).to_le_bytes());
                m.extend_from_slice(&data);
                conn.write_all(&frame(&m)).await?;
                Ok(true)
            }
            Step::Authenticated(a) => {
                conn.emit(
                    ntlm::auth_event(&a, &st.challenge, "ntlmssp")
                        .text("native_os", &setup.native_os)
                        .text("native_lanman", &setup.native_lanman),
                );
                self.logon_failed(conn, st).await;
                let err = smb1_error(msg, SMB1_SESSION_SETUP_ANDX, STATUS_LOGON_FAILURE);
                conn.write_all(&frame(&err)).await?;
                Ok(true)
            }
            Step::Unknown => {
                conn.emit(Event::command("SMB1 SESSION_SETUP").payload(blob));
                let err = smb1_error(msg, SMB1_SESSION_SETUP_ANDX, STATUS_LOGON_FAILURE);
                conn.write_all(&frame(&err)).await?;
                Ok(false)
            }
        }
    }

    fn native(&self) -> (&'static str, &'static str) {
        if self.windows() {
            (
                "Windows Server 2019 Standard 17763",
                "Windows Server 2019 Standard 6.3",
            )
        } else {
            ("Unix", "Samba 4.15.13-Ubuntu")
        }
    }

    async fn logon_failed(&self, conn: &mut Conn, st: &mut State) {
        conn.auth_pause().await;
        st.failures += 1;
        st.challenge = ntlm::random_challenge();
    }

    async fn smb2(&self, conn: &mut Conn, st: &mut State, msg: &[u8]) -> io::Result<bool> {
        if msg.len() < 64 {
            return Ok(false);
        }
        let command = le16(msg, 12).unwrap_or(0xffff);
        let body = &msg[64..];
        let reply = match command {
            SMB2_NEGOTIATE => {
                let offered = smb2_dialects(body);
                let names: Vec<String> = offered.iter().map(|&d| dialect_name(d)).collect();
                conn.emit(Event::command("SMB2 NEGOTIATE").field("dialects", names.join(", ")));
                match DIALECTS.iter().find(|d| offered.contains(d)) {
                    Some(&d) => {
                        let mut m = smb2_header(msg, STATUS_SUCCESS, 0, 1);
                        m.extend_from_slice(&self.smb2_negotiate_body(d));
                        m
                    }
                    None => {
                        let err = smb2_error(msg, STATUS_NOT_SUPPORTED, 0);
                        conn.write_all(&frame(&err)).await?;
                        return Ok(false);
                    }
                }
            }
            SMB2_SESSION_SETUP => {
                let off = usize::from(le16(body, 12).unwrap_or(0));
                let len = usize::from(le16(body, 14).unwrap_or(0));
                let blob = msg.get(off..off.saturating_add(len)).unwrap_or_default();
                if st.session_id == 0 {
                    let mut b = [0u8; 8];
                    let _ = getrandom::getrandom(&mut b);
                    st.session_id = u64::from_le_bytes(b) | 0x0000_0400_0000_0001;
                }
                match ntlm::server_step(&self.id, blob, &st.challenge) {
                    Step::Challenge(token) => {
                        let mut m = smb2_header(
                            msg,
                            STATUS_MORE_PROCESSING_REQUIRED,
                            st.session_id,
                            credits(msg),
                        );
                        m.extend_from_slice(&9u16.to_le_bytes());
                        m.extend_from_slice(&0u16.to_le_bytes());
                        m.extend_from_slice(&72u16.to_le_bytes());
                        m.extend_from_slice(&(token.len() as u16).to_le_bytes());
                        m.extend_from_slice(&token);
                        m
                    }
                    Step::Authenticated(a) => {
                        conn.emit(ntlm::auth_event(&a, &st.challenge, "ntlmssp"));
                        self.logon_failed(conn, st).await;
                        smb2_error(msg, STATUS_LOGON_FAILURE, st.session_id)
                    }
                    Step::Unknown => {
                        conn.emit(Event::command("SMB2 SESSION_SETUP").payload(blob));
                        smb2_error(msg, STATUS_LOGON_FAILURE, st.session_id)
                    }
                }
            }
            SMB2_ECHO | SMB2_LOGOFF => {
                let mut m = smb2_header(msg, STATUS_SUCCESS, st.session_id, credits(msg));
                m.extend_from_slice(&[4, 0, 0, 0]);
                m
            }
            other => {
                conn.emit(Event::command(format!("SMB2 0x{other:04x}")).payload(body));
                smb2_error(msg, STATUS_ACCESS_DENIED, st.session_id)
            }
        };
        conn.write_all(&frame(&reply)).await?;
        Ok(true)
    }
}

impl Handler for Smb {
    async fn handle(&self, mut conn: Conn) -> io::Result<()> {
        let mut st = State {
            challenge: ntlm::random_challenge(),
            session_id: 0,
            failures: 0,
        };
        for _ in 0..MAX_MESSAGES {
            let Some((kind, msg)) = read_frame(&mut conn).await? else {
                return Ok(());
            };
            match kind {
                0x00 => {}
                // NetBIOS session request (port 139): positive response.
                0x81 => {
                    conn.write_all(&[0x82, 0, 0, 0]).await?;
                    continue;
                }
                0x85 => continue,
                _ => return Ok(()),
            }
            let go_on = if msg.starts_with(b"\xffSMB") {
                self.smb1(&mut conn, &mut st, &msg).await?
            } else if msg.starts_with(b"\xfeSMB") {
                self.smb2(&mut conn, &mut st, &msg).await?
            } else {
                conn.emit(Event::command("SMB?").payload(&msg));
                false
            };
            if !go_on || st.failures >= 10 {
                return Ok(());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::ntlm::tests::{authenticate, negotiate};
    use crate::services::testkit::{self, Client};
    use proptest::prelude::*;

    fn cfg(os: Os) -> Config {
        Config {
            os,
            ..testkit::config("fs", "fs01")
        }
    }

    async fn read_msg(c: &mut Client) -> Vec<u8> {
        let head = c.read_exact(4).await;
        assert_eq!(head[0], 0);
        let len = u32::from_be_bytes([0, head[1], head[2], head[3]]) as usize;
        c.read_exact(len).await
    }

    async fn send_msg(c: &mut Client, msg: &[u8]) {
        c.send(&frame(msg)).await;
    }

    fn smb2_request(command: u16, mid: u64, session: u64, body: &[u8]) -> Vec<u8> {
        let mut h = b"\xfeSMB".to_vec();
        h.extend_from_slice(&64u16.to_le_bytes());
        h.extend_from_slice(&1u16.to_le_bytes());
        h.extend_from_slice(&0u32.to_le_bytes());
        h.extend_from_slice(&command.to_le_bytes());
        h.extend_from_slice(&31u16.to_le_bytes());
        h.extend_from_slice(&[0; 8]);
        h.extend_from_slice(&mid.to_le_bytes());
        h.extend_from_slice(&[0; 8]);
        h.extend_from_slice(&session.to_le_bytes());
        h.extend_from_slice(&[0; 16]);
        h.extend_from_slice(body);
        h
    }

    fn negotiate_body(dialects: &[u16]) -> Vec<u8> {
        let mut b = 36u16.to_le_bytes().to_vec();
        b.extend_from_slice(&(dialects.len() as u16).to_le_bytes());
        b.extend_from_slice(&[1, 0, 0, 0]);
        b.extend_from_slice(&0x7fu32.to_le_bytes());
        b.extend_from_slice(&[0x5a; 16]);
        b.extend_from_slice(&[0; 8]);
        for d in dialects {
            b.extend_from_slice(&d.to_le_bytes());
        }
        b
    }

    fn setup_body(blob: &[u8]) -> Vec<u8> {
        let mut b = 25u16.to_le_bytes().to_vec();
        b.extend_from_slice(&[0, 1]);
        b.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0]);
        b.extend_from_slice(&88u16.to_le_bytes());
        b.extend_from_slice(&(blob.len() as u16).to_le_bytes());
        b.extend_from_slice(&[0; 8]);
        b.extend_from_slice(blob);
        b
    }

    /// SPNEGO negTokenInit carrying `token` (what smbclient and Windows send first).
    fn spnego_init(token: &[u8]) -> Vec<u8> {
        use crate::services::asn1::*;
        let mechs = tlv(0xa0, &seq(&[&tlv(0x06, ntlm::OID_NTLMSSP)]));
        let tok = tlv(0xa2, &octets(token));
        let init = tlv(0xa0, &seq(&[&mechs, &tok]));
        tlv(0x60, &[tlv(0x06, ntlm::OID_SPNEGO), init].concat())
    }

    fn nmap_probe() -> Vec<u8> {
        b"\xff\x53\x4d\x42\x72\0\0\0\0\x08\x01\x40\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x40\x06\0\0\x01\0\0\x81\0\x02PC NETWORK PROGRAM 1.0\0\x02MICROSOFT NETWORKS 1.03\0\x02MICROSOFT NETWORKS 3.0\0\x02LANMAN1.0\0\x02LM1.2X002\0\x02Samba\0\x02NT LANMAN 1.0\0\x02NT LM 0.12\0".to_vec()
    }

    #[tokio::test]
    async fn smb2_ntlmssp_logon_is_captured_and_refused() {
        let t = testkit::start("smb", cfg(Os::Linux)).await;
        let mut c = t.connect(0).await;
        send_msg(
            &mut c,
            &smb2_request(
                0,
                0,
                0,
                &negotiate_body(&[0x0202, 0x0210, 0x0300, 0x0302, 0x0311]),
            ),
        )
        .await;
        let r = read_msg(&mut c).await;
        assert_eq!(&r[..4], b"\xfeSMB");
        assert_eq!(le32(&r, 8), Some(STATUS_SUCCESS));
        assert_eq!(le16(&r, 64 + 4), Some(0x0302));
        assert!(find_oid(&r, ntlm::OID_NTLMSSP));

        send_msg(
            &mut c,
            &smb2_request(1, 1, 0, &setup_body(&spnego_init(&negotiate()))),
        )
        .await;
        let r = read_msg(&mut c).await;
        assert_eq!(le32(&r, 8), Some(STATUS_MORE_PROCESSING_REQUIRED));
        let session = le64(&r, 40).unwrap();
        assert_ne!(session, 0);
        let chal = ntlm::find(&r[72..]).expect("challenge message");
        assert_eq!(ntlm::message_type(chal), Some(2));
        let challenge: [u8; 8] = chal[24..32].try_into().unwrap();
        assert!(chal.windows(8).any(|w| w == ntlm::utf16("FS01")));

        let mut nt = vec![0xcd; 16];
        nt.extend_from_slice(&[1, 1, 0, 0, 0, 0, 0, 0, 9, 9, 9, 9]);
        let auth = authenticate("alice", "WORKGROUP", "KALI", &nt);
        send_msg(
            &mut c,
            &smb2_request(
                1,
                2,
                session,
                &setup_body(&ntlm::spnego_resp(1, Some(&auth))),
            ),
        )
        .await;
        let r = read_msg(&mut c).await;
        assert_eq!(le32(&r, 8), Some(STATUS_LOGON_FAILURE));

        let mut ev = t.events();
        let n = ev.expect("command").await;
        assert_eq!(n["command"], "SMB2 NEGOTIATE");
        assert_eq!(n["dialects"], "2.0.2, 2.1.0, 3.0.0, 3.0.2, 3.1.1");
        let a = ev.expect("auth").await;
        assert_eq!(a["username"], "alice");
        assert_eq!(a["password"], "");
        assert_eq!(a["domain"], "WORKGROUP");
        assert_eq!(a["workstation"], "KALI");
        assert_eq!(a["method"], "ntlmssp");
        assert_eq!(a["challenge"], event::hex(&challenge));
        assert_eq!(a["nt_response"], event::hex(&nt));
        assert_eq!(
            a["hashcat"],
            format!(
                "alice::WORKGROUP:{}:{}:010100000000000009090909",
                event::hex(&challenge),
                "cd".repeat(16)
            )
        );
    }

    fn find_oid(hay: &[u8], oid: &[u8]) -> bool {
        hay.windows(oid.len()).any(|w| w == oid)
    }

    #[tokio::test]
    async fn netbios_session_then_smb1_upgrades_to_smb2() {
        let t = testkit::start("smb", cfg(Os::Linux)).await;
        let mut c = t.connect(1).await;
        let mut req = vec![0x81, 0, 0, 68];
        req.extend_from_slice(&[0x20; 68]);
        c.send(&req).await;
        assert_eq!(c.read_exact(4).await, [0x82, 0, 0, 0]);
        let mut neg =
            b"\xffSMBr\0\0\0\0\x18\x53\xc8\0\0\0\0\0\0\0\0\0\0\0\0\xff\xfe\0\0\0\0\0\0\0".to_vec();
        let dialects = b"\x02NT LM 0.12\0\x02SMB 2.002\0\x02SMB 2.???\0";
        neg.extend_from_slice(&(dialects.len() as u16).to_le_bytes());
        neg.extend_from_slice(dialects);
        send_msg(&mut c, &neg).await;
        let r = read_msg(&mut c).await;
        assert_eq!(&r[..4], b"\xfeSMB");
        assert_eq!(le16(&r, 64 + 4), Some(0x02ff));
    }

    #[tokio::test]
    async fn smb1_only_scanners_get_samba_or_windows_negotiation() {
        for (os, index, caps) in [
            (Os::Linux, 6u16, 0x0000_f3fdu32),
            (Os::Windows, 7, 0x0001_e3fc),
        ] {
            let t = testkit::start("smb", cfg(os)).await;
            let mut c = t.connect(0).await;
            send_msg(&mut c, &nmap_probe()).await;
            let r = read_msg(&mut c).await;
            assert_eq!(&r[..5], b"\xffSMBr");
            assert_eq!(r[32], 17);
            assert_eq!(le16(&r, 33), Some(index));
            assert_eq!(le32(&r, 52), Some(caps));
            assert_eq!(r[66], 8);
            let text = ntlm::from_utf16(&r[77..], 64);
            assert!(text.starts_with("WORKGROUP\0FS01\0"), "{text:?}");
        }
    }

    #[tokio::test]
    async fn smb1_extended_security_clients_get_spnego() {
        let t = testkit::start("smb", cfg(Os::Linux)).await;
        let mut c = t.connect(0).await;
        let mut probe = nmap_probe();
        probe[11] |= 0x08; // flags2: extended security
        send_msg(&mut c, &probe).await;
        let r = read_msg(&mut c).await;
        assert_eq!(le32(&r, 52).unwrap() & 0x8000_0000, 0x8000_0000);
        assert_eq!(r[66], 0);
        assert!(find_oid(&r[69..], ntlm::OID_NTLMSSP));
    }

    /// SESSION_SETUP_ANDX without extended security, as hydra and old clients send it.
    fn smb1_setup(user: &str, lm: &[u8], nt: &[u8]) -> Vec<u8> {
        let mut m =
            b"\xffSMBs\0\0\0\0\x18\x01\xc0\0\0\0\0\0\0\0\0\0\0\0\0\xff\xfe\0\0\0\0\x02\0".to_vec();
        m.push(13);
        m.extend_from_slice(&[0xff, 0, 0, 0]);
        m.extend_from_slice(&[0xff, 0xff, 2, 0, 0, 0, 0, 0, 0, 0]);
        m.extend_from_slice(&(lm.len() as u16).to_le_bytes());
        m.extend_from_slice(&(nt.len() as u16).to_le_bytes());
        m.extend_from_slice(&[0; 4]);
        m.extend_from_slice(&0xd4u32.to_le_bytes());
        let mut data = lm.to_vec();
        data.extend_from_slice(nt);
        if (m.len() + 2 + data.len()) % 2 == 1 {
            data.push(0);
        }
        for s in [user, "WORKGROUP", "Unix", "Samba"] {
            data.extend_from_slice(&ntlm::utf16(s));
            data.extend_from_slice(&[0, 0]);
        }
        m.extend_from_slice(&(data.len() as u16).to_le_bytes());
        m.extend_from_slice(&data);
        m
    }

    #[tokio::test]
    async fn smb1_ntlm_responses_are_captured() {
        let t = testkit::start("smb", cfg(Os::Linux)).await;
        let mut c = t.connect(0).await;
        send_msg(&mut c, &nmap_probe()).await;
        let r = read_msg(&mut c).await;
        let challenge = r[69..77].to_vec();
        send_msg(
            &mut c,
            &smb1_setup("administrator", &[0x11; 24], &[0x22; 24]),
        )
        .await;
        let r = read_msg(&mut c).await;
        assert_eq!(le32(&r, 5), Some(STATUS_LOGON_FAILURE));
        let a = t.events().expect("auth").await;
        assert_eq!(a["username"], "administrator");
        assert_eq!(a["domain"], "WORKGROUP");
        assert_eq!(a["method"], "ntlm");
        assert_eq!(a["native_os"], "Unix");
        assert_eq!(a["challenge"], event::hex(&challenge));
        assert_eq!(
            a["hashcat"],
            format!(
                "administrator::WORKGROUP:{}:{}:{}",
                "11".repeat(24),
                "22".repeat(24),
                event::hex(&challenge)
            )
        );

        // A cleartext password in the OEM field.
        send_msg(&mut c, &smb1_setup("guest", b"letmein\0", &[])).await;
        read_msg(&mut c).await;
        let a = t.events().expect("auth").await;
        assert_eq!(a["username"], "guest");
        assert_eq!(a["password"], "letmein");
        assert_eq!(a["method"], "plaintext");
    }

    #[test]
    fn dialect_lists_parse() {
        assert_eq!(
            smb1_dialects(b"\x02NT LM 0.12\0\x02SMB 2.???\0junk"),
            ["NT LM 0.12", "SMB 2.???"]
        );
        assert_eq!(
            smb2_dialects(&negotiate_body(&[0x202, 0x311])),
            [0x202, 0x311]
        );
        let mut lying = negotiate_body(&[0x202]);
        lying[2] = 0xff;
        assert_eq!(smb2_dialects(&lying), [0x202]);
    }

    proptest! {
        #[test]
        fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = smb1_dialects(&bytes);
            prop_assert!(smb2_dialects(&bytes).len() <= MAX_DIALECTS);
            let _ = parse_smb1_setup(&bytes);
            let mut m = smb1_setup("u", &[1; 24], &[2; 40]);
            let _ = parse_smb1_setup(&m);
            for (i, b) in bytes.iter().enumerate().take(40) {
                let at = (i * 7) % m.len();
                m[at] = *b;
                let _ = parse_smb1_setup(&m);
            }
        }
    }
}
