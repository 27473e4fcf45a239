//! `rdp`: RDP as a Windows host with Network Level Authentication answers it, up to the
//! failed logon. The X.224 connection request/confirm (MS-RDPBCGR 2.2.1.1-2) captures the
//! `mstshash` cookie (the username most clients and brute-forcers send) and honours the
//! requested protocols: CredSSP when offered (persona `nla`, default on), else plain TLS
//! (`nla` off), and the negotiation failure a modern Windows host sends to clients that
//! offer only standard RDP security. Under TLS, CredSSP (MS-CSSP): the client's NTLM
//! NEGOTIATE gets a CHALLENGE naming the decky, its AUTHENTICATE is reported like smb's
//! (user, domain, workstation, NTLMv2 response, `hashcat` line) and answered with
//! STATUS_LOGON_FAILURE. No session ever starts.

use std::io;

use tokio_rustls::TlsAcceptor;

use crate::config::Config;
use crate::event::Event;
use crate::limits::Conn;
use crate::limits::Handler;

use super::asn1;
use super::ntlm::{self, Identity, Step};
use super::starttls;

const PROTOCOL_RDP: u32 = 0;
const PROTOCOL_SSL: u32 = 1;
const PROTOCOL_HYBRID: u32 = 2;
const PROTOCOL_HYBRID_EX: u32 = 8;
/// RDP_NEG_FAILURE codes: the server insists on TLS, or on NLA.
const SSL_REQUIRED_BY_SERVER: u32 = 1;
const HYBRID_REQUIRED_BY_SERVER: u32 = 5;
/// Largest TPKT we accept for the connection request.
const MAX_TPKT: usize = 1024;
/// Largest TSRequest we read (an AUTHENTICATE with its NTLMv2 blob is ~1-2 KiB).
pub const MAX_TSREQUEST: usize = 16 * 1024;
/// TSRequests read per connection (NEGOTIATE, a SPNEGO mech switch, AUTHENTICATE).
const MAX_ROUNDS: usize = 4;
/// The CredSSP version Windows 10 / Server 2016 and later speak.
const CREDSSP_VERSION: i64 = 6;
/// NTSTATUS of a wrong user name or password.
const STATUS_LOGON_FAILURE: u32 = 0xC000_006D;

pub struct Rdp {
    nla: bool,
    tls: Option<TlsAcceptor>,
    id: Identity,
}

impl Rdp {
    pub fn new(cfg: &Config) -> Self {
        let nla = match cfg.persona.get("nla") {
            Some(serde_json::Value::Bool(b)) => *b,
            Some(serde_json::Value::String(s)) => {
                !matches!(s.as_str(), "false" | "no" | "off" | "0")
            }
            _ => true,
        };
        let tls = match crate::tls::acceptor(cfg.hostname(), &[]) {
            Ok(a) => Some(a),
            Err(e) => {
                eprintln!("decnet-decoy: rdp: TLS unavailable ({e}); offering standard RDP only");
                None
            }
        };
        Rdp {
            nla,
            tls,
            id: Identity::from_config(cfg),
        }
    }
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct ConnectionRequest {
    pub cookie: Option<Vec<u8>>,
    pub requested: Option<u32>,
}

/// The X.224 Connection Request TPDU (after the 4-byte TPKT header).
pub fn parse_request(tpdu: &[u8]) -> Option<ConnectionRequest> {
    let li = usize::from(*tpdu.first()?);
    if tpdu.get(1)? & 0xf0 != 0xe0 || li < 6 {
        return None;
    }
    let mut rest = tpdu.get(7..li + 1)?;
    let mut req = ConnectionRequest::default();
    if let Some(line_end) = rest.windows(2).position(|w| w == b"\r\n") {
        let line = rest.get(..line_end)?;
        if let Some(value) = line.strip_prefix(b"Cookie: mstshash=") {
            req.cookie = Some(value.to_vec());
        }
        rest = rest.get(line_end + 2..)?;
    }
    if let [0x01, _, _, _, a, b, c, d, ..] = *rest {
        req.requested = Some(u32::from_le_bytes([a, b, c, d]));
    }
    Some(req)
}

/// What the server answers to a connection request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Negotiation {
    /// RDP_NEG_RSP selecting this protocol.
    Select(u32),
    /// RDP_NEG_FAILURE with this code.
    Fail(u32),
    /// A bare connection confirm: standard RDP security for a client that did not negotiate.
    Legacy,
}

