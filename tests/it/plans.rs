//! Security plans and measures: approval rules, state machines, threat links, deadlines,
//! access following the case, sealed text.

use serde_json::{json, Value};

use crate::db_test;
use crate::harness::{everything_stored, team, Team, TestApp};

fn in_days(d: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::days(d)).to_rfc3339()
}

fn new_plan(app: &TestApp, c: &Team, summary: &str) -> Value {
    let r = app.post(
        &format!("/api/v1/cases/{}/plans", c.case_id),
        Some(&c.coord),
        json!({ "summary": summary, "review_by": in_days(30) }),
    );
    assert_eq!(r.status, 201, "{r:?}");
    r.json()
}

db_test!(plans_are_approved_by_another_coordinator, |app| {
    let c = team(&app);
    let plan = new_plan(&app, &c, "Relocate within the city; change routes");
    assert_eq!(plan["status"], "draft");
    assert_eq!(plan["allowed_transitions"], json!(["approved"]));
    let path = format!("/api/v1/plans/{}", plan["id"].as_str().unwrap());
    let status = |t: &str, s: &str| app.patch(&path, Some(t), json!({ "status": s }));

    let r = status(&c.coord, "approved");
    assert_eq!((r.status, r.code().as_str()), (403, "approval_by_author"));
    assert_eq!(r.json()["message"], "a plan is approved by a coordinator other than its author");
    let r = status(&c.officer, "approved");
    assert_eq!((r.status, r.code().as_str()), (403, "approval_needs_coordinator"));
    assert_eq!(r.json()["message"], "only a coordinator of the case's own organisation may approve this");
    let r = status(&c.coord, "under_review");
    assert_eq!((r.status, r.code().as_str()), (409, "invalid_transition"));
    assert_eq!(r.json()["allowed"], json!(["approved"]));
    let r = status(&c.second_coord, "approved");
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.json()["approved_by"].is_string());
    assert_eq!(status(&c.coord, "under_review").status, 200);
    let r = status(&c.coord, "draft");
    assert_eq!(r.status, 200);
    assert!(r.json()["approved_by"].is_null());
    assert_eq!(status(&c.second_coord, "approved").status, 200);

    // Concurrent edits: a stale If-Match is refused.
    let etag = app.get(&path, Some(&c.coord)).header("etag").unwrap().to_string();
    let r = app.request_with_headers(
        "PATCH",
        &path,
        Some(&c.coord),
        &[("If-Match", &etag)],
        Some(json!({ "summary": "v2" })),
    );
    assert_eq!(r.status, 200);
    let r = app.request_with_headers(
        "PATCH",
        &path,
        Some(&c.coord),
        &[("If-Match", &etag)],
        Some(json!({ "summary": "v3" })),
    );
    assert_eq!(r.status, 412);
    for bad in [json!({}), json!({ "status": "archived" }), json!({ "author_id": "x" }), json!({ "case_id": "x" })] {
        assert_eq!(app.patch(&path, Some(&c.coord), bad.clone()).status, 400, "{bad}");
    }
    assert_eq!(app.patch(&path, Some(&c.coord), json!({ "review_by": "2020-01-01T00:00:00Z" })).status, 422);

    // Access follows the case.
    assert_eq!(app.get(&path, Some(&c.partner)).status, 200);
    assert_eq!(app.patch(&path, Some(&c.partner), json!({ "summary": "x" })).status, 403);
    assert_eq!(app.get(&path, Some(&c.other)).status, 404);
    assert_eq!(app.get(&format!("/api/v1/cases/{}/plans", c.case_id), Some(&c.other)).status, 404);
    let list = app.get(&format!("/api/v1/cases/{}/plans", c.case_id), Some(&c.officer)).json();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
});

