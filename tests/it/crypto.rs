//! Encryption at rest: seal/open, tamper resistance, canaries, shredding, escrow recovery,
//! key rotation with a crash in the middle.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use haven::crypto::{CryptoError, Sealed};
use haven::db::models::CaseKeyGrant;
use haven::state::AppState;

use crate::db_test;
use crate::harness::{everything_stored, Backend, TestApp, TestDb};

fn new_case(st: &AppState) -> String {
    let id = haven::domain::new_id();
    let now = st.clock.now();
    let case = id.clone();
    st.db.write_blocking(move |c| Ok(st.crypto.create_case_key(c, &case, now)?)).expect("case key");
    id
}

fn seal(st: &AppState, case: &str, record: &str, text: &str) -> Sealed {
    let mut c = st.db.get().unwrap();
    st.crypto.seal(&mut c, case, record, text.as_bytes()).expect("seal")
}

fn open(st: &AppState, case: &str, record: &str, sealed: &Sealed) -> Result<String, CryptoError> {
    let mut c = st.db.get().unwrap();
    st.crypto.open(&mut c, case, record, sealed).map(|p| String::from_utf8(p.to_vec()).unwrap())
}

fn haven(db: &TestDb, extra_env: &[(&str, String)], args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_haven"));
    cmd.args(args).envs(db.env());
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    cmd.output().expect("run haven")
}

db_test!(canary_is_never_stored_in_clear, |app| {
    let st = app.state();
    let canary = format!("CANARY-{}-Signal-only-never-after-18h", uuid::Uuid::new_v4().simple());
    let case = new_case(st);
    let sealed = seal(st, &case, "note-1", &canary);
    assert!(!String::from_utf8_lossy(&sealed.ciphertext).contains(&canary));
    assert_eq!(open(st, &case, "note-1", &sealed).unwrap(), canary);
    // The case identity is in the database only wrapped: no age secret key in clear.
    let stored = everything_stored(&app);
    assert!(!stored.contains(&canary), "canary found in the database");
    assert!(!stored.contains("AGE-SECRET-KEY-"), "an unwrapped secret key is stored");
});

db_test!(tampered_truncated_or_moved_ciphertext_never_opens, |app| {
    let st = app.state();
    let (a, b) = (new_case(st), new_case(st));
    let text = "Threat received by SMS from a police number, 14:05";
    let sa1 = seal(st, &a, "rec-1", text);
    let sa2 = seal(st, &a, "rec-2", "another record of the same case");
    let sb1 = seal(st, &b, "rec-1", "a record of another case");
    assert_eq!(open(st, &a, "rec-1", &sa1).unwrap(), text);

    let unreadable = |r: Result<String, CryptoError>, what: &str| match r {
        Err(CryptoError::Unreadable) => {}
        other => panic!("{what}: expected Unreadable, got {other:?}"),
    };
    for pos in [0, 40, sa1.ciphertext.len() / 2, sa1.ciphertext.len() - 1] {
        let mut bad = sa1.clone();
        bad.ciphertext[pos] ^= 0x01;
        unreadable(open(st, &a, "rec-1", &bad), &format!("byte {pos} flipped"));
    }
    for len in [0, 10, sa1.ciphertext.len() - 1] {
        let mut short = sa1.clone();
        short.ciphertext.truncate(len);
        unreadable(open(st, &a, "rec-1", &short), &format!("truncated to {len}"));
    }
    unreadable(open(st, &a, "rec-1", &sa2), "another record's ciphertext");
    unreadable(open(st, &a, "rec-2", &sa1), "moved to another row");
    match open(st, &a, "rec-1", &sb1) {
        Err(CryptoError::Unreadable) => {}
        other => panic!("another case's ciphertext: {other:?}"),
    }
    unreadable(open(st, &b, "rec-1", &sa1), "moved to another case");
    let wrong_version = Sealed { key_version: 2, ..sa1.clone() };
    assert!(matches!(open(st, &a, "rec-1", &wrong_version), Err(CryptoError::NoKey)));
});

