//! The defender's whole journey in real headless Chromium with JavaScript off, on a 320 px
//! phone screen: file an alert (in English, and in Arabic right to left), read the receipt
//! off the page, open the status page with it, send a follow-up, read a staff reply, ask for
//! a check-in and say "I am safe". Screenshots go to `target/test-artifacts/`.

use std::path::PathBuf;

use serde_json::json;

use crate::db_test;
use crate::form::element_text;
use crate::harness::{token_of, TestApp};
use crate::webdriver::{chromium_available, Browser, Options};

fn artifacts() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target").join("test-artifacts");
    std::fs::create_dir_all(&dir).expect("artifacts dir");
    dir
}

fn shot(b: &Browser, name: &str) {
    let path = artifacts().join(format!("{name}.png"));
    let (w, _) = b.screenshot(&path);
    assert!(w > 0, "{name}: empty screenshot");
    // Nothing wider than the phone: no sideways scrolling at 320 px.
    assert!(
        b.page_width() <= b.viewport_width() + 1.0,
        "{name}: page {} px wide on a {} px screen",
        b.page_width(),
        b.viewport_width()
    );
}

/// A screenshot of one element (scrolled into view), for a part of a long page.
fn element_shot(b: &Browser, css: &str, name: &str) {
    use base64::Engine as _;
    let b64 = b.find(css).cmd("GET", "/screenshot", None).expect("element screenshot");
    let png = base64::engine::general_purpose::STANDARD.decode(b64.as_str().expect("base64")).expect("png");
    let (w, h) = crate::webdriver::png_size(&png);
    assert!(w > 0 && h > 0, "{name}: empty screenshot");
    std::fs::write(artifacts().join(format!("{name}.png")), png).expect("write the screenshot");
}

struct Journey<'a> {
    lang: &'a str,
    narrative: &'a str,
    follow_up: &'a str,
    reply: &'a str,
}

