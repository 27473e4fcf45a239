//! `ftp`: a control connection that greets like vsftpd (or the OS's usual server), takes
//! USER/PASS, refuses every login and never touches a file.

use std::io;

use crate::config::{Config, Os};
use crate::event::Event;
use crate::limits::{Conn, Handler};

/// Failed logins before the server hangs up, as vsftpd's `max_login_fails`.
const MAX_LOGIN_FAILS: usize = 3;
/// Commands per connection before we hang up.
const MAX_COMMANDS: usize = 200;

pub struct Ftp {
    banner: String,
    syst: &'static str,
}

impl Ftp {
    pub fn new(cfg: &Config) -> Self {
        let host = cfg.hostname();
        let banner = match cfg.persona.string("banner") {
            Some(b) => {
                let b = b.replace(['\r', '\n'], " ");
                if b.starts_with("220") {
                    b
                } else {
                    format!("220 {b}")
                }
            }
            None => match cfg.os {
                Os::Linux => "220 (vsFTPd 3.0.5)".to_owned(),
                Os::Windows => "220 Microsoft FTP Service".to_owned(),
                Os::Bsd => format!("220 {host} FTP server (Version 6.00LS) ready."),
                Os::Embedded => "220 BusyBox FTP server ready".to_owned(),
                Os::Cisco => format!("220 {host} IOS-FTP server (version 1.00) ready."),
            },
        };
        let syst = match cfg.os {
            Os::Windows => "215 Windows_NT",
            _ => "215 UNIX Type: L8",
        };
        Ftp { banner, syst }
    }
}

impl Handler for Ftp {
    async fn handle(&self, mut conn: Conn) -> io::Result<()> {
        conn.write_all(format!("{}\r\n", self.banner).as_bytes())
            .await?;
        let mut user: Option<Vec<u8>> = None;
        let mut fails = 0;
        for _ in 0..MAX_COMMANDS {
            let line = match conn.read_line().await {
                Ok(Some(l)) => l,
                Ok(None) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                    conn.write_all(b"500 Input line too long.\r\n").await?;
                    return Ok(());
                }
                Err(e) => return Err(e),
            };
            let (verb, arg) = split_command(&line);
            match verb.as_str() {
                "USER" => {
                    user = Some(arg.to_vec());
                    conn.write_all(b"331 Please specify the password.\r\n")
                        .await?;
                    continue;
                }
                "PASS" => {
                    let Some(name) = user.take() else {
                        conn.write_all(b"503 Login with USER first.\r\n").await?;
                        continue;
                    };
                    conn.emit(Event::auth(&name, arg).field("method", "password"));
                    conn.auth_pause().await;
                    conn.write_all(b"530 Login incorrect.\r\n").await?;
                    fails += 1;
                    if fails >= MAX_LOGIN_FAILS {
                        return Ok(());
                    }
                    continue;
                }
                _ => {}
            }
            conn.emit(Event::command(&line));
            let reply: &[u8] = match verb.as_str() {
                "QUIT" => {
                    conn.write_all(b"221 Goodbye.\r\n").await?;
                    return Ok(());
                }
                "SYST" => {
                    conn.write_all(format!("{}\r\n", self.syst).as_bytes())
                        .await?;
                    continue;
                }
                "FEAT" => b"211-Features:\r\n EPRT\r\n EPSV\r\n MDTM\r\n PASV\r\n REST STREAM\r\n SIZE\r\n TVFS\r\n UTF8\r\n211 End\r\n",
                "NOOP" => b"200 NOOP ok.\r\n",
                "OPTS" => b"200 Always in UTF8 mode.\r\n",
                "HELP" => b"214-The following commands are recognized.\r\n ABOR ACCT ALLO APPE CDUP CWD  DELE EPRT EPSV FEAT HELP LIST MDTM MKD\r\n MODE NLST NOOP OPTS PASS PASV PORT PWD  QUIT REIN REST RETR RMD  RNFR\r\n RNTO SITE SIZE SMNT STAT STOR STOU STRU SYST TYPE USER XCUP XCWD XMKD\r\n XPWD XRMD\r\n214 Help OK.\r\n",
                "" => b"500 Unknown command.\r\n",
                // Before login vsftpd answers everything else (AUTH TLS included) this way.
                _ => b"530 Please login with USER and PASS.\r\n",
            };
            conn.write_all(reply).await?;
        }
        conn.write_all(b"421 Timeout.\r\n").await
    }
}

/// `VERB arg` -> (uppercased verb, raw argument).
pub fn split_command(line: &[u8]) -> (String, &[u8]) {
    let (verb, arg) = match line.iter().position(|&b| b == b' ') {
        Some(i) => (&line[..i], &line[i + 1..]),
        None => (line, &b""[..]),
    };
    let verb = String::from_utf8_lossy(&verb[..verb.len().min(16)]).to_ascii_uppercase();
    (verb, arg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::testkit;

    fn cfg() -> Config {
        testkit::config("files", "files")
    }

    #[tokio::test]
    async fn login_is_captured_and_refused() {
        let t = testkit::start("ftp", cfg()).await;
        let mut c = t.connect(0).await;
        assert_eq!(c.read_line().await, "220 (vsFTPd 3.0.5)");
        c.line("USER anonymous").await;
        assert!(c.read_line().await.starts_with("331"));
        c.line("PASS guest@example.com").await;
        assert_eq!(c.read_line().await, "530 Login incorrect.");
        c.line("SYST").await;
        assert_eq!(c.read_line().await, "215 UNIX Type: L8");
        c.line("LIST /etc").await;
        assert!(c.read_line().await.starts_with("530"));
        c.line("QUIT").await;
        assert!(c.read_line().await.starts_with("221"));

        let mut ev = t.events();
        let a = ev.expect("auth").await;
        assert_eq!(a["username"], "anonymous");
        assert_eq!(a["password"], "guest@example.com");
        assert_eq!(a["service"], "ftp");
        assert_eq!(ev.expect("command").await["command"], "SYST");
        assert_eq!(ev.expect("command").await["command"], "LIST /etc");
    }

    #[tokio::test]
    async fn three_failures_hang_up() {
        let t = testkit::start("ftp", cfg()).await;
        let mut c = t.connect(0).await;
        c.read_line().await;
        for i in 0..3 {
            c.line(&format!("USER u{i}")).await;
            c.read_line().await;
            c.line("PASS p").await;
            assert!(c.read_line().await.starts_with("530"));
        }
        assert!(c.read_to_close().await.is_empty());
    }

    #[test]
    fn persona_banner_gets_a_reply_code() {
        let mut c = cfg();
        c.persona
            .0
            .insert("banner".into(), "ProFTPD 1.3.5 Server".into());
        assert_eq!(Ftp::new(&c).banner, "220 ProFTPD 1.3.5 Server");
    }
}