db_test!(shredding_destroys_one_case_only, |app| {
    let st = app.state();
    let (a, b) = (new_case(st), new_case(st));
    let sa = seal(st, &a, "r", "case a");
    let sb = seal(st, &b, "r", "case b");
    assert_eq!(open(st, &a, "r", &sa).unwrap(), "case a", "warms the key cache");

    // Shredded from another process (the CLI) while this one holds the key in its cache.
    let o = haven(&app.db, &[], &["case", "shred", &a]);
    assert!(o.status.success(), "{o:?}");
    assert!(matches!(open(st, &a, "r", &sa), Err(CryptoError::Shredded)));
    assert!(matches!(st.crypto.seal(&mut st.db.get().unwrap(), &a, "r2", b"new"), Err(CryptoError::Shredded)));
    assert_eq!(open(st, &b, "r", &sb).unwrap(), "case b", "other cases unaffected");
    let grants = CaseKeyGrant::for_case(&mut st.db.get().unwrap(), &a).unwrap();
    assert!(grants.is_empty());
    let audit = app.get("/api/v1/audit?limit=200", Some(&app.admin_token())).json();
    assert!(audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["action"] == "case.shred" && e["subject_id"] == a.as_str()));
    let o = haven(&app.db, &[], &["case", "shred", "no-such-case"]);
    assert!(!o.status.success());
});

fn escrow_identity(dir: &std::path::Path) -> (std::path::PathBuf, String) {
    use age::secrecy::ExposeSecret;
    let id = age::x25519::Identity::generate();
    let path = dir.join("escrow-offline.key");
    std::fs::write(&path, format!("# offline escrow key\n{}\n", id.to_string().expose_secret())).unwrap();
    (path, id.to_public().to_string())
}

fn escrow_recovery(backend: Backend) {
    let Some(db) = TestDb::new(backend) else {
        return;
    };
    let (identity_file, recipient) = escrow_identity(db.dir.path());
    let app = TestApp::start_with(db, |c| c.escrow_recipient = recipient.clone());
    let st = app.state();
    let escrow_env = [("HAVEN_ESCROW_RECIPIENT", recipient.clone())];
    let (a, b) = (new_case(st), new_case(st));
    let sa = seal(st, &a, "r", "recoverable");
    let sb = seal(st, &b, "r", "gone for good");

    // Shredded of its service grant only: recovery from the escrow grant brings it back.
    assert!(haven(&app.db, &escrow_env, &["case", "shred", "--keep-escrow", &a]).status.success());
    assert!(matches!(open(st, &a, "r", &sa), Err(CryptoError::Shredded)));
    let o = haven(&app.db, &escrow_env, &["keys", "recover", "--identity", identity_file.to_str().unwrap(), &a]);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(open(st, &a, "r", &sa).unwrap(), "recoverable");

    // Fully shredded: nothing to recover from.
    assert!(haven(&app.db, &escrow_env, &["case", "shred", &b]).status.success());
    let o = haven(&app.db, &escrow_env, &["keys", "recover", "--identity", identity_file.to_str().unwrap(), &b]);
    assert!(!o.status.success());
    assert!(matches!(open(st, &b, "r", &sb), Err(CryptoError::Shredded)));

    // The wrong offline identity cannot recover anything.
    let (other_file, _) = escrow_identity(&app.db.dir.path().join("data"));
    assert!(haven(&app.db, &escrow_env, &["case", "shred", "--keep-escrow", &a]).status.success());
    let o = haven(&app.db, &escrow_env, &["keys", "recover", "--identity", other_file.to_str().unwrap(), &a]);
    assert!(!o.status.success());
}

mod escrow {
    #[test]
    fn sqlite() {
        super::escrow_recovery(super::Backend::Sqlite);
    }
    #[test]
    fn postgres() {
        super::escrow_recovery(super::Backend::Postgres);
    }
}

fn current_and_old_keys(app: &TestApp) -> (String, Vec<String>) {
    let keys = haven::db::models::ServiceKey::all(&mut app.state().db.get().unwrap()).unwrap();
    let current = keys.iter().find(|k| k.is_current).unwrap().key_id.clone();
    let old = keys.iter().filter(|k| !k.is_current && k.retired_at.is_none()).map(|k| k.key_id.clone()).collect();
    (current, old)
}

