//! Cases: workflow, need-to-know, sharing within consent, notes sealed at rest, safe retries
//! and concurrent edits.

use haven::domain::Role;
use serde_json::{json, Value};

use crate::db_test;
use crate::harness::{cast, everything_stored, Person, Resp, TestApp};

fn login_as(app: &TestApp, role: Role, org: &str) -> (String, String) {
    let p = Person::new(app, role, org);
    (p.id, p.token)
}

fn org(app: &TestApp, admin: &str, name: &str, kind: &str) -> String {
    let r = app.post("/api/v1/organizations", Some(admin), json!({ "name": name, "kind": kind, "country": "CO" }));
    assert_eq!(r.status, 201, "{r:?}");
    r.json()["id"].as_str().unwrap().to_string()
}

fn new_case(app: &TestApp, token: &str, body: Value) -> Value {
    let r = app.post("/api/v1/cases", Some(token), body);
    assert_eq!(r.status, 201, "{r:?}");
    r.json()
}

fn case_body() -> Value {
    json!({ "severity": "high", "country": "CO", "consent_scope": ["embassy", "un_agency"], "summary": "Threats after a land-rights hearing" })
}

fn expires_in(days: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::days(days)).to_rfc3339()
}

db_test!(create_read_and_list_a_case, |app| {
    let w = cast(&app);
    let case = new_case(&app, &w.owner_coord.token, case_body());
    let reference = case["reference"].as_str().unwrap();
    assert!(reference.starts_with(&format!("HVN-{}-", chrono::Utc::now().format("%Y"))), "{reference}");
    assert_eq!(reference.len(), "HVN-2026-000001".len());
    assert_eq!(case["status"], "open");
    assert_eq!(case["summary"], "Threats after a land-rights hearing");
    assert_eq!(case["owner_organization_id"], w.owner_org.as_str());
    assert_eq!(case["allowed_transitions"], json!(["acknowledged", "closed"]));
    let id = case["id"].as_str().unwrap();

    let r = app.get(&format!("/api/v1/cases/{id}"), Some(&w.owner_coord.token));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("etag"), Some(format!("\"v{}\"", r.json()["version"]).as_str()));
    let list = app.get("/api/v1/cases", Some(&w.owner_coord.token)).json();
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert!(items[0].get("summary").is_none(), "lists never carry sealed fields");

    for bad in [
        json!({ "severity": "urgent", "country": "CO", "consent_scope": [] }),
        json!({ "severity": "high", "country": "XX", "consent_scope": [] }),
        json!({ "severity": "high", "country": "CO", "consent_scope": ["spies"] }),
        json!({ "severity": "high", "country": "CO", "consent_scope": [], "status": "closed" }),
        json!({ "severity": "high", "country": "CO", "consent_scope": [], "reference": "HVN-1999-000001" }),
        json!({ "severity": "high", "country": "CO", "consent_scope": [], "owner_organization_id": w.partner_org }),
        json!({ "severity": "high", "country": "CO", "consent_scope": [], "summary": "a\u{0}b" }),
    ] {
        let r = app.post("/api/v1/cases", Some(&w.owner_coord.token), bad.clone());
        assert!(r.status == 400 || r.status == 422, "{bad}: {r:?}");
    }
    assert_eq!(
        app.get("/api/v1/cases", Some(&w.owner_coord.token)).json()["items"].as_array().unwrap().len(),
        1,
        "nothing created"
    );
});

/// Expected status for each (caller, operation) on a case owned by the owner org, assigned to
/// the assigned officer and shared with the partner org. 404 means "no such case" for her.
const MATRIX: &[(&str, [u16; 9])] = &[
    //                        read update trans assign unassign share unshare note+ notes
    ("anonymous", [401, 401, 401, 401, 401, 401, 401, 401, 401]),
    ("admin", [403, 403, 403, 403, 403, 403, 403, 403, 403]),
    ("auditor", [403, 403, 403, 403, 403, 403, 403, 403, 403]),
    ("owner_coordinator", [200, 200, 200, 200, 200, 200, 200, 201, 200]),
    ("other_coordinator", [404, 404, 404, 404, 404, 404, 404, 404, 404]),
    ("assigned_officer", [200, 200, 200, 403, 403, 403, 403, 201, 200]),
    ("sharing_officer", [200, 403, 403, 403, 403, 403, 403, 201, 200]),
    // Officers may never assign or share (a role rule, the same answer for any id, so it
    // reveals nothing about the case).
    ("unrelated_officer", [404, 404, 404, 403, 403, 403, 403, 404, 404]),
];

