//! How times read on the pages: an absolute UTC time for the tooltip and the `<time>` element,
//! and a relative one ("in 5 days", "3 hours ago") for the eye.

use time::OffsetDateTime;
use time::macros::format_description;

use crate::service::rfc3339;

/// A moment as the pages show it.
#[derive(Debug, Clone)]
pub struct Stamp {
    /// RFC 3339, for `<time datetime>`.
    pub iso: String,
    /// `2026-07-20 09:00 UTC`.
    pub text: String,
    /// `in 5 days`, `3 hours ago`.
    pub relative: String,
}

impl Stamp {
    /// The stamp of `at`, seen at `now` (Unix seconds).
    pub fn new(at: i64, now: i64) -> Self {
        Self {
            iso: rfc3339(at),
            text: datetime(at),
            relative: relative(at, now),
        }
    }
}

/// `2026-07-20 09:00 UTC`.
pub fn datetime(at: i64) -> String {
    OffsetDateTime::from_unix_timestamp(at)
        .ok()
        .and_then(|t| {
            t.format(format_description!(
                "[year]-[month]-[day] [hour]:[minute] UTC"
            ))
            .ok()
        })
        .unwrap_or_else(|| at.to_string())
}

/// How far `at` is from `now`, in the largest whole unit: `in 5 days`, `3 hours ago`.
pub fn relative(at: i64, now: i64) -> String {
    let delta = at - now;
    let span = delta.unsigned_abs();
    if span < 60 {
        return if delta > 0 {
            "in less than a minute".to_string()
        } else {
            "just now".to_string()
        };
    }
    const UNITS: [(u64, &str); 5] = [
        (365 * 86_400, "year"),
        (30 * 86_400, "month"),
        (86_400, "day"),
        (3_600, "hour"),
        (60, "minute"),
    ];
    let (size, unit) = UNITS
        .iter()
        .copied()
        // Months from 60 days on, years from two years on: "45 days" reads better than "1 month".
        .find(|(size, _)| span >= size * if *size >= 30 * 86_400 { 2 } else { 1 })
        .unwrap_or((60, "minute"));
    let count = span / size;
    let plural = if count == 1 { "" } else { "s" };
    if delta >= 0 {
        format!("in {count} {unit}{plural}")
    } else {
        format!("{count} {unit}{plural} ago")
    }
}

/// An HTML `datetime-local` value (`2026-01-31T12:00`, read as UTC) turned into RFC 3339; any
/// other text is returned as it was, for the service to read (RFC 3339 or a duration ago).
pub fn local_datetime_to_rfc3339(text: &str) -> String {
    let text = text.trim();
    let format = format_description!("[year]-[month]-[day]T[hour]:[minute]");
    let with_seconds = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    let parsed = time::PrimitiveDateTime::parse(text, format)
        .or_else(|_| time::PrimitiveDateTime::parse(text, with_seconds));
    match parsed {
        Ok(t) => rfc3339(t.assume_utc().unix_timestamp()),
        Err(_) => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_times_read_naturally() {
        let now = 1_800_000_000;
        let cases = [
            (now + 5 * 86_400, "in 5 days"),
            (now + 86_400, "in 1 day"),
            (now - 3 * 3_600, "3 hours ago"),
            (now - 10, "just now"),
            (now, "just now"),
            (now + 10, "in less than a minute"),
            (now + 45 * 86_400, "in 45 days"),
            (now + 90 * 86_400, "in 3 months"),
            (now + 800 * 86_400, "in 2 years"),
            (now - 61, "1 minute ago"),
        ];
        for (at, expected) in cases {
            assert_eq!(relative(at, now), expected, "{at}");
        }
    }

    #[test]
    fn datetime_local_is_read_as_utc() {
        assert_eq!(
            local_datetime_to_rfc3339("2026-01-31T12:00"),
            "2026-01-31T12:00:00Z"
        );
        assert_eq!(local_datetime_to_rfc3339(" 1h "), "1h");
        assert_eq!(datetime(0), "1970-01-01 00:00 UTC");
    }
}
