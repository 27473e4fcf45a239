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
