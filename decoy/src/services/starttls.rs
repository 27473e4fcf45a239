//! In-protocol TLS upgrades (LDAP StartTLS, SMTP STARTTLS, IMAP STARTTLS, POP3 STLS): the
//! acceptor a handler keeps, and the swap of a plain [`Conn`] for one over TLS. The
//! connection keeps its session (same peer, same events) and its limits; the idle timeout
//! still applies, since it sits under the TLS stream.

use std::io;

use tokio_rustls::TlsAcceptor;

use crate::config::Config;
use crate::limits::Conn;

/// A TLS acceptor for the persona's `tls_cn` (else the hostname); `None`, with one
/// warning on stderr, where TLS cannot run (CPU without the needed instructions).
pub fn acceptor(cfg: &Config, service: &str) -> Option<TlsAcceptor> {
    let cn = cfg.persona.str("tls_cn").unwrap_or_else(|| cfg.hostname());
    match crate::tls::acceptor(cn, &[]) {
        Ok(a) => Some(a),
        Err(e) => {
            eprintln!("decnet-decoy: {service}: STARTTLS unavailable ({e})");
            None
        }
    }
}

/// Runs the TLS handshake on `conn`'s stream. Call it right after the "go ahead" reply,
/// before reading anything else, so no buffered plaintext is lost (a client waits for
/// that reply before its ClientHello; whatever it pipelined is dropped, as the RFCs ask).
pub async fn upgrade(conn: Conn, acceptor: &TlsAcceptor) -> io::Result<Conn> {
    let session = conn.session.clone();
    let limits = conn.limits;
    let io = conn.into_io();
    let tls = acceptor.accept(io).await?;
    let mut upgraded = Conn::new(Box::new(tls), session, limits);
    upgraded.tls = true;
    Ok(upgraded)
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    use tokio::net::TcpStream;
    use tokio_rustls::client::TlsStream;

    use crate::config::Config;
    use crate::services::sasl::b64encode;
    use crate::services::testkit;

    /// A TLS client over an already open connection (after the STARTTLS exchange).
    async fn tls_over(tcp: TcpStream) -> BufReader<TlsStream<TcpStream>> {
        BufReader::new(testkit::tls_over(tcp, "mail").await)
    }

    async fn line(r: &mut BufReader<TlsStream<TcpStream>>) -> String {
        let mut l = String::new();
        tokio::time::timeout(std::time::Duration::from_secs(10), r.read_line(&mut l))
            .await
            .expect("line in time")
            .expect("line");
        l
    }

    async fn send(r: &mut BufReader<TlsStream<TcpStream>>, s: &str) {
        r.get_mut()
            .write_all(format!("{s}\r\n").as_bytes())
            .await
            .unwrap();
    }

    fn cfg() -> Config {
        testkit::config("mail", "mail")
    }

    #[tokio::test]
    async fn smtp_starttls_then_auth_is_captured() {
        let t = testkit::start("smtp", cfg()).await;
        let mut c = t.connect(0).await;
        c.read_line().await;
        c.line("EHLO x").await;
        assert!(c
            .read_until("250 SMTPUTF8\r\n")
            .await
            .contains("250-STARTTLS\r\n"));
        c.line("STARTTLS").await;
        assert_eq!(c.read_line().await, "220 2.0.0 Ready to start TLS");
        let mut tls = tls_over(c.stream).await;
        send(&mut tls, "EHLO x").await;
        let mut ehlo = String::new();
        while !ehlo.ends_with("250 SMTPUTF8\r\n") {
            ehlo.push_str(&line(&mut tls).await);
        }
        assert!(!ehlo.contains("STARTTLS"));
        send(
            &mut tls,
            &format!("AUTH PLAIN {}", b64encode(b"\0carol\0tls-pass")),
        )
        .await;
        assert!(line(&mut tls).await.starts_with("535"));
        let a = t.events().expect("auth").await;
        assert_eq!(a["username"], "carol");
        assert_eq!(a["password"], "tls-pass");
    }

    #[tokio::test]
    async fn imap_starttls_then_login_is_captured() {
        let t = testkit::start("imap", cfg()).await;
        let mut c = t.connect(0).await;
        assert!(c.read_line().await.contains(" STARTTLS "));
        c.line("a1 STARTTLS").await;
        assert_eq!(c.read_line().await, "a1 OK Begin TLS negotiation now.");
        let mut tls = tls_over(c.stream).await;
        send(&mut tls, "a2 CAPABILITY").await;
        assert!(!line(&mut tls).await.contains("STARTTLS"));
        line(&mut tls).await;
        send(&mut tls, "a3 LOGIN dave \"tls pass\"").await;
        assert!(line(&mut tls).await.starts_with("a3 NO"));
        let a = t.events().expect("auth").await;
        assert_eq!(a["username"], "dave");
        assert_eq!(a["password"], "tls pass");
    }

    #[tokio::test]
    async fn pop3_stls_then_login_is_captured() {
        let t = testkit::start("pop3", cfg()).await;
        let mut c = t.connect(0).await;
        c.read_line().await;
        c.line("CAPA").await;
        assert!(c.read_until("\r\n.\r\n").await.contains("\r\nSTLS\r\n"));
        c.line("STLS").await;
        assert_eq!(c.read_line().await, "+OK Begin TLS negotiation now.");
        let mut tls = tls_over(c.stream).await;
        send(&mut tls, "USER erin").await;
        line(&mut tls).await;
        send(&mut tls, "PASS tls-pop").await;
        assert!(line(&mut tls).await.starts_with("-ERR [AUTH]"));
        let a = t.events().expect("auth").await;
        assert_eq!(a["username"], "erin");
        assert_eq!(a["password"], "tls-pop");
    }
}
