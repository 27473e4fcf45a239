//! `rdp`: the X.224 connection request/confirm of RDP (MS-RDPBCGR 2.2.1.1-2). The
//! `mstshash` cookie (the username most clients and brute-forcers send) is captured; TLS
//! or NLA (persona `nla`, default on) is selected as Windows does and the TLS handshake
//! completed with a certificate for the hostname, after which the connection is closed.

use std::io;

use tokio_rustls::TlsAcceptor;

use crate::config::Config;
use crate::event::Event;
use crate::limits::{Conn, Handler};

const PROTOCOL_RDP: u32 = 0;
const PROTOCOL_SSL: u32 = 1;
const PROTOCOL_HYBRID: u32 = 2;
/// RDP_NEG_FAILURE code when the server insists on NLA.
const HYBRID_REQUIRED_BY_SERVER: u32 = 5;
/// Largest TPKT we accept for the connection request.
const MAX_TPKT: usize = 1024;

pub struct Rdp {
    nla: bool,
    tls: Option<TlsAcceptor>,
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
        Rdp { nla, tls }
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
    if tpdu.get(1)? & 0xf0 != 0xe0 || li + 1 > tpdu.len() || li < 6 {
        return None;
    }
    let mut rest = &tpdu[7..li + 1];
    let mut req = ConnectionRequest::default();
    if let Some(line_end) = rest.windows(2).position(|w| w == b"\r\n") {
        let line = &rest[..line_end];
        if let Some(value) = line.strip_prefix(b"Cookie: mstshash=") {
            req.cookie = Some(value.to_vec());
        }
        rest = &rest[line_end + 2..];
    }
    if rest.len() >= 8 && rest[0] == 0x01 {
        req.requested = Some(u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]));
    }
    Some(req)
}

/// X.224 Connection Confirm carrying an RDP_NEG_RSP (or RDP_NEG_FAILURE).
fn confirm(neg_type: u8, flags: u8, value: u32) -> Vec<u8> {
    let mut out = vec![
        0x03, 0x00, 0x00, 0x13, 0x0e, 0xd0, 0x00, 0x00, 0x12, 0x34, 0x00,
    ];
    out.extend_from_slice(&[neg_type, flags, 0x08, 0x00]);
    out.extend_from_slice(&value.to_le_bytes());
    out
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
        let mut ev = match &req.cookie {
            Some(user) => Event::auth(user, "").field("method", "mstshash"),
            None => Event::command("X.224 Connection Request"),
        };
        ev = ev.field("requested_protocols", u64::from(requested));
        conn.emit(ev);

        let Some(acceptor) = &self.tls else {
            if req.requested.is_some() {
                conn.write_all(&confirm(0x02, 0x00, PROTOCOL_RDP)).await?;
            }
            return Ok(());
        };
        let selected = if self.nla && requested & PROTOCOL_HYBRID != 0 {
            PROTOCOL_HYBRID
        } else if !self.nla && requested & PROTOCOL_SSL != 0 {
            PROTOCOL_SSL
        } else if self.nla {
            return conn
                .write_all(&confirm(0x03, 0x00, HYBRID_REQUIRED_BY_SERVER))
                .await;
        } else {
            // Standard RDP security would need the full MCS/GCC exchange: decline.
            return conn.write_all(&confirm(0x03, 0x00, 2)).await;
        };
        // Flags as Windows Server sends them (extended client data, graphics pipeline, ...).
        conn.write_all(&confirm(0x02, 0x1f, selected)).await?;
        let mut tls = acceptor.accept(conn.into_io()).await?;
        // Whatever the client sends first under TLS (CredSSP's TSRequest) ends the show.
        let mut buf = [0u8; 512];
        let _ = tokio::io::AsyncReadExt::read(&mut tls, &mut buf).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::testkit;
    use proptest::prelude::*;

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

    #[test]
    fn connection_requests_parse() {
        let r = request("administrator", 3);
        let req = parse_request(&r[4..]).unwrap();
        assert_eq!(req.cookie.as_deref(), Some(&b"administrator"[..]));
        assert_eq!(req.requested, Some(3));
        assert!(parse_request(&[0x06, 0xd0, 0, 0, 0, 0, 0]).is_none());
    }

    #[tokio::test]
    async fn cookie_is_captured_and_nla_selected() {
        let t = testkit::start("rdp", Config::default()).await;
        let mut c = t.connect(0).await;
        c.send(&request("hacker", PROTOCOL_SSL | PROTOCOL_HYBRID))
            .await;
        let cc = c.read_exact(19).await;
        assert_eq!(
            cc[..11],
            [0x03, 0x00, 0x00, 0x13, 0x0e, 0xd0, 0x00, 0x00, 0x12, 0x34, 0x00]
        );
        assert_eq!(cc[11], 0x02);
        assert_eq!(cc[15..], PROTOCOL_HYBRID.to_le_bytes());
        let a = t.events().expect("auth").await;
        assert_eq!(a["username"], "hacker");
        assert_eq!(a["method"], "mstshash");
    }

    proptest! {
        #[test]
        fn parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_request(&bytes);
        }
    }
}
