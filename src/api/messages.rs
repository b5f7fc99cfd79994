//! `/api/v1/cases/{id}/messages`: messages to and from the defender, who reads and answers
//! them on the status page with her receipt. Sealed with the case key (the alert's own key
//! before triage). `/api/v1/alerts/{id}/messages`: what she wrote on one alert, readable by
//! its receiving coordinators before anyone has triaged it.

use crate::api::case_for;
use crate::api::extract::{Json, Query};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

use crate::api::{idempotency_key, idempotent, request_hash, ts, PageQuery};
use crate::auth::Authed;
use crate::db::models::Message;
use crate::db::DbConn;
use crate::domain::messages;
use crate::error::AppError;
use crate::state::AppState;

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageCreate {
    /// 1 to 5,000 characters. The defender sees it on the status page.
    pub body: String,
    /// Which of the case's alerts (which receipt) to write to; needed only when more than
    /// one alert of the case came through the form.
    pub alert_id: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MessageView {
    pub id: String,
    pub alert_id: String,
    /// `to_defender` or `from_defender`.
    pub direction: String,
    /// The staff author; null for the defender's own messages.
    pub author_id: Option<String>,
    pub author_name: Option<String>,
    pub body: String,
    pub created_at: String,
}

impl crate::api::people::Mentions for MessageView {
    fn people(&self) -> Vec<&str> {
        self.author_id.as_deref().into_iter().collect()
    }

    fn name(&mut self, names: &crate::api::people::Names) {
        self.author_name = names.of_opt(self.author_id.as_deref());
    }
}

fn view(c: &mut DbConn, st: &AppState, m: Message) -> Result<MessageView, AppError> {
    let body = messages::open(c, &st.crypto, &m)?;
    Ok(MessageView {
        id: m.id,
        alert_id: m.alert_id,
        direction: m.direction,
        author_id: m.author_id,
        author_name: None,
        body,
        created_at: ts(m.created_at),
    })
}

pub async fn create(
    auth: Authed,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: Json<MessageCreate>,
) -> Result<HttpResponse, AppError> {
    let idem = idempotency_key(&req)?;
    let body = std::sync::Arc::new(body.into_inner());
    let case_id = path.into_inner();
    let hash = format!("{case_id}:{}", request_hash(&state.jwt, &*body)?);
    let now = state.clock.now();
    let st = state.clone();
    let user_id = auth.user.id.clone();
    let out = idempotent(&state, &user_id, idem, "message.send", hash, move |c, earlier| {
        let who = auth.caller();
        let case = case_for(c, &st, &who, &case_id, auth.action)?;
        let m = match earlier {
            Some(id) => Message::find(c, id)?.ok_or(AppError::NotFound("message_not_found"))?,
            None => messages::send_to_defender(c, &st.crypto, now, &who, &case, body.alert_id.as_deref(), &body.body)?,
        };
        let id = m.id.clone();
        let v = view(c, &st, m)?;
        Ok((crate::api::people::named(c, v)?, id))
    })
    .await?;
    Ok(HttpResponse::Created().json(out))
}

/// Both directions, newest first, paged.
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
            let page = query.page_in(Message::for_case(c, &case.id)?, |m| &m.id)?.try_map(|m| view(c, &st, m))?;
            crate::api::people::named_page(c, page)
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// One alert's messages, newest first, paged: before triage the only place they show.
pub async fn list_for_alert(
    auth: Authed,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let alert_id = path.into_inner();
    let now = crate::clock::naive(state.clock.now());
    let st = state.clone();
    let page = state
        .db
        .read(move |c| {
            let alert = crate::domain::alerts::load_for(c, &st.access, &auth.caller(), &alert_id, auth.action, now)?;
            let page =
                query.page_in(Message::for_alert_desc(c, &alert.id)?, |m| &m.id)?.try_map(|m| view(c, &st, m))?;
            crate::api::people::named_page(c, page)
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}
