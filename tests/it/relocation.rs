//! Relocation, visas, psychosocial care, the case summary, and the need-to-know matrix for
//! every route of the protection records (assessments, plans, measures, grants, relocations,
//! visas, care).

use serde_json::{json, Value};

use crate::db_test;
use crate::harness::{everything_stored, team};

fn days(d: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::days(d)).to_rfc3339()
}

fn relocation_body() -> Value {
    json!({
        "kind": "international",
        "destination_country": "ES",
        "destination_city": "Madrid",
        "host_organization": "Shelter city programme",
        "beneficiaries": ["the defender", "her daughter"],
        "starts_on": days(10),
        "ends_on": days(100)
    })
}

db_test!(relocations_and_visas_follow_their_state_machines, |app| {
    let c = team(&app);
    let path = format!("/api/v1/cases/{}/relocations", c.case_id);
    for (patch, code) in [
        (json!({ "ends_on": days(5) }), "invalid_dates"),
        (json!({ "beneficiaries": [] }), "invalid_field"),
        (json!({ "destination_country": "XX" }), "invalid_country"),
        (json!({ "plan_id": "01a20000-0000-7000-8000-000000000000" }), "unknown_plan"),
        (json!({ "starts_on": "0001-01-01T00:00:00Z" }), "invalid_date"),
    ] {
        let mut body = relocation_body();
        body.as_object_mut().unwrap().extend(patch.as_object().unwrap().clone());
        let r = app.post(&path, Some(&c.officer), body);
        assert_eq!((r.status, r.code().as_str()), (422, code), "{patch}");
    }
    let r = app.post(&path, Some(&c.officer), relocation_body());
    assert_eq!(r.status, 201, "{r:?}");
    let reloc = r.json();
    assert_eq!(reloc["destination_city"], "Madrid");
    assert_eq!(reloc["allowed_transitions"], json!(["approved", "cancelled"]));
    let rpath = format!("/api/v1/relocations/{}", reloc["id"].as_str().unwrap());
    let set = |t: &str, body: Value| app.patch(&rpath, Some(t), body);
    assert_eq!(set(&c.officer, json!({ "status": "approved" })).code(), "approval_needs_coordinator");
    assert_eq!(set(&c.coord, json!({ "status": "completed" })).code(), "invalid_transition");
    assert_eq!(set(&c.coord, json!({ "status": "approved" })).status, 200);

    // Visas for her and her daughter.
    let vpath = format!("{rpath}/visas");
    let visa = |applicant: &str| json!({ "country": "ES", "visa_type": "humanitarian", "applicant": applicant, "handling_organization": "Embassy of Spain" });
    let v1 = app.post(&vpath, Some(&c.officer), visa("the defender")).json();
    let v2 = app.post(&vpath, Some(&c.officer), visa("her daughter")).json();
    let v1p = format!("/api/v1/visas/{}", v1["id"].as_str().unwrap());
    let step = |p: &str, body: Value| app.patch(p, Some(&c.officer), body);
    let r = step(&v1p, json!({ "status": "approved" }));
    assert_eq!((r.status, r.json()["allowed"].clone()), (409, json!(["submitted"])));
    assert_eq!(step(&v1p, json!({ "status": "submitted" })).status, 200);
    assert_eq!(step(&v1p, json!({ "status": "approved" })).status, 200);
    assert_eq!(step(&v1p, json!({ "status": "issued" })).code(), "expiry_required");
    assert_eq!(
        step(&v1p, json!({ "status": "issued", "on": days(0), "expires_on": days(-1) })).code(),
        "invalid_dates"
    );
    assert_eq!(step(&v1p, json!({ "status": "issued", "on": days(3) })).code(), "invalid_date");
    let r = step(&v1p, json!({ "status": "issued", "expires_on": days(20) }));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["applicant"], "the defender");
    assert!(r.json()["issued_on"].is_string() && r.json()["submitted_on"].is_string());
    assert_eq!(step(&v1p, json!({ "status": "submitted" })).json()["allowed"], json!([]));
    let listed = app.get(&vpath, Some(&c.partner)).json();
    assert_eq!(listed["items"].as_array().unwrap().len(), 2);
    assert_eq!(v2["status"], "preparing");

    assert_eq!(set(&c.officer, json!({ "status": "in_progress" })).status, 200);
    assert_eq!(set(&c.officer, json!({ "status": "cancelled" })).code(), "reason_required");
    assert_eq!(set(&c.officer, json!({ "reason": "x" })).code(), "unexpected_reason");
    let r = set(&c.officer, json!({ "status": "cancelled", "reason": "the threat moved with her" }));
    assert_eq!(r.json()["cancel_reason"], "the threat moved with her");
    assert_eq!(set(&c.coord, json!({ "destination_city": "x" })).status, 400, "unknown field");
    assert_eq!(
        set(&c.coord, json!({ "starts_on": days(1) })).code(),
        "invalid_transition",
        "a finished relocation is history"
    );
    assert_eq!(app.post(&vpath, Some(&c.officer), visa("x")).code(), "relocation_closed");

    // Access follows the case.
    assert_eq!(app.get(&rpath, Some(&c.other)).status, 404);
    assert_eq!(app.get(&v1p, Some(&c.other)).status, 404);
    assert_eq!(app.get(&rpath, Some(&c.partner)).status, 200);
    assert_eq!(app.patch(&v1p, Some(&c.partner), json!({ "status": "issued" })).status, 403);
});

