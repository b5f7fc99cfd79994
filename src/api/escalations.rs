//! `/api/v1/escalations`: the escalations a user may see, and acknowledging one.

use crate::api::extract::Query;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

use crate::api::{ts, Page, PageQuery};
use crate::auth::Authed;
use crate::db::models::Escalation;
use crate::domain::escalations;
use crate::error::AppError;
use crate::state::AppState;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EscalationListQuery {
    /// `active` (default), `acknowledged`, `stopped`, `completed` or `all`.
    pub status: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EscalationView {
    pub id: String,
    pub policy_id: String,
    /// The rule's description, from the rules in force.
    pub description: String,
    pub policy_hash: String,
    pub event: String,
    pub subject_kind: String,
    pub subject_id: String,
    pub case_id: Option<String>,
    pub reference: String,
    pub status: String,
    /// The next step, counted from 0, and the repeat it belongs to.
    pub step: i32,
    pub loop_no: i32,
    pub started_at: String,
    pub next_due_at: Option<String>,
    pub last_fired_at: Option<String>,
    pub acknowledged_by: Option<String>,
    pub acknowledged_at: Option<String>,
    pub ended_reason: Option<String>,
}

fn view(state: &AppState, e: &Escalation) -> EscalationView {
    EscalationView {
        id: e.id.clone(),
        policy_id: e.policy_id.clone(),
        description: state.escalation.rules().get(&e.policy_id).map(|p| p.description.clone()).unwrap_or_default(),
        policy_hash: e.policy_hash.clone(),
        event: e.event.clone(),
        subject_kind: e.subject_kind.clone(),
        subject_id: e.subject_id.clone(),
        case_id: e.case_id.clone(),
        reference: e.reference.clone(),
        status: e.status.clone(),
        step: e.step,
        loop_no: e.loop_no,
        started_at: ts(e.anchor_at),
        next_due_at: e.next_due_at.map(ts),
        last_fired_at: e.last_fired_at.map(ts),
        acknowledged_by: e.acknowledged_by.clone(),
        acknowledged_at: e.acknowledged_at.map(ts),
        ended_reason: e.ended_reason.clone(),
    }
}

/// Escalations of the caller's organisation and of the cases she is assigned to, oldest
/// first; active ones (with their next due time) unless `status` says otherwise.
pub async fn list(
    auth: Authed,
    state: web::Data<AppState>,
    query: Query<EscalationListQuery>,
) -> Result<HttpResponse, AppError> {
    let q = query.into_inner();
    let page_q = PageQuery { cursor: q.cursor.clone(), limit: q.limit };
    let limit = page_q.limit()?;
    let cursor = page_q.cursor()?.map(str::to_string);
    let status = q.status.unwrap_or_else(|| "active".into());
    let st = state.clone();
    let (rows, next_cursor) = state
        .db
        .read(move |c| escalations::list(c, &st.access, st.clock.now(), &auth.user, &status, cursor, limit))
        .await?;
    let items = rows.iter().map(|e| view(&state, e)).collect();
    Ok(HttpResponse::Ok().json(Page { items, next_cursor }))
}

/// Acknowledges an escalation: no further step fires. Acknowledging one that has already
/// ended changes nothing and says so.
pub async fn ack(auth: Authed, state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let now = state.clock.now();
    let st = state.clone();
    let esc = state.db.write(move |c| escalations::acknowledge(c, &st.access, now, &auth.user, &id)).await?;
    Ok(HttpResponse::Ok().json(view(&state, &esc)))
}
