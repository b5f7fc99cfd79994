//! Defenders and alerts: sealed profiles and narratives, need-to-know through linked cases,
//! triage in one transaction.

use haven::domain::Role;
use serde_json::{json, Value};

use crate::db_test;
use crate::harness::{everything_stored, token_of, TestApp};

struct Team {
    admin: String,
    org: String,
    coord: String,
    officer: String,
    officer_id: String,
    other_coord: String,
}

fn team(app: &TestApp) -> Team {
    let admin = app.admin_token();
    let mk = |name: &str| {
        let r = app.post(
            "/api/v1/organizations",
            Some(&admin),
            json!({ "name": name, "kind": "un_agency", "country": "KE" }),
        );
        r.json()["id"].as_str().unwrap().to_string()
    };
    let org = mk("Protection Desk");
    let other = mk("Other Desk");
    let login = |role: Role, org: &str| {
        let (id, email, pw) = app.user(role, org);
        (id, token_of(&app.login(&email, &pw)))
    };
    let (_, coord) = login(Role::Coordinator, &org);
    let (officer_id, officer) = login(Role::Officer, &org);
    let (_, other_coord) = login(Role::Coordinator, &other);
    Team { admin, org, coord, officer, officer_id, other_coord }
}

fn defender_body(legal_name: &str) -> Value {
    json!({
        "pseudonym": "Rose",
        "country": "KE",
        "networks": ["Women Mediators Network"],
        "profile": {
            "legal_name": legal_name,
            "contact_channels": [{ "channel": "signal", "value": "+254 700 000000" }],
            "safe_contact_instructions": "Signal only, never call after 18:00",
            "location_detail": "Near the market, blue gate",
            "dependants": [{ "name": "Amani", "relation": "daughter", "age": 9 }]
        }
    })
}

fn alert_body() -> Value {
    json!({
        "kind": "threat_received",
        "urgency": "high",
        "country": "KE",
        "region": "Rift Valley",
        "narrative": "Received a threatening letter at the community centre",
        "safe_contact": "via the network coordinator",
        "consent_scope": ["un_agency", "embassy"]
    })
}

db_test!(defenders_keep_their_profile_sealed_and_need_to_know, |app| {
    let t = team(&app);
    let r = app.post("/api/v1/defenders", Some(&t.coord), defender_body("Wanjiru Kamau"));
    assert_eq!(r.status, 201, "{r:?}");
    let d = r.json();
    let id = d["id"].as_str().unwrap().to_string();
    assert_eq!(d["profile"]["legal_name"], "Wanjiru Kamau");
    assert_eq!(d["profile"]["dependants"][0]["relation"], "daughter");

    let list = app.get("/api/v1/defenders", Some(&t.coord)).json();
    assert_eq!(list["items"][0]["pseudonym"], "Rose");
    assert!(list["items"][0].get("profile").is_none(), "lists never carry the profile");
    assert!(!list.to_string().contains("Wanjiru"));

    // Officers see a defender only through a case they may read.
    let path = format!("/api/v1/defenders/{id}");
    assert_eq!(app.get(&path, Some(&t.officer)).status, 404);
    assert_eq!(app.get(&path, Some(&t.other_coord)).status, 404);
    assert_eq!(app.get(&path, Some(&t.admin)).status, 403);
    let case = app.post(
        "/api/v1/cases",
        Some(&t.coord),
        json!({ "severity": "high", "country": "KE", "consent_scope": [], "defender_id": id }),
    );
    assert_eq!(case.status, 201, "{case:?}");
    let case_id = case.json()["id"].as_str().unwrap().to_string();
    app.post(&format!("/api/v1/cases/{case_id}/assignees"), Some(&t.coord), json!({ "user_id": t.officer_id }));
    let r = app.get(&path, Some(&t.officer));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["profile"]["safe_contact_instructions"], "Signal only, never call after 18:00");
    assert_eq!(app.patch(&path, Some(&t.officer), json!({ "pseudonym": "R" })).status, 403);
    // Another organisation cannot attach her to its cases.
    let r = app.post(
        "/api/v1/cases",
        Some(&t.other_coord),
        json!({ "severity": "low", "country": "KE", "consent_scope": [], "defender_id": id }),
    );
    assert_eq!((r.status, r.code().as_str()), (422, "unknown_defender"));

    // Updates: ETag, If-Match, only known fields.
    let etag = app.get(&path, Some(&t.coord)).header("etag").unwrap().to_string();
    let mut profile = d["profile"].clone();
    profile["location_detail"] = json!("Moved to a safe house");
    let r = app.request_with_headers(
        "PATCH",
        &path,
        Some(&t.coord),
        &[("If-Match", &etag)],
        Some(json!({ "profile": profile })),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["profile"]["location_detail"], "Moved to a safe house");
    let r = app.request_with_headers(
        "PATCH",
        &path,
        Some(&t.coord),
        &[("If-Match", &etag)],
        Some(json!({ "pseudonym": "Rosa" })),
    );
    assert_eq!(r.status, 412);
    for bad in [
        json!({ "owner_organization_id": t.org }),
        json!({}),
        json!({ "profile": { "legal_name": "" } }),
        json!({ "country": "ZZ" }),
    ] {
        let r = app.patch(&path, Some(&t.coord), bad.clone());
        assert!(r.status == 400 || r.status == 422, "{bad}: {r:?}");
    }
    assert_eq!(app.get(&path, Some(&t.coord)).json()["pseudonym"], "Rose");
    let r = app.post(
        "/api/v1/defenders",
        Some(&t.coord),
        json!({ "pseudonym": "X", "country": "KE", "profile": { "legal_name": "Y", "ssn": "1" } }),
    );
    assert_eq!(r.status, 400, "unknown profile field");
});

