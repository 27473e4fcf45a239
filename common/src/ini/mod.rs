//! The fleet INI (SPEC 3): text -> typed [`FleetSpec`], strictly, never panicking.
//!
//! Two layers: `lexer` turns lines into sections of `key = value` (syntax, with line
//! numbers), `load` turns sections into a [`FleetSpec`] (every rule and message of SPEC
//! 2.1 and 3). [`parse`] returns the first error, which is what the deploy API reports;
//! [`validate_all`] returns all of them, for `decnet validate` and the browser editor.
//!
//! Format rules (as DECNET's configparser, minus its bugs):
//! - keys are case-insensitive, `=` is the only delimiter, spaces/tabs around it are dropped;
//! - `#` and `;` start full-line comments only, so `;` inside a value is literal (`exec=`);
//!   a section header may be followed by a comment (`[general]  ; optional`);
//! - a line indented deeper than its key line continues that key's value (joined with a
//!   newline); a blank line ends the value;
//! - a later duplicate key wins; a repeated section header merges into the first;
//! - no interpolation: `%` is literal;
//! - anything before the first header, a bare word, or a control character is a syntax error.

mod lexer;
mod load;

use std::fmt;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::catalogue::{Archetype, NmapOs};
use crate::interval::IntervalSetting;
use crate::name::{DeckyName, ServiceSlug};
use crate::persona::ServiceConfig;
use crate::subnet::Subnet;

/// Largest INI accepted, in bytes (512 KiB).
pub const MAX_INI_BYTES: usize = 512 * 1024;

/// Largest `amount=` of one section.
pub const MAX_AMOUNT: u32 = 100;

/// Most deckies one INI may describe. Twice the largest deployment limit the API allows
/// (500), so every INI up to this size still gets the API's exact limit message from
/// [`crate::fleet::plan`]; beyond it the loader stops expanding (memory stays bounded).
pub const MAX_DECKIES: usize = 1000;

/// Most `[custom-*]` services one INI may define. Like the two limits below, not in
/// DECNET: they keep the work and memory of one INI proportional to its size, since every
/// service and persona key is repeated on each of up to 100 expansions.
pub const MAX_CUSTOM_SERVICES: usize = 32;

/// Most services one decky may run (`services=`).
pub const MAX_SERVICES_PER_DECKY: usize = 32;

/// Most keys in the persona of a custom service (built-in ones are bounded by their schema).
pub const MAX_CUSTOM_PERSONA_KEYS: usize = 64;

/// Errors kept per phase (syntax, semantic); the rest are counted in one closing error, so
/// 512 KiB of garbage cannot produce 100k messages.
pub const MAX_ERRORS: usize = 100;

/// Gateway used when neither `net=` nor `gw=` is given: the first host of [`Subnet::DEFAULT`].
pub const DEFAULT_GATEWAY: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 1);

/// What went wrong, in classes that map one-to-one onto the deploy API's answers
/// (SPEC 2.1); the server owns the mapping to status codes:
///
/// | kind | API status | API `detail` ([`IniError::detail`]) |
/// |---|---|---|
/// | `TooLarge` | 422 | `Invalid INI config` |
/// | `Empty` | 409 | `Configuration conflict: INI content is empty.` |
/// | `Syntax` | 409 | `Configuration conflict: INI syntax or characters are invalid.` |
/// | `NoDeckies` | 409 | `Invalid INI config structure: No decky sections found.` |
/// | `Semantic` | 409 | the message itself |
/// | `Conflict` | 409 | the message itself (clashes with the existing fleet or its limit) |
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IniErrorKind {
    TooLarge,
    Empty,
    Syntax,
    NoDeckies,
    Semantic,
    Conflict,
}

/// One problem in an INI, with the 1-based line it is on when it is on one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub struct IniError {
    pub kind: IniErrorKind,
    /// Says what is wrong and, where it can, what to do; for `Semantic` and `Conflict` this
    /// is the exact SPEC text the API returns.
    pub message: String,
    pub line: Option<usize>,
}

impl IniError {
    pub(crate) fn new(kind: IniErrorKind, message: impl Into<String>, line: Option<usize>) -> Self {
        IniError {
            kind,
            message: message.into(),
            line,
        }
    }

    /// The API's `detail` for this error (SPEC 2.1): fixed texts for the structural kinds,
    /// the message itself for semantic ones. The browser and CLI show [`fmt::Display`].
    pub fn detail(&self) -> &str {
        match self.kind {
            IniErrorKind::TooLarge => "Invalid INI config",
            IniErrorKind::Empty => "Configuration conflict: INI content is empty.",
            IniErrorKind::Syntax => "Configuration conflict: INI syntax or characters are invalid.",
            IniErrorKind::NoDeckies => "Invalid INI config structure: No decky sections found.",
            IniErrorKind::Semantic | IniErrorKind::Conflict => &self.message,
        }
    }
}

