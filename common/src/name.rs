//! Names that become Docker container names: [`DeckyName`] and [`ServiceSlug`].
//!
//! A decky's name ends up in `decnet-<decky>` and `decnet-<decky>-<service>`, in URLs and in
//! log rows, so it is parsed once, here, and the rest of the code only ever holds valid ones.
//! One rule everywhere (DECNET checked names differently in the INI, the API and the mutator).

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a string is not a valid [`DeckyName`] or [`ServiceSlug`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NameError(String);

/// Longest name: a DNS label (and what fits in a container name with its prefix).
const MAX_LEN: usize = 63;

/// `^[a-z0-9][a-z0-9-]{0,62}$`, without a regex engine.
fn is_decky_name(s: &str) -> bool {
    is_name(s, |b| b == b'-')
}

/// `^[a-z0-9][a-z0-9_-]{0,62}$`: service slugs also use `_` (`docker_api`).
fn is_service_slug(s: &str) -> bool {
    is_name(s, |b| b == b'-' || b == b'_')
}

fn is_name(s: &str, extra: impl Fn(u8) -> bool) -> bool {
    let bytes = s.as_bytes();
    let lower_or_digit = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    match bytes.split_first() {
        Some((&first, rest)) => {
            bytes.len() <= MAX_LEN
                && lower_or_digit(first)
                && rest.iter().all(|&b| lower_or_digit(b) || extra(b))
        }
        None => false,
    }
}

/// Echoes user input in messages without letting a huge value flood them.
pub(crate) fn shown(s: &str) -> Cow<'_, str> {
    const MAX_CHARS: usize = 80;
    match s.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => Cow::Owned(format!("{}...", &s[..cut])),
        None => Cow::Borrowed(s),
    }
}

/// The name of one decky: `^[a-z0-9][a-z0-9-]{0,62}$`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DeckyName(String);

impl DeckyName {
    /// The rule, as users read it in error messages.
    pub const RULE: &'static str = "^[a-z0-9][a-z0-9-]{0,62}$";

    pub fn parse(s: &str) -> Result<DeckyName, NameError> {
        if is_decky_name(s) {
            Ok(DeckyName(s.to_owned()))
        } else {
            Err(NameError(format!(
                "Invalid decky name '{}': use 1 to 63 lowercase letters, digits or '-', \
                 starting with a letter or digit ({})",
                shown(s),
                Self::RULE
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// The slug of a service (`ssh`, `docker_api`, or a bring-your-own `myservice`):
/// `^[a-z0-9][a-z0-9_-]{0,62}$`.
///
/// Borrowed for the catalogue's static tables, owned when parsed from input.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServiceSlug(Cow<'static, str>);

impl ServiceSlug {
    pub const RULE: &'static str = "^[a-z0-9][a-z0-9_-]{0,62}$";

    pub fn parse(s: &str) -> Result<ServiceSlug, NameError> {
        if is_service_slug(s) {
            Ok(ServiceSlug(Cow::Owned(s.to_owned())))
        } else {
            Err(NameError(format!(
                "Invalid service name '{}': use 1 to 63 lowercase letters, digits, '_' or '-', \
                 starting with a letter or digit ({})",
                shown(s),
                Self::RULE
            )))
        }
    }

    /// For the catalogue's literals; a unit test checks every one against the rule.
    pub(crate) const fn known(s: &'static str) -> ServiceSlug {
        ServiceSlug(Cow::Borrowed(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! string_newtype {
    ($ty:ident) => {
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $ty {
            type Err = NameError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $ty::parse(s)
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }

        impl PartialEq<str> for $ty {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }

        impl PartialEq<&str> for $ty {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }

        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                $ty::parse(&raw).map_err(serde::de::Error::custom)
            }
        }
    };
}

string_newtype!(DeckyName);
string_newtype!(ServiceSlug);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decky_names_follow_the_rule() {
        for ok in ["a", "web-01", "0", "a-", &"a".repeat(63)] {
            assert!(DeckyName::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-a", "Web", "a_b", "a.b", "a b", "é", &"a".repeat(64)] {
            assert!(DeckyName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn service_slugs_allow_underscore() {
        assert!(ServiceSlug::parse("docker_api").is_ok());
        assert!(ServiceSlug::parse("_x").is_err());
        assert!(ServiceSlug::parse("SSH").is_err());
    }

    #[test]
    fn decky_name_deserialize_validates() {
        let ok: DeckyName = serde_json::from_str("\"web-01\"").unwrap();
        assert_eq!(ok, "web-01");
        assert!(serde_json::from_str::<DeckyName>("\"Web\"").is_err());
        assert_eq!(serde_json::to_string(&ok).unwrap(), "\"web-01\"");
    }

    #[test]
    fn shown_truncates_long_input_on_a_char_boundary() {
        let long = "é".repeat(200);
        let s = shown(&long);
        assert!(s.ends_with("..."));
        assert_eq!(s.chars().count(), 83);
        assert_eq!(shown("short"), "short");
    }

    proptest! {
        #[test]
        fn decky_name_parse_never_panics_and_round_trips(s in "\\PC{0,80}") {
            if let Ok(n) = DeckyName::parse(&s) {
                prop_assert_eq!(n.as_str(), s.as_str());
            }
        }

        #[test]
        fn valid_decky_names_are_accepted(s in "[a-z0-9][a-z0-9-]{0,62}") {
            prop_assert!(DeckyName::parse(&s).is_ok());
        }
    }
}
