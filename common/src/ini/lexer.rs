//! Lines -> sections of `key = value`, with syntax errors and line numbers.
//!
//! Hand-written rather than rust-ini so every rule of the module docs is ours to state and
//! test (configparser's indentation-based continuations, header comments, no interpolation).

use std::collections::BTreeMap;

use super::{ErrorSink, IniError, IniErrorKind};
use crate::name::shown;

/// One `[section]`, repeated headers merged.
pub(super) struct Section<'a> {
    pub name: &'a str,
    /// Line of its first header.
    pub line: usize,
    /// Lowercased key -> last value given.
    pub keys: BTreeMap<String, Entry>,
}

pub(super) struct Entry {
    pub value: String,
    /// Line of the key (a continuation does not move it).
    pub line: usize,
}

impl Section<'_> {
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.keys.get(key)
    }

    /// A key whose value is not blank.
    pub fn value(&self, key: &str) -> Option<(&str, usize)> {
        self.get(key)
            .map(|e| (e.value.trim(), e.line))
            .filter(|(v, _)| !v.is_empty())
    }
}

fn syntax(line: usize, message: String) -> IniError {
    IniError::new(IniErrorKind::Syntax, message, Some(line))
}

/// The key line a following, deeper-indented line continues.
struct Open {
    section: usize,
    key: String,
    indent: usize,
}

pub(super) fn lex<'a>(text: &'a str, errors: &mut ErrorSink) -> Vec<Section<'a>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut sections: Vec<Section<'a>> = Vec::new();
    let mut by_name: BTreeMap<&'a str, usize> = BTreeMap::new();
    let mut current: Option<usize> = None;
    // After a broken header, its keys are dropped quietly rather than each reported.
    let mut broken_header = false;
    let mut open: Option<Open> = None;

    for (index, raw) in text.split('\n').enumerate() {
        let lineno = index + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if let Some(c) = line.chars().find(|&c| c.is_control() && c != '\t') {
            errors.push_with(|| {
                syntax(
                    lineno,
                    format!(
                        "control character U+{:04X} is not allowed in an INI",
                        u32::from(c)
                    ),
                )
            });
            open = None;
            continue;
        }
        let trimmed = line.trim();
        if trimmed.is_empty() {
            open = None;
            continue;
        }
        if trimmed.starts_with(['#', ';']) {
            continue;
        }
        let indent = line.len() - line.trim_start().len();

        if let Some(o) = &open {
            if indent > o.indent {
                if let Some(entry) = sections
                    .get_mut(o.section)
                    .and_then(|s| s.keys.get_mut(&o.key))
                {
                    if !entry.value.is_empty() {
                        entry.value.push('\n');
                    }
                    entry.value.push_str(trimmed);
                }
                continue;
            }
        }
        open = None;

        if trimmed.starts_with('[') {
            match header_name(trimmed) {
                Ok(name) => {
                    let i = *by_name.entry(name).or_insert_with(|| {
                        sections.push(Section {
                            name,
                            line: lineno,
                            keys: BTreeMap::new(),
                        });
                        sections.len() - 1
                    });
                    current = Some(i);
                    broken_header = false;
                }
                Err(why) => {
                    errors.push_with(|| syntax(lineno, why));
                    current = None;
                    broken_header = true;
                }
            }
            continue;
        }

        let Some((key, value)) = trimmed.split_once('=') else {
            if !broken_header {
                errors.push_with(|| syntax(lineno, not_a_line(trimmed, current.is_none())));
            }
            continue;
        };
        let key = key.trim();
        let Some(section) = current else {
            if !broken_header {
                errors.push_with(|| syntax(lineno, not_a_line(trimmed, true)));
            }
            continue;
        };
        if key.is_empty() {
            errors.push_with(|| {
                syntax(
                    lineno,
                    format!("'{}' has no key before '='", shown(trimmed)),
                )
            });
            continue;
        }
        let key = key.to_lowercase();
        if let Some(s) = sections.get_mut(section) {
            s.keys.insert(
                key.clone(),
                Entry {
                    value: value.trim().to_owned(),
                    line: lineno,
                },
            );
            open = Some(Open {
                section,
                key,
                indent,
            });
        }
    }
    sections
}

fn not_a_line(trimmed: &str, before_first_header: bool) -> String {
    if before_first_header {
        format!(
            "'{}' comes before the first [section] header; start with a header such as \
             [general] or [my-decky]",
            shown(trimmed)
        )
    } else {
        format!(
            "'{}' is not a [section] header, a key = value pair, a comment or an indented \
             continuation line",
            shown(trimmed)
        )
    }
}

