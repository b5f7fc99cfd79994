//! The public form's input handling, all of it reachable by anyone on the internet:
//! - `form::decode::Fields::parse` with the alert form's field list (and the status page's),
//!   then `get`, `raw` and `all` on every field;
//! - `form::keys::normalize_receipt` and `normalize_pin` on what she typed;
//! - `form::lang_hint` on the raw body and `Lang::from_accept_language` on a header.
#![no_main]

use haven::form::decode::Fields;
use haven::form::i18n::Lang;
use haven::form::keys::{group_receipt, normalize_pin, normalize_receipt, MAX_RECEIPT_INPUT};
use libfuzzer_sys::fuzz_target;

use haven::form::REPORT_FIELDS;
const REPORT_REPEATABLE: &[&str] = &["consent"];
/// The status page's receipt form (`src/form/portal.rs`, `open`).
const STATUS_FIELDS: &[&str] = &["lang", "receipt"];

fuzz_target!(|data: &[u8]| {
    for (allowed, repeatable) in [(REPORT_FIELDS, REPORT_REPEATABLE), (STATUS_FIELDS, &[][..])] {
        if let Ok(f) = Fields::parse(data, allowed, repeatable) {
            for name in allowed {
                let all = f.all(name);
                assert!(all.len() <= 64, "more than 64 fields accepted");
                if !repeatable.contains(name) {
                    assert!(all.len() <= 1, "{name} accepted twice");
                }
                let raw = f.raw(name);
                assert_eq!(all.first().copied().unwrap_or(""), raw);
                if let Some(v) = f.get(name) {
                    assert!(!v.is_empty() && v == v.trim() && raw.contains(v));
                }
            }
            if let Some(r) = f.get("receipt") {
                check_receipt(r);
            }
        }
    }
    let _ = haven::form::lang_hint(data);
    let text = String::from_utf8_lossy(data);
    check_receipt(&text);
    let _ = Lang::from_accept_language(&text);
});

fn check_receipt(s: &str) {
    match normalize_receipt(s) {
        Some(r) => {
            assert!(s.len() <= MAX_RECEIPT_INPUT, "a receipt from {} bytes of input", s.len());
            assert!(r.len() == 16 && r.bytes().all(|b| b.is_ascii_digit()), "receipt {r:?}");
            assert_eq!(group_receipt(&r).len(), 19);
        }
        None => {}
    }
    if s.len() > MAX_RECEIPT_INPUT {
        assert!(normalize_receipt(s).is_none());
    }
    if let Some(p) = normalize_pin(s) {
        assert!((4..=12).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()), "PIN {p:?}");
    }
}
