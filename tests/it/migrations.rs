//! Migrations: both backends have the same history, it goes up, down and up again, and what
//! older versions stored in clear is sealed at the next start.

use diesel::connection::SimpleConnection;
use diesel_migrations::MigrationHarness;
use serde_json::json;

use crate::harness::{everything_stored, team};
use crate::{db_only_test, db_test};

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

// Rows written in clear before 2026-12-04-000014 (the alert's region, the visa's country
// and type) are sealed at the next start, read back, and leave nothing in clear behind.
db_test!(region_and_visa_stored_in_clear_before_the_upgrade_are_sealed_at_start, |app| {
    let t = team(&app);
    let canary = format!("CANARY{}", uuid::Uuid::new_v4().simple());
    let alert = json!({ "kind": "surveillance", "urgency": "high", "country": "CO", "narrative": "followed home",
        "consent_scope": ["embassy"] });
    let alert_id = app.post("/api/v1/alerts", Some(&t.coord), alert).json()["id"].as_str().unwrap().to_string();
    let reloc = json!({ "kind": "international", "destination_country": "ES", "beneficiaries": ["her"],
        "starts_on": "2027-02-01T00:00:00Z", "ends_on": "2027-06-01T00:00:00Z" });
    let r = app.post(&format!("/api/v1/cases/{}/relocations", t.case_id), Some(&t.coord), reloc.clone()).json();
    let vpath = format!("/api/v1/relocations/{}/visas", r["id"].as_str().unwrap());
    let visa = json!({ "country": "PT", "visa_type": "tourist", "applicant": "her" });
    let visa_id = app.post(&vpath, Some(&t.coord), visa.clone()).json()["id"].as_str().unwrap().to_string();
    // A visa of a case shredded before the upgrade: its plaintext can only be dropped.
    let case = json!({ "severity": "high", "country": "CO", "consent_scope": [] });
    let gone = app.post("/api/v1/cases", Some(&t.coord), case).json()["id"].as_str().unwrap().to_string();
    let r = app.post(&format!("/api/v1/cases/{gone}/relocations"), Some(&t.coord), reloc).json();
    let gone_vpath = format!("/api/v1/relocations/{}/visas", r["id"].as_str().unwrap());
    let gone_visa = app.post(&gone_vpath, Some(&t.coord), visa).json()["id"].as_str().unwrap().to_string();
    let st = app.state();
    st.db.write_blocking(|c| haven::crypto::ops::shred(&st.crypto, c, st.clock.now(), None, &gone, false)).unwrap();

    // Back to the old shape (migration 000014 reverted), with the old version's rows in clear.
    let (region, visa_type) = (format!("Popayán {canary}"), format!("humanitarian {canary}"));
    let app = app.restart(|db| {
        let pool = haven::db::Db::connect(&db.url, 1).unwrap();
        let mut conn = pool.get().unwrap();
        // Later migrations first, down to 000014.
        let mut reverted = Vec::new();
        while !reverted.last().is_some_and(|v: &String| v.ends_with("000014")) {
            let last = match &mut *conn {
                haven::db::DbConn::Sqlite(c) => c.revert_last_migration(haven::db::SQLITE_MIGRATIONS).unwrap(),
                haven::db::DbConn::Postgres(c) => c.revert_last_migration(haven::db::POSTGRES_MIGRATIONS).unwrap(),
            };
            reverted.push(last.to_string());
            assert!(reverted.len() < 10, "000014 not found: {reverted:?}");
        }
        conn.batch_execute(&format!(
            "UPDATE alerts SET region = '{region}' WHERE id = '{alert_id}';
             UPDATE visas SET country = 'ES', visa_type = '{visa_type}' WHERE id = '{visa_id}';
             UPDATE visas SET country = 'ES', visa_type = '{visa_type}' WHERE id = '{gone_visa}';"
        ))
        .unwrap();
    });

    // Sealed at start, under the alert's and the case's keys, and still read back.
    assert_eq!(app.count("alerts WHERE region IS NOT NULL"), 0);
    assert_eq!(app.count("visas WHERE country IS NOT NULL OR visa_type IS NOT NULL"), 0);
    let a = app.get(&format!("/api/v1/alerts/{alert_id}"), Some(&t.coord)).json();
    assert_eq!((a["region"].as_str(), a["narrative"].as_str()), (Some(region.as_str()), Some("followed home")));
    let list = app.get("/api/v1/alerts", Some(&t.coord));
    assert!(list.status == 200 && !list.text.contains(&canary), "{list:?}");
    let v = app.get(&format!("/api/v1/visas/{visa_id}"), Some(&t.coord)).json();
    assert_eq!((v["country"].as_str(), v["visa_type"].as_str()), (Some("ES"), Some(visa_type.as_str())), "{v}");
    assert_eq!(v["applicant"], "her");
    assert_eq!(app.count(&format!("visas WHERE id = '{gone_visa}' AND country_ct IS NULL")), 1, "dropped, not sealed");
    assert_eq!(app.get(&format!("/api/v1/visas/{gone_visa}"), Some(&t.coord)).status, 410);
    let stored = everything_stored(&app);
    assert!(stored.contains(&alert_id) && stored.contains(&visa_id), "the dump sees the rows");
    assert!(!stored.contains(&canary), "canary found in the database after the upgrade");
    // Nothing more to do at the next start.
    let st = app.state();
    let again = haven::domain::legacy::seal_clear_fields(&st.db, &st.crypto).unwrap();
    assert_eq!(again, haven::domain::legacy::Sealed::default());
});
