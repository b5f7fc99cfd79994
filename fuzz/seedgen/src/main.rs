//! Seed corpus helper for the fuzz targets (run from `fuzz/`, see README.md):
//!
//!     cargo run --manifest-path seedgen/Cargo.toml -- corpus
//!
//! - writes `corpus/age_open/`: real age ciphertexts to the test key the target decrypts
//!   with (a framed record as `Crypto::seal` makes, a wrapped identity as `wrap` makes, an
//!   empty one, one over a STREAM chunk boundary), and truncated and bit-flipped copies;
//! - checks `corpus/json_bodies/`: every file must decode as the type its first byte picks,
//!   and every request type must have at least one seed.
//!
//! It fails (non-zero exit) if a seed does not decode, so a renamed field is noticed.

use std::path::Path;
use std::str::FromStr;

use age::x25519;

#[path = "../../common/age_identity.rs"]
mod age_identity;
#[path = "../../common/request_types.rs"]
mod request_types;

fn main() {
    let dir = std::env::args().nth(1).unwrap_or_else(|| "corpus".into());
    let dir = Path::new(&dir);
    write_age_seeds(&dir.join("age_open"));
    check_json_seeds(&dir.join("json_bodies"));
}

/// `Crypto::seal`'s frame: magic, u16 case-id length, case id, u16 record-id length, record
/// id, plaintext (the function is private in haven, so its layout is restated here only to
/// make realistic seeds).
fn framed(case_id: &str, record_id: &str, plaintext: &[u8]) -> Vec<u8> {
    let mut out = b"HVN1".to_vec();
    out.extend_from_slice(&(case_id.len() as u16).to_be_bytes());
    out.extend_from_slice(case_id.as_bytes());
    out.extend_from_slice(&(record_id.len() as u16).to_be_bytes());
    out.extend_from_slice(record_id.as_bytes());
    out.extend_from_slice(plaintext);
    out
}

fn write_age_seeds(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let id = x25519::Identity::from_str(age_identity::test_sk()).unwrap();
    let to = x25519::Recipient::from_str(age_identity::test_pk()).unwrap();
    assert_eq!(id.to_public().to_string(), to.to_string());
    let enc = |p: &[u8]| age::encrypt(&to, p).unwrap();
    let note = enc(&framed(
        "0194f1c2-7b3a-7c4d-8e5f-6a7b8c9d0e1f",
        "0194f1c2-7b3a-7c4d-8e5f-000000000001",
        br#"{"body":"She was followed home twice this week."}"#,
    ));
    // A wrapped case identity, as `wrap` makes it: the identity's text, encrypted.
    let case_key = x25519::Identity::generate();
    let wrapped = {
        use age::secrecy::ExposeSecret;
        enc(case_key.to_string().expose_secret().as_bytes())
    };
    let empty = enc(b"");
    // 64 KiB is one STREAM chunk: a plaintext just over it has two.
    let two_chunks = enc(&vec![b'x'; 64 * 1024 + 16]);
    let mut seeds: Vec<(String, Vec<u8>)> = vec![
        ("sealed-note".into(), note.clone()),
        ("wrapped-identity".into(), wrapped.clone()),
        ("empty-plaintext".into(), empty.clone()),
        ("recipient".into(), age_identity::test_pk().as_bytes().to_vec()),
    ];
    for (name, ct) in [("note", &note), ("wrapped", &wrapped)] {
        assert!(age::decrypt(&id, ct).is_ok());
        let header_end = ct.windows(4).position(|w| w == b"\n---").unwrap();
        let mut flip_header = ct.clone();
        flip_header[header_end / 2] ^= 0x01;
        let mut flip_payload = ct.clone();
        let last = flip_payload.len() - 1;
        flip_payload[last] ^= 0x80;
        seeds.push((format!("{name}-truncated-header"), ct[..header_end].to_vec()));
        seeds.push((format!("{name}-truncated-payload"), ct[..ct.len() - 10].to_vec()));
        seeds.push((format!("{name}-flipped-header"), flip_header));
        seeds.push((format!("{name}-flipped-payload"), flip_payload));
    }
    // The two-chunk one is large; keep only its header and the start of its payload (the
    // fuzzer's default -max_len would cut it anyway), which is a truncated stream.
    seeds.push(("two-chunks-truncated".into(), two_chunks[..600].to_vec()));
    for (name, bytes) in seeds {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    println!("age_open: wrote seeds to {}", dir.display());
}

fn check_json_seeds(dir: &Path) {
    let mut seen = vec![false; request_types::TYPES.len()];
    let mut files: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let mut bad = 0;
    for path in files {
        let data = std::fs::read(&path).unwrap();
        let Some((&sel, body)) = data.split_first() else { continue };
        let (name, decode) = request_types::select(sel);
        match decode(body) {
            Ok(()) => seen[sel as usize % request_types::TYPES.len()] = true,
            Err(e) => {
                bad += 1;
                eprintln!("{}: does not decode as {name}: {e}", path.display());
            }
        }
    }
    for (i, (name, _)) in request_types::TYPES.iter().enumerate() {
        if !seen[i] {
            bad += 1;
            eprintln!("json_bodies: no seed decodes as {name} (selector byte {i})");
        }
    }
    assert_eq!(bad, 0, "json_bodies seeds are not all valid");
    println!("json_bodies: all {} request types have a valid seed", request_types::TYPES.len());
}
