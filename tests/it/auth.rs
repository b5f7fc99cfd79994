//! Login, refresh rotation and reuse detection, logout, throttling, role changes.

use haven::domain::Role;
use serde_json::json;

use crate::db_test;
use crate::harness::{token_of, ADMIN_EMAIL, ADMIN_PASSWORD};

db_test!(login_returns_a_bearer_pair_and_me_works, |app| {
    let login = app.login(ADMIN_EMAIL, ADMIN_PASSWORD);
    assert_eq!(login["token_type"], "Bearer");
    assert_eq!(login["expires_in"], 900);
    assert!(login["refresh_token"].as_str().unwrap().len() >= 40);
    let me = app.get("/api/v1/me", Some(&token_of(&login)));
    assert_eq!(me.status, 200);
    assert_eq!(me.json()["email"], ADMIN_EMAIL);
    assert_eq!(me.json()["role"], "admin");
    assert!(me.json().get("password_hash").is_none());

    // Email is case-insensitive.
    app.login(&ADMIN_EMAIL.to_uppercase(), ADMIN_PASSWORD);
});

db_test!(bad_credentials_look_the_same_whether_or_not_the_account_exists, |app| {
    let wrong = app.post("/api/v1/auth/login", None, json!({ "email": ADMIN_EMAIL, "password": "wrong password!!" }));
    let unknown =
        app.post("/api/v1/auth/login", None, json!({ "email": "nobody@haven.test", "password": "wrong password!!" }));
    assert_eq!(wrong.status, 401);
    assert_eq!(unknown.status, 401);
    assert_eq!(wrong.text, unknown.text);
    assert_eq!(wrong.code(), "invalid_credentials");
    // Malformed bodies are 400, not 500.
    let r = app.post("/api/v1/auth/login", None, json!({ "email": ADMIN_EMAIL }));
    assert_eq!(r.status, 400, "{r:?}");
    let r = app.post("/api/v1/auth/login", None, json!({ "email": 5, "password": "x" }));
    assert_eq!(r.status, 400, "{r:?}");
    let r = app.post("/api/v1/auth/login", None, json!({ "email": ADMIN_EMAIL, "password": "x".repeat(5000) }));
    assert_eq!(r.status, 401, "{r:?}");
});

