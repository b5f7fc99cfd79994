use crate::api::extract::Query;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::api::{ts, Page, PageQuery};
use crate::auth::Authed;
use crate::db::models::audit_event::{ActionFilter, AuditFilter};
use crate::db::models::AuditEvent;
use crate::domain::Role;
use crate::error::AppError;
use crate::state::AppState;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditView {
    pub seq: i64,
    pub id: String,
    pub occurred_at: String,
    pub actor_id: Option<String>,
    pub action: String,
    pub subject_type: String,
    pub subject_id: Option<String>,
    pub outcome: String,
    #[schema(value_type = Option<Object>)]
    pub detail: Option<serde_json::Value>,
    pub prev_hash: String,
    pub hash: String,
}

impl From<AuditEvent> for AuditView {
    fn from(e: AuditEvent) -> Self {
        AuditView {
            seq: e.seq,
            id: e.id,
            occurred_at: ts(e.occurred_at),
            actor_id: e.actor_id,
            action: e.action,
            subject_type: e.subject_type,
            subject_id: e.subject_id,
            outcome: e.outcome,
            detail: e.detail.and_then(|d| serde_json::from_str(&d).ok()),
            prev_hash: e.prev_hash,
            hash: e.hash,
        }
    }
}

/// `GET /api/v1/audit`: the page and the filters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    pub cursor: Option<String>,
    pub limit: Option<u32>,
    /// A user id: what she did.
    pub actor: Option<String>,
    /// An action (`case.share`), or every action of a kind with a trailing dot (`case.`).
    pub action: Option<String>,
    /// An object id: what was done to it.
    pub subject: Option<String>,
    pub outcome: Option<Outcome>,
    /// From this time (RFC 3339) or day (`2026-12-01`) on.
    pub from: Option<String>,
    /// Before this time, or through this day.
    pub to: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Success,
    Denied,
    Failure,
}

/// A time or a day; a day given as `to` means through its end.
fn bound(field: &'static str, raw: &str, end_of_day: bool) -> Result<NaiveDateTime, AppError> {
    let bad =
        || AppError::bad_request("invalid_query", format!("{field} must be a date (2026-12-01) or an RFC 3339 time"));
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(t.with_timezone(&Utc).naive_utc());
    }
    let day = NaiveDate::parse_from_str(raw, "%Y-%m-%d").map_err(|_| bad())?;
    let day = if end_of_day { day.succ_opt().ok_or_else(bad)? } else { day };
    day.and_hms_opt(0, 0, 0).ok_or_else(bad)
}

fn filter_of(q: &AuditQuery, auth: &Authed) -> Result<AuditFilter, AppError> {
    let id = |field: &'static str, v: &Option<String>| match v {
        Some(v) if !crate::domain::accounts::is_id(v) => {
            Err(AppError::bad_request("invalid_query", format!("{field} is not an id")))
        }
        other => Ok(other.clone()),
    };
    let action = match q.action.as_deref() {
        None | Some("") => None,
        Some(a) if a.len() > 64 || !a.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.') => {
            return Err(AppError::bad_request(
                "invalid_query",
                "action is an action name such as case.share, or case.",
            ));
        }
        Some(a) if a.ends_with('.') => Some(ActionFilter::Prefix(a.to_string())),
        Some(a) => Some(ActionFilter::Exact(a.to_string())),
    };
    Ok(AuditFilter {
        // Admins see the whole trail; an auditor her organisation's part of it.
        organization_id: (auth.role != Role::Admin).then(|| auth.user.organization_id.clone()),
        actor_id: id("actor", &q.actor)?,
        action,
        subject_id: id("subject", &q.subject)?,
        outcome: q.outcome.map(|o| {
            match o {
                Outcome::Success => "success",
                Outcome::Denied => "denied",
                Outcome::Failure => "failure",
            }
            .to_string()
        }),
        from: q.from.as_deref().map(|f| bound("from", f, false)).transpose()?,
        to: q.to.as_deref().map(|t| bound("to", t, true)).transpose()?,
    })
}

/// Newest first; `cursor` is the `seq` to continue below. Admins read the whole trail, an
/// auditor what her organisation's people did and what was done to its cases, alerts and
/// defenders.
pub async fn list(
    auth: Authed,
    state: web::Data<AppState>,
    query: Query<AuditQuery>,
) -> Result<HttpResponse, AppError> {
    let q = query.into_inner();
    let limit = PageQuery { cursor: None, limit: q.limit }.limit()?;
    let before = match q.cursor.as_deref() {
        None | Some("") => None,
        Some(c) => Some(
            c.parse::<i64>()
                .ok()
                .filter(|s| *s > 0)
                .ok_or_else(|| AppError::bad_request("invalid_cursor", "cursor is not valid"))?,
        ),
    };
    let filter = filter_of(&q, &auth)?;
    let rows = state.db.read(move |c| Ok(AuditEvent::page_desc(c, &filter, before, limit + 1)?)).await?;
    let page = Page::from_rows(rows, limit, |e| e.seq.to_string());
    Ok(HttpResponse::Ok()
        .json(Page { items: page.items.into_iter().map(AuditView::from).collect(), next_cursor: page.next_cursor }))
}
