//! `smtp`: an MTA (Postfix, Exim or Sendmail by persona `mta`) that offers AUTH PLAIN and
//! LOGIN in the clear, captures every attempt, and accepts mail like an open relay so spam
//! and phishing runs show their payload; nothing is ever delivered.

use std::io;

use crate::clock::Civil;
use crate::config::Config;
use crate::event::{Event, PAYLOAD_MAX};
use crate::limits::{Conn, Handler};
use tokio_rustls::TlsAcceptor;

use super::ftp::split_command;
use super::{sasl, starttls};

/// Commands per connection before we hang up.
const MAX_COMMANDS: usize = 500;
/// Biggest message accepted (advertised as SIZE); larger ones are refused.
const MAX_MESSAGE: usize = 10 * 1024 * 1024;
/// Recipients kept per message.
const MAX_RCPT: usize = 100;
/// Postfix's `smtpd_hard_error_limit`: bad commands before it hangs up.
const MAX_ERRORS: usize = 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mta {
    Postfix,
    Exim,
    Sendmail,
}

pub struct Smtp {
    mta: Mta,
    host: String,
    banner: Option<String>,
    tls: Option<TlsAcceptor>,
}

impl Smtp {
    pub fn new(cfg: &Config) -> Self {
        let mta = match cfg
            .persona
            .str("mta")
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("exim") => Mta::Exim,
            Some("sendmail") => Mta::Sendmail,
            _ => Mta::Postfix,
        };
        Smtp {
            mta,
            host: cfg.hostname().to_owned(),
            banner: cfg
                .persona
                .string("banner")
                .map(|b| b.replace(['\r', '\n'], " ")),
            tls: starttls::acceptor(cfg, "smtp"),
        }
    }

    fn greeting(&self) -> String {
        let host = &self.host;
        let text = match (&self.banner, self.mta) {
            (Some(b), _) if b.starts_with("220") => return format!("{b}\r\n"),
            (Some(b), _) => b.clone(),
            (None, Mta::Postfix) => format!("{host} ESMTP Postfix (Ubuntu)"),
            (None, Mta::Exim) => {
                format!("{host} ESMTP Exim 4.95 Ubuntu {}", Civil::now().rfc5322())
            }
            (None, Mta::Sendmail) => format!(
                "{host} ESMTP Sendmail 8.15.2/8.15.2; {}",
                Civil::now().rfc5322()
            ),
        };
        format!("220 {text}\r\n")
    }

    fn ehlo(&self, client: &str, tls: bool) -> String {
        let host = &self.host;
        let starttls = if tls { "250-STARTTLS\r\n" } else { "" };
        match self.mta {
            Mta::Postfix => format!(
                "250-{host}\r\n250-PIPELINING\r\n250-SIZE {MAX_MESSAGE}\r\n250-VRFY\r\n250-ETRN\r\n{starttls}250-AUTH PLAIN LOGIN\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250 SMTPUTF8\r\n"
            ),
            Mta::Exim => format!(
                "250-{host} Hello {client}\r\n250-SIZE {MAX_MESSAGE}\r\n250-8BITMIME\r\n250-PIPELINING\r\n250-AUTH PLAIN LOGIN\r\n250-CHUNKING\r\n{starttls}250 HELP\r\n"
            ),
            Mta::Sendmail => format!(
                "250-{host} Hello {client}, pleased to meet you\r\n250-ENHANCEDSTATUSCODES\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SIZE {MAX_MESSAGE}\r\n250-DSN\r\n250-AUTH PLAIN LOGIN\r\n{starttls}250-DELIVERBY\r\n250 HELP\r\n"
            ),
        }
    }
}

/// The envelope of the message being received.
#[derive(Default)]
struct Envelope {
    from: Option<String>,
    to: Vec<String>,
}

