//! `telnet`: option negotiation, a `login:`/`Password:` dialogue in the style of the OS,
//! capture, then `Login incorrect`. There is no shell behind it.

use std::io;

use crate::config::{Config, Os};
use crate::event::Event;
use crate::limits::{Conn, Handler};

const IAC: u8 = 255;
const DONT: u8 = 254;
const DO: u8 = 253;
const WILL: u8 = 251;
const SB: u8 = 250;
const SE: u8 = 240;
const BINARY: u8 = 0;
const ECHO: u8 = 1;
const SGA: u8 = 3;
const TTYPE: u8 = 24;
const NAWS: u8 = 31;
const TSPEED: u8 = 32;
const LFLOW: u8 = 33;
const XDISPLOC: u8 = 35;
const AUTHENTICATION: u8 = 37;
const NEW_ENVIRON: u8 = 39;

/// How long a server that negotiates first waits for the client's answer before it
/// shows the prompt anyway (raw `nc` clients never answer).
const NEGOTIATION_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Login attempts per connection, as `login(1)`.
const MAX_ATTEMPTS: usize = 3;
/// Longest username or password kept; the rest of the line is dropped.
const FIELD_MAX: usize = 256;
/// Longest option subnegotiation we skip before giving up on the peer.
const SB_MAX: usize = 1024;

struct Style {
    /// Option negotiation sent on connect, as the imitated telnetd does (nmap keys on it).
    opening: &'static [u8],
    /// netkit and IOS negotiate first and print the prompt after the client answered.
    wait_for_peer: bool,
    /// Sent once the client answered, before the greeting.
    after: &'static [u8],
    /// Printed once before the first prompt.
    greeting: String,
    login: String,
    password: &'static str,
    failed: &'static str,
}

pub struct Telnet {
    style: Style,
}

impl Telnet {
    pub fn new(cfg: &Config) -> Self {
        let host = cfg.hostname();
        let banner = cfg
            .persona
            .string("banner")
            .map(|b| b.replace('\n', "\r\n"));
        let style = match cfg.os {
            Os::Cisco => Style {
                opening: &[
                    IAC, WILL, ECHO, IAC, WILL, SGA, IAC, DO, TTYPE, IAC, DO, NAWS,
                ],
                wait_for_peer: true,
                after: &[],
                greeting: banner.unwrap_or_default() + "\r\n\r\nUser Access Verification\r\n\r\n",
                login: "Username: ".into(),
                password: "Password: ",
                failed: "% Login invalid\r\n\r\n",
            },
            Os::Windows => Style {
                opening: &[
                    IAC,
                    DO,
                    AUTHENTICATION,
                    IAC,
                    WILL,
                    ECHO,
                    IAC,
                    WILL,
                    SGA,
                    IAC,
                    DO,
                    NEW_ENVIRON,
                    IAC,
                    DO,
                    NAWS,
                    IAC,
                    DO,
                    BINARY,
                    IAC,
                    WILL,
                    BINARY,
                ],
                wait_for_peer: false,
                after: &[],
                greeting: banner
                    .unwrap_or_else(|| "Welcome to Microsoft Telnet Service \r\n".to_owned())
                    + "\r\n",
                login: "login: ".into(),
                password: "password: ",
                failed: "Login Failed\r\n\r\n",
            },
            Os::Embedded => Style {
                // BusyBox telnetd.
                opening: &[
                    IAC, DO, ECHO, IAC, DO, NAWS, IAC, DO, LFLOW, IAC, WILL, ECHO, IAC, WILL, SGA,
                ],
                wait_for_peer: false,
                after: &[],
                greeting: banner.map(|b| b + "\r\n").unwrap_or_default() + "\r\n",
                login: format!("{host} login: "),
                password: "Password: ",
                failed: "Login incorrect\r\n",
            },
            Os::Linux | Os::Bsd => Style {
                // netkit/FreeBSD telnetd: ask for terminal details, then login(1) talks.
                opening: &[
                    IAC,
                    DO,
                    TTYPE,
                    IAC,
                    DO,
                    TSPEED,
                    IAC,
                    DO,
                    XDISPLOC,
                    IAC,
                    DO,
                    NEW_ENVIRON,
                ],
                wait_for_peer: true,
                after: &[IAC, WILL, ECHO, IAC, WILL, SGA],
                greeting: banner.unwrap_or_else(|| {
                    if cfg.os == Os::Bsd {
                        "FreeBSD/amd64 (".to_owned() + host + ") (pts/0)\r\n"
                    } else {
                        "Ubuntu 22.04.4 LTS".to_owned()
                    }
                }) + "\r\n",
                login: format!("{host} login: "),
                password: "Password: ",
                failed: "\r\nLogin incorrect\r\n",
            },
        };
        Telnet { style }
    }
}