impl Negotiation {
    fn name(self) -> &'static str {
        match self {
            Negotiation::Select(PROTOCOL_RDP) => "PROTOCOL_RDP",
            Negotiation::Select(PROTOCOL_SSL) => "PROTOCOL_SSL",
            Negotiation::Select(PROTOCOL_HYBRID) => "PROTOCOL_HYBRID",
            Negotiation::Select(PROTOCOL_HYBRID_EX) => "PROTOCOL_HYBRID_EX",
            Negotiation::Fail(SSL_REQUIRED_BY_SERVER) => "SSL_REQUIRED_BY_SERVER",
            Negotiation::Fail(HYBRID_REQUIRED_BY_SERVER) => "HYBRID_REQUIRED_BY_SERVER",
            Negotiation::Legacy => "PROTOCOL_RDP",
            _ => "other",
        }
    }
}

/// Windows' choice: CredSSP when NLA is on and offered, TLS when NLA is off; a client that
/// offers neither is told what the server requires. Without NLA, a client that sends no
/// negotiation request at all (pre-RDP 5.2, scanners) gets the bare confirm of the
/// "Negotiate" security layer, as such a host answers it.
pub fn negotiate(nla: bool, requested: Option<u32>) -> Negotiation {
    let Some(offered) = requested else {
        return if nla {
            Negotiation::Fail(HYBRID_REQUIRED_BY_SERVER)
        } else {
            Negotiation::Legacy
        };
    };
    if nla {
        if offered & PROTOCOL_HYBRID != 0 {
            Negotiation::Select(PROTOCOL_HYBRID)
        } else if offered & PROTOCOL_HYBRID_EX != 0 {
            Negotiation::Select(PROTOCOL_HYBRID_EX)
        } else {
            Negotiation::Fail(HYBRID_REQUIRED_BY_SERVER)
        }
    } else if offered & PROTOCOL_SSL != 0 {
        Negotiation::Select(PROTOCOL_SSL)
    } else {
        Negotiation::Fail(SSL_REQUIRED_BY_SERVER)
    }
}

/// X.224 Connection Confirm without negotiation data (source reference 0x1234, as Windows).
const BARE_CONFIRM: [u8; 11] = [
    0x03, 0x00, 0x00, 0x0b, 0x06, 0xd0, 0x00, 0x00, 0x12, 0x34, 0x00,
];

/// X.224 Connection Confirm carrying an RDP_NEG_RSP (or RDP_NEG_FAILURE).
fn confirm(neg_type: u8, flags: u8, value: u32) -> Vec<u8> {
    let mut out = vec![
        0x03, 0x00, 0x00, 0x13, 0x0e, 0xd0, 0x00, 0x00, 0x12, 0x34, 0x00,
    ];
    out.extend_from_slice(&[neg_type, flags, 0x08, 0x00]);
    out.extend_from_slice(&value.to_le_bytes());
    out
}

/// The fields of a TSRequest (MS-CSSP 2.2.1) we look at.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct TsRequest<'a> {
    pub version: i64,
    /// The first negoToken (SPNEGO or raw NTLMSSP).
    pub nego_token: Option<&'a [u8]>,
    pub auth_info: bool,
    pub pub_key_auth: bool,
    pub error_code: Option<i64>,
}

/// A TSRequest: `SEQUENCE { [0] version, [1] negoTokens, [2] authInfo, [3] pubKeyAuth,
/// [4] errorCode, [5] clientNonce }`. The structure is fixed, so nesting is at most five
/// deep and nothing recurses; every length is checked by [`asn1::Reader`].
pub fn parse_tsrequest(buf: &[u8]) -> Option<TsRequest<'_>> {
    let outer = asn1::Reader::new(buf).expect(0x30)?;
    let mut fields = outer.reader();
    let mut version = None;
    let mut req = TsRequest::default();
    // Each element takes at least two bytes, so this ends; the cap only documents it.
    for _ in 0..16 {
        let Some(t) = fields.next() else { break };
        match t.tag {
            0xa0 => version = Some(t.reader().expect(0x02)?.int()?),
            0xa1 => {
                let list = t.reader().expect(0x30)?;
                let item = list.reader().expect(0x30)?;
                let token = item.reader().expect(0xa0)?.reader().expect(0x04)?;
                req.nego_token = Some(token.content);
            }
            0xa2 => req.auth_info = true,
            0xa3 => req.pub_key_auth = true,
            0xa4 => req.error_code = Some(t.reader().expect(0x02)?.int()?),
            _ => {}
        }
    }
    req.version = version?;
    Some(req)
}

