//! Strict `application/x-www-form-urlencoded` decoding: bad percent escapes, invalid UTF-8,
//! unknown or repeated fields are refused, never guessed at. Checkboxes repeat a name, so
//! the result is a list of pairs, not a map.

#[derive(Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Not form encoding, or not UTF-8 once decoded.
    Malformed,
    /// A field the page does not have, or a single field sent twice.
    UnexpectedField,
}

const MAX_FIELDS: usize = 64;

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
        let mut pairs = Vec::new();
        for part in body.split(|b| *b == b'&') {
            if part.is_empty() {
                continue;
            }
            if pairs.len() >= MAX_FIELDS {
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

#[cfg(test)]
mod tests {
    use super::*;

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
