//! Strict `application/x-www-form-urlencoded` decoding: bad percent escapes, invalid UTF-8,
//! unknown or repeated fields are refused, never guessed at. Checkboxes repeat a name, so
//! the result is a list of pairs, not a map. Also the typed values the form reads from
//! text fields: numbers in any of the digits she may type, and the date.

use chrono::NaiveDate;

#[derive(Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Not form encoding, or not UTF-8 once decoded.
    Malformed,
    /// A field the page does not have, or a single field sent twice.
    UnexpectedField,
}

pub const MAX_FIELDS: usize = 64;

#[derive(Default)]
pub struct Fields(Vec<(String, String)>);

fn unhex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn decode_component(raw: &[u8]) -> Result<String, DecodeError> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = raw.get(i + 1).copied().and_then(unhex).ok_or(DecodeError::Malformed)?;
                let lo = raw.get(i + 2).copied().and_then(unhex).ok_or(DecodeError::Malformed)?;
                out.push(hi << 4 | lo);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| DecodeError::Malformed)
}

impl Fields {
    /// Decodes a body; `allowed` lists every field name the page may send, `repeatable` the
    /// ones that may come more than once (checkboxes).
    pub fn parse(body: &[u8], allowed: &[&str], repeatable: &[&str]) -> Result<Fields, DecodeError> {
        Fields::parse_at_most(body, allowed, repeatable, MAX_FIELDS)
    }

    /// `parse`, for a form that may send up to `max` fields (rows of repeated fields).
    pub fn parse_at_most(
        body: &[u8],
        allowed: &[&str],
        repeatable: &[&str],
        max: usize,
    ) -> Result<Fields, DecodeError> {
        let mut pairs = Vec::new();
        for part in body.split(|b| *b == b'&') {
            if part.is_empty() {
                continue;
            }
            if pairs.len() >= max {
                return Err(DecodeError::UnexpectedField);
            }
            let (k, v) = match part.iter().position(|b| *b == b'=') {
                Some(i) => (&part[..i], &part[i + 1..]),
                None => (part, &b""[..]),
            };
            let key = decode_component(k)?;
            let value = decode_component(v)?;
            if !allowed.contains(&key.as_str()) {
                return Err(DecodeError::UnexpectedField);
            }
            if !repeatable.contains(&key.as_str()) && pairs.iter().any(|(k, _): &(String, String)| *k == key) {
                return Err(DecodeError::UnexpectedField);
            }
            pairs.push((key, value));
        }
        Ok(Fields(pairs))
    }

    /// A field's value, trimmed; None when absent or blank.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim()).filter(|v| !v.is_empty())
    }

    /// A field's raw value (not trimmed), or "".
    pub fn raw(&self, name: &str) -> &str {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or("")
    }

    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect()
    }
}

/// The value of a digit typed in Western (0-9), Arabic-Indic (٠-٩) or Eastern Arabic-Indic
/// (۰-۹) form; None for anything else. Every number she types is read through here.
pub fn digit(c: char) -> Option<u32> {
    match c {
        '0'..='9' => Some(c as u32 - '0' as u32),
        '\u{0660}'..='\u{0669}' => Some(c as u32 - 0x0660),
        '\u{06F0}'..='\u{06F9}' => Some(c as u32 - 0x06F0),
        _ => None,
    }
}

/// A whole number typed in any of `digit`'s forms, surrounding spaces ignored: its value
/// and how many digits it has. None for anything else, or for more than `max_digits` digits.
pub fn number(input: &str, max_digits: usize) -> Option<(u32, usize)> {
    let mut value: u32 = 0;
    let mut digits = 0;
    for c in input.trim().chars() {
        let d = digit(c)?;
        digits += 1;
        if digits > max_digits {
            return None;
        }
        value = value * 10 + d;
    }
    (digits > 0).then_some((value, digits))
}

/// Why the three date fields do not make a date she can report.
#[derive(Debug, PartialEq, Eq)]
pub enum DateError {
    /// Some of day, month and year, not all three.
    Incomplete,
    /// Not numbers, or a day the month does not have (31 February).
    Invalid,
    /// Not four digits, or before `EARLIEST`.
    Year,
    /// After `latest`.
    Future,
}

/// Nothing the form takes happened before this.
pub const EARLIEST: (i32, u32, u32) = (1950, 1, 1);

