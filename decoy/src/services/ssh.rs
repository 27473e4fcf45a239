//! `ssh`: a russh server with fresh host keys, the persona's version banner, and password,
//! keyboard-interactive and public-key authentication that all record and all fail. No
//! channel is ever opened, so there is no shell to reach.

use std::borrow::Cow;
use std::io;
use std::sync::Arc;

use russh::keys::{Algorithm, EcdsaCurve, HashAlg, PrivateKey, PublicKey};
use russh::server::{Auth, Config as SshConfig, Response};
use russh::{MethodKind, MethodSet, SshId};

use crate::config::{Config, Os};
use crate::event::Event;
use crate::limits::{Conn, Handler, Killable, Limits, Session};

/// OpenSSH's MaxAuthTries default.
const MAX_AUTH_TRIES: usize = 6;
/// Public keys reported per connection (agents offer many).
const MAX_KEYS_REPORTED: usize = 5;

pub struct Ssh {
    config: Arc<SshConfig>,
}

pub fn default_banner(os: Os) -> &'static str {
    match os {
        Os::Linux => "SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6",
        Os::Windows => "SSH-2.0-OpenSSH_for_Windows_8.1",
        Os::Bsd => "SSH-2.0-OpenSSH_9.3 FreeBSD-20230719",
        Os::Embedded => "SSH-2.0-dropbear_2020.81",
        Os::Cisco => "SSH-2.0-Cisco-1.25",
    }
}

/// The identification string: the persona's `banner` (with `SSH-2.0-` added if missing),
/// printable ASCII only and within RFC 4253's 255 bytes.
pub fn banner(cfg: &Config) -> String {
    let Some(raw) = cfg.persona.string("banner") else {
        return default_banner(cfg.os).to_owned();
    };
    let clean: String = raw
        .chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .take(240)
        .collect();
    if clean.is_empty() {
        default_banner(cfg.os).to_owned()
    } else if clean.starts_with("SSH-") {
        clean
    } else {
        format!("SSH-2.0-{clean}")
    }
}

