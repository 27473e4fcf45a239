//! `sip`: an Asterisk PBX (5060, UDP and TCP).
//!
//! OPTIONS gets `200 OK` with the persona's `user_agent` as `Server` (default
//! `Asterisk PBX 18.20.2`). REGISTER, INVITE and the other dialog-making requests get a
//! `401` Digest challenge with a fresh nonce; a request carrying `Authorization: Digest`
//! is an `auth` event (`method` `digest`, with username, realm, uri, nonce, response and
//! the rest needed to crack it offline) and is refused with `403`. Every request is a
//! `request` event with its method, URI, From, To and User-Agent. Responses go to the
//! datagram's source only, never to a `Via` address.

use std::io;
use std::net::{IpAddr, SocketAddr};

use crate::config::Config;
use crate::event::Event;
use crate::limits::{Conn, Handler};
use crate::udp::{own_ip_towards, random_bytes, Datagram};

const MAX_HEADERS: usize = 64;
const MAX_VIAS: usize = 8;
/// Most requests one TCP connection may send.
const MAX_TCP_REQUESTS: usize = 100;
const ALLOW: &str =
    "OPTIONS, REGISTER, SUBSCRIBE, NOTIFY, PUBLISH, INVITE, ACK, BYE, CANCEL, UPDATE, PRACK, MESSAGE, REFER";

pub struct Sip {
    server: String,
    realm: String,
}

/// One parsed request or response.
#[derive(Debug, Default)]
struct Message {
    /// Request method, or `None` for a response.
    method: Option<String>,
    uri: String,
    status: String,
    headers: Vec<(String, String)>,
}

impl Message {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> {
        self.headers
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Full header name for SIP's compact forms, lowercased.
fn canonical(name: &str) -> String {
    let lower = name.trim().to_ascii_lowercase();
    match lower.as_str() {
        "v" => "via",
        "f" => "from",
        "t" => "to",
        "i" => "call-id",
        "m" => "contact",
        "l" => "content-length",
        "c" => "content-type",
        "k" => "supported",
        "s" => "subject",
        "e" => "content-encoding",
        "o" => "event",
        "u" => "allow-events",
        other => other,
    }
    .to_owned()
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b))
}

/// Parses the start line and headers of `head` (the bytes before the blank line).
fn parse(head: &[u8]) -> Option<Message> {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split('\n').map(|l| l.trim_end_matches('\r'));
    let start = lines.next()?;
    let mut msg = Message::default();
    if let Some(rest) = start.strip_prefix("SIP/2.0 ") {
        msg.status = rest.chars().take(64).collect();
    } else {
        let mut parts = start.split(' ');
        let (method, uri, version) = (parts.next()?, parts.next()?, parts.next()?);
        if !is_token(method) || version != "SIP/2.0" || uri.is_empty() || uri.len() > 1024 {
            return None;
        }
        msg.method = Some(method.to_ascii_uppercase());
        msg.uri = uri.to_owned();
    }
    for line in lines {
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            // Folded continuation of the previous header.
            let (_, v) = msg.headers.last_mut()?;
            v.push(' ');
            v.push_str(line.trim());
            continue;
        }
        if msg.headers.len() >= MAX_HEADERS {
            return None;
        }
        let (name, value) = line.split_once(':')?;
        let name = canonical(name);
        if !is_token(&name) {
            return None;
        }
        let value = value.trim();
        // A Via may list several hops: keep them as separate headers.
        if name == "via" {
            for hop in value.split(',').map(str::trim).filter(|h| !h.is_empty()) {
                msg.headers.push((name.clone(), hop.to_owned()));
            }
        } else {
            msg.headers.push((name, value.to_owned()));
        }
    }
    Some(msg)
}