db_test!(psychosocial_care_needs_consent_and_stays_with_the_case_team, |app| {
    let c = team(&app);
    let path = format!("/api/v1/cases/{}/psychosocial", c.case_id);
    let body = |consent: bool| json!({ "modality": "online", "sessions_planned": 8, "consent_recorded": consent, "provider": "trauma counsellor", "notes": "weekly" });
    assert_eq!(app.post(&path, Some(&c.officer), body(false)).code(), "consent_required");
    let r = app.post(&path, Some(&c.officer), body(true));
    assert_eq!(r.status, 201, "{r:?}");
    let care = r.json();
    let cpath = format!("/api/v1/psychosocial/{}", care["id"].as_str().unwrap());
    let r = app.patch(&cpath, Some(&c.officer), json!({ "sessions_held": 3, "referral_status": "accepted" }));
    assert_eq!((r.status, r.json()["sessions_held"].clone()), (200, json!(3)));
    assert_eq!(app.patch(&cpath, Some(&c.officer), json!({ "sessions_held": -1 })).code(), "invalid_field");
    assert_eq!(app.patch(&cpath, Some(&c.officer), json!({ "sessions_held": 5000 })).code(), "invalid_field");
    assert_eq!(app.patch(&cpath, Some(&c.officer), json!({ "referral_status": "maybe" })).status, 400);
    // A partner organisation reading the case does not see care records; others not at all.
    assert_eq!(app.get(&cpath, Some(&c.partner)).status, 403);
    assert_eq!(app.get(&path, Some(&c.partner)).status, 403);
    assert_eq!(app.get(&cpath, Some(&c.other)).status, 404);
    assert_eq!(app.get(&cpath, Some(&c.coord)).json()["provider"], "trauma counsellor");
});

