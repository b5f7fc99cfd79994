//! The HTTP API. One file per resource; handlers are thin: parse, authorise (through the
//! `Authed` extractor), call `domain`, map the result to a DTO.
//!
//! [`table`] is the single list of routes. Each names the [`Action`] it needs; `configure`
//! attaches those actions to the resources, and the `Authed` extractor refuses any request
//! whose route declared none. Tests walk the same table.

pub mod audit;
pub mod auth;
pub mod health;
pub mod me;
pub mod organizations;
pub mod users;

use actix_web::http::Method;
use actix_web::middleware::from_fn;
use actix_web::{web, FromRequest, Handler, Responder};
use serde::{Deserialize, Serialize};

use crate::auth::RouteActions;
use crate::authz::Action;
use crate::error::AppError;

pub struct RouteDef {
    pub method: Method,
    pub path: &'static str,
    pub action: Action,
    route: actix_web::Route,
}

fn def<F, Args>(method: Method, path: &'static str, action: Action, handler: F) -> RouteDef
where
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    let route = web::route().method(method.clone()).to(handler);
    RouteDef { method, path, action, route }
}

/// Every route of the service.
pub fn table() -> Vec<RouteDef> {
    use Action as A;
    use Method as M;
    vec![
        def(M::GET, "/healthz", A::Public, health::healthz),
        def(M::GET, "/readyz", A::Public, health::readyz),
        def(M::POST, "/api/v1/auth/login", A::Public, auth::login),
        def(M::POST, "/api/v1/auth/refresh", A::Public, auth::refresh),
        def(M::POST, "/api/v1/auth/logout", A::AuthLogout, auth::logout),
        def(M::GET, "/api/v1/me", A::MeRead, me::show),
        def(M::POST, "/api/v1/me/password", A::MePasswordChange, me::change_password),
        def(M::POST, "/api/v1/organizations", A::OrganizationCreate, organizations::create),
        def(M::GET, "/api/v1/organizations", A::OrganizationList, organizations::list),
        def(M::POST, "/api/v1/users", A::UserCreate, users::create),
        def(M::GET, "/api/v1/users", A::UserList, users::list),
        def(M::PATCH, "/api/v1/users/{id}", A::UserUpdate, users::update),
        def(M::GET, "/api/v1/audit", A::AuditRead, audit::list),
    ]
}

/// Registers `table()`: one resource per path carrying its method→action map, and a JSON
/// 405 for methods the resource does not have.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let mut paths: Vec<&'static str> = Vec::new();
    let mut defs = table();
    for d in &defs {
        if !paths.contains(&d.path) {
            paths.push(d.path);
        }
    }
    for path in paths {
        let (mine, rest): (Vec<RouteDef>, Vec<RouteDef>) = defs.into_iter().partition(|d| d.path == path);
        defs = rest;
        let actions = RouteActions(mine.iter().map(|d| (d.method.clone(), d.action)).collect());
        let mut resource = web::resource(path);
        for d in mine {
            resource = resource.route(d.route);
        }
        let resource = resource
            .default_service(web::to(method_not_allowed))
            .wrap(from_fn(move |req, next| crate::auth::guard(actions.clone(), req, next)));
        cfg.service(resource);
    }
}

async fn method_not_allowed() -> Result<actix_web::HttpResponse, AppError> {
    Err(AppError::MethodNotAllowed)
}

pub async fn not_found() -> Result<actix_web::HttpResponse, AppError> {
    Err(AppError::NotFound("not_found"))
}

/// `?cursor=…&limit=…` for list endpoints.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 200;

impl PageQuery {
    pub fn limit(&self) -> Result<i64, AppError> {
        match self.limit.unwrap_or(DEFAULT_LIMIT) {
            n @ 1..=MAX_LIMIT => Ok(i64::from(n)),
            _ => Err(AppError::bad_request("invalid_limit", format!("limit must be between 1 and {MAX_LIMIT}"))),
        }
    }

    pub fn cursor(&self) -> Result<Option<&str>, AppError> {
        match self.cursor.as_deref() {
            None | Some("") => Ok(None),
            Some(c) if c.len() <= 64 && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') => Ok(Some(c)),
            Some(_) => Err(AppError::bad_request("invalid_cursor", "cursor is not valid")),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// `items` was fetched with `limit + 1` rows to learn whether another page exists.
    pub fn from_rows(mut items: Vec<T>, limit: i64, cursor_of: impl Fn(&T) -> String) -> Self {
        let more = items.len() as i64 > limit;
        items.truncate(limit as usize);
        let next_cursor = if more { items.last().map(cursor_of) } else { None };
        Page { items, next_cursor }
    }
}

/// Timestamps in responses: RFC 3339, UTC.
pub fn ts(t: chrono::NaiveDateTime) -> String {
    crate::clock::utc(t).to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}
