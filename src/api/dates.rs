//! Dates in request bodies and query strings. A field that is a day (`review_by`,
//! `starts_on`, `paid_on`, …) takes `2027-01-15` as well as a full RFC 3339 time. A bare day
//! is read in UTC: as its first second for a start or a moment (`starts_on`, `paid_on`,
//! `received_since`), and as its last second for an end or a deadline (`ends_on`,
//! `expires_on`, `review_by`, `reassess_by`, `due_at`, `expires_at`), so that "review by the
//! 15th" still holds on the 15th and a visa expiring on the 15th is valid that day.
//! Use with `#[serde(deserialize_with = "…")]`; options also need `#[serde(default)]`.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use serde::de::{Deserializer, Error};
use serde::Deserialize;

const EXPECTED: &str = "expected a date (2027-01-15) or an RFC 3339 time (2027-01-15T09:00:00Z)";

/// The moment `raw` names; a bare day is its first second (`end` false) or its last.
pub fn parse(raw: &str, end: bool) -> Option<DateTime<Utc>> {
    let raw = raw.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Some(t.with_timezone(&Utc));
    }
    // chrono's own reading, as these fields took before: `+0300`, a space for the `T`.
    if let Ok(t) = raw.parse::<DateTime<Utc>>() {
        return Some(t);
    }
    let day = NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok()?;
    let time = if end { NaiveTime::from_hms_opt(23, 59, 59)? } else { NaiveTime::MIN };
    Some(day.and_time(time).and_utc())
}

fn read<'de, D: Deserializer<'de>>(d: D, end: bool) -> Result<DateTime<Utc>, D::Error> {
    let raw = String::deserialize(d)?;
    parse(&raw, end).ok_or_else(|| D::Error::custom(EXPECTED))
}

fn read_opt<'de, D: Deserializer<'de>>(d: D, end: bool) -> Result<Option<DateTime<Utc>>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(raw) => parse(&raw, end).map(Some).ok_or_else(|| D::Error::custom(EXPECTED)),
    }
}

/// A start or a moment: a bare day is its first second.
pub fn start<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    read(d, false)
}

pub fn start_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    read_opt(d, false)
}

/// A deadline: a bare day is its last second.
pub fn end<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    read(d, true)
}

pub fn end_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    read_opt(d, true)
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn a_day_or_a_time() {
        assert_eq!(parse("2027-01-15", false).unwrap().to_rfc3339(), "2027-01-15T00:00:00+00:00");
        assert_eq!(parse("2027-01-15", true).unwrap().to_rfc3339(), "2027-01-15T23:59:59+00:00");
        assert_eq!(parse("2027-01-15T09:30:00+03:00", true).unwrap().to_rfc3339(), "2027-01-15T06:30:00+00:00");
        assert_eq!(parse("2027-01-15T09:30:00+0300", false).unwrap().to_rfc3339(), "2027-01-15T06:30:00+00:00");
        assert_eq!(parse("2027-01-15 09:30:00Z", false).unwrap().to_rfc3339(), "2027-01-15T09:30:00+00:00");
        for bad in ["2027-02-30", "15/01/2027", "2027-1-5x", "", "tomorrow"] {
            assert_eq!(parse(bad, false), None, "{bad}");
        }
    }
}
