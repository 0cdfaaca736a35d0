//! Token lifetimes written as `'30d'`, `'24h'`, `'90m'`, `'1y'`, `'3600s'` or `'2w'`.
//!
//! A bare number is rejected by [`Lifetime::parse`]; the command line's `--expires-in 90` means
//! days, which [`Lifetime::parse_days_default`] accepts.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

const MINUTE: u64 = 60;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;
const WEEK: u64 = 7 * DAY;
const YEAR: u64 = 365 * DAY;

/// The longest lifetime Jeton accepts anywhere (100 years); larger values are input errors.
pub const MAX_LIFETIME_SECS: u64 = 100 * YEAR;

/// A positive span of time in whole seconds.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Lifetime(u64);

/// Why a duration string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DurationError {
    /// Nothing was given.
    #[error("empty duration: write a number followed by a unit, e.g. '30d', '24h', '90m' or '1y'")]
    Empty,
    /// The number part is missing or not a whole number.
    #[error(
        "invalid duration '{0}': write a whole number followed by a unit, e.g. '30d', '24h', '90m' or '1y'"
    )]
    BadNumber(String),
    /// The unit is not one of s, m, h, d, w, y.
    #[error("invalid duration '{input}': unknown unit '{unit}' (use s, m, h, d, w or y)")]
    BadUnit {
        /// The whole input.
        input: String,
        /// The unit that was not understood.
        unit: String,
    },
    /// Zero-length lifetimes make no sense.
    #[error("invalid duration '{0}': it must be longer than zero")]
    Zero(String),
    /// Longer than [`MAX_LIFETIME_SECS`].
    #[error("invalid duration '{0}': it must not exceed 100 years")]
    TooLong(String),
}

impl Lifetime {
    /// A lifetime of `secs` seconds. Panics on zero only in debug builds; use [`Lifetime::parse`]
    /// for input.
    pub const fn from_secs(secs: u64) -> Self {
        Self(secs)
    }

    /// A lifetime of whole days.
    pub const fn days(days: u64) -> Self {
        Self(days * DAY)
    }

    /// A lifetime of whole hours.
    pub const fn hours(hours: u64) -> Self {
        Self(hours * HOUR)
    }

    /// A lifetime of whole minutes.
    pub const fn minutes(minutes: u64) -> Self {
        Self(minutes * MINUTE)
    }

    /// Length in seconds.
    pub const fn as_secs(self) -> u64 {
        self.0
    }

    /// Length in seconds as a signed number, for adding to Unix timestamps.
    pub fn as_secs_i64(self) -> i64 {
        i64::try_from(self.0).unwrap_or(i64::MAX)
    }

    /// Parses `'30d'`, `'24h'`, `'90m'`, `'1y'`, `'2w'` or `'45s'` (surrounding spaces and the
    /// unit's case are ignored; `'30 days'`-style long units are accepted too).
    pub fn parse(input: &str) -> Result<Self, DurationError> {
        Self::parse_with_bare_unit(input, None)
    }

    /// Like [`Lifetime::parse`], but a bare number means days (`--expires-in 90`).
    pub fn parse_days_default(input: &str) -> Result<Self, DurationError> {
        Self::parse_with_bare_unit(input, Some(DAY))
    }

    fn parse_with_bare_unit(input: &str, bare: Option<u64>) -> Result<Self, DurationError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(DurationError::Empty);
        }
        let split = trimmed
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(trimmed.len());
        let (number, unit) = trimmed.split_at(split);
        let unit = unit.trim();
        if number.is_empty() {
            return Err(DurationError::BadNumber(input.to_string()));
        }
        let count: u64 = number
            .parse()
            .map_err(|_| DurationError::TooLong(input.to_string()))?;
        let factor = match unit.to_ascii_lowercase().as_str() {
            "" => bare.ok_or_else(|| DurationError::BadUnit {
                input: input.to_string(),
                unit: String::from("(none)"),
            })?,
            "s" | "sec" | "secs" | "second" | "seconds" => 1,
            "m" | "min" | "mins" | "minute" | "minutes" => MINUTE,
            "h" | "hr" | "hrs" | "hour" | "hours" => HOUR,
            "d" | "day" | "days" => DAY,
            "w" | "week" | "weeks" => WEEK,
            "y" | "year" | "years" => YEAR,
            other => {
                return Err(DurationError::BadUnit {
                    input: input.to_string(),
                    unit: other.to_string(),
                });
            }
        };
        let secs = count
            .checked_mul(factor)
            .ok_or_else(|| DurationError::TooLong(input.to_string()))?;
        if secs == 0 {
            return Err(DurationError::Zero(input.to_string()));
        }
        if secs > MAX_LIFETIME_SECS {
            return Err(DurationError::TooLong(input.to_string()));
        }
        Ok(Self(secs))
    }
}