db_test!(the_case_summary_adds_everything_up, |app| {
    let c = team(&app);
    let base = format!("/api/v1/cases/{}", c.case_id);
    let assessment = json!({
        "threats": [{ "facts": "f", "source_actor": "police", "public": true, "likelihood": 4, "impact": 5 }],
        "reassess_by": days(20)
    });
    assert_eq!(app.post(&format!("{base}/assessments"), Some(&c.officer), assessment).status, 201);
    let plan = app.post(&format!("{base}/plans"), Some(&c.officer), json!({ "review_by": days(40) })).json();
    let mpath = format!("/api/v1/plans/{}/measures", plan["id"].as_str().unwrap());
    for due in [days(-2), days(5), days(60)] {
        let r = app.post(
            &mpath,
            Some(&c.officer),
            json!({ "category": "physical", "kind": "prevention", "description": "d", "due_at": due }),
        );
        assert_eq!(r.status, 201);
    }
    let reloc = app.post(&format!("{base}/relocations"), Some(&c.officer), relocation_body()).json();
    let rpath = format!("/api/v1/relocations/{}", reloc["id"].as_str().unwrap());
    assert_eq!(app.patch(&rpath, Some(&c.coord), json!({ "status": "approved" })).status, 200);
    let visa = json!({ "country": "ES", "visa_type": "humanitarian", "applicant": "her" });
    let v1 = app.post(&format!("{rpath}/visas"), Some(&c.officer), visa.clone()).json();
    app.post(&format!("{rpath}/visas"), Some(&c.officer), visa).json();
    let v1p = format!("/api/v1/visas/{}", v1["id"].as_str().unwrap());
    for s in ["submitted", "approved"] {
        app.patch(&v1p, Some(&c.officer), json!({ "status": s }));
    }
    assert_eq!(app.patch(&v1p, Some(&c.officer), json!({ "status": "issued", "expires_on": days(25) })).status, 200);
    let grants = format!("{base}/grants");
    let g = |cur: &str, amount: i64| json!({ "category": "transport", "currency": cur, "amount_requested": amount, "purpose": "p" });
    let g1 = app.post(&grants, Some(&c.officer), g("EUR", 300_000)).json();
    app.post(&grants, Some(&c.officer), g("EUR", 50_000));
    app.post(&grants, Some(&c.officer), g("USD", 20_000));
    let g1p = format!("/api/v1/grants/{}", g1["id"].as_str().unwrap());
    assert_eq!(
        app.patch(&g1p, Some(&c.second_coord), json!({ "status": "approved", "amount_approved": 250_000 })).status,
        200
    );
    let pay = json!({ "amount": 100_000, "paid_on": days(0), "method": "cash" });
    assert_eq!(app.post(&format!("{g1p}/disbursements"), Some(&c.coord), pay).status, 201);

    let s = app.get(&format!("{base}/summary"), Some(&c.partner));
    assert_eq!(s.status, 200, "{s:?}");
    let s = s.json();
    // 4 x 5 = 20, no vulnerabilities or capacities (V = C = 1): 20, exactly the high threshold.
    assert_eq!((s["risk"]["level"].clone(), s["risk"]["score"].clone()), (json!("high"), json!(20.0)));
    assert_eq!(s["measures"], json!({ "open": 3, "overdue": 1 }));
    assert_eq!(s["relocation"]["status"], "approved");
    assert_eq!(s["visas"], json!({ "pending": 1, "issued": 1, "expiring_within_30_days": 1 }));
    assert_eq!(
        s["grants"],
        json!([
            { "currency": "EUR", "requested": 350_000, "approved": 250_000, "disbursed": 100_000 },
            { "currency": "USD", "requested": 20_000, "approved": 0, "disbursed": 0 }
        ])
    );
    let kinds: Vec<&str> =
        s["next_deadlines"].as_array().unwrap().iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["measure_due", "measure_due", "relocation_start", "reassessment", "visa_expiry", "plan_review", "measure_due"]
    );
    assert_eq!(s["next_deadlines"][0]["overdue"], true);
    assert_eq!(app.get(&format!("{base}/summary"), Some(&c.other)).status, 404);
});

db_test!(relocation_visa_and_care_details_are_sealed, |app| {
    let c = team(&app);
    let canary = format!("CANARY{}", uuid::Uuid::new_v4().simple());
    let mut body = relocation_body();
    body["destination_city"] = json!(format!("city {canary}"));
    body["beneficiaries"] = json!([format!("child {canary}")]);
    let reloc = app.post(&format!("/api/v1/cases/{}/relocations", c.case_id), Some(&c.officer), body).json();
    let visa = json!({ "country": "ES", "visa_type": "t", "applicant": format!("applicant {canary}") });
    assert_eq!(
        app.post(&format!("/api/v1/relocations/{}/visas", reloc["id"].as_str().unwrap()), Some(&c.officer), visa)
            .status,
        201
    );
    let care = json!({ "modality": "group", "sessions_planned": 1, "consent_recorded": true, "provider": format!("provider {canary}") });
    assert_eq!(app.post(&format!("/api/v1/cases/{}/psychosocial", c.case_id), Some(&c.officer), care).status, 201);
    assert!(!everything_stored(&app).contains(&canary));
});

