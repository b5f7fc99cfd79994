//! The public alert form and receipt portal over real HTTP: every page's headers, the
//! four languages, receipts, replays, bad input, throttling, messages both ways, check-ins
//! and the duress PIN, on both backends.

use chrono::Duration;
use haven::clock::Clock;
use serde_json::json;

use crate::harness::{everything_stored, team, token_of, Resp, TestApp};
use crate::{db_test, db_test_with};

pub const FORM_CT: &str = "application/x-www-form-urlencoded";

pub fn encode(pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        for (j, s) in [k, v].iter().enumerate() {
            if j == 1 {
                out.push('=');
            }
            for b in s.bytes() {
                match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
                    b' ' => out.push('+'),
                    _ => out.push_str(&format!("%{b:02X}")),
                }
            }
        }
    }
    out.into_bytes()
}

pub fn post_form(app: &TestApp, path: &str, pairs: &[(&str, &str)]) -> Resp {
    app.raw("POST", path, None, Some((FORM_CT, &encode(pairs))))
}

/// The value of the first `<input name="{name}" value="…">` on a page.
pub fn input_value(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).unwrap_or_else(|| panic!("no input {name} in {html}")) + marker.len();
    html[start..].split('"').next().unwrap_or_default().to_string()
}

/// The text inside the element with this id.
pub fn element_text(html: &str, id: &str) -> String {
    let marker = format!("id=\"{id}\"");
    let start = html.find(&marker).unwrap_or_else(|| panic!("no #{id} in {html}"));
    let rest = &html[start..];
    let open_end = rest.find('>').expect("tag end") + 1;
    let inner = &rest[open_end..];
    let mut text = String::new();
    let mut in_tag = false;
    for c in inner.chars() {
        match c {
            '<' if inner.starts_with("</") || !text.is_empty() || in_tag => in_tag = true,
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
        if !in_tag && text.len() > 2000 {
            break;
        }
    }
    // Up to the end of the element: the first closing tag after the opening one.
    let close = inner.find("</").unwrap_or(inner.len());
    unescape(&strip_tags(&inner[..close]))
}

/// HTML text back to plain text (the escapes askama writes).
pub fn unescape(s: &str) -> String {
    s.replace("&#39;", "'")
        .replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn strip_tags(s: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.trim().to_string()
}

pub fn alert_fields<'a>(token: &'a str, lang: &'a str, narrative: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("token", token),
        ("lang", lang),
        ("kind", "threat_received"),
        ("when_day", "20"),
        ("when_month", "11"),
        ("when_year", "2026"),
        ("country", "KE"),
        ("region", "Kisumu"),
        ("narrative", narrative),
        ("urgency", "critical"),
        ("contact", "yes"),
        ("channel", "signal"),
        ("contact_details", "+254 700 111222 after 18:00"),
        ("consent", "ngo"),
        ("consent", "un_agency"),
        ("name", "Amani W."),
        ("website", ""),
    ]
}

/// Files an alert through the form; returns (receipt digits, the receipt page).
pub fn file_alert(app: &TestApp, lang: &str, narrative: &str) -> (String, Resp) {
    let page = app.get(&format!("/report?lang={lang}"), None);
    assert_eq!(page.status, 200, "{page:?}");
    let token = input_value(&page.text, "token");
    let r = post_form(app, "/report", &alert_fields(&token, lang, narrative));
    assert_eq!(r.status, 200, "{r:?}");
    let receipt = element_text(&r.text, "receipt");
    (receipt, r)
}

/// Opens the portal; returns the page.
pub fn open_portal(app: &TestApp, receipt: &str) -> Resp {
    post_form(app, "/status", &[("lang", "en"), ("receipt", receipt)])
}

fn count(app: &TestApp, sql_table: &str) -> i64 {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = app.state().db.get().unwrap();
    let q = format!("SELECT COUNT(*) AS n FROM {sql_table}");
    let rows: Vec<N> = match &mut *conn {
        haven::db::DbConn::Sqlite(c) => diesel::sql_query(q).load(c).unwrap(),
        haven::db::DbConn::Postgres(c) => diesel::sql_query(q).load(c).unwrap(),
    };
    rows[0].n
}

pub fn assert_form_headers(r: &Resp) {
    assert_eq!(
        r.header("content-security-policy"),
        Some("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'"),
        "{r:?}"
    );
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
    assert!(r.header("set-cookie").is_none(), "no cookies, ever");
}

pub fn assert_plain_page(html: &str) {
    let lower = html.to_lowercase();
    assert!(!lower.contains("<script"), "no JavaScript");
    assert!(!lower.contains(" on") || !lower.contains("onclick"), "no inline handlers");
    for attr in ["src=\"http", "href=\"http://", "@import", "url("] {
        assert!(!lower.contains(attr), "no external resource ({attr})");
    }
    assert!(html.contains("class=\"exit\""), "a quick-exit link on every page");
}

db_test!(form_pages_speak_four_languages_with_strict_headers, |app| {
    let expectations = [
        ("en", "ltr", haven::form::i18n::EN.report_title),
        ("fr", "ltr", haven::form::i18n::FR.report_title),
        ("es", "ltr", haven::form::i18n::ES.report_title),
        ("ar", "rtl", haven::form::i18n::AR.report_title),
    ];
    let css = app.get("/form.css", None);
    assert_eq!(css.status, 200);
    assert_form_headers(&css);
    for (lang, dir, title) in expectations {
        let r = app.get(&format!("/report?lang={lang}"), None);
        assert_eq!(r.status, 200);
        assert_form_headers(&r);
        assert_plain_page(&r.text);
        assert!(r.text.contains(&format!("<html lang=\"{lang}\" dir=\"{dir}\">")), "{lang}");
        assert!(unescape(&r.text).contains(title), "{lang} title");
        assert!(r.text.contains("name=\"viewport\""), "sized for phones");
        let weight =
            haven::form::gzip(r.text.as_bytes()).unwrap().len() + haven::form::gzip(css.text.as_bytes()).unwrap().len();
        println!("form page weight, {lang}: {weight} bytes gzip with its stylesheet ({} raw)", r.text.len());
        assert!(weight < 10 * 1024, "{lang}: {weight} bytes");
    }
    // The browser's language when no ?lang= is given; the status page too.
    let fr = app.raw_with_headers("GET", "/report", None, &[("Accept-Language", "fr-CA,fr;q=0.9,en;q=0.5")], None);
    assert!(fr.text.contains("<html lang=\"fr\""));
    let es = app.raw_with_headers("GET", "/status", None, &[("Accept-Language", "de, es;q=0.8")], None);
    assert!(es.text.contains("<html lang=\"es\""));
    assert_form_headers(&es);
    assert_plain_page(&es.text);
    // Compressed when asked (GET only).
    let gz = app.raw_with_headers("GET", "/report", None, &[("Accept-Encoding", "gzip")], None);
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
});

