//! The staff console over real HTTP: sign-in and its cookie, CSRF on every POST, the session
//! ending on logout, idle time, a password change and deactivation, "My work" by
//! need-to-know, the language kept on the account, and the console's own 404.

use chrono::Duration;
use haven::domain::Role;
use haven::i18n::Lang;
use serde_json::json;

use crate::db_test;
use crate::form::{encode, FORM_CT};
use crate::harness::{cast, Person, Resp, TestApp};

/// A browser of one member of staff: its cookie, and no redirect followed.
pub struct Desk<'a> {
    app: &'a TestApp,
    agent: ureq::Agent,
    pub cookie: Option<String>,
}

impl<'a> Desk<'a> {
    pub fn new(app: &'a TestApp) -> Desk<'a> {
        let agent = ureq::Agent::config_builder().http_status_as_error(false).max_redirects(0).build().new_agent();
        Desk { app, agent, cookie: None }
    }

    fn run(&self, method: &str, path: &str, body: Option<Vec<u8>>) -> Resp {
        self.run_with(method, path, body, &[])
    }

    fn run_with(&self, method: &str, path: &str, body: Option<Vec<u8>>, headers: &[(&str, &str)]) -> Resp {
        let mut req = ureq::http::Request::builder().method(method).uri(format!("{}{path}", self.app.base));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(c) = &self.cookie {
            req = req.header("Cookie", c);
        }
        let result = match body {
            Some(b) => self.agent.run(req.header("Content-Type", FORM_CT).body(b).expect("request")),
            None => self.agent.run(req.body(()).expect("request")),
        };
        let mut res = result.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = res.status().as_u16();
        let headers = res
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or_default().to_string()))
            .collect();
        let text = res.body_mut().read_to_string().unwrap_or_default();
        Resp { status, headers, text }
    }

    pub fn get(&self, path: &str) -> Resp {
        self.run("GET", path, None)
    }

    pub fn post(&self, path: &str, pairs: &[(&str, &str)]) -> Resp {
        self.run("POST", path, Some(encode(pairs)))
    }

    /// Signs in; keeps the cookie the answer sets.
    pub fn sign_in(&mut self, email: &str, password: &str) -> Resp {
        let r = self.post("/console/login", &[("email", email), ("password", password), ("lang", "en")]);
        if let Some(c) = r.header("set-cookie") {
            self.cookie = Some(c.split(';').next().unwrap_or_default().to_string());
        }
        r
    }

    /// The CSRF token of the first form on a page.
    pub fn csrf(&self, path: &str) -> String {
        let page = self.get(path);
        assert_eq!(page.status, 200, "{path}: {page:?}");
        crate::form::input_value(&page.text, "csrf")
    }
}

/// A page with its CSRF tokens blanked: they are masked afresh on every page, so two renders
/// of the same page differ only there.
fn unmasked(page: &str) -> String {
    let mut out = String::new();
    let mut rest = page;
    while let Some(at) = rest.find("name=\"csrf\" value=\"") {
        let start = at + "name=\"csrf\" value=\"".len();
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        rest = &rest[rest.find('"').unwrap_or(0)..];
    }
    out.push_str(rest);
    out
}

fn signed_in<'a>(app: &'a TestApp, p: &Person) -> Desk<'a> {
    let mut d = Desk::new(app);
    let r = d.sign_in(&p.email, &p.password);
    assert_eq!(r.status, 303, "{r:?}");
    d
}

