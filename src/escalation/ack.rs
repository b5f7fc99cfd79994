//! `/ack/{token}`: the acknowledgement link in escalation mail. GET only shows what would be
//! acknowledged, with a button; the POST acknowledges. Mail scanners and link previews follow
//! GET links on their own, and must never stop an escalation by doing so.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};

use super::engine::{self, AckLink};
use crate::db::models::{Escalation, User};
use crate::error::AppError;
use crate::state::AppState;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

fn page(status: StatusCode, title: &str, body: &str) -> HttpResponse {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" \
         content=\"width=device-width, initial-scale=1\"><title>{t} · Haven</title></head><body><main><h1>{t}</h1>{body}\
         </main></body></html>",
        t = escape(title)
    );
    HttpResponse::build(status).content_type("text/html; charset=utf-8").body(html)
}

fn not_usable(link: &AckLink) -> Option<HttpResponse> {
    match link {
        AckLink::Valid(..) => None,
        AckLink::Invalid => {
            Some(page(StatusCode::NOT_FOUND, "Link not valid", "<p>This acknowledgement link is not valid.</p>"))
        }
        AckLink::NoLongerAllowed => Some(page(
            StatusCode::FORBIDDEN,
            "Link not usable",
            "<p>This link can no longer be used from your account. Sign in to Haven.</p>",
        )),
        AckLink::Used => Some(page(
            StatusCode::GONE,
            "Link already used",
            "<p>This acknowledgement link has been used already. Sign in to Haven to see the case.</p>",
        )),
        AckLink::Expired => Some(page(
            StatusCode::GONE,
            "Link expired",
            "<p>This acknowledgement link has expired. Sign in to Haven to acknowledge the escalation.</p>",
        )),
    }
}

/// What the page says of an escalation nobody needs to acknowledge any more; None while it
/// still waits for someone.
fn settled(esc: &Escalation, acknowledged_by: Option<&str>) -> Option<String> {
    match esc.status.as_str() {
        "acknowledged" => {
            let when =
                esc.acknowledged_at.map(|t| t.format(" on %Y-%m-%d at %H:%M UTC").to_string()).unwrap_or_default();
            let who = match acknowledged_by {
                Some(name) => format!(" by <strong>{}</strong>", escape(name)),
                None => " through a mailed link".to_string(),
            };
            Some(format!(
                "<p>The escalation for <strong>{}</strong> was acknowledged{who}{when}. Nothing more is needed \
                 from this link; sign in to Haven to see the case.</p>",
                escape(&esc.reference)
            ))
        }
        _ if engine::awaits_acknowledgement(esc) => None,
        _ => Some(format!(
            "<p>The escalation for <strong>{}</strong> has ended: what it was about has been dealt with. \
             Sign in to Haven to see the case.</p>",
            escape(&esc.reference)
        )),
    }
}

/// The name of whoever acknowledged `esc`, if a person did.
fn acknowledger(conn: &mut crate::db::DbConn, esc: &Escalation) -> Result<Option<String>, AppError> {
    match &esc.acknowledged_by {
        Some(id) => Ok(User::find(conn, id)?.map(|u| u.name)),
        None => Ok(None),
    }
}

pub async fn show(state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, AppError> {
    let token = path.into_inner();
    let now = state.clock.now();
    let st = state.clone();
    let (link, by) = state
        .db
        .read(move |c| {
            let link = engine::inspect_link(c, &st.jwt, &st.access, st.config.ack_link_hours, &token, now)?;
            let by = match &link {
                AckLink::Valid(_, esc) => acknowledger(c, esc)?,
                _ => None,
            };
            Ok((link, by))
        })
        .await?;
    if let Some(r) = not_usable(&link) {
        return Ok(r);
    }
    let AckLink::Valid(_, esc) = link else { return Err(AppError::NotFound("ack_link")) };
    if let Some(body) = settled(&esc, by.as_deref()) {
        let title = if esc.status == "acknowledged" { "Already acknowledged" } else { "Already handled" };
        return Ok(page(StatusCode::OK, title, &body));
    }
    let description = state.escalation.rules().get(&esc.policy_id).map(|p| p.description.clone()).unwrap_or_default();
    let body = format!(
        "<p>Escalation for <strong>{}</strong>: {}.</p><form method=\"post\"><button type=\"submit\">Acknowledge: \
         I am handling this</button></form>",
        escape(&esc.reference),
        escape(description.trim_end_matches(['.', ' ']))
    );
    Ok(page(StatusCode::OK, "Acknowledge escalation", &body))
}

pub async fn confirm(state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, AppError> {
    let token = path.into_inner();
    let now = state.clock.now();
    let st = state.clone();
    let outcome = state
        .db
        .write(move |c| match engine::inspect_link(c, &st.jwt, &st.access, st.config.ack_link_hours, &token, now)? {
            AckLink::Valid(m, esc) => {
                let took_it = engine::acknowledge_link(c, now, &m)?;
                let after = Escalation::find(c, &esc.id)?.unwrap_or(*esc);
                let by = acknowledger(c, &after)?;
                Ok(Ok((after, took_it, by)))
            }
            other => Ok(Err(other)),
        })
        .await;
    match outcome {
        Ok(Ok((esc, true, _))) => Ok(page(
            StatusCode::OK,
            "Acknowledged",
            &format!("<p>Thank you. The escalation for <strong>{}</strong> is stopped.</p>", escape(&esc.reference)),
        )),
        Ok(Ok((esc, false, by))) => {
            let body = settled(&esc, by.as_deref()).unwrap_or_default();
            let title = if esc.status == "acknowledged" { "Already acknowledged" } else { "Already handled" };
            Ok(page(StatusCode::OK, title, &body))
        }
        Ok(Err(link)) => Ok(not_usable(&link).unwrap_or_else(|| page(StatusCode::NOT_FOUND, "Link not valid", ""))),
        Err(AppError::Gone(_)) => Ok(not_usable(&AckLink::Used).unwrap_or_else(|| page(StatusCode::GONE, "Gone", ""))),
        Err(e) => Err(e),
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/ack/{token}").route(web::get().to(show)).route(web::post().to(confirm)));
}