/// `k=v` and `k="v"` pairs of a Digest header, comma-separated, quotes respected.
fn digest_params(value: &str) -> Option<Vec<(String, String)>> {
    let (scheme, rest) = value.trim().split_once(char::is_whitespace)?;
    if !scheme.eq_ignore_ascii_case("digest") {
        return None;
    }
    let mut out = Vec::new();
    let mut chars = rest.chars().peekable();
    while out.len() < 20 {
        while matches!(chars.peek(), Some(' ' | '\t' | ',')) {
            chars.next();
        }
        let key: String = chars
            .by_ref()
            .take_while(|&c| c != '=')
            .take(32)
            .collect::<String>()
            .trim()
            .to_ascii_lowercase();
        if key.is_empty() {
            break;
        }
        let mut val = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            let mut escaped = false;
            for c in chars.by_ref() {
                match (escaped, c) {
                    (false, '\\') => escaped = true,
                    (false, '"') => break,
                    _ => {
                        escaped = false;
                        if val.len() < 512 {
                            val.push(c);
                        }
                    }
                }
            }
        } else {
            val = chars
                .by_ref()
                .take_while(|&c| c != ',')
                .take(512)
                .collect::<String>()
                .trim()
                .to_owned();
        }
        out.push((key, val));
    }
    Some(out)
}

fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        481 => "Call/Transaction Does Not Exist",
        501 => "Not Implemented",
        _ => "Server Internal Error",
    }
}

fn has_param(header: &str, param: &str) -> bool {
    header.split(';').skip(1).any(|p| {
        p.trim()
            .split('=')
            .next()
            .unwrap_or("")
            .eq_ignore_ascii_case(param)
    })
}

impl Sip {
    pub fn new(cfg: &Config) -> Self {
        let p = &cfg.persona;
        Sip {
            server: p
                .string("user_agent")
                .map(|s| s.replace(['\r', '\n'], " "))
                .unwrap_or_else(|| "Asterisk PBX 18.20.2".to_owned()),
            realm: "asterisk".to_owned(),
        }
    }

