//! One escalation engine pass at scale: 100,000 active escalations of which 1,000 fall due at
//! once. Times `engine::run_due` claiming the 1,000 (through the due index), re-checking each
//! rule's `stop_when` on its subject, and writing 2,000 outbox rows (two coordinators each),
//! in one transaction, on SQLite and, when reachable, PostgreSQL
//! (HAVEN_TEST_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/test).
//! Run with `cargo bench --bench escalation`.

use std::sync::Arc;
use std::time::Instant;

use chrono::Duration;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use haven::clock::{naive, SystemClock};
use haven::config::{Config, Secret};
use haven::db::models::{Case, Escalation};
use haven::domain::accounts::{self, NewOrganization, NewUser};
use haven::domain::{new_id, OrganizationKind, Role};
use haven::escalation::engine;
use haven::state::AppState;

const ACTIVE: usize = 100_000;
const DUE: usize = 1_000;

fn run(label: &str, url: String, dir: &std::path::Path) {
    let cfg = Config {
        database_url: Secret::new(url),
        data_dir: dir.join("data"),
        policies_dir: std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies"),
        db_max_connections: 2,
        ..Config::default()
    };
    let st = AppState::build(cfg, Arc::new(SystemClock)).expect("state");
    st.prepare().expect("prepare");
    let now = chrono::Utc::now();
    let seeded = Instant::now();
    let (org, user) = st
        .db
        .write_blocking(|c| {
            let org = accounts::create_organization(
                c,
                now,
                None,
                NewOrganization { name: "Bench".into(), kind: OrganizationKind::Ngo, country: "CO".into() },
            )?;
            let mut first = None;
            for i in 0..2 {
                let u = accounts::create_user(
                    c,
                    now,
                    None,
                    NewUser {
                        email: format!("coord{i}@bench.test"),
                        name: "C".into(),
                        role: Role::Coordinator,
                        organization_id: org.id.clone(),
                    },
                    "x".into(),
                    false,
                )?;
                first.get_or_insert(u.id);
            }
            Ok((org.id, first.unwrap_or_default()))
        })
        .expect("org");
    // 1,000 real cases (subjects of the due escalations); the 99,000 others are due next
    // week and never loaded by this pass.
    let mut rows = Vec::with_capacity(ACTIVE);
    let mut cases = Vec::with_capacity(DUE);
    for i in 0..ACTIVE {
        let due = i < DUE;
        let subject = new_id();
        if due {
            cases.push(Case {
                id: subject.clone(),
                reference: format!("HVN-2026-{i:06}"),
                status: "open".into(),
                severity: "critical".into(),
                country: "CO".into(),
                owner_organization_id: org.clone(),
                defender_id: None,
                consent_scope: "[]".into(),
                summary_ct: None,
                summary_key_version: None,
                created_by: user.clone(),
                version: 1,
                created_at: naive(now),
                updated_at: naive(now),
                acknowledged_at: None,
                activated_at: None,
                monitoring_at: None,
                closed_at: None,
            });
        }
        rows.push(Escalation {
            id: new_id(),
            policy_id: "critical-case-unacknowledged".into(),
            policy_hash: "bench".into(),
            event: "case.opened".into(),
            subject_kind: "case".into(),
            subject_id: subject,
            case_id: None,
            organization_id: org.clone(),
            reference: format!("HVN-2026-{i:06}"),
            status: "active".into(),
            anchor_at: naive(now),
            step: 0,
            loop_no: 0,
            next_due_at: Some(naive(if due { now - Duration::minutes(1) } else { now + Duration::days(7) })),
            last_fired_at: None,
            acknowledged_by: None,
            acknowledged_at: None,
            ended_reason: None,
            created_at: naive(now),
            updated_at: naive(now),
        });
    }
    st.db
        .write_blocking(|c| {
            for case in &cases {
                case.insert(c)?;
            }
            use haven::db::schema::escalations::table as esc;
            for chunk in rows.chunks(1000) {
                match c {
                    haven::db::DbConn::Sqlite(s) => diesel::insert_into(esc).values(chunk).execute(s)?,
                    haven::db::DbConn::Postgres(p) => diesel::insert_into(esc).values(chunk).execute(p)?,
                };
            }
            Ok(())
        })
        .expect("seed");
    {
        let mut c = st.db.get().expect("conn");
        let analyze = if label == "SQLite" { "ANALYZE" } else { "ANALYZE escalations; ANALYZE outbox" };
        c.batch_execute(analyze).expect("analyze");
    }
    let seed_s = seeded.elapsed().as_secs_f64();

    let started = Instant::now();
    let r = engine::run_due(&st, now, DUE as i64).expect("pass");
    let pass_ms = started.elapsed().as_secs_f64() * 1e3;
    assert_eq!((r.claimed, r.messages), (DUE, 2 * DUE), "{r:?}");
    let started = Instant::now();
    let idle = engine::run_due(&st, now, DUE as i64).expect("idle pass");
    let idle_ms = started.elapsed().as_secs_f64() * 1e3;
    assert_eq!(idle.claimed, 0);
    println!(
        "{label:<10} {ACTIVE} active, {DUE} due: one pass {pass_ms:>8.1} ms ({:.0} escalations/s, {} outbox rows); \
         next pass with nothing due {idle_ms:.2} ms; seeding took {seed_s:.1} s",
        DUE as f64 / (pass_ms / 1e3),
        r.messages
    );
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    run("SQLite", format!("sqlite://{}", dir.path().join("bench.db").display()), dir.path());
    let server =
        std::env::var("HAVEN_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    match diesel::PgConnection::establish(&server) {
        Ok(mut c) => {
            let schema = format!("bench_{}", uuid::Uuid::new_v4().simple());
            c.batch_execute(&format!("CREATE SCHEMA {schema}")).expect("schema");
            let url = format!("{server}?options=--search_path%3D{schema}");
            let pg_dir = tempfile::tempdir().expect("tempdir");
            run("PostgreSQL", url, pg_dir.path());
            let _ = c.batch_execute(&format!("DROP SCHEMA {schema} CASCADE"));
        }
        Err(_) => println!("PostgreSQL   skipped: {server} is unreachable"),
    }
}
