//! Organisations and users through the admin API.

use haven::domain::Role;
use serde_json::json;

use crate::db_test;
use crate::harness::token_of;

db_test!(organizations_are_validated_unique_and_paginated, |app| {
    let t = app.admin_token();
    let r = app.post(
        "/api/v1/organizations",
        Some(&t),
        json!({ "name": "Embassy of Norway, Bogotá", "kind": "embassy", "country": "CO" }),
    );
    assert_eq!(r.status, 201, "{r:?}");
    let org = r.json();
    assert_eq!(org["kind"], "embassy");
    assert_eq!(org["country"], "CO");

    let r = app.post(
        "/api/v1/organizations",
        Some(&t),
        json!({ "name": "Embassy of Norway, Bogotá", "kind": "embassy", "country": "CO" }),
    );
    assert_eq!(r.status, 409);
    assert_eq!(r.code(), "organization_exists");
    let r = app.post("/api/v1/organizations", Some(&t), json!({ "name": "X", "kind": "embassy", "country": "XX" }));
    assert_eq!(r.status, 422);
    assert_eq!(r.code(), "invalid_country");
    let r = app.post("/api/v1/organizations", Some(&t), json!({ "name": "X", "kind": "spy_agency", "country": "CO" }));
    assert_eq!(r.status, 400);
    let r = app.post("/api/v1/organizations", Some(&t), json!({ "name": "  ", "kind": "ngo", "country": "CO" }));
    assert_eq!(r.status, 422);
    let r = app.post(
        "/api/v1/organizations",
        Some(&t),
        json!({ "name": "Y", "kind": "ngo", "country": "CO", "id": "chosen" }),
    );
    assert_eq!(r.status, 400, "unknown field");

    for (i, kind) in ["un_agency", "ngo", "other", "ngo"].iter().enumerate() {
        let r = app.post(
            "/api/v1/organizations",
            Some(&t),
            json!({ "name": format!("Org {i}"), "kind": kind, "country": "KE" }),
        );
        assert_eq!(r.status, 201);
    }
    // 6 organisations in all (bootstrap + 5); walk them two at a time.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/organizations?limit=2&cursor={c}"),
            None => "/api/v1/organizations?limit=2".to_string(),
        };
        let page = app.get(&path, Some(&t)).json();
        for o in page["items"].as_array().unwrap() {
            seen.push(o["id"].as_str().unwrap().to_string());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 6);
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, seen, "stable, unique order");
    assert_eq!(app.get("/api/v1/organizations?limit=0", Some(&t)).status, 400);
    assert_eq!(app.get("/api/v1/organizations?limit=500", Some(&t)).status, 400);
    assert_eq!(app.get("/api/v1/organizations?cursor=%27%20or%201=1", Some(&t)).status, 400);
    assert_eq!(app.get("/api/v1/organizations?colour=red", Some(&t)).status, 400);
});

db_test!(users_are_validated_and_email_is_unique_case_insensitively, |app| {
    let t = app.admin_token();
    let org = app.admin_org();
    let ok = json!({ "email": "Lina@Example.org", "name": "Lina", "role": "coordinator", "organization_id": org });
    assert_eq!(app.post("/api/v1/users", Some(&t), ok.clone()).status, 201);
    let dup = json!({ "email": "lina@example.ORG", "name": "Lina 2", "role": "officer", "organization_id": org });
    let r = app.post("/api/v1/users", Some(&t), dup);
    assert_eq!(r.status, 409);
    assert_eq!(r.code(), "email_taken");
    let r = app.post(
        "/api/v1/users",
        Some(&t),
        json!({ "email": "not-an-email", "name": "X", "role": "officer", "organization_id": org }),
    );
    assert_eq!(r.status, 422);
    let r = app.post(
        "/api/v1/users",
        Some(&t),
        json!({ "email": "a@b.org", "name": "X", "role": "superuser", "organization_id": org }),
    );
    assert_eq!(r.status, 400);
    let r = app.post(
        "/api/v1/users",
        Some(&t),
        json!({ "email": "a@b.org", "name": "X", "role": "officer", "organization_id": "nope" }),
    );
    assert_eq!(r.status, 422);
    assert_eq!(r.code(), "unknown_organization");
    let r = app.post(
        "/api/v1/users",
        Some(&t),
        json!({ "email": "a@b.org", "name": "X", "role": "officer", "organization_id": org, "password_hash": "x" }),
    );
    assert_eq!(r.status, 400, "mass assignment refused");

    let list = app.get(&format!("/api/v1/users?organization_id={org}"), Some(&t)).json();
    let emails: Vec<_> =
        list["items"].as_array().unwrap().iter().map(|u| u["email"].as_str().unwrap().to_string()).collect();
    assert!(emails.contains(&"Lina@Example.org".to_string()));
    assert!(list["items"][0].get("password_hash").is_none());
});

