//! Opening a sealed record: whatever bytes sit in a ciphertext column must fail to open
//! cleanly, never panic, hang or allocate without bound.
//!
//! haven's `Crypto::open` loads the case identity, then opens the record: format 2
//! (`HVS2`, XChaCha20-Poly1305 under a key derived from the identity) or an age file from
//! before it, then checks the frame. `haven::crypto::open_record_with` is that second half,
//! run here on the input. `unwrap_with` (a wrapped case key) is `age::decrypt` followed by
//! `x25519::Identity::from_str` on the plaintext; it is not public, so this target also runs
//! the library calls it makes, with the same age version and features as haven:
//! - `open_record_with` and `age::decrypt` with an X25519 identity on the input;
//! - on success, the plaintext parsed as an age identity, as `unwrap_with` does;
//! - the input parsed as an age recipient, as `parse_recipient` does with a stored one.
#![no_main]

use std::str::FromStr;
use std::sync::OnceLock;

use age::x25519;
use libfuzzer_sys::fuzz_target;

#[path = "../common/age_identity.rs"]
mod age_identity;

fn identity() -> &'static x25519::Identity {
    static ID: OnceLock<x25519::Identity> = OnceLock::new();
    ID.get_or_init(|| {
        let id = x25519::Identity::from_str(age_identity::test_sk()).expect("the test key parses");
        assert_eq!(id.to_public().to_string(), age_identity::test_pk(), "the test key pair does not match");
        id
    })
}

fuzz_target!(|data: &[u8]| {
    // Whatever the bytes, an answer (almost always Unreadable), never a panic or a hang.
    let _ = haven::crypto::open_record_with(identity(), "case", 1, "record", data);
    if let Ok(plain) = age::decrypt(identity(), data) {
        if let Ok(text) = std::str::from_utf8(&plain) {
            let _ = x25519::Identity::from_str(text);
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(r) = x25519::Recipient::from_str(text) {
            // A recipient that parses prints back as a recipient that parses to itself.
            assert_eq!(x25519::Recipient::from_str(&r.to_string()).map(|x| x.to_string()), Ok(r.to_string()));
        }
    }
});
