//! Two-factor sign-in (TOTP and recovery codes), the enrolment gate, and the throttles that
//! every instance shares. These tests run the shipped `policies/access.toml` (admins and
//! coordinators must enrol), unlike the rest of the suite.

use chrono::Duration;
use haven::authz::Action;
use haven::clock::Clock;
use haven::domain::Role;
use haven::i18n::Lang;
use serde_json::{json, Value};

use crate::db_test_with;
use crate::harness::{shipped_policies, token_of, TestApp, ADMIN_EMAIL, ADMIN_PASSWORD};

fn shipped(c: &mut haven::config::Config) {
    c.policies_dir = shipped_policies();
}

fn login(app: &TestApp, email: &str, password: &str, extra: Value) -> crate::harness::Resp {
    let mut body = json!({ "email": email, "password": password });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    app.post("/api/v1/auth/login", None, body)
}

fn code(app: &TestApp, secret: &str) -> String {
    haven::auth::mfa::code_at(secret, app.clock.now()).expect("a code")
}

/// Enrols TOTP for the holder of `token`; returns her secret and recovery codes. The clock
/// then moves to the next step, so that her next sign-in needs a new code.
fn enrol(app: &TestApp, token: &str) -> (String, Vec<String>) {
    let r = app.post("/api/v1/me/mfa/totp", Some(token), json!({}));
    assert_eq!(r.status, 200, "{r:?}");
    let secret = r.json()["secret"].as_str().unwrap().to_string();
    let uri = r.json()["otpauth_uri"].as_str().unwrap().to_string();
    assert!(uri.starts_with("otpauth://totp/Haven:"), "{uri}");
    assert!(uri.contains(&format!("secret={secret}")) && uri.contains("issuer=Haven"), "{uri}");
    let r = app.post("/api/v1/me/mfa/totp/confirm", Some(token), json!({ "code": code(app, &secret) }));
    assert_eq!(r.status, 200, "{r:?}");
    let codes: Vec<String> =
        r.json()["recovery_codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_string()).collect();
    app.clock.advance(Duration::seconds(30));
    (secret, codes)
}

/// Whether the audit trail holds `action` with `outcome`, as an auditor (who needs no second
/// factor under the shipped policy) reads it.
fn audited(app: &TestApp, org: &str, action: &str, outcome: &str) -> bool {
    let (_, email, pw) = app.user(Role::Auditor, org);
    let t = token_of(&app.login(&email, &pw));
    let r = app.get(&format!("/api/v1/audit?limit=200&action={action}&outcome={outcome}"), Some(&t));
    assert_eq!(r.status, 200, "{r:?}");
    !r.json()["items"].as_array().unwrap().is_empty()
}

fn org_of_admin(app: &TestApp) -> String {
    let t = token_of(&app.login(ADMIN_EMAIL, ADMIN_PASSWORD));
    app.get("/api/v1/me", Some(&t)).json()["organization_id"].as_str().unwrap().to_string()
}

db_test_with!(totp_enrolment_sign_in_replay_and_recovery_codes, shipped, |app| {
    let org = org_of_admin(&app);
    let (id, email, pw) = app.user(Role::Coordinator, &org);
    let t = token_of(&app.login(&email, &pw));
    let me = app.get("/api/v1/me", Some(&t)).json();
    assert_eq!((me["mfa_enabled"].as_bool(), me["mfa_required"].as_bool()), (Some(false), Some(true)));

    // Confirming needs a started enrolment and the right code.
    let r = app.post("/api/v1/me/mfa/totp/confirm", Some(&t), json!({ "code": "123456" }));
    assert_eq!((r.status, r.code().as_str()), (409, "mfa_not_started"), "{r:?}");
    let r = app.post("/api/v1/me/mfa/totp", Some(&t), json!({}));
    let pending = r.json()["secret"].as_str().unwrap().to_string();
    let wrong = if code(&app, &pending) == "000000" { "111111" } else { "000000" };
    let r = app.post("/api/v1/me/mfa/totp/confirm", Some(&t), json!({ "code": wrong }));
    assert_eq!((r.status, r.code().as_str()), (401, "mfa_invalid"), "{r:?}");
    assert_eq!(app.get("/api/v1/me", Some(&t)).json()["mfa_enabled"], false, "not in force before a right code");

    // A new enrolment replaces the pending secret; it is confirmed by a code of its own.
    let (secret, codes) = enrol(&app, &t);
    assert_ne!(secret, pending);
    assert_eq!(codes.len(), 10);
    assert!(codes.iter().all(|c| c.len() == 19 && c.split('-').count() == 4), "{codes:?}");
    let r = app.post("/api/v1/me/mfa/totp", Some(&t), json!({}));
    assert_eq!((r.status, r.code().as_str()), (409, "mfa_already_enrolled"), "{r:?}");
    let me = app.get("/api/v1/me", Some(&t)).json();
    assert_eq!((me["mfa_enabled"].as_bool(), me["recovery_codes_left"].as_i64()), (Some(true), Some(10)));

    // Sign-in: the password alone is not enough, a wrong code is refused, the right one works.
    let r = login(&app, &email, &pw, json!({}));
    assert_eq!((r.status, r.code().as_str()), (401, "mfa_required"), "{r:?}");
    let r = login(&app, &email, &pw, json!({ "totp_code": "12345" }));
    assert_eq!((r.status, r.code().as_str()), (401, "mfa_invalid"), "{r:?}");
    let r = login(&app, &email, "wrong password!!", json!({ "totp_code": code(&app, &secret) }));
    assert_eq!(
        (r.status, r.code().as_str()),
        (401, "invalid_credentials"),
        "a code does not stand in for the password"
    );
    let now_code = code(&app, &secret);
    let r = login(&app, &email, &pw, json!({ "totp_code": now_code }));
    assert_eq!(r.status, 200, "{r:?}");
    // The same code again, in its window: refused.
    let r = login(&app, &email, &pw, json!({ "totp_code": now_code }));
    assert_eq!((r.status, r.code().as_str()), (401, "mfa_invalid"), "replayed code: {r:?}");
    // The next step's code works.
    app.clock.advance(Duration::seconds(30));
    let r = login(&app, &email, &pw, json!({ "totp_code": code(&app, &secret) }));
    assert_eq!(r.status, 200, "{r:?}");
    // Both factors at once is a malformed request.
    let r = login(&app, &email, &pw, json!({ "totp_code": "123456", "recovery_code": codes[0] }));
    assert_eq!(r.status, 422, "{r:?}");

    // A recovery code signs in once, typed in capitals and without dashes too.
    let typed = codes[0].replace('-', "").to_uppercase();
    let r = login(&app, &email, &pw, json!({ "recovery_code": typed }));
    assert_eq!(r.status, 200, "{r:?}");
    let r = login(&app, &email, &pw, json!({ "recovery_code": codes[0] }));
    assert_eq!((r.status, r.code().as_str()), (401, "mfa_invalid"), "a recovery code used twice: {r:?}");
    let r = login(&app, &email, &pw, json!({ "recovery_code": "aaaa-bbbb-cccc-dddd" }));
    assert_eq!((r.status, r.code().as_str()), (401, "mfa_invalid"), "{r:?}");
    let t2 = token_of(&login(&app, &email, &pw, json!({ "recovery_code": codes[1] })).json());
    assert_eq!(app.get("/api/v1/me", Some(&t2)).json()["recovery_codes_left"], 8);

    // Neither the secret nor a recovery code is stored in the clear.
    let stored = crate::harness::everything_stored(&app);
    assert!(!stored.contains(&secret), "the TOTP secret is sealed at rest");
    for c in &codes[2..] {
        assert!(!stored.contains(c.as_str()), "recovery codes are kept as hashes only");
    }

    // Audited: enrolment, confirmation, the failures, a recovery code's use.
    assert!(audited(&app, &org, "me.mfa_enroll", "success"));
    assert!(audited(&app, &org, "me.mfa_confirm", "success"));
    assert!(audited(&app, &org, "me.mfa_confirm", "denied"));
    assert!(audited(&app, &org, "auth.mfa", "denied"));
    assert!(audited(&app, &org, "auth.recovery_code_used", "success"));

    // Turning it off needs a current code; after it, the gate is back for her role.
    let r = app.request("DELETE", "/api/v1/me/mfa/totp", Some(&t2), Some(&json!({ "code": "000000x" })));
    assert_eq!((r.status, r.code().as_str()), (401, "mfa_invalid"), "{r:?}");
    app.clock.advance(Duration::seconds(30));
    let r = app.request("DELETE", "/api/v1/me/mfa/totp", Some(&t2), Some(&json!({ "code": code(&app, &secret) })));
    assert_eq!(r.status, 204, "{r:?}");
    assert!(audited(&app, &org, "me.mfa_disable", "success"));
    let r = login(&app, &email, &pw, json!({}));
    assert_eq!(r.status, 200, "without a second factor, the password signs in: {r:?}");
    let t3 = token_of(&r.json());
    let r = app.get("/api/v1/cases", Some(&t3));
    assert_eq!((r.status, r.code().as_str()), (403, "mfa_enrollment_required"), "{r:?}");
    let _ = id;
});

db_test_with!(until_she_enrols_every_other_route_answers_mfa_enrollment_required, shipped, |app| {
    let org = org_of_admin(&app);
    for role in [Role::Admin, Role::Coordinator] {
        let (_, email, pw) = app.user(role, &org);
        let t = token_of(&app.login(&email, &pw));
        // Signing out (allowed) would end the token the walk uses.
        for r in haven::api::table().iter().filter(|r| r.action != Action::Public && r.action != Action::AuthLogout) {
            let res = app.request(r.method.as_str(), &crate::routes::concrete(r.path), Some(&t), Some(&json!({})));
            if r.action.allowed_before_mfa_enrollment() {
                assert!(!res.text.contains("mfa_enrollment_required"), "{} {}: {res:?}", r.method, r.path);
            } else {
                assert_eq!(
                    (res.status, res.code().as_str()),
                    (403, "mfa_enrollment_required"),
                    "{} {} as {} before enrolling",
                    r.method,
                    r.path,
                    role.as_str()
                );
            }
        }
        // Enrolled, the same token reaches the routes again.
        enrol(&app, &t);
        assert_ne!(app.get("/api/v1/cases", Some(&t)).code(), "mfa_enrollment_required");
    }
    // Roles the policy does not name are not gated.
    for role in [Role::Officer, Role::Auditor] {
        let (_, email, pw) = app.user(role, &org);
        let t = token_of(&app.login(&email, &pw));
        for r in haven::api::table().iter().filter(|r| r.action != Action::Public && r.action != Action::AuthLogout) {
            let res = app.request(r.method.as_str(), &crate::routes::concrete(r.path), Some(&t), Some(&json!({})));
            assert!(!res.text.contains("mfa_enrollment_required"), "{} {} as {}", r.method, r.path, role.as_str());
        }
    }
});

db_test_with!(an_admin_resets_a_lost_authenticator_and_her_sessions_end, shipped, |app| {
    let org = org_of_admin(&app);
    let admin = token_of(&app.login(ADMIN_EMAIL, ADMIN_PASSWORD));
    enrol(&app, &admin);
    // The admin's earlier token keeps working: enrolling ends no session.
    let (id, email, pw) = app.user(Role::Coordinator, &org);
    let t = token_of(&app.login(&email, &pw));
    let (secret, _) = enrol(&app, &t);
    assert_eq!(app.get("/api/v1/cases", Some(&t)).status, 200);

    let (_, officer_email, officer_pw) = app.user(Role::Officer, &org);
    let officer = token_of(&app.login(&officer_email, &officer_pw));
    let r = app.post(&format!("/api/v1/users/{id}/mfa/reset"), Some(&officer), json!({}));
    assert_eq!(r.status, 403, "only admins reset: {r:?}");
    let r = app.post("/api/v1/users/01a20000-0000-7000-8000-000000000000/mfa/reset", Some(&admin), json!({}));
    assert_eq!(r.status, 404, "{r:?}");

    let r = app.post(&format!("/api/v1/users/{id}/mfa/reset"), Some(&admin), json!({}));
    assert_eq!(r.status, 204, "{r:?}");
    assert_eq!(app.get("/api/v1/me", Some(&t)).status, 401, "her sessions ended");
    assert!(audited(&app, &org, "user.mfa_reset", "success"));
    // Her old authenticator is gone: the password signs in, and she must enrol again.
    let r = login(&app, &email, &pw, json!({ "totp_code": code(&app, &secret) }));
    assert_eq!(r.status, 200, "{r:?}");
    let t = token_of(&r.json());
    assert_eq!(app.get("/api/v1/cases", Some(&t)).code(), "mfa_enrollment_required");
    let me = app.get("/api/v1/me", Some(&t)).json();
    assert_eq!((me["mfa_enabled"].as_bool(), me["recovery_codes_left"].as_i64()), (Some(false), Some(0)));
});

crate::db_test_with!(a_stranger_far_away_cannot_lock_her_out, |c| c.login.trust_forwarded_for = true, |app| {
    let from = |addr: &str, password: &str| {
        app.request_with_headers(
            "POST",
            "/api/v1/auth/login",
            None,
            &[("X-Forwarded-For", addr)],
            Some(json!({ "email": ADMIN_EMAIL, "password": password })),
        )
    };
    // Failures spread over many addresses reach the account-wide bound (100 by default)...
    let max = app.state().config.login.max_failures_per_account;
    for i in 0..max {
        let addr = format!("203.0.{}.{}", i / 200, i % 200 + 1);
        assert_eq!(from(&addr, "wrong password!!").status, 401, "attempt {i}");
    }
    let r = from("192.0.2.99", ADMIN_PASSWORD);
    assert_eq!(r.status, 429, "the account-wide bound holds: {r:?}");
    // ...and end with their window.
    app.clock.advance(Duration::seconds(app.state().config.login.window_seconds as i64 + 1));
    assert_eq!(from("192.0.2.99", ADMIN_PASSWORD).status, 200);
});

/// Two instances on one database, and one of them restarted: one count.
fn two_instances_count_together(app: TestApp) {
    let data_dir = app.db.dir.path().join("data");
    let second = TestApp::start_with(app.db.share(), |c| {
        c.login.trust_forwarded_for = true;
        c.data_dir = data_dir;
    });
    let from = |which: &TestApp, addr: &str, password: &str| {
        which
            .request_with_headers(
                "POST",
                "/api/v1/auth/login",
                None,
                &[("X-Forwarded-For", addr)],
                Some(json!({ "email": ADMIN_EMAIL, "password": password })),
            )
            .status
    };
    let stranger = "198.51.100.7";
    // Five failures, alternating between the instances, use up his free ones on both.
    for i in 0..5 {
        let which = if i % 2 == 0 { &app } else { &second };
        assert_eq!(from(which, stranger, "wrong password!!"), 401);
    }
    assert_eq!(from(&second, stranger, ADMIN_PASSWORD), 429, "the second instance knows the first's count");
    assert_eq!(from(&app, stranger, ADMIN_PASSWORD), 429);
    // Her own address is not his.
    assert_eq!(from(&second, "192.0.2.10", ADMIN_PASSWORD), 200);
    drop(second);
    // A restart forgets nothing.
    let app = app.restart_with(|_| {}, |c| c.login.trust_forwarded_for = true);
    assert_eq!(from(&app, stranger, ADMIN_PASSWORD), 429, "still waiting after a restart");
    assert_eq!(from(&app, "192.0.2.10", ADMIN_PASSWORD), 200);
    // Nothing in them names an address or an email.
    let stored = crate::harness::everything_stored(&app);
    assert!(!stored.contains(stranger) && !stored.contains("192.0.2.10"));
}

#[test]
fn throttles_are_shared_by_instances_and_survive_a_restart_sqlite() {
    let db = crate::harness::TestDb::new(crate::harness::Backend::Sqlite).expect("sqlite");
    two_instances_count_together(TestApp::start_with(db, |c| c.login.trust_forwarded_for = true));
}

#[test]
fn throttles_are_shared_by_instances_and_survive_a_restart_postgres() {
    if let Some(db) = crate::harness::TestDb::new(crate::harness::Backend::Postgres) {
        two_instances_count_together(TestApp::start_with(db, |c| c.login.trust_forwarded_for = true));
    }
}

// --- The console ------------------------------------------------------------------------------

fn key_of(page: &str) -> String {
    let start = page.find("<code class=\"key\" dir=\"ltr\">").expect("the key is shown") + 28;
    let end = start + page[start..].find('<').unwrap();
    page[start..end].replace(' ', "")
}

db_test_with!(console_gate_enrolment_and_two_step_sign_in_over_http, shipped, |app| {
    use crate::console::Desk;
    let org = org_of_admin(&app);
    let (_, email, pw) = app.user(Role::Coordinator, &org);
    let mut d = Desk::new(&app);
    // Signed in, she is sent to enrol, and every page sends her back there.
    let r = d.sign_in(&email, &pw);
    assert_eq!((r.status, r.header("location")), (303, Some("/console/account/mfa")), "{r:?}");
    for path in ["/console/", "/console/cases", "/console/alerts", "/console/defenders"] {
        let r = d.get(path);
        assert_eq!((r.status, r.header("location")), (303, Some("/console/account/mfa")), "{path}: {r:?}");
    }
    assert_eq!(d.get("/console/account").status, 200, "her account stays open");
    let page = d.get("/console/account/mfa");
    assert_eq!(page.status, 200);
    assert!(page.text.contains(Lang::En.words().mfa_must), "{}", page.text);
    // Start: the QR code (inline SVG, named) and the key.
    let csrf = crate::form::input_value(&page.text, "csrf");
    let r = d.post("/console/account/mfa/start", &[("csrf", &csrf)]);
    assert_eq!((r.status, r.header("location")), (303, Some("/console/account/mfa")), "{r:?}");
    let page = d.get("/console/account/mfa");
    assert!(page.text.contains("<svg role=\"img\" aria-label=\"QR code for your authenticator app\""), "{}", page.text);
    assert!(!page.text.contains("<?xml"));
    let key = key_of(&page.text);
    assert_eq!(key.len(), 32, "160 bits in base32: {key}");
    // A wrong first code: the same QR and key again, with the error linked to the field.
    let csrf = crate::form::input_value(&page.text, "csrf");
    let r = d.post("/console/account/mfa/confirm", &[("csrf", &csrf), ("code", "12345")]);
    assert_eq!(r.status, 422, "{r:?}");
    assert!(r.text.contains("href=\"#code\"") && key_of(&r.text) == key);
    // The right one: her recovery codes, on this answer only.
    let r = d.post("/console/account/mfa/confirm", &[("csrf", &csrf), ("code", &code(&app, &key))]);
    assert_eq!(r.status, 200, "{r:?}");
    let codes: Vec<&str> = r.text.match_indices("<li><code>").map(|(i, _)| &r.text[i + 10..i + 29]).collect();
    assert_eq!(codes.len(), 10, "{}", r.text);
    assert!(!d.get("/console/account/mfa").text.contains(codes[0]), "shown once");
    assert_eq!(d.get("/console/cases").status, 200, "the gate is open");

    // A new sign-in: the password, then the code step.
    app.clock.advance(Duration::seconds(30));
    let mut d2 = Desk::new(&app);
    let r = d2.sign_in(&email, &pw);
    assert_eq!(r.status, 200, "the code step, no session yet: {r:?}");
    assert!(r.header("set-cookie").is_none());
    let ticket = crate::form::input_value(&r.text, "ticket");
    let r = d2.post("/console/login/code", &[("ticket", &ticket), ("code", "000000"), ("lang", "en")]);
    assert_eq!(r.status, 401, "{r:?}");
    assert!(r.text.contains(Lang::En.words().err_code));
    // A forged or stale ticket sends her back to the password.
    let forged = ticket.replace('.', "x.");
    let r = d2.post("/console/login/code", &[("ticket", &forged), ("code", &code(&app, &key)), ("lang", "en")]);
    assert!(r.status == 401 && r.text.contains(Lang::En.words().err_code_expired), "{r:?}");
    let r = d2.post("/console/login/code", &[("ticket", &ticket), ("code", &code(&app, &key)), ("lang", "en")]);
    assert_eq!((r.status, r.header("location")), (303, Some("/console/")), "{r:?}");
    let cookie = r.header("set-cookie").expect("session cookie").split(';').next().unwrap().to_string();
    d2.cookie = Some(cookie);
    assert_eq!(d2.get("/console/cases").status, 200);
    // A recovery code works at the code step once.
    let mut d3 = Desk::new(&app);
    let ticket = crate::form::input_value(&d3.sign_in(&email, &pw).text, "ticket");
    let r = d3.post("/console/login/code", &[("ticket", &ticket), ("code", codes[3]), ("lang", "en")]);
    assert_eq!(r.status, 303, "{r:?}");
    let r = d3.post("/console/login/code", &[("ticket", &ticket), ("code", codes[3]), ("lang", "en")]);
    assert_eq!(r.status, 401, "{r:?}");
    // Five minutes on, the ticket is worthless.
    app.clock.advance(Duration::minutes(6));
    let r = d3.post("/console/login/code", &[("ticket", &ticket), ("code", &code(&app, &key)), ("lang", "en")]);
    assert!(r.status == 401 && r.text.contains(Lang::En.words().err_code_expired), "{r:?}");
});

db_test_with!(console_two_step_sign_in_in_chromium_without_javascript, shipped, |app| {
    use crate::webdriver::{chromium_available, Browser, Options};
    if !chromium_available("console mfa") {
        return;
    }
    let backend = format!("{:?}", app.db.backend).to_lowercase();
    let org = org_of_admin(&app);
    let shots = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts/console");
    std::fs::create_dir_all(&shots).unwrap();
    for (width, height, mobile, lang) in [(1280, 900, false, "en"), (390, 844, true, "ar")] {
        let (_, email, pw) = app.user(Role::Coordinator, &org);
        let b = Browser::start_with(Options { width, height, mobile, javascript: false }).expect("chromium");
        let shot = |name: &str| {
            let (w, _) = b.screenshot(shots.join(format!("mfa-{name}-{lang}-{width}-{backend}.png")));
            assert!(w > 0);
            assert!(b.page_width() <= b.viewport_width() + 1.0, "{name}: wider than the screen");
        };
        let words = Lang::parse(lang).unwrap().words();
        b.goto(&format!("{}/console/login?lang={lang}", app.base));
        b.find("#email").send_keys(&email);
        b.find("#password").send_keys(&pw);
        b.find("main button[type=submit]").click_and_wait();
        assert!(b.current_url().ends_with("/console/account/mfa"), "{}", b.current_url());
        shot("must-enrol");
        b.find("main form button[type=submit]").click_and_wait();
        assert!(b.find(".qr svg").is_displayed());
        shot("scan");
        let key = b.find("code.key").text().replace(' ', "");
        b.find("#code").send_keys("99999");
        b.find("main form button[type=submit]").click_and_wait();
        assert_eq!(b.find(".errors a").text(), words.err_code);
        b.find("#code").clear();
        b.find("#code").send_keys(&code(&app, &key));
        b.find("main form button[type=submit]").click_and_wait();
        assert_eq!(b.find("h1").text(), words.mfa_codes_title);
        assert_eq!(b.find_all("ol.codes li").len(), 10);
        shot("recovery-codes");
        b.find("a.button").click_and_wait();
        assert_eq!(b.find("h1").text(), words.home_title);

        // Another browser, the next code: password, then code.
        app.clock.advance(Duration::seconds(30));
        let b2 = Browser::start_with(Options { width, height, mobile, javascript: false }).expect("chromium");
        b2.goto(&format!("{}/console/login?lang={lang}", app.base));
        b2.find("#email").send_keys(&email);
        b2.find("#password").send_keys(&pw);
        b2.find("main button[type=submit]").click_and_wait();
        assert_eq!(b2.find("h1").text(), words.code_title);
        let (w2, _) = b2.screenshot(shots.join(format!("mfa-code-step-{lang}-{width}-{backend}.png")));
        assert!(w2 > 0);
        b2.find("#code").send_keys(&code(&app, &key));
        b2.find("main button[type=submit]").click_and_wait();
        assert!(b2.current_url().ends_with("/console/"), "{}", b2.current_url());
        assert_eq!(b2.find("h1").text(), words.home_title);
    }
});

db_test_with!(console_mfa_pages_pass_axe_in_english_and_arabic, shipped, |app| {
    use crate::webdriver::{chromium_available, Browser, Options};
    if !chromium_available("console mfa axe") {
        return;
    }
    let Some(axe) = crate::axe::axe_source() else { return };
    let org = org_of_admin(&app);
    let b =
        Browser::start_with(Options { width: 1280, height: 900, mobile: false, javascript: true }).expect("chromium");
    let mut found = Vec::new();
    let mut check = |what: &str| {
        let v = crate::axe::violations(&b, axe);
        eprintln!("axe: console {what}: {} violation(s)", v.len());
        found.extend(v.into_iter().map(|v| format!("{what}: {v}")));
    };
    for lang in ["en", "ar"] {
        let (_, email, pw) = app.user(Role::Coordinator, &org);
        b.goto(&format!("{}/console/login?lang={lang}", app.base));
        b.find("#email").send_keys(&email);
        b.find("#password").send_keys(&pw);
        b.find("main button[type=submit]").click_and_wait();
        check(&format!("must enrol {lang}"));
        b.find("main form button[type=submit]").click_and_wait();
        check(&format!("scan {lang}"));
        let key = b.find("code.key").text().replace(' ', "");
        b.find("main form button[type=submit]").click_and_wait();
        check(&format!("scan with errors {lang}"));
        b.find("#code").send_keys(&code(&app, &key));
        b.find("main form button[type=submit]").click_and_wait();
        check(&format!("recovery codes {lang}"));
        b.goto(&format!("{}/console/account/mfa", app.base));
        check(&format!("enrolled {lang}"));
        b.find("main form button[type=submit]").click_and_wait();
        check(&format!("turn off with errors {lang}"));
        // Signed out, the code step.
        b.find("form.signout button").click_and_wait();
        app.clock.advance(Duration::seconds(30));
        b.goto(&format!("{}/console/login?lang={lang}", app.base));
        b.find("#email").send_keys(&email);
        b.find("#password").send_keys(&pw);
        b.find("main button[type=submit]").click_and_wait();
        check(&format!("code step {lang}"));
        b.find("main button[type=submit]").click_and_wait();
        check(&format!("code step with errors {lang}"));
    }
    assert!(found.is_empty(), "axe violations:\n{}", found.join("\n"));
});