db_test!(sign_in_sets_a_strict_cookie_and_stores_only_its_hash, |app| {
    let w = cast(&app);
    let mut d = Desk::new(&app);
    // Not signed in: every page leads to the sign-in page.
    let r = d.get("/console/");
    assert_eq!((r.status, r.header("location")), (303, Some("/console/login")));
    let page = d.get("/console/login");
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-security-policy"),
        Some("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'")
    );
    assert!(page.text.contains("<label for=\"email\">") && !page.text.contains("<script"));

    let bad = d.sign_in(&w.owner_coord.email, "not her password at all");
    assert_eq!(bad.status, 401);
    assert!(bad.header("set-cookie").is_none());
    assert!(bad.text.contains("The email or the password is wrong."), "{}", bad.text);
    assert!(bad.text.contains(&format!("value=\"{}\"", w.owner_coord.email)), "her email is kept");
    assert!(!bad.text.contains("not her password"), "a password is never sent back");

    let ok = d.sign_in(&w.owner_coord.email, &w.owner_coord.password);
    assert_eq!((ok.status, ok.header("location")), (303, Some("/console/")));
    let cookie = ok.header("set-cookie").expect("cookie").to_string();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    assert_eq!(ok.headers.iter().filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie")).count(), 1, "the only cookie");
    let secret = d.cookie.clone().unwrap().split_once('=').unwrap().1.to_string();
    // The database keeps its SHA-256, never the secret.
    assert_eq!(
        app.count(&format!("sessions WHERE console_secret_hash = '{}'", haven::auth::session::secret_hash(&secret))),
        1
    );
    assert!(!crate::harness::everything_stored(&app).contains(&secret));

    let home = d.get("/console/");
    assert_eq!(home.status, 200, "{home:?}");
    assert!(home.text.contains(&w.owner_coord.email) || home.text.contains("Test coordinator"));
    assert!(home.text.contains("<h1>My work</h1>"));
    // A forged cookie is nobody.
    let mut forged = Desk::new(&app);
    forged.cookie = Some("haven_console=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into());
    assert_eq!(forged.get("/console/").header("location"), Some("/console/login?n=ended"));
});

db_test!(a_post_without_this_sessions_csrf_token_changes_nothing, |app| {
    let w = cast(&app);
    let a = signed_in(&app, &w.owner_coord);
    let b = signed_in(&app, &w.second_coord);
    let theirs = b.csrf("/console/");
    for token in ["", "00", theirs.as_str()] {
        let r = a.post("/console/logout", &[("csrf", token)]);
        assert_eq!(r.status, 403, "{token}: {r:?}");
        assert!(r.text.contains("This form has expired"), "{}", r.text);
        let r = a.post("/console/language", &[("csrf", token), ("lang", "ar"), ("back", "/console/")]);
        assert_eq!(r.status, 403);
    }
    assert_eq!(a.get("/console/").status, 200, "still signed in, still in English");
    assert!(a.get("/console/").text.contains("lang=\"en\""));
    // Every page carries a freshly masked token; each of them works.
    let (t1, t2) = (a.csrf("/console/"), a.csrf("/console/"));
    assert_ne!(t1, t2, "masked afresh on every page");
    let r = a.post("/console/logout", &[("csrf", &t1)]);
    assert_eq!((r.status, r.header("location")), (303, Some("/console/login?n=out")));
    assert!(r.header("set-cookie").is_some_and(|c| c.contains("Max-Age=0")));
    // The session has ended: the old cookie opens nothing.
    assert_eq!(a.get("/console/").header("location"), Some("/console/login?n=ended"));
    assert_eq!(app.count("sessions WHERE revoked_reason = 'logout' AND console_secret_hash IS NOT NULL"), 1);
});

db_test!(a_form_sent_from_another_site_is_refused, |app| {
    let w = cast(&app);
    // Sign-in from another site's page (login CSRF): refused, no cookie.
    let d = Desk::new(&app);
    let pairs =
        [("email", w.owner_coord.email.as_str()), ("password", w.owner_coord.password.as_str()), ("lang", "en")];
    for headers in [[("Origin", "https://evil.example")], [("Sec-Fetch-Site", "cross-site")]] {
        let r = d.run_with("POST", "/console/login", Some(encode(&pairs)), &headers);
        assert_eq!(r.status, 403, "{headers:?}");
        assert!(r.header("set-cookie").is_none());
    }
    // A signed-in form, even with her own token, is refused from another site.
    let me = signed_in(&app, &w.owner_coord);
    let csrf = me.csrf("/console/");
    let r =
        me.run_with("POST", "/console/logout", Some(encode(&[("csrf", &csrf)])), &[("Sec-Fetch-Site", "cross-site")]);
    assert_eq!(r.status, 403);
    assert_eq!(me.get("/console/").status, 200, "still signed in");
    let r =
        me.run_with("POST", "/console/logout", Some(encode(&[("csrf", &csrf)])), &[("Sec-Fetch-Site", "same-origin")]);
    assert_eq!(r.status, 303);
});

db_test!(a_console_session_ends_when_idle_on_password_change_and_deactivation, |app| {
    let w = cast(&app);
    // Idle: 30 minutes without a page.
    let d = signed_in(&app, &w.owner_coord);
    app.clock.advance(Duration::minutes(29));
    assert_eq!(d.get("/console/").status, 200, "used within the idle time");
    app.clock.advance(Duration::minutes(29));
    assert_eq!(d.get("/console/").status, 200, "the last page counts, not the sign-in");
    app.clock.advance(Duration::minutes(31));
    assert_eq!(d.get("/console/").header("location"), Some("/console/login?n=ended"));
    assert_eq!(app.count("sessions WHERE revoked_reason = 'idle'"), 1);

    // Her password changed through the API: the console session ends on the next request.
    let d = signed_in(&app, &w.second_coord);
    let token = w.second_coord.fresh(&app);
    let r = app.post(
        "/api/v1/me/password",
        Some(&token),
        json!({ "current_password": w.second_coord.password, "new_password": "a brand new password 7" }),
    );
    assert_eq!(r.status, 204, "{r:?}");
    assert_eq!(d.get("/console/").header("location"), Some("/console/login?n=ended"));

    // Deactivated by an admin.
    let d = signed_in(&app, &w.assigned_officer);
    assert_eq!(d.get("/console/").status, 200);
    let admin = app.admin_token();
    let r = app.patch(&format!("/api/v1/users/{}", w.assigned_officer.id), Some(&admin), json!({ "active": false }));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(d.get("/console/").header("location"), Some("/console/login?n=ended"));
});

db_test!(a_one_time_password_leads_to_the_password_page_first, |app| {
    let admin = app.admin_token();
    let org = app.admin_org();
    let r = app.post(
        "/api/v1/users",
        Some(&admin),
        json!({ "email": "new.officer@haven.test", "name": "Nadia Benali", "role": "officer", "organization_id": org }),
    );
    assert_eq!(r.status, 201, "{r:?}");
    let otp = r.json()["one_time_password"].as_str().unwrap().to_string();
    let mut d = Desk::new(&app);
    let r = d.sign_in("new.officer@haven.test", &otp);
    assert_eq!(r.header("location"), Some("/console/account"));
    assert_eq!(d.get("/console/").header("location"), Some("/console/account"), "nothing else first");
    let page = d.get("/console/account");
    assert!(page.text.contains("Choose your own password before you go on."));
    let csrf = crate::form::input_value(&page.text, "csrf");
    let r = d.post(
        "/console/account/password",
        &[("csrf", &csrf), ("current", &otp), ("new", "short"), ("confirm", "short")],
    );
    assert_eq!(r.status, 422);
    assert!(r.text.contains("Use at least 12 characters.") && r.text.contains("href=\"#new\""), "{}", r.text);
    let r = d.post(
        "/console/account/password",
        &[("csrf", &csrf), ("current", &otp), ("new", "my own password 2026"), ("confirm", "my own password 2027")],
    );
    assert!(r.text.contains("The two new passwords are not the same."));
    let r = d.post(
        "/console/account/password",
        &[
            ("csrf", &csrf),
            ("current", "wrong one entirely"),
            ("new", "my own password 2026"),
            ("confirm", "my own password 2026"),
        ],
    );
    assert_eq!(r.status, 403);
    assert!(r.text.contains("The current password is wrong."));
    let r = d.post(
        "/console/account/password",
        &[("csrf", &csrf), ("current", &otp), ("new", "my own password 2026"), ("confirm", "my own password 2026")],
    );
    assert_eq!((r.status, r.header("location")), (303, Some("/console/account?n=password")));
    assert_eq!(d.get("/console/").status, 200, "this session goes on");
    assert!(d.get("/console/account?n=password").text.contains("Your password is changed."));
});

db_test!(my_work_shows_what_waits_for_her_and_nothing_she_may_not_see, |app| {
    let w = cast(&app);
    let alert = |urgency: &str, narrative: &str| {
        let body = json!({ "kind": "threat_received", "urgency": urgency, "country": "KE", "narrative": narrative, "consent_scope": [] });
        let r = app.post("/api/v1/alerts", Some(&w.owner_coord.token), body);
        assert_eq!(r.status, 201, "{r:?}");
        r.json()["id"].as_str().unwrap().to_string()
    };
    alert("low", "canary-low sealed narrative");
    app.clock.advance(Duration::minutes(1));
    alert("critical", "canary-critical sealed narrative");
    let case = w.shared_case(&app);
    let reference = app.get(&format!("/api/v1/cases/{case}"), Some(&w.owner_coord.token)).json()["reference"]
        .as_str()
        .unwrap()
        .to_string();

    let coord = signed_in(&app, &w.owner_coord);
    let page = coord.get("/console/");
    assert_eq!(page.status, 200);
    // The triage queue: most urgent first, in words; nothing sealed on the page.
    let critical = page.text.find("<td data-label=\"Urgency\">Critical</td>").expect("critical alert listed");
    let low = page.text.find("<td data-label=\"Urgency\">Low</td>").expect("low alert listed");
    assert!(critical < low, "most urgent first");
    assert!(page.text.contains("Threats received"));
    assert!(!page.text.contains("canary"), "no narrative on My work");
    assert!(page.text.contains(&reference), "her organisation's case");
    // The critical alert's escalation waits for her, with its button.
    assert!(page.text.contains("Escalations waiting for me"));
    let esc_id = {
        let at = page.text.find("/console/escalations/").expect("an acknowledge form");
        page.text[at + "/console/escalations/".len()..].split('/').next().unwrap().to_string()
    };
    let csrf = crate::form::input_value(&page.text[page.text.find("/console/escalations/").unwrap()..], "csrf");

    // Someone of another organisation sees none of it, and cannot acknowledge it: the same
    // 404 as for an escalation that does not exist, byte for byte.
    let other = signed_in(&app, &w.other_coord);
    let theirs = other.get("/console/");
    assert!(!theirs.text.contains(&reference) && !theirs.text.contains("Critical</td>"), "{}", theirs.text);
    let other_csrf = other.csrf("/console/account");
    let foreign = other.post(&format!("/console/escalations/{esc_id}/ack"), &[("csrf", &other_csrf)]);
    let missing = other.post("/console/escalations/01900000-0000-7000-8000-000000000000/ack", &[("csrf", &other_csrf)]);
    assert_eq!(foreign.status, 404);
    assert_eq!(unmasked(&foreign.text), unmasked(&missing.text), "a foreign object is just not there");
    // An officer does not triage: no queue; she sees her assigned case.
    let officer = signed_in(&app, &w.assigned_officer);
    let hers = officer.get("/console/");
    assert!(!hers.text.contains("Alerts awaiting triage") && hers.text.contains(&reference));

    let r = coord.post(&format!("/console/escalations/{esc_id}/ack"), &[("csrf", &csrf)]);
    assert_eq!((r.status, r.header("location")), (303, Some("/console/?n=acked")));
    let after = coord.get("/console/?n=acked");
    assert!(after.text.contains("Acknowledged. The escalation stops for everyone."));
    assert!(!after.text.contains(&format!("/console/escalations/{esc_id}/ack")));
    assert_eq!(app.count(&format!("escalations WHERE id = '{esc_id}' AND status = 'acknowledged'")), 1);
});

db_test!(her_language_is_kept_on_her_account, |app| {
    let w = cast(&app);
    let d = signed_in(&app, &w.owner_coord);
    let csrf = d.csrf("/console/");
    let r = d.post("/console/language", &[("csrf", &csrf), ("lang", "ar"), ("back", "/console/account")]);
    assert_eq!((r.status, r.header("location")), (303, Some("/console/account?n=language")));
    let page = d.get("/console/account?n=language");
    assert!(page.text.contains("<html lang=\"ar\" dir=\"rtl\">"), "{}", &page.text[..200]);
    assert!(page.text.contains("تم حفظ اللغة."));
    assert!(!page.text.contains("Change your password"), "never two languages on a page");
    // Kept on the account: a new session in another browser opens in Arabic.
    let again = signed_in(&app, &w.owner_coord);
    assert!(again.get("/console/").text.contains("<html lang=\"ar\" dir=\"rtl\">"));
    // Two changes: the language of her first sign-in (English, saved as she had none), then
    // her switch to Arabic.
    assert_eq!(app.count("audit_events WHERE action = 'me.language'"), 2);
    // Only back to a console page.
    let csrf = d.csrf("/console/");
    let r = d.post("/console/language", &[("csrf", &csrf), ("lang", "fr"), ("back", "https://evil.example/")]);
    assert_eq!(r.header("location"), Some("/console/?n=language"));
    let r = d.post("/console/language", &[("csrf", &csrf), ("lang", "xx"), ("back", "/console/")]);
    assert_eq!(r.status, 400);
});

db_test!(unknown_console_paths_answer_the_consoles_own_404, |app| {
    let w = cast(&app);
    let guest = Desk::new(&app);
    let r = guest.get("/console/nothing/here?lang=fr");
    assert_eq!(r.status, 404);
    assert!(r.header("content-type").is_some_and(|c| c.starts_with("text/html")));
    assert!(r.text.contains("ou vous ne pouvez pas la voir"), "{}", r.text);
    let d = signed_in(&app, &w.owner_coord);
    let r = d.get("/console/cases/not-a-case");
    assert_eq!(r.status, 404);
    assert!(r.text.contains("This page does not exist, or you may not see it.") && r.text.contains("Sign out"));
    assert!(r.text.contains("href=\"/console/alerts\""), "the same navigation as on every page of hers");
    assert_eq!(guest.get("/console").header("location"), Some("/console/"));
});

#[test]
fn over_https_the_cookie_is_host_prefixed() {
    let Some(db) = crate::harness::TestDb::new(crate::harness::Backend::Sqlite) else { return };
    let app = TestApp::start_with(db, |c| c.public_url = "https://haven.example.org".into());
    let p = Person::new(&app, Role::Coordinator, &app.admin_org());
    let mut d = Desk::new(&app);
    let r = d.sign_in(&p.email, &p.password);
    let cookie = r.header("set-cookie").expect("cookie");
    assert!(cookie.starts_with("__Host-haven_console="), "{cookie}");
    for attr in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/;"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    assert_eq!(d.get("/console/").status, 200);
}

// --- In a real browser ----------------------------------------------------------------------

fn console_shots() -> std::path::PathBuf {
    let dir =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target").join("test-artifacts").join("console");
    std::fs::create_dir_all(&dir).expect("artifacts dir");
    dir
}

fn shot(b: &crate::webdriver::Browser, name: &str) {
    let (w, _) = b.screenshot(console_shots().join(format!("{name}.png")));
    assert!(w > 0, "{name}: empty screenshot");
    assert!(
        b.page_width() <= b.viewport_width() + 1.0,
        "{name}: {} px wide on {} px",
        b.page_width(),
        b.viewport_width()
    );
}

fn browser_sign_in(app: &TestApp, b: &crate::webdriver::Browser, p: &Person) {
    b.goto(&format!("{}/console/login?lang=en", app.base));
    b.find("#email").send_keys(&p.email);
    b.find("#password").send_keys(&p.password);
    b.find("main button[type=submit]").click_and_wait();
}

/// Through the header's language switch, as she would.
fn browser_language(b: &crate::webdriver::Browser, code: &str) {
    b.find("#lang-switch").select_by_value(code);
    b.find("form.langs button[type=submit]").click_and_wait();
}

db_test!(staff_sign_in_acknowledge_and_sign_out_in_chromium_without_javascript, |app| {
    use crate::webdriver::{chromium_available, Browser, Options};
    if !chromium_available("console") {
        return;
    }
    let w = cast(&app);
    let case = w.shared_case(&app);
    let backend = format!("{:?}", app.db.backend).to_lowercase();
    // Her record, with dependants, attached to the case: its page is shown in every language.
    let record = json!({
        "pseudonym": "Rosa", "country": "CO", "networks": ["Red de Mujeres"],
        "profile": { "legal_name": "Rosa María Quintero",
                     "contact_channels": [{ "channel": "signal", "value": "+57 300 000 0000" }],
                     "dependants": [{ "name": "Tomás", "relation": "son", "age": 9 }] }
    });
    let r = app.post("/api/v1/defenders", Some(&w.owner_coord.token), record);
    assert_eq!(r.status, 201, "{r:?}");
    let did = r.json()["id"].as_str().unwrap().to_string();
    let r = app.patch(&format!("/api/v1/cases/{case}"), Some(&w.owner_coord.token), json!({ "defender_id": did }));
    assert_eq!(r.status, 200, "{r:?}");
    for (width, height, mobile) in [(1280, 900, false), (390, 844, true)] {
        // A critical alert for each run: its escalation is what she acknowledges.
        let body = json!({ "kind": "arrest_detention", "urgency": "critical", "country": "SD", "narrative": "n", "consent_scope": [] });
        assert_eq!(app.post("/api/v1/alerts", Some(&w.owner_coord.token), body).status, 201);
        let b = Browser::start_with(Options { width, height, mobile, javascript: false }).expect("chromium");
        let tag = |page: &str, lang: &str| format!("{page}-{lang}-{width}-{backend}");
        for lang in ["en", "fr", "es", "ar"] {
            b.goto(&format!("{}/console/login?lang={lang}", app.base));
            assert_eq!(b.find("html").attr("lang").as_deref(), Some(lang));
            shot(&b, &tag("login", lang));
        }
        browser_sign_in(&app, &b, &w.owner_coord);
        assert!(b.current_url().ends_with("/console/"), "{}", b.current_url());
        assert_eq!(b.find("h1").text(), "My work");
        assert!(b.find("#h-alerts").is_displayed());
        for lang in ["fr", "es", "ar", "en"] {
            browser_language(&b, lang);
            let l = Lang::parse(lang).unwrap();
            assert_eq!(b.find("html").attr("lang").as_deref(), Some(lang));
            assert_eq!(b.find("html").attr("dir").as_deref(), Some(l.dir()));
            assert_eq!(b.find("h1").text(), l.words().home_title);
            shot(&b, &tag("home", lang));
            b.goto(&format!("{}/console/account", app.base));
            assert_eq!(b.find("h1").text(), l.words().account_title);
            shot(&b, &tag("account", lang));
            b.goto(&format!("{}/console/alerts", app.base));
            assert_eq!(b.find("h1").text(), l.words().alerts_page_title);
            shot(&b, &tag("alerts", lang));
            b.find("td a[href^='/console/alerts/']").click_and_wait();
            assert_eq!(b.find("#h-triage").text(), l.words().triage_title);
            shot(&b, &tag("alert", lang));
            b.find("nav a[href='/console/cases']").click_and_wait();
            assert_eq!(b.find("h1").text(), l.words().cases_page_title);
            shot(&b, &tag("cases", lang));
            b.find("td a[href^='/console/cases/']").click_and_wait();
            assert_eq!(b.find("#h-assignees").text(), l.words().assignees_title);
            shot(&b, &tag("case", lang));
            // Her record, from the case it is attached to (the list may show another first).
            b.goto(&format!("{}/console/cases/{case}", app.base));
            b.find("dl.facts a[href^='/console/defenders/']").click_and_wait();
            assert_eq!(b.find("#h-linked").text(), l.words().linked_cases);
            shot(&b, &tag("defender", lang));
            b.goto(&format!("{}/console/defenders/new", app.base));
            assert_eq!(b.find("h1").text(), l.words().defender_new_title);
            b.find("button[value=dependant]").click_and_wait();
            assert!(b.find("#dep_name-1").is_displayed(), "another row, without script");
            b.find("form.wide p button").click_and_wait();
            assert_eq!(b.find(".errors h2").text(), l.words().err_summary);
            shot(&b, &tag("defender-new-errors", lang));
            b.goto(&format!("{}/console/defenders", app.base));
            shot(&b, &tag("defenders", lang));
            b.find("nav a[href='/console/escalations']").click_and_wait();
            assert_eq!(b.find("h1").text(), l.words().escalations_page_title);
            shot(&b, &tag("escalations", lang));
            b.goto(&format!("{}/console/", app.base));
        }
        // Acknowledge the escalation of the critical alert, with the button, no script.
        let before = b.find_all("form[action$='/ack']").len();
        assert!(before >= 1);
        b.find("form[action$='/ack'] button").click_and_wait();
        assert!(b.find("p.notice").text().contains("Acknowledged."));
        assert_eq!(b.find_all("form[action$='/ack']").len(), before - 1);
        shot(&b, &tag("home-acknowledged", "en"));
        // Triage the alert into a new case from its page.
        b.find("nav a[href='/console/alerts']").click_and_wait();
        b.find("td a[href^='/console/alerts/']").click_and_wait();
        b.find("#severity").select_by_value("high");
        b.find("#summary").send_keys("Detained at the checkpoint; family informed");
        b.find("#h-triage + form button").click_and_wait();
        assert!(b.find("dl.facts .ref").text().starts_with("HVN-"), "triaged into a case");
        shot(&b, &tag("alert-triaged", "en"));
        // Into the case it opened: acknowledge it and write a note, with buttons only.
        b.find("dl.facts a.ref").click_and_wait();
        assert!(b.find("h1").text().contains("HVN-"));
        b.find(".actions button").click_and_wait();
        assert_eq!(b.find("p.notice").text(), "The case has moved on.");
        b.find("#note").send_keys("Called her brother; she is safe tonight");
        b.find("#h-notes ~ form button").click_and_wait();
        assert_eq!(b.find("p.notice").text(), "The note is added.");
        assert!(b.find(".timeline").text().contains("Called her brother; she is safe tonight"));
        shot(&b, &tag("case-after-note", "en"));
        // Assign a colleague by name, then close the case with a reason: forms and buttons only.
        b.find("#assign").select_by_value(&w.second_coord.id);
        b.find("form[action$='/assignees'] button").click_and_wait();
        assert_eq!(b.find("p.notice").text(), "The colleague is assigned.");
        assert!(app.count(&format!("case_assignees WHERE user_id = '{}'", w.second_coord.id)) >= 1);
        b.find("#reason").send_keys("She is safe abroad with her children");
        b.find("#reason ~ button").click_and_wait();
        assert_eq!(b.find("p.notice").text(), "The case has moved on.");
        assert!(b.find("dl.facts").text().contains("Closed"));
        assert!(b.find(".timeline").text().contains("She is safe abroad with her children"));
        shot(&b, &tag("case-closed", "en"));
        b.goto(&format!("{}/console/nowhere", app.base));
        shot(&b, &tag("not-found", "en"));
        b.goto(&format!("{}/console/", app.base));
        b.find("form.signout button").click_and_wait();
        assert!(b.current_url().contains("/console/login"));
        assert_eq!(b.find("p.notice").text(), "You have signed out.");
        b.goto(&format!("{}/console/", app.base));
        assert!(b.current_url().contains("/console/login"), "signed out for good");
    }
});

db_test!(every_console_page_passes_axe_in_english_and_arabic, |app| {
    use crate::webdriver::{chromium_available, Browser, Options};
    if !chromium_available("console axe") {
        return;
    }
    let Some(axe) = crate::axe::axe_source() else { return };
    let w = cast(&app);
    let body = json!({ "kind": "surveillance", "urgency": "critical", "country": "CO", "narrative": "n", "consent_scope": [] });
    assert_eq!(app.post("/api/v1/alerts", Some(&w.owner_coord.token), body).status, 201);
    let case = w.shared_case(&app);
    let record = json!({ "pseudonym": "Rosa", "country": "CO", "profile": { "legal_name": "Rosa María Quintero",
        "dependants": [{ "name": "Tomás", "relation": "son", "age": 9 }] } });
    let r = app.post("/api/v1/defenders", Some(&w.owner_coord.token), record);
    assert_eq!(r.status, 201, "{r:?}");
    let did = r.json()["id"].as_str().unwrap().to_string();
    // A check-in waiting, so the case file's table of check-ins and its buttons are checked too.
    let due = (chrono::Utc::now() + Duration::days(2)).format("%Y-%m-%d").to_string();
    let r = app.post(&format!("/api/v1/cases/{case}/checkins"), Some(&w.owner_coord.token), json!({ "due_at": due }));
    assert_eq!(r.status, 201, "{r:?}");
    let b =
        Browser::start_with(Options { width: 1280, height: 900, mobile: false, javascript: true }).expect("chromium");
    let mut found = Vec::new();
    let mut check = |what: &str| {
        let v = crate::axe::violations(&b, axe);
        eprintln!("axe: console {what}: {} violation(s)", v.len());
        found.extend(v.into_iter().map(|v| format!("{what}: {v}")));
    };
    for lang in ["en", "ar"] {
        b.goto(&format!("{}/console/login?lang={lang}", app.base));
        check(&format!("login {lang}"));
        b.find("main button[type=submit]").click_and_wait();
        check(&format!("login with errors {lang}"));
    }
    browser_sign_in(&app, &b, &w.owner_coord);
    for lang in ["en", "ar"] {
        browser_language(&b, lang);
        check(&format!("my work {lang}"));
        b.goto(&format!("{}/console/account", app.base));
        check(&format!("account {lang}"));
        b.find("#h-password + form button").click_and_wait();
        check(&format!("account with errors {lang}"));
        b.goto(&format!("{}/console/nowhere", app.base));
        check(&format!("404 {lang}"));
        b.goto(&format!("{}/console/alerts", app.base));
        check(&format!("alerts {lang}"));
        b.find("td a[href^='/console/alerts/']").click_and_wait();
        check(&format!("alert {lang}"));
        b.find("#h-dismiss + form button").click_and_wait();
        check(&format!("alert with errors {lang}"));
        b.goto(&format!("{}/console/cases", app.base));
        check(&format!("cases {lang}"));
        b.goto(&format!("{}/console/cases?q=nonsense", app.base));
        check(&format!("cases with errors {lang}"));
        b.goto(&format!("{}/console/cases", app.base));
        b.find("td a[href^='/console/cases/']").click_and_wait();
        check(&format!("case {lang}"));
        b.find("#h-notes ~ form button").click_and_wait();
        check(&format!("case with errors {lang}"));
        b.goto(&format!("{}/console/defenders/new?case={case}", app.base));
        check(&format!("new record {lang}"));
        b.find("form.wide p button").click_and_wait();
        check(&format!("new record with errors {lang}"));
        b.goto(&format!("{}/console/defenders?case={case}", app.base));
        check(&format!("records {lang}"));
        b.goto(&format!("{}/console/defenders/{did}", app.base));
        check(&format!("record {lang}"));
        b.goto(&format!("{}/console/escalations", app.base));
        check(&format!("escalations {lang}"));
        b.goto(&format!("{}/console/", app.base));
    }
    assert!(found.is_empty(), "axe found:\n{}", found.join("\n"));
});

db_test!(the_intake_queue_and_an_alert_page_by_need_to_know, |app| {
    let w = cast(&app);
    let post_alert = |kind: &str, urgency: &str, narrative: &str| {
        let body = json!({ "kind": kind, "urgency": urgency, "country": "KE", "region": "Rift Valley",
            "narrative": narrative, "safe_contact": "through the network coordinator", "consent_scope": ["embassy"] });
        let r = app.post("/api/v1/alerts", Some(&w.owner_coord.token), body);
        assert_eq!(r.status, 201, "{r:?}");
        r.json()["id"].as_str().unwrap().to_string()
    };
    let threat = post_alert("threat_received", "high", "Two men followed her home from the hearing");
    let smear = post_alert("smear_campaign", "medium", "Posts call her a foreign agent");
    // Her message on the status page before triage shows on the alert page.
    {
        let st = app.state();
        st.db
            .write_blocking(|c| {
                let a = haven::db::models::Alert::find(c, &threat)?.unwrap();
                haven::domain::messages::from_defender(c, &st.ctx(st.clock.now()), &a, "They came back tonight")?;
                Ok(())
            })
            .unwrap();
    }
    let coord = signed_in(&app, &w.owner_coord);
    let list = coord.get("/console/alerts");
    assert_eq!(list.status, 200, "{list:?}");
    assert!(
        list.text.contains(&format!("/console/alerts/{threat}"))
            && list.text.contains(&format!("/console/alerts/{smear}"))
    );
    assert!(!list.text.contains("followed her home"), "no narrative in a list");
    let filtered = coord.get("/console/alerts?status=received&kind=smear_campaign&country=ke&since=2000-01-01");
    assert!(filtered.text.contains(&smear) && !filtered.text.contains(&threat), "filtered by kind");
    let high = coord.get("/console/alerts?urgency=high");
    assert!(high.text.contains(&threat) && !high.text.contains(&smear), "filtered by urgency");
    assert!(high.text.contains("<option value=\"high\" selected>"), "the filter shows what she chose");
    let api = app.get("/api/v1/alerts?urgency=medium", Some(&w.owner_coord.token)).json();
    assert_eq!(api["items"].as_array().unwrap().len(), 1);
    assert_eq!(api["items"][0]["id"], json!(smear));
    assert!(
        coord.get("/console/alerts?kind=nonsense&urgency=dire&since=yesterday").status == 200,
        "a bad filter is ignored"
    );

    let page = coord.get(&format!("/console/alerts/{threat}"));
    assert_eq!(page.status, 200);
    let short = &threat[threat.len() - 8..];
    assert!(page.text.contains(&format!("<span dir=\"ltr\">{short}</span>")), "named as the mails name it");
    for shown in [
        "Two men followed her home from the hearing",
        "Rift Valley",
        "through the network coordinator",
        "They came back tonight",
        "Embassies",
    ] {
        assert!(page.text.contains(shown), "{shown} missing on the alert page");
    }
    // An officer's role does not list alerts; an untriaged alert does not exist for her, nor
    // for another organisation: the same page as for no alert at all.
    let officer = signed_in(&app, &w.assigned_officer);
    assert_eq!(officer.get("/console/alerts").status, 403);
    let other = signed_in(&app, &w.other_coord);
    let foreign = other.get(&format!("/console/alerts/{threat}"));
    let missing = other.get("/console/alerts/01900000-0000-7000-8000-000000000000");
    assert_eq!((foreign.status, missing.status), (404, 404));
    assert_eq!(unmasked(&foreign.text), unmasked(&missing.text));
    assert!(!foreign.text.contains("Rift Valley"));

    // Triage into a new case: one POST, then the alert page says where it went.
    let csrf = crate::form::input_value(&page.text, "csrf");
    let version = crate::form::input_value(&page.text, "version");
    let r = coord.post(
        &format!("/console/alerts/{threat}/triage"),
        &[("mode", "new"), ("version", &version), ("severity", "critical"), ("summary", "")],
    );
    assert_eq!(r.status, 403, "no CSRF token, no triage");
    assert_eq!(app.count(&format!("alerts WHERE id = '{threat}' AND status = 'received'")), 1);
    let r = coord.post(
        &format!("/console/alerts/{threat}/triage"),
        &[
            ("csrf", &csrf),
            ("mode", "new"),
            ("version", &version),
            ("severity", "critical"),
            ("summary", "Followed after the land hearing"),
        ],
    );
    assert_eq!((r.status, r.header("location")), (303, Some(format!("/console/alerts/{threat}").as_str())));
    let after = coord.get(&format!("/console/alerts/{threat}"));
    let reference = after
        .text
        .split("class=\"ref\" dir=\"ltr\">")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .expect("case reference")
        .to_string();
    assert!(reference.starts_with("HVN-"), "{reference}");
    assert!(!after.text.contains("/triage\""), "no triage form on a triaged alert");
    assert_eq!(app.count(&format!("cases WHERE reference = '{reference}' AND severity = 'critical'")), 1);

    // The second alert: a stale form comes back with the alert as it is and what she typed.
    let page = coord.get(&format!("/console/alerts/{smear}"));
    let csrf = crate::form::input_value(&page.text, "csrf");
    let version: i32 = crate::form::input_value(&page.text, "version").parse().unwrap();
    let stale = (version - 1).to_string();
    let r = coord.post(
        &format!("/console/alerts/{smear}/dismiss"),
        &[("csrf", &csrf), ("version", &stale), ("reason", "Not a protection matter, kept")],
    );
    assert_eq!(r.status, 409);
    assert!(
        r.text.contains("Someone changed this alert meanwhile") && r.text.contains("Not a protection matter, kept"),
        "{}",
        r.text
    );
    let r = coord.post(
        &format!("/console/alerts/{smear}/dismiss"),
        &[("csrf", &csrf), ("version", &version.to_string()), ("reason", "  ")],
    );
    assert_eq!(r.status, 422);
    assert!(r.text.contains("href=\"#reason\""));
    // Into an existing case, found by its reference as typed (any case of letters).
    let r = coord.post(
        &format!("/console/alerts/{smear}/triage"),
        &[("csrf", &csrf), ("mode", "existing"), ("version", &version.to_string()), ("reference", "HVN-1999-999999")],
    );
    assert_eq!(r.status, 422);
    assert!(r.text.contains("No case with this reference that you may change.") && r.text.contains("HVN-1999-999999"));
    let r = coord.post(
        &format!("/console/alerts/{smear}/triage"),
        &[
            ("csrf", &csrf),
            ("mode", "existing"),
            ("version", &version.to_string()),
            ("reference", &reference.to_lowercase()),
        ],
    );
    assert_eq!(r.status, 303, "{r:?}");
    let case_id: String = {
        let mut c = app.state().db.get().unwrap();
        haven::db::models::Alert::find(&mut c, &smear).unwrap().unwrap().case_id.expect("triaged into the case")
    };
    assert_eq!(app.count(&format!("cases WHERE id = '{case_id}' AND reference = '{reference}'")), 1);
    // The API finds the case by its reference too, within need-to-know.
    let found = app.get(&format!("/api/v1/cases?reference={reference}"), Some(&w.owner_coord.token)).json();
    assert_eq!(found["items"].as_array().unwrap().len(), 1);
    let none = app.get(&format!("/api/v1/cases?reference={reference}"), Some(&w.other_coord.token)).json();
    assert_eq!(none["items"].as_array().unwrap().len(), 0);
});

/// Names a member of staff as her colleagues know her.
fn rename(app: &TestApp, p: &Person, name: &str) {
    app.sql(&format!("UPDATE users SET name = '{name}' WHERE id = '{}'", p.id));
}

/// The `action` of the first form on a page whose action ends with `tail`.
fn first_action<'p>(page: &'p str, tail: &str) -> Option<&'p str> {
    page.split("action=\"").filter_map(|s| s.split('"').next()).find(|a| a.ends_with(tail))
}

