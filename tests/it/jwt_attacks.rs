//! Every way of presenting a bad access token gets 401.

use haven::domain::Role;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use crate::db_test;
use crate::harness::{token_of, TestApp, JWT_SECRET};

fn b64(v: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v)
}

fn parts(token: &str) -> (Value, Value) {
    use base64::Engine;
    let d = |s: &str| -> Value {
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s).unwrap()).unwrap()
    };
    let p: Vec<&str> = token.split('.').collect();
    (d(p[0]), d(p[1]))
}

fn sign(header_kid: Option<String>, claims: &Value, secret: &[u8]) -> String {
    let mut h = Header::new(Algorithm::HS256);
    h.kid = header_kid;
    jsonwebtoken::encode(&h, claims, &EncodingKey::from_secret(secret)).unwrap()
}

fn assert_401(app: &TestApp, token: &str, what: &str) {
    let r = app.get("/api/v1/me", Some(token));
    assert_eq!(r.status, 401, "{what}: {r:?}");
}

db_test!(forged_and_stale_tokens_are_refused, |app| {
    let login = app.login(crate::harness::ADMIN_EMAIL, crate::harness::ADMIN_PASSWORD);
    let good = token_of(&login);
    assert_eq!(app.get("/api/v1/me", Some(&good)).status, 200);
    let (header, claims) = parts(&good);
    let kid = header["kid"].as_str().map(str::to_string);
    let now = chrono::Utc::now().timestamp();

    // A correctly signed copy of the real claims is accepted: the forgeries below differ in one thing only.
    assert_eq!(app.get("/api/v1/me", Some(&sign(kid.clone(), &claims, JWT_SECRET.as_bytes()))).status, 200);

    // alg: none
    let none = format!("{}.{}.", b64(br#"{"alg":"none","typ":"JWT"}"#), b64(claims.to_string().as_bytes()));
    assert_401(&app, &none, "alg none");
    let none_kid = format!(
        "{}.{}.",
        b64(json!({"alg": "none", "typ": "JWT", "kid": kid}).to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    assert_401(&app, &none_kid, "alg none with kid");

    // wrong key
    assert_401(&app, &sign(kid.clone(), &claims, b"another-secret-another-secret-0123"), "wrong key");

    // tampered payload, original signature
    let mut c2 = claims.clone();
    c2["sub"] = json!("01a20000-0000-7000-8000-000000000001");
    let p: Vec<&str> = good.split('.').collect();
    let tampered = format!("{}.{}.{}", p[0], b64(c2.to_string().as_bytes()), p[2]);
    assert_401(&app, &tampered, "tampered payload");

    let with = |k: &str, v: Value| {
        let mut c = claims.clone();
        c[k] = v;
        sign(kid.clone(), &c, JWT_SECRET.as_bytes())
    };
    assert_401(&app, &with("exp", json!(now - 3600)), "expired");
    assert_401(&app, &with("nbf", json!(now + 3600)), "future nbf");
    assert_401(&app, &with("iss", json!("someone-else")), "wrong iss");
    assert_401(&app, &with("aud", json!("another-api")), "wrong aud");
    assert_401(&app, &with("sid", json!("01a20000-0000-7000-8000-000000000002")), "unknown session");
    let mut no_exp = claims.clone();
    no_exp.as_object_mut().unwrap().remove("exp");
    assert_401(&app, &sign(kid.clone(), &no_exp, JWT_SECRET.as_bytes()), "missing exp");

    // unknown or missing kid
    assert_401(&app, &sign(Some("0000000000000000".into()), &claims, JWT_SECRET.as_bytes()), "unknown kid");
    assert_401(&app, &sign(None, &claims, JWT_SECRET.as_bytes()), "missing kid");

    // another HMAC algorithm with the right key
    let mut h = Header::new(Algorithm::HS512);
    h.kid = kid.clone();
    let hs512 = jsonwebtoken::encode(&h, &claims, &EncodingKey::from_secret(JWT_SECRET.as_bytes())).unwrap();
    assert_401(&app, &hs512, "HS512");

    // refresh token presented as an access token
    assert_401(&app, login["refresh_token"].as_str().unwrap(), "refresh token as access token");

    // after logout
    assert_eq!(app.post("/api/v1/auth/logout", Some(&good), json!({})).status, 204);
    assert_401(&app, &good, "after logout");
    assert_401(&app, &sign(kid.clone(), &claims, JWT_SECRET.as_bytes()), "re-signed after logout");
});

db_test!(token_of_deactivated_user_is_refused_at_once, |app| {
    let admin = app.admin_token();
    let (id, email, pw) = app.user(Role::Officer, &app.admin_org());
    let login = app.login(&email, &pw);
    let t = token_of(&login);
    assert_eq!(app.get("/api/v1/me", Some(&t)).status, 200);
    let r = app.patch(&format!("/api/v1/users/{id}"), Some(&admin), json!({ "active": false }));
    assert_eq!(r.status, 200, "{r:?}");
    let r = app.get("/api/v1/me", Some(&t));
    assert_eq!(r.status, 401, "{r:?}");
    // Its refresh token is dead too, and so is a fresh login.
    let r = app.post("/api/v1/auth/refresh", None, json!({ "refresh_token": login["refresh_token"] }));
    assert_eq!(r.status, 401, "{r:?}");
    let r = app.post("/api/v1/auth/login", None, json!({ "email": email, "password": pw }));
    assert_eq!(r.status, 401, "{r:?}");
});

db_test!(tokens_and_sessions_expire_by_the_app_clock, |app| {
    let login = app.login(crate::harness::ADMIN_EMAIL, crate::harness::ADMIN_PASSWORD);
    let t = token_of(&login);
    // Access tokens live 15 minutes by the service's clock (not the library's wall clock).
    app.clock.advance(chrono::Duration::minutes(14));
    assert_eq!(app.get("/api/v1/me", Some(&t)).status, 200);
    app.clock.advance(chrono::Duration::minutes(2));
    let r = app.get("/api/v1/me", Some(&t));
    assert_eq!((r.status, r.code().as_str()), (401, "invalid_token"));
    // The refresh token still works while the session lasts (12 hours)...
    let r = app.post("/api/v1/auth/refresh", None, json!({ "refresh_token": login["refresh_token"] }));
    assert_eq!(r.status, 200, "{r:?}");
    let again = r.json();
    // ...and not after.
    app.clock.advance(chrono::Duration::hours(12));
    let r = app.post("/api/v1/auth/refresh", None, json!({ "refresh_token": again["refresh_token"] }));
    assert_eq!((r.status, r.code().as_str()), (401, "invalid_refresh_token"));
});
