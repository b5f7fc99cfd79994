//! Funding grants: caps from policies/funding.toml, decisions by coordinators, disbursements
//! that never exceed the approved amount, sealed purpose, access following the case.

use serde_json::{json, Value};

use crate::db_test;
use crate::harness::{everything_stored, team};

fn grant(category: &str, currency: &str, amount: Value) -> Value {
    json!({ "category": category, "currency": currency, "amount_requested": amount, "purpose": "door and window bars", "other_funders": ["Fund A"] })
}

db_test!(grants_respect_caps_decisions_and_disbursement_totals, |app| {
    let c = team(&app);
    let path = format!("/api/v1/cases/{}/grants", c.case_id);
    for (body, code) in [
        (grant("physical_security", "EUR", json!(800_001)), "over_cap"),
        (grant("physical_security", "XOF", json!(1000)), "unsupported_currency"),
        (grant("physical_security", "EUR", json!(0)), "invalid_amount"),
        (grant("physical_security", "EUR", json!(-5)), "invalid_amount"),
    ] {
        let r = app.post(&path, Some(&c.officer), body.clone());
        assert_eq!((r.status, r.code().as_str()), (422, code), "{body}");
    }
    for body in [grant("physical_security", "EUR", json!(10.5)), grant("bribes", "EUR", json!(10)), {
        let mut g = grant("legal", "EUR", json!(10));
        g["status"] = json!("approved");
        g
    }] {
        assert_eq!(app.post(&path, Some(&c.officer), body.clone()).status, 400, "{body}");
    }
    let r = app.post(&path, Some(&c.officer), grant("physical_security", "EUR", json!(500_000)));
    assert_eq!(r.status, 201, "{r:?}");
    let g = r.json();
    assert_eq!((g["status"].clone(), g["amount_requested"].clone()), (json!("requested"), json!(500_000)));
    assert_eq!(g["purpose"], "door and window bars");
    let gpath = format!("/api/v1/grants/{}", g["id"].as_str().unwrap());
    let dpath = format!("{gpath}/disbursements");
    let pay = |amount: i64| json!({ "amount": amount, "paid_on": chrono::Utc::now().to_rfc3339(), "method": "bank_transfer" });

    assert_eq!(app.post(&dpath, Some(&c.coord), pay(100)).code(), "grant_not_approved");
    assert_eq!(
        app.patch(&gpath, Some(&c.officer), json!({ "status": "approved" })).status,
        403,
        "officers do not decide"
    );
    let r = app.patch(&gpath, Some(&c.coord), json!({ "status": "approved", "amount_approved": 600_000 }));
    assert_eq!((r.status, r.code().as_str()), (422, "over_cap"), "more than requested");
    let r = app.patch(&gpath, Some(&c.coord), json!({ "status": "approved", "amount_approved": 400_000 }));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["amount_approved"], 400_000);
    let r = app.patch(&gpath, Some(&c.coord), json!({ "status": "rejected", "reason": "changed my mind" }));
    assert_eq!((r.status, r.json()["allowed"].clone()), (409, json!(["disbursed"])));

    assert_eq!(app.post(&dpath, Some(&c.coord), pay(150_000)).status, 201);
    let r = app.post(&dpath, Some(&c.coord), pay(250_001));
    assert_eq!((r.status, r.code().as_str()), (422, "over_approved"));
    let r =
        app.post(&dpath, Some(&c.coord), json!({ "amount": 1, "paid_on": "0001-01-01T00:00:00Z", "method": "cash" }));
    assert_eq!((r.status, r.code().as_str()), (422, "invalid_date"));
    assert_eq!(app.post(&dpath, Some(&c.coord), pay(250_000)).status, 201);
    let g = app.get(&gpath, Some(&c.officer)).json();
    assert_eq!((g["status"].clone(), g["amount_disbursed"].clone()), (json!("disbursed"), json!(400_000)));
    assert_eq!(app.post(&dpath, Some(&c.coord), pay(1)).code(), "grant_not_approved");
    let list = app.get(&dpath, Some(&c.partner)).json();
    let paid: i64 = list["items"].as_array().unwrap().iter().map(|d| d["amount"].as_i64().unwrap()).sum();
    assert_eq!(paid, 400_000);

    // Rejection needs a reason, which readers see.
    let other = app.post(&path, Some(&c.officer), grant("transport", "USD", json!(1000))).json();
    let opath = format!("/api/v1/grants/{}", other["id"].as_str().unwrap());
    assert_eq!(app.patch(&opath, Some(&c.coord), json!({ "status": "rejected" })).code(), "reason_required");
    let r = app.patch(&opath, Some(&c.coord), json!({ "status": "rejected", "reason": "covered by another funder" }));
    assert_eq!(r.json()["decision_reason"], "covered by another funder");

    // Access follows the case.
    assert_eq!(app.get(&gpath, Some(&c.other)).status, 404);
    assert_eq!(app.get(&path, Some(&c.other)).status, 404);
    assert_eq!(app.get(&gpath, Some(&c.partner)).status, 200);
    assert_eq!(app.post(&path, Some(&c.partner), grant("legal", "EUR", json!(10))).status, 403);
    assert_eq!(app.get(&path, Some(&c.partner)).json()["items"].as_array().unwrap().len(), 2);
    assert_eq!(app.get("/api/v1/cases?updated_since=0100-01-01T00:00:00Z", Some(&c.coord)).status, 400);
});

db_test!(concurrent_disbursements_never_exceed_the_approval, |app| {
    let c = team(&app);
    let g = app
        .post(&format!("/api/v1/cases/{}/grants", c.case_id), Some(&c.officer), grant("medical", "EUR", json!(100_000)))
        .json();
    let gpath = format!("/api/v1/grants/{}", g["id"].as_str().unwrap());
    assert_eq!(app.patch(&gpath, Some(&c.coord), json!({ "status": "approved" })).status, 200);
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..5)
            .map(|_| {
                s.spawn(|| {
                    let body = json!({ "amount": 40_000, "paid_on": chrono::Utc::now().to_rfc3339(), "method": "mobile_money" });
                    app.post(&format!("{gpath}/disbursements"), Some(&c.coord), body).status
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(statuses.iter().all(|s| [201, 409, 422].contains(s)), "{statuses:?}");
    let g = app.get(&gpath, Some(&c.coord)).json();
    let disbursed = g["amount_disbursed"].as_i64().unwrap();
    assert!(disbursed <= 100_000, "{disbursed}");
    assert_eq!(disbursed, 40_000 * statuses.iter().filter(|s| **s == 201).count() as i64);
    let listed: i64 = app.get(&format!("{gpath}/disbursements"), Some(&c.coord)).json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["amount"].as_i64().unwrap())
        .sum();
    assert_eq!(listed, disbursed, "the running total matches the payments");
});

db_test!(grant_purpose_and_funders_are_sealed, |app| {
    let c = team(&app);
    let canary = format!("CANARY{}", uuid::Uuid::new_v4().simple());
    let mut body = grant("legal", "EUR", json!(5000));
    body["purpose"] = json!(format!("lawyer for {canary}"));
    body["other_funders"] = json!([format!("funder {canary}")]);
    assert_eq!(app.post(&format!("/api/v1/cases/{}/grants", c.case_id), Some(&c.officer), body).status, 201);
    assert!(!everything_stored(&app).contains(&canary));
});
