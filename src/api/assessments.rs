//! Risk assessments of a case: `POST/GET /api/v1/cases/{id}/assessments`,
//! `GET /api/v1/assessments/{id}`. Access follows the case.

use crate::api::extract::{Json, Query};
use crate::api::{case_for, record_of};
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::api::{ts, PageQuery};
use crate::auth::Authed;
use crate::clock::naive;
use crate::db::models::RiskAssessment;
use crate::domain::assessments::{self, Content, Factor, Threat};
use crate::error::AppError;
use crate::state::AppState;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssessmentCreate {
    pub threats: Vec<Threat>,
    #[serde(default)]
    pub vulnerabilities: Vec<Factor>,
    #[serde(default)]
    pub capacities: Vec<Factor>,
    /// When the risk must be assessed again.
    ///
    /// A day (2027-01-15, meaning its last second UTC) or an RFC 3339 time.
    #[serde(deserialize_with = "crate::api::dates::end")]
    #[schema(value_type = String)]
    pub reassess_by: DateTime<Utc>,
}

/// What lists show: the version, the derived score and level, the dates.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AssessmentSummary {
    pub id: String,
    pub case_id: String,
    pub version: i32,
    pub assessor_id: String,
    pub assessor_name: Option<String>,
    pub threat_count: i32,
    /// risk = threats x vulnerabilities / capacities, per policies/risk.toml.
    pub score: f64,
    pub level: String,
    pub policy_hash: String,
    pub reassess_by: String,
    pub created_at: String,
}

impl From<&RiskAssessment> for AssessmentSummary {
    fn from(a: &RiskAssessment) -> Self {
        AssessmentSummary {
            id: a.id.clone(),
            case_id: a.case_id.clone(),
            version: a.version,
            assessor_id: a.assessor_id.clone(),
            assessor_name: None,
            threat_count: a.threat_count,
            score: f64::from(a.score_centi) / 100.0,
            level: a.level.clone(),
            policy_hash: a.policy_hash.clone(),
            reassess_by: ts(a.reassess_by),
            created_at: ts(a.created_at),
        }
    }
}

impl crate::api::people::Mentions for AssessmentSummary {
    fn people(&self) -> Vec<&str> {
        vec![&self.assessor_id]
    }

    fn name(&mut self, names: &crate::api::people::Names) {
        self.assessor_name = names.of(&self.assessor_id);
    }
}

impl crate::api::people::Mentions for AssessmentView {
    fn people(&self) -> Vec<&str> {
        self.summary.people()
    }

    fn name(&mut self, names: &crate::api::people::Names) {
        self.summary.name(names);
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AssessmentView {
    #[serde(flatten)]
    pub summary: AssessmentSummary,
    #[serde(flatten)]
    pub content: Content,
}

pub async fn create(
    auth: Authed,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: Json<AssessmentCreate>,
) -> Result<HttpResponse, AppError> {
    let b = body.into_inner();
    let content = Content { threats: b.threats, vulnerabilities: b.vulnerabilities, capacities: b.capacities };
    let reassess_by = b.reassess_by;
    let case_id = path.into_inner();
    let now = state.clock.now();
    let st = state.clone();
    let view = state
        .db
        .write(move |c| {
            let who = auth.caller();
            let case = case_for(c, &st, &who, &case_id, auth.action)?;
            let a = assessments::create(c, &st.ctx(now), &who, &case, &content, reassess_by)?;
            // The previous version is superseded now: its chains may end.
            crate::api::people::named(c, AssessmentView { summary: (&a).into(), content })
        })
        .await?;
    Ok(HttpResponse::Created().json(view))
}

/// Every version, newest first, paged.
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
                .page_in(RiskAssessment::for_case(c, &case.id)?, |a| &a.id)?
                .try_map(|a| Ok(AssessmentSummary::from(&a)))?;
            crate::api::people::named_page(c, page)
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

pub async fn show(auth: Authed, state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let st = state.clone();
    let view = state
        .db
        .read(move |c| {
            let who = auth.caller();
            // Access follows the case; without it the assessment does not exist for her.
            let (a, _) = record_of::<RiskAssessment>(c, &st, &who, &id, auth.action)?;
            let content = assessments::open_content(c, &st.crypto, &a)?;
            crate::api::people::named(c, AssessmentView { summary: (&a).into(), content })
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}
