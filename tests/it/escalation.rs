//! Escalation: the default rules fire at the right step and time, mail reaches a real SMTP
//! server started by the test, acknowledgement stops the chain, two engines never deliver
//! twice, an SMTP outage loses nothing, and bad rule files never replace good ones.

use std::collections::HashSet;

use chrono::Duration;
use haven::clock::Clock;
use haven::config::Secret;
use haven::domain::Role;
use haven::escalation::engine::{self, PassReport};
use serde_json::{json, Value};

use crate::harness::{cast, Backend, Cast, Person, TestApp, TestDb};
use crate::smtp::SmtpSink;

/// Declares a test per backend with a running app whose mail goes to a fresh SMTP sink.
macro_rules! mail_test {
    ($name:ident, |$app:ident, $sink:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            fn run($app: TestApp, $sink: SmtpSink) $body

            #[test]
            fn sqlite() {
                let (a, s) = with_sink(Backend::Sqlite).expect("sqlite app");
                run(a, s);
            }

            #[test]
            fn postgres() {
                if let Some((a, s)) = with_sink(Backend::Postgres) {
                    run(a, s);
                }
            }
        }
    };
}

fn with_sink(backend: Backend) -> Option<(TestApp, SmtpSink)> {
    let sink = SmtpSink::start();
    let db = TestDb::new(backend)?;
    let url = sink.url();
    let app = TestApp::start_with(db, move |c| {
        c.smtp_url = Secret::new(url);
        c.public_url = "https://haven.example.org".into();
    });
    Some((app, sink))
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap_or_else(|| panic!("no id in {v}")).to_string()
}

fn new_case(app: &TestApp, d: &Cast, severity: &str, summary: &str) -> Value {
    let r = app.post(
        "/api/v1/cases",
        Some(&d.owner_coord.token),
        json!({ "severity": severity, "country": "CO", "consent_scope": [], "summary": summary }),
    );
    assert_eq!(r.status, 201, "{r:?}");
    let case = r.json();
    let r = app.post(
        &format!("/api/v1/cases/{}/assignees", id_of(&case)),
        Some(&d.owner_coord.token),
        json!({ "user_id": d.assigned_officer.id }),
    );
    assert_eq!(r.status, 200, "{r:?}");
    case
}

/// One engine pass and as many sender passes as it takes, at the app's current time.
fn pass(app: &TestApp) -> PassReport {
    let st = app.state();
    let report = engine::run_due(st, app.clock.now(), 1000).expect("engine pass");
    while engine::send_due(st, app.clock.now(), 100).expect("send pass").claimed > 0 {}
    report
}

fn with_subject<'a>(mails: &'a [crate::smtp::Mail], words: &str) -> Vec<&'a crate::smtp::Mail> {
    mails.iter().filter(|m| m.header("Subject").is_some_and(|s| s.contains(words))).collect()
}

fn escalations(app: &TestApp, token: &str, status: &str) -> Vec<Value> {
    let r = app.get(&format!("/api/v1/escalations?status={status}"), Some(token));
    assert_eq!(r.status, 200, "{r:?}");
    r.json()["items"].as_array().expect("items").clone()
}

mail_test!(critical_case_escalates_step_by_step_and_stops_on_acknowledgement, |app, sink| {
    let d = cast(&app);
    let canary = format!("CANARY{}", uuid::Uuid::new_v4().simple());
    let case = new_case(&app, &d, "critical", &format!("hiding at {canary}"));
    let reference = case["reference"].as_str().unwrap().to_string();

    // 0m: the organisation's coordinators, nobody else.
    let r = pass(&app);
    assert_eq!((r.steps_fired, r.messages), (1, 2), "{r:?}");
    let first = sink.to(&d.owner_coord.email);
    assert_eq!(first.len(), 1);
    assert_eq!(sink.to(&d.second_coord.email).len(), 1);
    assert!(sink.to(&d.assigned_officer.email).is_empty() && sink.to(&d.other_coord.email).is_empty());
    let subject = first[0].header("Subject").unwrap();
    assert!(subject.contains(&reference) && subject.contains("critical case has not been acknowledged"), "{subject}");
    assert!(first[0].header("Message-ID").is_some_and(|m| m.ends_with("@haven>")));
    assert!(first[0].ack_path().starts_with("/ack/"));
    assert!(first[0].text().contains("https://haven.example.org/ack/"));

    // The list shows it with its next due time.
    let list = escalations(&app, &d.owner_coord.token, "active");
    let mine: Vec<&Value> = list.iter().filter(|e| e["case_id"] == case["id"]).collect();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["policy_id"], "critical-case-unacknowledged");
    assert_eq!(mine[0]["step"], 1);
    let next: chrono::DateTime<chrono::Utc> = mine[0]["next_due_at"].as_str().unwrap().parse().unwrap();
    let started: chrono::DateTime<chrono::Utc> = mine[0]["started_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(next - started, Duration::minutes(15));
    assert!(escalations(&app, &d.other_coord.token, "all").is_empty(), "need-to-know");

    // 14m: nothing new. 15m: coordinators again, and the assignee.
    app.clock.advance(Duration::minutes(14));
    assert_eq!(pass(&app).steps_fired, 0);
    assert_eq!(sink.mails().len(), 2);
    app.clock.advance(Duration::minutes(1));
    assert_eq!(pass(&app).messages, 3);
    assert_eq!(sink.to(&d.owner_coord.email).len(), 2);
    let officer_mail = sink.to(&d.assigned_officer.email);
    assert_eq!(officer_mail.len(), 1);

    // The link: GET only asks (mail scanners follow links), POST acknowledges, once.
    let link = officer_mail[0].ack_path();
    let r = app.get(&link, None);
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.text.contains(&reference) && r.text.contains("<form method=\"post\">"));
    let coord = d.owner_coord.fresh(&app);
    assert_eq!(escalations(&app, &coord, "active").len(), 1, "GET changed nothing");
    let r = app.request("POST", &link, None, None);
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.text.contains("stopped"));
    let acked = escalations(&app, &coord, "acknowledged");
    assert_eq!(acked.len(), 1);
    assert_eq!(acked[0]["acknowledged_by"], json!(d.assigned_officer.id));
    assert_eq!(app.request("POST", &link, None, None).status, 410, "one-time");
    assert_eq!(app.get(&link, None).status, 410);
    let forged = format!("{}0", &link[..link.len() - 1]);
    assert_eq!(app.request("POST", &forged.replace("/ack/", "/ack/x"), None, None).status, 404);
    assert_eq!(app.get("/ack/not-a-token", None).status, 404);

    // 45m and later: the duty mailbox never hears of it.
    app.clock.advance(Duration::hours(3));
    assert_eq!(pass(&app).claimed, 0);
    assert!(sink.to("protection-duty@example.org").is_empty());
    assert_eq!(sink.mails().len(), 5);
    for m in sink.mails() {
        assert!(!m.text().contains(&canary), "case content in a mail");
    }
});