/// An INTEGER of a 32-bit signed value (NTSTATUS codes are negative), minimal form.
fn int32(v: i32) -> Vec<u8> {
    let b = v.to_be_bytes();
    let mut skip = 0;
    while skip < 3 {
        let (hi, next) = (b[skip], b[skip + 1]);
        if (hi == 0 && next & 0x80 == 0) || (hi == 0xff && next & 0x80 != 0) {
            skip += 1;
        } else {
            break;
        }
    }
    asn1::tlv(0x02, &b[skip..])
}

/// A TSRequest carrying `token` and/or `error` (an NTSTATUS).
pub fn ts_request(version: i64, token: Option<&[u8]>, error: Option<u32>) -> Vec<u8> {
    let mut parts = vec![asn1::tlv(0xa0, &asn1::integer(version.max(0) as u64))];
    if let Some(t) = token {
        let item = asn1::seq(&[&asn1::tlv(0xa0, &asn1::octets(t))]);
        parts.push(asn1::tlv(0xa1, &asn1::seq(&[&item])));
    }
    if let Some(e) = error {
        parts.push(asn1::tlv(0xa4, &int32(e as i32)));
    }
    let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    asn1::seq(&refs)
}

/// The next TSRequest, whole (header and content); `None` when the peer closed or sent
/// something that is not a DER SEQUENCE of at most [`MAX_TSREQUEST`] bytes (reported).
pub async fn read_tsrequest(conn: &mut Conn) -> io::Result<Option<Vec<u8>>> {
    let mut head = Vec::with_capacity(6);
    for _ in 0..2 {
        match conn.read_u8().await {
            Ok(b) => head.push(b),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        }
    }
    let extra = match head[1] {
        n @ 0x81..=0x84 => usize::from(n & 0x7f),
        _ => 0,
    };
    for _ in 0..extra {
        head.push(conn.read_u8().await?);
    }
    let len = match asn1::header(&head) {
        Some((0x30, _, len)) if len <= MAX_TSREQUEST => len,
        _ => {
            conn.emit(Event::command("CredSSP").payload(&head));
            return Ok(None);
        }
    };
    let body = conn.read_exact(len).await?;
    head.extend_from_slice(&body);
    Ok(Some(head))
}

/// A SPNEGO negTokenInit that lists NTLMSSP among its mechanisms but carries another
/// mechanism's optimistic token (Kerberos, NegoEx): the server picks NTLM without a token.
fn offers_ntlm(token: &[u8]) -> bool {
    token.first() == Some(&0x60)
        && token
            .windows(ntlm::OID_NTLMSSP.len())
            .any(|w| w == ntlm::OID_NTLMSSP)
}

