//! Risk assessments: the formula end to end, versions, severity raised (never lowered),
//! access following the case, sealed content.

use haven::domain::Role;
use serde_json::{json, Value};

use crate::db_test;
use crate::harness::{everything_stored, token_of, TestApp};

fn coordinator(app: &TestApp, org_name: &str) -> (String, String) {
    let admin = app.admin_token();
    let org = app
        .post("/api/v1/organizations", Some(&admin), json!({ "name": org_name, "kind": "ngo", "country": "CO" }))
        .json();
    let org = org["id"].as_str().unwrap().to_string();
    let (_, email, pw) = app.user(Role::Coordinator, &org);
    (org, token_of(&app.login(&email, &pw)))
}

fn in_days(d: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::days(d)).to_rfc3339()
}

fn assessment(likelihood: u8, impact: u8, facts: &str) -> Value {
    json!({
        "threats": [
            { "facts": facts, "pattern": "third message this month", "objective": "stop her testimony",
              "source_actor": "armed_group", "public": false, "feasibility": "they know her address",
              "likelihood": likelihood, "impact": impact },
            { "facts": "insults online", "source_actor": "online_mob", "public": true, "likelihood": 2, "impact": 2 }
        ],
        "vulnerabilities": [
            { "category": "digital", "score": 4, "description": "shared phone" },
            { "category": "family", "score": 5 }
        ],
        "capacities": [
            { "category": "legal", "score": 2 },
            { "category": "physical", "score": 4, "description": "safe house available" }
        ],
        "reassess_by": in_days(30)
    })
}

db_test!(assessments_score_version_and_raise_severity, |app| {
    let (_, t) = coordinator(&app, "Assessing NGO");
    let case =
        app.post("/api/v1/cases", Some(&t), json!({ "severity": "low", "country": "CO", "consent_scope": [] })).json();
    let id = case["id"].as_str().unwrap();
    let path = format!("/api/v1/cases/{id}/assessments");

    // 4x5 = 20; V = (4 + 1.5*5)/2.5 = 4.6; C = (2+4)/2 = 3; 20*4.6/3 = 30.67: high.
    let r = app.post(&path, Some(&t), assessment(4, 5, "letter at her door"));
    assert_eq!(r.status, 201, "{r:?}");
    let a1 = r.json();
    assert_eq!(a1["score"], 30.67);
    assert_eq!(a1["level"], "high");
    assert_eq!(a1["version"], 1);
    assert_eq!(a1["threats"][0]["facts"], "letter at her door");
    assert_eq!(a1["policy_hash"].as_str().unwrap().len(), 64);
    let case_now = app.get(&format!("/api/v1/cases/{id}"), Some(&t)).json();
    assert_eq!(case_now["severity"], "high", "raised to the assessed level");

    // A lower assessment never lowers the case: 1x1 → max threat 2x2=4, 4*4.6/3 = 6.13: low.
    let r = app.post(&path, Some(&t), assessment(1, 1, "calmer now"));
    assert_eq!(r.status, 201);
    assert_eq!(r.json()["level"], "low");
    assert_eq!(r.json()["version"], 2);
    assert_eq!(app.get(&format!("/api/v1/cases/{id}"), Some(&t)).json()["severity"], "high");
    // A third at the same level changes nothing either; the audit trail shows one raise.
    let r = app.post(&path, Some(&t), assessment(5, 5, "same again"));
    assert_eq!((r.status, r.json()["level"].clone(), r.json()["score"].clone()), (201, json!("high"), json!(38.33)));
    let list = app.get(&path, Some(&t)).json();
    let versions: Vec<i64> = list["items"].as_array().unwrap().iter().map(|a| a["version"].as_i64().unwrap()).collect();
    assert_eq!(versions, [3, 2, 1], "newest first");
    assert!(list["items"][0].get("threats").is_none(), "lists carry no sealed content");
    let one = app.get(&format!("/api/v1/assessments/{}", a1["id"].as_str().unwrap()), Some(&t)).json();
    assert_eq!(one["capacities"][1]["description"], "safe house available");
    let audit = app.get("/api/v1/audit?limit=200", Some(&app.admin_token())).json();
    let raises = audit["items"].as_array().unwrap().iter().filter(|e| e["action"] == "case.severity_raised").count();
    assert_eq!(raises, 1);

    for bad in [
        assessment(0, 5, "x"),
        assessment(4, 6, "x"),
        assessment(4, 5, ""),
        json!({ "threats": [], "reassess_by": in_days(3) }),
        {
            let mut b = assessment(4, 5, "x");
            b["reassess_by"] = json!("2020-01-01T00:00:00Z");
            b
        },
        {
            let mut b = assessment(4, 5, "x");
            b["vulnerabilities"][0]["score"] = json!(9);
            b
        },
    ] {
        let r = app.post(&path, Some(&t), bad.clone());
        assert_eq!(r.status, 422, "{bad}: {r:?}");
    }
    for bad in [
        {
            let mut b = assessment(4, 5, "x");
            b["score"] = json!(1);
            b
        },
        {
            let mut b = assessment(4, 5, "x");
            b["threats"][0]["source_actor"] = json!("aliens");
            b
        },
        {
            let mut b = assessment(4, 5, "x");
            b["capacities"][0]["category"] = json!("luck");
            b
        },
        {
            let mut b = assessment(4, 5, "x");
            b["threats"][0]["secret"] = json!("x");
            b
        },
    ] {
        let r = app.post(&path, Some(&t), bad.clone());
        assert_eq!(r.status, 400, "{bad}: {r:?}");
    }
    assert_eq!(app.get(&path, Some(&t)).json()["items"].as_array().unwrap().len(), 3, "nothing stored by refusals");
});