mail_test!(workflow_acknowledgement_stops_the_chain_and_links_expire, |app, sink| {
    let d = cast(&app);
    let case = new_case(&app, &d, "critical", "s");
    pass(&app);
    let link = sink.to(&d.owner_coord.email)[0].ack_path();
    let r = app.post(
        &format!("/api/v1/cases/{}/transitions", id_of(&case)),
        Some(&d.owner_coord.token),
        json!({ "to": "acknowledged" }),
    );
    assert_eq!(r.status, 200, "{r:?}");
    // The transition itself ends the chain, in its own transaction.
    let stopped = escalations(&app, &d.owner_coord.token, "stopped");
    assert_eq!(stopped[0]["ended_reason"], "stop_when");
    app.clock.advance(Duration::minutes(16));
    let r = pass(&app);
    assert_eq!((r.claimed, r.steps_fired), (0, 0), "nothing left for the engine");
    assert_eq!(sink.mails().len(), 2);
    // A link older than ack_link_hours has expired.
    app.clock.advance(Duration::hours(73));
    assert_eq!(app.request("POST", &link, None, None).status, 410);

    // The API acknowledgement: a running one is acknowledged, an ended one is a 409, and
    // someone who may not see it gets a 404.
    let (coord, coord2, officer, outsider) = (
        d.owner_coord.fresh(&app),
        d.second_coord.fresh(&app),
        d.assigned_officer.fresh(&app),
        d.other_coord.fresh(&app),
    );
    let alert = json!({ "kind": "threat_received", "urgency": "critical", "country": "CO", "narrative": "n", "consent_scope": [] });
    assert_eq!(app.post("/api/v1/alerts", Some(&coord), alert).status, 201);
    let active = escalations(&app, &coord, "active");
    assert_eq!(active.len(), 1);
    assert_eq!(active[0]["policy_id"], "critical-alert-untriaged");
    assert!(escalations(&app, &officer, "active").is_empty(), "an alert is for coordinators");
    let ack = format!("/api/v1/escalations/{}/ack", id_of(&active[0]));
    assert_eq!(app.request("POST", &ack, Some(&outsider), None).status, 404);
    assert_eq!(app.request("POST", &ack, Some(&app.admin_token()), None).status, 403);
    let r = app.request("POST", &ack, Some(&coord2), None);
    assert_eq!((r.status, r.json()["status"].clone()), (200, json!("acknowledged")), "{r:?}");
    assert_eq!(app.request("POST", &ack, Some(&coord), None).code(), "escalation_ended");
    app.clock.advance(Duration::hours(5));
    assert_eq!(pass(&app).steps_fired, 0);
});

mail_test!(every_default_rule_fires_at_its_time, |app, sink| {
    let d = cast(&app);
    let canary = format!("CANARY{}", uuid::Uuid::new_v4().simple());
    let case = new_case(&app, &d, "medium", "s");
    let base = format!("/api/v1/cases/{}", id_of(&case));
    let t = Some(d.assigned_officer.token.as_str());
    let in_days = |n: i64| (app.clock.now() + Duration::days(n)).to_rfc3339();

    // A critical alert from outside: coordinators at once and at 15m, duty at 45m.
    let alert = json!({ "kind": "threat_received", "urgency": "critical", "country": "CO", "narrative": canary, "consent_scope": [] });
    assert_eq!(app.post("/api/v1/alerts", Some(&d.owner_coord.token), alert).status, 201);
    // A high assessment (reassess in 30 days), a grant, a submitted visa, a plan to review in
    // 20 days and a measure due in 10.
    let assessment = json!({
        "threats": [{ "facts": canary, "source_actor": "armed_group", "public": false, "likelihood": 4, "impact": 5 }],
        "vulnerabilities": [{ "category": "family", "score": 5 }],
        "capacities": [{ "category": "legal", "score": 2 }],
        "reassess_by": in_days(30)
    });
    let r = app.post(&format!("{base}/assessments"), t, assessment);
    assert_eq!(r.status, 201, "{r:?}");
    assert!(["high", "critical"].contains(&r.json()["level"].as_str().unwrap()), "{r:?}");
    let grant = json!({ "category": "transport", "currency": "EUR", "amount_requested": 10_000, "purpose": canary });
    assert_eq!(app.post(&format!("{base}/grants"), t, grant).status, 201);
    let reloc = json!({ "kind": "international", "destination_country": "ES", "destination_city": "Madrid",
        "host_organization": "h", "beneficiaries": ["her"], "starts_on": in_days(40), "ends_on": in_days(100) });
    let r = app.post(&format!("{base}/relocations"), t, reloc);
    assert_eq!(r.status, 201, "{r:?}");
    let visa = app.post(
        &format!("/api/v1/relocations/{}/visas", id_of(&r.json())),
        t,
        json!({ "country": "ES", "visa_type": "humanitarian", "applicant": "her" }),
    );
    assert_eq!(visa.status, 201, "{visa:?}");
    let r = app.patch(&format!("/api/v1/visas/{}", id_of(&visa.json())), t, json!({ "status": "submitted" }));
    assert_eq!(r.status, 200, "{r:?}");
    let plan = app.post(&format!("{base}/plans"), t, json!({ "review_by": in_days(20) }));
    assert_eq!(plan.status, 201, "{plan:?}");
    let measure =
        json!({ "category": "digital", "kind": "prevention", "description": "new phone", "due_at": in_days(10) });
    let r = app.post(&format!("/api/v1/plans/{}/measures", id_of(&plan.json())), t, measure);
    assert_eq!(r.status, 201, "{r:?}");

    let count = |words: &str, to: &str| with_subject(&sink.to(to), words).len();
    let (c, o, duty) = (d.owner_coord.email.as_str(), d.assigned_officer.email.as_str(), "protection-duty@example.org");
    pass(&app);
    assert_eq!((count("critical alert", c), count("critical alert", o)), (1, 0));
    app.clock.advance(Duration::minutes(15));
    pass(&app);
    assert_eq!((count("critical alert", c), count("critical alert", o), count("critical alert", duty)), (2, 0, 0));
    app.clock.advance(Duration::minutes(30));
    pass(&app);
    assert_eq!(count("critical alert", duty), 1);

    // 47h: nothing for the high-risk case yet; 48h: its assignee and coordinators.
    app.clock.advance(Duration::hours(47) - Duration::minutes(45));
    pass(&app);
    assert_eq!(count("no approved security plan", o), 0);
    app.clock.advance(Duration::hours(1));
    pass(&app);
    assert_eq!((count("no approved security plan", o), count("no approved security plan", c)), (1, 1));
    // 72h: the undecided grant reaches the coordinators (not the officer).
    app.clock.advance(Duration::hours(23));
    pass(&app);
    assert_eq!(count("grant request", c), 0);
    app.clock.advance(Duration::hours(1));
    pass(&app);
    assert_eq!((count("grant request", c), count("grant request", o)), (1, 0));
    // 10 days: the measure is overdue (assignee); 14 days: the visa; 20: the plan review;
    // 30: the reassessment.
    app.clock.advance(Duration::days(10) - Duration::hours(72));
    pass(&app);
    assert_eq!(count("measure is past its due date", o), 1);
    assert_eq!(count("visa application", o), 0);
    app.clock.advance(Duration::days(4));
    pass(&app);
    assert_eq!((count("visa application", o), count("visa application", c)), (1, 1));
    app.clock.advance(Duration::days(6));
    pass(&app);
    assert_eq!(count("review date has passed", o), 1);
    assert_eq!(count("reassessment date has passed", o), 0);
    app.clock.advance(Duration::days(10));
    pass(&app);
    assert_eq!(count("reassessment date has passed", o), 1);
    for m in sink.mails() {
        assert!(!m.text().contains(&canary), "sealed content in a mail");
    }
});

