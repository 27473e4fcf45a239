//! `vnc`: the RFB 3.3/3.7/3.8 handshake with VNC authentication. The client's DES
//! response to our random challenge is recorded in hex (crackable offline against a
//! wordlist); the answer is always "Authentication failed".

use std::io;

use crate::config::Config;
use crate::event::Event;
use crate::limits::{Conn, Handler};

const VNC_AUTH: u8 = 2;

pub struct Vnc;

impl Vnc {
    pub fn new(_cfg: &Config) -> Self {
        Vnc
    }
}

/// The minor version a client asked for (`RFB 003.008\n` -> 8); unknown -> 3.
pub fn client_minor(version: &[u8]) -> u32 {
    let Some(rest) = version.strip_prefix(b"RFB 003.") else {
        return 3;
    };
    let digits: Vec<u8> = rest
        .iter()
        .copied()
        .take_while(u8::is_ascii_digit)
        .collect();
    match std::str::from_utf8(&digits)
        .ok()
        .and_then(|d| d.parse::<u32>().ok())
    {
        Some(7) => 7,
        Some(m) if m >= 8 => 8,
        _ => 3,
    }
}

impl Handler for Vnc {
    async fn handle(&self, mut conn: Conn) -> io::Result<()> {
        conn.write_all(b"RFB 003.008\n").await?;
        let version = conn.read_exact(12).await?;
        let minor = client_minor(&version);
        if minor == 3 {
            conn.write_all(&u32::from(VNC_AUTH).to_be_bytes()).await?;
        } else {
            conn.write_all(&[1, VNC_AUTH]).await?;
            let chosen = conn.read_u8().await?;
            if chosen != VNC_AUTH {
                conn.emit(Event::command(format!("security type {chosen}")));
                return Ok(());
            }
        }
        let mut challenge = [0u8; 16];
        getrandom::getrandom(&mut challenge).map_err(io::Error::other)?;
        conn.write_all(&challenge).await?;
        let response = conn.read_exact(16).await?;
        conn.emit(
            Event::auth("", "")
                .field("method", "vnc")
                .text("client_version", version.trim_ascii_end())
                .hex("challenge", challenge)
                .hex("response", &response),
        );
        conn.auth_pause().await;
        let mut reply = 1u32.to_be_bytes().to_vec();
        if minor >= 8 {
            let reason = b"Authentication failed";
            reply.extend_from_slice(&(reason.len() as u32).to_be_bytes());
            reply.extend_from_slice(reason);
        }
        conn.write_all(&reply).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::testkit;

    #[test]
    fn versions_map_to_minors() {
        assert_eq!(client_minor(b"RFB 003.008\n"), 8);
        assert_eq!(client_minor(b"RFB 003.889\n"), 8);
        assert_eq!(client_minor(b"RFB 003.007\n"), 7);
        assert_eq!(client_minor(b"RFB 003.003\n"), 3);
        assert_eq!(client_minor(b"garbage\0\0\0\0\0"), 3);
    }

    #[tokio::test]
    async fn challenge_response_is_recorded() {
        let t = testkit::start("vnc", Config::default()).await;
        let mut c = t.connect(0).await;
        assert_eq!(c.read_exact(12).await, b"RFB 003.008\n");
        c.send(b"RFB 003.008\n").await;
        assert_eq!(c.read_exact(2).await, [1, 2]);
        c.send(&[2]).await;
        let challenge = c.read_exact(16).await;
        c.send(&[0x42; 16]).await;
        let reply = c.read_to_close().await;
        assert_eq!(reply[..4], [0, 0, 0, 1]);
        assert!(reply.ends_with(b"Authentication failed"));
        let a = t.events().expect("auth").await;
        assert_eq!(a["method"], "vnc");
        assert_eq!(a["response"], "42".repeat(16));
        assert_eq!(a["challenge"], crate::event::hex(&challenge));
    }
}
