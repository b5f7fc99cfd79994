//! Migrations: both backends have the same history, and it goes up, down and up again.

use crate::db_only_test;

fn names(dir: &str) -> Vec<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(dir);
    let mut v: Vec<String> = std::fs::read_dir(path)
        .expect("migrations dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn both_backends_have_the_same_migrations() {
    let (s, p) = (names("sqlite"), names("postgres"));
    assert!(!s.is_empty());
    assert_eq!(s, p);
    for m in &s {
        for backend in ["sqlite", "postgres"] {
            for f in ["up.sql", "down.sql"] {
                let path =
                    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(backend).join(m).join(f);
                assert!(path.exists(), "{} is missing", path.display());
            }
        }
    }
}

db_only_test!(migrations_go_up_down_and_up_again, |db| {
    let pool = haven::db::Db::connect(&db.url, 2).unwrap();
    assert!(!pool.ready().unwrap(), "fresh database has pending migrations");
    let n = pool.migrate().unwrap();
    assert_eq!(n, names("sqlite").len());
    assert!(pool.ready().unwrap());
    assert_eq!(pool.migrate().unwrap(), 0, "idempotent");
    assert_eq!(pool.revert_all().unwrap(), n);
    assert!(!pool.ready().unwrap());
    assert_eq!(pool.migrate().unwrap(), n);
    assert!(pool.ready().unwrap());
});
