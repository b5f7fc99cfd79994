//! `/api/v1/cases/{id}/notes`: append-only notes sealed with the case key.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

use crate::api::cases::remember;
use crate::api::{idempotency_key, request_hash, ts, Page, PageQuery};
use crate::auth::Authed;
use crate::authz::Action;
use crate::clock::naive;
use crate::db::models::{CaseNote, IdempotencyKey};
use crate::db::DbConn;
use crate::domain::cases::{self, Caller, NoteKind};
use crate::error::AppError;
use crate::state::AppState;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoteCreate {
    pub kind: NoteKind,
    pub body: String,
}

#[derive(Debug, Serialize)]
pub struct NoteView {
    pub id: String,
    pub case_id: String,
    pub author_id: String,
    pub kind: String,
    pub body: String,
    pub created_at: String,
}

fn view(c: &mut DbConn, st: &AppState, n: CaseNote) -> Result<NoteView, AppError> {
    let body = cases::open_note(c, &st.crypto, &n)?;
    Ok(NoteView {
        id: n.id,
        case_id: n.case_id,
        author_id: n.author_id,
        kind: n.kind,
        body,
        created_at: ts(n.created_at),
    })
}

pub async fn create(
    auth: Authed,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Json<NoteCreate>,
) -> Result<HttpResponse, AppError> {
    let idem = idempotency_key(&req)?;
    let body = std::sync::Arc::new(body.into_inner());
    let hash = request_hash(&*body)?;
    let case_id = path.into_inner();
    let now = state.clock.now();
    for attempt in 0..2 {
        let (st, auth, idem, hash, body, case_id) =
            (state.clone(), auth.clone(), idem.clone(), hash.clone(), body.clone(), case_id.clone());
        let result = state
            .db
            .write(move |c| {
                let who = Caller { user: &auth.user, role: auth.role };
                let case = cases::load_for(c, &st.access, &who, &case_id, Action::NoteCreate, naive(now))?;
                if let Some(key) = &idem {
                    if let Some(prev) = IdempotencyKey::find(c, &auth.user.id, key)? {
                        if prev.route != "note.create" || prev.request_hash != format!("{}:{hash}", case.id) {
                            return Err(AppError::unprocessable(
                                "idempotency_key_reused",
                                "this Idempotency-Key was used for another request",
                            ));
                        }
                        let note = CaseNote::find(c, &prev.resource_id)?.ok_or(AppError::NotFound("note_not_found"))?;
                        return view(c, &st, note);
                    }
                }
                let note = cases::add_note(c, &st.crypto, now, &who, &case, body.kind, &body.body)?;
                if let Some(key) = idem {
                    remember(c, &auth.user.id, key, "note.create", format!("{}:{hash}", case.id), &note.id, now)?;
                }
                view(c, &st, note)
            })
            .await;
        match result {
            Err(AppError::Conflict { code: "idempotency_race", .. }) if attempt == 0 => continue,
            other => return Ok(HttpResponse::Created().json(other?)),
        }
    }
    Err(AppError::conflict("idempotency_race", "a request with this Idempotency-Key is in progress"))
}

pub async fn list(
    auth: Authed,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let limit = query.limit()?;
    let cursor = query.cursor()?.map(str::to_string);
    let case_id = path.into_inner();
    let now = naive(state.clock.now());
    let st = state.clone();
    let page = state
        .db
        .read(move |c| {
            let who = Caller { user: &auth.user, role: auth.role };
            let case = cases::load_for(c, &st.access, &who, &case_id, Action::NoteList, now)?;
            let rows = CaseNote::page(c, &case.id, cursor.as_deref(), limit + 1)?;
            let page = Page::from_rows(rows, limit, |n| n.id.clone());
            let items = page.items.into_iter().map(|n| view(c, &st, n)).collect::<Result<Vec<_>, _>>()?;
            Ok(Page { items, next_cursor: page.next_cursor })
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}