db_test!(canary_in_visa_type_and_country_is_never_stored_in_clear_nor_listed, |app| {
    let c = team(&app);
    let canary = format!("CANARY{}", uuid::Uuid::new_v4().simple());
    let reloc = app.post(&format!("/api/v1/cases/{}/relocations", c.case_id), Some(&c.officer), relocation_body());
    let vpath = format!("/api/v1/relocations/{}/visas", reloc.json()["id"].as_str().unwrap());
    let visa = json!({ "country": "ES", "visa_type": format!("humanitarian {canary}"), "applicant": "her" });
    let r = app.post(&vpath, Some(&c.officer), visa);
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(
        (r.json()["country"].clone(), r.json()["visa_type"].clone()),
        (json!("ES"), json!(format!("humanitarian {canary}")))
    );
    let id = r.json()["id"].as_str().unwrap().to_string();
    // A read of the visa opens them, so does its update; the list does not carry them.
    let shown = app.get(&format!("/api/v1/visas/{id}"), Some(&c.partner)).json();
    assert_eq!(
        (shown["country"].clone(), shown["visa_type"].clone()),
        (json!("ES"), json!(format!("humanitarian {canary}")))
    );
    let r = app.patch(&format!("/api/v1/visas/{id}"), Some(&c.officer), json!({ "status": "submitted" }));
    assert_eq!((r.status, r.json()["visa_type"].clone()), (200, json!(format!("humanitarian {canary}"))), "{r:?}");
    let list = app.get(&vpath, Some(&c.officer));
    let item = &list.json()["items"][0];
    assert_eq!((item["id"].as_str(), item["applicant"].as_str()), (Some(id.as_str()), Some("her")));
    assert!(item.get("country").is_none() && item.get("visa_type").is_none(), "{list:?}");
    assert!(!list.text.contains(&canary));
    // The two-letter code cannot be a canary in a dump: its column is empty, its ciphertext there.
    assert_eq!(
        app.count(&format!(
            "visas WHERE id = '{id}' AND country IS NULL AND visa_type IS NULL \
             AND country_ct IS NOT NULL AND visa_type_ct IS NOT NULL"
        )),
        1
    );
    let stored = everything_stored(&app);
    assert!(stored.contains(&id), "the dump sees the visa row");
    assert!(!stored.contains(&canary), "canary found in the database");
});

db_test!(every_relocation_and_visa_transition, |app| {
    let c = team(&app);
    let reloc_legal: &[(&str, &str)] = &[
        ("requested", "approved"),
        ("requested", "cancelled"),
        ("approved", "in_progress"),
        ("approved", "cancelled"),
        ("in_progress", "completed"),
        ("in_progress", "cancelled"),
    ];
    let reloc_path = |s: &str| -> Vec<&str> {
        match s {
            "requested" => vec![],
            "approved" => vec!["approved"],
            "in_progress" => vec!["approved", "in_progress"],
            "completed" => vec!["approved", "in_progress", "completed"],
            _ => vec!["cancelled"],
        }
    };
    let all = ["requested", "approved", "in_progress", "completed", "cancelled"];
    for from in all {
        for to in all {
            let r =
                app.post(&format!("/api/v1/cases/{}/relocations", c.case_id), Some(&c.coord), relocation_body()).json();
            let rp = format!("/api/v1/relocations/{}", r["id"].as_str().unwrap());
            let go = |s: &str| {
                app.patch(
                    &rp,
                    Some(&c.coord),
                    json!({ "status": s, "reason": if s == "cancelled" { Some("r") } else { None } }),
                )
            };
            for s in reloc_path(from) {
                assert_eq!(go(s).status, 200, "{from}: {s}");
            }
            let res = go(to);
            if reloc_legal.contains(&(from, to)) {
                assert_eq!(res.status, 200, "{from} -> {to}: {res:?}");
            } else {
                assert_eq!(res.status, 409, "{from} -> {to}: {res:?}");
                let allowed: Vec<&str> = reloc_legal.iter().filter(|(f, _)| *f == from).map(|(_, t)| *t).collect();
                assert_eq!(res.json()["allowed"], json!(allowed), "{from}");
            }
        }
    }
    let reloc = app.post(&format!("/api/v1/cases/{}/relocations", c.case_id), Some(&c.coord), relocation_body()).json();
    let vp = format!("/api/v1/relocations/{}/visas", reloc["id"].as_str().unwrap());
    let visa_legal: &[(&str, &str)] =
        &[("preparing", "submitted"), ("submitted", "approved"), ("submitted", "rejected"), ("approved", "issued")];
    let visa_path = |s: &str| -> Vec<&str> {
        match s {
            "preparing" => vec![],
            "submitted" => vec!["submitted"],
            "approved" => vec!["submitted", "approved"],
            "rejected" => vec!["submitted", "rejected"],
            _ => vec!["submitted", "approved", "issued"],
        }
    };
    let all = ["preparing", "submitted", "approved", "rejected", "issued"];
    for from in all {
        for to in all {
            let v =
                app.post(&vp, Some(&c.coord), json!({ "country": "ES", "visa_type": "t", "applicant": "her" })).json();
            let p = format!("/api/v1/visas/{}", v["id"].as_str().unwrap());
            let go = |s: &str| {
                let body =
                    if s == "issued" { json!({ "status": s, "expires_on": days(90) }) } else { json!({ "status": s }) };
                app.patch(&p, Some(&c.coord), body)
            };
            for s in visa_path(from) {
                assert_eq!(go(s).status, 200, "{from}: {s}");
            }
            let res = go(to);
            if visa_legal.contains(&(from, to)) {
                assert_eq!(res.status, 200, "{from} -> {to}: {res:?}");
            } else {
                assert_eq!(res.status, 409, "{from} -> {to}: {res:?}");
            }
        }
    }
});