db_test!(alerts_are_filed_listed_triaged_and_dismissed, |app| {
    let t = team(&app);
    let r = app.post("/api/v1/alerts", Some(&t.coord), alert_body());
    assert_eq!(r.status, 201, "{r:?}");
    let a = r.json();
    let id = a["id"].as_str().unwrap().to_string();
    assert_eq!(a["status"], "received");
    assert_eq!(a["narrative"], "Received a threatening letter at the community centre");

    let list = app.get("/api/v1/alerts?status=received&kind=threat_received&country=KE", Some(&t.coord)).json();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert!(list["items"][0].get("narrative").is_none());
    let since = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let later = app.get(&format!("/api/v1/alerts?received_since={}", since.replace('+', "%2B")), Some(&t.coord)).json();
    assert_eq!(later["items"].as_array().unwrap().len(), 0);
    assert_eq!(app.get("/api/v1/alerts?kind=burglary", Some(&t.coord)).status, 400);
    assert_eq!(app.get("/api/v1/alerts", Some(&t.other_coord)).json()["items"].as_array().unwrap().len(), 0);
    assert_eq!(app.get(&format!("/api/v1/alerts/{id}"), Some(&t.other_coord)).status, 404);
    assert_eq!(app.get(&format!("/api/v1/alerts/{id}"), Some(&t.officer)).status, 404, "not yet linked to her case");

    // Triage into a new case: country, consent and urgency carry over.
    let r = app.post(
        &format!("/api/v1/alerts/{id}/triage"),
        Some(&t.coord),
        json!({ "new_case": { "summary": "From alert" } }),
    );
    assert_eq!(r.status, 200, "{r:?}");
    let triaged = r.json();
    assert_eq!(triaged["status"], "triaged");
    let case_id = triaged["case_id"].as_str().unwrap().to_string();
    let case = app.get(&format!("/api/v1/cases/{case_id}"), Some(&t.coord)).json();
    assert_eq!(case["severity"], "high");
    assert_eq!(case["country"], "KE");
    assert_eq!(case["consent_scope"], json!(["embassy", "un_agency"]));
    // Readers of the case may read its alert.
    app.post(&format!("/api/v1/cases/{case_id}/assignees"), Some(&t.coord), json!({ "user_id": t.officer_id }));
    assert_eq!(app.get(&format!("/api/v1/alerts/{id}"), Some(&t.officer)).status, 200);
    let r = app.post(&format!("/api/v1/alerts/{id}/triage"), Some(&t.coord), json!({ "new_case": {} }));
    assert_eq!((r.status, r.code().as_str()), (409, "alert_not_received"));

    // A second alert attached to the existing case; a third dismissed.
    let b = app.post("/api/v1/alerts", Some(&t.coord), alert_body()).json();
    let r = app.post(
        &format!("/api/v1/alerts/{}/triage", b["id"].as_str().unwrap()),
        Some(&t.coord),
        json!({ "case_id": case_id }),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["case_id"], case_id.as_str());
    let c = app.post("/api/v1/alerts", Some(&t.coord), alert_body()).json();
    let cid = c["id"].as_str().unwrap();
    assert_eq!(app.post(&format!("/api/v1/alerts/{cid}/dismiss"), Some(&t.coord), json!({})).status, 400);
    assert_eq!(
        app.post(&format!("/api/v1/alerts/{cid}/dismiss"), Some(&t.coord), json!({ "reason": " " })).status,
        422
    );
    let r = app.post(
        &format!("/api/v1/alerts/{cid}/dismiss"),
        Some(&t.coord),
        json!({ "reason": "duplicate of an earlier report" }),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["status"], "dismissed");
    assert_eq!(r.json()["dismiss_reason"], "duplicate of an earlier report");
    let d = app.post("/api/v1/alerts", Some(&t.coord), alert_body()).json();
    let did = d["id"].as_str().unwrap();
    for bad in
        [json!({}), json!({ "case_id": case_id, "new_case": {} }), json!({ "new_case": { "severity": "extreme" } })]
    {
        assert_eq!(app.post(&format!("/api/v1/alerts/{did}/triage"), Some(&t.coord), bad.clone()).status, 400, "{bad}");
    }
    let other_case = app
        .post("/api/v1/cases", Some(&t.other_coord), json!({ "severity": "low", "country": "KE", "consent_scope": [] }))
        .json();
    let r = app.post(&format!("/api/v1/alerts/{did}/triage"), Some(&t.coord), json!({ "case_id": other_case["id"] }));
    assert_eq!((r.status, r.code().as_str()), (422, "unknown_case"));
    assert_eq!(app.get(&format!("/api/v1/alerts/{did}"), Some(&t.coord)).json()["status"], "received");
    for bad in [
        json!({ "kind": "rumour", "urgency": "high", "country": "KE", "narrative": "x", "consent_scope": [] }),
        json!({ "kind": "other", "urgency": "high", "country": "KE", "narrative": "", "consent_scope": [] }),
        json!({ "kind": "other", "urgency": "high", "country": "KE", "narrative": "x", "consent_scope": [], "status": "triaged" }),
    ] {
        let r = app.post("/api/v1/alerts", Some(&t.coord), bad.clone());
        assert!(r.status == 400 || r.status == 422, "{bad}: {r:?}");
    }
});

