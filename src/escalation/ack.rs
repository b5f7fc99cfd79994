//! `/ack/{token}`: the acknowledgement link in escalation mail. GET only shows what would be
//! acknowledged, with a button; the POST acknowledges. Mail scanners and link previews follow
//! GET links on their own, and must never stop an escalation by doing so.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};

use super::engine::{self, AckLink};
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

pub async fn show(state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, AppError> {
    let token = path.into_inner();
    let now = state.clock.now();
    let st = state.clone();
    let link = state.db.read(move |c| engine::inspect_link(c, &st, &token, now)).await?;
    if let Some(r) = not_usable(&link) {
        return Ok(r);
    }
    let AckLink::Valid(_, esc) = link else { return Err(AppError::NotFound("ack_link")) };
    let description = state.escalation.rules().get(&esc.policy_id).map(|p| p.description.clone()).unwrap_or_default();
    let body = format!(
        "<p>Escalation for <strong>{}</strong>: {}.</p><form method=\"post\"><button type=\"submit\">Acknowledge: \
         I am handling this</button></form>",
        escape(&esc.reference),
        escape(&description)
    );
    Ok(page(StatusCode::OK, "Acknowledge escalation", &body))
}

pub async fn confirm(state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, AppError> {
    let token = path.into_inner();
    let now = state.clock.now();
    let st = state.clone();
    let outcome = state
        .db
        .write(move |c| match engine::inspect_link(c, &st, &token, now)? {
            AckLink::Valid(m, esc) => {
                let was_running = engine::acknowledge_link(c, now, &m)?;
                Ok(Ok((esc.reference, was_running)))
            }
            other => Ok(Err(other)),
        })
        .await;
    match outcome {
        Ok(Ok((reference, true))) => Ok(page(
            StatusCode::OK,
            "Acknowledged",
            &format!("<p>Thank you. The escalation for <strong>{}</strong> is stopped.</p>", escape(&reference)),
        )),
        Ok(Ok((reference, false))) => Ok(page(
            StatusCode::OK,
            "Already handled",
            &format!("<p>The escalation for <strong>{}</strong> had already ended.</p>", escape(&reference)),
        )),
        Ok(Err(link)) => Ok(not_usable(&link).unwrap_or_else(|| page(StatusCode::NOT_FOUND, "Link not valid", ""))),
        Err(AppError::Gone(_)) => Ok(not_usable(&AckLink::Used).unwrap_or_else(|| page(StatusCode::GONE, "Gone", ""))),
        Err(e) => Err(e),
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/ack/{token}").route(web::get().to(show)).route(web::post().to(confirm)));
}
