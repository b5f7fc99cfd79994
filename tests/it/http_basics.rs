//! Health, readiness, error shape, security headers, body limits.

use serde_json::json;

use crate::db_test;

const SECURITY_HEADERS: [(&str, &str); 4] = [
    ("content-security-policy", "default-src 'none'; frame-ancestors 'none'"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("cache-control", "no-store"),
];

db_test!(health_ready_and_security_headers_on_every_response, |app| {
    let ok = app.get("/healthz", None);
    assert_eq!(ok.status, 200);
    assert_eq!(ok.json()["status"], "ok");
    let ready = app.get("/readyz", None);
    assert_eq!(ready.status, 200, "{ready:?}");
    let t = app.admin_token();
    let responses = [
        ok,
        ready,
        app.get("/api/v1/me", Some(&t)),
        app.get("/api/v1/me", None),
        app.get("/no/such/route", None),
        app.request("DELETE", "/api/v1/me", Some(&t), None),
        app.raw("POST", "/api/v1/auth/login", None, Some(("application/json", b"{not json"))),
    ];
    for r in responses {
        for (name, value) in SECURITY_HEADERS {
            assert_eq!(r.header(name), Some(value), "{name} on {r:?}");
        }
        if r.status >= 400 {
            let body = r.json();
            assert!(body["error"].is_string() && body["message"].is_string(), "error shape: {r:?}");
        }
    }
});

db_test!(client_mistakes_are_4xx_with_stable_codes, |app| {
    let t = app.admin_token();
    let r = app.get("/no/such/route", None);
    assert_eq!((r.status, r.code().as_str()), (404, "not_found"));
    let r = app.request("DELETE", "/api/v1/me", Some(&t), None);
    assert_eq!((r.status, r.code().as_str()), (405, "method_not_allowed"));
    let r = app.raw("POST", "/api/v1/auth/login", None, Some(("application/json", b"{not json")));
    assert_eq!((r.status, r.code().as_str()), (400, "invalid_body"));
    let r = app.raw("POST", "/api/v1/auth/login", None, Some(("text/plain", b"{}")));
    assert_eq!((r.status, r.code().as_str()), (415, "unsupported_content_type"));
    let r = app.raw("POST", "/api/v1/auth/login", None, None);
    assert_eq!((r.status, r.code().as_str()), (415, "unsupported_content_type"), "no Content-Type at all");
    let r = app.raw("POST", "/api/v1/auth/login", None, Some(("application/json; charset=utf-8", b"{}")));
    assert_eq!((r.status, r.json()["field"].as_str()), (400, Some("email")), "{r:?}");
    let big = format!("{{\"name\":\"{}\",\"kind\":\"ngo\",\"country\":\"CO\"}}", "x".repeat(70 * 1024));
    let r = app.raw("POST", "/api/v1/organizations", Some(&t), Some(("application/json", big.as_bytes())));
    assert_eq!((r.status, r.code().as_str()), (413, "payload_too_large"));
    // A value of the wrong type is named by what was expected, never echoed back.
    let r = app.post("/api/v1/auth/login", None, json!({ "email": "a@b.org", "password": ["hunter2-secret"] }));
    assert_eq!(r.status, 400);
    assert!(!r.text.contains("hunter2"), "{r:?}");
});

db_test!(readyz_reports_pending_migrations, |app| {
    assert_eq!(app.get("/readyz", None).status, 200);
    app.state().db.revert_all().unwrap();
    let r = app.get("/readyz", None);
    assert_eq!(r.status, 503, "{r:?}");
    assert_eq!(r.code(), "unavailable");
    app.state().db.migrate().unwrap();
    assert_eq!(app.get("/readyz", None).status, 200);
});

fn metrics(backend: crate::harness::Backend) {
    let Some(db) = crate::harness::TestDb::new(backend) else { return };
    let token = "metrics-token-0123456789";
    let app = crate::harness::TestApp::start_with(db, |c| c.metrics_token = haven::config::Secret::new(token));
    let get = |t: Option<&str>| {
        let auth = t.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
        app.raw_with_headers("GET", "/metrics", None, &headers, None)
    };
    assert_eq!(get(None).status, 401);
    assert_eq!(get(Some("metrics-token-0123456780")).status, 401);
    assert_eq!(app.get("/healthz", None).status, 200);
    let admin = app.admin_token();
    let org = app.admin_org();
    let (_, email, pw) = app.user(haven::domain::Role::Coordinator, &org);
    let t = crate::harness::token_of(&app.login(&email, &pw));
    let case = app.post(
        "/api/v1/cases",
        Some(&t),
        serde_json::json!({ "severity": "critical", "country": "CO", "consent_scope": [] }),
    );
    let id = case.json()["id"].as_str().unwrap().to_string();
    assert_eq!(app.get(&format!("/api/v1/cases/{id}"), Some(&t)).status, 200);
    app.clock.advance(chrono::Duration::seconds(90));
    let r = get(Some(token));
    assert_eq!(r.status, 200, "{r:?}");
    let body = r.text;
    assert!(body.contains("haven_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 1"), "{body}");
    assert!(body.contains("route=\"/api/v1/cases/{id}\""), "by route pattern: {body}");
    assert!(!body.contains(&id) && !body.contains(&admin), "no concrete ids or tokens");
    assert!(body.contains("haven_escalations_active 1"), "{body}");
    let lag: f64 = body.lines().find_map(|l| l.strip_prefix("haven_escalation_lag_seconds ")).unwrap().parse().unwrap();
    assert!(lag >= 89.0, "the 0m step has waited 90 s: {lag}");
    assert!(body.contains("haven_outbox_pending 0") && body.contains("# TYPE haven_key_cache_hits_total counter"));
    assert!(body.contains("haven_http_request_duration_seconds_bucket{route=\"/healthz\",le=\"+Inf\"} 1"), "{body}");
}

mod metrics_are_token_protected_and_by_route {
    #[test]
    fn sqlite() {
        super::metrics(crate::harness::Backend::Sqlite);
    }

    #[test]
    fn postgres() {
        super::metrics(crate::harness::Backend::Postgres);
    }
}

crate::db_test!(metrics_are_off_without_a_token, |app| {
    assert_eq!(app.get("/metrics", None).status, 404);
});
