//! `/api/v1/escalations`: the escalations a user may see, and acknowledging one.

use crate::api::extract::Query;
use actix_web::{web, HttpResponse};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::api::{ts, Page, PageQuery};
use crate::auth::Authed;
use crate::db::models::{Case, Escalation, User};
use crate::db::schema::{case_assignees, escalations};
use crate::db::DbConn;
use crate::error::AppError;
use crate::escalation::engine;
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

/// Need-to-know: an escalation on a case is visible to whoever may read the case; one on an
/// alert not yet triaged, to its organisation's coordinators.
fn visible(conn: &mut DbConn, state: &AppState, user: &User, e: &Escalation) -> Result<bool, AppError> {
    let case = match &e.case_id {
        Some(id) => match Case::find(conn, id)? {
            Some(c) => Some(c),
            None => return Ok(false),
        },
        None => None,
    };
    engine::may_see(conn, &state.access, state.clock.now(), user, &e.organization_id, case.as_ref())
}

/// Rows one list request looks at, at most (each costs an access check).
const MAX_SCANNED: i64 = 2000;

const STATUSES: &[&str] = &["active", "acknowledged", "stopped", "completed", "all"];

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
    if !STATUSES.contains(&status.as_str()) {
        return Err(AppError::bad_request(
            "invalid_query",
            "status must be active, acknowledged, stopped, completed or all",
        ));
    }
    let st = state.clone();
    let (items, next_cursor) = state
        .db
        .read(move |c| {
            let assigned = case_assignees::table
                .filter(case_assignees::user_id.eq(&auth.user.id))
                .select(case_assignees::case_id)
                .load::<String>(c)?;
            let mut items = Vec::new();
            let mut after = cursor;
            // Rows the caller may not read are skipped; scan on until the page is full, but
            // at most MAX_SCANNED rows per request: then the page ends early with a cursor.
            let mut scanned: i64 = 0;
            let mut cut_short = false;
            loop {
                let mut query = escalations::table
                    .filter(
                        escalations::organization_id
                            .eq(&auth.user.organization_id)
                            .or(escalations::case_id.eq_any(assigned.iter().map(|s| Some(s.clone())))),
                    )
                    .order(escalations::id.asc())
                    .limit(limit + 1)
                    .select(Escalation::as_select())
                    .into_boxed();
                if status != "all" {
                    query = query.filter(escalations::status.eq(status.clone()));
                }
                if let Some(a) = &after {
                    query = query.filter(escalations::id.gt(a.clone()));
                }
                let rows: Vec<Escalation> = query.load(c)?;
                let exhausted = rows.len() as i64 <= limit;
                scanned += rows.len() as i64;
                for e in rows {
                    after = Some(e.id.clone());
                    if visible(c, &st, &auth.user, &e)? {
                        items.push(view(&st, &e));
                        if items.len() as i64 > limit {
                            break;
                        }
                    }
                }
                if items.len() as i64 > limit || exhausted {
                    break;
                }
                if scanned >= MAX_SCANNED {
                    cut_short = true;
                    break;
                }
            }
            let page = Page::from_rows(items, limit, |v: &EscalationView| v.id.clone());
            let next = if cut_short && page.next_cursor.is_none() { after } else { page.next_cursor };
            Ok((page.items, next))
        })
        .await?;
    Ok(HttpResponse::Ok().json(Page { items, next_cursor }))
}

/// Acknowledges an escalation: no further step fires. Acknowledging one that has already
/// ended changes nothing and says so.
pub async fn ack(auth: Authed, state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let now = state.clock.now();
    let st = state.clone();
    let esc = state
        .db
        .write(move |c| {
            let e = crate::api::find_or(c, &id, "escalation_not_found", Escalation::find)?;
            if !visible(c, &st, &auth.user, &e)? {
                return Err(AppError::NotFound("escalation_not_found"));
            }
            if !engine::acknowledge(c, now, &e, Some(&auth.user.id), "api")? {
                return Err(AppError::conflict("escalation_ended", "this escalation has already ended"));
            }
            Escalation::find(c, &e.id)?.ok_or(AppError::NotFound("escalation_not_found"))
        })
        .await?;
    Ok(HttpResponse::Ok().json(view(&state, &esc)))
}
