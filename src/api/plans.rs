//! Security plans and their measures: `/api/v1/cases/{id}/plans`, `/api/v1/plans/{id}`,
//! `/api/v1/plans/{id}/measures`, `/api/v1/measures/{id}`. Access follows the case.

use crate::api::extract::{Json, Query};
use crate::api::{case_for, record_of};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::api::{find_or, if_match, ts, with_etag, PageQuery};
use crate::auth::Authed;
use crate::clock::naive;
use crate::db::models::{PlanMeasure, SecurityPlan};
use crate::domain::plans::{
    self, MeasureCategory, MeasureDetail, MeasureKind, MeasureStatus, MeasureUpdate, NewMeasure, PlanDetail,
    PlanStatus, PlanUpdate,
};
use crate::error::AppError;
use crate::state::AppState;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanCreate {
    pub summary: Option<String>,
    /// A day (2027-01-15, meaning its last second UTC) or an RFC 3339 time.
    #[serde(deserialize_with = "crate::api::dates::end")]
    #[schema(value_type = String)]
    pub review_by: DateTime<Utc>,
}

/// `status` moves the plan (approval by a coordinator who is not its author).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanPatch {
    pub status: Option<PlanStatus>,
    pub summary: Option<String>,
    /// A day (2027-01-15, meaning its last second UTC) or an RFC 3339 time.
    #[serde(default, deserialize_with = "crate::api::dates::end_opt")]
    #[schema(value_type = Option<String>)]
    pub review_by: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MeasureCreate {
    pub category: MeasureCategory,
    pub kind: MeasureKind,
    pub description: String,
    /// A coordinator or officer; absent: the defender herself.
    pub owner_user_id: Option<String>,
    /// A day (2027-01-15, meaning its last second UTC) or an RFC 3339 time.
    #[serde(default, deserialize_with = "crate::api::dates::end_opt")]
    #[schema(value_type = Option<String>)]
    pub due_at: Option<DateTime<Utc>>,
    /// A threat (by position) of the case's latest risk assessment.
    pub threat_index: Option<i32>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MeasurePatch {
    pub status: Option<MeasureStatus>,
    /// Required when dropping.
    pub reason: Option<String>,
    pub description: Option<String>,
    /// A day (2027-01-15, meaning its last second UTC) or an RFC 3339 time.
    #[serde(default, deserialize_with = "crate::api::dates::end_opt")]
    #[schema(value_type = Option<String>)]
    pub due_at: Option<DateTime<Utc>>,
    /// A user id, or null to give the measure to the defender.
    #[serde(default, deserialize_with = "serde_with_none::deserialize")]
    #[schema(value_type = Option<String>)]
    pub owner_user_id: Option<Option<String>>,
}

/// Tells an absent field (`None`) from an explicit null (`Some(None)`).
mod serde_with_none {
    use serde::{Deserialize, Deserializer};
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
        Option::<String>::deserialize(d).map(Some)
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MeasureView {
    pub id: String,
    pub plan_id: String,
    pub category: String,
    pub kind: String,
    pub description: String,
    pub owner_kind: String,
    pub owner_user_id: Option<String>,
    pub owner_name: Option<String>,
    pub due_at: Option<String>,
    pub status: String,
    pub dropped_reason: Option<String>,
    pub overdue: bool,
    pub assessment_id: Option<String>,
    pub threat_index: Option<i32>,
    pub version: i32,
    pub created_at: String,
    pub updated_at: String,
}

impl From<MeasureDetail> for MeasureView {
    fn from(d: MeasureDetail) -> Self {
        let m = d.measure;
        MeasureView {
            id: m.id,
            plan_id: m.plan_id,
            category: m.category,
            kind: m.kind,
            description: d.description,
            owner_kind: m.owner_kind,
            owner_user_id: m.owner_user_id,
            owner_name: None,
            due_at: m.due_at.map(ts),
            status: m.status,
            dropped_reason: d.dropped_reason,
            overdue: d.overdue,
            assessment_id: m.assessment_id,
            threat_index: m.threat_index,
            version: m.version,
            created_at: ts(m.created_at),
            updated_at: ts(m.updated_at),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PlanView {
    pub id: String,
    pub case_id: String,
    pub status: String,
    pub summary: Option<String>,
    pub author_id: String,
    pub author_name: Option<String>,
    pub approved_by: Option<String>,
    pub approved_by_name: Option<String>,
    pub approved_at: Option<String>,
    pub review_by: String,
    pub version: i32,
    pub created_at: String,
    pub updated_at: String,
    pub allowed_transitions: Vec<&'static str>,
    pub measures: Vec<MeasureView>,
}

impl From<PlanDetail> for PlanView {
    fn from(d: PlanDetail) -> Self {
        let p = d.plan;
        PlanView {
            allowed_transitions: PlanStatus::parse(&p.status)
                .map(|s| s.next().iter().map(|x| x.as_str()).collect())
                .unwrap_or_default(),
            id: p.id,
            case_id: p.case_id,
            status: p.status,
            summary: d.summary,
            author_id: p.author_id,
            author_name: None,
            approved_by: p.approved_by,
            approved_by_name: None,
            approved_at: p.approved_at.map(ts),
            review_by: ts(p.review_by),
            version: p.version,
            created_at: ts(p.created_at),
            updated_at: ts(p.updated_at),
            measures: d.measures.into_iter().map(MeasureView::from).collect(),
        }
    }
}

impl crate::api::people::Mentions for MeasureView {
    fn people(&self) -> Vec<&str> {
        self.owner_user_id.as_deref().into_iter().collect()
    }

    fn name(&mut self, names: &crate::api::people::Names) {
        self.owner_name = names.of_opt(self.owner_user_id.as_deref());
    }
}

impl crate::api::people::Mentions for PlanView {
    fn people(&self) -> Vec<&str> {
        let mut ids = vec![self.author_id.as_str()];
        ids.extend(self.approved_by.as_deref());
        ids.extend(self.measures.iter().flat_map(|m| m.people()));
        ids
    }

    fn name(&mut self, names: &crate::api::people::Names) {
        self.author_name = names.of(&self.author_id);
        self.approved_by_name = names.of_opt(self.approved_by.as_deref());
        for m in &mut self.measures {
            m.name(names);
        }
    }
}

pub async fn create(
    auth: Authed,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: Json<PlanCreate>,
) -> Result<HttpResponse, AppError> {
    let b = body.into_inner();
    let case_id = path.into_inner();
    let now = state.clock.now();
    let st = state.clone();
    let view: PlanView = state
        .db
        .write(move |c| {
            let who = auth.caller();
            let case = case_for(c, &st, &who, &case_id, auth.action)?;
            let plan = plans::create_plan(c, &st.ctx(now), &who, &case, b.summary.as_deref(), b.review_by)?;
            let view: PlanView = plans::plan_detail(c, &st.crypto, plan, naive(now))?.into();
            crate::api::people::named(c, view)
        })
        .await?;
    Ok(with_etag(StatusCode::CREATED, view.version, view))
}

/// Newest first, paged.
pub async fn list(
    auth: Authed,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let case_id = path.into_inner();
    let now = naive(state.clock.now());
    let st = state.clone();
    let page = state
        .db
        .read(move |c| {
            let who = auth.caller();
            let case = case_for(c, &st, &who, &case_id, auth.action)?;
            let page = query
                .page_in(SecurityPlan::for_case(c, &case.id)?, |p| &p.id)?
                .try_map(|p| plans::plan_detail(c, &st.crypto, p, now).map(PlanView::from))?;
            crate::api::people::named_page(c, page)
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

pub async fn show(auth: Authed, state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let st = state.clone();
    let view: PlanView = state
        .db
        .read(move |c| {
            let (plan, _) = record_of::<SecurityPlan>(c, &st, &auth.caller(), &id, auth.action)?;
            let view: PlanView = plans::plan_detail(c, &st.crypto, plan, naive(st.clock.now()))?.into();
            crate::api::people::named(c, view)
        })
        .await?;
    Ok(with_etag(StatusCode::OK, view.version, view))
}

pub async fn update(
    auth: Authed,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: Json<PlanPatch>,
) -> Result<HttpResponse, AppError> {
    let expected = if_match(&req)?;
    let b = body.into_inner();
    if b.status.is_none() && b.summary.is_none() && b.review_by.is_none() {
        return Err(AppError::bad_request("nothing_to_change", "give status, summary and/or review_by"));
    }
    let id = path.into_inner();
    let now = state.clock.now();
    let st = state.clone();
    let view: PlanView = state
        .db
        .write(move |c| {
            let who = auth.caller();
            let (plan, case) = record_of::<SecurityPlan>(c, &st, &who, &id, auth.action)?;
            let input = PlanUpdate { status: b.status, summary: b.summary, review_by: b.review_by };
            plans::update_plan(c, &st.ctx(now), &who, &case, &plan, expected, input)?;
            let plan = SecurityPlan::find(c, &id)?.ok_or(AppError::NotFound("plan_not_found"))?;
            let view: PlanView = plans::plan_detail(c, &st.crypto, plan, naive(now))?.into();
            crate::api::people::named(c, view)
        })
        .await?;
    Ok(with_etag(StatusCode::OK, view.version, view))
}

pub async fn add_measure(
    auth: Authed,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: Json<MeasureCreate>,
) -> Result<HttpResponse, AppError> {
    let b = body.into_inner();
    let plan_id = path.into_inner();
    let now = state.clock.now();
    let st = state.clone();
    let view: MeasureView = state
        .db
        .write(move |c| {
            let who = auth.caller();
            let (plan, case) = record_of::<SecurityPlan>(c, &st, &who, &plan_id, auth.action)?;
            let input = NewMeasure {
                category: b.category,
                kind: b.kind,
                description: b.description,
                owner_user_id: b.owner_user_id,
                due_at: b.due_at,
                threat_index: b.threat_index,
            };
            let m = plans::add_measure(c, &st.ctx(now), &who, &case, &plan, input)?;
            let view: MeasureView = plans::measure_detail(c, &st.crypto, m, naive(now))?.into();
            crate::api::people::named(c, view)
        })
        .await?;
    Ok(with_etag(StatusCode::CREATED, view.version, view))
}

pub async fn update_measure(
    auth: Authed,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: Json<MeasurePatch>,
) -> Result<HttpResponse, AppError> {
    let expected = if_match(&req)?;
    let b = body.into_inner();
    if b.status.is_none() && b.description.is_none() && b.due_at.is_none() && b.owner_user_id.is_none() {
        return Err(AppError::bad_request(
            "nothing_to_change",
            "give status, description, due_at and/or owner_user_id",
        ));
    }
    let id = path.into_inner();
    let now = state.clock.now();
    let st = state.clone();
    let view: MeasureView = state
        .db
        .write(move |c| {
            let who = auth.caller();
            let m = find_or(c, &id, "measure_not_found", PlanMeasure::find)?;
            let (plan, case) =
                record_of::<SecurityPlan>(c, &st, &who, &m.plan_id, auth.action).map_err(|e| match e {
                    AppError::NotFound(_) => AppError::NotFound("measure_not_found"),
                    other => other,
                })?;
            let input = MeasureUpdate {
                status: b.status,
                reason: b.reason,
                description: b.description,
                due_at: b.due_at,
                owner_user_id: b.owner_user_id,
            };
            plans::update_measure(c, &st.ctx(now), &who, &case, &plan, &m, expected, input)?;
            let m = find_or(c, &id, "measure_not_found", PlanMeasure::find)?;
            let view: MeasureView = plans::measure_detail(c, &st.crypto, m, naive(now))?.into();
            crate::api::people::named(c, view)
        })
        .await?;
    Ok(with_etag(StatusCode::OK, view.version, view))
}
