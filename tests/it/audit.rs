//! The hash-chained audit trail: written with each change, readable by auditors, verified by
//! `haven audit verify`, tamper-evident.

use std::process::Command;

use haven::domain::Role;
use serde_json::{json, Value};

use crate::db_test;
use crate::harness::{token_of, TestApp};

fn verify(app: &TestApp) -> (i32, String) {
    verify_with(app, &[])
}

db_test!(changes_and_refusals_are_audited, |app| {
    let t = app.admin_token();
    let me = app.get("/api/v1/me", Some(&t)).json();
    let r = app.post(
        "/api/v1/organizations",
        Some(&t),
        json!({ "name": "ProtectDefenders NGO", "kind": "ngo", "country": "KE" }),
    );
    let org_id = r.json()["id"].as_str().unwrap().to_string();
    let (_, email, pw) = app.user(Role::Officer, &org_id);
    let officer = token_of(&app.login(&email, &pw));
    assert_eq!(
        app.post("/api/v1/organizations", Some(&officer), json!({ "name": "Z", "kind": "ngo", "country": "KE" }))
            .status,
        403
    );
    let _ = app.post("/api/v1/auth/login", None, json!({ "email": email, "password": "wrong password!!" }));

    let items = app.get("/api/v1/audit?limit=200", Some(&t)).json()["items"].as_array().unwrap().clone();
    let find =
        |action: &str, outcome: &str| items.iter().find(|e| e["action"] == action && e["outcome"] == outcome).cloned();
    let created = find("organization.create", "success").expect("org creation audited");
    assert_eq!(created["actor_id"], me["id"]);
    assert_eq!(created["subject_id"], org_id.as_str());
    assert!(find("organization.create", "denied").is_some(), "refused mutation audited");
    assert!(find("auth.login", "denied").is_some(), "failed login audited");
    assert!(find("auth.login", "success").is_some());
    // Nothing secret lands in the trail.
    let all = serde_json::to_string(&items).unwrap();
    assert!(!all.contains(&pw) && !all.contains("wrong password") && !all.contains("127.0.0.1"));
});

db_test!(auditors_page_through_the_trail_and_coordinators_cannot, |app| {
    let org = app.admin_org();
    let (_, a_email, a_pw) = app.user(Role::Auditor, &org);
    let (_, c_email, c_pw) = app.user(Role::Coordinator, &org);
    let auditor = token_of(&app.login(&a_email, &a_pw));
    let coordinator = token_of(&app.login(&c_email, &c_pw));
    assert_eq!(app.get("/api/v1/audit", Some(&coordinator)).status, 403);

    assert_eq!(app.get("/api/v1/audit", Some(&auditor)).status, 200);
    let admin = app.admin_token();
    let mut seqs = Vec::new();
    let mut path = "/api/v1/audit?limit=3".to_string();
    loop {
        let page = app.get(&path, Some(&admin));
        assert_eq!(page.status, 200, "{page:?}");
        let page = page.json();
        seqs.extend(page["items"].as_array().unwrap().iter().map(|e| e["seq"].as_i64().unwrap()));
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/audit?limit=3&cursor={c}"),
            None => break,
        }
    }
    assert!(seqs.len() >= 4, "{seqs:?}");
    let expected: Vec<i64> = (1..=seqs[0]).rev().collect();
    assert_eq!(seqs, expected, "newest first, no gaps, no repeats");
    assert_eq!(app.get("/api/v1/audit?cursor=abc", Some(&auditor)).status, 400);
    assert_eq!(app.get("/api/v1/audit?cursor=-1", Some(&auditor)).status, 400);
});

db_test!(verify_finds_an_edited_row, |app| {
    let t = app.admin_token();
    for i in 0..3 {
        app.post(
            "/api/v1/organizations",
            Some(&t),
            json!({ "name": format!("Org {i}"), "kind": "ngo", "country": "CO" }),
        );
    }
    let (code, out) = verify(&app);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("intact"), "{out}");

    app.sql("UPDATE audit_events SET outcome = 'denied' WHERE seq = 3");
    let (code, out) = verify(&app);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("#3"), "{out}");
});

