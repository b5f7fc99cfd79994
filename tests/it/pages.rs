//! Her pages need a door and must not give her away: `GET /` in her language, the form's
//! way to the status page, one neutral configurable title on every page, a receipt page
//! that changes language without the receipt in any link, and the date in her calendar's
//! words and digits, over real HTTP on both backends.

use chrono::Duration;
use haven::form::i18n::{AR, EN, ES, FR};

use crate::form::{
    alert_fields, assert_form_headers, assert_plain_page, element_text, encode, input_value, post_form, unescape,
    FORM_CT,
};
use crate::harness::{token_of, TestApp};
use crate::{db_test, db_test_with};

/// Every `href`, `action` and `src` value on a page.
fn urls_of(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in ["href=\"", "action=\"", "src=\""] {
        for (i, _) in html.match_indices(attr) {
            let rest = &html[i + attr.len()..];
            out.push(rest.split('"').next().unwrap_or_default().to_string());
        }
    }
    out
}

fn no_follow() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).max_redirects(0).build().new_agent()
}

/// Sends the form without following the redirect; returns the receipt page's `Location`.
fn send_without_following(app: &TestApp, lang: &str) -> String {
    let page = app.get(&format!("/report?lang={lang}"), None);
    let token = input_value(&page.text, "token");
    let r = no_follow()
        .post(format!("{}/report", app.base))
        .header("Content-Type", FORM_CT)
        .send(&encode(&alert_fields(&token, lang, "a car outside the office again"))[..])
        .expect("POST /report");
    assert_eq!(r.status().as_u16(), 303);
    r.headers().get("location").expect("Location").to_str().expect("ascii").to_string()
}

/// A POST that is not followed: status, `Location` if any, body.
fn post_no_follow(app: &TestApp, path: &str, pairs: &[(&str, &str)]) -> (u16, Option<String>, String) {
    let mut r = no_follow()
        .post(format!("{}{path}", app.base))
        .header("Content-Type", FORM_CT)
        .send(&encode(pairs)[..])
        .expect("POST");
    let location = r.headers().get("location").and_then(|v| v.to_str().ok()).map(str::to_string);
    (r.status().as_u16(), location, r.body_mut().read_to_string().unwrap_or_default())
}

db_test!(the_door_speaks_her_language_and_leads_to_the_form_and_the_status_page, |app| {
    for (lang, dir, t) in [("en", "ltr", &EN), ("fr", "ltr", &FR), ("es", "ltr", &ES), ("ar", "rtl", &AR)] {
        let r = app.get(&format!("/?lang={lang}"), None);
        assert_eq!(r.status, 200, "{lang}: {r:?}");
        assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
        assert_form_headers(&r);
        assert_plain_page(&r.text);
        assert!(r.text.contains(&format!("<html lang=\"{lang}\" dir=\"{dir}\">")), "{lang}");
        assert!(r.text.contains("<title>Haven</title>"), "{lang}: the neutral default title");
        let text = unescape(&r.text);
        assert_eq!(element_text(&r.text, "to-report"), t.report_title, "{lang}");
        assert_eq!(element_text(&r.text, "to-status"), t.status_title, "{lang}");
        assert!(text.contains(t.door_title) && text.contains(t.door_intro), "{lang}");
        assert!(text.contains(t.door_report_hint) && text.contains(t.door_status_hint), "{lang}");
        let urls = urls_of(&r.text);
        for want in [format!("/report?lang={lang}"), format!("/status?lang={lang}"), "/form.css".into()] {
            assert!(urls.contains(&want), "{lang}: no link to {want} in {urls:?}");
        }
        // The language switch stays on the door.
        for other in ["en", "fr", "es", "ar"].iter().filter(|o| **o != lang) {
            assert!(urls.contains(&format!("/?lang={other}")), "{lang}: no switch to {other}");
        }
        // Nothing on the door should alarm someone looking over her shoulder.
        for word in ["threat", "menace", "amenaza", "تهديد", "danger", "peligro", "خطر"] {
            assert!(!text.to_lowercase().contains(word), "{lang}: the door says {word}");
        }
    }
    // Without ?lang=, the browser's language, as on /report.
    let ar = app.raw_with_headers("GET", "/", None, &[("Accept-Language", "ar-SD,ar;q=0.9,en;q=0.5")], None);
    assert!(ar.text.contains("<html lang=\"ar\" dir=\"rtl\">"), "{ar:?}");
    // The door is no catch-all: unknown paths outside her pages are still the API's JSON 404.
    for path in ["/nope", "/index.html", "/reportx", "/api/v1/nope"] {
        let r = app.get(path, None);
        assert_eq!(r.status, 404, "{path}: {r:?}");
        assert!(r.header("content-type").is_some_and(|c| c.starts_with("application/json")), "{path}: {r:?}");
        assert_eq!(r.code(), "not_found", "{path}");
    }
    // Under her pages, an unknown path is one of her pages, in her language.
    for (method, path, lang, text) in [
        ("GET", "/report/nope?lang=ar", "ar", AR.err_not_found),
        ("GET", "/status/nope/?lang=fr", "fr", FR.err_not_found),
        ("GET", "/status/view/extra?lang=es", "es", ES.err_not_found),
        ("POST", "/report/anything", "en", EN.err_not_found),
    ] {
        let r = app.raw(method, path, None, if method == "POST" { Some((FORM_CT, b"x=1")) } else { None });
        assert_eq!(r.status, 404, "{path}: {r:?}");
        assert_form_headers(&r);
        assert!(r.text.contains(&format!("<html lang=\"{lang}\"")), "{path}: {r:?}");
        assert!(unescape(&r.text).contains(text), "{path}: {r:?}");
        assert_plain_page(&r.text);
    }
    // Other methods on the door are a client's mistake, never a server error.
    let post = app.raw("POST", "/", None, Some((FORM_CT, b"x=1")));
    assert!((400..500).contains(&post.status), "{post:?}");
});

