//! `/api/v1/cases/{id}/notes`: append-only notes sealed with the case key.

use crate::api::case_for;
use crate::api::extract::{Json, Query};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

use crate::api::{idempotency_key, idempotent, request_hash, ts, Page, PageQuery};
use crate::auth::Authed;
use crate::clock::naive;
use crate::db::models::CaseNote;
use crate::db::DbConn;
use crate::domain::cases::{self, NoteKind};
use crate::error::AppError;
use crate::state::AppState;

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteCreate {
    pub kind: NoteKind,
    pub body: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NoteView {
    pub id: String,
    pub case_id: String,
    pub author_id: String,
    pub author_name: Option<String>,
    pub kind: String,
    pub body: String,
    pub created_at: String,
}

fn view(c: &mut DbConn, st: &AppState, n: CaseNote) -> Result<NoteView, AppError> {
    let body = cases::open_note(c, &st.crypto, &n)?;
    crate::api::people::named(c, view_with(n, body))
}

fn view_with(n: CaseNote, body: String) -> NoteView {
    NoteView {
        id: n.id,
        case_id: n.case_id,
        author_id: n.author_id,
        author_name: None,
        kind: n.kind,
        body,
        created_at: ts(n.created_at),
    }
}

impl crate::api::people::Mentions for NoteView {
    fn people(&self) -> Vec<&str> {
        vec![&self.author_id]
    }

    fn name(&mut self, names: &crate::api::people::Names) {
        self.author_name = names.of(&self.author_id);
    }
}

pub async fn create(
    auth: Authed,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: Json<NoteCreate>,
) -> Result<HttpResponse, AppError> {
    let idem = idempotency_key(&req)?;
    let body = std::sync::Arc::new(body.into_inner());
    let case_id = path.into_inner();
    // The same body on another case is another request.
    let hash = format!("{case_id}:{}", request_hash(&state.jwt, &*body)?);
    let now = state.clock.now();
    let st = state.clone();
    let user_id = auth.user.id.clone();
    let note = idempotent(&state, &user_id, idem, "note.create", hash, move |c, earlier| {
        let who = auth.caller();
        let case = case_for(c, &st, &who, &case_id, auth.action)?;
        let note = match earlier {
            Some(id) => CaseNote::find(c, id)?.ok_or(AppError::NotFound("note_not_found"))?,
            None => cases::add_note(c, &st.crypto, now, &who, &case, body.kind, &body.body)?,
        };
        let id = note.id.clone();
        Ok((view(c, &st, note)?, id))
    })
    .await?;
    Ok(HttpResponse::Created().json(note))
}

pub async fn list(
    auth: Authed,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let limit = query.limit()?;
    let cursor = query.cursor()?.map(str::to_string);
    let case_id = path.into_inner();
    let _now = naive(state.clock.now());
    let st = state.clone();
    let page = state
        .db
        .read(move |c| {
            let who = auth.caller();
            let case = case_for(c, &st, &who, &case_id, auth.action)?;
            let rows = CaseNote::page(c, &case.id, cursor.as_deref(), limit + 1)?;
            let page = Page::from_rows(rows, limit, |n| n.id.clone());
            let bodies = cases::open_notes(c, &st.crypto, &case.id, &page.items)?;
            let items = page.items.into_iter().zip(bodies).map(|(n, body)| view_with(n, body)).collect();
            crate::api::people::named_page(c, Page { items, next_cursor: page.next_cursor })
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}