impl fmt::Display for IniError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// The errors of one phase, capped at [`MAX_ERRORS`].
#[derive(Default)]
pub(crate) struct ErrorSink {
    kept: Vec<IniError>,
    total: usize,
}

impl ErrorSink {
    /// Builds the error only when it will be kept.
    pub(crate) fn push_with(&mut self, make: impl FnOnce() -> IniError) {
        self.total += 1;
        if self.kept.len() < MAX_ERRORS {
            self.kept.push(make());
        }
    }

    /// Every error pushed, kept or not.
    pub(crate) fn total(&self) -> usize {
        self.total
    }

    pub(crate) fn dropped(&self) -> usize {
        self.total - self.kept.len()
    }

    pub(crate) fn into_kept(self) -> Vec<IniError> {
        self.kept
    }
}

/// How deckies attach to the LAN.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkDriver {
    /// No `interface=`: an isolated bridge network.
    Bridge,
    /// `interface=` given (the default driver then).
    Macvlan,
    /// `interface=` with `driver=ipvlan` or `ipvlan=true`.
    Ipvlan,
}

/// `[general]`, with defaults applied.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct General {
    /// `net=`, default [`Subnet::DEFAULT`] (`192.168.1.0/24`).
    pub net: Subnet,
    /// `gw=`, default the first host of `net` (`192.168.1.1` by default).
    pub gateway: Ipv4Addr,
    pub interface: Option<String>,
    pub driver: NetworkDriver,
    /// Fleet default; `None` when not set here (the global setting applies).
    pub mutate_interval: Option<IntervalSetting>,
}

impl Default for General {
    fn default() -> Self {
        General {
            net: Subnet::DEFAULT,
            gateway: DEFAULT_GATEWAY,
            interface: None,
            driver: NetworkDriver::Bridge,
            mutate_interval: None,
        }
    }
}

/// One decky the INI asks for (after `amount=` expansion), before allocation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DeckySpec {
    pub name: DeckyName,
    /// The section it came from (`web` for `web-01`), as errors name it.
    pub section: String,
    /// Line of that section's header.
    pub line: usize,
    pub ip: Option<Ipv4Addr>,
    /// Explicit `services=`; `None` means archetype's, else random.
    pub services: Option<Vec<ServiceSlug>>,
    pub archetype: Option<&'static Archetype>,
    pub nmap_os: Option<NmapOs>,
    /// `None`: inherit from `[general]`, then the global setting.
    pub mutate_interval: Option<IntervalSetting>,
    /// From `[<section>.<service>]` and `[<name>.<service>]` subsections, typed.
    pub service_config: ServiceConfig,
}

/// A bring-your-own service from a `[custom-<slug>]` section: an image already on the
/// engine. It creates no decky; deckies name it as `<slug>` in `services=`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomService {
    pub slug: ServiceSlug,
    /// `binary=`: the image reference.
    pub image: String,
    /// `exec=`: the command, if not the image's default.
    pub exec: Option<String>,
    pub ports: Vec<u16>,
}

/// A parsed, validated fleet INI.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FleetSpec {
    pub general: General,
    /// In INI order, expansions in place.
    pub deckies: Vec<DeckySpec>,
    pub custom_services: Vec<CustomService>,
}

/// Parses an INI; the first error (in API priority: size, empty, syntax, no deckies, then
/// semantic errors by line) if any.
pub fn parse(text: &str) -> Result<FleetSpec, IniError> {
    let (spec, errors) = load::load(text);
    match (spec, errors.into_iter().next()) {
        (_, Some(first)) => Err(first),
        (Some(spec), None) => Ok(spec),
        // load() yields a spec whenever it reports no error; kept total all the same.
        (None, None) => Err(IniError::new(
            IniErrorKind::Semantic,
            "INI could not be loaded",
            None,
        )),
    }
}

/// Every error of an INI, in the order [`parse`] would meet them; empty when it is valid.
/// Also runs IP allocation against an empty fleet, so "not enough free IPs" shows up here;
/// clashes with the current fleet need [`crate::fleet::plan`] and its context.
pub fn validate_all(text: &str) -> Vec<IniError> {
    let (spec, mut errors) = load::load(text);
    if let (Some(spec), true) = (spec, errors.is_empty()) {
        if let Err(e) = crate::fleet::plan(&spec, &crate::fleet::PlanContext::default()) {
            errors.push(e);
        }
    }
    errors
}

#[cfg(test)]
mod tests;