db_test!(grants_can_pay_for_a_relocation_of_the_same_case, |app| {
    let c = team(&app);
    let reloc =
        app.post(&format!("/api/v1/cases/{}/relocations", c.case_id), Some(&c.officer), relocation_body()).json();
    let rid = reloc["id"].as_str().unwrap();
    let grant = |relocation: &str| json!({ "relocation_id": relocation, "category": "relocation", "currency": "EUR", "amount_requested": 100_000, "purpose": "flights" });
    let r = app.post(&format!("/api/v1/cases/{}/grants", c.case_id), Some(&c.officer), grant(rid));
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.json()["relocation_id"], rid);
    let r = app.post(
        &format!("/api/v1/cases/{}/grants", c.case_id),
        Some(&c.officer),
        grant("01a20000-0000-7000-8000-000000000000"),
    );
    assert_eq!(r.code(), "unknown_relocation");
    // A relocation of another case does not count.
    let other_case = app
        .post("/api/v1/cases", Some(&c.coord), json!({ "severity": "low", "country": "CO", "consent_scope": [] }))
        .json();
    let r =
        app.post(&format!("/api/v1/cases/{}/grants", other_case["id"].as_str().unwrap()), Some(&c.coord), grant(rid));
    assert_eq!(r.code(), "unknown_relocation");
});

