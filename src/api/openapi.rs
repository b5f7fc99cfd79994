//! The OpenAPI 3.1 description of the API, generated from the route table (`api::table()`):
//! every route, the action it needs, whether it takes a token, what it takes and returns.
//! Schemas come from the request and response types themselves (utoipa derives).

use actix_web::HttpResponse;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, PathItem};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, PathsBuilder, Ref, Required,
    ResponseBuilder, ResponsesBuilder,
};

use crate::authz::Action;

/// Every error body: a stable code, a message, for `invalid_transition` the allowed
/// statuses, and for a bad value the path of its field (`threats[1].likelihood`).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Error {
    pub error: String,
    pub message: String,
    pub allowed: Option<Vec<String>>,
    pub field: Option<String>,
}

/// This document (an OpenAPI 3.1 object).
#[derive(serde::Serialize, utoipa::ToSchema)]
#[schema(value_type = Object)]
pub struct Document(serde_json::Value);

fn method(m: &actix_web::http::Method) -> HttpMethod {
    match m.as_str() {
        "POST" => HttpMethod::Post,
        "PATCH" => HttpMethod::Patch,
        "PUT" => HttpMethod::Put,
        "DELETE" => HttpMethod::Delete,
        _ => HttpMethod::Get,
    }
}

fn tag(path: &str) -> String {
    path.trim_start_matches("/api/v1/").split('/').next().unwrap_or("service").trim_start_matches('/').to_string()
}

fn json_ref(name: &str) -> utoipa::openapi::Content {
    ContentBuilder::new().schema(Some(Ref::from_schema_name(name))).build()
}

pub fn document() -> OpenApi {
    let mut schemas = Vec::new();
    let error = super::schema_of::<Error>(&mut schemas);
    let mut paths = PathsBuilder::new();
    for r in super::table() {
        let public = r.action == Action::Public;
        let op_id = if public {
            format!("{} {}", r.method, r.path)
        } else {
            format!("{} ({} {})", r.action.as_str(), r.method, r.path)
        };
        let mut op = OperationBuilder::new().operation_id(Some(op_id)).tag(tag(r.path));
        if !public {
            op = op
                .security(SecurityRequirement::new("bearer", Vec::<String>::new()))
                .description(Some(format!("Requires the `{}` action (policies/access.toml).", r.action.as_str())));
        }
        for name in r.path.split('/').filter_map(|s| s.strip_prefix('{')?.strip_suffix('}')) {
            op = op.parameter(
                ParameterBuilder::new()
                    .name(name)
                    .parameter_in(ParameterIn::Path)
                    .required(Required::True)
                    .schema(Some(ObjectBuilder::new().schema_type(Type::String))),
            );
        }
        for p in r.query.map(|q| q()).unwrap_or_default() {
            op = op.parameter(p);
        }
        if let Some(req) = r.request {
            let name = req(&mut schemas);
            op = op.request_body(Some(
                RequestBodyBuilder::new()
                    .content("application/json", json_ref(&name))
                    .required(Some(Required::True))
                    .build(),
            ));
        }
        let mut responses = ResponsesBuilder::new();
        if let Some((status, body)) = r.response {
            let mut ok = ResponseBuilder::new().description("success");
            if let Some(f) = body {
                ok = ok.content("application/json", json_ref(&f(&mut schemas)));
            }
            responses = responses.response(status.to_string(), ok.build());
        }
        let err = |d: &str| ResponseBuilder::new().description(d).content("application/json", json_ref(&error)).build();
        responses = responses
            .response("400", err("malformed request: a bad query, path or body (see `error` and `message`)"))
            .response("404", err("no such object, or not one the caller may see"))
            .response("405", err("not a method of this path; `Allow` lists those that are"))
            .response("503", err("the database is busy or unreachable; retry after `Retry-After` seconds"));
        if !public {
            responses = responses
                .response("401", err("missing, invalid or expired token"))
                .response("403", err("not allowed for this account, or not on this object"));
        }
        if r.request.is_some() || r.method != actix_web::http::Method::GET {
            responses = responses
                .response("409", err("conflicts with the object's state (a closed case, a decided grant, …)"))
                .response("412", err("If-Match names a version that is no longer current"))
                .response("422", err("well-formed but refused by a rule; `error` says which"));
        }
        if r.request.is_some() {
            responses = responses
                .response("413", err("body over the size limit"))
                .response("415", err("the body is not sent as Content-Type: application/json"));
        }
        if r.path.contains('{') {
            responses = responses.response("410", err("its case was shredded: the content can never be read again"));
        }
        if public && r.path.starts_with("/api/v1/auth/") {
            responses =
                responses.response("401", err("wrong email or password, or a refresh token that is no longer valid"));
        }
        if r.path == "/api/v1/auth/login" || r.path == "/api/v1/me/password" {
            responses = responses.response("429", err("too many failed attempts; retry after `Retry-After` seconds"));
        }
        op = op.responses(responses.build());
        paths = paths.path(r.path, PathItem::new(method(&r.method), op.build()));
    }
    // Types that query parameters refer to (IntoParams names them, but does not register them).
    super::schema_of::<crate::domain::alerts::AlertStatus>(&mut schemas);
    super::schema_of::<crate::domain::alerts::AlertKind>(&mut schemas);
    super::schema_of::<crate::domain::cases::CaseStatus>(&mut schemas);
    super::schema_of::<crate::domain::cases::Severity>(&mut schemas);
    super::schema_of::<super::audit::Outcome>(&mut schemas);
    let mut components = ComponentsBuilder::new().security_scheme(
        "bearer",
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
    );
    for (name, schema) in schemas {
        components = components.schema(name, schema);
    }
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Haven")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Protection case management for women peacebuilders and human-rights defenders at risk.",
                ))
                .build(),
        )
        .paths(paths.build())
        .components(Some(components.build()))
        .build()
}