db_test!(verify_finds_a_deleted_or_relinked_row, |app| {
    let t = app.admin_token();
    for i in 0..3 {
        app.post(
            "/api/v1/organizations",
            Some(&t),
            json!({ "name": format!("Org {i}"), "kind": "ngo", "country": "CO" }),
        );
    }
    app.sql("DELETE FROM audit_events WHERE seq = 4");
    let (code, out) = verify(&app);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("#4") && out.contains("missing"), "{out}");
});

db_test!(verify_finds_a_recomputed_row, |app| {
    // An attacker who edits a row and recomputes its own hash still breaks the next link.
    let t = app.admin_token();
    for i in 0..3 {
        app.post(
            "/api/v1/organizations",
            Some(&t),
            json!({ "name": format!("Org {i}"), "kind": "ngo", "country": "CO" }),
        );
    }
    let mut conn = app.state().db.get().unwrap();
    let mut ev = haven::db::models::AuditEvent::chunk_after(&mut conn, 1, 1).unwrap().remove(0);
    assert_eq!(ev.seq, 2);
    ev.outcome = "failure".into();
    ev.hash = haven::audit::row_hash(&ev);
    drop(conn);
    app.sql(&format!("UPDATE audit_events SET outcome = 'failure', hash = '{}' WHERE seq = 2", ev.hash));
    let (code, out) = verify(&app);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("#3") && out.contains("prev_hash"), "{out}");
});

db_test!(concurrent_writers_keep_one_chain, |app| {
    let t = app.admin_token();
    std::thread::scope(|s| {
        for w in 0..4 {
            let (app, t) = (&app, &t);
            s.spawn(move || {
                for i in 0..5 {
                    let r = app.post(
                        "/api/v1/organizations",
                        Some(t),
                        json!({ "name": format!("Org {w}-{i}"), "kind": "ngo", "country": "CO" }),
                    );
                    assert_eq!(r.status, 201, "{r:?}");
                }
            });
        }
    });
    let (code, out) = verify(&app);
    assert_eq!(code, 0, "{out}");
});

db_test!(an_expected_head_catches_truncation_and_foreign_rows, |app| {
    let t = app.admin_token();
    for i in 0..3 {
        app.post(
            "/api/v1/organizations",
            Some(&t),
            json!({ "name": format!("Org {i}"), "kind": "ngo", "country": "CO" }),
        );
    }
    let (code, out) = verify(&app);
    assert_eq!(code, 0, "{out}");
    let head = out.lines().find_map(|l| l.strip_prefix("head: ")).expect("head printed").to_string();
    let with_head = |head: &str| {
        let o = Command::new(env!("CARGO_BIN_EXE_haven"))
            .args(["audit", "verify", "--expect-head", head])
            .envs(app.db.env())
            .output()
            .unwrap();
        (o.status.code().unwrap_or(-1), String::from_utf8_lossy(&o.stdout).into_owned())
    };
    assert_eq!(with_head(&head).0, 0);
    // More events later: the old head is still there, unchanged.
    app.post("/api/v1/organizations", Some(&t), json!({ "name": "Later", "kind": "ngo", "country": "CO" }));
    assert_eq!(with_head(&head).0, 0);
    // Cutting rows off the end leaves a perfect chain, but not the recorded head.
    let seq: i64 = head.split(':').next().unwrap().parse().unwrap();
    app.sql(&format!("DELETE FROM audit_events WHERE seq >= {seq}"));
    assert_eq!(verify(&app).0, 0, "a truncated chain is still a chain");
    let (code, out) = with_head(&head);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("missing or changed"), "{out}");
    let o = Command::new(env!("CARGO_BIN_EXE_haven"))
        .args(["audit", "verify", "--expect-head", "bogus"])
        .envs(app.db.env())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));

    // A row slipped in outside the chain's numbering is noticed too.
    app.sql(&format!(
        "INSERT INTO audit_events (seq, id, occurred_at, actor_id, action, subject_type, subject_id, outcome, detail, prev_hash, hash) \
         VALUES (0, 'forged', '2026-01-01 00:00:00', NULL, 'user.create', 'user', NULL, 'success', NULL, '{g}', '{g}')",
        g = haven::audit::GENESIS
    ));
    let (code, out) = verify(&app);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("outside the chain"), "{out}");
});

fn verify_with(app: &TestApp, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_haven"))
        .args(["audit", "verify"])
        .args(args)
        .envs(app.db.env())
        .output()
        .expect("run haven audit verify");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
}