impl Smtp {
    /// One plaintext or TLS session; `Ok(true)` when the peer asked for STARTTLS and was
    /// told to go ahead.
    async fn session(&self, conn: &mut Conn, greet: bool) -> io::Result<bool> {
        if greet {
            conn.write_all(self.greeting().as_bytes()).await?;
        }
        let mut env = Envelope::default();
        let mut queued = 0u32;
        let mut errors = 0;
        for _ in 0..MAX_COMMANDS {
            let line = match conn.read_line().await {
                Ok(Some(l)) => l,
                Ok(None) => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                    conn.write_all(b"500 5.5.0 Error: line too long\r\n")
                        .await?;
                    return Ok(false);
                }
                Err(e) => return Err(e),
            };
            let (verb, arg) = split_command(&line);
            if verb == "AUTH" {
                self.auth(conn, arg).await?;
                continue;
            }
            conn.emit(Event::command(&line));
            let arg_text = crate::event::text(arg, 256);
            let reply = match verb.as_str() {
                "EHLO" => self.ehlo(arg_text.trim(), self.tls.is_some() && !conn.tls),
                "HELO" => format!("250 {}\r\n", self.host),
                "MAIL" => {
                    env = Envelope {
                        from: Some(address(&arg_text)),
                        to: Vec::new(),
                    };
                    "250 2.1.0 Ok\r\n".to_owned()
                }
                "RCPT" if env.from.is_none() => "503 5.5.1 Error: need MAIL command\r\n".to_owned(),
                "RCPT" => {
                    if env.to.len() < MAX_RCPT {
                        env.to.push(address(&arg_text));
                    }
                    "250 2.1.5 Ok\r\n".to_owned()
                }
                "DATA" if env.to.is_empty() => "503 5.5.1 Error: need RCPT command\r\n".to_owned(),
                "DATA" => {
                    conn.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                        .await?;
                    match self.receive(conn, &env).await? {
                        true => {
                            queued += 1;
                            env = Envelope::default();
                            format!("250 2.0.0 Ok: queued as {}\r\n", queue_id(queued))
                        }
                        false => {
                            conn.write_all(b"552 5.3.4 Message size exceeds fixed limit\r\n")
                                .await?;
                            return Ok(false);
                        }
                    }
                }
                "RSET" => {
                    env = Envelope::default();
                    "250 2.0.0 Ok\r\n".to_owned()
                }
                "NOOP" => "250 2.0.0 Ok\r\n".to_owned(),
                "VRFY" => "252 2.0.0 Send some mail, I'll try my best\r\n".to_owned(),
                "STARTTLS" if self.tls.is_some() && !conn.tls => {
                    conn.write_all(b"220 2.0.0 Ready to start TLS\r\n").await?;
                    return Ok(true);
                }
                "STARTTLS" => "454 4.7.0 TLS not available due to local problem\r\n".to_owned(),
                "QUIT" => {
                    conn.write_all(b"221 2.0.0 Bye\r\n").await?;
                    return Ok(false);
                }
                _ => {
                    errors += 1;
                    if errors >= MAX_ERRORS {
                        let bye = format!("421 4.7.0 {} Error: too many errors\r\n", self.host);
                        conn.write_all(bye.as_bytes()).await?;
                        return Ok(false);
                    }
                    "502 5.5.2 Error: command not recognized\r\n".to_owned()
                }
            };
            conn.write_all(reply.as_bytes()).await?;
        }
        conn.write_all(b"421 4.7.0 Error: too many commands\r\n")
            .await
            .map(|()| false)
    }
}

