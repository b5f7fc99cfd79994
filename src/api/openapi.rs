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

/// Every error body: a stable code, a message, and for `invalid_transition` the allowed
/// statuses.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Error {
    pub error: String,
    pub message: String,
    pub allowed: Option<Vec<String>>,
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
        responses = responses.response("400", err("malformed request"));
        if !public {
            responses = responses
                .response("401", err("missing, invalid or expired token"))
                .response("403", err("not allowed for this account"));
        }
        if r.path.contains('{') {
            responses = responses.response("404", err("no such object, or not one the caller may see"));
        }
        op = op.responses(responses.build());
        paths = paths.path(r.path, PathItem::new(method(&r.method), op.build()));
    }
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

/// `GET /api/v1/openapi.json`
pub async fn serve() -> HttpResponse {
    HttpResponse::Ok().json(document())
}