db_test!(need_to_know_matrix, |app| {
    let w = cast(&app);
    // A helper user to assign and unassign, and a spare organisation to share with.
    let (helper_id, _) = login_as(&app, Role::Officer, &w.owner_org);
    let spare_org = org(&app, &w.admin, "Spare Embassy", "embassy");
    for (who, expected) in MATRIX {
        let id = w.shared_case(&app);
        let t = w.token(who);
        let t = t.as_deref();
        let base = format!("/api/v1/cases/{id}");
        let got: Vec<u16> = vec![
            app.get(&base, t).status,
            app.patch(&base, t, json!({ "severity": "critical" })).status,
            app.post(&format!("{base}/transitions"), t, json!({ "to": "acknowledged" })).status,
            app.post(&format!("{base}/assignees"), t, json!({ "user_id": helper_id })).status,
            app.request("DELETE", &format!("{base}/assignees/{}", w.assigned_officer.id), t, None).status,
            app.post(
                &format!("{base}/shares"),
                t,
                json!({ "organization_id": spare_org, "consent_reference": "c", "expires_at": expires_in(5) }),
            )
            .status,
            app.request("DELETE", &format!("{base}/shares/{}", w.partner_org), t, None).status,
            app.post(&format!("{base}/notes"), t, json!({ "kind": "note", "body": "called her, safe" })).status,
            app.get(&format!("{base}/notes"), t).status,
        ];
        assert_eq!(&got[..], &expected[..], "caller {who}");
    }
    // Lists show exactly the cases each caller may read.
    let id = w.shared_case(&app);
    let sees = |t: &str| -> bool {
        app.get("/api/v1/cases?limit=200", Some(t)).json()["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == id.as_str())
    };
    assert!(sees(&w.owner_coord.token) && sees(&w.assigned_officer.token) && sees(&w.sharing_officer.token));
    // Only the owner's coordinators see the list of shares.
    let seen_by_partner = app.get(&format!("/api/v1/cases/{id}"), Some(&w.sharing_officer.token)).json();
    assert!(seen_by_partner["shares"].as_array().unwrap().is_empty());
    let seen_by_owner = app.get(&format!("/api/v1/cases/{id}"), Some(&w.owner_coord.token)).json();
    assert_eq!(seen_by_owner["shares"].as_array().unwrap().len(), 1);
    assert!(!sees(&w.other_coord.token) && !sees(&w.unrelated_officer.token));
    assert_eq!(app.get("/api/v1/cases", Some(&w.admin)).status, 403);
    assert_eq!(app.get("/api/v1/cases", Some(&w.auditor.token)).status, 403);
    // A probe with a made-up id looks exactly like a case of another organisation.
    let ghost = app.get("/api/v1/cases/01a20000-0000-7000-8000-000000000000", Some(&w.unrelated_officer.token));
    let real = app.get(&format!("/api/v1/cases/{id}"), Some(&w.unrelated_officer.token));
    assert_eq!((ghost.status, ghost.text.clone()), (real.status, real.text.clone()));
    assert_eq!(app.get("/api/v1/cases/%00", Some(&w.owner_coord.token)).status, 404);
});

db_test!(sharing_respects_consent_expiry_and_revocation, |app| {
    let w = cast(&app);
    let ngo = org(&app, &w.admin, "Local NGO", "ngo");
    let (_, ngo_officer) = login_as(&app, Role::Officer, &ngo);
    let case = new_case(&app, &w.owner_coord.token, case_body());
    let id = case["id"].as_str().unwrap();
    let share = |org: &str, extra: Value| {
        let mut body =
            json!({ "organization_id": org, "consent_reference": "signed 2026-11-20", "expires_at": expires_in(10) });
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        app.post(&format!("/api/v1/cases/{id}/shares"), Some(&w.owner_coord.token), body)
    };
    // NGOs are outside this defender's consent.
    let r = share(&ngo, json!({}));
    assert_eq!((r.status, r.code().as_str()), (422, "outside_consent_scope"), "{r:?}");
    assert_eq!(app.get(&format!("/api/v1/cases/{id}"), Some(&ngo_officer)).status, 404);
    let r = share(&ngo, json!({ "override_reason": "she asked by phone on 21 Nov; written consent to follow" }));
    assert_eq!(r.status, 200, "{r:?}");
    let shares = r.json()["shares"].clone();
    assert_eq!(shares[0]["consent_override"], true);
    assert_eq!(app.get(&format!("/api/v1/cases/{id}"), Some(&ngo_officer)).status, 200);
    let audit = app.get("/api/v1/audit?limit=200", Some(&w.admin)).json();
    assert!(audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["action"] == "case.share" && e["detail"]["consent_override"] == true));

    // Revoked: gone on the next request.
    let r = app.request("DELETE", &format!("/api/v1/cases/{id}/shares/{ngo}"), Some(&w.owner_coord.token), None);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(app.get(&format!("/api/v1/cases/{id}"), Some(&ngo_officer)).status, 404);

    for bad in [
        json!({ "organization_id": w.owner_org, "consent_reference": "x", "expires_at": expires_in(30) }),
        json!({ "organization_id": w.partner_org, "consent_reference": "x", "expires_at": "2020-01-01T00:00:00Z" }),
        json!({ "organization_id": "nope", "consent_reference": "x", "expires_at": expires_in(30) }),
        json!({ "organization_id": w.partner_org, "consent_reference": "", "expires_at": expires_in(30) }),
    ] {
        let r = app.post(&format!("/api/v1/cases/{id}/shares"), Some(&w.owner_coord.token), bad.clone());
        assert_eq!(r.status, 422, "{bad}: {r:?}");
    }

    // Expired: gone once the clock passes expires_at.
    assert_eq!(share(&w.partner_org, json!({})).status, 200);
    assert_eq!(app.get(&format!("/api/v1/cases/{id}"), Some(&w.sharing_officer.token)).status, 200);
    app.clock.advance(chrono::Duration::days(11));
    let (_, t) = login_as(&app, Role::Officer, &w.partner_org);
    assert_eq!(app.get("/api/v1/me", Some(&t)).status, 200);
    assert_eq!(app.get(&format!("/api/v1/cases/{id}"), Some(&t)).status, 404);
});

fn transition(app: &TestApp, t: &str, id: &str, to: &str, reason: Option<&str>) -> Resp {
    let mut body = json!({ "to": to });
    if let Some(r) = reason {
        body["reason"] = json!(r);
    }
    app.post(&format!("/api/v1/cases/{id}/transitions"), Some(t), body)
}

db_test!(workflow_allows_only_its_steps, |app| {
    let w = cast(&app);
    let all = ["open", "acknowledged", "active", "monitoring", "closed"];
    let legal: &[(&str, &str)] = &[
        ("open", "acknowledged"),
        ("open", "closed"),
        ("acknowledged", "active"),
        ("acknowledged", "closed"),
        ("active", "monitoring"),
        ("active", "closed"),
        ("monitoring", "active"),
        ("monitoring", "closed"),
        ("closed", "open"),
    ];
    // Paths from "open" to each status.
    let path_to = |s: &str| -> Vec<&str> {
        match s {
            "open" => vec![],
            "acknowledged" => vec!["acknowledged"],
            "active" => vec!["acknowledged", "active"],
            "monitoring" => vec!["acknowledged", "active", "monitoring"],
            _ => vec!["closed"],
        }
    };
    for from in all {
        for to in all {
            let case = new_case(&app, &w.owner_coord.token, case_body());
            let id = case["id"].as_str().unwrap();
            for step in path_to(from) {
                let r = transition(&app, &w.owner_coord.token, id, step, Some("because"));
                assert_eq!(r.status, 200, "{from}: {r:?}");
            }
            let r = transition(&app, &w.owner_coord.token, id, to, Some("a reason"));
            if legal.contains(&(from, to)) {
                assert_eq!(r.status, 200, "{from} -> {to}: {r:?}");
                assert_eq!(r.json()["status"], to);
            } else {
                assert_eq!(r.status, 409, "{from} -> {to}: {r:?}");
                assert_eq!(r.code(), "invalid_transition");
                let allowed: Vec<&str> = legal.iter().filter(|(f, _)| *f == from).map(|(_, t)| *t).collect();
                assert_eq!(r.json()["allowed"], json!(allowed), "{from}");
            }
        }
    }
    // Closing and reopening need a reason; the reason is kept (sealed) and shown to readers.
    let case = new_case(&app, &w.owner_coord.token, case_body());
    let id = case["id"].as_str().unwrap();
    let r = transition(&app, &w.owner_coord.token, id, "closed", None);
    assert_eq!((r.status, r.code().as_str()), (422, "reason_required"));
    let r = transition(&app, &w.owner_coord.token, id, "closed", Some("relocated safely; no further threats"));
    assert_eq!(r.status, 200);
    assert!(r.json()["closed_at"].is_string());
    let r = transition(&app, &w.owner_coord.token, id, "open", None);
    assert_eq!(r.status, 422);
    let r = transition(&app, &w.owner_coord.token, id, "open", Some("new threats reported"));
    assert_eq!(r.status, 200);
    let c = r.json();
    assert!(c["closed_at"].is_null());
    let reasons: Vec<&str> =
        c["transitions"].as_array().unwrap().iter().map(|t| t["reason"].as_str().unwrap()).collect();
    assert_eq!(reasons, ["relocated safely; no further threats", "new threats reported"]);
    let r = transition(&app, &w.owner_coord.token, id, "archived", None);
    assert_eq!(r.status, 400);
});