fn line_of<'a>(out: &'a str, start: &str) -> &'a str {
    out.lines()
        .map(str::trim_start)
        .find(|l| l.starts_with(start))
        .unwrap_or_else(|| panic!("no line {start:?} in:\n{out}"))
}

// The operator's story after a failure: see what is damaged (`--report`), then keep checking
// what is written after the damage (`--from`). Nothing is rewritten.
db_test!(a_report_shows_the_last_good_event_and_each_damaged_row, |app| {
    let t = app.admin_token();
    for i in 0..6 {
        let r = app.post(
            "/api/v1/organizations",
            Some(&t),
            json!({ "name": format!("Secret Org {i}"), "kind": "ngo", "country": "CO" }),
        );
        assert_eq!(r.status, 201, "{r:?}");
    }
    let before = audit_rows(&app);
    assert!(before.len() >= 8, "{}", before.len());
    app.sql("UPDATE audit_events SET outcome = 'denied' WHERE seq = 3");
    app.sql("DELETE FROM audit_events WHERE seq IN (5, 6)");

    let (code, plain) = verify(&app);
    assert_eq!(code, 1, "{plain}");
    assert!(plain.contains("--report"), "a failure says where to look next: {plain}");

    let (code, out) = verify_with(&app, &["--report"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("BROKEN at event #3"), "{out}");
    let good = line_of(&out, "last good event:");
    assert!(good.contains("#2") && good.contains(&format!("2:{}", before[1].hash)), "{good}");
    let third = line_of(&out, "#3 ");
    assert!(third.contains("content=CHANGED") && third.contains("link=ok") && third.contains("denied"), "{third}");
    let fourth = line_of(&out, "#4 ");
    assert!(fourth.contains("content=ok") && fourth.contains("link=ok"), "{fourth}");
    assert!(line_of(&out, "#5..#6 MISSING").contains("2 rows"), "{out}");
    let seventh = line_of(&out, "#7 ");
    assert!(seventh.contains("content=ok") && seventh.contains("link=BROKEN"), "{seventh}");
    let after = line_of(&out, "after it,");
    assert!(after.contains(&format!("{} row(s)", before.len() - 2 - 2)), "{after}");
    // Ids, times and actions only: no row's detail, nothing the rows describe.
    assert!(!out.contains("Secret Org"), "{out}");
    // It changed nothing: the damaged rows are still exactly as the attacker left them.
    let now = audit_rows(&app);
    assert_eq!(now.len(), before.len() - 2);
    assert_eq!(now.iter().find(|r| r.seq == 3).map(|r| r.outcome.as_str()), Some("denied"));

    // Monitoring goes on from the first row after the damage...
    let (code, out) = verify_with(&app, &["--from", "7"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("intact from #7: {} event(s)", before.len() - 6)), "{out}");
    // ... and catches the next change there, while the full check still fails at #3.
    app.post("/api/v1/organizations", Some(&t), json!({ "name": "Later", "kind": "ngo", "country": "CO" }));
    app.sql("UPDATE audit_events SET action = 'user.login' WHERE seq = 8");
    let (code, out) = verify_with(&app, &["--from", "7", "--report"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("BROKEN at event #8") && line_of(&out, "#8 ").contains("content=CHANGED"), "{out}");
    assert!(verify(&app).1.contains("#3"));
    let (code, _) = verify_with(&app, &["--from", "0"]);
    assert_eq!(code, 2, "--from counts from 1");
    let (code, out) = verify_with(&app, &["--from", "5"]);
    assert_eq!(code, 1, "a deleted starting row is reported: {out}");
    assert!(out.contains("#5") && out.contains("missing"), "{out}");
});

db_test!(a_report_on_a_truncated_chain_says_everything_after_is_gone, |app| {
    let t = app.admin_token();
    for i in 0..3 {
        app.post(
            "/api/v1/organizations",
            Some(&t),
            json!({ "name": format!("Org {i}"), "kind": "ngo", "country": "CO" }),
        );
    }
    let (_, out) = verify(&app);
    let head = out.lines().find_map(|l| l.strip_prefix("head: ")).expect("head printed").to_string();
    let seq: i64 = head.split(':').next().unwrap().parse().unwrap();
    app.sql(&format!("DELETE FROM audit_events WHERE seq >= {}", seq - 1));
    let (code, out) = verify_with(&app, &["--expect-head", &head, "--report"]);
    assert_eq!(code, 1, "{out}");
    assert!(line_of(&out, "last good event:").contains(&format!("#{}", seq - 2)), "{out}");
    assert!(out.contains("no rows (everything after it is gone)"), "{out}");
});

fn audit_rows(app: &TestApp) -> Vec<haven::db::models::AuditEvent> {
    haven::db::models::AuditEvent::chunk_after(&mut app.state().db.get().unwrap(), 0, 10_000).unwrap()
}

// Inside a write transaction the rows are queued and written just before COMMIT (so that on
// PostgreSQL the chain's lock is held only for that): written in the order recorded when the
// transaction commits, not at all when it rolls back, and a panic leaves nothing queued.
db_test!(a_transactions_rows_are_written_at_commit_in_order_or_not_at_all, |app| {
    use haven::audit::{self, Entry};
    let st = app.state();
    let now = st.clock.now();
    let before = audit_rows(&app).len();

    let failed = st.db.write_blocking(move |c| {
        audit::record(c, now, Entry::new(None, "test.first", "test", None))?;
        audit::record(c, now, Entry::new(None, "test.second", "test", None))?;
        Err::<(), _>(haven::error::AppError::conflict("test", "rolled back"))
    });
    assert!(failed.is_err());
    assert_eq!(audit_rows(&app).len(), before, "a rolled-back transaction leaves no audit row");

    st.db
        .write_blocking(move |c| {
            audit::record(c, now, Entry::new(None, "test.first", "test", None))?;
            // Not yet written while the transaction runs.
            assert_eq!(haven::db::models::AuditEvent::count(c)? as usize, before);
            audit::record(c, now, Entry::new(None, "test.second", "test", None))?;
            Ok(())
        })
        .expect("transaction");
    let rows = audit_rows(&app);
    let actions: Vec<&str> = rows[before..].iter().map(|r| r.action.as_str()).collect();
    assert_eq!(actions, ["test.first", "test.second"]);

    // A panic in the middle of a deferred body: nothing queued survives it on this thread.
    let mut conn = st.db.get().unwrap();
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = audit::deferred(&mut conn, |c| {
            audit::record(c, now, Entry::new(None, "test.panicked", "test", None))?;
            panic!("in the middle of a transaction");
            #[allow(unreachable_code)]
            Ok(())
        });
    }));
    assert!(panicked.is_err());
    // Outside write_blocking a row is written in a transaction of its own, at once.
    audit::record(&mut conn, now, Entry::new(None, "test.alone", "test", None)).unwrap();
    let rows = audit_rows(&app);
    let actions: Vec<&str> = rows[before..].iter().map(|r| r.action.as_str()).collect();
    assert_eq!(actions, ["test.first", "test.second", "test.alone"]);
    let (code, out) = verify(&app);
    assert_eq!(code, 0, "{out}");
});