db_test!(the_form_leads_to_the_status_page, |app| {
    for (lang, t) in [("en", &EN), ("fr", &FR), ("es", &ES), ("ar", &AR)] {
        let r = app.get(&format!("/report?lang={lang}"), None);
        assert_eq!(r.status, 200);
        assert!(urls_of(&r.text).contains(&format!("/status?lang={lang}")), "{lang}");
        assert_eq!(element_text(&r.text, "to-status"), t.report_followup, "{lang}");
    }
});

db_test_with!(
    every_page_has_the_configured_neutral_title,
    |c| { c.form.page_title = "Recipes & notes".into() },
    |app| {
        {
            let (_, receipt_page) = crate::form::file_alert(&app, "ar", "x");
            let pages = vec![
                ("/", app.get("/?lang=ar", None)),
                ("/report", app.get("/report?lang=fr", None)),
                ("/status", app.get("/status?lang=es", None)),
                ("receipt", receipt_page),
                ("an error page", post_form(&app, "/report", &[("lang", "en"), ("kind", "x"), ("kind", "y")])),
            ];
            for (what, r) in pages {
                assert!(r.text.contains("<title>Recipes &#38; notes</title>"), "{what}: {}", r.text);
                assert_eq!(r.text.matches("<title>").count(), 1, "{what}");
                for t in [&EN, &FR, &ES, &AR] {
                    let title = r.text.split("</title>").next().unwrap_or_default();
                    assert!(!unescape(title).contains(t.report_title), "{what}: a telling title");
                }
                assert!(!r.text.contains("Report a threat safely"), "{what}");
            }
        }
    }
);