/// Mail goes to a port nobody listens on until the test starts a server there.
fn smtp_outage(backend: Backend) {
    let Some(db) = TestDb::new(backend) else { return };
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let app = TestApp::start_with(db, move |c| {
        c.smtp_url = Secret::new(format!("smtp://127.0.0.1:{port}"));
        c.mail_timeout_seconds = 2;
    });
    let d = cast(&app);
    for _ in 0..3 {
        new_case(&app, &d, "critical", "s");
    }
    let st = app.state();
    assert_eq!(engine::run_due(st, app.clock.now(), 100).unwrap().messages, 6);
    let r = engine::send_due(st, app.clock.now(), 100).unwrap();
    assert_eq!((r.sent, r.retrying), (0, 6), "{r:?}");
    assert_eq!(engine::send_due(st, app.clock.now(), 100).unwrap().claimed, 0, "backing off");
    app.clock.advance(Duration::seconds(31));
    assert_eq!(engine::send_due(st, app.clock.now(), 100).unwrap().retrying, 6);
    // One case is acknowledged during the outage: its two queued mails are cancelled.
    let first = escalations(&app, &d.owner_coord.token, "active")[0]["id"].as_str().unwrap().to_string();
    assert_eq!(
        app.request("POST", &format!("/api/v1/escalations/{first}/ack"), Some(&d.owner_coord.token), None).status,
        200
    );
    // The server comes up; after the next backoff (60 s) everything goes, once.
    let sink = SmtpSink::on(std::net::TcpListener::bind(("127.0.0.1", port)).expect("rebind the port"));
    app.clock.advance(Duration::seconds(59));
    assert_eq!(engine::send_due(st, app.clock.now(), 100).unwrap().claimed, 0, "not yet");
    app.clock.advance(Duration::seconds(2));
    let r = engine::send_due(st, app.clock.now(), 100).unwrap();
    assert_eq!((r.claimed, r.sent, r.retrying), (6, 4, 0), "{r:?}");
    app.clock.advance(Duration::hours(1));
    assert_eq!(engine::send_due(st, app.clock.now(), 100).unwrap().claimed, 0);
    let ids: HashSet<String> = sink.mails().iter().map(|m| m.header("Message-ID").unwrap()).collect();
    assert_eq!((sink.mails().len(), ids.len()), (4, 4));
}

mod an_smtp_outage_loses_nothing_and_sends_nothing_twice {
    use super::*;

    #[test]
    fn sqlite() {
        smtp_outage(Backend::Sqlite);
    }

    #[test]
    fn postgres() {
        smtp_outage(Backend::Postgres);
    }
}

