//! `pop3`: a Dovecot-style POP3 server (plain on 110, implicit TLS on 995) taking USER/PASS,
//! APOP and AUTH PLAIN/LOGIN, refusing them all.

use std::io;

use crate::config::{Config, Os};
use crate::event::Event;
use crate::limits::{Conn, Handler};
use tokio_rustls::TlsAcceptor;

use super::ftp::split_command;
use super::{sasl, starttls};

const MAX_COMMANDS: usize = 200;
const MAX_AUTH_FAILS: usize = 5;
/// Dovecot's limit of unknown commands before it hangs up.
const MAX_BAD_COMMANDS: usize = 20;

pub struct Pop3 {
    greeting: String,
    tls: Option<TlsAcceptor>,
}

impl Pop3 {
    pub fn new(cfg: &Config) -> Self {
        let text = match cfg.persona.string("banner") {
            Some(b) => b.replace(['\r', '\n'], " "),
            None => match cfg.os {
                Os::Windows => format!(
                    "Microsoft Exchange Server POP3 service ready. {}",
                    cfg.hostname()
                ),
                _ => "Dovecot (Ubuntu) ready.".to_owned(),
            },
        };
        Pop3 {
            greeting: format!("+OK {text}\r\n"),
            tls: starttls::acceptor(cfg, "pop3"),
        }
    }
}

impl Pop3 {
    /// One plaintext or TLS session; `Ok(true)` when the peer asked for STARTTLS and was
    /// told to go ahead.
    async fn session(&self, conn: &mut Conn, greet: bool) -> io::Result<bool> {
        if greet {
            conn.write_all(self.greeting.as_bytes()).await?;
        }
        let mut user: Option<Vec<u8>> = None;
        let mut fails = 0;
        let mut bad = 0;
        for _ in 0..MAX_COMMANDS {
            let line = match conn.read_line().await {
                Ok(Some(l)) => l,
                Ok(None) => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                    conn.write_all(b"-ERR Input line too long.\r\n").await?;
                    return Ok(false);
                }
                Err(e) => return Err(e),
            };
            let (verb, arg) = split_command(&line);
            let creds = match verb.as_str() {
                "USER" => {
                    user = Some(arg.to_vec());
                    conn.write_all(b"+OK\r\n").await?;
                    continue;
                }
                "PASS" => match user.take() {
                    Some(u) => (u, arg.to_vec(), "password"),
                    None => {
                        conn.write_all(b"-ERR No username given.\r\n").await?;
                        continue;
                    }
                },
                "APOP" => {
                    let (name, digest) = split_command(arg);
                    conn.emit(
                        Event::auth(name, "")
                            .field("method", "APOP")
                            .text("digest", digest),
                    );
                    conn.auth_pause().await;
                    conn.write_all(b"-ERR [AUTH] Authentication failed.\r\n")
                        .await?;
                    fails += 1;
                    if fails >= MAX_AUTH_FAILS {
                        return Ok(false);
                    }
                    continue;
                }
                "AUTH" => match self.sasl(conn, arg).await? {
                    Some(c) => c,
                    None => continue,
                },
                _ => {
                    conn.emit(Event::command(&line));
                    let reply: &[u8] = match verb.as_str() {
                        "CAPA" if self.tls.is_some() && !conn.tls => b"+OK\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nAUTH-RESP-CODE\r\nSTLS\r\nUSER\r\nSASL PLAIN LOGIN\r\n.\r\n",
                        "CAPA" => b"+OK\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nAUTH-RESP-CODE\r\nUSER\r\nSASL PLAIN LOGIN\r\n.\r\n",
                        "QUIT" => {
                            conn.write_all(b"+OK Logging out\r\n").await?;
                            return Ok(false);
                        }
                        "NOOP" => b"+OK\r\n",
                        "STLS" if self.tls.is_some() && !conn.tls => {
                            conn.write_all(b"+OK Begin TLS negotiation now.\r\n").await?;
                            return Ok(true);
                        }
                        "STLS" => b"-ERR TLS support not enabled.\r\n",
                        _ => {
                            bad += 1;
                            if bad >= MAX_BAD_COMMANDS {
                                conn.write_all(b"-ERR Too many bad commands.\r\n").await?;
                                return Ok(false);
                            }
                            b"-ERR Unknown command.\r\n"
                        }
                    };
                    conn.write_all(reply).await?;
                    continue;
                }
            };
            let (name, pass, method) = creds;
            conn.emit(Event::auth(&name, &pass).field("method", method));
            conn.auth_pause().await;
            conn.write_all(b"-ERR [AUTH] Authentication failed.\r\n")
                .await?;
            fails += 1;
            if fails >= MAX_AUTH_FAILS {
                conn.write_all(b"-ERR Disconnected for too many bad authentications.\r\n")
                    .await?;
                return Ok(false);
            }
        }
        Ok(false)
    }
}

