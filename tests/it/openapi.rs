//! The OpenAPI description covers every route of the table, and nothing else.

use haven::authz::Action;
use serde_json::Value;

use crate::db_test;

fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                out.push(r.clone());
            }
            m.values().for_each(|x| refs(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

#[test]
fn openapi_covers_every_route_and_only_those() {
    let doc = haven::api::openapi::document_json();
    assert_eq!(doc["openapi"], "3.1.0");
    let table = haven::api::table();
    let mut documented = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, _) in item.as_object().unwrap() {
            assert!(
                table.iter().any(|r| r.path == path && r.method.as_str().eq_ignore_ascii_case(method)),
                "{method} {path} is documented but not served"
            );
            documented += 1;
        }
    }
    assert_eq!(documented, table.len(), "every route is documented once");
    for r in &table {
        let op = &doc["paths"][r.path][r.method.as_str().to_lowercase()];
        assert!(op.is_object(), "{} {} is missing from the document", r.method, r.path);
        assert!(r.response.is_some(), "{} {} declares no response", r.method, r.path);
        let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
        assert_eq!(secured, r.action != Action::Public, "{} {}: security", r.method, r.path);
        if r.action != Action::Public {
            assert!(op["description"].as_str().unwrap().contains(r.action.as_str()));
        }
        // Starting a TOTP enrolment takes nothing; turning it off (a DELETE) takes a code.
        let takes_body = (matches!(r.method.as_str(), "POST" | "PATCH" | "PUT")
            && !matches!(
                r.action,
                Action::AuthLogout | Action::EscalationAck | Action::UserResetPassword | Action::UserMfaReset
            )
            && !(r.action == Action::MeMfaEnroll && r.path == "/api/v1/me/mfa/totp"))
            || r.action == Action::MeMfaDisable;
        assert_eq!(op["requestBody"].is_object(), takes_body, "{} {}: request body", r.method, r.path);
        for p in r.path.split('/').filter_map(|s| s.strip_prefix('{')?.strip_suffix('}')) {
            assert!(
                op["parameters"].as_array().unwrap().iter().any(|x| x["name"] == p),
                "{} {} param {p}",
                r.method,
                r.path
            );
        }
    }
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(all.len() > 50);
    for r in all {
        let name = r.strip_prefix("#/components/schemas/").unwrap();
        assert!(doc["components"]["schemas"][name].is_object(), "dangling reference {r}");
    }
    // Request schemas reject unknown fields, like the server does.
    assert_eq!(doc["components"]["schemas"]["CaseCreate"]["additionalProperties"], false);
}

db_test!(openapi_is_served_without_a_token, |app| {
    let r = app.get("/api/v1/openapi.json", None);
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), haven::api::openapi::document_json());
});

#[test]
fn query_parameters_and_error_answers_are_documented() {
    let doc = haven::api::openapi::document_json();
    let names = |path: &str| -> Vec<String> {
        doc["paths"][path]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["in"] == "query")
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect()
    };
    for p in ["limit", "cursor", "status", "severity", "country", "assigned_to_me"] {
        assert!(names("/api/v1/cases").contains(&p.to_string()), "cases list: {p}");
    }
    for p in ["actor", "action", "subject", "outcome", "from", "to"] {
        assert!(names("/api/v1/audit").contains(&p.to_string()), "audit: {p}");
    }
    for path in ["/api/v1/cases/{id}/checkins", "/api/v1/cases/{id}/messages", "/api/v1/grants/{id}/disbursements"] {
        assert_eq!(names(path), ["cursor", "limit"], "{path}");
    }
    let answers = |path: &str, method: &str| -> Vec<String> {
        doc["paths"][path][method]["responses"].as_object().unwrap().keys().cloned().collect()
    };
    let patch = answers("/api/v1/cases/{id}", "patch");
    for s in ["200", "400", "401", "403", "404", "405", "409", "412", "413", "415", "422"] {
        assert!(patch.contains(&s.to_string()), "PATCH case: {s} in {patch:?}");
    }
    // No flattened response is left as an allOf that nothing could satisfy.
    for (name, schema) in doc["components"]["schemas"].as_object().unwrap() {
        assert!(schema.get("allOf").is_none(), "{name} is still an allOf");
    }
}

crate::db_test!(a_405_says_which_methods_there_are, |app| {
    let t = app.admin_token();
    let r = app.request("DELETE", "/api/v1/me", Some(&t), None);
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET"));
    let r = app.request("PUT", "/api/v1/cases", Some(&t), None);
    assert_eq!(r.header("allow"), Some("POST, GET"));
});