/// `[name]`, optionally followed by a comment.
fn header_name(trimmed: &str) -> Result<&str, String> {
    let inner = trimmed.strip_prefix('[').unwrap_or(trimmed);
    let Some((name, rest)) = inner.split_once(']') else {
        return Err(format!(
            "section header '{}' is missing its closing ']'",
            shown(trimmed)
        ));
    };
    let rest = rest.trim();
    if !rest.is_empty() && !rest.starts_with(['#', ';']) {
        return Err(format!(
            "unexpected '{}' after section header [{}]",
            shown(rest),
            shown(name)
        ));
    }
    let name = name.trim();
    if name.is_empty() {
        return Err("empty section name '[]'".to_owned());
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (key, value, line)
    type Key = (String, String, usize);

    fn lexed(text: &str) -> (Vec<(String, Vec<Key>)>, Vec<IniError>) {
        let mut errors = ErrorSink::default();
        let sections = lex(text, &mut errors)
            .into_iter()
            .map(|s| {
                let keys = s
                    .keys
                    .into_iter()
                    .map(|(k, e)| (k, e.value, e.line))
                    .collect();
                (s.name.to_owned(), keys)
            })
            .collect();
        (sections, errors.into_kept())
    }

    fn kv(k: &str, v: &str, line: usize) -> (String, String, usize) {
        (k.to_owned(), v.to_owned(), line)
    }

    #[test]
    fn spaces_and_tabs_around_equals_are_dropped() {
        let (s, e) = lexed("[a]\nip \t=\t 10.0.0.1  \nservices=ssh");
        assert!(e.is_empty());
        assert_eq!(
            s[0].1,
            vec![kv("ip", "10.0.0.1", 2), kv("services", "ssh", 3)]
        );
    }

    #[test]
    fn keys_are_case_insensitive() {
        let (s, _) = lexed("[a]\nIP=1\nServices=ssh");
        assert_eq!(s[0].1[0].0, "ip");
        assert_eq!(s[0].1[1].0, "services");
    }

    #[test]
    fn later_duplicate_keys_win() {
        let (s, e) = lexed("[a]\nip=1\nIP=2");
        assert!(e.is_empty());
        assert_eq!(s[0].1, vec![kv("ip", "2", 3)]);
    }

    #[test]
    fn repeated_sections_merge() {
        let (s, _) = lexed("[a]\nx=1\n[b]\n[a]\ny=2");
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].1, vec![kv("x", "1", 2), kv("y", "2", 5)]);
    }

    #[test]
    fn indented_lines_continue_the_previous_value() {
        let (s, e) = lexed("[a]\nservices = ssh,\n    http,\n\tftp\nip=1");
        assert!(e.is_empty());
        assert_eq!(
            s[0].1,
            vec![kv("ip", "1", 5), kv("services", "ssh,\nhttp,\nftp", 2)]
        );
    }

    #[test]
    fn equally_indented_keys_are_separate_keys() {
        let (s, e) = lexed("[a]\n  ip = 1\n  services = ssh\n    , http");
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(
            s[0].1,
            vec![kv("ip", "1", 2), kv("services", "ssh\n, http", 3)]
        );
    }

    #[test]
    fn comments_are_skipped_and_do_not_end_a_value() {
        let (s, e) = lexed("# top\n[a] ; trailing\n; c\nk=v ; not a comment\n  # c\n  more");
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(s[0].1, vec![kv("k", "v ; not a comment\nmore", 4)]);
    }

    #[test]
    fn blank_line_ends_a_value() {
        let (_, e) = lexed("[a]\nk=v\n\n  orphan");
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].line, Some(4));
    }

    #[test]
    fn percent_is_literal() {
        let (s, e) = lexed("[a]\nbody=100% %(x)s %%");
        assert!(e.is_empty());
        assert_eq!(s[0].1[0].1, "100% %(x)s %%");
    }

    #[test]
    fn bare_key_is_a_syntax_error_with_its_line() {
        let (_, e) = lexed("[a]\nip=1\njustakey\n");
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].kind, IniErrorKind::Syntax);
        assert_eq!(e[0].line, Some(3));
    }

    #[test]
    fn content_before_the_first_header_is_a_syntax_error() {
        let (_, e) = lexed("ip=1\n[a]");
        assert_eq!(e[0].line, Some(1));
        assert!(e[0].message.contains("before the first [section]"));
    }

    #[test]
    fn malformed_headers_are_syntax_errors() {
        for (text, needle) in [
            ("[a", "closing"),
            ("[a] x=1", "unexpected"),
            ("[]", "empty"),
            ("[ ]", "empty"),
        ] {
            let (_, e) = lexed(text);
            assert_eq!(e.len(), 1, "{text}");
            assert!(e[0].message.contains(needle), "{text}: {}", e[0].message);
        }
    }

    #[test]
    fn keys_under_a_broken_header_are_not_reported_again() {
        let (_, e) = lexed("[a\nip=1\nservices=ssh");
        assert_eq!(e.len(), 1);
    }

    #[test]
    fn control_characters_are_syntax_errors_but_crlf_is_fine() {
        let (_, e) = lexed("[a]\r\nk=v\u{0}\r\n");
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].line, Some(2));
        let (s, e) = lexed("\u{feff}[a]\r\nk=v\r\n");
        assert!(e.is_empty());
        assert_eq!(s[0].1[0].1, "v");
    }

    #[test]
    fn missing_key_is_a_syntax_error() {
        let (_, e) = lexed("[a]\n=v");
        assert_eq!(e[0].line, Some(2));
    }
}
