//! `imap`: a Dovecot-style IMAP4rev1 server (plain on 143, implicit TLS on 993) taking
//! LOGIN (atoms, quoted strings and literals) and AUTHENTICATE PLAIN/LOGIN, refusing all.

use std::io;

use crate::config::{Config, Os};
use crate::event::Event;
use crate::limits::{Conn, Handler};
use tokio_rustls::TlsAcceptor;

use super::{sasl, starttls};

const MAX_COMMANDS: usize = 200;
const MAX_AUTH_FAILS: usize = 5;
/// Dovecot's limit of invalid commands before it hangs up.
const MAX_BAD_COMMANDS: usize = 20;
const TOO_MANY_BAD: &[u8] = b"* BYE Too many invalid IMAP commands.\r\n";
/// Literals per command and largest literal accepted.
const MAX_LITERALS: usize = 4;
const MAX_LITERAL: usize = 8 * 1024;
const MAX_TOKENS: usize = 64;

const CAPS: &str =
    "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ AUTH=PLAIN AUTH=LOGIN";
const CAPS_STARTTLS: &str =
    "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS AUTH=PLAIN AUTH=LOGIN";

pub struct Imap {
    text: String,
    tls: Option<TlsAcceptor>,
}

impl Imap {
    pub fn new(cfg: &Config) -> Self {
        let text = match cfg.persona.string("banner") {
            Some(b) => b.replace(['\r', '\n'], " "),
            None => match cfg.os {
                Os::Windows => "The Microsoft Exchange IMAP4 service is ready.".to_owned(),
                _ => "Dovecot (Ubuntu) ready.".to_owned(),
            },
        };
        Imap {
            text,
            tls: starttls::acceptor(cfg, "imap"),
        }
    }

    /// The capabilities before login; STARTTLS while the connection is plain.
    fn caps(&self, conn: &Conn) -> &'static str {
        if self.tls.is_some() && !conn.tls {
            CAPS_STARTTLS
        } else {
            CAPS
        }
    }
}

impl Imap {
    /// One plaintext or TLS session; `Ok(true)` when the peer asked for STARTTLS and was
    /// told to go ahead.
    async fn session(&self, conn: &mut Conn, greet: bool) -> io::Result<bool> {
        if greet {
            let greeting = format!("* OK [CAPABILITY {}] {}\r\n", self.caps(conn), self.text);
            conn.write_all(greeting.as_bytes()).await?;
        }
        let mut fails = 0;
        let mut bad = 0;
        for _ in 0..MAX_COMMANDS {
            let tokens = match read_command(conn).await {
                Ok(Some(t)) => t,
                Ok(None) => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                    conn.write_all(b"* BYE Too long command line.\r\n").await?;
                    return Ok(false);
                }
                Err(e) => return Err(e),
            };
            let [tag, command, args @ ..] = tokens.as_slice() else {
                bad += 1;
                if bad >= MAX_BAD_COMMANDS {
                    return conn.write_all(TOO_MANY_BAD).await.map(|()| false);
                }
                conn.write_all(b"* BAD Error in IMAP command received by server.\r\n")
                    .await?;
                continue;
            };
            let tag = crate::event::text(tag, 64);
            let command = String::from_utf8_lossy(command).to_ascii_uppercase();
            let creds = match command.as_str() {
                "LOGIN" => match args {
                    [user, pass, ..] => (user.clone(), pass.clone(), "LOGIN"),
                    _ => {
                        let reply = format!("{tag} BAD Missing parameters\r\n");
                        conn.write_all(reply.as_bytes()).await?;
                        continue;
                    }
                },
                "AUTHENTICATE" => match self.authenticate(conn, &tag, args).await? {
                    Some(c) => c,
                    None => continue,
                },
                _ => {
                    let line: Vec<u8> = tokens[1..].join(&b' ');
                    conn.emit(Event::command(&line));
                    let reply = match command.as_str() {
                        "CAPABILITY" => format!(
                            "* CAPABILITY {}\r\n{tag} OK Pre-login capabilities listed, post-login capabilities have more.\r\n",
                            self.caps(conn)
                        ),
                        "NOOP" => format!("{tag} OK NOOP completed.\r\n"),
                        "ID" => format!("* ID (\"name\" \"Dovecot\")\r\n{tag} OK ID completed.\r\n"),
                        "STARTTLS" if self.tls.is_some() && !conn.tls => {
                            let reply = format!("{tag} OK Begin TLS negotiation now.\r\n");
                            conn.write_all(reply.as_bytes()).await?;
                            return Ok(true);
                        }
                        "STARTTLS" => format!("{tag} BAD TLS support isn't enabled.\r\n"),
                        "LOGOUT" => {
                            let reply = format!("* BYE Logging out\r\n{tag} OK Logout completed.\r\n");
                            conn.write_all(reply.as_bytes()).await?;
                            return Ok(false);
                        }
                        _ => {
                            bad += 1;
                            if bad >= MAX_BAD_COMMANDS {
                                return conn.write_all(TOO_MANY_BAD).await.map(|()| false);
                            }
                            format!("{tag} BAD Error in IMAP command received by server.\r\n")
                        }
                    };
                    conn.write_all(reply.as_bytes()).await?;
                    continue;
                }
            };
            let (user, pass, method) = creds;
            conn.emit(Event::auth(&user, &pass).field("method", method));
            conn.auth_pause().await;
            let reply = format!("{tag} NO [AUTHENTICATIONFAILED] Authentication failed.\r\n");
            conn.write_all(reply.as_bytes()).await?;
            fails += 1;
            if fails >= MAX_AUTH_FAILS {
                conn.write_all(b"* BYE Disconnected for too many bad authentications.\r\n")
                    .await?;
                return Ok(false);
            }
        }
        conn.write_all(b"* BYE Too many invalid IMAP commands.\r\n")
            .await
            .map(|()| false)
    }
}

