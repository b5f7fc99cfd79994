//! Walks the route table: no protected route may answer without a valid token.

use haven::authz::Action;
use serde_json::json;

use crate::db_test;
use crate::harness::token_of;

/// A concrete path for a route pattern: every `{param}` becomes a syntactically valid id.
fn concrete(path: &str) -> String {
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