db_test!(triage_is_one_transaction, |app| {
    let t = team(&app);
    let a = app.post("/api/v1/alerts", Some(&t.coord), alert_body()).json();
    let id = a["id"].as_str().unwrap().to_string();
    // Four coordinators' clicks at once: one case, one triage, the others refused.
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    app.post(&format!("/api/v1/alerts/{id}/triage"), Some(&t.coord), json!({ "new_case": {} })).status
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == 200 || *s == 409), "{statuses:?}");
    let cases = app.get("/api/v1/cases", Some(&t.coord)).json();
    assert_eq!(cases["items"].as_array().unwrap().len(), 1, "the losers' cases were rolled back");
    // A stale If-Match is refused before anything is created.
    let b = app.post("/api/v1/alerts", Some(&t.coord), alert_body()).json();
    let r = app.request_with_headers(
        "POST",
        &format!("/api/v1/alerts/{}/triage", b["id"].as_str().unwrap()),
        Some(&t.coord),
        &[("If-Match", "\"v99\"")],
        Some(json!({ "new_case": {} })),
    );
    assert_eq!(r.status, 412);
    assert_eq!(app.get("/api/v1/cases", Some(&t.coord)).json()["items"].as_array().unwrap().len(), 1);
    // Idempotent intake.
    let key = [("Idempotency-Key", "alert-retry-1")];
    let x = app.request_with_headers("POST", "/api/v1/alerts", Some(&t.coord), &key, Some(alert_body()));
    let y = app.request_with_headers("POST", "/api/v1/alerts", Some(&t.coord), &key, Some(alert_body()));
    assert_eq!((x.status, y.status), (201, 201), "{x:?} {y:?}");
    assert!(x.json()["id"].is_string());
    assert_eq!(x.json()["id"], y.json()["id"]);
});