impl Handler for Imap {
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

type Creds = (Vec<u8>, Vec<u8>, &'static str);

impl Imap {
    async fn authenticate(
        &self,
        conn: &mut Conn,
        tag: &str,
        args: &[Vec<u8>],
    ) -> io::Result<Option<Creds>> {
        let mech = args
            .first()
            .map(|m| String::from_utf8_lossy(m).to_ascii_uppercase())
            .unwrap_or_default();
        let initial = args.get(1);
        match mech.as_str() {
            "PLAIN" => {
                let response = match initial {
                    Some(ir) if ir.as_slice() != b"=" => ir.clone(),
                    _ => {
                        conn.write_all(b"+ \r\n").await?;
                        match step(conn, tag).await? {
                            Some(r) => r,
                            None => return Ok(None),
                        }
                    }
                };
                let (u, p) = sasl::plain_b64(&response);
                Ok(Some((u, p, "AUTHENTICATE PLAIN")))
            }
            "LOGIN" => {
                let user = match initial {
                    Some(ir) => ir.clone(),
                    None => {
                        conn.write_all(b"+ VXNlcm5hbWU6\r\n").await?;
                        match step(conn, tag).await? {
                            Some(r) => r,
                            None => return Ok(None),
                        }
                    }
                };
                conn.write_all(b"+ UGFzc3dvcmQ6\r\n").await?;
                let Some(pass) = step(conn, tag).await? else {
                    return Ok(None);
                };
                Ok(Some((
                    sasl::login_b64(&user),
                    sasl::login_b64(&pass),
                    "AUTHENTICATE LOGIN",
                )))
            }
            _ => {
                let reply = format!("{tag} NO Unsupported authentication mechanism.\r\n");
                conn.write_all(reply.as_bytes()).await?;
                Ok(None)
            }
        }
    }
}

async fn step(conn: &mut Conn, tag: &str) -> io::Result<Option<Vec<u8>>> {
    match conn.read_line().await? {
        Some(l) if l == b"*" => {
            let reply = format!("{tag} BAD Authentication aborted by client.\r\n");
            conn.write_all(reply.as_bytes()).await?;
            Ok(None)
        }
        other => Ok(other),
    }
}

/// One command as tokens, reading literals (`{n}` and non-synchronising `{n+}`) inline.
async fn read_command(conn: &mut Conn) -> io::Result<Option<Vec<Vec<u8>>>> {
    let mut tokens = Vec::new();
    for _ in 0..=MAX_LITERALS {
        let Some(line) = conn.read_line().await? else {
            return Ok(None);
        };
        let (mut part, literal) = tokenize(&line);
        tokens.append(&mut part);
        if tokens.len() > MAX_TOKENS {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "too many tokens",
            ));
        }
        let Some((len, sync)) = literal else {
            return Ok(Some(tokens));
        };
        if len > MAX_LITERAL {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "literal too long",
            ));
        }
        if sync {
            conn.write_all(b"+ OK\r\n").await?;
        }
        tokens.push(conn.read_exact(len).await?);
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidData,
        "too many literals",
    ))
}

