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
    assert_eq!((r.status, r.code().as_str()), (400, "unsupported_content_type"));
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
