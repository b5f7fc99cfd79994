//! Walks the route table: no protected route may answer without a valid token.

use haven::authz::Action;
use serde_json::json;

use crate::db_test;
use crate::harness::token_of;

/// A concrete path for a route pattern: every `{param}` becomes a syntactically valid id.
pub fn concrete(path: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    for ch in path.chars() {
        match ch {
            '{' => {
                in_param = true;
                out.push_str("01a20000-0000-7000-8000-000000000000");
            }
            '}' => in_param = false,
            c if !in_param => out.push(c),
            _ => {}
        }
    }
    out
}

db_test!(every_protected_route_requires_a_token, |app| {
    let routes = haven::api::table();
    let protected: Vec<_> = routes.iter().filter(|r| r.action != Action::Public).collect();
    assert!(protected.len() >= 9, "route table looks truncated");
    for r in protected {
        let path = concrete(r.path);
        let res = app.request(r.method.as_str(), &path, None, Some(&json!({})));
        assert_eq!(res.status, 401, "{} {} without a token: {res:?}", r.method, r.path);
        assert_eq!(res.header("www-authenticate"), Some("Bearer"));
        let res = app.request(r.method.as_str(), &path, Some("not-a-jwt"), Some(&json!({})));
        assert_eq!(res.status, 401, "{} {} with garbage token: {res:?}", r.method, r.path);
    }
});

db_test!(every_protected_route_is_refused_to_roles_the_policy_excludes, |app| {
    use haven::domain::Role;
    let org = app.admin_org();
    let policy = haven::authz::AccessPolicy::load(None).unwrap();
    for role in Role::ALL {
        let (_, email, pw) = app.user(role, &org);
        let token = token_of(&app.login(&email, &pw));
        for r in haven::api::table().iter().filter(|r| r.action != Action::Public && r.action != Action::AuthLogout) {
            if policy.permits(role, r.action) {
                continue;
            }
            let res = app.request(r.method.as_str(), &concrete(r.path), Some(&token), Some(&json!({})));
            assert_eq!(res.status, 403, "{} {} as {}: {res:?}", r.method, r.path, role.as_str());
            assert_eq!(res.code(), "forbidden");
        }
    }
});

#[test]
fn every_route_declares_a_known_action_and_paths_are_unique() {
    let routes = haven::api::table();
    let mut seen = std::collections::HashSet::new();
    for r in &routes {
        assert!(seen.insert((r.method.clone(), r.path)), "duplicate route {} {}", r.method, r.path);
        assert!(
            r.action == Action::Public || Action::PROTECTED.contains(&r.action),
            "{} {} has an action outside Action::PROTECTED",
            r.method,
            r.path
        );
    }
    let public: Vec<_> = routes.iter().filter(|r| r.action == Action::Public).map(|r| r.path).collect();
    assert_eq!(public, ["/healthz", "/readyz", "/api/v1/openapi.json", "/api/v1/auth/login", "/api/v1/auth/refresh"]);
}

db_test!(every_list_pages_the_same_way, |app| {
    let t = crate::harness::team(&app);
    let case = &t.case_id;
    let admin = app.admin_token();
    // Three check-ins, read one at a time: each once, then no cursor.
    let path = format!("/api/v1/cases/{case}/checkins");
    for h in 1..=3 {
        let due = (chrono::Utc::now() + chrono::Duration::hours(h)).to_rfc3339();
        assert_eq!(app.post(&path, Some(&t.coord), json!({ "due_at": due })).status, 201);
    }
    let mut seen = Vec::new();
    let mut next = format!("{path}?limit=1");
    loop {
        let page = app.get(&next, Some(&t.coord));
        assert_eq!(page.status, 200, "{page:?}");
        let page = page.json();
        assert_eq!(page["items"].as_array().unwrap().len(), 1, "{page}");
        seen.push(page["items"][0]["id"].as_str().unwrap().to_string());
        match page["next_cursor"].as_str() {
            Some(c) => next = format!("{path}?limit=1&cursor={c}"),
            None => break,
        }
    }
    seen.dedup();
    assert_eq!(seen.len(), 3, "{seen:?}");

    // One grant with a disbursement's list, one relocation with a visa's list.
    let g = app.post(
        &format!("/api/v1/cases/{case}/grants"),
        Some(&t.coord),
        json!({ "category": "legal", "currency": "EUR", "amount_requested": 1000, "purpose": "lawyer", "other_funders": [] }),
    );
    assert_eq!(g.status, 201, "{g:?}");
    let grant = g.json()["id"].as_str().unwrap().to_string();
    let r = app.post(
        &format!("/api/v1/cases/{case}/relocations"),
        Some(&t.coord),
        json!({ "kind": "international", "destination_country": "ES", "beneficiaries": ["her"],
            "starts_on": "2027-02-01T00:00:00Z", "ends_on": "2027-06-01T00:00:00Z" }),
    );
    assert_eq!(r.status, 201, "{r:?}");
    let relocation = r.json()["id"].as_str().unwrap().to_string();
    let lists = [
        "/api/v1/cases".to_string(),
        "/api/v1/alerts".into(),
        "/api/v1/defenders".into(),
        "/api/v1/organizations".into(),
        "/api/v1/escalations".into(),
        format!("/api/v1/cases/{case}/notes"),
        format!("/api/v1/cases/{case}/assessments"),
        format!("/api/v1/cases/{case}/plans"),
        format!("/api/v1/cases/{case}/grants"),
        format!("/api/v1/grants/{grant}/disbursements"),
        format!("/api/v1/cases/{case}/relocations"),
        format!("/api/v1/relocations/{relocation}/visas"),
        format!("/api/v1/cases/{case}/psychosocial"),
        format!("/api/v1/cases/{case}/checkins"),
        format!("/api/v1/cases/{case}/messages"),
    ];
    for list in lists.iter().map(String::as_str).chain(["/api/v1/users", "/api/v1/audit"]) {
        let who = if list == "/api/v1/users" || list == "/api/v1/audit" { &admin } else { &t.coord };
        let r = app.get(list, Some(who));
        assert_eq!(r.status, 200, "{list}: {r:?}");
        assert!(r.json()["items"].is_array() && r.json().get("next_cursor").is_some(), "{list}: {}", r.text);
        for bad in ["cursor=garbage", "cursor=x%00", "limit=0", "limit=201", "limit=ten"] {
            let r = app.get(&format!("{list}?{bad}"), Some(who));
            assert_eq!(r.status, 400, "{list}?{bad}: {r:?}");
        }
    }
});