db_test!(date_only_fields_take_a_day, |app| {
    let c = team(&app);
    let day = |d: i64| (chrono::Utc::now() + chrono::Duration::days(d)).format("%Y-%m-%d").to_string();
    let (d10, d30, d100) = (day(10), day(30), day(100));

    // Starts and moments are the day's first second; deadlines its last.
    let mut body = relocation_body();
    body["starts_on"] = json!(d10);
    body["ends_on"] = json!(d100);
    let r = app.post(&format!("/api/v1/cases/{}/relocations", c.case_id), Some(&c.officer), body);
    assert_eq!(r.status, 201, "{r:?}");
    assert!(r.json()["starts_on"].as_str().unwrap().starts_with(&format!("{d10}T00:00:00")), "{r:?}");
    assert!(
        r.json()["ends_on"].as_str().unwrap().starts_with(&format!("{d100}T23:59:59")),
        "an end is its day's last second: {r:?}"
    );
    // A stay of one day: it starts and ends on the same day.
    let mut one_day = relocation_body();
    one_day["starts_on"] = json!(d10);
    one_day["ends_on"] = json!(d10);
    let r1 = app.post(&format!("/api/v1/cases/{}/relocations", c.case_id), Some(&c.officer), one_day);
    assert_eq!(r1.status, 201, "{r1:?}");
    let rpath = format!("/api/v1/relocations/{}", r.json()["id"].as_str().unwrap());

    let plan = app.post(&format!("/api/v1/cases/{}/plans", c.case_id), Some(&c.officer), json!({ "review_by": d30 }));
    assert_eq!(plan.status, 201, "{plan:?}");
    assert!(plan.json()["review_by"].as_str().unwrap().starts_with(&format!("{d30}T23:59:59")), "{plan:?}");
    let today = day(0);
    let plan_path = format!("/api/v1/plans/{}", plan.json()["id"].as_str().unwrap());
    let m =
        json!({ "category": "physical", "kind": "prevention", "description": "bars on the windows", "due_at": today });
    let r = app.post(&format!("{plan_path}/measures"), Some(&c.officer), m);
    assert_eq!(r.status, 201, "a measure due today is due at the end of today: {r:?}");
    assert!(r.json()["due_at"].as_str().unwrap().starts_with(&format!("{today}T23:59:59")), "{r:?}");

    let r = app.post(&format!("/api/v1/cases/{}/checkins", c.case_id), Some(&c.officer), json!({ "due_at": today }));
    assert_eq!(r.status, 201, "{r:?}");
    // The limit counted in days allows the whole of its last day.
    let r = app.post(&format!("/api/v1/cases/{}/checkins", c.case_id), Some(&c.officer), json!({ "due_at": day(90) }));
    assert_eq!(r.status, 201, "90 days ahead, as a day: {r:?}");
    let r = app.post(&format!("/api/v1/cases/{}/checkins", c.case_id), Some(&c.officer), json!({ "due_at": day(91) }));
    assert_eq!(r.status, 422, "91 days ahead: {r:?}");
    let r = app.post(
        &format!("/api/v1/cases/{}/assessments", c.case_id),
        Some(&c.officer),
        json!({ "threats": [{ "facts": "a letter", "source_actor": "unknown", "public": false, "likelihood": 3, "impact": 3 }],
                "reassess_by": d30 }),
    );
    assert_eq!(r.status, 201, "{r:?}");
    assert!(r.json()["reassess_by"].as_str().unwrap().starts_with(&format!("{d30}T23:59:59")), "{r:?}");

    let v = app.post(
        &format!("{rpath}/visas"),
        Some(&c.officer),
        json!({ "country": "es", "visa_type": "humanitarian", "applicant": "the defender" }),
    );
    assert_eq!(v.status, 201, "{v:?}");
    assert_eq!(v.json()["country"], "ES");
    let vp = format!("/api/v1/visas/{}", v.json()["id"].as_str().unwrap());
    let r = app.patch(&vp, Some(&c.officer), json!({ "status": "submitted", "on": today }));
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.json()["submitted_on"].as_str().unwrap().starts_with(&format!("{today}T00:00:00")), "{r:?}");
    app.patch(&vp, Some(&c.officer), json!({ "status": "approved" }));
    let r = app.patch(&vp, Some(&c.officer), json!({ "status": "issued", "expires_on": d100 }));
    assert_eq!(r.status, 200, "{r:?}");
    assert!(
        r.json()["expires_on"].as_str().unwrap().starts_with(&format!("{d100}T23:59:59")),
        "valid all of its last day: {r:?}"
    );

    // A day that is not one, or another format, names the field and what it takes.
    let r = app.patch(&vp, Some(&c.officer), json!({ "status": "expired", "on": "31/12/2026" }));
    assert_eq!((r.status, r.json()["field"].as_str()), (400, Some("on")), "{r:?}");
    assert!(r.json()["message"].as_str().unwrap().contains("expected a date (2027-01-15) or an RFC 3339 time"));
    let r =
        app.post(&format!("/api/v1/cases/{}/plans", c.case_id), Some(&c.officer), json!({ "review_by": "2027-02-30" }));
    assert_eq!((r.status, r.json()["field"].as_str()), (400, Some("review_by")), "{r:?}");

    let g = app.post(
        &format!("/api/v1/cases/{}/grants", c.case_id),
        Some(&c.officer),
        json!({ "category": "physical_security", "currency": "EUR", "amount_requested": 1000, "purpose": "bars" }),
    );
    let gpath = format!("/api/v1/grants/{}", g.json()["id"].as_str().unwrap());
    assert_eq!(app.patch(&gpath, Some(&c.coord), json!({ "status": "approved" })).status, 200);
    let r = app.post(
        &format!("{gpath}/disbursements"),
        Some(&c.coord),
        json!({ "amount": 500, "paid_on": today, "method": "cash" }),
    );
    assert_eq!(r.status, 201, "{r:?}");
    assert!(r.json()["paid_on"].as_str().unwrap().starts_with(&format!("{today}T00:00:00")), "{r:?}");

    // A share until a day lasts through that day.
    let admin = app.admin_token();
    let org = app
        .post(
            "/api/v1/organizations",
            Some(&admin),
            json!({ "name": "Day Embassy", "kind": "embassy", "country": "co" }),
        )
        .json();
    assert_eq!(org["country"], "CO");
    let share = json!({ "organization_id": org["id"], "consent_reference": "c2", "expires_at": d30 });
    let r = app.post(&format!("/api/v1/cases/{}/shares", c.case_id), Some(&c.coord), share);
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.text.contains(&format!("{d30}T23:59:59")), "{r:?}");

    // List filters take a day too.
    let r = app.get(&format!("/api/v1/alerts?received_since={today}"), Some(&c.coord));
    assert_eq!(r.status, 200, "{r:?}");
    let r = app.get(&format!("/api/v1/cases?updated_since={today}"), Some(&c.coord));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["items"].as_array().unwrap().len(), 1, "the case changed today");
    let r = app.get(&format!("/api/v1/cases?updated_since={}", day(1)), Some(&c.coord));
    assert_eq!(r.json()["items"].as_array().unwrap().len(), 0, "nothing changed tomorrow");
    let r = app.get("/api/v1/alerts?received_since=yesterday", Some(&c.coord));
    assert_eq!((r.status, r.json()["field"].as_str()), (400, Some("received_since")), "{r:?}");
});