db_test!(patch_changes_only_role_and_active, |app| {
    let t = app.admin_token();
    let org = app.admin_org();
    let (id, email, _) = app.user(Role::Officer, &org);
    let path = format!("/api/v1/users/{id}");
    for body in [
        json!({ "email": "evil@x.org" }),
        json!({ "organization_id": org }),
        json!({ "role": "admin", "password_hash": "x" }),
        json!({}),
        json!({ "role": "root" }),
        json!({ "active": "no" }),
    ] {
        let r = app.patch(&path, Some(&t), body.clone());
        assert_eq!(r.status, 400, "{body}: {r:?}");
    }
    let list = app.get("/api/v1/users?limit=200", Some(&t)).json();
    let me = list["items"].as_array().unwrap().iter().find(|u| u["id"] == id.as_str()).unwrap().clone();
    assert_eq!(me["email"], email.as_str());
    assert_eq!(me["role"], "officer", "nothing changed");
    let r = app.patch(
        &format!("/api/v1/users/{}", "01a20000-0000-7000-8000-00000000dead"),
        Some(&t),
        json!({ "active": false }),
    );
    assert_eq!(r.status, 404);
    assert_eq!(r.code(), "user_not_found");
});

db_test!(the_last_admin_cannot_be_removed, |app| {
    let t = app.admin_token();
    let me = app.get("/api/v1/me", Some(&t)).json();
    let path = format!("/api/v1/users/{}", me["id"].as_str().unwrap());
    let r = app.patch(&path, Some(&t), json!({ "active": false }));
    assert_eq!(r.status, 409);
    assert_eq!(r.code(), "last_admin");
    let r = app.patch(&path, Some(&t), json!({ "role": "officer" }));
    assert_eq!(r.status, 409);
    // With a second admin it is allowed.
    let (_, email2, pw2) = app.user(Role::Admin, &app.admin_org());
    let r = app.patch(&path, Some(&t), json!({ "role": "coordinator" }));
    assert_eq!(r.status, 200, "{r:?}");
    let t2 = token_of(&app.login(&email2, &pw2));
    assert_eq!(app.get("/api/v1/users", Some(&t2)).status, 200);
});

db_test!(an_admin_resets_a_lost_password_and_her_sessions_end, |app| {
    let admin = app.admin_token();
    let org = app.admin_org();
    let (id, email, pw) = app.user(Role::Officer, &org);
    let officer = token_of(&app.login(&email, &pw));
    assert_eq!(app.get("/api/v1/me", Some(&officer)).status, 200);
    let path = format!("/api/v1/users/{id}/reset-password");
    // Only admins, and only accounts that exist.
    assert_eq!(app.post(&path, Some(&officer), json!(null)).status, 403);
    let r = app.post("/api/v1/users/01a20000-0000-7000-8000-00000000dead/reset-password", Some(&admin), json!(null));
    assert_eq!((r.status, r.code().as_str()), (404, "user_not_found"));
    assert_eq!(app.post("/api/v1/users/nope/reset-password", Some(&admin), json!(null)).status, 404);

    let r = app.post(&path, Some(&admin), json!(null));
    assert_eq!(r.status, 200, "{r:?}");
    let otp = r.json()["one_time_password"].as_str().expect("one-time password").to_string();
    assert!(otp.len() >= 12);
    assert_eq!(app.get("/api/v1/me", Some(&officer)).status, 401, "her sessions ended");
    let old = app.post("/api/v1/auth/login", None, json!({ "email": email, "password": pw }));
    assert_eq!(old.status, 401, "the old password no longer works");
    let fresh = token_of(&app.login(&email, &otp));
    let me = app.get("/api/v1/me", Some(&fresh)).json();
    assert_eq!(me["must_change_password"], true);
    let audit = app.get("/api/v1/audit?limit=200", Some(&admin)).json();
    let reset = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "user.reset_password" && e["subject_id"] == id.as_str())
        .cloned()
        .expect("the reset is audited");
    assert_eq!(reset["detail"]["sessions_ended"], 1, "{reset}");
    assert!(!audit.to_string().contains(&otp), "never the password");
});