db_test!(a_partner_assignee_loses_access_when_the_share_ends, |app| {
    let w = cast(&app);
    let (partner_officer_id, partner_officer) = login_as(&app, Role::Officer, &w.partner_org);
    let share = |days: i64| json!({ "organization_id": w.partner_org, "consent_reference": "c", "expires_at": expires_in(days) });
    // Revoked.
    let id = new_case(&app, &w.owner_coord.token, case_body())["id"].as_str().unwrap().to_string();
    assert_eq!(app.post(&format!("/api/v1/cases/{id}/shares"), Some(&w.owner_coord.token), share(10)).status, 200);
    assert_eq!(
        app.post(
            &format!("/api/v1/cases/{id}/assignees"),
            Some(&w.owner_coord.token),
            json!({ "user_id": partner_officer_id })
        )
        .status,
        200
    );
    assert_eq!(
        app.post(&format!("/api/v1/cases/{id}/notes"), Some(&partner_officer), json!({ "kind": "note", "body": "x" }))
            .status,
        201
    );
    assert_eq!(
        app.request(
            "DELETE",
            &format!("/api/v1/cases/{id}/shares/{}", w.partner_org),
            Some(&w.owner_coord.token),
            None
        )
        .status,
        200
    );
    assert_eq!(app.get(&format!("/api/v1/cases/{id}"), Some(&partner_officer)).status, 404);
    assert_eq!(
        app.post(&format!("/api/v1/cases/{id}/notes"), Some(&partner_officer), json!({ "kind": "note", "body": "x" }))
            .status,
        404
    );
    // Expired: the assignment row is still there, the access is not.
    let id2 = new_case(&app, &w.owner_coord.token, case_body())["id"].as_str().unwrap().to_string();
    assert_eq!(app.post(&format!("/api/v1/cases/{id2}/shares"), Some(&w.owner_coord.token), share(2)).status, 200);
    assert_eq!(
        app.post(
            &format!("/api/v1/cases/{id2}/assignees"),
            Some(&w.owner_coord.token),
            json!({ "user_id": partner_officer_id })
        )
        .status,
        200
    );
    app.clock.advance(chrono::Duration::days(3));
    let (_, fresh) = login_as(&app, Role::Officer, &w.partner_org);
    assert_eq!(app.get(&format!("/api/v1/cases/{id2}"), Some(&fresh)).status, 404);
    // The owner's coordinator (new session, same clock) still sees the assignee listed.
    let (_, owner) = login_as(&app, Role::Coordinator, &w.owner_org);
    let c = app.get(&format!("/api/v1/cases/{id2}"), Some(&owner)).json();
    assert_eq!(c["assignees"].as_array().unwrap().len(), 1);
    // Partners do not see who else the case was shared with.
    let list = app.get("/api/v1/cases?limit=200", Some(&fresh)).json();
    assert!(!list["items"].as_array().unwrap().iter().any(|c| c["id"] == id2.as_str()), "not listed either");
});

db_test!(stale_if_match_is_refused_and_patch_changes_only_what_it_may, |app| {
    let w = cast(&app);
    let case = new_case(&app, &w.owner_coord.token, case_body());
    let id = case["id"].as_str().unwrap();
    let path = format!("/api/v1/cases/{id}");
    let etag = app.get(&path, Some(&w.owner_coord.token)).header("etag").unwrap().to_string();
    let patch = |etag: &str, body: Value| {
        app.request_with_headers("PATCH", &path, Some(&w.owner_coord.token), &[("If-Match", etag)], Some(body))
    };
    let r = patch(&etag, json!({ "severity": "critical" }));
    assert_eq!(r.status, 200, "{r:?}");
    let new_etag = r.header("etag").unwrap().to_string();
    assert_ne!(new_etag, etag);
    // A colleague still holding the old ETag does not overwrite the change.
    let r = patch(&etag, json!({ "severity": "low" }));
    assert_eq!((r.status, r.code().as_str()), (412, "precondition_failed"));
    let r = app.request_with_headers(
        "POST",
        &format!("{path}/transitions"),
        Some(&w.owner_coord.token),
        &[("If-Match", etag.as_str())],
        Some(json!({ "to": "acknowledged" })),
    );
    assert_eq!(r.status, 412);
    assert_eq!(app.get(&path, Some(&w.owner_coord.token)).json()["severity"], "critical");
    let r = app.request_with_headers(
        "PATCH",
        &path,
        Some(&w.owner_coord.token),
        &[("If-Match", "garbage")],
        Some(json!({ "severity": "low" })),
    );
    assert_eq!(r.status, 400);

    for bad in [
        json!({ "organization_id": w.partner_org }),
        json!({ "owner_organization_id": w.partner_org }),
        json!({ "status": "closed" }),
        json!({ "reference": "HVN-1999-000001" }),
        json!({ "version": 1 }),
        json!({}),
    ] {
        let r = app.patch(&path, Some(&w.owner_coord.token), bad.clone());
        assert_eq!(r.status, 400, "{bad}: {r:?}");
    }
    let after = app.get(&path, Some(&w.owner_coord.token)).json();
    assert_eq!(after["status"], "open");
    assert_eq!(after["owner_organization_id"], w.owner_org.as_str());
    assert_eq!(after["reference"], case["reference"]);
    assert_eq!(after["summary"], case["summary"]);
});

db_test!(idempotency_keys_make_retries_safe, |app| {
    let w = cast(&app);
    let headers = [("Idempotency-Key", "retry-7f3a")];
    let a = app.request_with_headers("POST", "/api/v1/cases", Some(&w.owner_coord.token), &headers, Some(case_body()));
    let b = app.request_with_headers("POST", "/api/v1/cases", Some(&w.owner_coord.token), &headers, Some(case_body()));
    assert_eq!((a.status, b.status), (201, 201), "{a:?} {b:?}");
    assert_eq!(a.json()["id"], b.json()["id"]);
    assert_eq!(app.get("/api/v1/cases", Some(&w.owner_coord.token)).json()["items"].as_array().unwrap().len(), 1);
    let mut other = case_body();
    other["severity"] = json!("low");
    let c = app.request_with_headers("POST", "/api/v1/cases", Some(&w.owner_coord.token), &headers, Some(other));
    assert_eq!((c.status, c.code().as_str()), (422, "idempotency_key_reused"));

    let id = a.json()["id"].as_str().unwrap().to_string();
    let note = json!({ "kind": "contact_log", "body": "Spoke on Signal at 10:00" });
    let nk = [("Idempotency-Key", "note-1")];
    let n1 = app.request_with_headers(
        "POST",
        &format!("/api/v1/cases/{id}/notes"),
        Some(&w.owner_coord.token),
        &nk,
        Some(note.clone()),
    );
    let n2 = app.request_with_headers(
        "POST",
        &format!("/api/v1/cases/{id}/notes"),
        Some(&w.owner_coord.token),
        &nk,
        Some(note.clone()),
    );
    assert_eq!((n1.status, n2.status), (201, 201));
    assert_eq!(n1.json()["id"], n2.json()["id"]);
    let notes = app.get(&format!("/api/v1/cases/{id}/notes"), Some(&w.owner_coord.token)).json();
    assert_eq!(notes["items"].as_array().unwrap().len(), 1);
    let bad = app.request_with_headers(
        "POST",
        "/api/v1/cases",
        Some(&w.owner_coord.token),
        &[("Idempotency-Key", "")],
        Some(case_body()),
    );
    assert_eq!(bad.status, 400);

    // Concurrent twins with one key still create one case.
    let key = [("Idempotency-Key", "twins")];
    let ids: Vec<Value> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    app.request_with_headers(
                        "POST",
                        "/api/v1/cases",
                        Some(&w.owner_coord.token),
                        &key,
                        Some(case_body()),
                    )
                })
            })
            .collect();
        hs.into_iter()
            .map(|h| h.join().unwrap())
            .map(|r| {
                assert_eq!(r.status, 201, "{r:?}");
                r.json()["id"].clone()
            })
            .collect()
    });
    assert!(ids.iter().all(|i| *i == ids[0]), "{ids:?}");
    assert_eq!(app.get("/api/v1/cases", Some(&w.owner_coord.token)).json()["items"].as_array().unwrap().len(), 2);
});

