//! Which organisation receives the web form's alerts: never one nobody can read, chosen by
//! an admin while Haven runs.

use haven::domain::Role;
use serde_json::json;

use crate::db_test_with;
use crate::form::{file_alert, input_value};
use crate::harness::{token_of, TestApp};

fn org(app: &TestApp, admin: &str, name: &str) -> String {
    let r = app.post("/api/v1/organizations", Some(admin), json!({ "name": name, "kind": "ngo", "country": "CO" }));
    assert_eq!(r.status, 201, "{r:?}");
    r.json()["id"].as_str().unwrap().to_string()
}

fn readyz_form(app: &TestApp) -> (String, Option<String>) {
    let r = app.get("/readyz", None);
    assert_eq!(r.status, 200, "the API is ready whether or not the form is: {r:?}");
    let j = r.json();
    (j["form"].as_str().unwrap().to_string(), j["form_detail"].as_str().map(str::to_string))
}

db_test_with!(
    the_form_takes_alerts_only_where_a_coordinator_can_read_them,
    |c| c.form.organization = "Intake Desk".into(),
    |app| {
        let admin = app.admin_token();
        let intake = || app.get("/api/v1/form/intake", Some(&admin)).json();
        let closed = |why: &str| {
            let r = app.get("/report", None);
            assert_eq!(r.status, 503, "{why}: {r:?}");
            assert!(!r.text.contains("name=\"narrative\""), "{why}: no form to fill in");
        };
        // The configured organisation does not exist yet.
        closed("no organisation");
        let i = intake();
        assert_eq!((i["open"].clone(), i["source"].clone()), (json!(false), json!("config")), "{i}");
        assert!(i["reason"].as_str().unwrap().contains("no organisation `Intake Desk`"), "{i}");
        assert_eq!(readyz_form(&app), ("closed".into(), Some("the web form has no receiving organisation".into())));

        // It exists, but nobody there may read alerts.
        let desk = org(&app, &admin, "Intake Desk");
        closed("no coordinator");
        let (_, officer_email, officer_pw) = app.user(Role::Officer, &desk);
        closed("an officer cannot list alerts");
        assert!(intake()["reason"].as_str().unwrap().contains("has no active coordinator"));
        assert!(readyz_form(&app).1.unwrap().contains("no active coordinator"));
        let (coord_id, email, pw) = app.user(Role::Coordinator, &desk);
        let coord = token_of(&app.login(&email, &pw));
        assert_eq!(readyz_form(&app), ("open".into(), None));
        let (_, page) = file_alert(&app, "en", "followed after the hearing");
        assert!(page.text.contains("receipt"));
        let listed = app.get("/api/v1/alerts", Some(&coord)).json();
        assert_eq!(listed["items"].as_array().unwrap().len(), 1, "her first report is seen: {listed}");

        // An admin moves the intake at run time; only to an organisation someone reads.
        let other = org(&app, &admin, "Night Desk");
        let put =
            |id: &str| app.request("PUT", "/api/v1/form/intake", Some(&admin), Some(&json!({ "organization_id": id })));
        let r = put(&other);
        assert_eq!((r.status, r.code().as_str()), (422, "no_coordinator"), "{r:?}");
        let r = put("01a20000-0000-7000-8000-00000000dead");
        assert_eq!((r.status, r.code().as_str()), (422, "unknown_organization"), "{r:?}");
        let r =
            app.request("PUT", "/api/v1/form/intake", Some(&admin), Some(&json!({ "organization_id": other, "x": 1 })));
        assert_eq!(r.status, 400, "unknown field: {r:?}");
        let (_, night_email, night_pw) = app.user(Role::Coordinator, &other);
        let r = put(&other);
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!((r.json()["open"].clone(), r.json()["source"].clone()), (json!(true), json!("admin")));
        assert_eq!(r.json()["organization_name"], "Night Desk");
        file_alert(&app, "en", "a second report");
        let night = token_of(&app.login(&night_email, &night_pw));
        assert_eq!(app.get("/api/v1/alerts", Some(&night)).json()["items"].as_array().unwrap().len(), 1);
        assert_eq!(app.get("/api/v1/alerts", Some(&coord)).json()["items"].as_array().unwrap().len(), 1);
        // Only admins see and change it, and the change is audited.
        assert_eq!(app.get("/api/v1/form/intake", Some(&night)).status, 403);
        let officer = token_of(&app.login(&officer_email, &officer_pw));
        assert_eq!(
            app.request("PUT", "/api/v1/form/intake", Some(&officer), Some(&json!({ "organization_id": desk }))).status,
            403
        );
        let audit = app.get("/api/v1/audit?action=form.intake_update&outcome=success", Some(&admin)).json();
        assert_eq!(audit["items"].as_array().unwrap().len(), 1, "{audit}");

        // Its last coordinator leaves: the form closes on the next request.
        let night_id = app.get("/api/v1/me", Some(&night)).json()["id"].as_str().unwrap().to_string();
        let r = app.patch(&format!("/api/v1/users/{night_id}"), Some(&admin), json!({ "active": false }));
        assert_eq!(r.status, 200, "{r:?}");
        closed("the last coordinator was deactivated");
        // A form opened before still cannot send into it.
        let r = put(&desk);
        assert_eq!(r.status, 200, "{r:?}");
        let page = app.get("/report", None);
        let token = input_value(&page.text, "token");
        let r = app.patch(&format!("/api/v1/users/{coord_id}"), Some(&admin), json!({ "active": false }));
        assert_eq!(r.status, 200);
        let sent = crate::form::post_form(&app, "/report", &crate::form::alert_fields(&token, "en", "too late"));
        assert_eq!(sent.status, 503, "{sent:?}");
    }
);