    fn respond(
        &self,
        msg: &Message,
        code: u16,
        peer: SocketAddr,
        extra: &[(&str, String)],
    ) -> Vec<u8> {
        let mut out = format!("SIP/2.0 {code} {}\r\n", reason(code));
        for (i, via) in msg.all("via").take(MAX_VIAS).enumerate() {
            if i == 0 {
                // Where the request really came from (RFC 3261 18.2.1, RFC 3581).
                let mut v = via.to_owned();
                if !has_param(via, "received") {
                    v.push_str(&format!(";received={}", peer.ip().to_canonical()));
                }
                if has_param(via, "rport") {
                    v = v
                        .split(';')
                        .map(|p| {
                            if p.trim().eq_ignore_ascii_case("rport") {
                                format!("rport={}", peer.port())
                            } else {
                                p.to_owned()
                            }
                        })
                        .collect::<Vec<_>>()
                        .join(";");
                }
                out.push_str(&format!("Via: {v}\r\n"));
            } else {
                out.push_str(&format!("Via: {via}\r\n"));
            }
        }
        if let Some(from) = msg.header("from") {
            out.push_str(&format!("From: {from}\r\n"));
        }
        if let Some(to) = msg.header("to") {
            if has_param(to, "tag") {
                out.push_str(&format!("To: {to}\r\n"));
            } else {
                let tag = crate::event::hex(&random_bytes::<4>());
                out.push_str(&format!("To: {to};tag=as{tag}\r\n"));
            }
        }
        for (name, header) in [("Call-ID", "call-id"), ("CSeq", "cseq")] {
            if let Some(v) = msg.header(header) {
                out.push_str(&format!("{name}: {v}\r\n"));
            }
        }
        out.push_str(&format!("Server: {}\r\n", self.server));
        out.push_str(&format!("Allow: {ALLOW}\r\n"));
        for (k, v) in extra {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        out.push_str("Content-Length: 0\r\n\r\n");
        out.into_bytes()
    }

    /// The reply to one message from `peer` (`None`: silence), reporting it.
    fn answer(
        &self,
        data: &[u8],
        peer: SocketAddr,
        transport: &'static str,
        emit: &impl Fn(Event),
    ) -> Option<Vec<u8>> {
        let head_end = data
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .or_else(|| data.windows(2).position(|w| w == b"\n\n"))
            .unwrap_or(data.len());
        let head = data.get(..head_end).unwrap_or(data);
        if head.iter().all(|b| b.is_ascii_whitespace()) {
            // CRLF keep-alive.
            return None;
        }
        let Some(msg) = parse(head) else {
            emit(
                Event::request("malformed", "", "")
                    .field("transport", transport)
                    .payload(data),
            );
            return None;
        };
        let ua = msg.header("user-agent").unwrap_or("");
        let Some(method) = msg.method.as_deref() else {
            emit(
                Event::request("response", "", ua)
                    .text("status", &msg.status)
                    .text("from", msg.header("from").unwrap_or(""))
                    .text("to", msg.header("to").unwrap_or(""))
                    .field("transport", transport),
            );
            return None;
        };
        let mut ev = Event::request(method, &msg.uri, ua)
            .text("from", msg.header("from").unwrap_or(""))
            .text("to", msg.header("to").unwrap_or(""))
            .text("call_id", msg.header("call-id").unwrap_or(""))
            .field("transport", transport);
        if let Some(contact) = msg.header("contact") {
            ev = ev.text("contact", contact);
        }
        emit(ev);
        let complete = ["via", "from", "to", "call-id", "cseq"]
            .iter()
            .all(|h| msg.header(h).is_some());
        msg.header("via")?;
        if !complete {
            return Some(self.respond(&msg, 400, peer, &[]));
        }
        let auth = msg
            .header("authorization")
            .or_else(|| msg.header("proxy-authorization"));
        if let Some(params) = auth.and_then(digest_params) {
            let get = |k: &str| {
                params
                    .iter()
                    .find(|(n, _)| n == k)
                    .map(|(_, v)| v.as_str())
                    .unwrap_or("")
            };
            let mut ev = Event::auth(get("username"), "")
                .field("method", "digest")
                .text("realm", get("realm"))
                .text("uri", get("uri"))
                .text("nonce", get("nonce"))
                .text("response", get("response"))
                .text("sip_method", method)
                .field("transport", transport);
            for (k, field) in [
                ("algorithm", "algorithm"),
                ("qop", "qop"),
                ("nc", "nc"),
                ("cnonce", "cnonce"),
                ("opaque", "opaque"),
            ] {
                if !get(k).is_empty() {
                    ev = ev.text(field, get(k));
                }
            }
            emit(ev);
        }
        let code = match method {
            "ACK" => return None,
            "OPTIONS" => 200,
            "REGISTER" | "INVITE" | "SUBSCRIBE" | "MESSAGE" | "PUBLISH" | "REFER" | "NOTIFY" => {
                if auth.is_some() {
                    403
                } else {
                    401
                }
            }
            "BYE" | "CANCEL" | "UPDATE" | "PRACK" | "INFO" => 481,
            _ => 501,
        };
        let mut extra = Vec::new();
        match code {
            200 => {
                let own = own_ip_towards(peer.ip()).unwrap_or(IpAddr::from([0, 0, 0, 0]));
                extra.push(("Contact", format!("<sip:{own}:5060>")));
                extra.push(("Accept", "application/sdp".to_owned()));
                extra.push((
                    "Supported",
                    "100rel, timer, replaces, norefersub".to_owned(),
                ));
            }
            401 => {
                let nonce = crate::event::hex(&random_bytes::<16>());
                let opaque = crate::event::hex(&random_bytes::<8>());
                extra.push((
                    "WWW-Authenticate",
                    format!(
                        "Digest realm=\"{}\",nonce=\"{nonce}\",opaque=\"{opaque}\",algorithm=MD5,qop=\"auth\"",
                        self.realm
                    ),
                ));
            }
            _ => {}
        }
        Some(self.respond(&msg, code, peer, &extra))
    }
}

impl Handler for Sip {
    async fn handle(&self, mut conn: Conn) -> io::Result<()> {
        let peer = conn.session.peer;
        for _ in 0..MAX_TCP_REQUESTS {
            let mut head = Vec::new();
            let mut lines = 0;
            loop {
                let line = match conn.read_line().await {
                    Ok(Some(l)) => l,
                    Ok(None) => return Ok(()),
                    Err(e) if e.kind() == io::ErrorKind::InvalidData => return Ok(()),
                    Err(e) => return Err(e),
                };
                if line.is_empty() {
                    if head.is_empty() {
                        // Keep-alive CRLFs between messages.
                        lines += 1;
                        if lines > 16 {
                            return Ok(());
                        }
                        continue;
                    }
                    break;
                }
                lines += 1;
                if lines > MAX_HEADERS + 1 || head.len() + line.len() > conn.limits.line_max {
                    return Ok(());
                }
                head.extend_from_slice(&line);
                head.extend_from_slice(b"\r\n");
            }
            let len = parse(&head)
                .and_then(|m| m.header("content-length").map(str::to_owned))
                .and_then(|l| l.trim().parse::<usize>().ok())
                .unwrap_or(0);
            let body = conn.read_exact(len).await?;
            head.extend_from_slice(b"\r\n");
            head.extend_from_slice(&body);
            let session = conn.session.clone();
            let reply = self.answer(&head, peer, "tcp", &|e| session.emit(e));
            if let Some(reply) = reply {
                if reply.starts_with(b"SIP/2.0 403") {
                    conn.auth_pause().await;
                }
                conn.write_all(&reply).await?;
            }
        }
        Ok(())
    }