db_test!(measures_follow_their_state_machine_and_threats, |app| {
    let c = team(&app);
    let plan = new_plan(&app, &c, "plan");
    let pid = plan["id"].as_str().unwrap();
    let add = |body: Value| app.post(&format!("/api/v1/plans/{pid}/measures"), Some(&c.officer), body);
    let measure = json!({ "category": "digital", "kind": "prevention", "description": "New phone with Signal; wipe the old one" });

    let mut linked = measure.clone();
    linked["threat_index"] = json!(0);
    let r = add(linked.clone());
    assert_eq!((r.status, r.code().as_str()), (422, "unknown_threat"), "no assessment yet");
    let assessment = json!({
        "threats": [{ "facts": "calls at night", "source_actor": "unknown", "public": false, "likelihood": 3, "impact": 3 }],
        "reassess_by": in_days(10)
    });
    assert_eq!(app.post(&format!("/api/v1/cases/{}/assessments", c.case_id), Some(&c.officer), assessment).status, 201);
    let r = add(linked);
    assert_eq!(r.status, 201, "{r:?}");
    let m = r.json();
    assert!(m["assessment_id"].is_string());
    assert_eq!(m["owner_kind"], "defender");
    let mut out_of_range = measure.clone();
    out_of_range["threat_index"] = json!(1);
    assert_eq!(add(out_of_range).status, 422);
    let mut bad_owner = measure.clone();
    bad_owner["owner_user_id"] = json!("01a20000-0000-7000-8000-000000000000");
    assert_eq!(add(bad_owner).status, 422);
    let mut late = measure.clone();
    late["owner_user_id"] = json!(c.officer_id);
    late["due_at"] = json!("2026-01-01T00:00:00Z");
    let late = add(late).json();
    assert_eq!(late["overdue"], true);
    assert_eq!(late["owner_kind"], "user");
    for bad in [
        json!({ "category": "magic", "kind": "prevention", "description": "x" }),
        json!({ "category": "legal", "kind": "prevention", "description": "x", "status": "done" }),
    ] {
        assert_eq!(add(bad.clone()).status, 400, "{bad}");
    }

    let mpath = format!("/api/v1/measures/{}", m["id"].as_str().unwrap());
    let set = |body: Value| app.patch(&mpath, Some(&c.officer), body);
    assert_eq!(set(json!({ "status": "in_progress" })).json()["status"], "in_progress");
    assert_eq!(set(json!({ "status": "done" })).status, 200);
    let r = set(json!({ "status": "in_progress" }));
    assert_eq!((r.status, r.json()["allowed"].clone()), (409, json!([])));
    let lpath = format!("/api/v1/measures/{}", late["id"].as_str().unwrap());
    let r = app.patch(&lpath, Some(&c.officer), json!({ "status": "dropped" }));
    assert_eq!((r.status, r.code().as_str()), (422, "reason_required"));
    let r = app.patch(&lpath, Some(&c.officer), json!({ "status": "dropped", "reason": "she left the country" }));
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["dropped_reason"], "she left the country");
    assert_eq!(r.json()["overdue"], false, "a dropped measure is not overdue");
    // A dropped (or done) measure is history: it cannot be rewritten.
    let r = app.patch(&lpath, Some(&c.officer), json!({ "description": "rewrite history" }));
    assert_eq!((r.status, r.code().as_str()), (409, "invalid_transition"));
    // Ownership moves between people on the case and the defender herself.
    let open = add(measure.clone()).json();
    let opath = format!("/api/v1/measures/{}", open["id"].as_str().unwrap());
    let r = app.patch(&opath, Some(&c.officer), json!({ "owner_user_id": c.officer_id }));
    assert_eq!((r.status, r.json()["owner_kind"].clone()), (200, json!("user")));
    let r = app.patch(&opath, Some(&c.officer), json!({ "owner_user_id": null }));
    assert_eq!((r.status, r.json()["owner_kind"].clone()), (200, json!("defender")));
    let r = app.patch(&opath, Some(&c.officer), json!({ "reason": "no status", "description": "new words" }));
    assert_eq!((r.status, r.code().as_str()), (422, "unexpected_reason"));
    let r = app.patch(&opath, Some(&c.officer), json!({ "due_at": "9999-01-01T00:00:00Z" }));
    assert_eq!((r.status, r.code().as_str()), (422, "invalid_due_at"));
    assert_eq!(app.patch(&lpath, Some(&c.other), json!({ "description": "x" })).status, 404);
    assert_eq!(app.patch(&lpath, Some(&c.partner), json!({ "description": "x" })).status, 403);
    let plan = app.get(&format!("/api/v1/plans/{pid}"), Some(&c.coord)).json();
    assert_eq!(plan["measures"].as_array().unwrap().len(), 3);
});