db_test!(an_auditor_reads_her_organisations_trail_and_filters_it, |app| {
    let admin = app.admin_token();
    let org = |name: &str, kind: &str| {
        let r = app.post("/api/v1/organizations", Some(&admin), json!({ "name": name, "kind": kind, "country": "CO" }));
        r.json()["id"].as_str().unwrap().to_string()
    };
    let (un, embassy) = (org("UN Human Rights Office", "un_agency"), org("Embassy of Ireland", "embassy"));
    let login = |role: Role, org: &str| {
        let (id, email, pw) = app.user(role, org);
        (id, token_of(&app.login(&email, &pw)))
    };
    let (un_coord_id, un_coord) = login(Role::Coordinator, &un);
    let (_, emb_coord) = login(Role::Coordinator, &embassy);
    let (_, un_auditor) = login(Role::Auditor, &un);
    let (_, emb_auditor) = login(Role::Auditor, &embassy);
    let case = |t: &str| {
        let r = app.post(
            "/api/v1/cases",
            Some(t),
            json!({ "severity": "high", "country": "CO", "consent_scope": ["embassy"] }),
        );
        assert_eq!(r.status, 201, "{r:?}");
        r.json()["id"].as_str().unwrap().to_string()
    };
    let (un_case, emb_case) = (case(&un_coord), case(&emb_coord));
    let r = app.post(
        "/api/v1/alerts",
        Some(&emb_coord),
        json!({ "kind": "surveillance", "urgency": "high", "country": "CO", "narrative": "n", "consent_scope": [] }),
    );
    let emb_alert = r.json()["id"].as_str().unwrap().to_string();
    let trail = |t: &str, query: &str| {
        let r = app.get(&format!("/api/v1/audit?limit=200{query}"), Some(t));
        assert_eq!(r.status, 200, "{query}: {r:?}");
        r.json()["items"].as_array().unwrap().clone()
    };
    let mentions = |items: &[Value], id: &str| items.iter().any(|e| e["subject_id"] == id || e["actor_id"] == id);
    let un_view = trail(&un_auditor, "");
    assert!(mentions(&un_view, &un_case), "her organisation's case");
    assert!(!mentions(&un_view, &emb_case) && !mentions(&un_view, &emb_alert), "not the embassy's: {un_view:?}");
    let emb_view = trail(&emb_auditor, "");
    assert!(mentions(&emb_view, &emb_case) && mentions(&emb_view, &emb_alert));
    assert!(!mentions(&emb_view, &un_case));
    let all = trail(&admin, "");
    assert!(mentions(&all, &un_case) && mentions(&all, &emb_case), "admins see everything");

    // Filters, alone and together.
    let only = |items: &[Value], key: &str, v: &str| !items.is_empty() && items.iter().all(|e| e[key] == v);
    assert!(only(&trail(&admin, &format!("&actor={un_coord_id}")), "actor_id", &un_coord_id));
    assert!(only(&trail(&admin, "&action=case.create"), "action", "case.create"));
    let cases = trail(&admin, "&action=case.");
    assert!(cases.iter().all(|e| e["action"].as_str().unwrap().starts_with("case.")), "{cases:?}");
    assert!(only(&trail(&admin, &format!("&subject={emb_alert}")), "subject_id", &emb_alert));
    assert_eq!(trail(&un_auditor, &format!("&subject={emb_alert}")).len(), 0, "the scope holds under a filter");
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    assert_eq!(trail(&admin, &format!("&from={today}&to={today}")).len(), all.len());
    assert_eq!(trail(&admin, "&to=2020-01-01").len(), 0);
    assert_eq!(trail(&admin, "&from=2999-01-01T00:00:00Z").len(), 0);
    for bad in ["&outcome=maybe", "&from=yesterday", "&actor=x%27%20OR%201=1", "&action=case%25", "&colour=red"] {
        let r = app.get(&format!("/api/v1/audit?{bad}"), Some(&admin));
        assert_eq!(r.status, 400, "{bad}: {r:?}");
    }

    // Refused reads are audited like refused writes: by role, and on one object.
    assert_eq!(app.get("/api/v1/cases", Some(&un_auditor)).status, 403);
    let (_, officer) = login(Role::Officer, &embassy);
    assert_eq!(app.get("/api/v1/alerts", Some(&officer)).status, 403);
    let r = app.post(
        &format!("/api/v1/cases/{un_case}/shares"),
        Some(&un_coord),
        json!({ "organization_id": embassy, "consent_reference": "c", "expires_at": (chrono::Utc::now() + chrono::Duration::days(9)).to_rfc3339() }),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(app.get(&format!("/api/v1/cases/{un_case}"), Some(&officer)).status, 200, "shared with her");
    let body = json!({ "threats": [], "reassess_by": (chrono::Utc::now() + chrono::Duration::days(9)).to_rfc3339() });
    let r = app.post(&format!("/api/v1/cases/{un_case}/assessments"), Some(&officer), body);
    assert_eq!(r.status, 403, "a partner reads, does not assess: {r:?}");
    let on_case = trail(&un_auditor, &format!("&subject={un_case}&outcome=denied"));
    assert!(
        on_case.iter().any(|e| e["action"] == "assessment.create" && e["subject_type"] == "case"),
        "the case's organisation sees who was refused on it: {on_case:?}"
    );
    let denied = trail(&admin, "&outcome=denied");
    assert!(denied.iter().any(|e| e["action"] == "case.list"), "{denied:?}");
    assert!(denied.iter().any(|e| e["action"] == "alert.list"), "{denied:?}");
});