db_test!(the_receipt_page_changes_language_without_the_receipt_in_any_url, |app| {
    let location = send_without_following(&app, "en");
    assert!(location.starts_with("/report/receipt?r="), "{location}");
    let shown = app.get(&location, None);
    assert_eq!(shown.status, 200);
    let receipt = element_text(&shown.text, "receipt");
    let digits = receipt.replace(' ', "");
    assert_eq!(digits.len(), 16);
    assert!(!location.contains(&digits), "the receipt is not in the redirect");
    // The switch is a form that posts a ticket, not links that would lose the page.
    assert!(shown.text.contains("action=\"/report/receipt\""), "{}", shown.text);
    assert!(!urls_of(&shown.text).iter().any(|u| u.starts_with("/report?lang=")), "no language links to the form");
    for u in urls_of(&shown.text) {
        assert!(!u.contains(&digits) && !u.contains("r="), "{u}");
    }
    let ticket = input_value(&shown.text, "r");
    assert!(!ticket.contains(&digits), "the ticket is not the receipt");

    // In Arabic: the same receipt, answered directly (no redirect, no Location).
    let (status, loc, body) = post_no_follow(&app, "/report/receipt", &[("r", &ticket), ("lang", "ar")]);
    assert_eq!(status, 200, "{body}");
    assert_eq!(loc, None, "no Location: nothing to put in a history entry");
    assert!(body.contains("<html lang=\"ar\" dir=\"rtl\">"));
    assert_eq!(element_text(&body, "receipt"), receipt, "the receipt is kept");
    assert!(unescape(&body).contains(AR.receipt_title));
    for u in urls_of(&body) {
        assert!(!u.contains(&digits), "{u}");
    }

    // Each switch renews the ticket: she can keep reading and switching, while a page found
    // later (its ticket too old) shows nothing.
    let ar_ticket = input_value(&body, "r");
    app.clock.advance(Duration::seconds(haven::form::keys::TICKET_SECONDS - 10));
    let (status, _, body) = post_no_follow(&app, "/report/receipt", &[("r", &ar_ticket), ("lang", "es")]);
    assert_eq!(status, 200);
    assert_eq!(element_text(&body, "receipt"), receipt);
    assert!(body.contains("<html lang=\"es\""));
    let es_ticket = input_value(&body, "r");
    app.clock.advance(Duration::seconds(20));
    let (status, _, body) = post_no_follow(&app, "/report/receipt", &[("r", &es_ticket), ("lang", "fr")]);
    assert_eq!(status, 200, "renewed at the last switch");
    assert_eq!(element_text(&body, "receipt"), receipt);
    // She may take a quarter of an hour over writing it down, and still switch.
    let fr_ticket = input_value(&body, "r");
    app.clock.advance(Duration::seconds(haven::form::keys::READING_SECONDS - 10));
    let (status, _, body) = post_no_follow(&app, "/report/receipt", &[("r", &fr_ticket), ("lang", "ar")]);
    assert_eq!(status, 200, "a slow reader keeps the page");
    assert_eq!(element_text(&body, "receipt"), receipt);
    let (status, _, body) = post_no_follow(&app, "/report/receipt", &[("r", &ticket), ("lang", "fr")]);
    assert_eq!(status, 410, "the first ticket has expired");
    assert!(!body.contains(&receipt) && !body.contains(&digits));
    assert!(unescape(&body).contains(FR.page_expired));

    // Forged, missing or malformed: never the receipt, never a server error.
    let forged = ar_ticket.replacen('0', "1", 1).replacen('a', "b", 1);
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, u16);
    let cases: Vec<Case<'_>> = vec![
        ("forged ticket", vec![("r", forged.as_str()), ("lang", "en")], 410),
        ("no ticket", vec![("lang", "en")], 410),
        ("unknown field", vec![("r", ar_ticket.as_str()), ("receipt", digits.as_str())], 400),
        ("ticket twice", vec![("r", ar_ticket.as_str()), ("r", ar_ticket.as_str())], 400),
    ];
    for (what, pairs, want) in cases {
        let (status, _, body) = post_no_follow(&app, "/report/receipt", &pairs);
        assert_eq!(status, want, "{what}: {body}");
        assert!(!body.contains(&receipt), "{what}");
    }
    let json = app.raw("POST", "/report/receipt", None, Some(("application/json", b"{}")));
    assert_eq!(json.status, 400);
    assert_form_headers(&json);
});