impl Handler for Telnet {
    async fn handle(&self, mut conn: Conn) -> io::Result<()> {
        let mut input = Input::default();
        let mut hello = self.style.opening.to_vec();
        if self.style.wait_for_peer {
            conn.write_all(&hello).await?;
            if !input.wait_for_peer(&mut conn, NEGOTIATION_WAIT).await? {
                return Ok(());
            }
            hello = self.style.after.to_vec();
        }
        hello.extend_from_slice(self.style.greeting.as_bytes());
        hello.extend_from_slice(self.style.login.as_bytes());
        conn.write_all(&hello).await?;
        let mut attempts = 0;
        while attempts < MAX_ATTEMPTS {
            let Some(user) = input.next_line(&mut conn, true).await? else {
                return Ok(());
            };
            if user.is_empty() {
                conn.write_all(self.style.login.as_bytes()).await?;
                continue;
            }
            conn.write_all(self.style.password.as_bytes()).await?;
            let Some(pass) = input.next_line(&mut conn, false).await? else {
                conn.emit(Event::auth(&user, "").field("method", "password"));
                return Ok(());
            };
            conn.emit(Event::auth(&user, &pass).field("method", "password"));
            attempts += 1;
            conn.auth_pause().await;
            let mut reply = self.style.failed.as_bytes().to_vec();
            if attempts < MAX_ATTEMPTS {
                reply.extend_from_slice(self.style.login.as_bytes());
            }
            conn.write_all(&reply).await?;
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum State {
    #[default]
    Data,
    Iac,
    Option,
    Sub(usize),
    SubIac(usize),
    /// After CR: a following LF or NUL belongs to the same end of line.
    Cr,
}

/// The line editor: strips telnet commands, handles CR LF / CR NUL and backspace, echoes
/// when asked, and keeps bytes that arrived after a line for the next one.
#[derive(Default)]
pub struct Input {
    state: State,
    line: Vec<u8>,
    pending: Vec<u8>,
    pos: usize,
}

/// What one byte did to the line.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    Nothing,
    Echo(u8),
    Erase,
    Done,
    /// Ctrl-D on an empty line, or a subnegotiation that never ends.
    Hangup,
}

impl Input {
    pub fn feed(&mut self, b: u8) -> Step {
        match self.state {
            State::Iac => {
                self.state = match b {
                    IAC => {
                        self.push(b);
                        State::Data
                    }
                    WILL..=DONT => State::Option,
                    SB => State::Sub(0),
                    _ => State::Data,
                };
                Step::Nothing
            }
            State::Option => {
                self.state = State::Data;
                Step::Nothing
            }
            State::Sub(n) if n > SB_MAX => Step::Hangup,
            State::Sub(n) => {
                self.state = if b == IAC {
                    State::SubIac(n + 1)
                } else {
                    State::Sub(n + 1)
                };
                Step::Nothing
            }
            State::SubIac(n) => {
                self.state = if b == SE {
                    State::Data
                } else {
                    State::Sub(n + 1)
                };
                Step::Nothing
            }
            State::Cr if b == b'\n' || b == 0 => {
                self.state = State::Data;
                Step::Nothing
            }
            State::Cr | State::Data => {
                self.state = State::Data;
                match b {
                    IAC => {
                        self.state = State::Iac;
                        Step::Nothing
                    }
                    b'\r' => {
                        self.state = State::Cr;
                        Step::Done
                    }
                    b'\n' => Step::Done,
                    0x08 | 0x7f => match self.line.pop() {
                        Some(_) => Step::Erase,
                        None => Step::Nothing,
                    },
                    0x04 if self.line.is_empty() => Step::Hangup,
                    0 => Step::Nothing,
                    b => {
                        if self.push(b) {
                            Step::Echo(b)
                        } else {
                            Step::Nothing
                        }
                    }
                }
            }
        }
    }

    fn push(&mut self, b: u8) -> bool {
        if self.line.len() < FIELD_MAX {
            self.line.push(b);
            true
        } else {
            false
        }
    }

    /// Waits up to `wait` for the client's first bytes (kept for the line editor).
    /// `false` when the client left.
    pub async fn wait_for_peer(
        &mut self,
        conn: &mut Conn,
        wait: std::time::Duration,
    ) -> io::Result<bool> {
        match tokio::time::timeout(wait, conn.read_some()).await {
            Ok(Ok(bytes)) if bytes.is_empty() => Ok(false),
            Ok(Ok(bytes)) => {
                self.pending = bytes;
                self.pos = 0;
                Ok(true)
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Ok(true),
        }
    }

    /// The next line, echoing typed characters when `echo`; `None` when the peer leaves.
    pub async fn next_line(&mut self, conn: &mut Conn, echo: bool) -> io::Result<Option<Vec<u8>>> {
        loop {
            let mut out = Vec::new();
            let mut done = None;
            while self.pos < self.pending.len() {
                let b = self.pending[self.pos];
                self.pos += 1;
                match self.feed(b) {
                    Step::Nothing => {}
                    Step::Echo(c) if echo => out.push(c),
                    Step::Echo(_) => {}
                    Step::Erase if echo => out.extend_from_slice(b"\x08 \x08"),
                    Step::Erase => {}
                    Step::Done => {
                        out.extend_from_slice(b"\r\n");
                        done = Some(std::mem::take(&mut self.line));
                        break;
                    }
                    Step::Hangup => return Ok(None),
                }
            }
            if !out.is_empty() {
                conn.write_all(&out).await?;
            }
            if done.is_some() {
                return Ok(done);
            }
            self.pending = conn.read_some().await?;
            self.pos = 0;
            if self.pending.is_empty() {
                return Ok(None);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::testkit;
    use proptest::prelude::*;

    fn cfg() -> Config {
        Config {
            os: Os::Embedded,
            ..testkit::config("cam-01", "cam-01")
        }
    }

    #[tokio::test]
    async fn login_is_captured_then_refused() {
        let t = testkit::start("telnet", cfg()).await;
        let mut c = t.connect(0).await;
        let hello = c.read_exact(15).await;
        assert_eq!(hello[..6], [IAC, DO, ECHO, IAC, DO, NAWS]);
        assert_eq!(c.read_until("login: ").await, "\r\ncam-01 login: ");
        // A client answering our options, then typing in character mode.
        c.send(&[
            IAC, DO, ECHO, IAC, WILL, NAWS, IAC, SB, NAWS, 0, 80, 0, 24, IAC, SE,
        ])
        .await;
        c.send(b"roo").await;
        c.send(b"t\r\0").await;
        assert_eq!(c.read_until("Password: ").await, "root\r\nPassword: ");
        c.send(b"x\x7fadmin\r\n").await;
        assert_eq!(
            c.read_until("login: ").await,
            "\r\nLogin incorrect\r\ncam-01 login: "
        );
        let a = t.events().expect("auth").await;
        assert_eq!(a["username"], "root");
        assert_eq!(a["password"], "admin");
    }

    #[tokio::test]
    async fn scripted_clients_sending_everything_at_once_work() {
        let t = testkit::start("telnet", cfg()).await;
        let mut c = t.connect(0).await;
        c.read_until("login: ").await;
        c.send(b"admin\r\n1234\r\nuser\r\npass\r\n").await;
        let mut ev = t.events();
        let a = ev.expect("auth").await;
        assert_eq!(
            (a["username"].as_str(), a["password"].as_str()),
            (Some("admin"), Some("1234"))
        );
        let a = ev.expect("auth").await;
        assert_eq!(
            (a["username"].as_str(), a["password"].as_str()),
            (Some("user"), Some("pass"))
        );
    }

    #[tokio::test]
    async fn linux_style_negotiates_before_the_prompt() {
        let cfg = Config {
            hostname: "web".into(),
            ..Config::default()
        };
        let t = testkit::start("telnet", cfg).await;
        let mut c = t.connect(0).await;
        assert_eq!(
            c.read_exact(12).await,
            [
                IAC,
                DO,
                TTYPE,
                IAC,
                DO,
                TSPEED,
                IAC,
                DO,
                XDISPLOC,
                IAC,
                DO,
                NEW_ENVIRON
            ]
        );
        c.send(&[IAC, 252, TTYPE, IAC, 252, TSPEED]).await;
        let rest = c.read_until("web login: ").await;
        assert!(rest.contains("Ubuntu"), "{rest:?}");
        c.send(
            b"root
root
",
        )
        .await;
        let a = t.events().expect("auth").await;
        assert_eq!(
            (a["username"].as_str(), a["password"].as_str()),
            (Some("root"), Some("root"))
        );
    }

    proptest! {
        #[test]
        fn editor_never_panics_and_stays_bounded(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
            let mut input = Input::default();
            for b in bytes {
                let _ = input.feed(b);
                prop_assert!(input.line.len() <= FIELD_MAX);
            }
        }
    }
}