db_test!(narrative_and_legal_name_are_never_stored_in_clear, |app| {
    let t = team(&app);
    let canary = format!("CANARY{}", uuid::Uuid::new_v4().simple());
    let mut d = defender_body(&format!("Name {canary}"));
    d["profile"]["dependants"][0]["name"] = json!(format!("Child {canary}"));
    assert_eq!(app.post("/api/v1/defenders", Some(&t.coord), d).status, 201);
    let mut a = alert_body();
    a["narrative"] = json!(format!("Narrative {canary}"));
    a["safe_contact"] = json!(format!("Contact {canary}"));
    let alert = app.post("/api/v1/alerts", Some(&t.coord), a).json();
    let r = app.post(
        &format!("/api/v1/alerts/{}/dismiss", alert["id"].as_str().unwrap()),
        Some(&t.coord),
        json!({ "reason": format!("Reason {canary}") }),
    );
    assert_eq!(r.status, 200);
    let stored = everything_stored(&app);
    assert!(stored.contains("Rose"), "the dump sees the defender row");
    assert!(!stored.contains(&canary), "canary found in the database");
});

db_test!(canary_in_region_is_never_stored_in_clear_nor_listed, |app| {
    let t = team(&app);
    let canary = format!("CANARY{}", uuid::Uuid::new_v4().simple());
    let mut a = alert_body();
    a["region"] = json!(format!("Popayán {canary}"));
    let r = app.post("/api/v1/alerts", Some(&t.coord), a);
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.json()["region"], format!("Popayán {canary}"));
    let id = r.json()["id"].as_str().unwrap().to_string();
    // One alert read opens it; a list carries nothing sealed.
    let shown = app.get(&format!("/api/v1/alerts/{id}"), Some(&t.coord)).json();
    assert_eq!(shown["region"], format!("Popayán {canary}"));
    let list = app.get("/api/v1/alerts", Some(&t.coord));
    assert_eq!(list.json()["items"][0]["id"], id.as_str());
    assert!(list.json()["items"][0].get("region").is_none(), "{list:?}");
    assert!(!list.text.contains(&canary));
    // Triage keeps it with the alert.
    let r = app.post(&format!("/api/v1/alerts/{id}/triage"), Some(&t.coord), json!({ "new_case": {} }));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["region"], format!("Popayán {canary}"));
    assert_eq!(app.count(&format!("alerts WHERE id = '{id}' AND region_ct IS NOT NULL AND region IS NULL")), 1);
    let stored = everything_stored(&app);
    assert!(stored.contains(&id), "the dump sees the alert row");
    assert!(!stored.contains(&canary), "canary found in the database");
});

db_test!(alerts_stay_within_their_organisation_and_go_with_a_shredded_case, |app| {
    let t = team(&app);
    // The other desk's coordinator is assigned to this desk's case through a share...
    let other_org = app.get("/api/v1/me", Some(&t.other_coord)).json()["organization_id"].as_str().unwrap().to_string();
    let other_me = app.get("/api/v1/me", Some(&t.other_coord)).json()["id"].as_str().unwrap().to_string();
    let case = app
        .post(
            "/api/v1/cases",
            Some(&t.coord),
            json!({ "severity": "low", "country": "KE", "consent_scope": ["un_agency"] }),
        )
        .json();
    let case_id = case["id"].as_str().unwrap().to_string();
    let share = json!({ "organization_id": other_org, "consent_reference": "c", "expires_at": (chrono::Utc::now() + chrono::Duration::days(5)).to_rfc3339() });
    assert_eq!(app.post(&format!("/api/v1/cases/{case_id}/shares"), Some(&t.coord), share).status, 200);
    assert_eq!(
        app.post(&format!("/api/v1/cases/{case_id}/assignees"), Some(&t.coord), json!({ "user_id": other_me })).status,
        200
    );
    // ...but cannot move her own organisation's alert into it.
    let a = app.post("/api/v1/alerts", Some(&t.other_coord), alert_body()).json();
    let r = app.post(
        &format!("/api/v1/alerts/{}/triage", a["id"].as_str().unwrap()),
        Some(&t.other_coord),
        json!({ "case_id": case_id }),
    );
    assert_eq!((r.status, r.code().as_str()), (422, "unknown_case"), "{r:?}");
    // Unsharing ends her assignment too.
    assert_eq!(
        app.request("DELETE", &format!("/api/v1/cases/{case_id}/shares/{other_org}"), Some(&t.coord), None).status,
        200
    );
    assert_eq!(app.get(&format!("/api/v1/cases/{case_id}"), Some(&t.other_coord)).status, 404);
    assert!(app.get(&format!("/api/v1/cases/{case_id}"), Some(&t.coord)).json()["assignees"]
        .as_array()
        .unwrap()
        .is_empty());

    // A closed case takes no more alerts.
    let own = app.post("/api/v1/alerts", Some(&t.coord), alert_body()).json();
    app.post(
        &format!("/api/v1/cases/{case_id}/transitions"),
        Some(&t.coord),
        json!({ "to": "closed", "reason": "done" }),
    );
    let r = app.post(
        &format!("/api/v1/alerts/{}/triage", own["id"].as_str().unwrap()),
        Some(&t.coord),
        json!({ "case_id": case_id }),
    );
    assert_eq!((r.status, r.code().as_str()), (409, "case_closed"));

    // Shredding a case shreds the alerts triaged into it.
    let b = app.post("/api/v1/alerts", Some(&t.coord), alert_body()).json();
    let bid = b["id"].as_str().unwrap();
    let triaged = app.post(&format!("/api/v1/alerts/{bid}/triage"), Some(&t.coord), json!({ "new_case": {} })).json();
    let new_case = triaged["case_id"].as_str().unwrap().to_string();
    let st = app.state();
    st.db.write_blocking(|c| haven::crypto::ops::shred(&st.crypto, c, st.clock.now(), None, &new_case, false)).unwrap();
    let r = app.get(&format!("/api/v1/alerts/{bid}"), Some(&t.coord));
    assert_eq!((r.status, r.code().as_str()), (410, "case_shredded"));
});