impl Ssh {
    pub fn new(cfg: &Config, limits: Limits) -> Result<Self, String> {
        let mut rng = rand_core::OsRng;
        let keys = [
            Algorithm::Ed25519,
            Algorithm::Ecdsa {
                curve: EcdsaCurve::NistP256,
            },
        ]
        .into_iter()
        .map(|alg| PrivateKey::random(&mut rng, alg).map_err(|e| format!("ssh host key: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
        let config = SshConfig {
            server_id: SshId::Standard(banner(cfg)),
            methods: methods(),
            auth_rejection_time: limits.auth_delay,
            auth_rejection_time_initial: Some(std::time::Duration::ZERO),
            keys,
            max_auth_attempts: MAX_AUTH_TRIES,
            inactivity_timeout: Some(limits.idle),
            nodelay: true,
            ..SshConfig::default()
        };
        Ok(Ssh {
            config: Arc::new(config),
        })
    }
}

impl Handler for Ssh {
    async fn handle(&self, conn: Conn) -> io::Result<()> {
        let peer = Peer {
            session: conn.session.clone(),
            keys_reported: 0,
        };
        // russh runs the session in a task of its own: tie its stream to this handler.
        let (io, _kill) = Killable::new(conn.into_io());
        let running = russh::server::run_stream(self.config.clone(), io, peer)
            .await
            .map_err(io::Error::other)?;
        running.await.map_err(io::Error::other)
    }
}

/// One SSH client, as russh sees it.
struct Peer {
    session: Session,
    keys_reported: usize,
}

/// The methods OpenSSH offers by default, in its order.
fn methods() -> MethodSet {
    MethodSet::from(
        &[
            MethodKind::PublicKey,
            MethodKind::Password,
            MethodKind::KeyboardInteractive,
        ][..],
    )
}

/// A failure that, as in OpenSSH, leaves every method open for the next try (russh would
/// otherwise drop the method just tried from the list it sends).
fn reject() -> Auth {
    Auth::Reject {
        proceed_with_methods: Some(methods()),
        partial_success: false,
    }
}

impl Peer {
    fn report_key(&mut self, user: &str, key: &PublicKey) {
        if self.keys_reported >= MAX_KEYS_REPORTED {
            return;
        }
        self.keys_reported += 1;
        self.session.emit(
            Event::auth(user, "")
                .field("method", "publickey")
                .field("key_type", key.algorithm().as_str().to_owned())
                .field(
                    "key_fingerprint",
                    key.fingerprint(HashAlg::Sha256).to_string(),
                ),
        );
    }
}

impl russh::server::Handler for Peer {
    type Error = russh::Error;

    async fn auth_password(&mut self, user: &str, password: &str) -> Result<Auth, Self::Error> {
        self.session
            .emit(Event::auth(user, password).field("method", "password"));
        Ok(reject())
    }

    async fn auth_publickey_offered(
        &mut self,
        user: &str,
        key: &PublicKey,
    ) -> Result<Auth, Self::Error> {
        self.report_key(user, key);
        Ok(reject())
    }

    async fn auth_publickey(&mut self, _user: &str, _key: &PublicKey) -> Result<Auth, Self::Error> {
        Ok(reject())
    }

    async fn auth_keyboard_interactive<'a>(
        &'a mut self,
        user: &str,
        _submethods: &str,
        response: Option<Response<'a>>,
    ) -> Result<Auth, Self::Error> {
        let Some(mut answers) = response else {
            return Ok(Auth::Partial {
                name: Cow::Borrowed(""),
                instructions: Cow::Borrowed(""),
                prompts: Cow::Owned(vec![(Cow::Borrowed("Password: "), false)]),
            });
        };
        let password = answers.next().unwrap_or_default();
        self.session
            .emit(Event::auth(user, password.as_ref()).field("method", "keyboard-interactive"));
        Ok(reject())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::testkit;

    struct Client;

    impl russh::client::Handler for Client {
        type Error = russh::Error;

        async fn check_server_key(&mut self, _key: &PublicKey) -> Result<bool, Self::Error> {
            Ok(true)
        }
    }

    fn cfg() -> Config {
        testkit::config_with_persona("jump", "jump", serde_json::json!({"banner": "OpenSSH_7.4"}))
    }

    #[test]
    fn banners_follow_persona_and_os() {
        assert_eq!(banner(&cfg()), "SSH-2.0-OpenSSH_7.4");
        let c = Config {
            os: Os::Embedded,
            ..Config::default()
        };
        assert_eq!(banner(&c), "SSH-2.0-dropbear_2020.81");
    }

    #[tokio::test]
    async fn password_and_keyboard_interactive_are_captured_and_refused() {
        let t = testkit::start("ssh", cfg()).await;
        let mut c = t.connect(0).await;
        assert_eq!(c.read_line().await, "SSH-2.0-OpenSSH_7.4");
        drop(c);

        let config = Arc::new(russh::client::Config::default());
        let mut session = russh::client::connect(config, t.addrs[0], Client)
            .await
            .expect("ssh handshake");
        let ok = session
            .authenticate_password("root", "toor123")
            .await
            .expect("auth exchange");
        assert!(!ok.success());
        let kb = session
            .authenticate_keyboard_interactive_start("admin", None)
            .await
            .expect("kbd start");
        match kb {
            russh::client::KeyboardInteractiveAuthResponse::InfoRequest { prompts, .. } => {
                assert_eq!(prompts[0].prompt, "Password: ");
                let res = session
                    .authenticate_keyboard_interactive_respond(vec!["s3cret".into()])
                    .await
                    .expect("kbd respond");
                assert!(matches!(
                    res,
                    russh::client::KeyboardInteractiveAuthResponse::Failure { .. }
                ));
            }
            other => panic!("unexpected {other:?}"),
        }
        let mut ev = t.events();
        let a = ev.expect("auth").await;
        assert_eq!(
            (a["username"].as_str(), a["password"].as_str()),
            (Some("root"), Some("toor123"))
        );
        assert_eq!(a["method"], "password");
        let a = ev.expect("auth").await;
        assert_eq!(
            (a["username"].as_str(), a["password"].as_str()),
            (Some("admin"), Some("s3cret"))
        );
        assert_eq!(a["method"], "keyboard-interactive");
    }
}