mail_test!(two_engines_deliver_every_step_exactly_once, |app, sink| {
    let d = cast(&app);
    let n = 200;
    for i in 0..n {
        let r = app.post(
            "/api/v1/cases",
            Some(&d.owner_coord.token),
            json!({ "severity": "critical", "country": "CO", "consent_scope": [], "summary": format!("case {i}") }),
        );
        assert_eq!(r.status, 201, "{r:?}");
    }
    // A second instance: its own state (pool, keys, rules) on the same database.
    let mut config = app.db.config();
    config.smtp_url = Secret::new(sink.url());
    let clock: std::sync::Arc<dyn haven::clock::Clock> = std::sync::Arc::new(app.clock.clone());
    let other = haven::state::AppState::build(config, clock).expect("second instance");
    let states = [app.state(), &other];
    let now = app.clock.now();
    let claimed: Vec<usize> = std::thread::scope(|s| {
        let hs: Vec<_> = states
            .iter()
            .map(|st| {
                s.spawn(move || {
                    let mut total = 0;
                    loop {
                        let r = engine::run_due(st, now, 15).expect("pass");
                        if r.claimed == 0 {
                            return total;
                        }
                        total += r.claimed;
                    }
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(claimed.iter().sum::<usize>(), n, "each escalation claimed by exactly one engine: {claimed:?}");
    let sent: Vec<usize> = std::thread::scope(|s| {
        let hs: Vec<_> = states
            .iter()
            .map(|st| {
                s.spawn(move || {
                    let mut total = 0;
                    loop {
                        let r = engine::send_due(st, now, 10).expect("send");
                        if r.claimed == 0 {
                            return total;
                        }
                        total += r.sent;
                    }
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mails = sink.mails();
    let ids: HashSet<String> = mails.iter().map(|m| m.header("Message-ID").unwrap()).collect();
    let pairs: HashSet<(String, String)> =
        mails.iter().map(|m| (m.header("Subject").unwrap(), m.to.join(","))).collect();
    assert_eq!(sent.iter().sum::<usize>(), 2 * n, "{sent:?}");
    assert_eq!((mails.len(), ids.len(), pairs.len()), (2 * n, 2 * n, 2 * n), "every (case, recipient) once");
    assert_eq!(escalations(&app, &d.owner_coord.token, "active").len(), 50, "a full first page of active chains");
    let _ = &d.owner_org;
});

#[test]
fn a_bad_rule_file_is_refused_with_its_line_and_the_old_rules_stay() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/policies/escalation.toml")).unwrap();
    std::fs::write(dir.path().join("escalation.toml"), &good).unwrap();
    let set = haven::escalation::RuleSet::load(dir.path().to_path_buf()).expect("default rules load");
    let before = set.rules().policies.len();
    assert!(before >= 8 && set.rules().tests_passed >= 15);
    let line_of = |needle: &str| good.lines().position(|l| l.contains(needle)).unwrap() + 1;
    let cases: Vec<(String, String)> = vec![
        (
            good.replacen("id = \"critical-alert-untriaged\"", "id = \"critical-alert-untriaged", 1),
            format!("escalation.toml:{}:", line_of("id = \"critical-alert-untriaged\"")),
        ),
        (
            good.replacen("case.acknowledged ||", "case.acknowledgd ||", 1),
            format!("escalation.toml:{}: policy `critical-case-unacknowledged`: stop_when: unknown field `case.acknowledgd`", line_of("case.acknowledged ||")),
        ),
        (
            good.replacen("when = 'alert.urgency == \"critical\"'", "when = 'alert.urgency'", 1),
            "when: returned String instead of a bool".into(),
        ),
        (good.replacen("when = 'alert.urgency == \"critical\"'", "when = 'lower(alert.urgency) == \"x\"'", 1), "unknown function `lower`".into()),
        (good.replacen("at = \"46m\"", "at = \"44m\"", 1), "test of `critical-alert-untriaged`: at 44m expected".into()),
        (good.replacen("on = \"visa.submitted\"", "on = \"visa.lost\"", 1), "unknown event `visa.lost`".into()),
        (good.replacen("after = \"15m\"", "after = \"soon\"", 1), "after: `soon` is not a duration".into()),
        (good.replacen("after = \"15m\"", "after = \"50m\"", 1), "must be later than the step before".into()),
        (
            good.replacen(
                "stop_when = 'case.acknowledged || case.status == \"closed\"'",
                "stop_when = 'case.status == \"closed\" || (case.assigned && case.risk_level < 2)'",
                1,
            ),
            "stop_when: cannot be evaluated".into(),
        ),
    ];
    for (text, want) in cases {
        std::fs::write(dir.path().join("escalation.toml"), &text).unwrap();
        let err = set.reload().err().unwrap_or_else(|| panic!("accepted a bad file (wanted {want})"));
        assert!(err.contains(&want), "error `{err}` should contain `{want}`");
        assert_eq!(set.rules().policies.len(), before, "the old rules stay");
    }
    // A second file that redefines a policy is refused too; a good one is added.
    std::fs::write(dir.path().join("escalation.toml"), &good).unwrap();
    std::fs::create_dir(dir.path().join("escalation.d")).unwrap();
    let extra = "[[policy]]\nid = \"grant-undecided-72h\"\ndescription = \"d\"\non = \"grant.requested\"\n[[policy.step]]\nafter = \"1h\"\nnotify = [\"role:coordinator\"]\n";
    std::fs::write(dir.path().join("escalation.d/extra.toml"), extra).unwrap();
    let err = set.reload().err().expect("a duplicate policy is refused");
    assert!(err.contains("extra.toml:2: policy `grant-undecided-72h` is defined twice"), "{err}");
    std::fs::write(
        dir.path().join("escalation.d/extra.toml"),
        extra.replace("grant-undecided-72h", "relocation-check"),
    )
    .unwrap();
    assert_eq!(set.reload().expect("good extra file").policies.len(), before + 1);
}

crate::db_test!(policies_check_dry_run_shows_what_fires_when, |app| {
    let d = cast(&app);
    let case = new_case(&app, &d, "critical", "s");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_haven"))
        .args(["policies", "check", "--dry-run", &id_of(&case)])
        .envs(app.db.env())
        .output()
        .expect("run haven");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("ok      ") && stdout.contains("embedded tests passed"), "{stdout}");
    assert!(stdout.contains(case["reference"].as_str().unwrap()), "{stdout}");
    assert!(stdout.contains("critical-case-unacknowledged on case"), "{stdout}");
    assert!(stdout.contains("when = true, stop_when now = false, running (escalation"), "{stdout}");
    assert!(stdout.contains("-> email:protection-duty@example.org"), "{stdout}");
    let missing = std::process::Command::new(env!("CARGO_BIN_EXE_haven"))
        .args(["policies", "check", "--dry-run", "01a20000-0000-7000-8000-000000000000"])
        .envs(app.db.env())
        .output()
        .expect("run haven");
    assert!(!missing.status.success());
});

/// The real binary: its engine thread mails on its own clock, and SIGHUP reloads the rules
/// (a bad file is logged and changes nothing).
#[test]
fn serve_escalates_on_its_own_and_reloads_rules_on_sighup() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let policies = dir.path().join("policies");
    std::fs::create_dir(&policies).unwrap();
    for f in ["access.toml", "risk.toml", "funding.toml", "escalation.toml"] {
        std::fs::copy(crate::harness::test_policies().join(f), policies.join(f)).unwrap();
    }
    let sink = SmtpSink::start();
    let mut child = Command::new(env!("CARGO_BIN_EXE_haven"))
        .current_dir(dir.path())
        .env("HAVEN_BIND", "127.0.0.1:0")
        .env("HAVEN_POLICIES_DIR", &policies)
        .env("HAVEN_SMTP_URL", sink.url())
        .env("HAVEN_ESCALATION_INTERVAL_MS", "200")
        .env("HAVEN_ADMIN_EMAIL", "admin@haven.test")
        .env("HAVEN_ADMIN_PASSWORD", "admin password for tests")
        .env("HAVEN_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let sink_log = log.clone();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            sink_log.lock().unwrap().push_str(&(line + "\n"));
        }
    });
    let base = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .find_map(|l| l.strip_prefix("Haven is listening on ").map(|u| u.trim().to_string()))
        .expect("listening line");
    let wait_for = |what: &dyn Fn() -> bool, label: &str| {
        for _ in 0..150 {
            if what() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("timed out waiting for {label}; log:\n{}", log.lock().unwrap());
    };
    let agent = ureq::Agent::config_builder().http_status_as_error(false).build().new_agent();
    let post = |path: &str, token: Option<&str>, body: Value| -> Value {
        let mut req = agent.post(format!("{base}{path}"));
        if let Some(t) = token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        let mut r = req.send_json(body).unwrap();
        r.body_mut().read_json::<Value>().unwrap_or(Value::Null)
    };
    let admin = post(
        "/api/v1/auth/login",
        None,
        json!({ "email": "admin@haven.test", "password": "admin password for tests" }),
    );
    let admin = admin["access_token"].as_str().unwrap().to_string();
    let org = post("/api/v1/organizations", Some(&admin), json!({ "name": "O", "kind": "ngo", "country": "CO" }));
    let user = json!({ "email": "coord@haven.test", "name": "C", "role": "coordinator", "organization_id": org["id"] });
    let created = post("/api/v1/users", Some(&admin), user);
    let otp = created["one_time_password"].as_str().unwrap_or_else(|| panic!("{created}")).to_string();
    let t = post("/api/v1/auth/login", None, json!({ "email": "coord@haven.test", "password": otp }));
    let t = t["access_token"].as_str().unwrap().to_string();
    post("/api/v1/me/password", Some(&t), json!({ "current_password": otp, "new_password": "a long new password 1" }));
    let t =
        post("/api/v1/auth/login", None, json!({ "email": "coord@haven.test", "password": "a long new password 1" }));
    let t = t["access_token"].as_str().unwrap().to_string();
    let case = post("/api/v1/cases", Some(&t), json!({ "severity": "critical", "country": "CO", "consent_scope": [] }));
    assert!(case["reference"].is_string(), "{case}");
    wait_for(&|| !sink.to("coord@haven.test").is_empty(), "the 0m mail from the engine thread");

    let pid = child.id().to_string();
    let hup = || assert!(Command::new("kill").args(["-HUP", &pid]).status().unwrap().success());
    std::fs::write(policies.join("escalation.toml"), "[[policy]\n").unwrap();
    hup();
    wait_for(&|| log.lock().unwrap().contains("escalation rules NOT reloaded"), "the refused reload");
    assert!(log.lock().unwrap().contains("escalation.toml:1"), "the log names file and line");
    std::fs::copy(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/escalation.toml"),
        policies.join("escalation.toml"),
    )
    .unwrap();
    std::fs::create_dir(policies.join("escalation.d")).unwrap();
    std::fs::write(
        policies.join("escalation.d/extra.toml"),
        "[[policy]]\nid = \"relocation-waiting\"\ndescription = \"A relocation request waits\"\non = \"relocation.requested\"\n[[policy.step]]\nafter = \"5d\"\nnotify = [\"role:coordinator\"]\n",
    )
    .unwrap();
    hup();
    wait_for(&|| log.lock().unwrap().contains("escalation rules reloaded"), "the good reload");
    child.kill().unwrap();
    let _ = child.wait();
    let log = log.lock().unwrap().clone();
    let loaded = log.lines().filter(|l| l.contains("escalation rules")).collect::<Vec<_>>().join("\n");
    let n = haven::escalation::Rules::load(Some(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies")))
        .expect("rules")
        .policies
        .len();
    assert!(loaded.contains(&format!("policies={n} ")) && loaded.contains(&format!("policies={} ", n + 1)), "{loaded}");
    assert!(!log.contains("coord@haven.test"), "no addresses in the log");
}

crate::db_test!(shredding_a_case_ends_its_escalations, |app| {
    let d = cast(&app);
    let case = new_case(&app, &d, "critical", "s");
    let st = app.state();
    let id = id_of(&case);
    // A check-in asked for on it, due in an hour.
    let due = (app.clock.now() + Duration::hours(1)).to_rfc3339();
    let r =
        app.post(&format!("/api/v1/cases/{id}/checkins"), Some(&d.assigned_officer.token), json!({ "due_at": due }));
    assert_eq!(r.status, 201, "{r:?}");
    st.db
        .write_blocking(|c| haven::crypto::ops::shred(&st.crypto, c, app.clock.now(), None, &id, false))
        .expect("shred");
    let stopped = escalations(&app, &d.owner_coord.token, "stopped");
    assert_eq!(stopped.len(), 1);
    assert_eq!(stopped[0]["ended_reason"], "case_shredded");
    app.clock.advance(Duration::hours(2));
    let pass = engine::run_due(st, app.clock.now(), 100).unwrap();
    assert_eq!((pass.claimed, pass.missed_checkins), (0, 0), "nothing fires for a shredded case");
});

mail_test!(a_missed_checkin_escalates_until_confirmed, |app, sink| {
    let d = cast(&app);
    let case = new_case(&app, &d, "medium", "s");
    let path = format!("/api/v1/cases/{}/checkins", id_of(&case));
    let t = Some(d.assigned_officer.token.as_str());
    let at = |m: i64| (app.clock.now() + Duration::minutes(m)).to_rfc3339();
    for (body, status, code) in [
        (json!({ "due_at": at(-5) }), 422, "invalid_due_at"),
        (json!({ "due_at": at(60 * 24 * 91) }), 422, "invalid_due_at"),
        (json!({ "due_at": "0001-01-01T00:00:00Z" }), 422, "invalid_date"),
    ] {
        let r = app.post(&path, t, body);
        assert_eq!((r.status, r.code().as_str()), (status, code), "{r:?}");
    }
    assert_eq!(app.post(&path, t, json!({ "due_at": at(60), "where": "x" })).status, 400);
    assert_eq!(app.post(&path, Some(&d.other_coord.token), json!({ "due_at": at(60) })).status, 404);
    let on_time = app.post(&path, t, json!({ "due_at": at(60) }));
    assert_eq!(on_time.status, 201, "{on_time:?}");
    let missed = app.post(&path, t, json!({ "due_at": at(90) })).json();
    let r =
        app.post(&format!("/api/v1/checkins/{}/close", id_of(&on_time.json())), t, json!({ "status": "confirmed" }));
    assert_eq!((r.status, r.json()["status"].clone()), (200, json!("confirmed")), "{r:?}");
    assert_eq!(app.get(&path, t).json()["items"].as_array().unwrap().len(), 2);

    // 89 minutes: nothing; the confirmed one never escalates. 90: the missed one does.
    app.clock.advance(Duration::minutes(89));
    pass(&app);
    assert!(with_subject(&sink.mails(), "check-in was missed").is_empty());
    app.clock.advance(Duration::minutes(1));
    pass(&app);
    let missed_mail = |to: &str| with_subject(&sink.to(to), "check-in was missed").len();
    assert_eq!((missed_mail(&d.assigned_officer.email), missed_mail(&d.owner_coord.email)), (1, 1));
    // She calls in: the chain stops before the duty mailbox hears of it.
    let r = app.post(
        &format!("/api/v1/checkins/{}/close", id_of(&missed)),
        Some(&d.assigned_officer.fresh(&app)),
        json!({ "status": "confirmed" }),
    );
    assert_eq!(r.status, 200, "{r:?}");
    // The confirmation ended the chain itself: the engine finds nothing left to do.
    app.clock.advance(Duration::minutes(31));
    let r = pass(&app);
    assert_eq!((r.claimed, r.steps_fired), (0, 0));
    assert_eq!(missed_mail("protection-duty@example.org"), 0);
});

mail_test!(only_people_who_may_see_the_case_are_mailed_and_downtime_sends_one_mail, |app, sink| {
    let d = cast(&app);
    let unassigned = Person::new(&app, Role::Officer, &d.owner_org);
    let case = new_case(&app, &d, "critical", "s");
    // The engine was down for two hours: one pass sends the latest due step once, to
    // everyone any due step names, instead of a burst of identical mails.
    app.clock.advance(Duration::hours(2));
    let r = pass(&app);
    assert_eq!(r.steps_fired, 1, "{r:?}");
    for who in [
        &d.owner_coord.email,
        &d.second_coord.email,
        &d.assigned_officer.email,
        &"protection-duty@example.org".to_string(),
    ] {
        assert_eq!(sink.to(who).len(), 1, "{who}");
    }
    assert!(sink.to(&unassigned.email).is_empty(), "an officer not on the case is never mailed");

    // A link stops working for someone who may no longer see the case.
    let link = sink.to(&d.assigned_officer.email)[0].ack_path();
    let admin = app.admin_token();
    let r = app.patch(&format!("/api/v1/users/{}", d.assigned_officer.id), Some(&admin), json!({ "active": false }));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(app.request("POST", &link, None, None).status, 403);
    assert_eq!(escalations(&app, &d.owner_coord.fresh(&app), "active").len(), 1, "still running");
    let _ = case;
});

mail_test!(changed_dates_move_their_escalations, |app, sink| {
    let d = cast(&app);
    let case = new_case(&app, &d, "medium", "s");
    let t = Some(d.assigned_officer.token.as_str());
    let in_days = |n: i64| (app.clock.now() + Duration::days(n)).to_rfc3339();
    let plan = app.post(&format!("/api/v1/cases/{}/plans", id_of(&case)), t, json!({ "review_by": in_days(20) }));
    assert_eq!(plan.status, 201, "{plan:?}");
    let body = json!({ "category": "digital", "kind": "prevention", "description": "new phone" });
    let m = app.post(&format!("/api/v1/plans/{}/measures", id_of(&plan.json())), t, body);
    assert_eq!(m.status, 201, "{m:?}");
    let mpath = format!("/api/v1/measures/{}", id_of(&m.json()));
    let measure_chains = || {
        escalations(&app, &d.owner_coord.token, "active")
            .into_iter()
            .filter(|e| e["policy_id"] == "measure-overdue")
            .map(|e| (e["id"].as_str().unwrap().to_string(), e["next_due_at"].as_str().unwrap().to_string()))
            .collect::<Vec<_>>()
    };
    assert!(measure_chains().is_empty(), "no due date, nothing to chase");
    assert_eq!(app.patch(&mpath, t, json!({ "due_at": in_days(2) })).status, 200);
    let first = measure_chains();
    assert_eq!(first.len(), 1);
    assert_eq!(app.patch(&mpath, t, json!({ "description": "new phone, wiped" })).status, 200);
    assert_eq!(measure_chains(), first, "an edit that keeps the date keeps the chain");
    assert_eq!(app.patch(&mpath, t, json!({ "due_at": in_days(5) })).status, 200);
    let moved = measure_chains();
    assert_eq!(moved.len(), 1);
    assert!(moved[0].0 != first[0].0 && moved[0].1 > first[0].1, "{first:?} -> {moved:?}");
    let overdue = |to: &str| with_subject(&sink.to(to), "measure is past its due date").len();
    app.clock.advance(Duration::days(2) + Duration::hours(1));
    pass(&app);
    assert_eq!(overdue(&d.assigned_officer.email), 0, "the old date no longer counts");
    app.clock.advance(Duration::days(3));
    pass(&app);
    assert_eq!(overdue(&d.assigned_officer.email), 1);
});

crate::db_test!(without_smtp_mail_is_written_to_files_in_the_data_dir, |app| {
    let d = cast(&app);
    new_case(&app, &d, "critical", "s");
    pass(&app);
    let dir = app.db.dir.path().join("data").join("mail");
    let files: Vec<_> = std::fs::read_dir(&dir).expect("mail dir").filter_map(|e| e.ok()).collect();
    assert_eq!(files.len(), 2, "one file per coordinator");
    let text = std::fs::read_to_string(files[0].path()).unwrap();
    assert!(text.contains("critical case has not been acknowledged"), "{text}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
        for f in &files {
            let mode = std::fs::metadata(f.path()).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{:?} is {mode:o}", f.path());
        }
    }
    assert!(files.iter().all(|f| f.path().extension().is_some_and(|e| e == "eml")), "no temporary left behind");
});

crate::db_test!(org_targets_must_name_an_organisation, |app| {
    let d = cast(&app);
    let rules = |org: &str| {
        let text = format!(
            "[[policy]]\nid = \"tell-partner\"\ndescription = \"d\"\non = \"case.opened\"\n[[policy.step]]\nafter = \"1h\"\nnotify = [\"org:{org}\"]\n"
        );
        haven::escalation::Rules::from_texts(&[("extra.toml".into(), text)]).expect("parses")
    };
    let st = app.state();
    let err = haven::escalation::check_targets(&st.db, &rules("01a20000-0000-7000-8000-000000000000")).unwrap_err();
    assert!(
        err.contains("policy `tell-partner`: `org:01a20000-0000-7000-8000-000000000000` names no organisation"),
        "{err}"
    );
    assert!(haven::escalation::check_targets(&st.db, &rules(&d.owner_org)).is_ok());
});

/// Two steps, no repeat: the second is the chain's last.
const TWO_STEPS: &str = r#"
[[policy]]
id = "two-steps"
description = "A test chain ended."
on = "case.opened"
when = 'case.severity == "critical"'
stop_when = 'case.acknowledged || case.status == "closed"'
  [[policy.step]]
  after = "0m"
  notify = ["role:coordinator"]
  [[policy.step]]
  after = "10m"
  notify = ["email:lead@example.org"]
"#;

mail_test!(the_last_step_of_a_chain_is_delivered_and_its_link_still_works, |app, sink| {
    app.state().escalation.replace_from_texts(&[("escalation.toml".into(), TWO_STEPS.into())]).expect("rules");
    let d = cast(&app);
    let case = new_case(&app, &d, "critical", "s");
    pass(&app);
    assert_eq!(sink.to(&d.owner_coord.email).len(), 1);
    app.clock.advance(Duration::minutes(10));
    let r = pass(&app);
    assert_eq!((r.steps_fired, r.ended), (1, 1), "{r:?}");
    let lead = sink.to("lead@example.org");
    assert_eq!(lead.len(), 1, "the most senior recipient's mail goes out, though the chain has no step left");
    let coord = d.owner_coord.fresh(&app);
    let done = escalations(&app, &coord, "completed");
    assert_eq!((done.len(), done[0]["case_id"].clone()), (1, case["id"].clone()));
    assert!(escalations(&app, &coord, "active").is_empty());

    // Nobody has taken it yet: the link still offers to acknowledge, in one sentence.
    let page = app.get(&lead[0].ack_path(), None);
    assert_eq!(page.status, 200, "{page:?}");
    assert!(page.text.contains("<form method=\"post\">") && page.text.contains("A test chain ended."), "{}", page.text);
    assert!(!page.text.contains(".."), "{}", page.text);
    // The coordinator takes it from her first mail.
    let first = sink.to(&d.owner_coord.email)[0].ack_path();
    let r = app.request("POST", &first, None, None);
    assert!(r.status == 200 && r.text.contains("stopped"), "{r:?}");
    let acked = escalations(&app, &coord, "acknowledged");
    assert_eq!(acked[0]["acknowledged_by"], json!(d.owner_coord.id));
    // The lead's link now says who took it and when, and offers nothing to press.
    for r in [app.get(&lead[0].ack_path(), None), app.request("POST", &lead[0].ack_path(), None, None)] {
        assert_eq!(r.status, 200, "{r:?}");
        assert!(r.text.contains("acknowledged by <strong>Test coordinator</strong>"), "{}", r.text);
        assert!(r.text.contains(&app.clock.now().format("%Y-%m-%d at %H:%M UTC").to_string()), "{}", r.text);
        assert!(!r.text.contains("<form"), "{}", r.text);
    }
    let _ = &d.owner_org;
});

mail_test!(escalations_end_in_the_change_that_removes_their_reason, |app, sink| {
    let d = cast(&app);
    let coord = d.owner_coord.token.clone();
    let t = Some(d.assigned_officer.token.as_str());
    let running = |policy: &str| {
        escalations(&app, &d.owner_coord.token, "active").iter().filter(|e| e["policy_id"] == policy).count()
    };
    let stopped_by_reason = |policy: &str| {
        escalations(&app, &d.owner_coord.token, "stopped")
            .iter()
            .any(|e| e["policy_id"] == policy && e["ended_reason"] == "stop_when")
    };

    // Triage ends the untriaged-alert chain at once, not when its next step falls due.
    let alert = json!({ "kind": "threat_received", "urgency": "critical", "country": "CO", "narrative": "n", "consent_scope": [] });
    let a = app.post("/api/v1/alerts", Some(&coord), alert);
    assert_eq!(a.status, 201, "{a:?}");
    assert_eq!(running("critical-alert-untriaged"), 1);
    let r = app.post(
        &format!("/api/v1/alerts/{}/triage", id_of(&a.json())),
        Some(&coord),
        json!({ "new_case": { "severity": "medium" } }),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(running("critical-alert-untriaged"), 0);
    assert!(stopped_by_reason("critical-alert-untriaged"));

    let case = new_case(&app, &d, "medium", "s");
    let base = format!("/api/v1/cases/{}", id_of(&case));
    // A grant decision.
    let grant = json!({ "category": "transport", "currency": "EUR", "amount_requested": 10_000, "purpose": "bus" });
    let g = app.post(&format!("{base}/grants"), t, grant);
    assert_eq!(g.status, 201, "{g:?}");
    assert_eq!(running("grant-undecided-72h"), 1);
    let r = app.patch(
        &format!("/api/v1/grants/{}", id_of(&g.json())),
        Some(&coord),
        json!({ "status": "approved", "amount_approved": 10_000 }),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(running("grant-undecided-72h"), 0);
    assert!(stopped_by_reason("grant-undecided-72h"));

    // A visa that moves on from `submitted`.
    let in_days = |n: i64| (app.clock.now() + Duration::days(n)).to_rfc3339();
    let reloc = json!({ "kind": "international", "destination_country": "ES", "destination_city": "Madrid",
        "host_organization": "h", "beneficiaries": ["her"], "starts_on": in_days(40), "ends_on": in_days(100) });
    let rl = app.post(&format!("{base}/relocations"), t, reloc);
    assert_eq!(rl.status, 201, "{rl:?}");
    let visa = app.post(
        &format!("/api/v1/relocations/{}/visas", id_of(&rl.json())),
        t,
        json!({ "country": "ES", "visa_type": "humanitarian", "applicant": "her" }),
    );
    let vpath = format!("/api/v1/visas/{}", id_of(&visa.json()));
    assert_eq!(app.patch(&vpath, t, json!({ "status": "submitted" })).status, 200);
    assert_eq!(running("visa-pending-14-days"), 1);
    assert_eq!(app.patch(&vpath, t, json!({ "status": "approved" })).status, 200);
    assert_eq!(running("visa-pending-14-days"), 0);
    assert!(stopped_by_reason("visa-pending-14-days"));

    // A measure done after it fell due.
    let plan = app.post(&format!("{base}/plans"), t, json!({ "review_by": in_days(60) }));
    let measure =
        json!({ "category": "digital", "kind": "prevention", "description": "new phone", "due_at": in_days(1) });
    let m = app.post(&format!("/api/v1/plans/{}/measures", id_of(&plan.json())), t, measure);
    assert_eq!(m.status, 201, "{m:?}");
    assert_eq!(running("measure-overdue"), 1);
    app.clock.advance(Duration::days(1));
    pass(&app);
    assert_eq!(with_subject(&sink.to(&d.assigned_officer.email), "measure is past its due date").len(), 1);
    let (officer, coord) = (d.assigned_officer.fresh(&app), d.owner_coord.fresh(&app));
    let r = app.patch(&format!("/api/v1/measures/{}", id_of(&m.json())), Some(&officer), json!({ "status": "done" }));
    assert_eq!(r.status, 200, "{r:?}");
    let running =
        |policy: &str| escalations(&app, &coord, "active").iter().filter(|e| e["policy_id"] == policy).count();
    assert_eq!(running("measure-overdue"), 0);

    // A check-in: `missed` once the engine has found it so, ended when she is confirmed safe.
    let cpath = format!("{base}/checkins");
    let due = (app.clock.now() + Duration::minutes(30)).to_rfc3339();
    let k = app.post(&cpath, Some(&officer), json!({ "due_at": due }));
    assert_eq!(k.status, 201, "{k:?}");
    assert_eq!(k.json()["status"], "pending");
    app.clock.advance(Duration::minutes(31));
    assert_eq!(pass(&app).missed_checkins, 1);
    let (officer, coord) = (d.assigned_officer.fresh(&app), d.owner_coord.fresh(&app));
    let running =
        |policy: &str| escalations(&app, &coord, "active").iter().filter(|e| e["policy_id"] == policy).count();
    let listed = app.get(&cpath, Some(&officer)).json();
    assert_eq!(listed["items"][0]["status"], "missed", "{listed}");
    assert_eq!(running("checkin-missed"), 1);
    let r = app.post(
        &format!("/api/v1/checkins/{}/close", id_of(&k.json())),
        Some(&officer),
        json!({ "status": "confirmed" }),
    );
    assert_eq!((r.status, r.json()["status"].clone()), (200, json!("confirmed")), "{r:?}");
    assert_eq!(running("checkin-missed"), 0);
    assert!(escalations(&app, &coord, "active").is_empty(), "nothing is left running");
});

mail_test!(a_backdated_visa_counts_from_the_day_it_was_submitted, |app, sink| {
    let d = cast(&app);
    let case = new_case(&app, &d, "medium", "s");
    let t = Some(d.assigned_officer.token.as_str());
    let day = |n: i64| (app.clock.now() + Duration::days(n)).to_rfc3339();
    let reloc = json!({ "kind": "international", "destination_country": "ES", "destination_city": "Madrid",
        "host_organization": "h", "beneficiaries": ["her"], "starts_on": day(40), "ends_on": day(100) });
    let rl = app.post(&format!("/api/v1/cases/{}/relocations", id_of(&case)), t, reloc);
    let visa = app.post(
        &format!("/api/v1/relocations/{}/visas", id_of(&rl.json())),
        t,
        json!({ "country": "ES", "visa_type": "humanitarian", "applicant": "her" }),
    );
    // Recorded today, submitted 20 days ago: 14 days have passed already.
    let r = app.patch(
        &format!("/api/v1/visas/{}", id_of(&visa.json())),
        t,
        json!({ "status": "submitted", "on": day(-20) }),
    );
    assert_eq!(r.status, 200, "{r:?}");
    pass(&app);
    let mails = with_subject(&sink.to(&d.assigned_officer.email), "visa application").len();
    assert_eq!(mails, 1, "the 14-day step is due at once");
    let e = escalations(&app, &d.owner_coord.token, "active");
    let visa_chain = e.iter().find(|e| e["policy_id"] == "visa-pending-14-days").expect("running");
    let started: chrono::DateTime<chrono::Utc> = visa_chain["started_at"].as_str().unwrap().parse().unwrap();
    assert!((app.clock.now() - started) >= Duration::days(20) - Duration::minutes(1), "{visa_chain}");
});

#[test]
fn ack_links_follow_the_listen_address_when_public_url_is_unset() {
    let sink = SmtpSink::start();
    let db = TestDb::new(Backend::Sqlite).expect("sqlite db");
    let url = sink.url();
    let app = TestApp::start_with(db, move |c| {
        c.smtp_url = Secret::new(url);
        c.bind = "127.0.0.1:9137".into();
        c.public_url = String::new();
    });
    let d = cast(&app);
    new_case(&app, &d, "critical", "s");
    pass(&app);
    let mail = &sink.to(&d.owner_coord.email)[0];
    assert!(mail.text().contains("http://127.0.0.1:9137/ack/"), "{}", mail.text());
}

// A case opened through the domain, without HTTP (as the console will), escalates exactly
// like one opened through the API: the rule is the domain's, not a handler's.
crate::db_test!(a_case_opened_through_the_domain_escalates, |app| {
    use haven::domain::cases::{self, Caller, NewCase, Severity};
    let admin = app.admin_token();
    let org =
        app.post("/api/v1/organizations", Some(&admin), json!({ "name": "Door-less", "kind": "ngo", "country": "CO" }));
    let org = org.json()["id"].as_str().unwrap().to_string();
    let (user_id, _, _) = app.user(Role::Coordinator, &org);
    let st = app.state();
    let cx = st.ctx(st.clock.now());
    let running = st
        .db
        .write_blocking(|c| {
            let user = haven::db::models::User::find(c, &user_id)?.expect("user");
            let who = Caller { user: &user, role: Role::Coordinator };
            let input = NewCase {
                severity: Severity::Critical,
                country: "CO".into(),
                consent_scope: vec![],
                summary: None,
                defender_id: None,
            };
            let case = cases::create(c, &cx, &who, input)?;
            Ok(haven::db::models::Escalation::running_for_case(c, &case.id)?)
        })
        .unwrap();
    let policies: Vec<&str> = running.iter().map(|e| e.policy_id.as_str()).collect();
    assert!(policies.contains(&"critical-case-unacknowledged"), "{policies:?}");
});

/// Which TLS the relay speaks, and which certificate Haven is told to trust.
#[derive(Clone, Copy)]
enum Relay {
    StartTls,
    Implicit,
}

/// Which certificate Haven is told to trust for the relay.
enum Trust<'a> {
    /// The relay's own (self-signed) certificate.
    Relay,
    /// Another certificate: the relay's does not verify.
    Other(&'a std::path::Path),
    /// None: the system's roots only.
    System,
}

/// A relay with a self-signed certificate, and Haven pointed at it with AUTH over TLS.
fn tls_app(backend: Backend, relay: Relay, trust: Trust<'_>) -> Option<(TestApp, SmtpSink)> {
    use crate::smtp::{TestCert, SMTP_PASSWORD, SMTP_USER};
    let cert = TestCert::new();
    let sink = match relay {
        Relay::StartTls => SmtpSink::starttls(&cert),
        Relay::Implicit => SmtpSink::implicit_tls(&cert),
    };
    let db = TestDb::new(backend)?;
    let url = match relay {
        Relay::StartTls => format!("smtp://{SMTP_USER}:{SMTP_PASSWORD}@127.0.0.1:{}?tls=required", sink.port),
        Relay::Implicit => format!("smtps://{SMTP_USER}:{SMTP_PASSWORD}@127.0.0.1:{}", sink.port),
    };
    let ca = match trust {
        Trust::Relay => cert.cert_file.to_string_lossy().into_owned(),
        Trust::Other(p) => p.to_string_lossy().into_owned(),
        Trust::System => String::new(),
    };
    // Haven reads the file at start; the sink has its certificate in memory by now.
    let app = TestApp::start_with(db, move |c| {
        c.smtp_url = Secret::new(url);
        c.smtp_ca_file = ca;
        c.mail_timeout_seconds = 5;
    });
    drop(cert);
    Some((app, sink))
}

/// Escalation mail goes through a relay with STARTTLS or implicit TLS whose certificate
/// Haven was told to trust, with the password sent only inside TLS.
fn tls_delivers(backend: Backend, relay: Relay) {
    let Some((app, sink)) = tls_app(backend, relay, Trust::Relay) else { return };
    let d = cast(&app);
    new_case(&app, &d, "critical", "s");
    let st = app.state();
    let queued = engine::run_due(st, app.clock.now(), 100).unwrap().messages;
    assert!(queued >= 1, "{queued}");
    let r = engine::send_due(st, app.clock.now(), 100).unwrap();
    assert_eq!((r.sent, r.retrying), (queued, 0), "{r:?}");
    assert_eq!(sink.mails().len(), queued);
    assert!(sink.mails().iter().all(|m| m.text().contains("/ack/")));
}

/// A relay whose certificate does not verify (unknown issuer) gets nothing: the send fails,
/// the log says why without the password, and the mail stays queued for the next attempt.
fn tls_refuses_an_untrusted_certificate(backend: Backend, relay: Relay) {
    let other = crate::smtp::TestCert::new();
    for trust in [Trust::System, Trust::Other(other.cert_file.as_path())] {
        let Some((app, sink)) = tls_app(backend, relay, trust) else { return };
        let d = cast(&app);
        new_case(&app, &d, "critical", "s");
        let st = app.state();
        let queued = engine::run_due(st, app.clock.now(), 100).unwrap().messages;
        let logs = crate::harness::LogCapture::default();
        let r = tracing::subscriber::with_default(logs.subscriber(), || engine::send_due(st, app.clock.now(), 100))
            .unwrap();
        assert_eq!((r.sent, r.retrying), (0, queued), "{r:?}");
        assert!(sink.mails().is_empty(), "nothing reaches a relay Haven cannot verify");
        let logged = logs.text();
        assert!(logged.contains("certificate does not verify"), "{logged}");
        assert!(!logged.contains(crate::smtp::SMTP_PASSWORD), "{logged}");
        let pending = app.count(
            "outbox WHERE status = 'pending' AND attempts = 1 AND last_error LIKE '%certificate does not verify%'",
        );
        assert_eq!(pending, queued as i64, "queued for a retry, not dropped");
        app.clock.advance(Duration::seconds(31));
        let r = engine::send_due(st, app.clock.now(), 100).unwrap();
        assert_eq!((r.sent, r.retrying), (0, queued), "retried: {r:?}");
        assert_eq!(app.count("outbox WHERE status = 'pending' AND attempts = 2"), queued as i64);
    }
}

mod mail_over_tls {
    use super::*;

    #[test]
    fn starttls_delivers_sqlite() {
        tls_delivers(Backend::Sqlite, Relay::StartTls);
    }

    #[test]
    fn starttls_delivers_postgres() {
        tls_delivers(Backend::Postgres, Relay::StartTls);
    }

    #[test]
    fn implicit_tls_delivers_sqlite() {
        tls_delivers(Backend::Sqlite, Relay::Implicit);
    }

    #[test]
    fn implicit_tls_delivers_postgres() {
        tls_delivers(Backend::Postgres, Relay::Implicit);
    }

    #[test]
    fn an_untrusted_certificate_is_refused_logged_and_retried_sqlite() {
        tls_refuses_an_untrusted_certificate(Backend::Sqlite, Relay::StartTls);
        tls_refuses_an_untrusted_certificate(Backend::Sqlite, Relay::Implicit);
    }

    #[test]
    fn an_untrusted_certificate_is_refused_logged_and_retried_postgres() {
        tls_refuses_an_untrusted_certificate(Backend::Postgres, Relay::StartTls);
        tls_refuses_an_untrusted_certificate(Backend::Postgres, Relay::Implicit);
    }
}