impl Handler for Smtp {
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

impl Smtp {
    /// AUTH PLAIN / LOGIN, with or without an initial response; always fails.
    async fn auth(&self, conn: &mut Conn, arg: &[u8]) -> io::Result<()> {
        let (mech, initial) = split_command(arg);
        let (user, pass, method) = match mech.as_str() {
            "PLAIN" => {
                let response = if initial.is_empty() {
                    conn.write_all(b"334 \r\n").await?;
                    match read_sasl(conn).await? {
                        Some(r) => r,
                        None => return Ok(()),
                    }
                } else {
                    initial.to_vec()
                };
                let (u, p) = sasl::plain_b64(&response);
                (u, p, "AUTH PLAIN")
            }
            "LOGIN" => {
                let user = if initial.is_empty() {
                    conn.write_all(b"334 VXNlcm5hbWU6\r\n").await?;
                    match read_sasl(conn).await? {
                        Some(r) => sasl::login_b64(&r),
                        None => return Ok(()),
                    }
                } else {
                    sasl::login_b64(initial)
                };
                conn.write_all(b"334 UGFzc3dvcmQ6\r\n").await?;
                let Some(pass) = read_sasl(conn).await? else {
                    return Ok(());
                };
                (user, sasl::login_b64(&pass), "AUTH LOGIN")
            }
            _ => {
                conn.emit(Event::command(format!("AUTH {mech}")));
                return conn
                    .write_all(b"535 5.7.8 Error: authentication failed: Invalid authentication mechanism\r\n")
                    .await;
            }
        };
        conn.emit(Event::auth(&user, &pass).field("method", method));
        conn.auth_pause().await;
        conn.write_all(b"535 5.7.8 Error: authentication failed: authentication failure\r\n")
            .await
    }

