//! The OpenAPI document is a contract: every response the test suite receives from an API
//! route is checked against it (`harness` calls `check` on each). The status must be one
//! the operation documents, a JSON body must validate against the documented schema
//! (JSON Schema 2020-12, as OpenAPI 3.1 uses), and a 405 must carry `Allow`. Since every
//! test goes through here, every route the suite exercises is validated, with real bodies.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use serde_json::Value;

use crate::harness::Resp;

struct Operation {
    /// status → the schema's component name (None: no body)
    responses: HashMap<String, Option<String>>,
}

struct Route {
    segments: Vec<String>,
    operations: HashMap<String, Operation>,
}

struct Contract {
    routes: Vec<Route>,
    components: Value,
    validators: Mutex<HashMap<String, std::sync::Arc<jsonschema::Validator>>>,
}

fn contract() -> &'static Contract {
    static CONTRACT: OnceLock<Contract> = OnceLock::new();
    CONTRACT.get_or_init(|| {
        let doc = haven::api::openapi::document_json();
        let mut routes = Vec::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            let mut operations = HashMap::new();
            for (method, op) in item.as_object().expect("path item") {
                let responses = op["responses"]
                    .as_object()
                    .expect("responses")
                    .iter()
                    .map(|(status, r)| {
                        let name = r["content"]["application/json"]["schema"]["$ref"]
                            .as_str()
                            .map(|s| s.trim_start_matches("#/components/schemas/").to_string());
                        (status.clone(), name)
                    })
                    .collect();
                operations.insert(method.to_uppercase(), Operation { responses });
            }
            routes.push(Route { segments: path.split('/').map(str::to_string).collect(), operations });
        }
        Contract { routes, components: doc["components"].clone(), validators: Mutex::new(HashMap::new()) }
    })
}

impl Contract {
    fn route(&self, path: &str) -> Option<&Route> {
        let parts: Vec<&str> = path.split('/').collect();
        self.routes.iter().find(|r| {
            r.segments.len() == parts.len()
                && r.segments.iter().zip(&parts).all(|(s, p)| s == p || (s.starts_with('{') && !p.is_empty()))
        })
    }

    fn validator(&self, name: &str) -> std::sync::Arc<jsonschema::Validator> {
        let mut cache = self.validators.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .entry(name.to_string())
            .or_insert_with(|| {
                let schema = serde_json::json!({
                    "$ref": format!("#/components/schemas/{name}"),
                    "components": self.components,
                });
                let v = jsonschema::options()
                    .with_draft(jsonschema::Draft::Draft202012)
                    .build(&schema)
                    .unwrap_or_else(|e| panic!("schema {name} does not compile: {e}"));
                std::sync::Arc::new(v)
            })
            .clone()
    }
}

/// Panics when the response breaks the document.
pub fn check(method: &str, path_and_query: &str, resp: &Resp) {
    let path = path_and_query.split('?').next().unwrap_or("");
    if !(path.starts_with("/api/") || path == "/healthz" || path == "/readyz") {
        return;
    }
    let c = contract();
    let Some(route) = c.route(path) else {
        // Not an API path at all: the service's JSON 404.
        assert_eq!(resp.status, 404, "{method} {path}: undocumented path answered {}", resp.status);
        return;
    };
    let Some(op) = route.operations.get(method) else {
        assert_eq!(resp.status, 405, "{method} {path}: undocumented method answered {}", resp.status);
        let allow = resp.header("allow").unwrap_or_else(|| panic!("{method} {path}: 405 without Allow"));
        let mut listed: Vec<&str> = allow.split(", ").collect();
        let mut documented: Vec<&str> = route.operations.keys().map(String::as_str).collect();
        listed.sort();
        documented.sort();
        assert_eq!(listed, documented, "{method} {path}: Allow");
        return;
    };
    let status = resp.status.to_string();
    let schema = op.responses.get(&status).unwrap_or_else(|| {
        panic!(
            "{method} {path}: status {status} is not documented (documented: {:?}): {}",
            op.responses.keys(),
            resp.text
        )
    });
    let Some(name) = schema else { return };
    let is_json = resp.header("content-type").is_some_and(|t| t.starts_with("application/json"));
    assert!(is_json, "{method} {path} {status}: documented as JSON, sent {:?}", resp.header("content-type"));
    let body: Value = serde_json::from_str(&resp.text).unwrap_or_else(|e| panic!("{method} {path}: not JSON: {e}"));
    let v = c.validator(name);
    let errors: Vec<String> = v.iter_errors(&body).map(|e| format!("{} at {}", e, e.instance_path)).take(5).collect();
    assert!(errors.is_empty(), "{method} {path} {status} does not match {name}: {errors:#?}\n{body}");
}