impl Handler for Pop3 {
    async fn handle(&self, conn: Conn) -> io::Result<()> {
        let mut conn = conn;
        let mut greet = true;
        while self.session(&mut conn, greet).await? {
            let Some(acceptor) = &self.tls else {
                return Ok(());
            };
            conn = starttls::upgrade(conn, acceptor).await?;
            greet = false;
        }
        Ok(())
    }
}

impl Pop3 {
    /// AUTH PLAIN / LOGIN (RFC 5034); `None` when cancelled or unsupported.
    async fn sasl(
        &self,
        conn: &mut Conn,
        arg: &[u8],
    ) -> io::Result<Option<(Vec<u8>, Vec<u8>, &'static str)>> {
        let (mech, initial) = split_command(arg);
        match mech.as_str() {
            "" => {
                conn.write_all(b"+OK\r\nPLAIN\r\nLOGIN\r\n.\r\n").await?;
                Ok(None)
            }
            "PLAIN" => {
                let response = if initial.is_empty() {
                    conn.write_all(b"+ \r\n").await?;
                    match step(conn).await? {
                        Some(r) => r,
                        None => return Ok(None),
                    }
                } else {
                    initial.to_vec()
                };
                let (u, p) = sasl::plain_b64(&response);
                Ok(Some((u, p, "AUTH PLAIN")))
            }
            "LOGIN" => {
                conn.write_all(b"+ VXNlcm5hbWU6\r\n").await?;
                let Some(u) = step(conn).await? else {
                    return Ok(None);
                };
                conn.write_all(b"+ UGFzc3dvcmQ6\r\n").await?;
                let Some(p) = step(conn).await? else {
                    return Ok(None);
                };
                Ok(Some((
                    sasl::login_b64(&u),
                    sasl::login_b64(&p),
                    "AUTH LOGIN",
                )))
            }
            _ => {
                conn.write_all(b"-ERR Unsupported authentication mechanism.\r\n")
                    .await?;
                Ok(None)
            }
        }
    }
}

/// One SASL continuation line; `*` cancels.
async fn step(conn: &mut Conn) -> io::Result<Option<Vec<u8>>> {
    match conn.read_line().await? {
        Some(l) if l == b"*" => {
            conn.write_all(b"-ERR Authentication aborted by client.\r\n")
                .await?;
            Ok(None)
        }
        other => Ok(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::testkit;

    fn cfg() -> Config {
        testkit::config("mail", "mail")
    }

    #[tokio::test]
    async fn user_pass_and_auth_plain_are_captured() {
        let t = testkit::start("pop3", cfg()).await;
        let mut c = t.connect(0).await;
        assert_eq!(c.read_line().await, "+OK Dovecot (Ubuntu) ready.");
        c.line("CAPA").await;
        c.read_until("\r\n.\r\n").await;
        c.line("USER alice").await;
        assert_eq!(c.read_line().await, "+OK");
        c.line("PASS secret1").await;
        assert_eq!(c.read_line().await, "-ERR [AUTH] Authentication failed.");
        c.line("AUTH PLAIN").await;
        assert_eq!(c.read_line().await, "+ ");
        c.line(&sasl::b64encode(b"\0bob\0secret2")).await;
        assert!(c.read_line().await.starts_with("-ERR [AUTH]"));
        c.line("QUIT").await;
        assert!(c.read_line().await.starts_with("+OK"));
        let mut ev = t.events();
        let a = ev.expect("auth").await;
        assert_eq!(
            (a["username"].as_str(), a["password"].as_str()),
            (Some("alice"), Some("secret1"))
        );
        let a = ev.expect("auth").await;
        assert_eq!(
            (a["username"].as_str(), a["password"].as_str()),
            (Some("bob"), Some("secret2"))
        );
        assert_eq!(a["method"], "AUTH PLAIN");
    }

    #[tokio::test]
    async fn pop3s_speaks_tls_on_the_second_port() {
        let t = testkit::start("pop3", cfg()).await;
        let (mut tls, _) = t.connect_tls(1, "mail").await;
        use tokio::io::AsyncReadExt;
        let mut buf = [0u8; 64];
        let n = tls.read(&mut buf).await.unwrap();
        assert!(buf[..n].starts_with(b"+OK Dovecot"));
    }
}
