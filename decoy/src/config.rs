//! The decky's identity and the service persona, read once from the environment.
//!
//! Bad values never stop a decoy: each falls back to a realistic default and the
//! problems are reported together in one stderr line.

use serde_json::{Map, Value};

/// `nmap_os` family of the decky; picks the defaults that make banners consistent with the
/// TCP/IP fingerprint the base container shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Os {
    #[default]
    Linux,
    Windows,
    Bsd,
    Embedded,
    Cisco,
}

impl Os {
    pub fn parse(s: &str) -> Option<Os> {
        match s.trim().to_ascii_lowercase().as_str() {
            "linux" => Some(Os::Linux),
            "windows" => Some(Os::Windows),
            "bsd" => Some(Os::Bsd),
            "embedded" => Some(Os::Embedded),
            "cisco" => Some(Os::Cisco),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct Config {
    pub decky: String,
    pub hostname: String,
    pub os: Os,
    pub persona: Persona,
}

impl Config {
    /// Reads `DECNET_DECKY`, `DECNET_HOSTNAME`, `DECNET_OS` and `DECNET_PERSONA`.
    /// Returns the config and, if anything was wrong, the one warning to print.
    pub fn from_env() -> (Config, Option<String>) {
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> (Config, Option<String>) {
        let mut problems = Vec::new();
        let decky = match get("DECNET_DECKY") {
            Some(d) if is_hostname(&d) => d,
            Some(d) => {
                problems.push(format!("DECNET_DECKY {d:?} is not a decky name"));
                "decky".to_owned()
            }
            None => "decky".to_owned(),
        };
        let os = match get("DECNET_OS") {
            Some(s) => Os::parse(&s).unwrap_or_else(|| {
                problems.push(format!(
                    "DECNET_OS {s:?} is not one of linux, windows, bsd, embedded, cisco"
                ));
                Os::default()
            }),
            None => Os::default(),
        };
        let persona = match get("DECNET_PERSONA") {
            Some(raw) if raw.trim().is_empty() => Persona::default(),
            Some(raw) => match serde_json::from_str::<Value>(&raw) {
                Ok(Value::Object(map)) => Persona(map),
                Ok(_) => {
                    problems.push("DECNET_PERSONA is not a JSON object".to_owned());
                    Persona::default()
                }
                Err(e) => {
                    problems.push(format!("DECNET_PERSONA is not valid JSON ({e})"));
                    Persona::default()
                }
            },
            None => Persona::default(),
        };
        let hostname = match get("DECNET_HOSTNAME") {
            Some(h) if is_hostname(&h) => h,
            Some(h) => {
                problems.push(format!("DECNET_HOSTNAME {h:?} is not a hostname"));
                decky.clone()
            }
            None => decky.clone(),
        };
        let warning = (!problems.is_empty())
            .then(|| format!("decnet-decoy: using defaults: {}", problems.join("; ")));
        (
            Config {
                decky,
                hostname,
                os,
                persona,
            },
            warning,
        )
    }

    /// The persona's `hostname` key wins over the decky's (SPEC 3.2, ssh and telnet).
    pub fn hostname(&self) -> &str {
        match self.persona.str("hostname") {
            Some(h) if is_hostname(h) => h,
            _ => &self.hostname,
        }
    }
}

fn is_hostname(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
}

/// The service's persona keys (SPEC 3.2), as the server passed them.
#[derive(Clone, Debug, Default)]
pub struct Persona(pub Map<String, Value>);

impl Persona {
    /// A non-empty string value; numbers and booleans are accepted as their text, since
    /// INI values reach us typed by the server's schema.
    pub fn str(&self, key: &str) -> Option<&str> {
        match self.0.get(key) {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.as_str()),
            _ => None,
        }
    }

    pub fn string(&self, key: &str) -> Option<String> {
        match self.0.get(key) {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(decode_textarea(s)),
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(Value::Bool(b)) => Some(b.to_string()),
            _ => None,
        }
    }

    pub fn u64(&self, key: &str) -> Option<u64> {
        match self.0.get(key) {
            Some(Value::Number(n)) => n.as_u64(),
            Some(Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        }
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }
}

/// Textarea values may arrive as `b64:<base64>` (SPEC 3); anything that does not decode
/// to UTF-8 is kept as written.
fn decode_textarea(s: &str) -> String {
    use base64::Engine;
    if let Some(rest) = s.strip_prefix("b64:") {
        if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(rest.trim()) {
            if let Ok(text) = String::from_utf8(bytes) {
                return text;
            }
        }
    }
    s.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(vars: &[(&str, &str)]) -> (Config, Option<String>) {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn reads_identity_and_persona() {
        let (c, warn) = load(&[
            ("DECNET_DECKY", "web-01"),
            ("DECNET_HOSTNAME", "srv-web-42"),
            ("DECNET_OS", "Windows"),
            (
                "DECNET_PERSONA",
                r#"{"banner":"hi","response_code":401,"x":true}"#,
            ),
        ]);
        assert!(warn.is_none());
        assert_eq!(c.decky, "web-01");
        assert_eq!(c.hostname(), "srv-web-42");
        assert_eq!(c.os, Os::Windows);
        assert_eq!(c.persona.string("banner").as_deref(), Some("hi"));
        assert_eq!(c.persona.u64("response_code"), Some(401));
    }

    #[test]
    fn bad_values_fall_back_with_one_warning() {
        let (c, warn) = load(&[
            ("DECNET_OS", "plan9"),
            ("DECNET_PERSONA", "{not json"),
            ("DECNET_HOSTNAME", "bad host\n"),
        ]);
        let warn = warn.unwrap();
        assert!(warn.contains("DECNET_OS"));
        assert!(warn.contains("DECNET_PERSONA"));
        assert!(warn.contains("DECNET_HOSTNAME"));
        assert!(!warn.contains('\n'));
        assert_eq!(c.os, Os::Linux);
        assert_eq!(c.hostname(), "decky");
        assert!(c.persona.0.is_empty());
    }

    #[test]
    fn persona_hostname_wins_and_b64_textareas_decode() {
        let (c, _) = load(&[(
            "DECNET_PERSONA",
            r#"{"hostname":"nas01","custom_body":"b64:PGgxPmhpPC9oMT4="}"#,
        )]);
        assert_eq!(c.hostname(), "nas01");
        assert_eq!(
            c.persona.string("custom_body").as_deref(),
            Some("<h1>hi</h1>")
        );
    }
}