    /// Reads the message up to the lone dot. Returns false if it exceeds the size limit.
    async fn receive(&self, conn: &mut Conn, env: &Envelope) -> io::Result<bool> {
        // The event shows PAYLOAD_MAX chars; keep a little more, not the whole message.
        let keep = 2 * PAYLOAD_MAX;
        let mut excerpt = Vec::new();
        let mut size = 0usize;
        loop {
            let Some(line) = conn.read_line().await? else {
                return Err(io::ErrorKind::UnexpectedEof.into());
            };
            if line == b"." {
                break;
            }
            size += line.len() + 2;
            if size > MAX_MESSAGE {
                return Ok(false);
            }
            if excerpt.len() < keep {
                let line = line.strip_prefix(b".").unwrap_or(&line);
                excerpt.extend_from_slice(&line[..line.len().min(keep - excerpt.len())]);
                excerpt.extend_from_slice(b"\r\n");
            }
        }
        conn.emit(
            Event::command("DATA")
                .text("mail_from", env.from.as_deref().unwrap_or(""))
                .field("rcpt_to", env.to.clone())
                .field("size", size as u64)
                .payload(&excerpt),
        );
        Ok(true)
    }
}

/// One SASL line; `*` (cancel) or end of stream give `None`.
async fn read_sasl(conn: &mut Conn) -> io::Result<Option<Vec<u8>>> {
    match conn.read_line().await? {
        Some(l) if l != b"*" => Ok(Some(l)),
        Some(_) => {
            conn.write_all(b"501 5.7.0 Authentication aborted\r\n")
                .await?;
            Ok(None)
        }
        None => Ok(None),
    }
}

/// `FROM:<a@b> SIZE=1` -> `a@b`
fn address(arg: &str) -> String {
    let rest = arg.split_once(':').map(|(_, r)| r).unwrap_or(arg).trim();
    let inner = match (rest.find('<'), rest.find('>')) {
        (Some(a), Some(b)) if a < b => &rest[a + 1..b],
        _ => rest.split(' ').next().unwrap_or(""),
    };
    inner.chars().take(256).collect()
}

/// Postfix-style queue ID: 10 uppercase hex digits.
fn queue_id(n: u32) -> String {
    let mut r = [0u8; 4];
    let _ = getrandom::getrandom(&mut r);
    format!("{:08X}{:02X}", u32::from_be_bytes(r), n % 256)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::testkit;
    use serde_json::json;

    fn cfg() -> Config {
        testkit::config("mail", "mail.corp.local")
    }

    #[tokio::test]
    async fn auth_plain_and_login_are_captured() {
        let t = testkit::start("smtp", cfg()).await;
        let mut c = t.connect(0).await;
        assert_eq!(
            c.read_line().await,
            "220 mail.corp.local ESMTP Postfix (Ubuntu)"
        );
        c.line("EHLO attacker").await;
        let ehlo = c.read_until("250 SMTPUTF8\r\n").await;
        assert!(ehlo.contains("250-AUTH PLAIN LOGIN"));
        c.line(&format!(
            "AUTH PLAIN {}",
            sasl::b64encode(b"\0alice\0wonderland")
        ))
        .await;
        assert!(c.read_line().await.starts_with("535 5.7.8"));
        c.line("AUTH LOGIN").await;
        assert_eq!(c.read_line().await, "334 VXNlcm5hbWU6");
        c.line(&sasl::b64encode(b"bob")).await;
        assert_eq!(c.read_line().await, "334 UGFzc3dvcmQ6");
        c.line(&sasl::b64encode(b"builder")).await;
        assert!(c.read_line().await.starts_with("535"));
        let mut ev = t.events();
        let a = ev.expect("auth").await;
        assert_eq!(
            (a["username"].as_str(), a["password"].as_str()),
            (Some("alice"), Some("wonderland"))
        );
        assert_eq!(a["method"], "AUTH PLAIN");
        let a = ev.expect("auth").await;
        assert_eq!(
            (a["username"].as_str(), a["password"].as_str()),
            (Some("bob"), Some("builder"))
        );
        assert_eq!(a["method"], "AUTH LOGIN");
    }

    #[tokio::test]
    async fn mail_is_accepted_and_recorded() {
        let t = testkit::start("smtp", cfg()).await;
        let mut c = t.connect(0).await;
        c.read_line().await;
        for (cmd, code) in [
            ("HELO x", "250"),
            ("MAIL FROM:<spam@evil.test>", "250"),
            ("RCPT TO:<ceo@corp.local>", "250"),
            ("DATA", "354"),
        ] {
            c.line(cmd).await;
            assert!(c.read_line().await.starts_with(code), "{cmd}");
        }
        c.send(b"Subject: invoice\r\n\r\nclick http://evil.test/x\r\n..hidden dot\r\n.\r\n")
            .await;
        assert!(c.read_line().await.starts_with("250 2.0.0 Ok: queued as "));
        c.line("QUIT").await;
        assert!(c.read_line().await.starts_with("221"));
        let mut ev = t.events();
        loop {
            let cmd = ev.expect("command").await;
            if cmd["command"] == "DATA" && cmd.get("payload").is_some() {
                assert_eq!(cmd["mail_from"], "spam@evil.test");
                assert_eq!(cmd["rcpt_to"], json!(["ceo@corp.local"]));
                let payload = cmd["payload"].as_str().unwrap();
                assert!(payload.contains("click http://evil.test/x"));
                assert!(payload.contains("\r\n.hidden dot"));
                break;
            }
        }
    }

    #[tokio::test]
    async fn too_many_errors_hang_up_like_postfix() {
        let t = testkit::start("smtp", cfg()).await;
        let mut c = t.connect(0).await;
        c.read_line().await;
        for _ in 0..MAX_ERRORS {
            c.line("garbage").await;
        }
        let out = String::from_utf8(c.read_to_close().await).unwrap();
        assert!(
            out.ends_with("421 4.7.0 mail.corp.local Error: too many errors\r\n"),
            "{out}"
        );
    }

    #[test]
    fn addresses_are_extracted() {
        assert_eq!(address("FROM:<a@b.c> SIZE=10"), "a@b.c");
        assert_eq!(address("TO: x@y"), "x@y");
        assert_eq!(address("garbage"), "garbage");
        assert_eq!(address(">:<"), "<");
    }

    proptest::proptest! {
        #[test]
        fn address_never_panics(s in ".{0,300}") {
            proptest::prop_assert!(address(&s).chars().count() <= 256);
        }
    }
}
