//! `/api/v1/cases`: cases, their workflow, assignees and shares. Need-to-know is decided
//! per case by `domain::cases::load_for`; a case the caller may not read is a 404.

use crate::api::case_for;
use crate::api::extract::{Json, Query};
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::api::{idempotency_key, idempotent, if_match, request_hash, ts, Page};
use crate::auth::Authed;
use crate::clock::naive;
use crate::db::models::case::CaseFilter;
use crate::db::models::Case;
use crate::db::DbConn;
use crate::domain::cases::{self, Caller, CaseDetail, CaseStatus, CaseUpdate, NewCase, NewShare, Severity};
use crate::domain::{OrganizationKind, Role};
use crate::error::AppError;
use crate::state::AppState;

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CaseCreate {
    pub severity: Severity,
    #[serde(deserialize_with = "crate::domain::country::upper")]
    pub country: String,
    /// Kinds of organisation the defender agreed may be told about her case.
    pub consent_scope: Vec<OrganizationKind>,
    pub summary: Option<String>,
    /// The defender this case protects (a defender of the caller's organisation).
    pub defender_id: Option<String>,
}

/// Only these may change; status moves through `/transitions`, the rest never changes.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CasePatch {
    pub severity: Option<Severity>,
    #[serde(default, deserialize_with = "crate::domain::country::upper_opt")]
    pub country: Option<String>,
    pub summary: Option<String>,
    /// Links the case to a defender record of the case's organisation (coordinators only):
    /// a case opened from the web form starts without one.
    pub defender_id: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransitionRequest {
    pub to: CaseStatus,
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssigneeRequest {
    pub user_id: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShareRequest {
    pub organization_id: String,
    pub consent_reference: String,
    /// A day (2027-01-15, meaning its last second UTC) or an RFC 3339 time.
    #[serde(deserialize_with = "crate::api::dates::end")]
    #[schema(value_type = String)]
    pub expires_at: DateTime<Utc>,
    /// Required to share outside the defender's consent scope; recorded sealed and audited.
    pub override_reason: Option<String>,
    /// Whether the partner organisation may also read the defender's sealed profile (legal
    /// name, contacts, location, dependants). Without it only her assignees there may.
    #[serde(default)]
    pub include_profile: bool,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CaseListQuery {
    pub status: Option<CaseStatus>,
    pub severity: Option<Severity>,
    #[serde(default, deserialize_with = "crate::domain::country::upper_opt")]
    pub country: Option<String>,
    pub assigned_to_me: Option<bool>,
    /// Only the cases another organisation shares with yours.
    pub shared_with_us: Option<bool>,
    /// One case by its reference (`HVN-2026-000123`, any case): the list has it if she may
    /// see it, and is empty otherwise.
    pub reference: Option<String>,
    /// A day (2027-01-15, meaning its first second UTC) or an RFC 3339 time.
    #[serde(default, deserialize_with = "crate::api::dates::start_opt")]
    #[param(value_type = Option<String>)]
    pub updated_since: Option<DateTime<Utc>>,
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

/// What lists show: never anything sealed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CaseListItem {
    pub id: String,
    pub reference: String,
    pub status: String,
    pub severity: String,
    pub country: String,
    pub owner_organization_id: String,
    pub defender_id: Option<String>,
    pub version: i32,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&Case> for CaseListItem {
    fn from(c: &Case) -> Self {
        CaseListItem {
            id: c.id.clone(),
            reference: c.reference.clone(),
            status: c.status.clone(),
            severity: c.severity.clone(),
            country: c.country.clone(),
            owner_organization_id: c.owner_organization_id.clone(),
            defender_id: c.defender_id.clone(),
            version: c.version,
            created_at: ts(c.created_at),
            updated_at: ts(c.updated_at),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ShareView {
    pub organization_id: String,
    pub consent_reference: String,
    pub consent_override: bool,
    pub expires_at: String,
    pub revoked_at: Option<String>,
    pub live: bool,
    pub includes_profile: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TransitionView {
    pub from: String,
    pub to: String,
    pub reason: Option<String>,
    pub actor_id: String,
    pub actor_name: Option<String>,
    pub at: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CaseView {
    #[serde(flatten)]
    pub item: CaseListItem,
    pub consent_scope: Vec<String>,
    pub summary: Option<String>,
    pub created_by: String,
    pub created_by_name: Option<String>,
    pub acknowledged_at: Option<String>,
    pub activated_at: Option<String>,
    pub monitoring_at: Option<String>,
    pub closed_at: Option<String>,
    pub assignees: Vec<String>,
    /// The assignees with their names, in the same order.
    pub assigned: Vec<crate::api::people::PersonRef>,
    pub shares: Vec<ShareView>,
    pub transitions: Vec<TransitionView>,
    pub allowed_transitions: Vec<&'static str>,
}

/// `owner_view`: the caller coordinates the owning organisation. Only she sees the shares
/// (one partner does not learn who else was told).
fn view(d: CaseDetail, names: &crate::api::people::Names, now: chrono::NaiveDateTime, owner_view: bool) -> CaseView {
    let c = &d.case;
    CaseView {
        item: CaseListItem::from(c),
        consent_scope: serde_json::from_str(&c.consent_scope).unwrap_or_default(),
        summary: d.summary,
        created_by: c.created_by.clone(),
        created_by_name: names.of(&c.created_by),
        acknowledged_at: c.acknowledged_at.map(ts),
        activated_at: c.activated_at.map(ts),
        monitoring_at: c.monitoring_at.map(ts),
        closed_at: c.closed_at.map(ts),
        assignees: d.assignees.iter().map(|a| a.user_id.clone()).collect(),
        assigned: d
            .assignees
            .iter()
            .map(|a| crate::api::people::PersonRef { id: a.user_id.clone(), name: names.of(&a.user_id) })
            .collect(),
        shares: d
            .shares
            .iter()
            .filter(|_| owner_view)
            .map(|s| ShareView {
                organization_id: s.organization_id.clone(),
                consent_reference: s.consent_reference.clone(),
                consent_override: s.override_reason_ct.is_some(),
                expires_at: ts(s.expires_at),
                revoked_at: s.revoked_at.map(ts),
                live: s.is_live(now),
                includes_profile: s.includes_profile,
            })
            .collect(),
        transitions: d
            .transitions
            .into_iter()
            .map(|(t, reason)| TransitionView {
                from: t.from_status,
                to: t.to_status,
                reason,
                actor_name: names.of(&t.actor_id),
                actor_id: t.actor_id,
                at: ts(t.created_at),
            })
            .collect(),
        allowed_transitions: CaseStatus::parse(&c.status)
            .map(|s| s.next().iter().map(|x| x.as_str()).collect())
            .unwrap_or_default(),
    }
}

/// A case response with its `ETag`.
fn respond(
    status: actix_web::http::StatusCode,
    (d, names): (CaseDetail, crate::api::people::Names),
    now: chrono::NaiveDateTime,
    viewer: &Viewer,
) -> HttpResponse {
    let owner_view = viewer.role == Role::Coordinator && viewer.org == d.case.owner_organization_id;
    crate::api::with_etag(status, d.case.version, view(d, &names, now, owner_view))
}

/// A case's detail, with the names of the people it mentions (its creator, assignees and
/// those who moved it), in one more query.
fn detail_named(
    c: &mut DbConn,
    crypto: &crate::crypto::Crypto,
    case: Case,
) -> Result<(CaseDetail, crate::api::people::Names), AppError> {
    let d = cases::detail(c, crypto, case)?;
    let ids = std::iter::once(d.case.created_by.as_str())
        .chain(d.assignees.iter().map(|a| a.user_id.as_str()))
        .chain(d.transitions.iter().map(|(t, _)| t.actor_id.as_str()));
    let names = crate::api::people::Names::load(c, ids)?;
    Ok((d, names))
}

/// Who a case response is for.
struct Viewer {
    role: Role,
    org: String,
}

impl Viewer {
    fn of(auth: &Authed) -> Viewer {
        Viewer { role: auth.role, org: auth.user.organization_id.clone() }
    }
}

/// Loads the case for the route's action, and re-reads its detail after `change` ran, all in one
/// write transaction.
async fn change_case<F>(
    state: web::Data<AppState>,
    auth: Authed,
    id: String,
    expected: Option<i32>,
    change: F,
) -> Result<HttpResponse, AppError>
where
    F: FnOnce(&mut DbConn, &AppState, &Caller<'_>, &Case) -> Result<(), AppError> + Send + 'static,
{
    let viewer = Viewer::of(&auth);
    let now = state.clock.now();
    let st = state.clone();
    let detail = state
        .db
        .write(move |c| {
            let who = auth.caller();
            let case = cases::load_for(c, &st.access, &who, &id, auth.action, naive(now))?;
            cases::check_version(&case, expected)?;
            change(c, &st, &who, &case)?;
            let fresh = Case::find(c, &case.id)?.ok_or(AppError::NotFound("case_not_found"))?;
            detail_named(c, &st.crypto, fresh)
        })
        .await?;
    Ok(respond(actix_web::http::StatusCode::OK, detail, naive(now), &viewer))
}

pub async fn create(
    auth: Authed,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Json<CaseCreate>,
) -> Result<HttpResponse, AppError> {
    let viewer = Viewer::of(&auth);
    let idem = idempotency_key(&req)?;
    let body = std::sync::Arc::new(body.into_inner());
    let hash = request_hash(&state.jwt, &*body)?;
    let now = state.clock.now();
    let st = state.clone();
    let user_id = auth.user.id.clone();
    let detail = idempotent(&state, &user_id, idem, "case.create", hash, move |c, earlier| {
        let case = match earlier {
            Some(id) => Case::find(c, id)?.ok_or(AppError::NotFound("case_not_found"))?,
            None => {
                let input = NewCase {
                    severity: body.severity,
                    country: body.country.clone(),
                    consent_scope: body.consent_scope.clone(),
                    summary: body.summary.clone(),
                    defender_id: body.defender_id.clone(),
                };
                let case = cases::create(c, &st.ctx(now), &auth.caller(), input)?;
                case
            }
        };
        let id = case.id.clone();
        Ok((detail_named(c, &st.crypto, case)?, id))
    })
    .await?;
    Ok(respond(actix_web::http::StatusCode::CREATED, detail, naive(now), &viewer))
}

pub async fn list(
    auth: Authed,
    state: web::Data<AppState>,
    query: Query<CaseListQuery>,
) -> Result<HttpResponse, AppError> {
    let q = query.into_inner();
    let page_q = crate::api::PageQuery { cursor: q.cursor.clone(), limit: q.limit };
    let limit = page_q.limit()?;
    let cursor = page_q.cursor()?.map(str::to_string);
    if let Some(c) = &q.country {
        if !crate::domain::country::is_valid(c) {
            return Err(
                AppError::bad_request("invalid_query", "country must be an ISO 3166-1 alpha-2 code").at("country")
            );
        }
    }
    if let Some(t) = q.updated_since {
        crate::domain::check_date("updated_since", t)
            .map_err(|_| AppError::bad_request("invalid_query", "updated_since is out of range"))?;
    }
    let now = naive(state.clock.now());
    let rows = state
        .db
        .read(move |c| {
            let filter = CaseFilter {
                status: q.status.map(|s| s.as_str().to_string()),
                severity: q.severity.map(|s| s.as_str().to_string()),
                country: q.country,
                assigned_to: q.assigned_to_me.filter(|m| *m).map(|_| auth.user.id.clone()),
                updated_since: q.updated_since.map(naive),
                reference: q.reference.map(|r| crate::domain::cases::normalize_reference(&r)),
                shared_with_us: q.shared_with_us.unwrap_or(false),
            };
            cases::list(c, &auth.caller(), &filter, cursor.as_deref(), limit + 1, now)
        })
        .await?;
    let page = Page::from_rows(rows, limit, |c| c.id.clone());
    Ok(HttpResponse::Ok()
        .json(Page { items: page.items.iter().map(CaseListItem::from).collect(), next_cursor: page.next_cursor }))
}

pub async fn show(auth: Authed, state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, AppError> {
    let viewer = Viewer::of(&auth);
    let id = path.into_inner();
    let now = naive(state.clock.now());
    let st = state.clone();
    let detail = state
        .db
        .read(move |c| {
            let case = case_for(c, &st, &auth.caller(), &id, auth.action)?;
            detail_named(c, &st.crypto, case)
        })
        .await?;
    Ok(respond(actix_web::http::StatusCode::OK, detail, now, &viewer))
}

pub async fn update(
    auth: Authed,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: Json<CasePatch>,
) -> Result<HttpResponse, AppError> {
    let expected = if_match(&req)?;
    let b = body.into_inner();
    if b.severity.is_none() && b.country.is_none() && b.summary.is_none() && b.defender_id.is_none() {
        return Err(AppError::bad_request("nothing_to_change", "give severity, country, summary and/or defender_id"));
    }
    let now = state.clock.now();
    change_case(state, auth, path.into_inner(), expected, move |c, st, who, case| {
        let input =
            CaseUpdate { severity: b.severity, country: b.country, summary: b.summary, defender_id: b.defender_id };
        cases::update(c, &st.ctx(now), who, case, input)?;
        Ok(())
    })
    .await
}

pub async fn transition(
    auth: Authed,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: Json<TransitionRequest>,
) -> Result<HttpResponse, AppError> {
    let expected = if_match(&req)?;
    let b = body.into_inner();
    let now = state.clock.now();
    change_case(state, auth, path.into_inner(), expected, move |c, st, who, case| {
        cases::transition(c, &st.ctx(now), who, case, b.to, b.reason.as_deref())
    })
    .await
}

pub async fn assign(
    auth: Authed,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: Json<AssigneeRequest>,
) -> Result<HttpResponse, AppError> {
    let user_id = body.into_inner().user_id;
    let now = state.clock.now();
    change_case(state, auth, path.into_inner(), if_match(&req)?, move |c, st, who, case| {
        cases::assign(c, &st.ctx(now), who, case, &user_id)
    })
    .await
}

pub async fn unassign(
    auth: Authed,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (id, user_id) = path.into_inner();
    let now = state.clock.now();
    change_case(state, auth, id, if_match(&req)?, move |c, st, who, case| {
        cases::unassign(c, &st.ctx(now), who, case, &user_id)
    })
    .await
}

pub async fn share(
    auth: Authed,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: Json<ShareRequest>,
) -> Result<HttpResponse, AppError> {
    let b = body.into_inner();
    let now = state.clock.now();
    change_case(state, auth, path.into_inner(), if_match(&req)?, move |c, st, who, case| {
        let input = NewShare {
            organization_id: b.organization_id,
            consent_reference: b.consent_reference,
            expires_at: b.expires_at,
            override_reason: b.override_reason,
            include_profile: b.include_profile,
        };
        cases::share(c, &st.ctx(now), who, case, input).map(|_| ())
    })
    .await
}

pub async fn unshare(
    auth: Authed,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (id, org_id) = path.into_inner();
    let now = state.clock.now();
    change_case(state, auth, id, if_match(&req)?, move |c, st, who, case| {
        cases::unshare(c, &st.ctx(now), who, case, &org_id)
    })
    .await
}

/// `GET /api/v1/cases/{id}/summary`: the overview of a case in one request.
pub async fn summary(
    auth: Authed,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let now = naive(state.clock.now());
    let st = state.clone();
    let summary = state
        .db
        .read(move |c| {
            let case = case_for(c, &st, &auth.caller(), &id, auth.action)?;
            crate::domain::summary::summarize(c, &case, now)
        })
        .await?;
    Ok(HttpResponse::Ok().json(crate::api::summary::CaseSummary::from(summary)))
}