/// The date of the day, month (1 to 12) and year fields, or None when all three are blank.
/// `latest` is the last day that may already have come somewhere on Earth.
pub fn date(day: &str, month: &str, year: &str, latest: NaiveDate) -> Result<Option<NaiveDate>, DateError> {
    let (day, month, year) = (day.trim(), month.trim(), year.trim());
    match [day, month, year].iter().filter(|s| s.is_empty()).count() {
        3 => return Ok(None),
        0 => {}
        _ => return Err(DateError::Incomplete),
    }
    let (d, _) = number(day, 2).ok_or(DateError::Invalid)?;
    let (m, _) = number(month, 2).filter(|(m, _)| (1..=12).contains(m)).ok_or(DateError::Invalid)?;
    let y = match number(year, 4) {
        Some((y, 4)) if y as i32 >= EARLIEST.0 => y as i32,
        _ => return Err(DateError::Year),
    };
    let date = NaiveDate::from_ymd_opt(y, m, d).ok_or(DateError::Invalid)?;
    if date > latest {
        return Err(DateError::Future);
    }
    Ok(Some(date))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_in_every_digit_she_may_type() {
        assert_eq!(number("2026", 4), Some((2026, 4)));
        assert_eq!(number(" ٢٠٢٦ ", 4), Some((2026, 4)), "Arabic-Indic");
        assert_eq!(number("۲۰۲۶", 4), Some((2026, 4)), "Eastern Arabic-Indic");
        assert_eq!(number("٠٧", 2), Some((7, 2)));
        assert_eq!(number("1٢", 2), Some((12, 2)), "mixed digits are still digits");
        assert_eq!(number("123", 2), None, "too many digits");
        assert_eq!(number("", 2), None);
        assert_eq!(number("1a", 2), None);
        assert_eq!(number("-1", 2), None);
        assert_eq!(number("١.٥", 2), None);
        assert_eq!(number(&"9".repeat(100), 4), None, "long input never overflows");
    }

    #[test]
    fn dates_are_real_past_and_complete() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 4).unwrap();
        let ymd = |y, m, d| Ok(Some(NaiveDate::from_ymd_opt(y, m, d).unwrap()));
        assert_eq!(date("", " ", "", today), Ok(None), "all blank: not given");
        assert_eq!(date("20", "11", "2026", today), ymd(2026, 11, 20));
        assert_eq!(date("٢٠", "11", "٢٠٢٦", today), ymd(2026, 11, 20), "Arabic-Indic digits");
        assert_eq!(date("۲۰", "11", "۲۰۲۶", today), ymd(2026, 11, 20), "Eastern Arabic-Indic digits");
        assert_eq!(date("4", "12", "2026", today), ymd(2026, 12, 4), "today");
        assert_eq!(date("29", "2", "2024", today), ymd(2024, 2, 29), "a leap day");
        assert_eq!(date("1", "1", "1950", today), ymd(1950, 1, 1));
        assert_eq!(date("31", "2", "2026", today), Err(DateError::Invalid), "31 February");
        assert_eq!(date("29", "2", "2025", today), Err(DateError::Invalid), "not a leap year");
        assert_eq!(date("31", "4", "2026", today), Err(DateError::Invalid), "30 days in April");
        assert_eq!(date("0", "1", "2026", today), Err(DateError::Invalid));
        assert_eq!(date("32", "1", "2026", today), Err(DateError::Invalid));
        assert_eq!(date("1", "13", "2026", today), Err(DateError::Invalid), "a tampered month");
        assert_eq!(date("1", "0", "2026", today), Err(DateError::Invalid));
        assert_eq!(date("x", "1", "2026", today), Err(DateError::Invalid));
        assert_eq!(date("5", "12", "2026", today), Err(DateError::Future), "tomorrow");
        assert_eq!(date("1", "1", "2099", today), Err(DateError::Future));
        assert_eq!(date("1", "1", "26", today), Err(DateError::Year), "two-digit year");
        assert_eq!(date("1", "1", "1949", today), Err(DateError::Year), "absurdly old");
        assert_eq!(date("1", "1", "0201", today), Err(DateError::Year));
        assert_eq!(date("1", "1", "20261", today), Err(DateError::Year));
        assert_eq!(date("20", "", "2026", today), Err(DateError::Incomplete));
        assert_eq!(date("", "11", "", today), Err(DateError::Incomplete));
    }

    #[test]
    fn decodes_strictly() {
        let f = Fields::parse(b"a=1+2&b=%D8%B3&c=x&c=y&d", &["a", "b", "c", "d"], &["c"]).unwrap();
        assert_eq!(f.get("a"), Some("1 2"));
        assert_eq!(f.get("b"), Some("س"));
        assert_eq!(f.all("c"), vec!["x", "y"]);
        assert_eq!(f.get("d"), None);
        assert_eq!(Fields::parse(b"a=%ZZ", &["a"], &[]).err(), Some(DecodeError::Malformed));
        assert_eq!(Fields::parse(b"a=%C3%28", &["a"], &[]).err(), Some(DecodeError::Malformed), "invalid UTF-8");
        assert_eq!(Fields::parse(b"a=\xff", &["a"], &[]).err(), Some(DecodeError::Malformed));
        assert_eq!(Fields::parse(b"a=%4", &["a"], &[]).err(), Some(DecodeError::Malformed));
        assert_eq!(Fields::parse(b"zz=1", &["a"], &[]).err(), Some(DecodeError::UnexpectedField));
        assert_eq!(Fields::parse(b"a=1&a=2", &["a"], &[]).err(), Some(DecodeError::UnexpectedField));
        let many = "c=1&".repeat(100);
        assert_eq!(Fields::parse(many.as_bytes(), &["c"], &["c"]).err(), Some(DecodeError::UnexpectedField));
    }
}