db_test!(notes_are_append_only_and_paginated, |app| {
    let w = cast(&app);
    let id = w.shared_case(&app);
    for i in 0..5 {
        let r = app.post(
            &format!("/api/v1/cases/{id}/notes"),
            Some(&w.assigned_officer.token),
            json!({ "kind": "note", "body": format!("note {i}") }),
        );
        assert_eq!(r.status, 201, "{r:?}");
    }
    let mut bodies = Vec::new();
    let mut path = format!("/api/v1/cases/{id}/notes?limit=2");
    loop {
        let page = app.get(&path, Some(&w.sharing_officer.token)).json();
        bodies.extend(page["items"].as_array().unwrap().iter().map(|n| n["body"].as_str().unwrap().to_string()));
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/cases/{id}/notes?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(bodies, (0..5).map(|i| format!("note {i}")).collect::<Vec<_>>());
    for bad in [
        json!({ "kind": "gossip", "body": "x" }),
        json!({ "kind": "note", "body": "" }),
        json!({ "kind": "note", "body": "x".repeat(20_001) }),
    ] {
        let r = app.post(&format!("/api/v1/cases/{id}/notes"), Some(&w.owner_coord.token), bad);
        assert!(r.status == 400 || r.status == 422, "{r:?}");
    }
    // No edit or delete exists for notes.
    let r = app.request("DELETE", &format!("/api/v1/cases/{id}/notes"), Some(&w.owner_coord.token), None);
    assert_eq!(r.status, 405);
});

db_test!(references_are_unique_under_concurrency, |app| {
    let w = cast(&app);
    let refs: Vec<String> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    (0..5)
                        .map(|_| {
                            new_case(&app, &w.owner_coord.token, case_body())["reference"].as_str().unwrap().to_string()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let mut sorted = refs.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 20);
    assert!(sorted[0].ends_with("000001") && sorted[19].ends_with("000020"), "{sorted:?}");
});

db_test!(a_shredded_case_is_gone, |app| {
    let w = cast(&app);
    let case = new_case(&app, &w.owner_coord.token, case_body());
    let id = case["id"].as_str().unwrap();
    app.post(
        &format!("/api/v1/cases/{id}/notes"),
        Some(&w.owner_coord.token),
        json!({ "kind": "note", "body": "secret" }),
    );
    let st = app.state();
    st.db.write_blocking(|c| haven::crypto::ops::shred(&st.crypto, c, st.clock.now(), None, id, false)).unwrap();
    let r = app.get(&format!("/api/v1/cases/{id}"), Some(&w.owner_coord.token));
    assert_eq!((r.status, r.code().as_str()), (410, "case_shredded"), "{r:?}");
    let r = app.get(&format!("/api/v1/cases/{id}/notes"), Some(&w.owner_coord.token));
    assert_eq!(r.status, 410);
    let r = app.post(
        &format!("/api/v1/cases/{id}/notes"),
        Some(&w.owner_coord.token),
        json!({ "kind": "note", "body": "more" }),
    );
    assert_eq!(r.status, 410);
});

db_test!(canary_in_summary_note_reason_and_share_override_is_never_stored_in_clear, |app| {
    let w = cast(&app);
    let canary = format!("CANARY{}", uuid::Uuid::new_v4().simple());
    let mut body = case_body();
    body["summary"] = json!(format!("summary {canary}"));
    let case = new_case(&app, &w.owner_coord.token, body);
    let id = case["id"].as_str().unwrap();
    let r = app.post(
        &format!("/api/v1/cases/{id}/notes"),
        Some(&w.owner_coord.token),
        json!({ "kind": "contact_log", "body": format!("note {canary}") }),
    );
    assert_eq!(r.status, 201);
    let ngo = org(&app, &w.admin, "Canary NGO", "ngo");
    let r = app.post(
        &format!("/api/v1/cases/{id}/shares"),
        Some(&w.owner_coord.token),
        json!({ "organization_id": ngo, "consent_reference": "ref", "expires_at": expires_in(3), "override_reason": format!("override {canary}") }),
    );
    assert_eq!(r.status, 200, "{r:?}");
    let r = transition(&app, &w.owner_coord.token, id, "closed", Some(&format!("reason {canary}")));
    assert_eq!(r.status, 200);
    // Readers get it all back...
    let c = app.get(&format!("/api/v1/cases/{id}"), Some(&w.owner_coord.token)).json();
    assert_eq!(c["summary"], format!("summary {canary}"));
    assert_eq!(c["transitions"][0]["reason"], format!("reason {canary}"));
    let notes = app.get(&format!("/api/v1/cases/{id}/notes"), Some(&w.owner_coord.token)).json();
    assert_eq!(notes["items"][0]["body"], format!("note {canary}"));
    // ...the database never holds it.
    let stored = everything_stored(&app);
    assert!(stored.contains(id), "the dump sees the case row");
    assert!(!stored.contains(&canary), "canary found in the database");
});

/// The same cast against defenders and alerts: [defender read, defender update, alert read,
/// alert triage, alert dismiss, defender list, alert list]. The defender and the (triaged)
/// alert are linked to a case that is assigned to the assigned officer and shared with the
/// sharing officer's organisation.
const OBJECT_MATRIX: &[(&str, [u16; 7])] = &[
    ("anonymous", [401, 401, 401, 401, 401, 401, 401]),
    ("admin", [403, 403, 403, 403, 403, 403, 403]),
    ("auditor", [403, 403, 403, 403, 403, 403, 403]),
    ("owner_coordinator", [200, 200, 200, 200, 200, 200, 200]),
    ("other_coordinator", [404, 404, 404, 404, 404, 200, 200]),
    ("assigned_officer", [200, 403, 200, 403, 403, 403, 403]),
    ("sharing_officer", [200, 403, 200, 403, 403, 403, 403]),
    ("unrelated_officer", [404, 403, 404, 403, 403, 403, 403]),
];

db_test!(need_to_know_matrix_for_defenders_and_alerts, |app| {
    let w = cast(&app);
    let alert_body = json!({ "kind": "surveillance", "urgency": "medium", "country": "CO", "narrative": "followed home", "consent_scope": ["embassy"] });
    for (who, expected) in OBJECT_MATRIX {
        let d = app.post(
            "/api/v1/defenders",
            Some(&w.owner_coord.token),
            json!({ "pseudonym": "Luz", "country": "CO", "profile": { "legal_name": "Luz Marina" } }),
        );
        let defender = d.json()["id"].as_str().unwrap().to_string();
        let alert = app.post("/api/v1/alerts", Some(&w.owner_coord.token), alert_body.clone()).json()["id"]
            .as_str()
            .unwrap()
            .to_string();
        let r =
            app.post(&format!("/api/v1/alerts/{alert}/triage"), Some(&w.owner_coord.token), json!({ "new_case": {} }));
        let case = r.json()["case_id"].as_str().unwrap().to_string();
        app.patch(&format!("/api/v1/cases/{case}"), Some(&w.owner_coord.token), json!({ "severity": "high" }));
        // Link the defender to the case through a second case created for her, and share
        // and assign the alert's case.
        let linked = new_case(
            &app,
            &w.owner_coord.token,
            json!({ "severity": "high", "country": "CO", "consent_scope": ["embassy"], "defender_id": defender }),
        );
        for c in [case.as_str(), linked["id"].as_str().unwrap()] {
            app.post(
                &format!("/api/v1/cases/{c}/assignees"),
                Some(&w.owner_coord.token),
                json!({ "user_id": w.assigned_officer.id }),
            );
            let r = app.post(
                &format!("/api/v1/cases/{c}/shares"),
                Some(&w.owner_coord.token),
                json!({ "organization_id": w.partner_org, "consent_reference": "c", "expires_at": expires_in(5) }),
            );
            assert_eq!(r.status, 200, "{r:?}");
        }
        let fresh = || {
            app.post("/api/v1/alerts", Some(&w.owner_coord.token), alert_body.clone()).json()["id"]
                .as_str()
                .unwrap()
                .to_string()
        };
        let (to_triage, to_dismiss) = (fresh(), fresh());
        let t = w.token(who);
        let t = t.as_deref();
        let got = [
            app.get(&format!("/api/v1/defenders/{defender}"), t).status,
            app.patch(&format!("/api/v1/defenders/{defender}"), t, json!({ "pseudonym": "Luz M." })).status,
            app.get(&format!("/api/v1/alerts/{alert}"), t).status,
            app.post(&format!("/api/v1/alerts/{to_triage}/triage"), t, json!({ "new_case": {} })).status,
            app.post(&format!("/api/v1/alerts/{to_dismiss}/dismiss"), t, json!({ "reason": "duplicate" })).status,
            app.get("/api/v1/defenders", t).status,
            app.get("/api/v1/alerts", t).status,
        ];
        assert_eq!(&got[..], &expected[..], "caller {who}");
    }
    // Lists stay within the caller's organisation.
    let other = app.get("/api/v1/defenders", Some(&w.other_coord.token)).json();
    assert_eq!(other["items"].as_array().unwrap().len(), 0);
    let other = app.get("/api/v1/alerts", Some(&w.other_coord.token)).json();
    assert_eq!(other["items"].as_array().unwrap().len(), 0);
});

/// Every route of the protection records, per caller, against a case owned by the owner
/// organisation, assigned to the assigned officer and shared with the sharing officer's
/// organisation. Columns, in order: assessment create, list, read; plan create, list, read,
/// update; measure create, update; grant request, list, read, decide; disbursement create,
/// list; relocation create, list, read, update; visa create, list, read, update; care
/// create, list, read, update; case summary.
const RECORDS_MATRIX: &[(&str, [u16; 28])] = &[
    ("anonymous", [401; 28]),
    ("admin", [403; 28]),
    ("auditor", [403; 28]),
    (
        "owner_coordinator",
        [
            201, 200, 200, 201, 200, 200, 200, 201, 200, 201, 200, 200, 200, 201, 200, 201, 200, 200, 200, 201, 200,
            200, 200, 201, 200, 200, 200, 200,
        ],
    ),
    ("other_coordinator", [404; 28]),
    (
        "assigned_officer",
        [
            201, 200, 200, 201, 200, 200, 200, 201, 200, 201, 200, 200, 403, 403, 200, 201, 200, 200, 200, 201, 200,
            200, 200, 201, 200, 200, 200, 200,
        ],
    ),
    (
        "sharing_officer",
        [
            403, 200, 200, 403, 200, 200, 403, 403, 403, 403, 200, 200, 403, 403, 200, 403, 200, 200, 403, 403, 200,
            200, 403, 403, 403, 403, 403, 200,
        ],
    ),
    (
        "unrelated_officer",
        [
            404, 404, 404, 404, 404, 404, 404, 404, 404, 404, 404, 404, 403, 403, 404, 404, 404, 404, 404, 404, 404,
            404, 404, 404, 404, 404, 404, 404,
        ],
    ),
];

db_test!(need_to_know_matrix_for_protection_records, |app| {
    let w = cast(&app);
    let oc = Some(w.owner_coord.token.as_str());
    let id_of = |r: crate::harness::Resp| -> String {
        assert!(r.status == 200 || r.status == 201, "setup: {r:?}");
        r.json()["id"].as_str().unwrap().to_string()
    };
    let assessment = json!({
        "threats": [{ "facts": "f", "source_actor": "unknown", "public": false, "likelihood": 2, "impact": 2 }],
        "reassess_by": expires_in(30)
    });
    let grant = json!({ "category": "legal", "currency": "EUR", "amount_requested": 1000, "purpose": "p" });
    let relocation = json!({
        "kind": "in_country", "destination_country": "CO", "beneficiaries": ["her"],
        "starts_on": expires_in(10), "ends_on": expires_in(40)
    });
    let care = json!({ "modality": "individual", "sessions_planned": 2, "consent_recorded": true, "provider": "p" });
    for (who, expected) in RECORDS_MATRIX {
        let case = w.shared_case(&app);
        let base = format!("/api/v1/cases/{case}");
        let a = id_of(app.post(&format!("{base}/assessments"), oc, assessment.clone()));
        let plan = id_of(app.post(&format!("{base}/plans"), oc, json!({ "review_by": expires_in(30) })));
        let m = id_of(app.post(
            &format!("/api/v1/plans/{plan}/measures"),
            oc,
            json!({ "category": "legal", "kind": "response", "description": "d" }),
        ));
        let g_req = id_of(app.post(&format!("{base}/grants"), oc, grant.clone()));
        let g_ok = id_of(app.post(&format!("{base}/grants"), oc, grant.clone()));
        assert_eq!(app.patch(&format!("/api/v1/grants/{g_ok}"), oc, json!({ "status": "approved" })).status, 200);
        let r = id_of(app.post(&format!("{base}/relocations"), oc, relocation.clone()));
        let v = id_of(app.post(
            &format!("/api/v1/relocations/{r}/visas"),
            oc,
            json!({ "country": "CO", "visa_type": "t", "applicant": "her" }),
        ));
        let cr = id_of(app.post(&format!("{base}/psychosocial"), oc, care.clone()));
        let t = w.token(who);
        let t = t.as_deref();
        let got = [
            app.post(&format!("{base}/assessments"), t, assessment.clone()).status,
            app.get(&format!("{base}/assessments"), t).status,
            app.get(&format!("/api/v1/assessments/{a}"), t).status,
            app.post(&format!("{base}/plans"), t, json!({ "review_by": expires_in(30) })).status,
            app.get(&format!("{base}/plans"), t).status,
            app.get(&format!("/api/v1/plans/{plan}"), t).status,
            app.patch(&format!("/api/v1/plans/{plan}"), t, json!({ "summary": "s" })).status,
            app.post(
                &format!("/api/v1/plans/{plan}/measures"),
                t,
                json!({ "category": "legal", "kind": "response", "description": "d" }),
            )
            .status,
            app.patch(&format!("/api/v1/measures/{m}"), t, json!({ "description": "d2" })).status,
            app.post(&format!("{base}/grants"), t, grant.clone()).status,
            app.get(&format!("{base}/grants"), t).status,
            app.get(&format!("/api/v1/grants/{g_req}"), t).status,
            app.patch(&format!("/api/v1/grants/{g_req}"), t, json!({ "status": "rejected", "reason": "r" })).status,
            app.post(
                &format!("/api/v1/grants/{g_ok}/disbursements"),
                t,
                json!({ "amount": 1, "paid_on": expires_in(0), "method": "cash" }),
            )
            .status,
            app.get(&format!("/api/v1/grants/{g_ok}/disbursements"), t).status,
            app.post(&format!("{base}/relocations"), t, relocation.clone()).status,
            app.get(&format!("{base}/relocations"), t).status,
            app.get(&format!("/api/v1/relocations/{r}"), t).status,
            app.patch(&format!("/api/v1/relocations/{r}"), t, json!({ "starts_on": expires_in(11) })).status,
            app.post(
                &format!("/api/v1/relocations/{r}/visas"),
                t,
                json!({ "country": "CO", "visa_type": "t", "applicant": "her" }),
            )
            .status,
            app.get(&format!("/api/v1/relocations/{r}/visas"), t).status,
            app.get(&format!("/api/v1/visas/{v}"), t).status,
            app.patch(&format!("/api/v1/visas/{v}"), t, json!({ "status": "submitted" })).status,
            app.post(&format!("{base}/psychosocial"), t, care.clone()).status,
            app.get(&format!("{base}/psychosocial"), t).status,
            app.get(&format!("/api/v1/psychosocial/{cr}"), t).status,
            app.patch(&format!("/api/v1/psychosocial/{cr}"), t, json!({ "sessions_held": 1 })).status,
            app.get(&format!("{base}/summary"), t).status,
        ];
        assert_eq!(&got[..], &expected[..], "caller {who}");
    }
});

/// Every page of a list, followed through `next_cursor`; the ids in order.
fn list_all(app: &TestApp, token: &str, query: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut path = format!("/api/v1/cases?limit=2{query}");
    loop {
        let r = app.get(&path, Some(token));
        assert_eq!(r.status, 200, "{r:?}");
        let page = r.json();
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2, "a page holds at most `limit` cases");
        ids.extend(items.iter().map(|c| c["id"].as_str().unwrap().to_string()));
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/cases?limit=2{query}&cursor={c}"),
            None => return ids,
        }
    }
}