fn journey(app: &TestApp, b: &Browser, j: Journey<'_>, backend: &str) {
    let tag = format!("{}-{backend}", j.lang);
    let t = haven::form::i18n::Lang::parse(j.lang).expect("lang").text();
    b.goto(&format!("{}/report?lang={}", app.base, j.lang));
    assert_eq!(b.find("html").attr("lang").as_deref(), Some(j.lang));
    let dir = if j.lang == "ar" { "rtl" } else { "ltr" };
    assert_eq!(b.find("html").attr("dir").as_deref(), Some(dir));
    assert_eq!(b.find("h1").text(), t.report_title);
    shot(b, &format!("form-{tag}-1-empty"));

    // Sent with the narrative only: errors next to the fields, the text kept.
    b.find("#narrative").send_keys(j.narrative);
    b.find("button[type=submit]").click_and_wait();
    assert_eq!(b.find("#e-kind").text(), t.err_choose);
    assert_eq!(b.find("#narrative").value(), j.narrative, "what she typed is kept");
    shot(b, &format!("form-{tag}-2-errors"));

    b.find("input[name=kind][value=threat_received]").click();
    b.find("#country").select_by_value("SD");
    b.find("#region").send_keys(if j.lang == "ar" { "الخرطوم" } else { "Khartoum" });
    b.find("input[name=urgency][value=high]").click();
    b.find("input[name=contact][value=none]").click();
    b.find("input[name=consent][value=un_agency]").set_checked(true);
    b.find("button[type=submit]").click_and_wait();
    let receipt = b.find("#receipt").text();
    assert_eq!(receipt.len(), 19, "16 digits in groups of four: {receipt}");
    assert_eq!(b.find("h1").text(), t.receipt_title);
    shot(b, &format!("form-{tag}-3-receipt"));

    // The status page, with the receipt read off the page.
    b.goto(&format!("{}/status?lang={}", app.base, j.lang));
    b.find("#receipt").send_keys(&receipt);
    b.find("button[type=submit]").click_and_wait();
    assert!(b.find("#state").text().contains(t.state_received), "{}", b.find("#state").text());
    b.find("#body").send_keys(j.follow_up);
    b.find("form[action='/status/reply'] button").click_and_wait();
    assert_eq!(b.find("#notice").text(), t.sent);
    assert!(b.source().contains(j.follow_up));
    shot(b, &format!("form-{tag}-4-follow-up"));

    // Staff: the alert, decrypted, exactly as typed; triage; a reply to her.
    let org = app.admin_org();
    let (_, email, pw) = app.user(haven::domain::Role::Coordinator, &org);
    let coord = token_of(&app.login(&email, &pw));
    let items = app.get("/api/v1/alerts?status=received", Some(&coord)).json();
    let id = items["items"][0]["id"].as_str().expect("alert").to_string();
    let a = app.get(&format!("/api/v1/alerts/{id}"), Some(&coord)).json();
    assert_eq!(a["narrative"], j.narrative);
    assert_eq!(a["country"], "SD");
    let tri = app.post(&format!("/api/v1/alerts/{id}/triage"), Some(&coord), json!({ "new_case": {} }));
    let case_id = tri.json()["case_id"].as_str().expect("case").to_string();
    let msgs = app.get(&format!("/api/v1/cases/{case_id}/messages"), Some(&coord)).json();
    assert_eq!(msgs["items"][0]["body"], j.follow_up);
    let r = app.post(&format!("/api/v1/cases/{case_id}/messages"), Some(&coord), json!({ "body": j.reply }));
    assert_eq!(r.status, 201, "{r:?}");

    // She comes back, reads the reply, asks for a check-in, then says she is safe.
    b.goto(&format!("{}/status?lang={}", app.base, j.lang));
    b.find("#receipt").send_keys(&receipt);
    b.find("button[type=submit]").click_and_wait();
    assert!(b.find("#state").text().contains(t.state_handling));
    let thread = b.find("ol.msgs").text();
    assert!(thread.contains(j.follow_up) && thread.contains(j.reply), "{thread}");
    shot(b, &format!("form-{tag}-5-reply"));
    b.find("#hours").select_by_value("3");
    b.find("#ask").click_and_wait();
    assert_eq!(b.find_all("p.pending").len(), 1);
    b.find("#safe").click_and_wait();
    assert_eq!(element_text(&b.source(), "notice"), t.thanks_text);
    shot(b, &format!("form-{tag}-6-safe"));
    let checkins = app.get(&format!("/api/v1/cases/{case_id}/checkins"), Some(&coord)).json();
    assert_eq!(checkins["items"][0]["status"], "confirmed");
    assert_eq!(checkins["items"][0]["source"], "defender");
}

db_test!(a_defender_files_and_follows_an_alert_in_a_browser_without_javascript, |app| {
    if !chromium_available("browser journey") {
        return;
    }
    let backend = match app.db.backend {
        crate::harness::Backend::Sqlite => "sqlite",
        crate::harness::Backend::Postgres => "postgres",
    };
    let b = Browser::start_mobile().expect("chromium");
    journey(
        &app,
        &b,
        Journey {
            lang: "en",
            narrative: "A car has been parked outside my office for three days. The driver photographs visitors.",
            follow_up: "Today the driver spoke to my daughter.",
            reply: "Thank you. Please stay home tonight; we will call on Signal tomorrow.",
        },
        backend,
    );
    journey(
        &app,
        &b,
        Journey {
            lang: "ar",
            narrative: "تلقيت تهديدات عبر الهاتف بعد الاجتماع مع لجنة السلام. قالوا إنهم يعرفون مكان بيتي.",
            follow_up: "اليوم وصلتني رسالة جديدة.",
            reply: "شكرًا لكِ. نحن نتابع حالتكِ.",
        },
        backend,
    );
});