db_test!(a_defender_record_is_linked_to_a_case_at_triage_or_later, |app| {
    let t = team(&app);
    let defender = |coord: &str| {
        let r = app.post("/api/v1/defenders", Some(coord), defender_body("Rose Wanjiru"));
        assert_eq!(r.status, 201, "{r:?}");
        r.json()["id"].as_str().unwrap().to_string()
    };
    let (rose, foreign) = (defender(&t.coord), defender(&t.other_coord));
    let alert = || {
        let r = app.post("/api/v1/alerts", Some(&t.coord), alert_body());
        assert_eq!(r.status, 201, "{r:?}");
        r.json()["id"].as_str().unwrap().to_string()
    };
    // At triage: into a new case about her.
    let a = alert();
    let r = app.post(
        &format!("/api/v1/alerts/{a}/triage"),
        Some(&t.coord),
        json!({ "new_case": { "defender_id": foreign } }),
    );
    assert_eq!((r.status, r.code().as_str()), (422, "unknown_defender"), "another organisation's defender");
    let r =
        app.post(&format!("/api/v1/alerts/{a}/triage"), Some(&t.coord), json!({ "new_case": { "defender_id": rose } }));
    assert_eq!(r.status, 200, "{r:?}");
    let case = r.json()["case_id"].as_str().unwrap().to_string();
    assert_eq!(app.get(&format!("/api/v1/cases/{case}"), Some(&t.coord)).json()["defender_id"], rose.as_str());

    // Later: a case opened without a defender record gets one.
    let b = alert();
    let r = app.post(&format!("/api/v1/alerts/{b}/triage"), Some(&t.coord), json!({ "new_case": {} }));
    let case = r.json()["case_id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/cases/{case}");
    assert!(app.get(&path, Some(&t.coord)).json()["defender_id"].is_null());
    let r = app.post(&format!("{path}/assignees"), Some(&t.coord), json!({ "user_id": t.officer_id }));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(app.get(&format!("/api/v1/defenders/{rose}"), Some(&t.officer)).status, 404, "not yet hers to read");
    // Within need-to-know: an assigned officer may not link defenders, nor may anyone link
    // another organisation's.
    let r = app.patch(&path, Some(&t.officer), json!({ "defender_id": rose }));
    assert_eq!((r.status, r.code().as_str()), (422, "unknown_defender"), "{r:?}");
    let r = app.patch(&path, Some(&t.coord), json!({ "defender_id": foreign }));
    assert_eq!((r.status, r.code().as_str()), (422, "unknown_defender"), "{r:?}");
    let r = app.patch(&path, Some(&t.coord), json!({ "defender_id": "not-an-id" }));
    assert_eq!(r.status, 422, "{r:?}");
    let r = app.patch(&path, Some(&t.coord), json!({ "defender_id": rose }));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["defender_id"], rose.as_str());
    assert_eq!(app.get(&format!("/api/v1/defenders/{rose}"), Some(&t.officer)).status, 200, "now she may");
    let audit = app.get("/api/v1/audit?limit=200", Some(&t.admin)).json();
    assert!(audit["items"].as_array().unwrap().iter().any(|e| e["action"] == "case.update"
        && e["subject_id"] == case.as_str()
        && e["detail"]["changed"] == json!(["defender"])));
});