// A coordinator's list is her organisation's cases and the cases shared with it, merged
// newest first across pages (two index walks merged in Rust): none missing, none twice, the
// filters applied to both, and a share's end taking its case off the list.
db_test!(a_coordinators_list_merges_her_cases_and_shared_ones_across_pages, |app| {
    let w = cast(&app);
    let (_, partner_coord) = login_as(&app, Role::Coordinator, &w.partner_org);
    let severity = |i: usize| if i.is_multiple_of(2) { "high" } else { "critical" };
    let mut expected_all = Vec::new();
    let mut expected_high = Vec::new();
    let mut revoke = None;
    for i in 0..7 {
        // Interleaved: the partner's own cases and the owner's cases, some shared with it.
        let body = |s: &str| json!({ "severity": s, "country": "CO", "consent_scope": ["embassy"] });
        let own = new_case(&app, &partner_coord, body(severity(i)))["id"].as_str().unwrap().to_string();
        let theirs = new_case(&app, &w.owner_coord.token, body(severity(i)))["id"].as_str().unwrap().to_string();
        expected_all.push(own.clone());
        if severity(i) == "high" {
            expected_high.push(own);
        }
        if i % 3 != 2 {
            let r = app.post(
                &format!("/api/v1/cases/{theirs}/shares"),
                Some(&w.owner_coord.token),
                json!({ "organization_id": w.partner_org, "consent_reference": "signed", "expires_at": expires_in(5) }),
            );
            assert_eq!(r.status, 200, "{r:?}");
            expected_all.push(theirs.clone());
            if severity(i) == "high" {
                expected_high.push(theirs.clone());
            }
            revoke = Some(theirs);
        }
    }
    let newest_first = |mut v: Vec<String>| {
        v.sort();
        v.reverse();
        v
    };
    let expected_all = newest_first(expected_all);
    assert_eq!(expected_all.len(), 7 + 5);
    assert_eq!(list_all(&app, &partner_coord, ""), expected_all);
    assert_eq!(list_all(&app, &partner_coord, "&severity=high"), newest_first(expected_high));
    // The owner's coordinator sees her 7 and nothing of the partner's.
    assert_eq!(list_all(&app, &w.owner_coord.token, "").len(), 7);

    let revoked = revoke.unwrap();
    let r = app.request(
        "DELETE",
        &format!("/api/v1/cases/{revoked}/shares/{}", w.partner_org),
        Some(&w.owner_coord.token),
        None,
    );
    assert_eq!(r.status, 200, "{r:?}");
    let after: Vec<String> = expected_all.iter().filter(|id| **id != revoked).cloned().collect();
    assert_eq!(list_all(&app, &partner_coord, ""), after);
    // Expired shares: only the partner's own cases remain.
    app.clock.advance(chrono::Duration::days(6));
    let (_, partner_coord) = login_as(&app, Role::Coordinator, &w.partner_org);
    assert_eq!(list_all(&app, &partner_coord, "").len(), 7);
});