db_test!(assessments_follow_the_case_and_stay_sealed, |app| {
    let (_, t) = coordinator(&app, "Owner NGO");
    let (_, other) = coordinator(&app, "Other NGO");
    let case =
        app.post("/api/v1/cases", Some(&t), json!({ "severity": "low", "country": "CO", "consent_scope": [] })).json();
    let id = case["id"].as_str().unwrap();
    let canary = format!("CANARY{}", uuid::Uuid::new_v4().simple());
    let a = app
        .post(&format!("/api/v1/cases/{id}/assessments"), Some(&t), assessment(3, 3, &format!("facts {canary}")))
        .json();
    let aid = a["id"].as_str().unwrap();
    assert_eq!(app.get(&format!("/api/v1/assessments/{aid}"), Some(&other)).status, 404);
    assert_eq!(app.get(&format!("/api/v1/cases/{id}/assessments"), Some(&other)).status, 404);
    assert_eq!(app.post(&format!("/api/v1/cases/{id}/assessments"), Some(&other), assessment(3, 3, "x")).status, 404);
    assert_eq!(app.get(&format!("/api/v1/assessments/{aid}"), Some(&app.admin_token())).status, 403);
    assert_eq!(app.get("/api/v1/assessments/01a20000-0000-7000-8000-000000000000", Some(&t)).status, 404);
    let stored = everything_stored(&app);
    assert!(!stored.contains(&canary), "assessment facts stored in clear");
});

#[test]
fn policies_check_reports_a_bad_file() {
    let dir = tempfile::tempdir().unwrap();
    let check = |d: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_haven"))
            .args(["policies", "check", "--dir"])
            .arg(d)
            .output()
            .unwrap()
    };
    let o = check(dir.path());
    assert!(o.status.success(), "built-in rules check: {o:?}");
    std::fs::write(
        dir.path().join("risk.toml"),
        "threat_aggregate = \"max\"\n[weights]\n[thresholds]\nmedium = 1.0\nhigh = 2.0\ncritical = 3.0\n",
    )
    .unwrap();
    let o = check(dir.path());
    assert_eq!(o.status.code(), Some(1));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("FAILED") && out.contains("risk.toml") && out.contains("weight"), "{out}");
    // A bad file also stops the service from starting.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_haven"))
        .current_dir(dir.path())
        .env("HAVEN_POLICIES_DIR", dir.path())
        .env("HAVEN_BIND", "127.0.0.1:0")
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("risk.toml"), "{o:?}");
}

