//! Authentication: passwords, JWT access tokens, sessions with rotating refresh tokens, login
//! throttling, and the [`Authed`] extractor.
//!
//! A handler that takes `Authed` cannot run for an unauthenticated or unauthorised caller:
//! the extractor verifies the token, checks the session and the account in the database on
//! every request, and asks `authz` whether the account's role may perform the action that
//! the route declared in `api::table()`. This happens in [`guard`], before the body is read;
//! a route without a declared action fails closed.

pub mod jwt;
pub mod mfa;
pub mod password;
pub mod session;
pub mod throttle;

/// The client's address for throttling (never stored or logged): the socket peer, or behind
/// a trusted proxy the last `X-Forwarded-For` entry, the one that proxy added.
pub fn client_addr(req: &actix_web::HttpRequest, trust_forwarded_for: bool) -> Option<std::net::IpAddr> {
    if trust_forwarded_for {
        let forwarded = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .rfind(|v| !v.is_empty())
            .and_then(|v| v.parse().ok());
        if forwarded.is_some() {
            return forwarded;
        }
    }
    req.peer_addr().map(|a| a.ip())
}

use std::future::{ready, Ready};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method};
use actix_web::middleware::Next;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};

use crate::audit::{self, Entry, Outcome};
use crate::authz::Action;
use crate::db::models::{Session, User};
use crate::domain::Role;
use crate::error::AppError;
use crate::state::AppState;

/// The actions of one resource, by method; attached to the resource by `api::configure`.
#[derive(Debug, Clone)]
pub struct RouteActions(pub Vec<(Method, Action)>);

impl RouteActions {
    fn find(&self, method: &Method) -> Option<Action> {
        self.0.iter().find(|(m, _)| m == method).map(|(_, a)| *a)
    }
}

/// An authenticated, authorised caller.
#[derive(Debug, Clone)]
pub struct Authed {
    pub user: User,
    pub role: Role,
    pub session_id: String,
    pub action: Action,
}

impl Authed {
    /// The caller as the domain's rules take her.
    pub fn caller(&self) -> crate::domain::cases::Caller<'_> {
        crate::domain::cases::Caller { user: &self.user, role: self.role }
    }
}

fn bearer(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_string()).filter(|t| !t.is_empty())
}

/// Resource middleware installed by `api::configure`: authenticates and authorises before
/// anything else of the request (its body included) is looked at, and leaves the [`Authed`]
/// caller in the request for the handler. Refusals keep the app's headers and error shape.
pub async fn guard(
    actions: RouteActions,
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let action = match actions.find(req.method()) {
        // Not a method of this resource: let the resource answer 405.
        None | Some(Action::Public) => return next.call(req).await.map(ServiceResponse::map_into_boxed_body),
        Some(a) => a,
    };
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(req.error_response(AppError::internal(anyhow::anyhow!("app state missing"))));
    };
    let authed = match bearer(req.request()) {
        None => Err(AppError::Unauthorized("missing_token")),
        Some(token) => authenticate(&state, &token, action).await,
    };
    match authed {
        Ok(a) => {
            let (uid, action) = (a.user.id.clone(), a.action);
            req.extensions_mut().insert(a);
            let res = next.call(req).await?;
            // Her role may do this, but not on this object (an officer triaging an alert she
            // may only read): the handler answered 403, and the refusal is audited here, once
            // for every route. Other 403s (a wrong current password) audit themselves.
            if res.status() == actix_web::http::StatusCode::FORBIDDEN
                && res.response().extensions().get::<crate::error::Refused>().is_some_and(|r| r.0 == "forbidden")
            {
                let subject = res.request().match_info().get("id").filter(|i| crate::domain::accounts::is_id(i));
                let subject = subject.map(str::to_string);
                let kind = res.request().match_pattern().as_deref().map_or("route", subject_kind);
                let at = state.clock.now();
                let written = state
                    .db
                    .write(move |c| {
                        let e =
                            Entry::new(Some(&uid), action.as_str(), kind, subject.as_deref()).outcome(Outcome::Denied);
                        audit::record(c, at, e)
                    })
                    .await;
                if let Err(e) = written {
                    // The answer stays a refusal; the missing row is an operator's matter.
                    tracing::error!(error = %e, action = action.as_str(), "could not audit a refused request");
                }
            }
            Ok(res.map_into_boxed_body())
        }
        Err(e) => Ok(req.error_response(e)),
    }
}

/// The kind of object a route pattern's `{id}` names: `/api/v1/cases/{id}/plans` → `case`.
fn subject_kind(pattern: &str) -> &'static str {
    let before = pattern.split("/{id}").next().and_then(|p| p.rsplit('/').next()).unwrap_or("");
    match before {
        "cases" => "case",
        "alerts" => "alert",
        "defenders" => "defender",
        "users" => "user",
        "assessments" => "assessment",
        "plans" => "plan",
        "measures" => "measure",
        "grants" => "grant",
        "relocations" => "relocation",
        "visas" => "visa",
        "psychosocial" => "care",
        "checkins" => "checkin",
        "escalations" => "escalation",
        _ => "route",
    }
}

/// Handlers take `Authed` to get the caller. It exists only if `guard` let the request
/// through, so a handler on a route without a declared action fails closed.
impl FromRequest for Authed {
    type Error = AppError;
    type Future = Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        ready(
            req.extensions()
                .get::<Authed>()
                .cloned()
                .ok_or_else(|| AppError::internal(anyhow::anyhow!("handler wants Authed on an unguarded route"))),
        )
    }
}

async fn authenticate(state: &web::Data<AppState>, token: &str, action: Action) -> Result<Authed, AppError> {
    let claims = state.jwt.verify(token, state.clock.now())?;
    let now = crate::clock::naive(state.clock.now());
    let (sid, sub) = (claims.sid.clone(), claims.sub.clone());
    let found = state
        .db
        .read(move |c| {
            let Some(session) = Session::find(c, &sid)? else {
                return Ok(None);
            };
            Ok(User::find(c, &sub)?.map(|u| (session, u)))
        })
        .await?;
    let (session, user) = found.ok_or(AppError::Unauthorized("invalid_token"))?;
    if session.user_id != user.id || !session.is_live(now) {
        return Err(AppError::Unauthorized("session_ended"));
    }
    if !user.active {
        return Err(AppError::Unauthorized("account_inactive"));
    }
    let role = Role::parse(&user.role)
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("user {} has unknown role", user.id)))?;
    if user.must_change_password && !action.allowed_before_password_change() {
        return Err(AppError::Forbidden("password_change_required"));
    }
    if user.mfa_enabled_at.is_none() && state.access.requires_mfa(role) && !action.allowed_before_mfa_enrollment() {
        return Err(AppError::Forbidden("mfa_enrollment_required"));
    }
    if !state.access.permits(role, action) {
        // Refused reads are audited like refused writes: someone looking where her role may
        // not is as much the auditor's business as someone trying to change it.
        let (uid, at) = (user.id.clone(), state.clock.now());
        state
            .db
            .write(move |c| {
                audit::record(c, at, Entry::new(Some(&uid), action.as_str(), "route", None).outcome(Outcome::Denied))
            })
            .await?;
        return Err(AppError::Forbidden("forbidden"));
    }
    Ok(Authed { user, role, session_id: session.id, action })
}