db_test!(shares_last_at_most_the_policy_and_renewal_needs_a_new_consent, |app| {
    let w = cast(&app);
    let id = new_case(&app, &w.owner_coord.token, case_body())["id"].as_str().unwrap().to_string();
    let share = |token: &str, consent: &str, expires_at: String| {
        app.post(
            &format!("/api/v1/cases/{id}/shares"),
            Some(token),
            json!({ "organization_id": w.partner_org, "consent_reference": consent, "expires_at": expires_at }),
        )
    };
    let days = |n: i64| (haven::clock::Clock::now(&app.clock) + chrono::Duration::days(n)).to_rfc3339();
    for forever in ["9999-12-31T00:00:00Z".to_string(), days(366)] {
        let r = share(&w.owner_coord.token, "signed 2026-11-20", forever.clone());
        assert_eq!((r.status, r.code().as_str()), (422, "share_too_long"), "{forever}: {r:?}");
        assert!(r.json()["message"].as_str().unwrap().contains("365 days"), "{r:?}");
    }
    assert_eq!(app.get(&format!("/api/v1/cases/{id}"), Some(&w.sharing_officer.token)).status, 404, "nothing shared");
    assert_eq!(share(&w.owner_coord.token, "signed 2026-11-20", days(300)).status, 200);
    assert_eq!(
        share(&w.owner_coord.token, "signed 2026-11-20", days(200)).status,
        200,
        "shortened on the same consent"
    );

    // 200 days on: the same consent carries the share to day 365 of that consent, no further.
    app.clock.advance(chrono::Duration::days(200));
    let (_, coord) = login_as(&app, Role::Coordinator, &w.owner_org);
    assert_eq!(share(&coord, "signed 2026-11-20", days(150)).status, 200);
    let r = share(&coord, "signed 2026-11-20", days(200));
    assert_eq!((r.status, r.code().as_str()), (422, "renewal_needs_consent"), "{r:?}");
    let r = share(&coord, "renewed by phone 2027-06-09", days(200));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["shares"][0]["consent_reference"], "renewed by phone 2027-06-09");
    let audit = app.get("/api/v1/audit?limit=200", Some(&app.admin_token())).json();
    let shares: Vec<&Value> =
        audit["items"].as_array().unwrap().iter().filter(|e| e["action"] == "case.share").collect();
    assert_eq!(shares.len(), 4, "every accepted share is audited: {shares:?}");
    assert!(shares.iter().all(|e| e["detail"]["expires_at"].is_string()), "{shares:?}");
});