impl Rdp {
    /// CredSSP over the TLS stream, up to the failed logon.
    async fn credssp(&self, conn: &mut Conn) -> io::Result<()> {
        let challenge = ntlm::random_challenge();
        for _ in 0..MAX_ROUNDS {
            let Some(raw) = read_tsrequest(conn).await? else {
                return Ok(());
            };
            let Some(req) = parse_tsrequest(&raw) else {
                conn.emit(Event::command("CredSSP").payload(&raw));
                return Ok(());
            };
            // Each side speaks the lower of both versions.
            let version = req.version.clamp(2, CREDSSP_VERSION);
            let Some(token) = req.nego_token else {
                conn.emit(Event::command("CredSSP TSRequest").payload(&raw));
                return Ok(());
            };
            match ntlm::server_step(&self.id, token, &challenge) {
                Step::Challenge(reply) => {
                    conn.write_all(&ts_request(version, Some(&reply), None))
                        .await?;
                }
                Step::Authenticated(a) => {
                    conn.emit(
                        ntlm::auth_event(&a, &challenge, "ntlmssp")
                            .field("credssp_version", req.version),
                    );
                    conn.auth_pause().await;
                    if req.version >= 3 {
                        let failed = ts_request(version, None, Some(STATUS_LOGON_FAILURE));
                        conn.write_all(&failed).await?;
                    }
                    conn.shutdown().await;
                    return Ok(());
                }
                Step::Unknown if offers_ntlm(token) => {
                    let switch = ntlm::spnego_resp(1, None);
                    conn.write_all(&ts_request(version, Some(&switch), None))
                        .await?;
                }
                Step::Unknown => {
                    conn.emit(Event::command("CredSSP negoToken").payload(token));
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}

impl Handler for Rdp {
    async fn handle(&self, mut conn: Conn) -> io::Result<()> {
        let head = conn.read_exact(4).await?;
        let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
        if head[0] != 0x03 || !(11..=MAX_TPKT).contains(&len) {
            return Ok(());
        }
        let tpdu = conn.read_exact(len - 4).await?;
        let Some(req) = parse_request(&tpdu) else {
            conn.emit(Event::command("X.224").payload(&tpdu));
            return Ok(());
        };
        let requested = req.requested.unwrap_or(PROTOCOL_RDP);
        let decision = match &self.tls {
            Some(_) => negotiate(self.nla, req.requested),
            None if req.requested.is_some() => Negotiation::Select(PROTOCOL_RDP),
            None => Negotiation::Legacy,
        };
        let mut ev = match &req.cookie {
            Some(user) => Event::auth(user, "").field("method", "mstshash"),
            None => Event::command("X.224 Connection Request"),
        };
        ev = ev
            .field("requested_protocols", u64::from(requested))
            .field("negotiation", decision.name());
        conn.emit(ev);

        let (Some(acceptor), Negotiation::Select(selected)) = (&self.tls, decision) else {
            if let Negotiation::Fail(code) = decision {
                conn.write_all(&confirm(0x03, 0x00, code)).await?;
            } else if decision == Negotiation::Legacy {
                // The client's MCS Connect Initial would come next: the show ends here.
                conn.write_all(&BARE_CONFIRM).await?;
                let _ = conn.read_some().await;
            } else {
                // No TLS on this CPU: standard RDP security would need the full MCS/GCC
                // exchange; the confirm is all a scanner gets.
                conn.write_all(&confirm(0x02, 0x00, PROTOCOL_RDP)).await?;
            }
            return Ok(());
        };
        // Flags as Windows Server sends them (extended client data, graphics pipeline, ...).
        conn.write_all(&confirm(0x02, 0x1f, selected)).await?;
        let mut conn = starttls::upgrade(conn, acceptor).await?;
        if selected == PROTOCOL_SSL {
            // The client's MCS Connect Initial would come next: the show ends here.
            let _ = conn.read_some().await;
            return Ok(());
        }
        self.credssp(&mut conn).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event;
    use crate::limits::Session;
    use crate::services::ntlm::tests::{authenticate, negotiate as ntlm_negotiate};
    use crate::services::testkit;
    use proptest::prelude::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn request(cookie: &str, protocols: u32) -> Vec<u8> {
        let mut tpdu = vec![0, 0xe0, 0, 0, 0, 0, 0];
        tpdu.extend_from_slice(format!("Cookie: mstshash={cookie}\r\n").as_bytes());
        tpdu.extend_from_slice(&[0x01, 0x00, 0x08, 0x00]);
        tpdu.extend_from_slice(&protocols.to_le_bytes());
        tpdu[0] = (tpdu.len() - 1) as u8;
        let mut out = vec![0x03, 0x00];
        out.extend_from_slice(&((tpdu.len() + 4) as u16).to_be_bytes());
        out.extend_from_slice(&tpdu);
        out
    }

    fn cfg(persona: &str) -> Config {
        Config::from_lookup(|k| match k {
            "DECNET_DECKY" => Some("ts".to_owned()),
            "DECNET_HOSTNAME" => Some("ts01.corp.local".to_owned()),
            "DECNET_PERSONA" => Some(persona.to_owned()),
            _ => None,
        })
        .0
    }

    /// One DER TSRequest from the server.
    async fn read_ts<S: AsyncReadExt + Unpin>(s: &mut S) -> Vec<u8> {
        let wait = std::time::Duration::from_secs(10);
        let mut head = vec![0u8; 2];
        tokio::time::timeout(wait, s.read_exact(&mut head))
            .await
            .expect("TSRequest in time")
            .expect("TSRequest");
        assert_eq!(head[0], 0x30);
        if head[1] & 0x80 != 0 {
            let mut more = vec![0u8; usize::from(head[1] & 0x7f)];
            s.read_exact(&mut more).await.unwrap();
            head.extend_from_slice(&more);
        }
        let (_, _, len) = asn1::header(&head).unwrap();
        let mut body = vec![0u8; len];
        s.read_exact(&mut body).await.unwrap();
        head.extend_from_slice(&body);
        head
    }

    #[test]
    fn connection_requests_parse() {
        let r = request("administrator", 3);
        let req = parse_request(&r[4..]).unwrap();
        assert_eq!(req.cookie.as_deref(), Some(&b"administrator"[..]));
        assert_eq!(req.requested, Some(3));
        assert!(parse_request(&[0x06, 0xd0, 0, 0, 0, 0, 0]).is_none());
        assert!(parse_request(&[0x40, 0xe0, 0, 0, 0, 0, 0]).is_none());
    }

    #[test]
    fn negotiation_follows_windows() {
        use Negotiation::*;
        assert_eq!(negotiate(true, Some(0xb)), Select(PROTOCOL_HYBRID));
        assert_eq!(negotiate(true, Some(8)), Select(PROTOCOL_HYBRID_EX));
        assert_eq!(negotiate(true, Some(1)), Fail(HYBRID_REQUIRED_BY_SERVER));
        assert_eq!(negotiate(true, None), Fail(HYBRID_REQUIRED_BY_SERVER));
        assert_eq!(negotiate(false, Some(3)), Select(PROTOCOL_SSL));
        assert_eq!(negotiate(false, Some(0)), Fail(SSL_REQUIRED_BY_SERVER));
        assert_eq!(negotiate(false, None), Legacy);
    }

    #[test]
    fn tsrequests_round_trip() {
        let m = ts_request(6, Some(b"NTLMSSP\0abc"), None);
        let r = parse_tsrequest(&m).unwrap();
        assert_eq!(r.version, 6);
        assert_eq!(r.nego_token, Some(&b"NTLMSSP\0abc"[..]));
        let m = ts_request(6, None, Some(STATUS_LOGON_FAILURE));
        // errorCode as Windows encodes it: a 4-byte (negative) INTEGER.
        assert!(m.ends_with(&[0xa4, 0x06, 0x02, 0x04, 0xc0, 0x00, 0x00, 0x6d]));
        let r = parse_tsrequest(&m).unwrap();
        assert_eq!(r.error_code, Some(i64::from(STATUS_LOGON_FAILURE as i32)));
        assert_eq!(int32(5), [2, 1, 5]);
        assert_eq!(int32(-1), [2, 1, 0xff]);
        assert_eq!(int32(0x80), [2, 2, 0, 0x80]);
        assert!(parse_tsrequest(b"\x30\x03\xa1\x01\x00").is_none());
    }

    #[tokio::test]
    async fn oversized_tsrequests_are_refused_before_reading() {
        let (mut client, server) = tokio::io::duplex(1024);
        let (emitter, mut rx) = crate::event::Emitter::channel("t");
        let session = Session::new("rdp", "127.0.0.1:1".parse().unwrap(), emitter);
        let mut conn = Conn::new(Box::new(server), session, testkit::test_limits());
        client.write_all(b"\x30\x84\x7f\xff\xff\xff").await.unwrap();
        assert_eq!(read_tsrequest(&mut conn).await.unwrap(), None);
        assert_eq!(rx.recv().await.unwrap()["command"], "CredSSP");
        client.write_all(b"\x04\x00").await.unwrap();
        assert_eq!(read_tsrequest(&mut conn).await.unwrap(), None);
        client.write_all(b"\x30\x03\xa0\x01\x06").await.unwrap();
        let r = read_tsrequest(&mut conn).await.unwrap().unwrap();
        assert_eq!(r, b"\x30\x03\xa0\x01\x06");
        drop(client);
        assert_eq!(read_tsrequest(&mut conn).await.unwrap(), None);
    }

    #[tokio::test]
    async fn nla_logon_is_captured_and_refused() {
        let t = testkit::start("rdp", cfg("{}")).await;
        let mut c = t.connect(0).await;
        c.send(&request(
            "alice",
            PROTOCOL_SSL | PROTOCOL_HYBRID | PROTOCOL_HYBRID_EX,
        ))
        .await;
        let cc = c.read_exact(19).await;
        assert_eq!(
            cc[..11],
            [0x03, 0x00, 0x00, 0x13, 0x0e, 0xd0, 0x00, 0x00, 0x12, 0x34, 0x00]
        );
        assert_eq!(cc[11], 0x02);
        assert_eq!(cc[15..], PROTOCOL_HYBRID.to_le_bytes());

        let mut tls = testkit::tls_over(c.stream, "ts01.corp.local").await;
        tls.write_all(&ts_request(6, Some(&ntlm_negotiate()), None))
            .await
            .unwrap();
        let r = read_ts(&mut tls).await;
        let r = parse_tsrequest(&r).expect("challenge TSRequest parses");
        assert_eq!(r.version, 6);
        let chal = r.nego_token.expect("negoToken");
        assert_eq!(ntlm::message_type(chal), Some(2));
        let challenge: [u8; 8] = chal[24..32].try_into().unwrap();
        assert!(chal.windows(8).any(|w| w == ntlm::utf16("TS01")));
        assert!(chal.windows(8).any(|w| w == ntlm::utf16("CORP")));
        let fqdn = ntlm::utf16("ts01.corp.local");
        assert!(chal.windows(fqdn.len()).any(|w| w == fqdn));

        let mut nt = vec![0xab; 16];
        nt.extend_from_slice(&[1, 1, 0, 0, 0, 0, 0, 0, 7, 7, 7, 7]);
        let auth = authenticate("alice", "CORP", "KALI", &nt);
        let mut m = ts_request(6, Some(&auth), None);
        // pubKeyAuth and clientNonce follow, as a real client sends them.
        let extra = [
            asn1::tlv(0xa3, &asn1::octets(&[0x55; 48])),
            asn1::tlv(0xa5, &asn1::octets(&[0x66; 32])),
        ]
        .concat();
        let (_, header_len, _) = asn1::header(&m).unwrap();
        let mut body = m[header_len..].to_vec();
        body.extend_from_slice(&extra);
        m = asn1::tlv(0x30, &body);
        tls.write_all(&m).await.unwrap();
        let r = read_ts(&mut tls).await;
        let r = parse_tsrequest(&r).unwrap();
        assert_eq!(r.error_code, Some(i64::from(STATUS_LOGON_FAILURE as i32)));
        assert_eq!(r.nego_token, None);
        let mut rest = Vec::new();
        let _ = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            tls.read_to_end(&mut rest),
        )
        .await
        .expect("closed in time");
        assert!(rest.is_empty());

        let mut ev = t.events();
        let x = ev.expect("auth").await;
        assert_eq!(x["method"], "mstshash");
        assert_eq!(x["requested_protocols"], 11);
        assert_eq!(x["negotiation"], "PROTOCOL_HYBRID");
        let a = ev.expect("auth").await;
        assert_eq!(a["method"], "ntlmssp");
        assert_eq!(a["username"], "alice");
        assert_eq!(a["password"], "");
        assert_eq!(a["domain"], "CORP");
        assert_eq!(a["workstation"], "KALI");
        assert_eq!(a["credssp_version"], 6);
        assert_eq!(a["challenge"], event::hex(&challenge));
        assert_eq!(a["nt_response"], event::hex(&nt));
        assert_eq!(
            a["hashcat"],
            format!(
                "alice::CORP:{}:{}:010100000000000007070707",
                event::hex(&challenge),
                "ab".repeat(16)
            )
        );
    }

    #[tokio::test]
    async fn spnego_without_ntlm_token_gets_a_mech_switch() {
        let t = testkit::start("rdp", cfg("{}")).await;
        let mut c = t.connect(0).await;
        c.send(&request("x", PROTOCOL_HYBRID)).await;
        c.read_exact(19).await;
        let mut tls = testkit::tls_over(c.stream, "ts01").await;
        // negTokenInit listing Kerberos and NTLM, with a (fake) Kerberos token.
        let krb = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02];
        let mechs = asn1::tlv(
            0xa0,
            &asn1::seq(&[&asn1::tlv(0x06, &krb), &asn1::tlv(0x06, ntlm::OID_NTLMSSP)]),
        );
        let init = asn1::tlv(
            0xa0,
            &asn1::seq(&[&mechs, &asn1::tlv(0xa2, &asn1::octets(b"krb5 ap-req"))]),
        );
        let spnego = asn1::tlv(0x60, &[asn1::tlv(0x06, ntlm::OID_SPNEGO), init].concat());
        tls.write_all(&ts_request(6, Some(&spnego), None))
            .await
            .unwrap();
        let r = read_ts(&mut tls).await;
        let tok = parse_tsrequest(&r).unwrap().nego_token.unwrap().to_vec();
        assert_eq!(tok, ntlm::spnego_resp(1, None));
        // Then NTLM inside SPNEGO, answered inside SPNEGO.
        let neg = ntlm::spnego_resp(1, Some(&ntlm_negotiate()));
        tls.write_all(&ts_request(6, Some(&neg), None))
            .await
            .unwrap();
        let r = read_ts(&mut tls).await;
        let tok = parse_tsrequest(&r).unwrap().nego_token.unwrap().to_vec();
        assert_eq!(tok.first(), Some(&0xa1));
        assert_eq!(ntlm::find(&tok).and_then(ntlm::message_type), Some(2));
    }

    #[tokio::test]
    async fn without_nla_tls_is_selected() {
        let t = testkit::start("rdp", cfg(r#"{"nla":false}"#)).await;
        let mut c = t.connect(0).await;
        c.send(&request("bob", PROTOCOL_SSL | PROTOCOL_HYBRID))
            .await;
        let cc = c.read_exact(19).await;
        assert_eq!(cc[11], 0x02);
        assert_eq!(cc[15..], PROTOCOL_SSL.to_le_bytes());
        let mut tls = testkit::tls_over(c.stream, "ts01").await;
        tls.write_all(b"\x03\x00\x00\x08\x02\xf0\x80\x7f")
            .await
            .unwrap();
        let mut rest = Vec::new();
        let _ = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            tls.read_to_end(&mut rest),
        )
        .await
        .expect("closed in time");
        let a = t.events().expect("auth").await;
        assert_eq!(a["username"], "bob");
        assert_eq!(a["negotiation"], "PROTOCOL_SSL");
    }

    #[tokio::test]
    async fn standard_rdp_security_is_refused_as_windows_does() {
        for (persona, code, name) in [
            ("{}", HYBRID_REQUIRED_BY_SERVER, "HYBRID_REQUIRED_BY_SERVER"),
            (
                r#"{"nla":"off"}"#,
                SSL_REQUIRED_BY_SERVER,
                "SSL_REQUIRED_BY_SERVER",
            ),
        ] {
            let t = testkit::start("rdp", cfg(persona)).await;
            let mut c = t.connect(0).await;
            c.send(&request("admin", PROTOCOL_RDP)).await;
            let cc = c.read_exact(19).await;
            assert_eq!(cc[11], 0x03, "RDP_NEG_FAILURE");
            assert_eq!(cc[15..], code.to_le_bytes());
            assert!(c.read_to_close().await.is_empty());
            let a = t.events().expect("auth").await;
            assert_eq!(a["username"], "admin");
            assert_eq!(a["requested_protocols"], 0);
            assert_eq!(a["negotiation"], name);
        }
    }

    #[tokio::test]
    async fn clients_that_do_not_negotiate_get_a_bare_confirm_without_nla() {
        let t = testkit::start("rdp", cfg(r#"{"nla":false}"#)).await;
        let mut c = t.connect(0).await;
        c.send(b"\x03\0\0\x0b\x06\xe0\0\0\0\0\0").await;
        assert_eq!(c.read_exact(11).await, BARE_CONFIRM);
        let e = t.events().expect("command").await;
        assert_eq!(e["negotiation"], "PROTOCOL_RDP");
        let t = testkit::start("rdp", cfg("{}")).await;
        let mut c = t.connect(0).await;
        c.send(b"\x03\0\0\x0b\x06\xe0\0\0\0\0\0").await;
        let cc = c.read_exact(19).await;
        assert_eq!(cc[11], 0x03);
        assert_eq!(cc[15..], HYBRID_REQUIRED_BY_SERVER.to_le_bytes());
    }

    proptest! {
        #[test]
        fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = parse_request(&bytes);
            if let Some(r) = parse_tsrequest(&bytes) {
                prop_assert!(r.nego_token.map_or(0, <[u8]>::len) <= bytes.len());
            }
            // Garbage inside a well-formed frame, and a valid request corrupted.
            let _ = parse_tsrequest(&asn1::tlv(0x30, &bytes));
            let mut m = ts_request(6, Some(&ntlm_negotiate()), Some(1));
            for (i, b) in bytes.iter().enumerate().take(64) {
                let at = (i * 7) % m.len();
                m[at] = *b;
                let _ = parse_tsrequest(&m);
            }
            let _ = offers_ntlm(&bytes);
        }
    }
}
