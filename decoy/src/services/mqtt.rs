//! `mqtt`: reads the CONNECT packet (MQTT 3.1, 3.1.1 and 5), records client id and
//! credentials, and refuses the connection in the client's protocol version.

use std::io;

use crate::config::Config;
use crate::event::Event;
use crate::limits::{Conn, Handler};

/// Largest CONNECT accepted.
const MAX_CONNECT: usize = 16 * 1024;

pub struct Mqtt;

impl Mqtt {
    pub fn new(_cfg: &Config) -> Self {
        Mqtt
    }
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Connect {
    pub level: u8,
    pub client_id: Vec<u8>,
    pub username: Option<Vec<u8>>,
    pub password: Option<Vec<u8>>,
    pub will_topic: Option<Vec<u8>>,
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

    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }

    fn string(&mut self) -> Option<&'a [u8]> {
        let n = usize::from(self.u16()?);
        self.take(n)
    }

    fn varint(&mut self) -> Option<usize> {
        let mut value = 0usize;
        for shift in [0, 7, 14, 21] {
            let b = self.u8()?;
            value |= usize::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }
}

/// The variable header and payload of a CONNECT packet.
pub fn parse_connect(body: &[u8]) -> Option<Connect> {
    let mut c = Cursor { buf: body, pos: 0 };
    let name = c.string()?;
    if name != b"MQTT" && name != b"MQIsdp" {
        return None;
    }
    let level = c.u8()?;
    let flags = c.u8()?;
    c.u16()?; // keep alive
    if level >= 5 {
        let n = c.varint()?;
        c.take(n)?;
    }
    let mut out = Connect {
        level,
        client_id: c.string()?.to_vec(),
        ..Connect::default()
    };
    if flags & 0x04 != 0 {
        if level >= 5 {
            let n = c.varint()?;
            c.take(n)?;
        }
        out.will_topic = Some(c.string()?.to_vec());
        c.string()?;
    }
    if flags & 0x80 != 0 {
        out.username = Some(c.string()?.to_vec());
    }
    if flags & 0x40 != 0 {
        out.password = Some(c.string()?.to_vec());
    }
    Some(out)
}

/// Remaining length of an MQTT fixed header, read byte by byte.
async fn read_remaining_length(conn: &mut Conn) -> io::Result<Option<usize>> {
    let mut value = 0usize;
    for shift in [0, 7, 14, 21] {
        let b = conn.read_u8().await?;
        value |= usize::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(Some(value));
        }
    }
    Ok(None)
}

impl Handler for Mqtt {
    async fn handle(&self, mut conn: Conn) -> io::Result<()> {
        let kind = match conn.read_u8().await {
            Ok(k) => k,
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        };
        let Some(len) = read_remaining_length(&mut conn).await? else {
            return Ok(());
        };
        if kind != 0x10 || len > MAX_CONNECT {
            return Ok(());
        }
        let body = conn.read_exact(len).await?;
        let Some(connect) = parse_connect(&body) else {
            conn.emit(Event::command("CONNECT").payload(&body));
            return Ok(());
        };
        let refused = match &connect.username {
            Some(user) => {
                let mut ev = Event::auth(user, connect.password.as_deref().unwrap_or_default())
                    .field("method", "CONNECT")
                    .text("client_id", &connect.client_id);
                if let Some(topic) = &connect.will_topic {
                    ev = ev.text("will_topic", topic);
                }
                conn.emit(ev);
                conn.auth_pause().await;
                true
            }
            None => {
                conn.emit(Event::command("CONNECT").text("client_id", &connect.client_id));
                false
            }
        };
        // 3.1.1: 4 = bad user name or password, 5 = not authorised; 5.0: 0x86 / 0x87.
        let reply: &[u8] = match (connect.level >= 5, refused) {
            (false, true) => &[0x20, 0x02, 0x00, 0x04],
            (false, false) => &[0x20, 0x02, 0x00, 0x05],
            (true, true) => &[0x20, 0x03, 0x00, 0x86, 0x00],
            (true, false) => &[0x20, 0x03, 0x00, 0x87, 0x00],
        };
        conn.write_all(reply).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::testkit;
    use proptest::prelude::*;

    fn connect_packet(level: u8, user: Option<&str>, pass: Option<&str>) -> Vec<u8> {
        let mut body = vec![0, 4];
        body.extend_from_slice(b"MQTT");
        body.push(level);
        let mut flags = 0x02;
        if user.is_some() {
            flags |= 0x80;
        }
        if pass.is_some() {
            flags |= 0x40;
        }
        body.push(flags);
        body.extend_from_slice(&[0, 60]);
        if level >= 5 {
            body.push(0);
        }
        for s in [Some("sensor-7"), user, pass].into_iter().flatten() {
            body.extend_from_slice(&(s.len() as u16).to_be_bytes());
            body.extend_from_slice(s.as_bytes());
        }
        let mut out = vec![0x10, body.len() as u8];
        out.extend_from_slice(&body);
        out
    }

    #[tokio::test]
    async fn credentials_are_captured_and_refused_per_version() {
        let t = testkit::start("mqtt", Config::default()).await;
        let mut c = t.connect(0).await;
        c.send(&connect_packet(4, Some("iot"), Some("iot123")))
            .await;
        assert_eq!(c.read_to_close().await, [0x20, 0x02, 0x00, 0x04]);
        let mut c = t.connect(0).await;
        c.send(&connect_packet(5, Some("admin"), Some("pw"))).await;
        assert_eq!(c.read_to_close().await, [0x20, 0x03, 0x00, 0x86, 0x00]);
        let mut c = t.connect(0).await;
        c.send(&connect_packet(4, None, None)).await;
        assert_eq!(c.read_to_close().await, [0x20, 0x02, 0x00, 0x05]);
        let mut ev = t.events();
        let a = ev.expect("auth").await;
        assert_eq!(
            (a["username"].as_str(), a["password"].as_str()),
            (Some("iot"), Some("iot123"))
        );
        assert_eq!(a["client_id"], "sensor-7");
        let a = ev.expect("auth").await;
        assert_eq!(a["username"], "admin");
        assert_eq!(ev.expect("command").await["client_id"], "sensor-7");
    }

    proptest! {
        #[test]
        fn parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_connect(&bytes);
        }
    }
}