db_test!(refresh_rotates_and_reuse_revokes_the_session, |app| {
    let first = app.login(ADMIN_EMAIL, ADMIN_PASSWORD);
    let r1 = first["refresh_token"].as_str().unwrap().to_string();
    let second = app.post("/api/v1/auth/refresh", None, json!({ "refresh_token": r1 }));
    assert_eq!(second.status, 200, "{second:?}");
    let second = second.json();
    let r2 = second["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(r1, r2);
    let access2 = token_of(&second);
    assert_eq!(app.get("/api/v1/me", Some(&access2)).status, 200);

    // Replaying the first refresh token: refused, and the whole session is revoked.
    let replay = app.post("/api/v1/auth/refresh", None, json!({ "refresh_token": r1 }));
    assert_eq!(replay.status, 401);
    assert_eq!(replay.code(), "refresh_token_reused");
    assert_eq!(app.get("/api/v1/me", Some(&access2)).status, 401, "access token of a revoked session");
    assert_eq!(app.get("/api/v1/me", Some(&token_of(&first))).status, 401);
    let r = app.post("/api/v1/auth/refresh", None, json!({ "refresh_token": r2 }));
    assert_eq!(r.status, 401, "the newest refresh token dies with the session");

    // The reuse is on the audit trail.
    let audit = app.get("/api/v1/audit?limit=200", Some(&app.admin_token())).json();
    assert!(audit["items"].as_array().unwrap().iter().any(|e| e["action"] == "auth.refresh_reuse"));

    let r = app.post("/api/v1/auth/refresh", None, json!({ "refresh_token": "never-issued" }));
    assert_eq!(r.status, 401);
});

db_test!(logout_ends_the_session_only, |app| {
    let a = app.admin_token();
    let b_login = app.login(ADMIN_EMAIL, ADMIN_PASSWORD);
    let b = token_of(&b_login);
    assert_eq!(app.post("/api/v1/auth/logout", Some(&a), json!({})).status, 204);
    assert_eq!(app.get("/api/v1/me", Some(&a)).status, 401);
    assert_eq!(app.get("/api/v1/me", Some(&b)).status, 200, "other sessions live on");
    assert_eq!(app.post("/api/v1/auth/logout", Some(&b), json!({})).status, 204);
    let r = app.post("/api/v1/auth/refresh", None, json!({ "refresh_token": b_login["refresh_token"] }));
    assert_eq!(r.status, 401, "refresh after logout");
});

crate::db_test_with!(a_guesser_waits_and_she_does_not, |c| c.login.trust_forwarded_for = true, |app| {
    let login_from = |addr: &str, password: &str| {
        app.request_with_headers(
            "POST",
            "/api/v1/auth/login",
            None,
            &[("X-Forwarded-For", addr)],
            Some(json!({ "email": ADMIN_EMAIL, "password": password })),
        )
    };
    let stranger = "198.51.100.7";
    for _ in 0..5 {
        assert_eq!(login_from(stranger, "wrong password!!").status, 401);
    }
    // From his address even the right password waits now, and says how long.
    let r = login_from(stranger, ADMIN_PASSWORD);
    assert_eq!((r.status, r.code().as_str()), (429, "too_many_requests"), "{r:?}");
    let wait: u64 = r.header("retry-after").expect("Retry-After").parse().unwrap();
    assert!((1..=30).contains(&wait), "the first delay is short: {wait}");
    // From her own address she is not locked out: a typo, then her password.
    let hers = "192.0.2.10";
    assert_eq!(login_from(hers, "wrong password!!").status, 401);
    let r = login_from(hers, ADMIN_PASSWORD);
    assert_eq!(r.status, 200, "{r:?}");
});

db_test!(login_is_throttled_per_address, |app| {
    // 20 failures from one address over many accounts, then even a good login from it waits.
    for i in 0..20 {
        let r = app.post(
            "/api/v1/auth/login",
            None,
            json!({ "email": format!("nobody{i}@haven.test"), "password": "wrong password!!" }),
        );
        assert_eq!(r.status, 401);
    }
    let r = app.post("/api/v1/auth/login", None, json!({ "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD }));
    assert_eq!(r.status, 429, "{r:?}");
});

db_test!(role_change_takes_effect_on_the_next_request, |app| {
    let admin = app.admin_token();
    let (id, email, pw) = app.user(Role::Officer, &app.admin_org());
    let t = token_of(&app.login(&email, &pw));
    assert_eq!(app.get("/api/v1/users", Some(&t)).status, 403);
    let r = app.patch(&format!("/api/v1/users/{id}"), Some(&admin), json!({ "role": "admin" }));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(app.get("/api/v1/users", Some(&t)).status, 200, "same token, new role");
    let r = app.patch(&format!("/api/v1/users/{id}"), Some(&admin), json!({ "role": "auditor" }));
    assert_eq!(r.status, 200);
    assert_eq!(app.get("/api/v1/users", Some(&t)).status, 403);
    assert_eq!(app.get("/api/v1/audit", Some(&t)).status, 200);
});

db_test!(one_time_password_must_be_changed_first, |app| {
    let admin = app.admin_token();
    let org = app.admin_org();
    let r = app.post(
        "/api/v1/users",
        Some(&admin),
        json!({ "email": "Officer.New@Embassy.test", "name": "Amira", "role": "officer", "organization_id": org }),
    );
    assert_eq!(r.status, 201, "{r:?}");
    let created = r.json();
    assert_eq!(created["must_change_password"], true);
    let otp = created["one_time_password"].as_str().unwrap().to_string();
    assert!(otp.len() >= 20);

    let t = token_of(&app.login("officer.new@embassy.test", &otp));
    let r = app.get("/api/v1/organizations", Some(&t));
    assert_eq!(r.status, 403);
    assert_eq!(r.code(), "password_change_required");
    assert_eq!(app.get("/api/v1/me", Some(&t)).status, 200);

    let r = app.post(
        "/api/v1/me/password",
        Some(&t),
        json!({ "current_password": "not it at all", "new_password": "my own passphrase" }),
    );
    assert_eq!(r.status, 403);
    let r = app.post("/api/v1/me/password", Some(&t), json!({ "current_password": otp, "new_password": "short" }));
    assert_eq!(r.status, 422);
    assert_eq!(r.code(), "weak_password");
    let r = app.post(
        "/api/v1/me/password",
        Some(&t),
        json!({ "current_password": otp, "new_password": "my own passphrase" }),
    );
    assert_eq!(r.status, 204, "{r:?}");
    assert_eq!(app.get("/api/v1/me", Some(&t)).json()["must_change_password"], false);
    // Officers may not list organisations, but the refusal is now the policy's, not the password's.
    assert_eq!(app.get("/api/v1/organizations", Some(&t)).code(), "forbidden");
    let r = app.post("/api/v1/auth/login", None, json!({ "email": "officer.new@embassy.test", "password": otp }));
    assert_eq!(r.status, 401, "the one-time password is gone");
    app.login("officer.new@embassy.test", "my own passphrase");
});
