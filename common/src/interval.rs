//! Mutation intervals: [`MutateInterval`] (a positive number of minutes) and
//! [`IntervalSetting`] (an interval or `off`, as written in the INI).
//!
//! The API speaks `^[1-9]\d*[mdMyY]$` strings and the INI also takes plain minutes and `off`;
//! both end up as minutes here. The wire form is always the string, so the browser and the
//! API cannot disagree about a field's type (DECNET's UI sent a number where its API wanted
//! `"30m"`).

use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::name::shown;

/// Why a string is not an interval.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct IntervalError(String);

/// Units of the API pattern, largest first so [`fmt::Display`] picks the largest exact one.
/// A month is 30 days and a year 365 days, as DECNET counts them.
const UNITS: [(char, u32); 4] = [('y', 525_600), ('M', 43_200), ('d', 1_440), ('m', 1)];

/// A positive number of minutes between automatic mutations of a decky.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MutateInterval(NonZeroU32);

impl MutateInterval {
    /// The global default (`GET /config`: `"30m"`).
    pub const DEFAULT: MutateInterval = match NonZeroU32::new(30) {
        Some(m) => MutateInterval(m),
        None => unreachable!(),
    };

    pub fn from_minutes(minutes: u32) -> Option<MutateInterval> {
        NonZeroU32::new(minutes).map(MutateInterval)
    }

    pub fn minutes(self) -> u32 {
        self.0.get()
    }

    /// The API form, `^[1-9]\d*[mdMyY]$`: `30m`, `1d`, `2M`, `1y` (`Y` = `y`).
    pub fn parse(s: &str) -> Result<MutateInterval, IntervalError> {
        parse_pattern(s).map_err(|bad| match bad {
            Bad::TooLong => too_long(s),
            Bad::Malformed => IntervalError(format!(
                "'{}' is not a valid interval: use <n><unit> with n >= 1 and unit m (minutes), \
                 d (days), M (months) or y (years), e.g. 30m or 1d",
                shown(s)
            )),
        })
    }
}

enum Bad {
    Malformed,
    TooLong,
}

fn parse_pattern(s: &str) -> Result<MutateInterval, Bad> {
    let unit = s.chars().next_back().ok_or(Bad::Malformed)?;
    let per_unit = match unit {
        'm' => 1,
        'd' => 1_440,
        'M' => 43_200,
        'y' | 'Y' => 525_600,
        _ => return Err(Bad::Malformed),
    };
    let digits = &s[..s.len() - unit.len_utf8()];
    if !digits.starts_with(|c: char| ('1'..='9').contains(&c))
        || !digits.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(Bad::Malformed);
    }
    digits
        .parse::<u32>()
        .ok()
        .and_then(|count| count.checked_mul(per_unit))
        .and_then(MutateInterval::from_minutes)
        .ok_or(Bad::TooLong)
}

/// Digits only (no sign, no spaces), as u32; `None` on anything else or on overflow.
fn parse_digits(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn too_long(s: &str) -> IntervalError {
    IntervalError(format!(
        "'{}' is too long an interval (at most {} minutes)",
        shown(s),
        u32::MAX
    ))
}

impl fmt::Display for MutateInterval {
    /// The largest unit that divides the interval exactly, so `parse(display(x)) == x`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.minutes();
        let (unit, size) = UNITS
            .iter()
            .copied()
            .find(|&(_, size)| m.checked_rem(size) == Some(0))
            .unwrap_or(('m', 1));
        write!(f, "{}{}", m / size, unit)
    }
}

impl FromStr for MutateInterval {
    type Err = IntervalError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MutateInterval::parse(s)
    }
}

