//! Persona schemas and values: what a `[decky.service]` subsection may set, typed.
//!
//! Each service in the catalogue lists its [`PersonaField`]s; the INI loader turns the raw
//! strings of a subsection into [`PersonaValue`]s through [`PersonaField::parse_value`], so
//! `nla=false` reaches the decoy as the boolean `false` (DECNET passed the string through,
//! and a non-empty string is true).

use std::borrow::Cow;
use std::collections::BTreeMap;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::name::{shown, ServiceSlug};

/// One typed value of a persona key. JSON: a plain string, number or boolean.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PersonaValue {
    Bool(bool),
    Int(i64),
    Text(String),
}

/// Persona keys of one service, by key.
pub type PersonaMap = BTreeMap<String, PersonaValue>;

/// Persona settings of one decky, by service.
pub type ServiceConfig = BTreeMap<ServiceSlug, PersonaMap>;

/// The type of a persona key, as the browser renders its input.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum FieldType {
    /// One line of text.
    String,
    /// A whole number in `min..=max`.
    Int { min: i64, max: i64 },
    /// `true/false`, `yes/no`, `on/off`, `1/0` (any case).
    Bool,
    /// One of `values` (any case; stored as listed).
    Enum {
        values: Cow<'static, [Cow<'static, str>]>,
    },
    /// Multi-line text (INI continuation lines); `b64:<base64>` is decoded.
    Textarea,
}

/// One key a service's persona may set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonaField {
    pub key: Cow<'static, str>,
    #[serde(flatten)]
    pub field_type: FieldType,
    /// What the decoy uses when the key is absent, in INI form (the UI's placeholder).
    pub default: Option<Cow<'static, str>>,
    pub description: Cow<'static, str>,
}

impl PersonaField {
    /// Parses an INI value for this key. The error completes a sentence that starts with
    /// `key='value'`, e.g. `is not a boolean: use true/false, yes/no, on/off or 1/0`.
    pub fn parse_value(&self, raw: &str) -> Result<PersonaValue, String> {
        let t = raw.trim();
        let single_line = || {
            if t.contains('\n') {
                Err("must be a single line".to_owned())
            } else {
                Ok(())
            }
        };
        match &self.field_type {
            FieldType::String => single_line().map(|()| PersonaValue::Text(t.to_owned())),
            FieldType::Int { min, max } => {
                let bad = || format!("is not an integer between {min} and {max}");
                let n: i64 = t.parse().map_err(|_| bad())?;
                if (*min..=*max).contains(&n) {
                    Ok(PersonaValue::Int(n))
                } else {
                    Err(bad())
                }
            }
            FieldType::Bool => parse_bool(t)
                .map(PersonaValue::Bool)
                .ok_or_else(|| "is not a boolean: use true/false, yes/no, on/off or 1/0".into()),
            FieldType::Enum { values } => values
                .iter()
                .find(|v| v.eq_ignore_ascii_case(t))
                .map(|v| PersonaValue::Text(v.to_string()))
                .ok_or_else(|| format!("is not one of: {}", values.join(", "))),
            FieldType::Textarea => match t.strip_prefix("b64:") {
                Some(encoded) => decode_b64(encoded).map(PersonaValue::Text),
                None => Ok(PersonaValue::Text(t.to_owned())),
            },
        }
    }
}

/// The booleans the INI accepts (as configparser's `getboolean`).
pub fn parse_bool(s: &str) -> Option<bool> {
    const TRUE: [&str; 4] = ["true", "yes", "on", "1"];
    const FALSE: [&str; 4] = ["false", "no", "off", "0"];
    let s = s.trim();
    if TRUE.iter().any(|t| t.eq_ignore_ascii_case(s)) {
        Some(true)
    } else if FALSE.iter().any(|f| f.eq_ignore_ascii_case(s)) {
        Some(false)
    } else {
        None
    }
}