db_test!(a_partner_reads_the_defender_profile_only_when_the_share_includes_it, |app| {
    let w = cast(&app);
    let (partner_assignee_id, partner_assignee) = login_as(&app, Role::Officer, &w.partner_org);
    let d = app.post(
        "/api/v1/defenders",
        Some(&w.owner_coord.token),
        json!({ "pseudonym": "Luz", "country": "CO", "profile": { "legal_name": "Luz Marina Pérez", "location_detail": "Barrio San José" } }),
    );
    assert_eq!(d.status, 201, "{d:?}");
    let defender = d.json()["id"].as_str().unwrap().to_string();
    let mut body = case_body();
    body["defender_id"] = json!(defender);
    let id = new_case(&app, &w.owner_coord.token, body)["id"].as_str().unwrap().to_string();
    let share = |consent: &str, extra: Value| {
        let mut b =
            json!({ "organization_id": w.partner_org, "consent_reference": consent, "expires_at": expires_in(30) });
        b.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        let r = app.post(&format!("/api/v1/cases/{id}/shares"), Some(&w.owner_coord.token), b);
        assert_eq!(r.status, 200, "{r:?}");
        r.json()
    };
    let case = share("signed 2026-11-20", json!({}));
    assert_eq!(case["shares"][0]["includes_profile"], false);
    for user in [&w.assigned_officer.id, &partner_assignee_id] {
        let r =
            app.post(&format!("/api/v1/cases/{id}/assignees"), Some(&w.owner_coord.token), json!({ "user_id": user }));
        assert_eq!(r.status, 200, "{r:?}");
    }
    let path = format!("/api/v1/defenders/{defender}");
    let profile_of = |t: &str| {
        let r = app.get(&path, Some(t));
        assert_eq!(r.status, 200, "{r:?}");
        r.json()["profile"].clone()
    };
    // Her own organisation's coordinator and assignee, and a partner assignee, read it all.
    for t in [&w.owner_coord.token, &w.assigned_officer.token, &partner_assignee] {
        assert_eq!(profile_of(t)["legal_name"], "Luz Marina Pérez");
    }
    // A partner officer who is not assigned sees the record, not who she is or where.
    let r = app.get(&path, Some(&w.sharing_officer.token));
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["pseudonym"], "Luz");
    assert!(r.json()["profile"].is_null(), "{r:?}");
    assert!(!r.text.contains("Luz Marina") && !r.text.contains("San José"), "{}", r.text);
    // Once the share includes the profile, she may.
    let case = share("signed 2026-11-20", json!({ "include_profile": true }));
    assert_eq!(case["shares"][0]["includes_profile"], true);
    assert_eq!(profile_of(&w.sharing_officer.token)["location_detail"], "Barrio San José");
    let audit = app.get("/api/v1/audit?limit=200", Some(&w.admin)).json();
    assert!(
        audit["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "case.share" && e["detail"]["includes_profile"] == true),
        "the profile scope is audited"
    );
    // Narrowed again: gone on the next request.
    share("signed 2026-11-20", json!({ "include_profile": false }));
    assert!(profile_of(&w.sharing_officer.token).is_null());
});