    fn datagram(&self, dg: &Datagram<'_>) -> Vec<Vec<u8>> {
        self.answer(dg.data, dg.peer(), "udp", &|e| dg.emit(e))
            .into_iter()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::testkit;
    use proptest::prelude::*;

    fn cfg() -> Config {
        testkit::config("pbx", "pbx-01")
    }

    const NMAP_OPTIONS: &[u8] = b"OPTIONS sip:nm SIP/2.0\r\nVia: SIP/2.0/UDP nm;branch=foo;rport\r\nFrom: <sip:nm@nm>;tag=root\r\nTo: <sip:nm2@nm2>\r\nCall-ID: 50000\r\nCSeq: 42 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\nContact: <sip:nm@nm>\r\nAccept: application/sdp\r\n\r\n";

    fn register(auth: Option<&str>) -> Vec<u8> {
        let mut r = String::from("REGISTER sip:10.0.0.5 SIP/2.0\r\nv: SIP/2.0/UDP 10.9.8.7:5062;branch=z9hG4bK-1\r\nf: \"100\" <sip:100@10.0.0.5>;tag=abc\r\nt: \"100\" <sip:100@10.0.0.5>\r\ni: 77@10.9.8.7\r\nCSeq: 1 REGISTER\r\nUser-Agent: friendly-scanner\r\nContact: <sip:100@10.9.8.7:5062>\r\n");
        if let Some(a) = auth {
            r.push_str(&format!("Authorization: {a}\r\n"));
        }
        r.push_str("Content-Length: 0\r\n\r\n");
        r.into_bytes()
    }

    #[tokio::test]
    async fn options_names_asterisk_and_register_is_challenged_then_refused() {
        let t = testkit::start("sip", cfg()).await;
        let c = t.udp(0).await;
        let mut ev = t.events();
        let reply = String::from_utf8(c.exchange(NMAP_OPTIONS).await).unwrap();
        assert!(reply.starts_with("SIP/2.0 200 OK\r\n"), "{reply}");
        assert!(reply.contains("\r\nServer: Asterisk PBX 18.20.2\r\n"));
        let port = c.socket.local_addr().unwrap().port();
        assert!(
            reply.contains(&format!(
                "Via: SIP/2.0/UDP nm;branch=foo;rport={port};received=127.0.0.1\r\n"
            )) || reply.contains(&format!(
                "Via: SIP/2.0/UDP nm;branch=foo;received=127.0.0.1;rport={port}\r\n"
            )),
            "{reply}"
        );
        assert!(reply.contains("\r\nTo: <sip:nm2@nm2>;tag=as"));
        assert!(reply.contains("\r\nCSeq: 42 OPTIONS\r\n"));
        let e = ev.expect("request").await;
        assert_eq!(e["service"], "sip");
        assert_eq!(e["method"], "OPTIONS");
        assert_eq!(e["path"], "sip:nm");
        assert_eq!(e["from"], "<sip:nm@nm>;tag=root");
        assert_eq!(e["to"], "<sip:nm2@nm2>");

        let reply = String::from_utf8(c.exchange(&register(None)).await).unwrap();
        assert!(reply.starts_with("SIP/2.0 401 Unauthorized\r\n"));
        let nonce = reply
            .split("nonce=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap()
            .to_owned();
        assert_eq!(nonce.len(), 32);
        let e = ev.expect("request").await;
        assert_eq!(e["method"], "REGISTER");
        assert_eq!(e["user_agent"], "friendly-scanner");

        let auth = format!("Digest username=\"100\", realm=\"asterisk\", nonce=\"{nonce}\", uri=\"sip:10.0.0.5\", response=\"0123456789abcdef0123456789abcdef\", algorithm=MD5, qop=auth, nc=00000001, cnonce=\"xyz\"");
        let reply = String::from_utf8(c.exchange(&register(Some(&auth))).await).unwrap();
        assert!(reply.starts_with("SIP/2.0 403 Forbidden\r\n"));
        let a = ev.expect("auth").await;
        assert_eq!(a["username"], "100");
        assert_eq!(a["password"], "");
        assert_eq!(a["method"], "digest");
        assert_eq!(a["realm"], "asterisk");
        assert_eq!(a["uri"], "sip:10.0.0.5");
        assert_eq!(a["nonce"], nonce);
        assert_eq!(a["response"], "0123456789abcdef0123456789abcdef");
        assert_eq!(a["sip_method"], "REGISTER");
        assert_eq!(a["qop"], "auth");
        assert_eq!(a["cnonce"], "xyz");
    }

    #[tokio::test]
    async fn tcp_requests_are_answered_in_turn() {
        let t = testkit::start("sip", cfg()).await;
        let mut c = t.connect(1).await;
        c.send(&NMAP_OPTIONS.to_vec().iter().copied().chain(*b"INVITE sip:200@pbx SIP/2.0\r\nVia: SIP/2.0/TCP x;branch=z9hG4bK2\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:200@pbx>\r\nCall-ID: c2\r\nCSeq: 1 INVITE\r\nContent-Length: 4\r\n\r\nv=0\n").collect::<Vec<u8>>()).await;
        assert_eq!(c.read_line().await, "SIP/2.0 200 OK");
        c.read_until("\r\n\r\n").await;
        assert_eq!(c.read_line().await, "SIP/2.0 401 Unauthorized");
        let mut ev = t.events();
        assert_eq!(ev.expect("request").await["transport"], "tcp");
        assert_eq!(ev.expect("request").await["method"], "INVITE");
    }

    #[test]
    fn responses_and_junk_get_no_reply() {
        let sip = Sip::new(&cfg());
        let peer: SocketAddr = "192.0.2.1:5060".parse().unwrap();
        assert!(sip
            .answer(b"SIP/2.0 200 OK\r\nVia: x\r\n\r\n", peer, "udp", &|_| {})
            .is_none());
        assert!(sip.answer(b"\r\n\r\n", peer, "udp", &|_| {}).is_none());
        assert!(sip
            .answer(b"\x00\x01garbage", peer, "udp", &|_| {})
            .is_none());
        // No Via: nowhere to answer.
        assert!(sip
            .answer(
                b"OPTIONS sip:x SIP/2.0\r\nFrom: a\r\n\r\n",
                peer,
                "udp",
                &|_| {}
            )
            .is_none());
        // A Via but missing headers: 400.
        let r = sip
            .answer(
                b"OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n\r\n",
                peer,
                "udp",
                &|_| {},
            )
            .unwrap();
        assert!(r.starts_with(b"SIP/2.0 400 Bad Request\r\n"));
    }

    #[test]
    fn digest_params_respect_quotes() {
        let p = digest_params(r#"Digest username="a,b", realm="r\"q", uri=sip:x, response=abc"#)
            .unwrap();
        assert_eq!(p[0], ("username".into(), "a,b".into()));
        assert_eq!(p[1], ("realm".into(), "r\"q".into()));
        assert_eq!(p[2], ("uri".into(), "sip:x".into()));
        assert_eq!(p[3], ("response".into(), "abc".into()));
        assert!(digest_params("Basic abc").is_none());
    }

    proptest! {
        #[test]
        fn parsing_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..800), with_head in any::<bool>()) {
            let sip = Sip::new(&cfg());
            let peer: SocketAddr = "192.0.2.1:5060".parse().unwrap();
            let mut data = if with_head { b"REGISTER sip:x SIP/2.0\r\nVia: a\r\nFrom: b\r\nTo: c\r\nCall-ID: d\r\nCSeq: 1 REGISTER\r\nAuthorization: Digest ".to_vec() } else { Vec::new() };
            data.extend(bytes);
            let _ = sip.answer(&data, peer, "udp", &|_| {});
            let _ = digest_params(&String::from_utf8_lossy(&data));
        }
    }
}