impl Serialize for MutateInterval {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MutateInterval {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        MutateInterval::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// A `mutate_interval=` value in the INI: an interval, or `off` for no automatic mutation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IntervalSetting {
    Off,
    Every(MutateInterval),
}

impl IntervalSetting {
    /// `60` (minutes), `30m`/`1d`/`2M`/`1y`, or `off` (any case). Surrounding spaces ignored.
    pub fn parse_ini(s: &str) -> Result<IntervalSetting, IntervalError> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("off") {
            return Ok(IntervalSetting::Off);
        }
        if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
            return match parse_digits(t) {
                Some(0) => Err(IntervalError(format!(
                    "'{t}' is not valid: use at least 1 minute, or off to disable"
                ))),
                Some(m) => Ok(IntervalSetting::Every(
                    MutateInterval::from_minutes(m).ok_or_else(|| too_long(t))?,
                )),
                None => Err(too_long(t)),
            };
        }
        parse_pattern(t)
            .map(IntervalSetting::Every)
            .map_err(|bad| match bad {
                Bad::TooLong => too_long(t),
                Bad::Malformed => IntervalError(format!(
                    "'{}' is not valid: use minutes (60), <n>m/d/M/y (30m, 1d) or off",
                    shown(t)
                )),
            })
    }

    /// Minutes, or `None` when off.
    pub fn minutes(self) -> Option<u32> {
        match self {
            IntervalSetting::Off => None,
            IntervalSetting::Every(i) => Some(i.minutes()),
        }
    }
}

impl fmt::Display for IntervalSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IntervalSetting::Off => f.write_str("off"),
            IntervalSetting::Every(i) => i.fmt(f),
        }
    }
}

impl Serialize for IntervalSetting {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for IntervalSetting {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        IntervalSetting::parse_ini(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn mins(s: &str) -> u32 {
        MutateInterval::parse(s).unwrap().minutes()
    }

    #[test]
    fn api_units_convert_to_minutes() {
        assert_eq!(mins("30m"), 30);
        assert_eq!(mins("1d"), 1_440);
        assert_eq!(mins("1M"), 43_200);
        assert_eq!(mins("1y"), 525_600);
        assert_eq!(mins("1Y"), 525_600);
        assert_eq!(mins("8171y"), 8171 * 525_600);
    }

    #[test]
    fn api_pattern_rejects_everything_else() {
        for bad in [
            "", "m", "0m", "01m", "30", "30s", "30 m", " 30m", "-1m", "+1m", "1.5d", "30mm", "1h",
            "٣m", "off",
        ] {
            assert!(MutateInterval::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn interval_overflow_is_an_error_not_a_wrap() {
        assert!(MutateInterval::parse("8172y").is_err());
        assert!(MutateInterval::parse("4294967295m").is_ok());
        assert!(MutateInterval::parse("4294967296m").is_err());
        assert!(MutateInterval::parse(&format!("{}m", "9".repeat(40))).is_err());
    }

    #[test]
    fn display_is_canonical_largest_exact_unit() {
        let d = |m| MutateInterval::from_minutes(m).unwrap().to_string();
        assert_eq!(d(30), "30m");
        assert_eq!(d(60), "60m");
        assert_eq!(d(1_440), "1d");
        assert_eq!(d(2_880), "2d");
        assert_eq!(d(43_200), "1M");
        assert_eq!(d(525_600), "1y");
        assert_eq!(d(1_441), "1441m");
    }

    #[test]
    fn interval_serialises_as_its_string() {
        let i = MutateInterval::parse("1d").unwrap();
        assert_eq!(serde_json::to_string(&i).unwrap(), "\"1d\"");
        let back: MutateInterval = serde_json::from_str("\"1440m\"").unwrap();
        assert_eq!(back, i);
        assert!(serde_json::from_str::<MutateInterval>("30").is_err());
    }

    #[test]
    fn ini_interval_takes_minutes_units_and_off() {
        let p = |s| IntervalSetting::parse_ini(s).unwrap();
        assert_eq!(p("60").minutes(), Some(60));
        assert_eq!(p(" 30m ").minutes(), Some(30));
        assert_eq!(p("1d").minutes(), Some(1_440));
        assert_eq!(p("off"), IntervalSetting::Off);
        assert_eq!(p("OFF"), IntervalSetting::Off);
        for bad in ["0", "", "abc", "-5", "1.5", "99999999999"] {
            assert!(IntervalSetting::parse_ini(bad).is_err(), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn display_round_trips(m in 1u32..) {
            let i = MutateInterval::from_minutes(m).unwrap();
            prop_assert_eq!(MutateInterval::parse(&i.to_string()).unwrap(), i);
        }

        #[test]
        fn interval_parsers_never_panic(s in "\\PC{0,24}") {
            let _ = MutateInterval::parse(&s);
            let _ = IntervalSetting::parse_ini(&s);
        }
    }
}