db_test!(errors_name_the_field_and_what_is_expected, |app| {
    let (_, t) = coordinator(&app, "Precise NGO");
    // A lowercase country code is read as ISO writes it.
    let case = app.post("/api/v1/cases", Some(&t), json!({ "severity": "low", "country": "co", "consent_scope": [] }));
    assert_eq!(case.status, 201, "{case:?}");
    assert_eq!(case.json()["country"], "CO");
    let r = app.post("/api/v1/cases", Some(&t), json!({ "severity": "low", "country": "zz", "consent_scope": [] }));
    assert_eq!((r.status, r.code().as_str(), r.json()["field"].as_str()), (422, "invalid_country", Some("country")));
    let id = case.json()["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/cases/{id}/assessments");

    // The second threat's likelihood is out of range: the path says which threat.
    let mut body = assessment(4, 5, "letter at her door");
    body["threats"][1]["likelihood"] = json!(9);
    let r = app.post(&path, Some(&t), body);
    assert_eq!((r.status, r.code().as_str()), (422, "invalid_field"), "{r:?}");
    assert_eq!(r.json()["field"], "threats[1].likelihood");
    assert_eq!(r.json()["message"], "threats[1].likelihood must be from 1 to 5");

    // A wrong type, a wrong variant, an unknown and a missing field: each named.
    let mut body = assessment(4, 5, "letter at her door");
    body["threats"][0]["impact"] = json!("very high, she said");
    let r = app.post(&path, Some(&t), body);
    assert_eq!((r.status, r.json()["field"].as_str()), (400, Some("threats[0].impact")), "{r:?}");
    assert!(!r.text.contains("she said"), "the value is not echoed: {r:?}");
    let mut body = assessment(4, 5, "letter at her door");
    body["vulnerabilities"][1]["category"] = json!("neighbours");
    let r = app.post(&path, Some(&t), body);
    assert_eq!(r.json()["field"], "vulnerabilities[1].category", "{r:?}");
    assert!(r.json()["message"].as_str().unwrap().contains("expected one of"), "{r:?}");
    let mut body = assessment(4, 5, "letter at her door");
    body["threats"][0]["severity"] = json!(3);
    let r = app.post(&path, Some(&t), body);
    assert_eq!(r.json()["field"], "threats[0].severity", "{r:?}");
    let mut body = assessment(4, 5, "letter at her door");
    body["threats"][1].as_object_mut().unwrap().remove("impact");
    let r = app.post(&path, Some(&t), body);
    assert_eq!(r.json()["field"], "threats[1].impact", "{r:?}");
    assert_eq!(r.json()["message"], "threats[1].impact: is required");

    // A body that is cut short says so, and names no field.
    let r = app.raw("POST", &path, Some(&t), Some(("application/json", b"{\"threats\": [")));
    assert_eq!((r.status, r.json()["message"].as_str()), (400, Some("the JSON body ends before it is complete")));
    assert!(r.json().get("field").is_none(), "{r:?}");
    // A form post is not JSON.
    let r = app.raw("POST", &path, Some(&t), Some(("application/x-www-form-urlencoded", b"threats=1")));
    assert_eq!((r.status, r.code().as_str()), (415, "unsupported_content_type"));

    // A bad query value names its parameter.
    let r = app.get("/api/v1/cases?status=sleeping", Some(&t));
    assert_eq!((r.status, r.code().as_str(), r.json()["field"].as_str()), (400, "invalid_query", Some("status")));
    assert!(!r.text.contains("sleeping"), "{r:?}");
    let r = app.get("/api/v1/cases?country=co", Some(&t));
    assert_eq!(r.status, 200, "a lowercase filter is read as ISO writes it: {r:?}");
    assert_eq!(r.json()["items"].as_array().unwrap().len(), 1);
});

// An assessment that raises a case to critical starts the same chain as an officer raising
// it by hand: the mails must not depend on which way the severity went up.
db_test!(an_assessment_raising_a_case_to_critical_escalates, |app| {
    let (_, t) = coordinator(&app, "Raised NGO");
    let case =
        app.post("/api/v1/cases", Some(&t), json!({ "severity": "low", "country": "CO", "consent_scope": [] })).json();
    let id = case["id"].as_str().unwrap().to_string();
    // 5x5 = 25; V = (4 + 1.5*5)/2.5 = 4.6; C = (2+2)/2 = 2; 25*4.6/2 = 57.5: critical.
    let mut body = assessment(5, 5, "armed men at her door");
    body["capacities"][1]["score"] = json!(2);
    let r = app.post(&format!("/api/v1/cases/{id}/assessments"), Some(&t), body);
    assert_eq!((r.status, r.json()["level"].as_str()), (201, Some("critical")), "{r:?}");
    let running =
        app.state().db.read_blocking(|c| Ok(haven::db::models::Escalation::running_for_case(c, &id)?)).unwrap();
    let policies: Vec<&str> = running.iter().map(|e| e.policy_id.as_str()).collect();
    assert!(policies.contains(&"case-raised-to-critical"), "{policies:?}");
});
