use actix_web::{web, HttpResponse};
use serde::Serialize;

use crate::api::{ts, Page, PageQuery};
use crate::auth::Authed;
use crate::db::models::AuditEvent;
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

/// Newest first; `cursor` is the `seq` to continue below.
pub async fn list(
    _auth: Authed,
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let limit = query.limit()?;
    let before = match query.cursor()? {
        None => None,
        Some(c) => Some(c.parse::<i64>().map_err(|_| AppError::bad_request("invalid_cursor", "cursor is not valid"))?),
    };
    let rows = state.db.read(move |c| Ok(AuditEvent::page_desc(c, before, limit + 1)?)).await?;
    let page = Page::from_rows(rows, limit, |e| e.seq.to_string());
    Ok(HttpResponse::Ok()
        .json(Page { items: page.items.into_iter().map(AuditView::from).collect(), next_cursor: page.next_cursor }))
}