impl fmt::Display for Lifetime {
    /// Prints the largest unit that divides the lifetime exactly: `30d`, `24h` stays `1d`,
    /// `90m`, `1y`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        for (unit, size) in [("y", YEAR), ("d", DAY), ("h", HOUR), ("m", MINUTE)] {
            if s.is_multiple_of(size) {
                return write!(f, "{}{unit}", s / size);
            }
        }
        write!(f, "{s}s")
    }
}

impl fmt::Debug for Lifetime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Lifetime({self})")
    }
}

impl FromStr for Lifetime {
    type Err = DurationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for Lifetime {
    type Error = DurationError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Lifetime> for String {
    fn from(value: Lifetime) -> Self {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit() {
        let cases = [
            ("30d", 30 * DAY),
            ("24h", 24 * HOUR),
            ("90m", 90 * MINUTE),
            ("1y", YEAR),
            ("2w", 2 * WEEK),
            ("45s", 45),
            (" 7D ", 7 * DAY),
            ("3 days", 3 * DAY),
            ("1 hour", HOUR),
        ];
        for (input, secs) in cases {
            assert_eq!(Lifetime::parse(input).unwrap().as_secs(), secs, "{input}");
        }
    }

    #[test]
    fn refuses_bad_input_with_a_clear_reason() {
        assert_eq!(Lifetime::parse(""), Err(DurationError::Empty));
        assert!(matches!(
            Lifetime::parse("d"),
            Err(DurationError::BadNumber(_))
        ));
        assert!(matches!(
            Lifetime::parse("-5d"),
            Err(DurationError::BadNumber(_))
        ));
        assert!(matches!(
            Lifetime::parse("5x"),
            Err(DurationError::BadUnit { .. })
        ));
        assert!(matches!(
            Lifetime::parse("90"),
            Err(DurationError::BadUnit { .. })
        ));
        assert!(matches!(Lifetime::parse("0d"), Err(DurationError::Zero(_))));
        assert!(matches!(
            Lifetime::parse("101y"),
            Err(DurationError::TooLong(_))
        ));
        assert!(matches!(
            Lifetime::parse("99999999999999999999999d"),
            Err(DurationError::TooLong(_))
        ));
        assert!(matches!(
            Lifetime::parse("1.5d"),
            Err(DurationError::BadUnit { .. })
        ));
        let message = Lifetime::parse("5x").unwrap_err().to_string();
        assert!(message.contains("unknown unit 'x'"), "{message}");
    }

    #[test]
    fn bare_numbers_are_days_only_when_asked() {
        assert_eq!(
            Lifetime::parse_days_default("90").unwrap(),
            Lifetime::days(90)
        );
        assert_eq!(
            Lifetime::parse_days_default("24h").unwrap(),
            Lifetime::hours(24)
        );
    }

    #[test]
    fn prints_the_largest_exact_unit_and_round_trips() {
        assert_eq!(Lifetime::hours(24).to_string(), "1d");
        assert_eq!(Lifetime::hours(36).to_string(), "36h");
        assert_eq!(Lifetime::minutes(90).to_string(), "90m");
        assert_eq!(Lifetime::days(365).to_string(), "1y");
        assert_eq!(Lifetime::from_secs(61).to_string(), "61s");
        for secs in [1, 59, 60, 3600, 86_400, 90_061, YEAR * 3] {
            let lifetime = Lifetime::from_secs(secs);
            assert_eq!(Lifetime::parse(&lifetime.to_string()).unwrap(), lifetime);
        }
    }
}