db_test!(approval_cannot_be_smuggled_past, |app| {
    let c = team(&app);
    let plan = new_plan(&app, &c, "first text");
    let pid = plan["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/plans/{pid}");
    // Approving while rewriting: refused; approval stands alone.
    let r = app.patch(&path, Some(&c.second_coord), json!({ "status": "approved", "summary": "my own text" }));
    assert_eq!((r.status, r.code().as_str()), (422, "approve_separately"));
    assert_eq!(app.patch(&path, Some(&c.second_coord), json!({ "status": "approved" })).status, 200);
    // Editing an approved plan sends it back to review and clears the approval.
    let r = app.patch(&path, Some(&c.coord), json!({ "summary": "changed after approval" }));
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "under_review");
    assert!(r.json()["approved_by"].is_null());
    assert_eq!(app.patch(&path, Some(&c.second_coord), json!({ "status": "approved" })).status, 200);
    // So does a new or changed measure, and the plan's ETag moves with it.
    let etag = app.get(&path, Some(&c.coord)).header("etag").unwrap().to_string();
    let r = app.post(
        &format!("{path}/measures"),
        Some(&c.officer),
        json!({ "category": "legal", "kind": "response", "description": "lawyer on call" }),
    );
    assert_eq!(r.status, 201);
    let after = app.get(&path, Some(&c.coord));
    assert_eq!(after.json()["status"], "under_review");
    assert_ne!(after.header("etag").unwrap(), etag);
    let r = app.request_with_headers(
        "PATCH",
        &path,
        Some(&c.second_coord),
        &[("If-Match", &etag)],
        Some(json!({ "status": "approved" })),
    );
    assert_eq!(r.status, 412, "an approver who did not see the new measure cannot approve");
});

db_test!(plan_and_measure_text_is_sealed, |app| {
    let c = team(&app);
    let canary = format!("CANARY{}", uuid::Uuid::new_v4().simple());
    let plan = new_plan(&app, &c, &format!("summary {canary}"));
    let pid = plan["id"].as_str().unwrap();
    let r = app.post(
        &format!("/api/v1/plans/{pid}/measures"),
        Some(&c.coord),
        json!({ "category": "travel", "kind": "response", "description": format!("route {canary}") }),
    );
    assert_eq!(r.status, 201);
    let stored = everything_stored(&app);
    assert!(stored.contains(pid));
    assert!(!stored.contains(&canary));
});

db_test!(progress_on_a_measure_keeps_the_plan_approved, |app| {
    let c = team(&app);
    let plan = new_plan(&app, &c, "Change routes; lawyer on call");
    let pid = plan["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/plans/{pid}");
    let r = app.post(
        &format!("{path}/measures"),
        Some(&c.officer),
        json!({ "category": "travel", "kind": "prevention", "description": "vary the route home", "due_at": in_days(5) }),
    );
    assert_eq!(r.status, 201, "{r:?}");
    let mid = r.json()["id"].as_str().unwrap().to_string();
    let mpath = format!("/api/v1/measures/{mid}");
    assert_eq!(app.patch(&path, Some(&c.second_coord), json!({ "status": "approved" })).status, 200);
    let approved = |why: &str| {
        let p = app.get(&path, Some(&c.coord)).json();
        assert_eq!(p["status"], "approved", "{why}: {p}");
        assert!(p["approved_by"].is_string(), "{why}: {p}");
    };
    // Work on what was approved is not a change to the plan.
    let r = app.patch(&mpath, Some(&c.officer), json!({ "status": "in_progress" }));
    assert_eq!(r.status, 200, "{r:?}");
    approved("a measure in progress");
    assert_eq!(app.patch(&mpath, Some(&c.officer), json!({ "due_at": in_days(9) })).status, 200);
    approved("a measure's date moved");
    assert_eq!(app.patch(&path, Some(&c.coord), json!({ "review_by": in_days(60) })).status, 200);
    approved("a new review date");
    assert_eq!(app.patch(&mpath, Some(&c.officer), json!({ "status": "done" })).status, 200);
    approved("a measure done");

    // Rewording what was approved sends it back to review.
    let r = app.post(
        &format!("{path}/measures"),
        Some(&c.officer),
        json!({ "category": "legal", "kind": "response", "description": "call the lawyer" }),
    );
    let second = r.json()["id"].as_str().unwrap().to_string();
    assert_eq!(app.get(&path, Some(&c.coord)).json()["status"], "under_review", "a measure added");
    assert_eq!(app.patch(&path, Some(&c.second_coord), json!({ "status": "approved" })).status, 200);
    let r =
        app.patch(&format!("/api/v1/measures/{second}"), Some(&c.officer), json!({ "description": "call the bar" }));
    assert_eq!(r.status, 200);
    assert_eq!(app.get(&path, Some(&c.coord)).json()["status"], "under_review", "a measure reworded");
    assert_eq!(app.patch(&path, Some(&c.second_coord), json!({ "status": "approved" })).status, 200);
    let r = app.patch(
        &format!("/api/v1/measures/{second}"),
        Some(&c.officer),
        json!({ "status": "dropped", "reason": "not needed" }),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(app.get(&path, Some(&c.coord)).json()["status"], "under_review", "a measure dropped");
});