/// Standard alphabet, padding optional, whitespace (continuation lines) ignored.
fn decode_b64(encoded: &str) -> Result<String, String> {
    const ENGINE: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    let compact: String = encoded
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let bytes = ENGINE
        .decode(compact.as_bytes())
        .map_err(|e| format!("is not valid base64 after 'b64:' ({e})"))?;
    String::from_utf8(bytes).map_err(|_| "does not decode to UTF-8 text".to_owned())
}

/// `key='value'` for messages.
pub(crate) fn key_value(key: &str, raw: &str) -> String {
    format!("{key}='{}'", shown(raw.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(field_type: FieldType) -> PersonaField {
        PersonaField {
            key: "k".into(),
            field_type,
            default: None,
            description: "".into(),
        }
    }

    #[test]
    fn bools_accept_the_usual_spellings() {
        let f = field(FieldType::Bool);
        for t in ["true", "YES", "on", "1", " True "] {
            assert_eq!(f.parse_value(t), Ok(PersonaValue::Bool(true)), "{t}");
        }
        for t in ["false", "No", "OFF", "0"] {
            assert_eq!(f.parse_value(t), Ok(PersonaValue::Bool(false)), "{t}");
        }
        assert!(f.parse_value("maybe").is_err());
        assert!(f.parse_value("").is_err());
    }

    #[test]
    fn ints_are_bounded() {
        let f = field(FieldType::Int { min: 100, max: 599 });
        assert_eq!(f.parse_value("404"), Ok(PersonaValue::Int(404)));
        assert!(f.parse_value("99").is_err());
        assert!(f.parse_value("600").is_err());
        assert!(f.parse_value("abc").is_err());
        assert!(f.parse_value("99999999999999999999999").is_err());
    }

    #[test]
    fn enums_match_any_case_and_store_the_listed_spelling() {
        let f = field(FieldType::Enum {
            values: Cow::Owned(vec!["none".into(), "wordpress".into()]),
        });
        assert_eq!(
            f.parse_value("WordPress"),
            Ok(PersonaValue::Text("wordpress".into()))
        );
        assert_eq!(
            f.parse_value("joomla"),
            Err("is not one of: none, wordpress".into())
        );
    }

    #[test]
    fn textarea_b64_is_decoded() {
        let f = field(FieldType::Textarea);
        assert_eq!(
            f.parse_value("b64:aGVsbG8gd29ybGQ="),
            Ok(PersonaValue::Text("hello world".into()))
        );
        // Padding optional; line breaks from continuation lines ignored.
        assert_eq!(
            f.parse_value("b64:aGVsbG8g\nd29ybGQ"),
            Ok(PersonaValue::Text("hello world".into()))
        );
        assert!(f.parse_value("b64:!!!").is_err());
        assert!(f.parse_value("b64://79").is_err(), "not UTF-8");
        assert_eq!(
            f.parse_value("line one\nline two"),
            Ok(PersonaValue::Text("line one\nline two".into()))
        );
    }

    #[test]
    fn strings_are_one_line() {
        let f = field(FieldType::String);
        assert_eq!(f.parse_value(" x "), Ok(PersonaValue::Text("x".into())));
        assert!(f.parse_value("a\nb").is_err());
    }

    #[test]
    fn persona_values_serialise_as_plain_json() {
        let v = vec![
            PersonaValue::Bool(false),
            PersonaValue::Int(200),
            PersonaValue::Text("x".into()),
        ];
        let json = serde_json::to_string(&v).unwrap();
        assert_eq!(json, r#"[false,200,"x"]"#);
        assert_eq!(serde_json::from_str::<Vec<PersonaValue>>(&json).unwrap(), v);
    }

    #[test]
    fn field_schema_serialises_with_a_type_tag() {
        let f = field(FieldType::Int { min: 1, max: 2 });
        let json = serde_json::to_value(&f).unwrap();
        assert_eq!(json["type"], "int");
        assert_eq!(json["min"], 1);
        let back: PersonaField = serde_json::from_value(json).unwrap();
        assert_eq!(back, f);
    }
}
