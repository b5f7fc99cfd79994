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
    let doc = serde_json::to_value(haven::api::openapi::document()).unwrap();
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
        let takes_body = matches!(r.method.as_str(), "POST" | "PATCH" | "PUT")
            && !matches!(r.action, Action::AuthLogout | Action::EscalationAck | Action::UserResetPassword);
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
    assert_eq!(r.json(), serde_json::to_value(haven::api::openapi::document()).unwrap());
});
