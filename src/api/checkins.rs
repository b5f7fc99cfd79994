//! `/api/v1/cases/{id}/checkins` and `/api/v1/checkins/{id}`: safety check-ins.

use crate::api::extract::{Json, Query};
use crate::api::{case_for, record_of};
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::api::{find_or, ts, PageQuery};
use crate::auth::Authed;
use crate::db::models::Checkin;
use crate::domain::checkins;
use crate::error::AppError;
use crate::state::AppState;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckinCreate {
    /// When she is expected to have checked in.
    ///
    /// A day (2027-01-15, meaning its last second UTC) or an RFC 3339 time.
    #[serde(deserialize_with = "crate::api::dates::end")]
    #[schema(value_type = String)]
    pub due_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckinOutcome {
    Confirmed,
    Cancelled,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckinClose {
    pub status: CheckinOutcome,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CheckinView {
    pub id: String,
    pub case_id: String,
    pub due_at: String,
    /// pending, missed (past `due_at` with no answer: the engine found it and it escalates),
    /// confirmed or cancelled.
    pub status: String,
    /// The officer who asked for it; null when the defender asked on the status page.
    pub created_by: Option<String>,
    /// `staff` or `defender`.
    pub source: String,
    /// Null when the defender confirmed it herself.
    pub closed_by: Option<String>,
    pub closed_at: Option<String>,
    pub created_at: String,
}

impl From<Checkin> for CheckinView {
    fn from(c: Checkin) -> Self {
        CheckinView {
            id: c.id,
            case_id: c.case_id,
            due_at: ts(c.due_at),
            // Stored as pending with `missed_at`: she can still confirm a missed check-in.
            status: if c.status == "pending" && c.missed_at.is_some() { "missed".into() } else { c.status },
            created_by: c.created_by,
            source: c.source,
            closed_by: c.closed_by,
            closed_at: c.closed_at.map(ts),
            created_at: ts(c.created_at),
        }
    }
}

pub async fn create(
    auth: Authed,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: Json<CheckinCreate>,
) -> Result<HttpResponse, AppError> {
    let case_id = path.into_inner();
    let due_at = body.into_inner().due_at;
    let now = state.clock.now();
    let st = state.clone();
    let view: CheckinView = state
        .db
        .write(move |c| {
            let who = auth.caller();
            let case = case_for(c, &st, &who, &case_id, auth.action)?;
            let checkin = checkins::schedule(c, now, &who, &case, due_at)?;
            Ok(checkin.into())
        })
        .await?;
    Ok(HttpResponse::Created().json(view))
}

/// Latest time first, paged.
pub async fn list(
    auth: Authed,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let case_id = path.into_inner();
    let st = state.clone();
    let page = state
        .db
        .read(move |c| {
            let who = auth.caller();
            let case = case_for(c, &st, &who, &case_id, auth.action)?;
            query.page_in(Checkin::for_case(c, &case.id)?, |k| &k.id)?.try_map(|k| Ok(CheckinView::from(k)))
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

pub async fn close(
    auth: Authed,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: Json<CheckinClose>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let status = match body.into_inner().status {
        CheckinOutcome::Confirmed => "confirmed",
        CheckinOutcome::Cancelled => "cancelled",
    };
    let now = state.clock.now();
    let st = state.clone();
    let view: CheckinView = state
        .db
        .write(move |c| {
            let who = auth.caller();
            let (checkin, _) = record_of::<Checkin>(c, &st, &who, &id, auth.action)?;
            checkins::close(c, &st.ctx(now), &who, &checkin, status)?;
            Ok(find_or(c, &id, "checkin_not_found", Checkin::find)?.into())
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}