/// The link to each case in a list page, in the order shown.
fn listed_cases(page: &str) -> Vec<String> {
    page.split("href=\"/console/cases/").skip(1).filter_map(|s| s.split('"').next()).map(str::to_string).collect()
}

db_test!(the_case_list_sorts_by_deadline_and_finds_a_case_by_its_reference_or_an_alerts_short_id, |app| {
    let w = cast(&app);
    rename(&app, &w.assigned_officer, "Amina Diallo");
    let quiet = w.shared_case(&app);
    let urgent = w.shared_case(&app);
    // The second case has a plan to review in three days: it comes first.
    let review_by = (chrono::Utc::now() + Duration::days(3)).format("%Y-%m-%d").to_string();
    let r = app.post(
        &format!("/api/v1/cases/{urgent}/plans"),
        Some(&w.owner_coord.token),
        json!({ "summary": "Safe routes", "review_by": review_by }),
    );
    assert_eq!(r.status, 201, "{r:?}");
    let r =
        app.patch(&format!("/api/v1/cases/{urgent}"), Some(&w.owner_coord.token), json!({ "severity": "critical" }));
    assert!(r.status == 200, "{r:?}");
    let reference_of = |id: &str| {
        app.get(&format!("/api/v1/cases/{id}"), Some(&w.owner_coord.token)).json()["reference"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (quiet_ref, urgent_ref) = (reference_of(&quiet), reference_of(&urgent));

    let coord = signed_in(&app, &w.owner_coord);
    let list = coord.get("/console/cases");
    assert_eq!(list.status, 200, "{list:?}");
    assert_eq!(listed_cases(&list.text), vec![urgent.clone(), quiet.clone()], "nearest deadline first");
    assert!(list.text.contains(&format!("Plan review <span dir=\"ltr\">{review_by}</span>")), "{}", list.text);
    assert!(list.text.contains("Amina Diallo"), "assignees by name");
    assert!(!list.text.contains("Threats after a land-rights hearing"), "no sealed content in a list");
    assert!(list.text.contains("aria-current=\"page\">Cases"));
    let critical = coord.get("/console/cases?severity=critical&status=open&country=co");
    assert_eq!(listed_cases(&critical.text), vec![urgent.clone()]);
    assert_eq!(coord.get("/console/cases?severity=nonsense&page=x").status, 200, "a bad filter is ignored");

    // By reference as typed, in any case of letters.
    let found = coord.get(&format!("/console/cases?q={}", quiet_ref.to_lowercase()));
    assert_eq!(listed_cases(&found.text), vec![quiet.clone()]);
    // By the eight characters a mail names an alert by: the case it went into, or the alert
    // itself while it is in none.
    let alert = |narrative: &str| {
        let body = json!({ "kind": "surveillance", "urgency": "high", "country": "CO", "narrative": narrative, "consent_scope": [] });
        let r = app.post("/api/v1/alerts", Some(&w.owner_coord.token), body);
        assert_eq!(r.status, 201, "{r:?}");
        r.json()["id"].as_str().unwrap().to_string()
    };
    let triaged = alert("A car outside her office every night");
    let r =
        app.post(&format!("/api/v1/alerts/{triaged}/triage"), Some(&w.owner_coord.token), json!({ "case_id": urgent }));
    assert_eq!(r.status, 200, "{r:?}");
    let short = &triaged[triaged.len() - 8..];
    let found = coord.get(&format!("/console/cases?q={}", short.to_uppercase()));
    assert_eq!(listed_cases(&found.text), vec![urgent.clone()], "{}", found.text);
    let waiting = alert("Her phone was taken at the border");
    let short = &waiting[waiting.len() - 8..];
    let found = coord.get(&format!("/console/cases?q={short}"));
    assert!(listed_cases(&found.text).is_empty());
    assert!(found.text.contains(&format!("/console/alerts/{waiting}")) && found.text.contains("not in a case yet"));
    let nonsense = coord.get("/console/cases?q=what");
    assert_eq!(nonsense.status, 422);
    assert!(nonsense.text.contains("href=\"#q\"") && nonsense.text.contains("aria-invalid=\"true\""));

    // Need-to-know: an officer sees the cases she is assigned to, another organisation's
    // coordinator finds nothing by reference or short id.
    let officer = signed_in(&app, &w.assigned_officer);
    let mine = officer.get("/console/cases?mine=1");
    assert_eq!(listed_cases(&mine.text).len(), 2);
    // "Shared with us": the embassy's coordinator sees the UN office's two cases there; the
    // UN office has none shared with it. The API filters the same way.
    let embassy = Person::new(&app, Role::Coordinator, &w.partner_org);
    let theirs = signed_in(&app, &embassy);
    let shared = theirs.get("/console/cases?shared=1");
    assert_eq!(listed_cases(&shared.text).len(), 2, "{}", shared.text);
    assert!(listed_cases(&coord.get("/console/cases?shared=1").text).is_empty());
    let api = |token: &str| {
        app.get("/api/v1/cases?shared_with_us=true", Some(token)).json()["items"].as_array().map_or(0, Vec::len)
    };
    assert_eq!((api(&embassy.token), api(&w.owner_coord.token)), (2, 0));
    let other = signed_in(&app, &w.other_coord);
    let none = other.get(&format!("/console/cases?q={urgent_ref}"));
    assert!(listed_cases(&none.text).is_empty() && none.text.contains("Nothing you may see has this reference."));
    let none = other.get(&format!("/console/cases?q={short}"));
    assert!(!none.text.contains(&waiting), "another organisation's alert is not found");
    assert!(listed_cases(&other.get("/console/cases").text).is_empty());
});

db_test!(the_case_file_moves_the_case_on_keeps_notes_and_assigns_by_need_to_know, |app| {
    let w = cast(&app);
    rename(&app, &w.owner_coord, "Sofia Herrera");
    rename(&app, &w.second_coord, "Nadia Haddad");
    rename(&app, &w.assigned_officer, "Amina Diallo");
    let case = w.shared_case(&app);
    let path = format!("/console/cases/{case}");
    let coord = signed_in(&app, &w.owner_coord);
    let page = coord.get(&path);
    assert_eq!(page.status, 200, "{page:?}");
    for shown in ["Threats after a land-rights hearing", "Amina Diallo", "UN Human Rights Office", ">Acknowledge<"] {
        assert!(page.text.contains(shown), "{shown} missing on the case file");
    }
    let csrf = crate::form::input_value(&page.text, "csrf");
    let version = crate::form::input_value(&page.text, "version");

    // The workflow, at the version her page showed.
    let r = coord.post(&format!("{path}/status"), &[("version", &version), ("to", "acknowledged")]);
    assert_eq!(r.status, 403, "no CSRF token, no change");
    let r = coord.post(&format!("{path}/status"), &[("csrf", &csrf), ("version", &version), ("to", "acknowledged")]);
    assert_eq!((r.status, r.header("location")), (303, Some(format!("{path}?n=status").as_str())));
    assert_eq!(app.count(&format!("cases WHERE id = '{case}' AND status = 'acknowledged'")), 1);
    let stale = coord.post(
        &format!("{path}/status"),
        &[("csrf", &csrf), ("version", &version), ("to", "closed"), ("reason", "Relocated safely")],
    );
    assert_eq!(stale.status, 409);
    assert!(stale.text.contains("Someone changed this case meanwhile") && stale.text.contains("Relocated safely"));
    let page = coord.get(&path);
    let version = crate::form::input_value(&page.text, "version");
    let r = coord.post(&format!("{path}/status"), &[("csrf", &csrf), ("version", &version), ("to", "closed")]);
    assert_eq!(r.status, 422, "closing needs a reason");
    assert!(r.text.contains("href=\"#reason\""));
    let r = coord.post(
        &format!("{path}/status"),
        &[("csrf", &csrf), ("version", &version), ("to", "closed"), ("reason", "Relocated safely")],
    );
    assert_eq!(r.status, 303, "{r:?}");
    let page = coord.get(&path);
    assert!(page.text.contains(">Reopen<") && page.text.contains("Relocated safely"), "history with its reason");
    assert!(page.text.contains("Sofia Herrera"), "who moved it, by name");
    assert_eq!(app.count("case_transitions WHERE reason_ct IS NOT NULL"), 1);

    // Notes: sealed at rest, shown with their author.
    let r = coord.post(&format!("{path}/notes"), &[("csrf", &csrf), ("kind", "decision"), ("body", "   ")]);
    assert_eq!(r.status, 422);
    assert!(r.text.contains("href=\"#note\""));
    let r = coord.post(
        &format!("{path}/notes"),
        &[("csrf", &csrf), ("kind", "decision"), ("body", "Temporary relocation agreed with the family")],
    );
    assert_eq!((r.status, r.header("location")), (303, Some(format!("{path}?n=note").as_str())));
    let page = coord.get(&format!("{path}?n=note"));
    assert!(page.text.contains("Temporary relocation agreed with the family") && page.text.contains("Decision"));
    assert!(page.text.contains("The note is added."));
    assert_eq!(app.count(&format!("case_notes WHERE case_id = '{case}' AND kind = 'decision'")), 1);

    // Assignment: by name from her colleagues; someone else is refused with the page.
    assert!(page.text.contains(&format!("<option value=\"{}\">Nadia Haddad</option>", w.second_coord.id)));
    let r = coord.post(&format!("{path}/assignees"), &[("csrf", &csrf), ("user", &w.other_coord.id)]);
    assert_eq!(r.status, 422);
    assert!(r.text.contains("Choose a colleague from the list."));
    let r = coord.post(&format!("{path}/assignees"), &[("csrf", &csrf), ("user", &w.second_coord.id)]);
    assert_eq!(r.status, 303);
    assert_eq!(app.count(&format!("case_assignees WHERE case_id = '{case}'")), 2);
    let r = coord.post(&format!("{path}/assignees/remove"), &[("csrf", &csrf), ("user", &w.second_coord.id)]);
    assert_eq!((r.status, r.header("location")), (303, Some(format!("{path}?n=unassigned").as_str())));
    assert_eq!(app.count(&format!("case_assignees WHERE case_id = '{case}'")), 1);

    // The assigned officer may add notes but not assign; a coordinator of another
    // organisation, or an officer not on the case, gets the console's 404 as for no case.
    let officer = signed_in(&app, &w.assigned_officer);
    let hers = officer.get(&path);
    assert_eq!(hers.status, 200);
    assert!(hers.text.contains("/notes\"") && !hers.text.contains("/assignees\""), "{}", hers.text);
    let ocsrf = crate::form::input_value(&hers.text, "csrf");
    let r = officer.post(&format!("{path}/assignees"), &[("csrf", &ocsrf), ("user", &w.second_coord.id)]);
    assert_eq!(r.status, 403, "her role may not assign");
    let missing = "/console/cases/01900000-0000-7000-8000-000000000000";
    for p in [&w.other_coord, &w.unrelated_officer] {
        let d = signed_in(&app, p);
        let (foreign, none) = (d.get(&path), d.get(missing));
        assert_eq!((foreign.status, none.status), (404, 404));
        assert_eq!(unmasked(&foreign.text), unmasked(&none.text));
        let csrf = crate::form::input_value(&d.get("/console/account").text, "csrf");
        let r = d.post(&format!("{path}/notes"), &[("csrf", &csrf), ("kind", "note"), ("body", "x")]);
        assert_eq!(r.status, 404, "no note on a case she may not see");
    }
    assert_eq!(app.count(&format!("case_notes WHERE case_id = '{case}'")), 1);
});

db_test!(the_case_file_writes_to_her_and_asks_for_check_ins, |app| {
    let w = cast(&app);
    rename(&app, &w.owner_coord, "Sofia Herrera");
    let r = app.request("PUT", "/api/v1/form/intake", Some(&w.admin), Some(&json!({ "organization_id": w.owner_org })));
    assert!(r.status == 200 || r.status == 204, "{r:?}");
    let (receipt, _) = crate::form::file_alert(&app, "en", "Men from the mine came to my door twice");
    let alerts = app.get("/api/v1/alerts", Some(&w.owner_coord.token)).json();
    let alert = alerts["items"][0]["id"].as_str().expect("her alert").to_string();
    let r = app.post(
        &format!("/api/v1/alerts/{alert}/triage"),
        Some(&w.owner_coord.token),
        json!({ "new_case": { "severity": "high" } }),
    );
    assert_eq!(r.status, 200, "{r:?}");
    let case = r.json()["case_id"].as_str().or(r.json()["id"].as_str()).expect("case id").to_string();
    let path = format!("/console/cases/{case}");

    // She writes first, from her status page; the team reads it on the case file.
    let portal = crate::form::open_portal(&app, &receipt);
    assert_eq!(portal.status, 200, "{portal:?}");
    let t = crate::form::input_value(&portal.text, "t");
    let r = crate::form::post_form(
        &app,
        "/status/reply",
        &[("lang", "en"), ("t", &t), ("body", "They watch the school gate")],
    );
    assert!(r.status == 200 || r.status == 303, "{r:?}");
    let coord = signed_in(&app, &w.owner_coord);
    let page = coord.get(&path);
    assert!(page.text.contains("id=\"h-messages\"") && page.text.contains("/messages\""), "{}", page.text);
    assert!(page.text.contains("She wrote") && page.text.contains("They watch the school gate"), "{}", page.text);
    let csrf = crate::form::input_value(&page.text, "csrf");
    // "My work" lists the case: her newest message waits for an answer.
    let home = coord.get("/console/");
    let waiting = home
        .text
        .split("id=\"h-waiting\"")
        .nth(1)
        .unwrap_or_default()
        .split("</section>")
        .next()
        .unwrap_or_default()
        .to_string();
    assert!(waiting.contains(&format!("/console/cases/{case}")), "{}", home.text);
    let r = coord.post(&format!("{path}/messages"), &[("csrf", &csrf), ("body", " ")]);
    assert_eq!(r.status, 422);
    assert!(r.text.contains("href=\"#reply\""));
    let r = coord.post(
        &format!("{path}/messages"),
        &[("csrf", &csrf), ("body", "We have spoken to the embassy. Stay with your sister tonight.")],
    );
    assert_eq!((r.status, r.header("location")), (303, Some(format!("{path}?n=sent").as_str())));
    let page = coord.get(&format!("{path}?n=sent"));
    assert!(page.text.contains("Stay with your sister tonight.") && page.text.contains("Sofia Herrera"));
    assert!(page.text.contains("Your message is sent."));
    assert_eq!(app.count("messages WHERE direction = 'to_defender'"), 1);
    let home = coord.get("/console/");
    assert!(home.text.contains("No message is waiting for an answer."), "answered: no longer waiting");
    // She reads it with her receipt.
    let portal = crate::form::open_portal(&app, &receipt);
    assert!(crate::form::unescape(&portal.text).contains("Stay with your sister tonight."), "{}", portal.text);

    // A check-in by a day: a bad day comes back with her typing, a good one is asked for.
    let r = coord.post(&format!("{path}/checkins"), &[("csrf", &csrf), ("due", "2001-01-01")]);
    assert_eq!(r.status, 422);
    assert!(r.text.contains("href=\"#checkin-due\"") && r.text.contains("value=\"2001-01-01\""));
    let day = (chrono::Utc::now() + Duration::days(2)).format("%Y-%m-%d").to_string();
    let r = coord.post(&format!("{path}/checkins"), &[("csrf", &csrf), ("due", &day)]);
    assert_eq!((r.status, r.header("location")), (303, Some(format!("{path}?n=checkin").as_str())));
    let page = coord.get(&path);
    assert!(page.text.contains(&format!("{day} 23:59 UTC")) && page.text.contains("Waiting"), "{}", page.text);
    let home = coord.get("/console/");
    assert!(home.text.contains("No check-in is due in the next two days."), "{day} is further than 48 hours");
    let tomorrow = (chrono::Utc::now() + Duration::days(1)).format("%Y-%m-%d").to_string();
    assert_eq!(coord.post(&format!("{path}/checkins"), &[("csrf", &csrf), ("due", &tomorrow)]).status, 303);
    let home = coord.get("/console/");
    assert!(home.text.contains(&format!("{tomorrow} 23:59 UTC")), "due tomorrow: on My work");
    let page = coord.get(&path);
    let close = first_action(&page.text, "/close");
    let close = close.expect("a close form").to_string();
    // Another case's page cannot close it.
    let other = w.shared_case(&app);
    let foreign = close.replace(&case, &other);
    assert_eq!(coord.post(&foreign, &[("csrf", &csrf), ("status", "confirmed")]).status, 404);
    let r = coord.post(&close, &[("csrf", &csrf), ("status", "confirmed")]);
    assert_eq!(r.status, 303, "{r:?}");
    assert_eq!(app.count(&format!("checkins WHERE case_id = '{case}' AND status = 'confirmed'")), 1);
    assert_eq!(app.count(&format!("checkins WHERE case_id = '{case}' AND status = 'pending'")), 1);
    let again = coord.post(&close, &[("csrf", &csrf), ("status", "cancelled")]);
    assert_eq!(again.status, 409, "already closed: the page as it is now");
    assert!(coord.get(&path).text.contains("Confirmed"));

    // Closed, the case takes no message and no check-in; the page says why.
    let page = coord.get(&path);
    let version = crate::form::input_value(&page.text, "version");
    let r = coord.post(
        &format!("{path}/status"),
        &[("csrf", &csrf), ("version", &version), ("to", "closed"), ("reason", "She is safe abroad")],
    );
    assert_eq!(r.status, 303);
    let page = coord.get(&path);
    assert!(page.text.contains("Reopen the case to write to her") && !page.text.contains("/checkins\""));
    // A case without a form alert: she cannot read messages, and the page says so.
    let page = coord.get(&format!("/console/cases/{other}"));
    assert!(page.text.contains("She did not file through the form"), "{}", page.text);
});

// One connection, so every statement a page runs is counted on it; no engine pass meanwhile.
crate::db_test_with!(
    the_case_pages_run_as_many_statements_for_many_records_as_for_few,
    |c: &mut haven::config::Config| {
        c.db_max_connections = 1;
        c.escalation_interval_ms = 3_600_000;
    },
    |app| {
        let w = cast(&app);
        let coord = signed_in(&app, &w.owner_coord);
        let statements = |path: &str| -> u64 {
            // Warm: a first visit may refresh her session.
            assert_eq!(coord.get(path).status, 200, "{path}");
            let before = app.state().db.get().expect("the one connection").statements();
            let r = coord.get(path);
            assert_eq!(r.status, 200, "{path}: {r:?}");
            app.state().db.get().expect("the one connection").statements() - before
        };
        let token = w.owner_coord.token.clone();
        let fill = |case: &str, n: usize| {
            for i in 0..n {
                let day = (chrono::Utc::now() + Duration::days(2 + i as i64)).format("%Y-%m-%d").to_string();
                let plan = json!({ "summary": format!("Plan {i}"), "review_by": day });
                assert_eq!(app.post(&format!("/api/v1/cases/{case}/plans"), Some(&token), plan).status, 201);
                let note = json!({ "kind": "note", "body": format!("Note {i}") });
                assert_eq!(app.post(&format!("/api/v1/cases/{case}/notes"), Some(&token), note).status, 201);
                let checkin = json!({ "due_at": day });
                assert_eq!(app.post(&format!("/api/v1/cases/{case}/checkins"), Some(&token), checkin).status, 201);
                let assessment = json!({
                    "threats": [{ "facts": "f", "source_actor": "unknown", "public": false, "likelihood": 2, "impact": 2 }],
                    "reassess_by": day
                });
                assert_eq!(
                    app.post(&format!("/api/v1/cases/{case}/assessments"), Some(&token), assessment).status,
                    201
                );
                let relocation = json!({
                    "kind": "in_country", "destination_country": "CO", "beneficiaries": ["her"],
                    "starts_on": day, "ends_on": (chrono::Utc::now() + Duration::days(60)).format("%Y-%m-%d").to_string()
                });
                assert_eq!(
                    app.post(&format!("/api/v1/cases/{case}/relocations"), Some(&token), relocation).status,
                    201
                );
            }
        };
        let first = w.shared_case(&app);
        fill(&first, 1);
        let file = format!("/console/cases/{first}");
        let (few_list, few_file) = (statements("/console/cases"), statements(&file));
        for _ in 0..6 {
            let more = w.shared_case(&app);
            fill(&more, 1);
        }
        fill(&first, 6);
        let r = app.post(
            &format!("/api/v1/cases/{first}/assignees"),
            Some(&token),
            json!({ "user_id": w.second_coord.id }),
        );
        assert_eq!(r.status, 200, "{r:?}");
        let (many_list, many_file) = (statements("/console/cases"), statements(&file));
        // The weight budget: each page with its stylesheet, gzipped, at most 30 KB.
        let gz = |bytes: &[u8]| {
            use std::io::Write;
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(bytes).expect("gzip");
            e.finish().expect("gzip").len()
        };
        let css = gz(coord.get("/console/console.css").text.as_bytes());
        for path in ["/console/", "/console/cases", file.as_str(), "/console/escalations", "/console/alerts"] {
            let page = gz(coord.get(path).text.as_bytes());
            eprintln!("weight: {path}: {page} B gzipped, + {css} B of stylesheet");
            assert!(page + css <= 30 * 1024, "{path} weighs {page} + {css} B gzipped");
        }
        eprintln!("statements: case list {few_list} → {many_list} (1 → 7 cases), case file {few_file} → {many_file}");
        assert_eq!(many_list, few_list, "the case list runs a query per case");
        assert_eq!(many_file, few_file, "the case file runs a query per record");
    }
);

db_test!(the_case_file_shares_within_her_consent_and_acknowledges_its_escalations, |app| {
    let w = cast(&app);
    let case = w.shared_case(&app);
    let path = format!("/console/cases/{case}");
    let ngo = app.get("/api/v1/me", Some(&w.other_coord.token)).json()["organization_id"].as_str().unwrap().to_string();
    let coord = signed_in(&app, &w.owner_coord);
    let page = coord.get(&path);
    assert!(page.text.contains("Embassy of Ireland") && page.text.contains("consent form 2026-11-20"), "{}", page.text);
    assert!(page.text.contains("Her consent covers: Embassies, UN agencies"), "her consent scope, before she types");
    assert!(page.text.contains("Unrelated NGO (not covered by her consent)"));
    let csrf = crate::form::input_value(&page.text, "csrf");
    let until = (chrono::Utc::now() + Duration::days(20)).format("%Y-%m-%d").to_string();
    let share = |consent: &str, until: &str, reason: &str| {
        coord.post(
            &format!("{path}/shares"),
            &[("csrf", &csrf), ("org", &ngo), ("consent", consent), ("until", until), ("override", reason)],
        )
    };
    let r = share("call note 2026-12-01", &until, "");
    assert_eq!(r.status, 422, "outside her consent: a reason first");
    assert!(r.text.contains("href=\"#share-override\"") && r.text.contains("call note 2026-12-01"), "typing kept");
    let r = share("call note 2026-12-01", "next week", "");
    assert_eq!(r.status, 422);
    assert!(r.text.contains("href=\"#share-until\""));
    let r = share("call note 2026-12-01", &until, "Her lawyer works with this NGO; she agreed by phone");
    assert_eq!((r.status, r.header("location")), (303, Some(format!("{path}?n=shared").as_str())));
    assert_eq!(app.count(&format!("case_shares WHERE case_id = '{case}' AND override_reason_ct IS NOT NULL")), 1);
    let theirs = signed_in(&app, &w.other_coord);
    assert_eq!(theirs.get(&path).status, 200, "the NGO now reads the case");

    // Ending the embassy's share: its officer no longer sees the case.
    let embassy = signed_in(&app, &w.sharing_officer);
    assert_eq!(embassy.get(&path).status, 200);
    let r = coord.post(&format!("{path}/shares/end"), &[("csrf", &csrf), ("org", &w.partner_org)]);
    assert_eq!((r.status, r.header("location")), (303, Some(format!("{path}?n=unshared").as_str())));
    assert_eq!(embassy.get(&path).status, 404);
    assert!(!coord.get(&path).text.contains("consent form 2026-11-20"), "an ended share is not listed");

    // A critical case escalates until someone acknowledges it, from its own page.
    let body = json!({ "severity": "critical", "country": "CO", "consent_scope": ["un_agency"], "summary": "Arrested at dawn" });
    let r = app.post("/api/v1/cases", Some(&w.owner_coord.token), body);
    assert_eq!(r.status, 201, "{r:?}");
    let critical = r.json()["id"].as_str().unwrap().to_string();
    let cpath = format!("/console/cases/{critical}");
    let page = coord.get(&cpath);
    assert!(page.text.contains("id=\"h-case-esc\""));
    let ack = first_action(&page.text, "/ack");
    let ack = ack.expect("an acknowledge button").to_string();
    let r = coord.post(&ack, &[("csrf", &csrf), ("back", &cpath)]);
    assert_eq!((r.status, r.header("location")), (303, Some(format!("{cpath}?n=acked").as_str())));
    assert_eq!(app.count(&format!("escalations WHERE case_id = '{critical}' AND status = 'active'")), 0);
    assert!(coord.get(&cpath).text.contains("No escalation is running."));
    // A "back" outside the console is not followed: she lands on her own work.
    let body = json!({ "severity": "critical", "country": "CO", "consent_scope": [], "summary": "Second arrest" });
    let second = app.post("/api/v1/cases", Some(&w.owner_coord.token), body).json()["id"].as_str().unwrap().to_string();
    let page = coord.get(&format!("/console/cases/{second}"));
    let ack = first_action(&page.text, "/ack");
    let r = coord.post(ack.expect("an acknowledge button"), &[("csrf", &csrf), ("back", "https://evil.example/")]);
    assert_eq!((r.status, r.header("location")), (303, Some("/console/?n=acked")));
});

db_test!(the_escalations_page_lists_hers_and_acknowledges_them, |app| {
    let w = cast(&app);
    let body = json!({ "kind": "arrest_detention", "urgency": "critical", "country": "SD", "narrative": "Taken from the march", "consent_scope": [] });
    let r = app.post("/api/v1/alerts", Some(&w.owner_coord.token), body);
    assert_eq!(r.status, 201, "{r:?}");
    let alert = r.json()["id"].as_str().unwrap().to_string();
    let coord = signed_in(&app, &w.owner_coord);
    let page = coord.get("/console/escalations");
    assert_eq!(page.status, 200);
    assert!(page.text.contains(&format!("Alert {}", &alert[alert.len() - 8..])), "{}", page.text);
    assert!(page.text.contains("aria-current=\"page\">Escalations"));
    assert!(!page.text.contains("Taken from the march"), "no sealed content in a list");
    let csrf = crate::form::input_value(&page.text, "csrf");
    let ack = first_action(&page.text, "/ack");
    let r = coord.post(ack.expect("acknowledge"), &[("csrf", &csrf), ("back", "/console/escalations")]);
    assert_eq!((r.status, r.header("location")), (303, Some("/console/escalations?n=acked")));
    let page = coord.get("/console/escalations?n=acked");
    assert!(page.text.contains("Acknowledged.") && page.text.contains("Nothing is waiting for you."));
    // Another organisation's coordinator never sees it.
    let other = signed_in(&app, &w.other_coord);
    assert!(!other.get("/console/escalations").text.contains(&alert[alert.len() - 8..]));
});

/// Where `needle` first appears on a page (for order: newest first means a smaller index).
fn at(page: &str, needle: &str) -> usize {
    page.find(needle).unwrap_or_else(|| panic!("{needle} is not on the page"))
}

db_test!(the_case_file_shows_one_timeline_newest_first_with_names, |app| {
    let w = cast(&app);
    rename(&app, &w.owner_coord, "Sofia Herrera");
    rename(&app, &w.second_coord, "Nadia Haddad");
    let (t, t2) = (Some(w.owner_coord.token.as_str()), Some(w.second_coord.token.as_str()));
    let in_days = |d: i64| (haven::clock::Clock::now(&app.clock) + Duration::days(d)).format("%Y-%m-%d").to_string();
    let later = || app.clock.advance(Duration::seconds(30));
    // A critical case: its escalation starts at once, and stops when the case is acknowledged.
    let body = json!({ "severity": "critical", "country": "CO", "consent_scope": ["embassy"], "summary": "s" });
    let r = app.post("/api/v1/cases", t, body);
    assert_eq!(r.status, 201, "{r:?}");
    let case = r.json()["id"].as_str().unwrap().to_string();
    let base = format!("/api/v1/cases/{case}");
    later();
    let r = app.post(&format!("{base}/transitions"), t, json!({ "to": "acknowledged" }));
    assert_eq!(r.status, 200, "{r:?}");
    later();
    let note = json!({ "kind": "contact_log", "body": "Spoke to her lawyer about the hearing" });
    assert_eq!(app.post(&format!("{base}/notes"), t, note).status, 201);
    later();
    let assessment = json!({
        "threats": [{ "facts": "f", "source_actor": "unknown", "public": false, "likelihood": 4, "impact": 5 }],
        "reassess_by": in_days(30)
    });
    assert_eq!(app.post(&format!("{base}/assessments"), t, assessment).status, 201);
    later();
    let plan = app.post(&format!("{base}/plans"), t, json!({ "review_by": in_days(30) }));
    assert_eq!(plan.status, 201, "{plan:?}");
    later();
    let plan_path = format!("/api/v1/plans/{}", plan.json()["id"].as_str().unwrap());
    let r = app.patch(&plan_path, t2, json!({ "status": "approved" }));
    assert_eq!(r.status, 200, "{r:?}");
    later();
    let relocation = json!({
        "kind": "international", "destination_country": "ES", "beneficiaries": ["her"],
        "starts_on": in_days(10), "ends_on": in_days(40)
    });
    assert_eq!(app.post(&format!("{base}/relocations"), t, relocation).status, 201);

    let coord = signed_in(&app, &w.owner_coord);
    let page = coord.get(&format!("/console/cases/{case}"));
    assert_eq!(page.status, 200, "{page:?}");
    let timeline = &page.text[at(&page.text, "id=\"h-timeline\"")..];
    let newest_first = [
        "Relocation requested (abroad) · now: requested",
        "Security plan approved",
        "Security plan drafted",
        "Risk assessment, version 1 · level: High",
        "Spoke to her lawyer about the hearing",
        "Escalation stopped: handled in time: Case",
        "Status changed: Open → Acknowledged",
        "Escalation started: Case",
        "Case opened",
    ];
    for pair in newest_first.windows(2) {
        assert!(at(timeline, pair[0]) < at(timeline, pair[1]), "{} should come before {}", pair[0], pair[1]);
    }
    assert!(timeline.contains("Nadia Haddad"), "the approver, by name");
    assert!(timeline.contains("Sofia Herrera"), "the author, by name");
    assert!(!timeline.contains(&w.second_coord.id), "people by name, never by id");

    // An officer of the partner organisation, while the share lasts, reads the same timeline
    // (the policy lets a partner read notes, assessments, plans and relocations).
    let partner = signed_in(&app, &w.sharing_officer);
    let r = app.post(
        &format!("{base}/shares"),
        t,
        json!({ "organization_id": w.partner_org, "consent_reference": "c", "expires_at": in_days(20) }),
    );
    assert_eq!(r.status, 200, "{r:?}");
    // Shared with a second partner too: neither partner learns of the other.
    let unrelated_org = app.get("/api/v1/me", Some(w.other_coord.token.as_str())).json()["organization_id"].clone();
    let r = app.post(
        &format!("{base}/shares"),
        t,
        json!({ "organization_id": unrelated_org, "consent_reference": "c", "expires_at": in_days(20), "override_reason": "asked" }),
    );
    assert_eq!(r.status, 200, "{r:?}");
    let theirs = partner.get(&format!("/console/cases/{case}"));
    assert_eq!(theirs.status, 200, "{theirs:?}");
    assert!(
        theirs.text.contains("Embassy of Ireland") && !theirs.text.contains("Unrelated NGO"),
        "no other partner's name"
    );
    assert!(coord.get(&format!("/console/cases/{case}")).text.contains("Unrelated NGO"), "the owner sees every share");
    assert!(theirs.text.contains("Status changed: Open → Acknowledged"));
    assert!(theirs.text.contains("Spoke to her lawyer") && theirs.text.contains("Security plan approved"));
    assert!(!theirs.text.contains("/notes\"") || theirs.text.contains("id=\"h-notes\""), "a note form has its heading");

    // In Arabic the arrow points the way the text runs.
    assert_eq!(
        coord
            .post(
                "/console/language",
                &[("csrf", &crate::form::input_value(&page.text, "csrf")), ("lang", "ar"), ("back", "/console/")]
            )
            .status,
        303
    );
    let ar = coord.get(&format!("/console/cases/{case}"));
    let words = Lang::parse("ar").unwrap().words();
    let moved = format!("{}: {} ← {}", words.tl_moved, words.status("open"), words.status("acknowledged"));
    assert!(ar.text.contains(&moved), "{moved} missing");
});

db_test!(a_defender_record_is_created_for_a_case_edited_and_shown_by_need_to_know, |app| {
    let w = cast(&app);
    let case = w.shared_case(&app);
    let coord = signed_in(&app, &w.owner_coord);
    let file = coord.get(&format!("/console/cases/{case}"));
    assert!(file.text.contains("No record is attached."), "{}", file.text);
    assert!(file.text.contains(&format!("href=\"/console/defenders/new?case={case}\"")));
    assert!(file.text.contains(&format!("href=\"/console/defenders?case={case}\"")));
    let csrf = crate::form::input_value(&file.text, "csrf");
    let new = coord.get(&format!("/console/defenders/new?case={case}"));
    assert_eq!(new.status, 200, "{new:?}");
    assert!(new.text.contains("id=\"channel-0\"") && new.text.contains("id=\"dep_name-0\""));
    assert!(!new.text.contains("id=\"channel-1\""), "one blank row to start with");

    // "Add another" brings a row back with what she typed, and saves nothing.
    let typed = |extra: &[(&'static str, &'static str)]| {
        let mut v = vec![
            ("csrf", csrf.as_str()),
            ("case", case.as_str()),
            ("pseudonym", "Rosa"),
            ("country", "co"),
            ("networks", "Red de Mujeres\nCoalición Tierra"),
            ("legal_name", "Rosa María Quintero"),
            ("safe_contact", "Only on Signal, after 6 pm"),
            ("location", ""),
            ("channel", "signal"),
            ("value", "+57 300 000 0000"),
        ];
        v.extend_from_slice(extra);
        v
    };
    let r = coord.post(
        "/console/defenders/new",
        &typed(&[("dep_name", "Tomás"), ("dep_relation", "son"), ("dep_age", "٩"), ("more", "dependant")]),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.text.contains("value=\"Tomás\"") && r.text.contains("id=\"dep_name-1\""), "a second dependant row");
    assert_eq!(app.count("defenders"), 0, "nothing saved yet");

    // Mistakes come back named, linked from the summary, and what she typed is kept.
    let r = coord.post(
        "/console/defenders/new",
        &typed(&[("dep_name", "Tomás"), ("dep_relation", ""), ("dep_age", "nine"), ("country", "XX")])[..]
            .iter()
            .filter(|(k, v)| !(*k == "country" && *v == "co"))
            .cloned()
            .collect::<Vec<_>>(),
    );
    assert_eq!(r.status, 422, "{r:?}");
    for link in ["href=\"#country\"", "href=\"#dep_relation-0\"", "href=\"#dep_age-0\""] {
        assert!(r.text.contains(link), "{link} missing");
    }
    assert!(r.text.contains("Rosa María Quintero"), "what she typed is kept");
    assert_eq!(app.count("defenders"), 0);

    let r = coord
        .post("/console/defenders/new", &typed(&[("dep_name", "Tomás"), ("dep_relation", "son"), ("dep_age", "٩")]));
    assert_eq!(
        (r.status, r.header("location")),
        (303, Some(format!("/console/cases/{case}?n=defender_linked").as_str()))
    );
    assert_eq!(app.count(&format!("cases WHERE id = '{case}' AND defender_id IS NOT NULL")), 1);
    let networks = "[\"Red de Mujeres\",\"Coalición Tierra\"]";
    assert_eq!(
        app.count(&format!("defenders WHERE pseudonym = 'Rosa' AND country = 'CO' AND networks = '{networks}'")),
        1
    );
    // Sealed at rest: neither her legal name nor her contact is stored in clear anywhere.
    let stored = crate::harness::everything_stored(&app);
    assert!(!stored.contains("Quintero") && !stored.contains("+57 300"), "her profile stored in clear");
    let file = coord.get(&format!("/console/cases/{case}?n=defender_linked"));
    assert!(file.text.contains("Her record is attached to the case."));
    let link = at(&file.text, "<a href=\"/console/defenders/") + "<a href=\"/console/defenders/".len();
    let did = file.text[link..link + 36].to_string();
    assert!(file.text.contains(&format!("<a href=\"/console/defenders/{did}\">Rosa</a>")));

    // Her page: the profile for the owner's coordinator, her dependants, her cases.
    let path = format!("/console/defenders/{did}");
    let page = coord.get(&path);
    assert_eq!(page.status, 200, "{page:?}");
    for shown in [
        "Rosa María Quintero",
        "Only on Signal, after 6 pm",
        "+57 300 000 0000",
        "Tomás",
        ">9<",
        "Red de Mujeres, Coalición Tierra",
        "HVN-",
    ] {
        assert!(page.text.contains(shown), "{shown} missing on her page");
    }
    // An edit at a stale version keeps what she typed; at the right one it saves.
    let version = crate::form::input_value(&page.text, "version");
    let edit = |version: &str, name: &'static str| {
        coord.post(
            &path,
            &[
                ("csrf", &csrf),
                ("version", version),
                ("pseudonym", "Rosa"),
                ("country", "CO"),
                ("networks", "Red de Mujeres"),
                ("legal_name", name),
                ("safe_contact", ""),
                ("location", "Bogotá, with relatives"),
                ("channel", "signal"),
                ("value", "+57 300 000 0000"),
                ("channel", ""),
                ("value", ""),
                ("dep_name", "Tomás"),
                ("dep_relation", "son"),
                ("dep_age", "9"),
            ],
        )
    };
    let stale = edit("0", "Rosa M. Quintero");
    assert_eq!(stale.status, 409, "{stale:?}");
    assert!(stale.text.contains("Someone changed this record meanwhile") && stale.text.contains("Rosa M. Quintero"));
    let r = edit(&version, "Rosa M. Quintero");
    assert_eq!((r.status, r.header("location")), (303, Some(format!("{path}?n=defender_saved").as_str())));
    let page = coord.get(&path);
    assert!(page.text.contains("Rosa M. Quintero") && page.text.contains("Bogotá, with relatives"));
    assert!(!page.text.contains("Only on Signal"), "a blank field empties it");
    assert_eq!(app.count(&format!("audit_events WHERE action = 'defender.update' AND subject_id = '{did}'")), 1);

    // The partner's officer reads the record (the share does not include the profile) without
    // her identifying details and without the form; another organisation gets the 404 page.
    let partner = signed_in(&app, &w.sharing_officer);
    let theirs = partner.get(&path);
    assert_eq!(theirs.status, 200, "{theirs:?}");
    assert!(theirs.text.contains("Rosa") && !theirs.text.contains("Quintero") && !theirs.text.contains("Bogotá"));
    assert!(
        theirs.text.contains("Her identifying details are shown only")
            && !theirs.text.contains("<form method=\"post\" action=\"/console/defenders/")
    );
    let pcsrf = crate::form::input_value(&theirs.text, "csrf");
    let r = partner.post(&path, &[("csrf", &pcsrf), ("pseudonym", "X"), ("country", "CO"), ("legal_name", "X")]);
    assert_eq!(r.status, 403, "her role may not edit records");
    let other = signed_in(&app, &w.other_coord);
    let (foreign, none) = (other.get(&path), other.get("/console/defenders/01900000-0000-7000-8000-000000000000"));
    assert_eq!((foreign.status, none.status), (404, 404));
    assert_eq!(unmasked(&foreign.text), unmasked(&none.text));
    let ocsrf = crate::form::input_value(&other.get("/console/account").text, "csrf");
    let r = other
        .post(&path, &[("csrf", &ocsrf), ("version", "2"), ("pseudonym", "X"), ("country", "CO"), ("legal_name", "X")]);
    assert_eq!(r.status, 404, "no edit of a record she may not see");
    assert!(coord.get(&path).text.contains("Rosa M. Quintero"), "unchanged");
});

db_test!(an_existing_record_is_attached_to_a_case_from_the_list, |app| {
    let w = cast(&app);
    let t = Some(w.owner_coord.token.as_str());
    let body = json!({ "pseudonym": "Lina", "country": "KE", "networks": ["Women Waging Peace"], "profile": { "legal_name": "Lina W." } });
    let r = app.post("/api/v1/defenders", t, body);
    assert_eq!(r.status, 201, "{r:?}");
    let did = r.json()["id"].as_str().unwrap().to_string();
    let case = w.shared_case(&app);
    let coord = signed_in(&app, &w.owner_coord);
    let list = coord.get(&format!("/console/defenders?case={case}"));
    assert_eq!(list.status, 200, "{list:?}");
    assert!(list.text.contains("Lina") && list.text.contains("Women Waging Peace"));
    let csrf = crate::form::input_value(&list.text, "csrf");
    let r = coord.post(&format!("/console/cases/{case}/defender"), &[("defender", &did)]);
    assert_eq!(r.status, 403, "no CSRF token, no change");
    let r = coord.post(&format!("/console/cases/{case}/defender"), &[("csrf", &csrf), ("defender", "not-an-id")]);
    assert_eq!(r.status, 422);
    // Another organisation's record is refused as unknown, and changes nothing.
    let theirs = app.post(
        "/api/v1/defenders",
        Some(w.other_coord.token.as_str()),
        json!({ "pseudonym": "Other", "country": "KE", "profile": { "legal_name": "O." } }),
    );
    let theirs = theirs.json()["id"].as_str().unwrap().to_string();
    let r = coord.post(&format!("/console/cases/{case}/defender"), &[("csrf", &csrf), ("defender", &theirs)]);
    assert_eq!(r.status, 422, "{r:?}");
    assert_eq!(app.count(&format!("cases WHERE id = '{case}' AND defender_id IS NULL")), 1);
    let r = coord.post(&format!("/console/cases/{case}/defender"), &[("csrf", &csrf), ("defender", &did)]);
    assert_eq!(
        (r.status, r.header("location")),
        (303, Some(format!("/console/cases/{case}?n=defender_linked").as_str()))
    );
    assert_eq!(app.count(&format!("cases WHERE id = '{case}' AND defender_id = '{did}'")), 1);
    assert_eq!(app.count(&format!("audit_events WHERE action = 'case.update' AND subject_id = '{case}'")), 1);
    // The assigned officer may change the case but not attach records (her role may not
    // change defender records): she is offered neither link, and a crafted form is refused.
    let officer = signed_in(&app, &w.assigned_officer);
    let other_case = w.shared_case(&app);
    let hers = officer.get(&format!("/console/cases/{other_case}"));
    assert!(hers.text.contains("No record is attached.") && !hers.text.contains("/console/defenders"), "{}", hers.text);
    let ocsrf = crate::form::input_value(&hers.text, "csrf");
    let r = officer.post(&format!("/console/cases/{other_case}/defender"), &[("csrf", &ocsrf), ("defender", &did)]);
    assert_eq!(r.status, 422, "{r:?}");
    assert_eq!(app.count(&format!("cases WHERE id = '{other_case}' AND defender_id IS NULL")), 1);
});

db_test!(three_organisations_work_one_case_in_chromium_without_javascript, |app| {
    use crate::webdriver::{chromium_available, Browser, Options};
    if !chromium_available("console, three organisations") {
        return;
    }
    let w = cast(&app);
    rename(&app, &w.owner_coord, "Sofia Herrera");
    rename(&app, &w.sharing_officer, "Aoife Byrne");
    let backend = format!("{:?}", app.db.backend).to_lowercase();
    let r = app.request("PUT", "/api/v1/form/intake", Some(&w.admin), Some(&json!({ "organization_id": w.owner_org })));
    assert!(r.status == 200 || r.status == 204, "{r:?}");
    let (receipt, _) = crate::form::file_alert(&app, "en", "They followed me from the court to my house");
    let b =
        Browser::start_with(Options { width: 1280, height: 900, mobile: false, javascript: false }).expect("chromium");
    let tag = |page: &str| format!("three-orgs-{page}-{backend}");

    // The UN office (the form's organisation): triage her alert into a case, share it with the
    // embassy within her consent, and write to her.
    browser_sign_in(&app, &b, &w.owner_coord);
    b.find("nav a[href='/console/alerts']").click_and_wait();
    b.find("td a[href^='/console/alerts/']").click_and_wait();
    b.find("#severity").select_by_value("high");
    b.find("#summary").send_keys("Followed from the court; asks for a safe place");
    b.find("#h-triage + form button").click_and_wait();
    b.find("dl.facts a.ref").click_and_wait();
    let case_url = b.current_url();
    let case = case_url.rsplit('/').next().unwrap_or_default().split('?').next().unwrap_or_default().to_string();
    let reference = b.find("h1 .ref").text();
    assert!(reference.starts_with("HVN-"), "{reference}");
    b.find("#share-org").select_by_value(&w.partner_org);
    b.find("#share-consent").send_keys("Consent by phone, 7 December");
    // The date field takes the day as this browser's locale types it (month, day, year).
    let until = chrono::Utc::now().date_naive() + Duration::days(30);
    b.find("#share-until").send_keys(&until.format("%m%d%Y").to_string());
    assert_eq!(b.find("#share-until").value(), until.format("%Y-%m-%d").to_string());
    // Her consent (given on the form) covers NGOs and UN agencies, not embassies: the console
    // says so, and sharing anyway needs the reason.
    b.find("form[action$='/shares'] button").click_and_wait();
    assert!(b.find(".errors").text().contains("Her consent does not cover this organisation"));
    assert_eq!(b.find("#share-consent").value(), "Consent by phone, 7 December", "what she typed is kept");
    b.find("#share-override").send_keys("She asked on the phone for the embassy's help with a visa");
    b.find("form[action$='/shares'] button").click_and_wait();
    assert_eq!(b.find("p.notice").text(), "The case is shared.");
    assert!(b.find("#h-shares ~ table").text().contains("Embassy of Ireland"));
    b.find("#reply").send_keys("We have read your message. A colleague will call you on Signal tonight.");
    b.find("form[action$='/messages'] button").click_and_wait();
    assert!(b.find("p.notice").text().starts_with("Your message is sent."));
    shot(&b, &tag("owner-shared"));
    b.find("form.signout button").click_and_wait();

    // She reads the answer on her status page.
    let portal = crate::form::open_portal(&app, &receipt);
    assert!(portal.text.contains("A colleague will call you on Signal tonight."), "{}", portal.text);

    // The embassy: the case among those shared with it, by name; she adds a note; she cannot
    // move the case or see who else it is shared with.
    browser_sign_in(&app, &b, &w.sharing_officer);
    b.goto(&format!("{}/console/cases?shared=1", app.base));
    let listed = b.find("main table").text();
    assert!(listed.contains(&reference), "{listed}");
    b.find(&format!("td a[href='/console/cases/{case}']")).click_and_wait();
    assert!(b.find("h1").text().contains(&reference));
    assert!(b.find_all("form[action$='/status']").is_empty(), "the owner moves the case");
    b.find("#note").send_keys("Embassy: visa appointment offered for Thursday");
    b.find("#h-notes ~ form button").click_and_wait();
    assert_eq!(b.find("p.notice").text(), "The note is added.");
    let timeline = b.find(".timeline").text();
    assert!(timeline.contains("Embassy: visa appointment offered for Thursday") && timeline.contains("Aoife Byrne"));
    shot(&b, &tag("partner-note"));
    b.find("form.signout button").click_and_wait();

    // A third organisation: the case does not exist for it, on the list or by its address.
    browser_sign_in(&app, &b, &w.other_coord);
    b.goto(&format!("{}/console/cases", app.base));
    assert!(!b.find("main").text().contains(&reference));
    b.goto(&case_url);
    assert_eq!(b.find("h1").text(), Lang::En.words().err_title);
    assert!(!b.source().contains(&reference) && !b.source().contains("Followed from the court"));
    shot(&b, &tag("third-org-404"));
    b.find("form.signout button").click_and_wait();

    // The UN office again: the embassy's note is on the timeline; she closes the case.
    browser_sign_in(&app, &b, &w.owner_coord);
    b.goto(&case_url);
    assert!(b.find(".timeline").text().contains("Embassy: visa appointment offered for Thursday"));
    b.find(".actions button").click_and_wait();
    assert_eq!(b.find("p.notice").text(), "The case has moved on.");
    b.find("#reason").send_keys("Relocated with the embassy's visa");
    b.find("#reason ~ button").click_and_wait();
    assert!(b.find("dl.facts").text().contains("Closed"));
    shot(&b, &tag("owner-closed"));
    b.find("form.signout button").click_and_wait();
    assert!(b.current_url().contains("/console/login"));
});

db_test!(my_work_shows_the_most_pressing_alerts_first, |app| {
    let w = cast(&app);
    let t = Some(w.owner_coord.token.as_str());
    let alert = |urgency: &str, narrative: &str| {
        let body = json!({ "kind": "surveillance", "urgency": urgency, "country": "CO", "narrative": narrative, "consent_scope": [] });
        let r = app.post("/api/v1/alerts", t, body);
        assert_eq!(r.status, 201, "{r:?}");
        r.json()["id"].as_str().unwrap().to_string()
    };
    let old_high = alert("high", "h");
    app.clock.advance(Duration::seconds(5));
    let critical = alert("critical", "c");
    app.clock.advance(Duration::seconds(5));
    let new_high = alert("high", "h2");
    // More low alerts than the page shows, all newer: the critical one still comes first.
    for i in 0..55 {
        app.clock.advance(Duration::seconds(1));
        alert("low", &format!("l{i}"));
    }
    let coord = signed_in(&app, &w.owner_coord);
    let page = coord.get("/console/");
    assert_eq!(page.status, 200);
    let section = &page.text[at(&page.text, "id=\"h-alerts\"")..];
    let (c, h1, h2) = (
        at(section, &format!("/console/alerts/{critical}\"")),
        at(section, &format!("/console/alerts/{old_high}\"")),
        at(section, &format!("/console/alerts/{new_high}\"")),
    );
    assert!(c < h1 && h1 < h2, "critical first, then the longest waiting of the same urgency");
    assert_eq!(section.matches("href=\"/console/alerts/").count(), 50, "a page of 50");
    assert!(page.text.contains(Lang::En.words().alerts_more), "the page says more are waiting");
});