/// The door, the form with a date she got wrong, the receipt, and the receipt in another
/// language, on a 390 px phone with JavaScript off.
fn door_to_receipt(app: &TestApp, b: &Browser, lang: &str, switch_to: &str, backend: &str) {
    let t = haven::form::i18n::Lang::parse(lang).expect("lang").text();
    let tag = format!("{lang}-{backend}");
    let (day_wrong, day, year) = if lang == "ar" { ("٣١", "٢٠", "٢٠٢٦") } else { ("31", "20", "2026") };
    b.goto(&format!("{}/?lang={lang}", app.base));
    assert_eq!(b.find("html").attr("lang").as_deref(), Some(lang));
    assert_eq!(b.find("html").attr("dir").as_deref(), Some(if lang == "ar" { "rtl" } else { "ltr" }));
    assert_eq!(b.viewport_width(), 390.0, "a 390 px phone");
    assert_eq!(b.title(), "Haven", "a neutral tab and history entry");
    assert_eq!(b.find("h1").text(), t.door_title);
    shot(b, &format!("door-{tag}-1-door"));

    b.find("#to-report").click_and_wait();
    assert_eq!(b.find("h1").text(), t.report_title);
    assert_eq!(b.title(), "Haven");
    assert_eq!(b.find("#to-status").text(), t.report_followup);
    // 31 February, in her digits: the error next to the date, what she typed kept.
    b.find("#when_day").send_keys(day_wrong);
    b.find("#when_month").select_by_value("2");
    b.find("#when_year").send_keys(year);
    b.find("#narrative").send_keys("x");
    b.find("button[type=submit]").click_and_wait();
    assert_eq!(b.find("#e-when").text(), t.err_date_invalid);
    assert_eq!(b.find("#when_day").value(), day_wrong);
    assert_eq!(b.find("#when_year").value(), year);
    assert_eq!(b.find("#when_month").value(), "2");
    // Day, month and year side by side, in reading order (right to left in Arabic).
    let (d, m, y) = (b.find("#when_day").rect(), b.find("#when_month").rect(), b.find("#when_year").rect());
    assert!((d.y - y.y).abs() < 2.0 && (d.y - m.y).abs() < 2.0, "one row: {d:?} {m:?} {y:?}");
    if lang == "ar" {
        assert!(d.x > m.x && m.x > y.x, "right to left: {d:?} {m:?} {y:?}");
    } else {
        assert!(d.x < m.x && m.x < y.x, "left to right: {d:?} {m:?} {y:?}");
    }
    shot(b, &format!("door-{tag}-2-date-error"));
    // Scrolled past the date (a click on the next label only focuses its field), then the
    // date field alone.
    b.find("label[for=region]").click();
    shot(b, &format!("door-{tag}-2-date-error-scrolled"));
    element_shot(b, "#f-when", &format!("door-{tag}-2-date-field"));

    b.find("#when_day").clear();
    b.find("#when_day").send_keys(day);
    b.find("#when_month").select_by_value("11");
    b.find("input[name=kind][value=surveillance]").click();
    b.find("#country").select_by_value("LB");
    b.find("input[name=urgency][value=medium]").click();
    b.find("input[name=contact][value=none]").click();
    b.find("button[type=submit]").click_and_wait();
    assert_eq!(b.find("h1").text(), t.receipt_title);
    let receipt = b.find("#receipt").text();
    let digits = receipt.replace(' ', "");
    assert_eq!(digits.len(), 16, "{receipt}");
    assert!(!b.current_url().contains(&digits));
    shot(b, &format!("door-{tag}-3-receipt"));

    // Another language: the same receipt, and still not in the address bar.
    b.find(&format!("nav button[value={switch_to}]")).click_and_wait();
    assert_eq!(b.find("html").attr("lang").as_deref(), Some(switch_to));
    assert_eq!(b.find("#receipt").text(), receipt, "the receipt survives the language switch");
    let other = haven::form::i18n::Lang::parse(switch_to).expect("lang").text();
    assert_eq!(b.find("h1").text(), other.receipt_title);
    let url = b.current_url();
    assert!(url.ends_with("/report/receipt"), "a POST answer, nothing in the URL: {url}");
    assert!(!url.contains(&digits));
    assert_eq!(b.title(), "Haven");
    shot(b, &format!("door-{tag}-4-receipt-in-{switch_to}"));
}

db_test!(the_door_leads_to_the_form_and_the_receipt_keeps_in_another_language, |app| {
    if !chromium_available("door journey") {
        return;
    }
    let backend = match app.db.backend {
        crate::harness::Backend::Sqlite => "sqlite",
        crate::harness::Backend::Postgres => "postgres",
    };
    let b =
        Browser::start_with(Options { width: 390, height: 844, mobile: true, ..Options::default() }).expect("chromium");
    door_to_receipt(&app, &b, "en", "ar", backend);
    door_to_receipt(&app, &b, "ar", "en", backend);
});