db_test!(an_alert_filed_through_the_form_is_sealed_and_answered_with_a_receipt, |app| {
    let narrative = "Two men waited outside the radio station and followed me home, zebra-quartz-71";
    let (receipt, page) = file_alert(&app, "en", narrative);
    assert_form_headers(&page);
    assert_plain_page(&page.text);
    let groups: Vec<&str> = receipt.split(' ').collect();
    assert_eq!(groups.len(), 4, "{receipt}");
    assert!(groups.iter().all(|g| g.len() == 4 && g.chars().all(|c| c.is_ascii_digit())), "{receipt}");
    let digits = receipt.replace(' ', "");

    // Staff see it, decrypted, owned by the intake organisation (the bootstrap one here).
    let org = app.admin_org();
    let (_, email, pw) = app.user(haven::domain::Role::Coordinator, &org);
    let coord = token_of(&app.login(&email, &pw));
    let list = app.get("/api/v1/alerts", Some(&coord)).json();
    let item = &list["items"][0];
    assert_eq!(item["source"], "form");
    assert_eq!(item["urgency"], "critical");
    assert_eq!(item["consent_scope"], json!(["ngo", "un_agency"]));
    let id = item["id"].as_str().unwrap();
    let a = app.get(&format!("/api/v1/alerts/{id}"), Some(&coord)).json();
    assert_eq!(a["narrative"], narrative);
    assert_eq!(a["occurred_on"], "2026-11-20");
    assert_eq!(a["reporter_name"], "Amani W.");
    assert_eq!(a["safe_contact"], "signal: +254 700 111222 after 18:00");
    assert_eq!(a["region"], "Kisumu");

    // The critical alert started its escalation like a staff alert would.
    assert_eq!(count(&app, "escalations WHERE policy_id = 'critical-alert-untriaged'"), 1);

    // Nothing readable at rest: not the narrative, the name, the contact, the region, nor
    // the receipt.
    let stored = everything_stored(&app);
    for secret in ["zebra-quartz-71", "Amani W.", "700 111222", "Kisumu", digits.as_str()] {
        assert!(!stored.contains(secret), "{secret} stored in clear");
    }
    assert_eq!(count(&app, "receipts"), 1);
});