db_test!(views_name_the_people_they_mention_and_alerts_are_found_by_their_short_id, |app| {
    let w = cast(&app);
    for (p, name) in
        [(&w.owner_coord, "Sofia Herrera"), (&w.second_coord, "Nadia Haddad"), (&w.assigned_officer, "Amina Diallo")]
    {
        app.sql(&format!("UPDATE users SET name = '{name}' WHERE id = '{}'", p.id));
    }
    let (t, t2) = (Some(w.owner_coord.token.as_str()), Some(w.second_coord.token.as_str()));
    let case = w.shared_case(&app);
    let base = format!("/api/v1/cases/{case}");
    assert_eq!(app.post(&format!("{base}/transitions"), t, json!({ "to": "acknowledged" })).status, 200);
    let c = app.get(&base, t).json();
    assert_eq!(c["created_by_name"], "Sofia Herrera");
    assert_eq!(c["assigned"], json!([{ "id": w.assigned_officer.id, "name": "Amina Diallo" }]));
    assert_eq!(c["transitions"][0]["actor_name"], "Sofia Herrera");
    // The partner's officer reads the case and so its people's names.
    let partner = app.get(&base, Some(w.sharing_officer.token.as_str()));
    assert_eq!(partner.json()["assigned"][0]["name"], "Amina Diallo");

    let note = app.post(&format!("{base}/notes"), t, json!({ "kind": "note", "body": "b" }));
    assert_eq!(note.json()["author_name"], "Sofia Herrera");
    assert_eq!(app.get(&format!("{base}/notes"), t).json()["items"][0]["author_name"], "Sofia Herrera");
    let assessment = json!({
        "threats": [{ "facts": "f", "source_actor": "unknown", "public": false, "likelihood": 2, "impact": 2 }],
        "reassess_by": expires_in(30)
    });
    let a = app.post(&format!("{base}/assessments"), Some(w.assigned_officer.token.as_str()), assessment);
    assert_eq!(a.json()["assessor_name"], "Amina Diallo");
    assert_eq!(app.get(&format!("{base}/assessments"), t).json()["items"][0]["assessor_name"], "Amina Diallo");
    let plan = app.post(&format!("{base}/plans"), t, json!({ "review_by": expires_in(30) }));
    assert_eq!(plan.json()["author_name"], "Sofia Herrera");
    let plan_id = plan.json()["id"].as_str().unwrap().to_string();
    let measure =
        json!({ "category": "legal", "kind": "response", "description": "d", "owner_user_id": w.assigned_officer.id });
    let m = app.post(&format!("/api/v1/plans/{plan_id}/measures"), t, measure);
    assert_eq!(m.status, 201, "{m:?}");
    assert_eq!(m.json()["owner_name"], "Amina Diallo");
    let approved = app.patch(&format!("/api/v1/plans/{plan_id}"), t2, json!({ "status": "approved" }));
    assert_eq!(
        (approved.json()["author_name"].clone(), approved.json()["approved_by_name"].clone()),
        (json!("Sofia Herrera"), json!("Nadia Haddad"))
    );
    assert_eq!(approved.json()["measures"][0]["owner_name"], "Amina Diallo");
    assert_eq!(app.get(&format!("{base}/plans"), t).json()["items"][0]["approved_by_name"], "Nadia Haddad");
    let relocation = json!({
        "kind": "in_country", "destination_country": "CO", "beneficiaries": ["her"],
        "starts_on": expires_in(10), "ends_on": expires_in(40)
    });
    let r = app.post(&format!("{base}/relocations"), t, relocation);
    assert_eq!(r.json()["requested_by_name"], "Sofia Herrera");
    assert!(r.json()["approved_by_name"].is_null());
    assert_eq!(app.get(&format!("{base}/relocations"), t).json()["items"][0]["requested_by_name"], "Sofia Herrera");
    let grant = json!({ "category": "legal", "currency": "EUR", "amount_requested": 1000, "purpose": "p" });
    let g = app.post(&format!("{base}/grants"), Some(w.assigned_officer.token.as_str()), grant);
    assert_eq!(g.status, 201, "{g:?}");
    let gid = g.json()["id"].as_str().unwrap().to_string();
    let decided = app.patch(&format!("/api/v1/grants/{gid}"), t, json!({ "status": "approved" }));
    assert_eq!(decided.status, 200, "{decided:?}");
    assert_eq!(
        (decided.json()["requested_by_name"].clone(), decided.json()["decided_by_name"].clone()),
        (json!("Amina Diallo"), json!("Sofia Herrera"))
    );
    assert_eq!(app.get(&format!("{base}/grants"), t).json()["items"][0]["decided_by_name"], "Sofia Herrera");

    // Alerts by the eight characters a mail names them by: only those she may read.
    let body =
        json!({ "kind": "surveillance", "urgency": "high", "country": "CO", "narrative": "n", "consent_scope": [] });
    let alert = app.post("/api/v1/alerts", t, body).json()["id"].as_str().unwrap().to_string();
    let short = alert[alert.len() - 8..].to_string();
    let found = app.get(&format!("/api/v1/alerts?short_id={}", short.to_uppercase()), t);
    assert_eq!(found.status, 200, "{found:?}");
    assert_eq!(found.json()["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        (found.json()["items"][0]["id"].clone(), found.json()["items"][0]["short_id"].clone()),
        (json!(alert), json!(short))
    );
    let theirs = app.get(&format!("/api/v1/alerts?short_id={short}"), Some(w.other_coord.token.as_str()));
    assert_eq!((theirs.status, theirs.json()["items"].as_array().unwrap().len()), (200, 0));
    for bad in ["5c10177", "zzzzzzzz", &format!("{short}&status=received")] {
        let r = app.get(&format!("/api/v1/alerts?short_id={bad}"), t);
        assert_eq!((r.status, r.code().as_str()), (400, "invalid_query"), "{bad}: {r:?}");
    }
    // And cases by reference, as the API already answered.
    let reference = c["reference"].as_str().unwrap().to_string();
    let by_ref = app.get(&format!("/api/v1/cases?reference={reference}"), t).json();
    assert_eq!(by_ref["items"][0]["id"], json!(case));
});

db_test!(the_lists_next_deadline_is_the_case_summarys_first, |app| {
    let w = cast(&app);
    let t = Some(w.owner_coord.token.as_str());
    let id_of = |r: Resp| -> String {
        assert!(r.status == 200 || r.status == 201, "setup: {r:?}");
        r.json()["id"].as_str().unwrap().to_string()
    };
    let threat = |days: i64| {
        json!({
            "threats": [{ "facts": "f", "source_actor": "unknown", "public": false, "likelihood": 2, "impact": 2 }],
            "reassess_by": expires_in(days)
        })
    };
    let mut cases = Vec::new();
    // The latest assessment counts, not the earliest date: v1 is due first, v2 replaces it.
    let a = w.shared_case(&app);
    id_of(app.post(&format!("/api/v1/cases/{a}/assessments"), t, threat(5)));
    id_of(app.post(&format!("/api/v1/cases/{a}/assessments"), t, threat(20)));
    id_of(app.post(&format!("/api/v1/cases/{a}/plans"), t, json!({ "review_by": expires_in(25) })));
    cases.push(a);
    // An open measure due before its plan's review.
    let b = w.shared_case(&app);
    let plan = id_of(app.post(&format!("/api/v1/cases/{b}/plans"), t, json!({ "review_by": expires_in(40) })));
    let m = json!({ "category": "legal", "kind": "response", "description": "d", "due_at": expires_in(6) });
    id_of(app.post(&format!("/api/v1/plans/{plan}/measures"), t, m));
    cases.push(b);
    // An approved relocation's start; a requested one does not count.
    let c = w.shared_case(&app);
    let relocation = |days: i64| {
        json!({ "kind": "in_country", "destination_country": "CO", "beneficiaries": ["her"],
                "starts_on": expires_in(days), "ends_on": expires_in(days + 30) })
    };
    let r = id_of(app.post(&format!("/api/v1/cases/{c}/relocations"), t, relocation(4)));
    assert_eq!(app.patch(&format!("/api/v1/relocations/{r}"), t, json!({ "status": "approved" })).status, 200);
    id_of(app.post(&format!("/api/v1/cases/{c}/plans"), t, json!({ "review_by": expires_in(9) })));
    cases.push(c);
    let d = w.shared_case(&app);
    id_of(app.post(&format!("/api/v1/cases/{d}/relocations"), t, relocation(2)));
    cases.push(d);
    // Overdue: a plan whose review day has passed.
    let e = w.shared_case(&app);
    id_of(app.post(&format!("/api/v1/cases/{e}/plans"), t, json!({ "review_by": expires_in(1) })));
    cases.push(e);
    app.clock.advance(chrono::Duration::days(3));

    let st = app.state();
    let now = haven::clock::naive(st.clock.now());
    let mut conn = st.db.get().expect("connection");
    let listed = haven::domain::summary::next_deadlines(&mut conn, &cases, now).expect("next deadlines");
    let mut kinds = Vec::new();
    for id in &cases {
        let case = haven::db::models::Case::find(&mut conn, id).expect("find").expect("case");
        let full = haven::domain::summary::summarize(&mut conn, &case, now).expect("summary");
        let first = full.next_deadlines.first().map(|x| (x.kind, x.due_at, x.overdue));
        let quick = listed.get(id).map(|x| (x.kind, x.due_at, x.overdue));
        assert_eq!(quick, first, "case {id}: the list and the summary disagree");
        kinds.push(quick.map(|q| (q.0.as_str(), q.2)));
    }
    assert_eq!(
        kinds,
        vec![
            Some(("reassessment", false)),
            Some(("measure_due", false)),
            Some(("relocation_start", false)),
            None,
            Some(("plan_review", true)),
        ]
    );
});