/// The document as served. utoipa describes a `#[serde(flatten)]` response as `allOf` of
/// the flattened type and the rest; when the flattened type is also a request body it says
/// `additionalProperties: false`, and then no valid response could match both parts. Each
/// such schema is merged into one object with every property of its parts instead.
pub fn document_json() -> serde_json::Value {
    let mut doc = serde_json::to_value(document()).unwrap_or_default();
    let schemas = doc["components"]["schemas"].as_object().cloned().unwrap_or_default();
    if let Some(out) = doc["components"]["schemas"].as_object_mut() {
        for (name, schema) in out.iter_mut() {
            if schema.get("allOf").is_some() {
                *schema = merged(&schemas, schema, 0).unwrap_or_else(|| {
                    tracing::warn!(schema = %name, "could not merge allOf");
                    schema.clone()
                });
            }
        }
    }
    doc
}

/// One object schema with the properties and required names of every `allOf` part.
fn merged(
    schemas: &serde_json::Map<String, serde_json::Value>,
    schema: &serde_json::Value,
    depth: usize,
) -> Option<serde_json::Value> {
    use serde_json::{json, Map, Value};
    if depth > 8 {
        return None;
    }
    let resolve = |s: &Value| -> Option<Value> {
        match s.get("$ref").and_then(Value::as_str) {
            Some(r) => schemas.get(r.strip_prefix("#/components/schemas/")?).cloned(),
            None => Some(s.clone()),
        }
    };
    let parts: Vec<Value> = match schema.get("allOf").and_then(Value::as_array) {
        Some(all) => {
            all.iter().map(|p| resolve(p).and_then(|p| merged(schemas, &p, depth + 1))).collect::<Option<_>>()?
        }
        None => return Some(schema.clone()),
    };
    let (mut properties, mut required) = (Map::new(), Vec::<Value>::new());
    for p in parts {
        if p.get("type").and_then(Value::as_str) != Some("object") {
            return None;
        }
        properties.extend(p.get("properties").and_then(Value::as_object).cloned().unwrap_or_default());
        for r in p.get("required").and_then(Value::as_array).cloned().unwrap_or_default() {
            if !required.contains(&r) {
                required.push(r);
            }
        }
    }
    let mut out = json!({ "type": "object", "properties": properties, "required": required });
    if let Some(d) = schema.get("description") {
        out["description"] = d.clone();
    }
    Some(out)
}

/// `GET /api/v1/openapi.json`
pub async fn serve() -> HttpResponse {
    HttpResponse::Ok().json(document_json())
}