db_test!(the_date_is_in_her_language_and_her_digits, |app| {
    let page = app.get("/report?lang=ar", None);
    let token = input_value(&page.text, "token");
    // Her calendar's order and names: day, month, year; no browser date picker.
    assert!(!page.text.contains("type=\"date\""));
    let (d, m, y) = (
        page.text.find("id=\"when_day\"").expect("day"),
        page.text.find("id=\"when_month\"").expect("month"),
        page.text.find("id=\"when_year\"").expect("year"),
    );
    assert!(d < m && m < y, "day, month, year");
    for name in AR.months {
        assert!(page.text.contains(&format!(">{name}</option>")), "{name}");
    }
    for label in [AR.date_day, AR.date_month, AR.date_year] {
        assert!(page.text.contains(&format!(">{label}<")), "label {label}");
    }

    // Errors next to the field, in her language, with what she typed kept.
    let cases = [
        ("٣١", "2", "٢٠٢٦", AR.err_date_invalid),
        ("1", "1", "٢٠٩٩", AR.err_date),
        ("١٥", "", "", AR.err_date_incomplete),
        ("1", "1", "٢٦", AR.err_date_year),
        ("1", "1", "1900", AR.err_date_year),
        ("١٠", "13", "2026", AR.err_date_invalid),
    ];
    for (day, month, year, msg) in cases {
        let mut f = alert_fields(&token, "ar", "x");
        f.retain(|(k, _)| !k.starts_with("when_"));
        f.extend([("when_day", day), ("when_month", month), ("when_year", year)]);
        let r = post_form(&app, "/report", &f);
        assert_eq!(r.status, 422, "{day}/{month}/{year}: {r:?}");
        assert_eq!(element_text(&r.text, "e-when"), msg, "{day}/{month}/{year}");
        assert!(r.text.contains(&format!("id=\"when_day\" name=\"when_day\" value=\"{day}\"")), "day kept");
        assert!(r.text.contains(&format!("id=\"when_year\" name=\"when_year\" value=\"{year}\"")), "year kept");
        if !month.is_empty() && month != "13" {
            assert!(r.text.contains(&format!("<option value=\"{month}\" selected>")), "month kept");
        }
        assert!(unescape(&r.text).contains(AR.err_summary));
    }
    let mut f = alert_fields(&token, "fr", "x");
    f.retain(|(k, _)| *k != "when_day");
    f.push(("when_day", "31"));
    f.retain(|(k, _)| *k != "when_month");
    f.push(("when_month", "4"));
    assert_eq!(element_text(&post_form(&app, "/report", &f).text, "e-when"), FR.err_date_invalid, "31 avril");

    // Arabic-Indic digits make the date staff read.
    let mut f = alert_fields(&token, "ar", "كانت سيارة أمام المكتب");
    f.retain(|(k, _)| !k.starts_with("when_"));
    f.extend([("when_day", "٢٠"), ("when_month", "11"), ("when_year", "۲۰۲۶")]);
    let r = post_form(&app, "/report", &f);
    assert_eq!(r.status, 200, "{r:?}");
    let org = app.admin_org();
    let (_, email, pw) = app.user(haven::domain::Role::Coordinator, &org);
    let coord = token_of(&app.login(&email, &pw));
    let list = app.get("/api/v1/alerts", Some(&coord)).json();
    let id = list["items"][0]["id"].as_str().expect("alert").to_string();
    assert_eq!(app.get(&format!("/api/v1/alerts/{id}"), Some(&coord)).json()["occurred_on"], "2026-11-20");
    // No date at all is fine: it may still be going on.
    let page = app.get("/report?lang=en", None);
    let fresh = input_value(&page.text, "token");
    let mut f = alert_fields(&fresh, "en", "x");
    f.retain(|(k, _)| !k.starts_with("when_"));
    assert_eq!(post_form(&app, "/report", &f).status, 200);

    // A page served before the date became three fields (its token lasts a day) sends one
    // `when` field, empty or filled: her report is still taken, never refused as malformed.
    for (when, stored) in [("", None), ("2026-11-03", Some("2026-11-03"))] {
        let page = app.get("/report?lang=en", None);
        let old = input_value(&page.text, "token");
        let mut f = alert_fields(&old, "en", "sent from a page loaded yesterday");
        f.retain(|(k, _)| !k.starts_with("when_"));
        f.push(("when", when));
        let r = post_form(&app, "/report", &f);
        assert_eq!(r.status, 200, "when={when:?}: {r:?}");
        let list = app.get("/api/v1/alerts", Some(&coord)).json();
        let id = list["items"][0]["id"].as_str().expect("alert").to_string();
        let got = app.get(&format!("/api/v1/alerts/{id}"), Some(&coord)).json();
        assert_eq!(got["occurred_on"].as_str(), stored, "when={when:?}");
    }
});