db_test!(rotation_survives_a_kill_and_resumes, |app| {
    let st = app.state();
    let mut records = Vec::new();
    for i in 0..60 {
        let case = new_case(st);
        let sealed = seal(st, &case, "r", &format!("record {i}"));
        records.push((case, sealed, format!("record {i}")));
    }
    let (first_key, _) = current_and_old_keys(&app);

    // Rotate in a child process, slowly, and kill -9 it after a few batches.
    let mut child = Command::new(env!("CARGO_BIN_EXE_haven"))
        .args(["keys", "rotate", "--batch-size", "5", "--pause-ms", "150"])
        .envs(app.db.env())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    loop {
        let line = lines.next().expect("rotation output").unwrap();
        if let Some(done) = line.strip_prefix("re-wrapped ").and_then(|r| r.split('/').next()) {
            if done.parse::<u64>().unwrap() >= 15 {
                break;
            }
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let (current, old) = current_and_old_keys(&app);
    assert_ne!(current, first_key, "the new key became current");
    assert_eq!(old, vec![first_key.clone()]);
    let left = CaseKeyGrant::count_service_grants_not_under(&mut st.db.get().unwrap(), &current).unwrap();
    assert!(left > 0 && left < 60, "killed half-way: {left} grants left");

    // Every record still opens, from a fresh process state (no cache) too.
    let fresh = AppState::build(app.db.config(), std::sync::Arc::new(haven::clock::SystemClock)).unwrap();
    for (case, sealed, text) in &records {
        assert_eq!(&open(&fresh, case, "r", sealed).unwrap(), text);
    }
    // The old key cannot be retired while grants use it.
    let o = haven(&app.db, &[], &["keys", "retire", &first_key]);
    assert!(!o.status.success(), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("still use"), "{o:?}");

    // A second run resumes rather than adding yet another key.
    let o = haven(&app.db, &[], &["keys", "rotate", "--batch-size", "7"]);
    assert!(o.status.success(), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stdout).contains("resumed"), "{o:?}");
    let (after, _) = current_and_old_keys(&app);
    assert_eq!(after, current);
    assert_eq!(CaseKeyGrant::count_service_grants_not_under(&mut st.db.get().unwrap(), &current).unwrap(), 0);

    let o = haven(&app.db, &[], &["keys", "status"]);
    let status = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(status.contains(&current) && status.contains("current"), "{status}");

    // Now the old key retires, leaves the key file, and everything still opens.
    let o = haven(&app.db, &[], &["keys", "retire", &first_key]);
    assert!(o.status.success(), "{o:?}");
    let keyfile = std::fs::read_to_string(app.db.dir.path().join("data").join("service-keys")).unwrap();
    assert!(!keyfile.contains(&first_key));
    let fresh = AppState::build(app.db.config(), std::sync::Arc::new(haven::clock::SystemClock)).unwrap();
    for (case, sealed, text) in &records {
        assert_eq!(&open(&fresh, case, "r", sealed).unwrap(), text);
        assert_eq!(&open(st, case, "r", sealed).unwrap(), text, "the long-running process too");
    }
    let o = haven(&app.db, &[], &["keys", "retire", &current]);
    assert!(!o.status.success(), "the current key is never retired");
});

#[test]
fn passphrase_protected_key_ring() {
    use haven::crypto::keyring::KeyRing;
    let dir = tempfile::tempdir().unwrap();
    let ring = KeyRing::load_or_create(dir.path(), Some("correct horse battery staple")).unwrap();
    let id = ring.keys()[0].id.clone();
    let raw = std::fs::read(dir.path().join("service-keys")).unwrap();
    assert!(raw.starts_with(b"age-encryption.org/v1"), "encrypted as a whole");
    assert!(!String::from_utf8_lossy(&raw).contains("AGE-SECRET-KEY"));
    let again = KeyRing::load_or_create(dir.path(), Some("correct horse battery staple")).unwrap();
    assert_eq!(again.keys()[0].id, id);
    let wrong = KeyRing::load_or_create(dir.path(), Some("wrong passphrase")).err().unwrap();
    assert!(format!("{wrong:#}").contains("HAVEN_KEY_PASSPHRASE"));
    let none = KeyRing::load_or_create(dir.path(), None).err().unwrap();
    assert!(format!("{none:#}").contains("HAVEN_KEY_PASSPHRASE"));
}

#[test]
fn world_readable_key_ring_is_refused() {
    use haven::crypto::keyring::KeyRing;
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    KeyRing::load_or_create(dir.path(), None).unwrap();
    let path = dir.path().join("service-keys");
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = KeyRing::load_or_create(dir.path(), None).err().unwrap();
    assert!(format!("{err:#}").contains("chmod 600"), "{err:#}");
}

#[test]
fn missing_key_file_with_grants_stops_start() {
    let db = TestDb::new(Backend::Sqlite).unwrap();
    let app = TestApp::start_with(db, |_| {});
    new_case(app.state());
    let data = app.db.dir.path().join("data");
    std::fs::remove_file(data.join("service-keys")).unwrap();
    // A new ring would be created, but the grants need the lost one: refuse to start.
    let o = haven(&app.db, &[], &["keys", "status"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("restore the key file"), "{o:?}");
}

// Intake makes a case key before its transaction (`fresh_key`), outside the write lock. If
// the service key is rotated in between (here by another process), storing it wraps the
// identity again to the key now current, and the grant opens after the cache is dropped.
db_test!(a_key_made_before_a_rotation_is_granted_to_the_new_current_key, |app| {
    let st = app.state();
    let warm = new_case(st);
    let (first_key, _) = current_and_old_keys(&app);
    let id = haven::domain::new_id();
    let fresh = st.crypto.fresh_key(&id, 1).expect("fresh key");
    let sealed = fresh.seal("narrative", b"made before the rotation").expect("seal");

    let out = haven(&app.db, &[], &["keys", "rotate"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (second_key, _) = current_and_old_keys(&app);
    assert_ne!(first_key, second_key);

    let now = st.clock.now();
    let f = fresh.clone();
    st.db.write_blocking(move |c| Ok(st.crypto.store_fresh_key(c, &f, now)?)).expect("store");
    let grant = CaseKeyGrant::find(&mut st.db.get().unwrap(), &id, 1, "service", "service").unwrap().unwrap();
    assert_eq!(grant.key_id, second_key, "wrapped again to the key current at commit");
    st.crypto.forget(&id);
    assert_eq!(open(st, &id, "narrative", &sealed).unwrap(), "made before the rotation");
    let older = seal(st, &warm, "r", "older case");
    st.crypto.forget(&warm);
    assert_eq!(open(st, &warm, "r", &older).unwrap(), "older case");

    // The usual path: the key wrapped ahead of the transaction to the key still current.
    let id2 = haven::domain::new_id();
    let ahead = st.crypto.fresh_key(&id2, 1).expect("fresh key");
    let sealed2 = ahead.seal("narrative", b"wrapped ahead").expect("seal");
    let (now, a) = (st.clock.now(), ahead.clone());
    st.db.write_blocking(move |c| Ok(st.crypto.store_fresh_key(c, &a, now)?)).expect("store");
    let grant = CaseKeyGrant::find(&mut st.db.get().unwrap(), &id2, 1, "service", "service").unwrap().unwrap();
    assert_eq!(grant.key_id, second_key);
    st.crypto.forget(&id2);
    assert_eq!(open(st, &id2, "narrative", &sealed2).unwrap(), "wrapped ahead");

    // Storing the same key twice (version 1 taken) is refused by the version check, not a
    // second grant.
    let now = st.clock.now();
    let err = st.db.write_blocking(move |c| Ok(st.crypto.store_fresh_key(c, &fresh, now)?)).unwrap_err();
    assert!(format!("{err:?}").contains("is not the next one"), "{err:?}");
});
