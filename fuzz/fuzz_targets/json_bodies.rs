//! Every request body of the API (and the list endpoints' query strings): the first byte
//! picks the type (see `common/request_types.rs`), the rest is what the client sent.
//!
//! Decoding may refuse anything but must never panic. Beyond that:
//! - a body that decodes is valid JSON;
//! - every body type has `deny_unknown_fields`: a body that decodes must be refused once an
//!   unknown member is added to it.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../common/request_types.rs"]
mod request_types;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else { return };
    let (name, decode) = request_types::select(selector);
    if decode(body).is_err() {
        return;
    }
    if name.starts_with("query.") {
        return;
    }
    let value: serde_json::Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => panic!("{name} decoded from a body that is not JSON: {e}"),
    };
    if let serde_json::Value::Object(mut map) = value {
        map.insert("zz_not_a_field".into(), serde_json::Value::Bool(true));
        let widened = serde_json::to_vec(&map).expect("a JSON map serialises");
        assert!(decode(&widened).is_err(), "{name} accepted an unknown member");
    }
});
