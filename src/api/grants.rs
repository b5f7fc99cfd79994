//! Funding grants of a case and their disbursements: `/api/v1/cases/{id}/grants`,
//! `/api/v1/grants/{id}`, `/api/v1/grants/{id}/disbursements`. Access follows the case.

use crate::api::extract::{Json, Query};
use crate::api::{case_for, record_of};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::api::{if_match, ts, with_etag, PageQuery};
use crate::auth::Authed;
use crate::clock::naive;
use crate::db::models::{Disbursement, Grant};
use crate::domain::grants::{self, GrantDecision, GrantDetail, GrantDetails, NewGrant, PaymentMethod};
use crate::error::AppError;
use crate::policy::funding::GrantCategory;
use crate::state::AppState;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantCreate {
    /// When the grant pays for one of the case's relocations.
    pub relocation_id: Option<String>,
    pub category: GrantCategory,
    /// ISO 4217, one the programme pays in (policies/funding.toml).
    pub currency: String,
    /// In minor units (cents), a whole number.
    pub amount_requested: i64,
    pub purpose: String,
    #[serde(default)]
    pub other_funders: Vec<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantPatch {
    /// The decision on a requested grant.
    pub status: GrantDecision,
    /// When approving: at most the requested amount and the category cap (default: as requested).
    pub amount_approved: Option<i64>,
    /// Required when rejecting.
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisbursementCreate {
    /// In minor units of the grant's currency.
    pub amount: i64,
    /// A day (2027-01-15, meaning its first second UTC) or an RFC 3339 time.
    #[serde(deserialize_with = "crate::api::dates::start")]
    #[schema(value_type = String)]
    pub paid_on: DateTime<Utc>,
    pub method: PaymentMethod,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct GrantView {
    pub id: String,
    pub case_id: String,
    pub relocation_id: Option<String>,
    pub category: String,
    pub currency: String,
    pub amount_requested: i64,
    pub amount_approved: Option<i64>,
    pub amount_disbursed: i64,
    pub status: String,
    pub allowed_next: Vec<&'static str>,
    #[serde(flatten)]
    pub details: GrantDetails,
    pub decision_reason: Option<String>,
    pub requested_by: String,
    pub requested_by_name: Option<String>,
    pub decided_by: Option<String>,
    pub decided_by_name: Option<String>,
    pub decided_at: Option<String>,
    pub version: i32,
    pub created_at: String,
    pub updated_at: String,
}

impl crate::api::people::Mentions for GrantView {
    fn people(&self) -> Vec<&str> {
        let mut ids = vec![self.requested_by.as_str()];
        ids.extend(self.decided_by.as_deref());
        ids
    }

    fn name(&mut self, names: &crate::api::people::Names) {
        self.requested_by_name = names.of(&self.requested_by);
        self.decided_by_name = names.of_opt(self.decided_by.as_deref());
    }
}

impl From<GrantDetail> for GrantView {
    fn from(d: GrantDetail) -> Self {
        let g = d.grant;
        GrantView {
            id: g.id,
            case_id: g.case_id,
            relocation_id: g.relocation_id,
            category: g.category,
            currency: g.currency,
            amount_requested: g.amount_requested,
            amount_approved: g.amount_approved,
            amount_disbursed: g.amount_disbursed,
            status: g.status,
            allowed_next: d.allowed_next,
            details: d.details,
            decision_reason: d.decision_reason,
            requested_by: g.requested_by,
            requested_by_name: None,
            decided_by: g.decided_by,
            decided_by_name: None,
            decided_at: g.decided_at.map(ts),
            version: g.version,
            created_at: ts(g.created_at),
            updated_at: ts(g.updated_at),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DisbursementView {
    pub id: String,
    pub grant_id: String,
    pub amount: i64,
    pub paid_on: String,
    pub method: String,
    pub recorded_by: String,
    pub created_at: String,
}

impl From<Disbursement> for DisbursementView {
    fn from(d: Disbursement) -> Self {
        DisbursementView {
            id: d.id,
            grant_id: d.grant_id,
            amount: d.amount,
            paid_on: ts(d.paid_on),
            method: d.method,
            recorded_by: d.recorded_by,
            created_at: ts(d.created_at),
        }
    }
}

fn respond(status: StatusCode, view: GrantView) -> HttpResponse {
    with_etag(status, view.version, view)
}

pub async fn create(
    auth: Authed,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: Json<GrantCreate>,
) -> Result<HttpResponse, AppError> {
    let b = body.into_inner();
    let case_id = path.into_inner();
    let now = state.clock.now();
    let st = state.clone();
    let view: GrantView = state
        .db
        .write(move |c| {
            let who = auth.caller();
            let case = case_for(c, &st, &who, &case_id, auth.action)?;
            let input = NewGrant {
                relocation_id: b.relocation_id,
                category: b.category,
                currency: b.currency,
                amount_requested: b.amount_requested,
                details: GrantDetails { purpose: b.purpose, other_funders: b.other_funders },
            };
            let g = grants::request(c, &st.ctx(now), &who, &case, input)?;
            let view: GrantView = grants::detail(c, &st.crypto, g)?.into();
            crate::api::people::named(c, view)
        })
        .await?;
    Ok(respond(StatusCode::CREATED, view))
}

/// Newest first, paged.
pub async fn list(
    auth: Authed,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let case_id = path.into_inner();
    let _now = naive(state.clock.now());
    let st = state.clone();
    let page = state
        .db
        .read(move |c| {
            let who = auth.caller();
            let case = case_for(c, &st, &who, &case_id, auth.action)?;
            let page = query
                .page_in(Grant::for_case(c, &case.id)?, |g| &g.id)?
                .try_map(|g| grants::detail(c, &st.crypto, g).map(GrantView::from))?;
            crate::api::people::named_page(c, page)
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

pub async fn show(auth: Authed, state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let st = state.clone();
    let view: GrantView = state
        .db
        .read(move |c| {
            let (g, _) = record_of::<Grant>(c, &st, &auth.caller(), &id, auth.action)?;
            let view: GrantView = grants::detail(c, &st.crypto, g)?.into();
            crate::api::people::named(c, view)
        })
        .await?;
    Ok(respond(StatusCode::OK, view))
}

pub async fn decide(
    auth: Authed,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: Json<GrantPatch>,
) -> Result<HttpResponse, AppError> {
    let expected = if_match(&req)?;
    let b = body.into_inner();
    let id = path.into_inner();
    let now = state.clock.now();
    let st = state.clone();
    let view: GrantView = state
        .db
        .write(move |c| {
            let who = auth.caller();
            let (g, _) = record_of::<Grant>(c, &st, &who, &id, auth.action)?;
            let d = grants::Decision {
                decision: b.status,
                amount_approved: b.amount_approved,
                reason: b.reason.as_deref(),
            };
            grants::decide(c, &st.ctx(now), &who, &g, expected, d)?;
            let g = Grant::find(c, &id)?.ok_or(AppError::NotFound("grant_not_found"))?;
            let view: GrantView = grants::detail(c, &st.crypto, g)?.into();
            crate::api::people::named(c, view)
        })
        .await?;
    Ok(respond(StatusCode::OK, view))
}

pub async fn disburse(
    auth: Authed,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: Json<DisbursementCreate>,
) -> Result<HttpResponse, AppError> {
    let b = body.into_inner();
    let id = path.into_inner();
    let now = state.clock.now();
    let st = state.clone();
    let view: DisbursementView = state
        .db
        .write(move |c| {
            let who = auth.caller();
            let (g, _) = record_of::<Grant>(c, &st, &who, &id, auth.action)?;
            Ok(grants::disburse(c, now, &who, &g, b.amount, b.paid_on, b.method)?.into())
        })
        .await?;
    Ok(HttpResponse::Created().json(view))
}

/// Oldest first (the order they were paid in), paged.
pub async fn disbursements(
    auth: Authed,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let st = state.clone();
    let page = state
        .db
        .read(move |c| {
            let (g, _) = record_of::<Grant>(c, &st, &auth.caller(), &id, auth.action)?;
            query.page_in(Disbursement::for_grant(c, &g.id)?, |d| &d.id)?.try_map(|d| Ok(DisbursementView::from(d)))
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}