// The database cannot take the report (another holder keeps the lock past Haven's wait:
// `busy_timeout` on SQLite, `lock_timeout` on PostgreSQL): a 503 with Retry-After, her
// answers back in the form with the same token, and nothing stored; sent again once the
// database is back, it is stored once.
db_test!(a_report_the_database_cannot_store_comes_back_filled_in, |app| {
    use diesel::connection::SimpleConnection;
    let t = &haven::form::i18n::EN;
    let page = app.get("/report", None);
    let token = input_value(&page.text, "token");
    let narrative = "They took my phone at the checkpoint, lantern-okapi-38";
    let fields = alert_fields(&token, "en", narrative);

    let mut holder = app.state().db.get().unwrap();
    match &mut *holder {
        haven::db::DbConn::Sqlite(c) => c.batch_execute("BEGIN EXCLUSIVE").unwrap(),
        haven::db::DbConn::Postgres(c) => {
            c.batch_execute("BEGIN; LOCK TABLE receipts IN ACCESS EXCLUSIVE MODE").unwrap()
        }
    }
    let r = post_form(&app, "/report", &fields);
    match &mut *holder {
        haven::db::DbConn::Sqlite(c) => c.batch_execute("COMMIT").unwrap(),
        haven::db::DbConn::Postgres(c) => c.batch_execute("COMMIT").unwrap(),
    }
    drop(holder);
    assert_eq!(r.status, 503, "{r:?}");
    assert_eq!(r.header("retry-after"), Some("30"));
    assert_form_headers(&r);
    let shown = unescape(&r.text);
    assert!(shown.contains(t.err_not_stored), "says what happened: {shown}");
    assert!(shown.contains(narrative), "her account is in the form again");
    assert!(r.text.contains(r#"name="region" maxlength="100" value="Kisumu""#), "{}", r.text);
    assert_eq!(input_value(&r.text, "token"), token, "the same token: sending again cannot make two alerts");
    assert_eq!(count(&app, "alerts"), 0, "nothing half-stored");
    assert_eq!(count(&app, "receipts"), 0);

    let again = post_form(&app, "/report", &fields);
    assert_eq!(again.status, 200, "{again:?}");
    assert!(!element_text(&again.text, "receipt").is_empty());
    assert_eq!(count(&app, "alerts"), 1);
});

db_test!(the_same_form_sent_twice_makes_one_alert, |app| {
    let page = app.get("/report", None);
    let token = input_value(&page.text, "token");
    let fields = alert_fields(&token, "en", "sent twice on a bad connection");
    let first = post_form(&app, "/report", &fields);
    let second = post_form(&app, "/report", &fields);
    assert_eq!(first.status, 200);
    assert_eq!(second.status, 200, "{second:?}");
    assert_eq!(element_text(&first.text, "receipt"), element_text(&second.text, "receipt"), "the same receipt");
    assert!(second.text.contains(haven::form::i18n::EN.receipt_again));
    assert_eq!(count(&app, "alerts"), 1);
    // Long after, the receipt is not shown again, and still one alert.
    app.clock.advance(Duration::minutes(31));
    let late = post_form(&app, "/report", &fields);
    assert_eq!(late.status, 409, "{late:?}");
    assert!(late.text.contains(haven::form::i18n::EN.already_sent));
    assert!(!late.text.contains(&element_text(&first.text, "receipt")));
    assert_eq!(count(&app, "alerts"), 1);
});

db_test!(bad_form_input_gets_a_clear_page_never_a_crash, |app| {
    let page = app.get("/report?lang=ar", None);
    let token = input_value(&page.text, "token");
    let ar = &haven::form::i18n::AR;

    // Nothing chosen, nothing written: every required field marked, in her language, and
    // what she did type is kept.
    let r = post_form(&app, "/report", &[("token", &token), ("lang", "ar"), ("region", "حي الزهور")]);
    assert_eq!(r.status, 422, "{r:?}");
    assert_form_headers(&r);
    for (id, msg) in [("e-kind", ar.err_choose), ("e-urgency", ar.err_choose), ("e-narrative", ar.err_required)] {
        assert_eq!(element_text(&r.text, id), msg, "{id}");
    }
    assert_eq!(element_text(&r.text, "e-country"), ar.err_required);
    assert!(r.text.contains("value=\"حي الزهور\""), "typed text kept");
    assert!(r.text.contains(ar.err_summary));

    // An unknown kind, a date in the future, a country not on the list, a narrative one
    // character too long.
    let long = "x".repeat(haven::domain::alerts::MAX_NARRATIVE + 1);
    let mut f = alert_fields(&token, "en", &long);
    f.retain(|(k, _)| !["kind", "when_year", "country"].contains(k));
    f.extend([("kind", "alien_abduction"), ("when_year", "2099"), ("country", "XX")]);
    let r = post_form(&app, "/report", &f);
    assert_eq!(r.status, 422);
    let en = &haven::form::i18n::EN;
    assert_eq!(element_text(&r.text, "e-kind"), en.err_choose);
    assert_eq!(element_text(&r.text, "e-when"), en.err_date);
    assert_eq!(element_text(&r.text, "e-country"), en.err_country);
    assert_eq!(element_text(&r.text, "e-narrative"), en.err_too_long);
    // Contact asked for but no details.
    let mut f = alert_fields(&token, "en", "fine");
    f.retain(|(k, _)| *k != "contact_details");
    let r = post_form(&app, "/report", &f);
    assert_eq!(element_text(&r.text, "e-contact"), en.err_contact);
    assert_eq!(count(&app, "alerts"), 0);

    // Malformed requests: a whole-page error, 4xx, in the form's look, never JSON.
    let cases: Vec<(&str, Vec<u8>, &str, u16)> = vec![
        ("invalid UTF-8", b"token=a&narrative=%FF%FE".to_vec(), FORM_CT, 400),
        ("bad escape", b"narrative=%G1".to_vec(), FORM_CT, 400),
        ("unknown field", encode(&[("token", &token), ("admin", "1")]), FORM_CT, 400),
        ("field twice", encode(&[("token", &token), ("kind", "other"), ("kind", "other")]), FORM_CT, 400),
        ("JSON", br#"{"narrative":"x"}"#.to_vec(), "application/json", 400),
        ("forged token", encode(&alert_fields("00.1.00", "en", "x")), FORM_CT, 400),
        ("unknown consent", encode(&[("token", &token), ("consent", "police")]), FORM_CT, 400),
    ];
    for (what, body, ct, status) in cases {
        let r = app.raw("POST", "/report", None, Some((ct, &body)));
        assert_eq!(r.status, status, "{what}: {r:?}");
        assert_form_headers(&r);
        assert!(r.text.contains(en.err_title), "{what}: an error page");
    }
    // The honeypot.
    let mut f = alert_fields(&token, "en", "bot");
    f.retain(|(k, _)| *k != "website");
    f.push(("website", "http://spam.example"));
    assert_eq!(post_form(&app, "/report", &f).status, 400);
    // 10 MB: refused as too large, in her language.
    let huge = vec![b'a'; 10 * 1024 * 1024];
    let r = app.raw("POST", "/report?lang=fr", None, Some((FORM_CT, &huge)));
    assert_eq!(r.status, 413, "{r:?}");
    assert_form_headers(&r);
    // A page left open too long: kept answers, a fresh token, a note.
    app.clock.advance(Duration::hours(25));
    let r = post_form(&app, "/report", &alert_fields(&token, "en", "written slowly"));
    assert_eq!(r.status, 422);
    assert!(r.text.contains(en.err_expired));
    assert!(r.text.contains("written slowly"));
    let fresh = input_value(&r.text, "token");
    assert_ne!(fresh, token);
    assert_eq!(post_form(&app, "/report", &alert_fields(&fresh, "en", "written slowly")).status, 200);
    assert_eq!(count(&app, "alerts"), 1);
    // Nothing here was a server error.
    let unknown = app.get("/report/../etc/passwd", None);
    assert!(unknown.status < 500);
});

db_test!(the_receipt_portal_carries_messages_both_ways_and_check_ins, |app| {
    let (receipt, _) = file_alert(&app, "en", "they know where I live");
    let en = &haven::form::i18n::EN;
    let p = open_portal(&app, &receipt);
    assert_eq!(p.status, 200, "{p:?}");
    assert_form_headers(&p);
    assert_plain_page(&p.text);
    assert!(!p.text.contains(&receipt.replace(' ', "")), "the receipt is not put back in the page");
    assert_eq!(element_text(&p.text, "state").replace(en.state_label, "").trim(), en.state_received);
    // Check-ins need a case.
    assert!(p.text.contains(en.checkin_unavailable));

    // Her follow-up, before triage.
    let t = input_value(&p.text, "t");
    let r = post_form(&app, "/status/reply", &[("lang", "en"), ("t", &t), ("body", "They came back today")]);
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.text.contains("They came back today"));
    assert_eq!(element_text(&r.text, "notice"), en.sent);
    let r = post_form(&app, "/status/reply", &[("lang", "en"), ("t", &t), ("body", "  ")]);
    assert_eq!(r.status, 422);
    assert_eq!(element_text(&r.text, "e-body"), en.err_required);

    // Staff triage it into a case and write to her.
    let org = app.admin_org();
    let (officer_id, email, pw) = app.user(haven::domain::Role::Officer, &org);
    let officer = token_of(&app.login(&email, &pw));
    let (_, email, pw) = app.user(haven::domain::Role::Coordinator, &org);
    let coord = token_of(&app.login(&email, &pw));
    let alert_id = app.get("/api/v1/alerts", Some(&coord)).json()["items"][0]["id"].as_str().unwrap().to_string();
    // What she wrote before triage reached the receiving coordinators, and they can read it.
    assert_eq!(count(&app, "escalations WHERE policy_id = 'defender-message-untriaged'"), 1);
    let early = app.get(&format!("/api/v1/alerts/{alert_id}/messages"), Some(&coord));
    assert_eq!(early.status, 200, "{early:?}");
    let early = early.json();
    assert_eq!(early["items"].as_array().unwrap().len(), 1, "{early}");
    assert_eq!(early["items"][0]["body"], "They came back today");
    assert_eq!(early["items"][0]["direction"], "from_defender");
    assert!(early["items"][0]["author_id"].is_null() && early["items"][0]["author_name"].is_null());
    assert_eq!(app.get(&format!("/api/v1/alerts/{alert_id}/messages"), Some(&officer)).status, 403);
    let admin = app.admin_token();
    let other_org = app.post(
        "/api/v1/organizations",
        Some(&admin),
        json!({ "name": "Another NGO", "kind": "ngo", "country": "CO" }),
    );
    let (_, email, pw) = app.user(haven::domain::Role::Coordinator, other_org.json()["id"].as_str().unwrap());
    let stranger = token_of(&app.login(&email, &pw));
    assert_eq!(app.get(&format!("/api/v1/alerts/{alert_id}/messages"), Some(&stranger)).status, 404);
    let tri = app.post(&format!("/api/v1/alerts/{alert_id}/triage"), Some(&coord), json!({ "new_case": {} }));
    assert_eq!(tri.status, 200, "{tri:?}");
    let case_id = tri.json()["case_id"].as_str().unwrap().to_string();
    let r = app.post(&format!("/api/v1/cases/{case_id}/assignees"), Some(&coord), json!({ "user_id": officer_id }));
    assert_eq!(r.status, 200);
    let sent = app.post(
        &format!("/api/v1/cases/{case_id}/messages"),
        Some(&officer),
        json!({ "body": "We have read your alert. Are you somewhere safe tonight?" }),
    );
    assert_eq!(sent.status, 201, "{sent:?}");
    assert_eq!(sent.json()["direction"], "to_defender");
    let bad = app.post(&format!("/api/v1/cases/{case_id}/messages"), Some(&officer), json!({ "body": "" }));
    assert_eq!(bad.status, 422);
    let bad = app.post(&format!("/api/v1/cases/{case_id}/messages"), Some(&officer), json!({ "body": "x", "to": 1 }));
    assert_eq!(bad.status, 400);

    // She sees it, and the state has moved.
    let p = open_portal(&app, &receipt);
    assert!(p.text.contains("Are you somewhere safe tonight?"));
    assert!(p.text.contains(en.state_handling));
    let t = input_value(&p.text, "t");
    let r = post_form(&app, "/status/reply", &[("lang", "en"), ("t", &t), ("body", "Yes, with my sister")]);
    assert_eq!(r.status, 200);
    // Her message notified the assignees (no content in the mail), through the engine.
    assert_eq!(count(&app, "escalations WHERE policy_id = 'defender-message'"), 1);
    assert_eq!(
        count(&app, "escalations WHERE policy_id = 'defender-message-untriaged'"),
        1,
        "after triage: the case's rule"
    );

    // Staff read both directions, newest first, paged like every list.
    let list = app.get(&format!("/api/v1/cases/{case_id}/messages"), Some(&officer)).json();
    let bodies: Vec<&str> = list["items"].as_array().unwrap().iter().map(|m| m["body"].as_str().unwrap()).collect();
    assert_eq!(
        bodies,
        vec!["Yes, with my sister", "We have read your alert. Are you somewhere safe tonight?", "They came back today"]
    );
    assert!(list["next_cursor"].is_null());
    let first = app.get(&format!("/api/v1/cases/{case_id}/messages?limit=2"), Some(&officer)).json();
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    let cursor = first["next_cursor"].as_str().expect("a second page");
    let rest = app.get(&format!("/api/v1/cases/{case_id}/messages?limit=2&cursor={cursor}"), Some(&officer)).json();
    assert_eq!(rest["items"][0]["body"], "They came back today");
    assert!(rest["next_cursor"].is_null());
    assert_eq!(list["items"][0]["direction"], "from_defender");
    assert!(list["items"][0]["author_id"].is_null());
    // Need-to-know: another organisation's coordinator, and a partner the case is shared
    // with, cannot read or write her messages.
    let tm = team(&app);
    for other in [&tm.other, &tm.partner] {
        assert!(app.get(&format!("/api/v1/cases/{case_id}/messages"), Some(other)).status >= 403);
        let w = app.post(&format!("/api/v1/cases/{case_id}/messages"), Some(other), json!({ "body": "hi" }));
        assert!(w.status == 403 || w.status == 404, "{w:?}");
    }
    // A case with no form alert has nobody to write to.
    let r = app.post(&format!("/api/v1/cases/{}/messages", tm.case_id), Some(&tm.coord), json!({ "body": "hello" }));
    assert_eq!(r.status, 409, "{r:?}");

    // "Check in with me within 3 hours". Nothing escalates before its time.
    let r = post_form(&app, "/status/checkin", &[("lang", "en"), ("t", &t), ("hours", "3")]);
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.text.contains(en.checkin_pending));
    let checkins = app.get(&format!("/api/v1/cases/{case_id}/checkins"), Some(&officer)).json();
    assert_eq!(checkins["items"][0]["status"], "pending");
    assert_eq!(checkins["items"][0]["source"], "defender");
    assert!(checkins["items"][0]["created_by"].is_null());
    let r = post_form(&app, "/status/checkin", &[("lang", "en"), ("t", &t), ("hours", "5")]);
    assert_eq!(r.status, 400, "only the offered choices");
    let engine = |app: &TestApp| haven::escalation::engine::run_due(app.state(), app.clock.now(), 100).unwrap();
    app.clock.advance(Duration::minutes(170));
    assert_eq!(engine(&app).missed_checkins, 0);
    assert_eq!(count(&app, "escalations WHERE policy_id = 'checkin-missed'"), 0);

    // An old page stops working after 30 minutes: back to the receipt.
    let r = post_form(&app, "/status/reply", &[("lang", "en"), ("t", &t), ("body", "late")]);
    assert_eq!(r.status, 422);
    assert!(r.text.contains(en.session_over));
    // A forged token is refused.
    let forged = t.replacen(&alert_id, "01a20000-0000-7000-8000-000000000000", 1);
    assert_eq!(post_form(&app, "/status/reply", &[("lang", "en"), ("t", &forged), ("body", "x")]).status, 400);

    // Her time passes: `checkin.missed` fires once, and the team is mailed.
    app.clock.advance(Duration::minutes(11));
    let pass = engine(&app);
    assert_eq!(pass.missed_checkins, 1);
    assert!(pass.messages >= 1, "{pass:?}");
    assert_eq!(engine(&app).missed_checkins, 0, "once");
    assert_eq!(count(&app, "escalations WHERE policy_id = 'checkin-missed' AND status = 'active'"), 1);
    // Late, she says "I am safe": the check-in is confirmed and the escalation ends.
    let p = open_portal(&app, &receipt);
    let t = input_value(&p.text, "t");
    let r = post_form(&app, "/status/safe", &[("lang", "en"), ("t", &t), ("pin", "")]);
    assert_eq!(r.status, 200);
    assert_eq!(element_text(&r.text, "notice"), en.thanks_text);
    // (Access tokens have expired in these three hours: a fresh login.)
    let (_, email, pw) = app.user(haven::domain::Role::Coordinator, &org);
    let coord = token_of(&app.login(&email, &pw));
    let checkins = app.get(&format!("/api/v1/cases/{case_id}/checkins"), Some(&coord)).json();
    assert_eq!(checkins["items"][0]["status"], "confirmed");
    app.clock.advance(Duration::minutes(31));
    engine(&app);
    assert_eq!(count(&app, "escalations WHERE policy_id = 'checkin-missed' AND status = 'active'"), 0);

    // Staff messages are sealed too.
    let stored = everything_stored(&app);
    assert!(!stored.contains("somewhere safe tonight"));
    assert!(!stored.contains("with my sister"));
});

db_test_with!(
    wrong_receipts_are_throttled_and_long_ones_refused_before_hashing,
    |c| { c.form.receipt_failures_per_address = 3 },
    |app| {
        {
            let (receipt, _) = file_alert(&app, "en", "x");
            let en = &haven::form::i18n::EN;
            let ten_thousand = "7".repeat(10_000);
            for wrong in ["0000 0000 0000 0000", "12", ten_thousand.as_str()] {
                let r = open_portal(&app, wrong);
                assert_eq!(r.status, 422, "{r:?}");
                assert_eq!(element_text(&r.text, "e-receipt"), en.err_receipt);
            }
            // Now even the right receipt waits: the address is throttled.
            let r = open_portal(&app, &receipt);
            assert_eq!(r.status, 429, "{r:?}");
            assert!(r.text.contains(en.err_rate));
            assert!(r.header("retry-after").is_some());
        }
    }
);

db_test_with!(
    a_receipt_unused_for_too_long_stops_working_while_staff_keep_the_alert,
    |c| { c.form.receipt_days = 30 },
    |app| {
        {
            let (receipt, _) = file_alert(&app, "es", "x");
            app.clock.advance(Duration::days(29));
            assert_eq!(open_portal(&app, &receipt).status, 200, "used on day 29: the clock restarts");
            app.clock.advance(Duration::days(29));
            assert_eq!(open_portal(&app, &receipt).status, 200);
            app.clock.advance(Duration::days(31));
            assert_eq!(open_portal(&app, &receipt).status, 422, "unused for 31 days");
            let org = app.admin_org();
            let (_, email, pw) = app.user(haven::domain::Role::Coordinator, &org);
            let coord = token_of(&app.login(&email, &pw));
            assert_eq!(app.get("/api/v1/alerts", Some(&coord)).json()["items"].as_array().unwrap().len(), 1);
        }
    }
);

db_test!(the_duress_pin_looks_like_a_normal_check_in_but_raises_the_case, |app| {
    let (receipt, _) = file_alert(&app, "en", "x");
    let org = app.admin_org();
    let (_, email, pw) = app.user(haven::domain::Role::Coordinator, &org);
    let coord = token_of(&app.login(&email, &pw));
    let alert_id = app.get("/api/v1/alerts", Some(&coord)).json()["items"][0]["id"].as_str().unwrap().to_string();
    let tri = app.post(
        &format!("/api/v1/alerts/{alert_id}/triage"),
        Some(&coord),
        json!({ "new_case": { "severity": "medium" } }),
    );
    let case_id = tri.json()["case_id"].as_str().unwrap().to_string();
    let en = &haven::form::i18n::EN;

    // She sets her PINs: 2468 for "I am safe", a longer one under duress.
    let p = open_portal(&app, &receipt);
    let t = input_value(&p.text, "t");
    let same =
        post_form(&app, "/status/pins", &[("lang", "en"), ("t", &t), ("new_pin", "2468"), ("duress_pin", "2468")]);
    assert_eq!(element_text(&same.text, "e-pins"), en.err_pin_same);
    let short = post_form(
        &app,
        "/status/pins",
        &[("lang", "en"), ("t", &t), ("new_pin", "12"), ("duress_pin", "864213579753")],
    );
    assert_eq!(element_text(&short.text, "e-pins"), en.err_pin_format);
    let r = post_form(
        &app,
        "/status/pins",
        &[("lang", "en"), ("t", &t), ("new_pin", "2468"), ("duress_pin", "864213579753")],
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(element_text(&r.text, "notice"), en.pins_saved);
    // Changing them needs the current PIN.
    let t = input_value(&r.text, "t");
    let r2 = post_form(
        &app,
        "/status/pins",
        &[("lang", "en"), ("t", &t), ("current", "9753"), ("new_pin", "1111"), ("duress_pin", "2222")],
    );
    assert_eq!(element_text(&r2.text, "e-pins"), en.err_pin);

    // A normal check-in with the right PIN.
    let ask = post_form(&app, "/status/checkin", &[("lang", "en"), ("t", &t), ("hours", "6")]);
    assert_eq!(ask.status, 200);
    let wrong = post_form(&app, "/status/safe", &[("lang", "en"), ("t", &t), ("pin", "9999")]);
    assert_eq!(wrong.status, 422);
    assert_eq!(element_text(&wrong.text, "e-pin"), en.err_pin);
    let normal = post_form(&app, "/status/safe", &[("lang", "en"), ("t", &t), ("pin", "2468")]);
    assert_eq!(normal.status, 200);
    let case = app.get(&format!("/api/v1/cases/{case_id}"), Some(&coord)).json();
    assert_eq!(case["severity"], "medium", "a normal check-in changes nothing");
    assert_eq!(count(&app, "escalations WHERE policy_id = 'duress-signal'"), 0);
    // What whoever stands beside her sees next: the status page, opened again.
    let without_token = |html: &str| html.replace(&input_value(html, "t"), "");
    let after_normal = without_token(&open_portal(&app, &receipt).text);
    assert!(!after_normal.contains(en.checkin_pending));

    // Under duress: the same page, byte for byte.
    let ask = post_form(&app, "/status/checkin", &[("lang", "en"), ("t", &t), ("hours", "6")]);
    assert_eq!(ask.status, 200);
    let duress = post_form(&app, "/status/safe", &[("lang", "en"), ("t", &t), ("pin", "864213579753")]);
    assert_eq!(duress.status, normal.status);
    assert_eq!(duress.text, normal.text, "the duress page must be identical");
    let after_duress = without_token(&open_portal(&app, &receipt).text);
    assert_eq!(after_duress, after_normal, "and so must the status page after it");
    let case = app.get(&format!("/api/v1/cases/{case_id}"), Some(&coord)).json();
    assert_eq!(case["severity"], "critical");
    assert_eq!(count(&app, "escalations WHERE policy_id = 'duress-signal' AND status = 'active'"), 1);
    let checkins = app.get(&format!("/api/v1/cases/{case_id}/checkins"), Some(&coord)).json();
    let pending = checkins["items"].as_array().unwrap().iter().filter(|c| c["status"] == "pending").count();
    assert_eq!(pending, 1, "the coerced check-in is not confirmed: it escalates when missed");
    assert!(!everything_stored(&app).contains("864213579753"));
});

db_test!(the_duress_pin_as_the_current_pin_looks_like_a_change_and_raises_the_alarm, |app| {
    let (receipt, _) = file_alert(&app, "en", "x");
    let en = &haven::form::i18n::EN;
    let p = open_portal(&app, &receipt);
    let t = input_value(&p.text, "t");
    let set = [("lang", "en"), ("t", t.as_str()), ("new_pin", "2468"), ("duress_pin", "864213579753")];
    assert_eq!(post_form(&app, "/status/pins", &set).status, 200);
    let duress_events = |app: &TestApp| count(app, "audit_events WHERE action = 'alert.duress'");
    let without_token = |html: &str| html.replace(&input_value(html, "t"), "");

    // Forced to change her PINs, she gives the duress PIN as the current one. A malformed
    // new PIN gets the same error a real change would (and the alarm is raised).
    let bad = [("lang", "en"), ("t", t.as_str()), ("current", "864213579753"), ("new_pin", "12"), ("duress_pin", "34")];
    let r = post_form(&app, "/status/pins", &bad);
    assert_eq!(r.status, 422);
    assert_eq!(element_text(&r.text, "e-pins"), en.err_pin_format, "refused like a real change");
    assert_eq!(duress_events(&app), 1);
    let forced =
        [("lang", "en"), ("t", t.as_str()), ("current", "864213579753"), ("new_pin", "1111"), ("duress_pin", "2222")];
    let r = post_form(&app, "/status/pins", &forced);
    assert_eq!(r.status, 200);
    assert_eq!(element_text(&r.text, "notice"), en.pins_saved, "looks like a change");
    assert_eq!(count(&app, "escalations WHERE policy_id = 'duress-signal-untriaged'"), 1);
    assert_eq!(duress_events(&app), 2);

    // He tries the PINs he chose: each works as if real, and each raises the alarm again.
    let real = post_form(&app, "/status/safe", &[("lang", "en"), ("t", &t), ("pin", "2468")]);
    assert_eq!(duress_events(&app), 2, "her real PIN raises nothing");
    let after_real = without_token(&open_portal(&app, &receipt).text);
    for (n, pin) in [(3, "1111"), (4, "2222")] {
        let r = post_form(&app, "/status/safe", &[("lang", "en"), ("t", &t), ("pin", pin)]);
        assert_eq!(r.status, real.status, "{pin}");
        assert_eq!(r.text, real.text, "{pin}: the same page as her real PIN");
        assert_eq!(duress_events(&app), n, "{pin} raises the alarm");
        assert_eq!(
            without_token(&open_portal(&app, &receipt).text),
            after_real,
            "{pin}: the status page opens as usual"
        );
    }
    // He changes them again with his "current" PIN: saved, alarm, and the newest ones work.
    let again = [("lang", "en"), ("t", t.as_str()), ("current", "1111"), ("new_pin", "3333"), ("duress_pin", "4444")];
    let r = post_form(&app, "/status/pins", &again);
    assert_eq!(r.status, 200);
    assert_eq!(element_text(&r.text, "notice"), en.pins_saved);
    assert_eq!(duress_events(&app), 5);
    let r = post_form(&app, "/status/safe", &[("lang", "en"), ("t", &t), ("pin", "3333")]);
    assert_eq!(r.text, real.text);
    assert_eq!(duress_events(&app), 6);

    // Her real PINs never changed: 2468 confirms without alarm, and she can still change
    // them with it; an unrelated PIN is still wrong.
    let ok = post_form(&app, "/status/safe", &[("lang", "en"), ("t", &t), ("pin", "2468")]);
    assert_eq!(element_text(&ok.text, "notice"), en.thanks_text);
    let wrong = post_form(&app, "/status/safe", &[("lang", "en"), ("t", &t), ("pin", "5555")]);
    assert_eq!(wrong.status, 422);
    assert_eq!(duress_events(&app), 6);
    let mine = [("lang", "en"), ("t", t.as_str()), ("current", "2468"), ("new_pin", "1357"), ("duress_pin", "8642")];
    assert_eq!(element_text(&post_form(&app, "/status/pins", &mine).text, "notice"), en.pins_saved);
    assert_eq!(duress_events(&app), 6);
    assert_eq!(count(&app, "audit_events WHERE action = 'receipt.decoy_pins_set'"), 2);
    assert!(!everything_stored(&app).contains("864213579753"));
});

db_test!(wrong_pins_lock_the_alert_but_the_duress_pin_still_raises_the_alarm, |app| {
    let (receipt, _) = file_alert(&app, "en", "x");
    let p = open_portal(&app, &receipt);
    let t = input_value(&p.text, "t");
    let set = [("lang", "en"), ("t", t.as_str()), ("new_pin", "2468"), ("duress_pin", "864213579753")];
    assert_eq!(post_form(&app, "/status/pins", &set).status, 200);
    for _ in 0..haven::form::guard::PIN_FAILURES_PER_ALERT {
        assert_eq!(post_form(&app, "/status/safe", &[("lang", "en"), ("t", &t), ("pin", "0000")]).status, 422);
    }
    // Locked: even the right PIN gets "too many tries"...
    let locked = post_form(&app, "/status/safe", &[("lang", "en"), ("t", &t), ("pin", "2468")]);
    assert_eq!(locked.status, 429);
    // ...and so does the duress PIN, which still raises the alarm behind it.
    let duress = post_form(&app, "/status/safe", &[("lang", "en"), ("t", &t), ("pin", "864213579753")]);
    assert_eq!(duress.status, 429);
    assert_eq!(duress.text, locked.text, "the same page");
    assert_eq!(count(&app, "escalations WHERE policy_id = 'duress-signal-untriaged'"), 1);
});

// Post/redirect/get: a form answers 303, so the browser history holds no POST to send
// again; the pages it leads to stop working after two minutes.
db_test!(answers_to_posts_are_redirects_and_their_pages_expire, |app| {
    let en = &haven::form::i18n::EN;
    let no_follow = ureq::Agent::config_builder().http_status_as_error(false).max_redirects(0).build().new_agent();
    let page = app.get("/report", None);
    let token = input_value(&page.text, "token");
    let r = no_follow
        .post(format!("{}/report", app.base))
        .header("Content-Type", FORM_CT)
        .send(&encode(&alert_fields(&token, "en", "x"))[..])
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    let location = r.headers().get("location").unwrap().to_str().unwrap().to_string();
    assert!(location.starts_with("/report/receipt?r="), "{location}");
    assert_eq!(r.headers().get("content-security-policy").unwrap().to_str().unwrap(), haven::form::CSP);
    let shown = app.get(&location, None);
    assert_eq!(shown.status, 200);
    let receipt = element_text(&shown.text, "receipt");
    assert!(!location.contains(&receipt.replace(' ', "")), "the receipt is not in the URL");
    // Later, from the history: gone.
    app.clock.advance(Duration::seconds(haven::form::keys::TICKET_SECONDS + 1));
    let later = app.get(&location, None);
    assert_eq!(later.status, 410);
    assert!(!later.text.contains(&receipt));
    assert!(unescape(&later.text).contains(en.page_expired));

    // The status page too.
    let r = no_follow
        .post(format!("{}/status", app.base))
        .header("Content-Type", FORM_CT)
        .send(&encode(&[("lang", "en"), ("receipt", &receipt)])[..])
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    let location = r.headers().get("location").unwrap().to_str().unwrap().to_string();
    assert!(location.starts_with("/status/view?v="), "{location}");
    assert_eq!(app.get(&location, None).status, 200);
    app.clock.advance(Duration::seconds(haven::form::keys::TICKET_SECONDS + 1));
    let later = app.get(&location, None);
    assert_eq!(later.status, 422);
    assert!(later.text.contains(en.session_over));

    // Once the receipt has been used, sending the same form again no longer shows it.
    let again = post_form(&app, "/report", &alert_fields(&token, "en", "x"));
    assert_eq!(again.status, 409, "{again:?}");
    assert!(!again.text.contains(&receipt));
});

db_test!(duress_before_triage_raises_the_alert, |app| {
    let (receipt, _) = file_alert(&app, "en", "x");
    let p = open_portal(&app, &receipt);
    let t = input_value(&p.text, "t");
    let r = post_form(
        &app,
        "/status/pins",
        &[("lang", "en"), ("t", &t), ("new_pin", "2468"), ("duress_pin", "864213579753")],
    );
    assert_eq!(r.status, 200);
    let d = post_form(&app, "/status/safe", &[("lang", "en"), ("t", &t), ("pin", "864213579753")]);
    assert_eq!(d.status, 200);
    assert_eq!(count(&app, "escalations WHERE policy_id = 'duress-signal-untriaged'"), 1);
});

/// The real binary, a whole defender flow behind a proxy that passes her address: the log
/// holds no address, no User-Agent, no receipt, nothing she wrote.
#[test]
fn the_log_of_a_whole_flow_holds_nothing_identifying() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    for backend in [crate::harness::Backend::Sqlite, crate::harness::Backend::Postgres] {
        let Some(db) = crate::harness::TestDb::new(backend) else { continue };
        let mut child = Command::new(env!("CARGO_BIN_EXE_haven"))
            .envs(db.env())
            .env("HAVEN_BIND", "127.0.0.1:0")
            .env("HAVEN_LOGIN_TRUST_FORWARDED_FOR", "true")
            .env("HAVEN_LOG", "debug")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut base = None;
        for line in BufReader::new(child.stdout.take().unwrap()).lines() {
            if let Some(u) = line.unwrap().strip_prefix("Haven is listening on ") {
                base = Some(u.trim().to_string());
                break;
            }
        }
        let base = base.expect("listening line");
        // The form opens once someone can read what it receives.
        let o = Command::new(env!("CARGO_BIN_EXE_haven"))
            .envs(db.env())
            .args(["user", "create", "--email", "intake@log.test", "--name", "I", "--role", "coordinator"])
            .args(["--org", "Haven administration"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{o:?}");
        let agent = ureq::Agent::config_builder().http_status_as_error(false).build().new_agent();
        let (addr, ua) = ("203.0.113.77", "Mozilla/5.0 (HavenUA-4471; Android 9)");
        let get = |path: &str| {
            let mut r = agent
                .get(format!("{base}{path}"))
                .header("User-Agent", ua)
                .header("X-Forwarded-For", addr)
                .call()
                .unwrap();
            r.body_mut().read_to_string().unwrap()
        };
        let post = |path: &str, pairs: &[(&str, &str)]| {
            let mut r = agent
                .post(format!("{base}{path}"))
                .header("User-Agent", ua)
                .header("X-Forwarded-For", addr)
                .header("Content-Type", FORM_CT)
                .send(&encode(pairs)[..])
                .unwrap();
            assert!(r.status().as_u16() < 500, "{path}: {}", r.status());
            r.body_mut().read_to_string().unwrap()
        };
        let narrative = "quetzal-narrative-5512 they broke in";
        let page = get("/report?lang=fr");
        let token = input_value(&page, "token");
        let receipt_page = post("/report", &alert_fields(&token, "fr", narrative));
        let receipt = element_text(&receipt_page, "receipt");
        assert_eq!(receipt.len(), 19, "{receipt_page}");
        // The receipt page in another language: neither the ticket nor the receipt is logged.
        let ticket = input_value(&receipt_page, "r");
        let switched = post("/report/receipt", &[("r", &ticket), ("lang", "ar")]);
        assert_eq!(element_text(&switched, "receipt"), receipt);
        get("/?lang=ar");
        let wrong = post("/status", &[("lang", "fr"), ("receipt", "9999 9999 9999 9999")]);
        assert!(wrong.contains("e-receipt"));
        let portal = post("/status", &[("lang", "fr"), ("receipt", &receipt)]);
        let t = input_value(&portal, "t");
        post("/status/reply", &[("lang", "fr"), ("t", &t), ("body", "okapi-reply-8830")]);
        post("/status/pins", &[("lang", "fr"), ("t", &t), ("new_pin", "4826"), ("duress_pin", "7315")]);
        post("/status/safe", &[("lang", "fr"), ("t", &t), ("pin", "7315")]);
        child.kill().unwrap();
        let out = child.wait_with_output().unwrap();
        let log = String::from_utf8_lossy(&out.stderr);
        assert!(log.contains("route=/report") && log.contains("route=/status/safe"), "requests are logged: {log}");
        assert!(log.contains("route=/report/receipt"), "the language switch is logged by its pattern: {log}");
        let digits = receipt.replace(' ', "");
        for secret in [
            addr,
            "HavenUA",
            ua,
            receipt.as_str(),
            digits.as_str(),
            "quetzal-narrative",
            "okapi-reply",
            "Amani",
            "700 111222",
            "9999 9999",
            t.as_str(),
            token.as_str(),
            ticket.as_str(),
        ] {
            assert!(!log.contains(secret), "{secret} reached the log:\n{log}");
        }
        // The PINs are four digits: they may turn up inside a timestamp or an id by chance,
        // so they are looked for as words of their own.
        for pin in ["4826", "7315"] {
            assert!(!has_word(&log, pin), "{pin} reached the log:\n{log}");
        }
        // Nor the database.
        if backend == crate::harness::Backend::Sqlite {
            let mut all = Vec::new();
            for e in std::fs::read_dir(db.dir.path()).unwrap() {
                let p = e.unwrap().path();
                if p.is_file() {
                    all.extend(std::fs::read(&p).unwrap());
                }
            }
            let all = String::from_utf8_lossy(&all);
            for secret in [addr, "HavenUA", digits.as_str(), "quetzal-narrative", "okapi-reply"] {
                assert!(!all.contains(secret), "{secret} stored in clear");
            }
        }
    }
}

db_test!(a_closed_alert_takes_no_more_messages, |app| {
    let (receipt, _) = file_alert(&app, "en", "x");
    let en = &haven::form::i18n::EN;
    let org = app.admin_org();
    let (_, email, pw) = app.user(haven::domain::Role::Coordinator, &org);
    let coord = token_of(&app.login(&email, &pw));
    let alert_id = app.get("/api/v1/alerts", Some(&coord)).json()["items"][0]["id"].as_str().unwrap().to_string();
    let p = open_portal(&app, &receipt);
    let t = input_value(&p.text, "t");
    let d = app.post(&format!("/api/v1/alerts/{alert_id}/dismiss"), Some(&coord), json!({ "reason": "duplicate" }));
    assert_eq!(d.status, 200, "{d:?}");
    let p = open_portal(&app, &receipt);
    assert!(p.text.contains(en.state_closed));
    assert!(p.text.contains("id=\"closed\""));
    assert!(!p.text.contains("action=\"/status/reply\""), "no reply form on a closed alert");
    // An older page still posting a reply: told it is closed, nothing stored.
    let r = post_form(&app, "/status/reply", &[("lang", "en"), ("t", &t), ("body", "hello?")]);
    assert_eq!(r.status, 200);
    assert_eq!(element_text(&r.text, "notice"), unescape(en.closed_note));
    assert_eq!(count(&app, "messages"), 0);
});

// One receipt cannot bury the team: replies and check-in requests are bounded per alert,
// whatever addresses they come from, and each limit answers with her language's page.
db_test!(replies_and_check_ins_are_bounded_per_alert, |app| {
    let (receipt, _) = file_alert(&app, "fr", "ils sont revenus");
    let fr = &haven::form::i18n::FR;
    let org = app.admin_org();
    let (_, email, pw) = app.user(haven::domain::Role::Coordinator, &org);
    let coord = token_of(&app.login(&email, &pw));
    let alert_id = app.get("/api/v1/alerts", Some(&coord)).json()["items"][0]["id"].as_str().unwrap().to_string();
    let tri = app.post(&format!("/api/v1/alerts/{alert_id}/triage"), Some(&coord), json!({ "new_case": {} }));
    let case_id = tri.json()["case_id"].as_str().unwrap().to_string();
    let t = input_value(&open_portal(&app, &receipt).text, "t");

    let limit = haven::domain::messages::FROM_DEFENDER_PER_HOUR;
    for i in 0..limit {
        let body = format!("message {i}");
        let r = post_form(&app, "/status/reply", &[("lang", "fr"), ("t", &t), ("body", &body)]);
        assert_eq!(r.status, 200, "{i}: {r:?}");
    }
    let r = post_form(&app, "/status/reply", &[("lang", "fr"), ("t", &t), ("body", "one more")]);
    assert_eq!(r.status, 422, "{r:?}");
    assert_eq!(unescape(&element_text(&r.text, "e-body")), fr.reply_limit);
    assert!(r.text.contains("one more"), "what she typed is kept");
    let stored = app.get(&format!("/api/v1/cases/{case_id}/messages?limit=200"), Some(&coord)).json();
    assert_eq!(stored["items"].as_array().unwrap().len() as i64, limit, "nothing past the limit is stored");
    // An hour later she may write again.
    app.clock.advance(Duration::minutes(61));
    let t = input_value(&open_portal(&app, &receipt).text, "t");
    let r = post_form(&app, "/status/reply", &[("lang", "fr"), ("t", &t), ("body", "again")]);
    assert_eq!(r.status, 200, "{r:?}");

    for i in 0..haven::domain::portal::MAX_PENDING_CHECKINS {
        let r = post_form(&app, "/status/checkin", &[("lang", "fr"), ("t", &t), ("hours", "12")]);
        assert_eq!(r.status, 200, "{i}: {r:?}");
    }
    let r = post_form(&app, "/status/checkin", &[("lang", "fr"), ("t", &t), ("hours", "12")]);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(unescape(&element_text(&r.text, "notice")), fr.checkin_limit);
    let coord = token_of(&app.login(&email, &pw)); // an hour has passed: a new session
    let checkins = app.get(&format!("/api/v1/cases/{case_id}/checkins"), Some(&coord));
    assert_eq!(checkins.status, 200, "{checkins:?}");
    assert_eq!(checkins.json()["items"].as_array().unwrap().len(), haven::domain::portal::MAX_PENDING_CHECKINS);
});

/// Whether `word` occurs in `text` with no letter or digit right before or after it.
fn has_word(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(i, _)| {
        let before = text[..i].chars().next_back().is_some_and(|c| c.is_ascii_alphanumeric());
        let after = text[i + word.len()..].chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
        !before && !after
    })
}

#[test]
fn words_are_found_only_on_their_own() {
    assert!(has_word("pin=7315 sent", "7315"));
    assert!(has_word("7315", "7315"));
    assert!(!has_word("at 19:53:46.573150Z", "7315"));
    assert!(!has_word("id=01a27315-aaaa", "7315"));
}

// A status page left open on a phone does not keep her session alive for ever: however
// often its pages are used, after two hours the receipt is asked again.
db_test!(a_portal_session_ends_two_hours_after_the_receipt, |app| {
    let (receipt, _) = file_alert(&app, "en", "a car outside again");
    let en = &haven::form::i18n::EN;
    let mut t = input_value(&open_portal(&app, &receipt).text, "t");
    let mut minutes = 0;
    while minutes + 25 < haven::form::keys::PORTAL_SESSION_MINUTES {
        app.clock.advance(Duration::minutes(25));
        minutes += 25;
        let body = format!("still here at {minutes} minutes");
        let r = post_form(&app, "/status/reply", &[("lang", "en"), ("t", &t), ("body", &body)]);
        assert_eq!(r.status, 200, "{minutes} min: {r:?}");
        t = input_value(&r.text, "t");
    }
    app.clock.advance(Duration::minutes(haven::form::keys::PORTAL_SESSION_MINUTES - minutes) + Duration::seconds(1));
    let r = post_form(&app, "/status/reply", &[("lang", "en"), ("t", &t), ("body", "after the end")]);
    assert!(r.text.contains(en.session_over), "{r:?}");
    // Her receipt opens a new session.
    assert_eq!(open_portal(&app, &receipt).status, 200);
});

// A duress signal before triage follows her alert into the case already open for her: the
// case becomes critical and the duress chain starts on it (its assignees are told).
db_test!(a_duress_signal_before_triage_follows_the_alert_into_an_existing_case, |app| {
    let (receipt, _) = file_alert(&app, "en", "they took my phone");
    let t = input_value(&open_portal(&app, &receipt).text, "t");
    let set = [("lang", "en"), ("t", t.as_str()), ("new_pin", "2468"), ("duress_pin", "864213579753")];
    assert_eq!(post_form(&app, "/status/pins", &set).status, 200);
    let r = post_form(&app, "/status/safe", &[("lang", "en"), ("t", &t), ("pin", "864213579753")]);
    assert_eq!(r.status, 200);
    assert_eq!(count(&app, "escalations WHERE policy_id = 'duress-signal-untriaged'"), 1);

    let org = app.admin_org();
    let (_, email, pw) = app.user(haven::domain::Role::Coordinator, &org);
    let coord = token_of(&app.login(&email, &pw));
    let case =
        app.post("/api/v1/cases", Some(&coord), json!({ "severity": "low", "country": "CO", "consent_scope": [] }));
    let case_id = case.json()["id"].as_str().unwrap().to_string();
    let alert_id = app.get("/api/v1/alerts", Some(&coord)).json()["items"][0]["id"].as_str().unwrap().to_string();
    let tri = app.post(&format!("/api/v1/alerts/{alert_id}/triage"), Some(&coord), json!({ "case_id": case_id }));
    assert_eq!(tri.status, 200, "{tri:?}");
    let case = app.get(&format!("/api/v1/cases/{case_id}"), Some(&coord)).json();
    assert_eq!(case["severity"], "critical", "the alarm raised the case it joined");
    let running =
        format!("escalations WHERE policy_id = 'duress-signal' AND case_id = '{case_id}' AND status = 'active'");
    assert_eq!(count(&app, &running), 1, "the duress chain runs on the case");
    assert_eq!(count(&app, "audit_events WHERE action = 'case.duress'"), 1);

    // An alert without a duress signal attached to a case changes nothing of the kind.
    let (_, _) = file_alert(&app, "en", "a quiet report");
    let other =
        app.get("/api/v1/alerts?status=received", Some(&coord)).json()["items"][0]["id"].as_str().unwrap().to_string();
    let low =
        app.post("/api/v1/cases", Some(&coord), json!({ "severity": "low", "country": "CO", "consent_scope": [] }));
    let low_id = low.json()["id"].as_str().unwrap().to_string();
    assert_eq!(
        app.post(&format!("/api/v1/alerts/{other}/triage"), Some(&coord), json!({ "case_id": low_id })).status,
        200
    );
    assert_eq!(app.get(&format!("/api/v1/cases/{low_id}"), Some(&coord)).json()["severity"], "low");
    assert_eq!(count(&app, "audit_events WHERE action = 'case.duress'"), 1);
});

/// The form's counters live in the database: two instances on one database count wrong
/// receipts from one network together.
fn wrong_receipts_count_on_every_instance(app: TestApp) {
    let data_dir = app.db.dir.path().join("data");
    let second = TestApp::start_with(app.db.share(), |c| {
        c.form.receipt_failures_per_address = 3;
        c.data_dir = data_dir;
    });
    let (receipt, _) = file_alert(&app, "en", "x");
    assert_eq!(open_portal(&app, "0000 0000 0000 0000").status, 422);
    assert_eq!(open_portal(&second, "0000 0000 0000 0001").status, 422);
    assert_eq!(open_portal(&app, "0000 0000 0000 0002").status, 422);
    // Three failures over two instances: both refuse even the right receipt now.
    assert_eq!(open_portal(&second, &receipt).status, 429);
    assert_eq!(open_portal(&app, &receipt).status, 429);
}

#[test]
fn wrong_receipts_count_on_every_instance_sqlite() {
    let db = crate::harness::TestDb::new(crate::harness::Backend::Sqlite).expect("sqlite");
    wrong_receipts_count_on_every_instance(TestApp::start_with(db, |c| c.form.receipt_failures_per_address = 3));
}

#[test]
fn wrong_receipts_count_on_every_instance_postgres() {
    if let Some(db) = crate::harness::TestDb::new(crate::harness::Backend::Postgres) {
        wrong_receipts_count_on_every_instance(TestApp::start_with(db, |c| c.form.receipt_failures_per_address = 3));
    }
}