/// Splits a line into atoms and quoted strings; reports a trailing literal marker
/// (`{n}` -> (n, true), `{n+}` -> (n, false)).
pub fn tokenize(line: &[u8]) -> (Vec<Vec<u8>>, Option<(usize, bool)>) {
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < line.len() && tokens.len() <= MAX_TOKENS {
        match line[i] {
            b' ' => i += 1,
            b'"' => {
                let mut tok = Vec::new();
                i += 1;
                while i < line.len() && line[i] != b'"' {
                    if line[i] == b'\\' && i + 1 < line.len() {
                        i += 1;
                    }
                    tok.push(line[i]);
                    i += 1;
                }
                i += 1;
                tokens.push(tok);
            }
            _ => {
                let start = i;
                while i < line.len() && line[i] != b' ' {
                    i += 1;
                }
                tokens.push(line[start..i].to_vec());
            }
        }
    }
    let literal = tokens.last().and_then(|t| literal_marker(t));
    if literal.is_some() {
        tokens.pop();
    }
    (tokens, literal)
}

fn literal_marker(tok: &[u8]) -> Option<(usize, bool)> {
    let inner = tok.strip_prefix(b"{")?.strip_suffix(b"}")?;
    let (digits, sync) = match inner.strip_suffix(b"+") {
        Some(d) => (d, false),
        None => (inner, true),
    };
    if digits.is_empty() || digits.len() > 9 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits)
        .ok()?
        .parse()
        .ok()
        .map(|n| (n, sync))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::testkit;
    use proptest::prelude::*;

    fn cfg() -> Config {
        testkit::config("mail", "mail")
    }

    #[test]
    fn tokens_quotes_and_literals() {
        let (t, lit) = tokenize(b"a1 LOGIN \"jo \\\"x\\\"\" {5}");
        assert_eq!(
            t,
            vec![b"a1".to_vec(), b"LOGIN".to_vec(), b"jo \"x\"".to_vec()]
        );
        assert_eq!(lit, Some((5, true)));
        assert_eq!(tokenize(b"x {12+}").1, Some((12, false)));
        assert_eq!(tokenize(b"x {}").1, None);
    }

    #[tokio::test]
    async fn login_with_quotes_and_literals_is_captured() {
        let t = testkit::start("imap", cfg()).await;
        let mut c = t.connect(0).await;
        assert!(c
            .read_line()
            .await
            .starts_with("* OK [CAPABILITY IMAP4rev1"));
        c.line("a1 CAPABILITY").await;
        assert!(c.read_line().await.starts_with("* CAPABILITY"));
        assert!(c.read_line().await.starts_with("a1 OK"));
        c.line("a2 LOGIN \"carol\" \"p w\"").await;
        assert_eq!(
            c.read_line().await,
            "a2 NO [AUTHENTICATIONFAILED] Authentication failed."
        );
        c.line("a3 LOGIN dave {6}").await;
        assert_eq!(c.read_line().await, "+ OK");
        c.send(b"pa\"ss1\r\n").await;
        assert!(c.read_line().await.starts_with("a3 NO"));
        c.line(&format!(
            "a4 AUTHENTICATE PLAIN {}",
            sasl::b64encode(b"\0erin\0pw4")
        ))
        .await;
        assert!(c.read_line().await.starts_with("a4 NO"));
        c.line("a5 LOGOUT").await;
        assert_eq!(c.read_line().await, "* BYE Logging out");
        let mut ev = t.events();
        for (u, p) in [("carol", "p w"), ("dave", "pa\"ss1"), ("erin", "pw4")] {
            let a = ev.expect("auth").await;
            assert_eq!(
                (a["username"].as_str(), a["password"].as_str()),
                (Some(u), Some(p))
            );
        }
    }

    #[tokio::test]
    async fn huge_literals_are_refused() {
        let t = testkit::start("imap", cfg()).await;
        let mut c = t.connect(0).await;
        c.read_line().await;
        c.line("a1 LOGIN x {999999999}").await;
        assert_eq!(c.read_line().await, "* BYE Too long command line.");
    }

    proptest! {
        #[test]
        fn tokenizer_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
            let (t, _) = tokenize(&bytes);
            prop_assert!(t.len() <= MAX_TOKENS + 1);
        }
    }
}
