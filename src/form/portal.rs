//! `/status`: the receipt portal. The receipt is typed once; the pages after carry a
//! 30-minute portal token instead (never the receipt, never a cookie).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use chrono::{DateTime, Utc};

use super::decode::Fields;
use super::i18n::{Lang, CHECKIN_HOURS};
use super::keys::{normalize_pin, normalize_receipt, TokenError};
use super::{error_page, html, notice, read_body, Choice, Chrome};
use crate::clock::naive;
use crate::db::models::{Alert, Checkin, Message, Receipt};
use crate::domain::messages::{self, FROM_DEFENDER, MAX_MESSAGE, MAX_SHOWN};
use crate::domain::portal::{self, AlertState};
use crate::error::AppError;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "status.html", config = "src/form/askama.toml")]
struct LoginPage {
    c: Chrome,
    error: Option<&'static str>,
}

pub struct MessageLine {
    pub mine: bool,
    pub at: String,
    pub body: String,
}

#[derive(Template)]
#[template(path = "portal.html", config = "src/form/askama.toml")]
struct PortalPage {
    c: Chrome,
    token: String,
    notice: Option<&'static str>,
    state: &'static str,
    /// Dismissed, merged, or its case closed: nothing more to do here.
    closed: bool,
    messages: Vec<MessageLine>,
    max_message: usize,
    reply_error: Option<&'static str>,
    pending: Vec<String>,
    can_checkin: bool,
    hours: Vec<Choice>,
    pin_error: Option<&'static str>,
    pins_error: Option<&'static str>,
    has_pins: bool,
}

/// Things a portal page may say besides its content.
#[derive(Default)]
struct Flash {
    notice: Option<&'static str>,
    reply_error: Option<&'static str>,
    pin_error: Option<&'static str>,
    pins_error: Option<&'static str>,
}

pub async fn login_page(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let lang = super::query_lang(&req);
    html(&req, StatusCode::OK, &LoginPage { c: Chrome::new(&state, lang, "/status"), error: None })
}

/// Everything a portal page shows, read in one go.
struct View {
    alert_id: String,
    state: AlertState,
    messages: Vec<MessageLine>,
    pending: Vec<String>,
    can_checkin: bool,
    has_pins: bool,
}

fn load_view(c: &mut crate::db::DbConn, st: &AppState, alert: &Alert) -> Result<View, AppError> {
    let (state, case) = portal::state_of(c, alert)?;
    let mut lines = Vec::new();
    for m in Message::for_alert(c, &alert.id, MAX_SHOWN)? {
        lines.push(MessageLine {
            mine: m.direction == FROM_DEFENDER,
            at: m.created_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            body: messages::open(c, &st.crypto, &m)?,
        });
    }
    let pending = match &case {
        Some(k) => Checkin::pending_for_case(c, &k.id)?
            .into_iter()
            .map(|p| p.due_at.format("%Y-%m-%d %H:%M").to_string())
            .collect(),
        None => Vec::new(),
    };
    let has_pins = Receipt::for_alert(c, &alert.id)?.is_some_and(|r| r.safe_pin_hash.is_some());
    Ok(View {
        alert_id: alert.id.clone(),
        state,
        messages: lines,
        pending,
        can_checkin: state == AlertState::Handling,
        has_pins,
    })
}

fn render(req: &HttpRequest, st: &AppState, lang: Lang, now: DateTime<Utc>, view: View, flash: Flash) -> HttpResponse {
    let t = lang.text();
    let status = if flash.reply_error.is_some() || flash.pin_error.is_some() || flash.pins_error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let page = PortalPage {
        c: Chrome::new(st, lang, "/status"),
        token: st.form.keys.portal_token(&view.alert_id, now),
        notice: flash.notice,
        state: match view.state {
            AlertState::Received => t.state_received,
            AlertState::Handling => t.state_handling,
            AlertState::Closed => t.state_closed,
        },
        closed: view.state == AlertState::Closed,
        messages: view.messages,
        max_message: MAX_MESSAGE,
        reply_error: flash.reply_error,
        pending: view.pending,
        can_checkin: view.can_checkin,
        hours: CHECKIN_HOURS
            .iter()
            .zip(t.hours)
            .map(|(h, label)| Choice { value: hour_value(*h), label, checked: false })
            .collect(),
        pin_error: flash.pin_error,
        pins_error: flash.pins_error,
        has_pins: view.has_pins,
    };
    html(req, status, &page)
}

fn hour_value(h: u32) -> &'static str {
    match h {
        1 => "1",
        3 => "3",
        6 => "6",
        12 => "12",
        24 => "24",
        _ => "48",
    }
}

/// A form body with its language, or the error page to answer.
async fn form(
    req: &HttpRequest,
    state: &AppState,
    payload: web::Payload,
    fields: &[&str],
) -> Result<(Lang, Fields), Box<HttpResponse>> {
    let fallback = Lang::choose(None, req);
    let body = read_body(req, payload).await.map_err(|e| Box::new(error_page(req, state, fallback, e)))?;
    let lang = super::lang_hint(&body).unwrap_or(fallback);
    let f = Fields::parse(&body, fields, &[])
        .map_err(|_| Box::new(error_page(req, state, lang, AppError::bad_request("invalid_form", "malformed form"))))?;
    Ok((lang, f))
}

/// `POST /status`: the receipt. Wrong, expired or unknown receipts get the same answer, and
/// each counts against the address; after too many, every try is refused for a while.
pub async fn open(req: HttpRequest, state: web::Data<AppState>, payload: web::Payload) -> HttpResponse {
    let (lang, f) = match form(&req, &state, payload, &["lang", "receipt"]).await {
        Ok(x) => x,
        Err(res) => return *res,
    };
    let t = lang.text();
    let addr = crate::api::auth::client_addr(&req, state.config.login.trust_forwarded_for);
    if !state.form.guard.may_try(addr) {
        return error_page(&req, &state, lang, AppError::TooManyRequests { retry_after_secs: 900 });
    }
    let wrong = |state: &AppState| {
        state.form.guard.failed(addr);
        html(
            &req,
            StatusCode::UNPROCESSABLE_ENTITY,
            &LoginPage { c: Chrome::new(state, lang, "/status"), error: Some(t.err_receipt) },
        )
    };
    // Checked before any hashing: a 10,000-character "receipt" costs nothing.
    let Some(receipt) = normalize_receipt(f.raw("receipt")) else { return wrong(&state) };
    let st = state.clone();
    let lookup = match web::block(move || st.form.keys.receipt_lookup(&receipt)).await {
        Ok(Ok(l)) => l,
        Ok(Err(e)) => return error_page(&req, &state, lang, e),
        Err(e) => return error_page(&req, &state, lang, AppError::internal(e)),
    };
    let now = state.clock.now();
    let days = i64::from(state.config.form.receipt_days);
    let st = state.clone();
    let found = state
        .db
        .write(move |c| {
            let Some(r) = Receipt::find(c, &lookup)? else { return Ok(None) };
            if naive(now) - r.last_used_at > chrono::Duration::days(days) {
                return Ok(None);
            }
            let Some(alert) = Alert::find(c, &r.alert_id)? else { return Ok(None) };
            Receipt::touch(c, &r.lookup, naive(now))?;
            match load_view(c, &st, &alert) {
                Ok(v) => Ok(Some(v)),
                // A shredded case: nothing left to show; the receipt simply stops working.
                Err(AppError::Gone(_)) => Ok(None),
                Err(e) => Err(e),
            }
        })
        .await;
    match found {
        Ok(Some(view)) => render(&req, &state, lang, now, view, Flash::default()),
        Ok(None) => wrong(&state),
        Err(e) => error_page(&req, &state, lang, e),
    }
}

/// The alert a portal token names, or the page to answer (expired: enter the receipt again).
fn session(
    req: &HttpRequest,
    state: &AppState,
    lang: Lang,
    f: &Fields,
    now: DateTime<Utc>,
) -> Result<String, Box<HttpResponse>> {
    match state.form.keys.check_portal_token(f.raw("t"), now) {
        Ok(id) => Ok(id),
        Err(TokenError::Expired) => {
            let t = lang.text();
            Err(Box::new(html(
                req,
                StatusCode::UNPROCESSABLE_ENTITY,
                &LoginPage { c: Chrome::new(state, lang, "/status"), error: Some(t.session_over) },
            )))
        }
        Err(TokenError::Invalid) => {
            Err(Box::new(error_page(req, state, lang, AppError::bad_request("invalid_form", "invalid portal token"))))
        }
    }
}

/// Runs `act` on the session's alert in one write transaction, then shows the portal.
async fn act<F>(
    req: HttpRequest,
    state: web::Data<AppState>,
    lang: Lang,
    alert_id: String,
    now: DateTime<Utc>,
    act: F,
) -> HttpResponse
where
    F: FnOnce(&mut crate::db::DbConn, &AppState, &Alert) -> Result<Flash, AppError> + Send + 'static,
{
    let st = state.clone();
    let r = state
        .db
        .write(move |c| {
            let alert = Alert::find(c, &alert_id)?.ok_or(AppError::NotFound("alert_not_found"))?;
            let flash = act(c, &st, &alert)?;
            let view = load_view(c, &st, &alert)?;
            Ok((view, flash))
        })
        .await;
    match r {
        Ok((view, flash)) => render(&req, &state, lang, now, view, flash),
        Err(e) => error_page(&req, &state, lang, e),
    }
}

pub async fn reply(req: HttpRequest, state: web::Data<AppState>, payload: web::Payload) -> HttpResponse {
    let (lang, f) = match form(&req, &state, payload, &["lang", "t", "body"]).await {
        Ok(x) => x,
        Err(res) => return *res,
    };
    let now = state.clock.now();
    let alert_id = match session(&req, &state, lang, &f, now) {
        Ok(id) => id,
        Err(res) => return *res,
    };
    let t = lang.text();
    let body = f.raw("body").trim().to_string();
    act(req, state, lang, alert_id, now, move |c, st, alert| {
        if portal::state_of(c, alert)?.0 == AlertState::Closed {
            return Ok(Flash { notice: Some(t.closed_note), ..Default::default() });
        }
        if body.is_empty() {
            return Ok(Flash { reply_error: Some(t.err_required), ..Default::default() });
        }
        if body.chars().count() > MAX_MESSAGE {
            return Ok(Flash { reply_error: Some(t.err_too_long), ..Default::default() });
        }
        if body.chars().any(|ch| ch.is_control() && !matches!(ch, '\n' | '\r' | '\t')) {
            return Ok(Flash { reply_error: Some(t.err_generic), ..Default::default() });
        }
        messages::from_defender(c, &st.crypto, now, alert, &body)?;
        if let Some(case_id) = &alert.case_id {
            crate::escalation::fire(c, st, now, "message.received", "case", case_id)?;
        }
        Ok(Flash { notice: Some(t.sent), ..Default::default() })
    })
    .await
}

pub async fn checkin(req: HttpRequest, state: web::Data<AppState>, payload: web::Payload) -> HttpResponse {
    let (lang, f) = match form(&req, &state, payload, &["lang", "t", "hours"]).await {
        Ok(x) => x,
        Err(res) => return *res,
    };
    let now = state.clock.now();
    let alert_id = match session(&req, &state, lang, &f, now) {
        Ok(id) => id,
        Err(res) => return *res,
    };
    let Some(hours) = f.get("hours").and_then(|h| h.parse::<u32>().ok()).filter(|h| CHECKIN_HOURS.contains(h)) else {
        return error_page(
            &req,
            &state,
            lang,
            AppError::bad_request("invalid_form", "hours must be one of the choices"),
        );
    };
    let t = lang.text();
    act(req, state, lang, alert_id, now, move |c, _st, alert| {
        let (s, case) = portal::state_of(c, alert)?;
        match case {
            Some(case) if s == AlertState::Handling => {
                portal::request_checkin(c, now, &case, hours)?;
                Ok(Flash::default())
            }
            _ => Ok(Flash { notice: Some(t.checkin_unavailable), ..Default::default() }),
        }
    })
    .await
}

/// What a PIN typed at "I am safe" means.
enum PinCheck {
    Safe,
    Duress,
    Wrong,
}

fn check_pin(receipt: &Receipt, typed: &str) -> PinCheck {
    let Some(safe_hash) = &receipt.safe_pin_hash else { return PinCheck::Safe };
    let Some(pin) = normalize_pin(typed) else { return PinCheck::Wrong };
    // Both are always checked, so the time taken does not tell which one matched.
    let safe = crate::auth::password::verify(&pin, Some(safe_hash));
    let duress = crate::auth::password::verify(&pin, receipt.duress_pin_hash.as_deref());
    match (safe, duress) {
        (_, true) => PinCheck::Duress,
        (true, false) => PinCheck::Safe,
        _ => PinCheck::Wrong,
    }
}

/// "I am safe". With the duress PIN the page is exactly the same, but the case becomes
/// critical and the duress escalation starts.
pub async fn safe(req: HttpRequest, state: web::Data<AppState>, payload: web::Payload) -> HttpResponse {
    let (lang, f) = match form(&req, &state, payload, &["lang", "t", "pin"]).await {
        Ok(x) => x,
        Err(res) => return *res,
    };
    let now = state.clock.now();
    let alert_id = match session(&req, &state, lang, &f, now) {
        Ok(id) => id,
        Err(res) => return *res,
    };
    let addr = crate::api::auth::client_addr(&req, state.config.login.trust_forwarded_for);
    if !state.form.guard.may_try(addr) {
        return error_page(&req, &state, lang, AppError::TooManyRequests { retry_after_secs: 900 });
    }
    let typed = f.raw("pin").to_string();
    let st = state.clone();
    // PIN hashes are slow on purpose: the whole thing runs on a blocking thread.
    let r = state
        .db
        .write(move |c| {
            let alert = Alert::find(c, &alert_id)?.ok_or(AppError::NotFound("alert_not_found"))?;
            let receipt = Receipt::for_alert(c, &alert.id)?.ok_or(AppError::NotFound("alert_not_found"))?;
            match check_pin(&receipt, &typed) {
                PinCheck::Wrong => Ok(Some(load_view(c, &st, &alert)?)),
                PinCheck::Safe => {
                    let (_, case) = portal::state_of(c, &alert)?;
                    portal::confirm_safe(c, now, case.as_ref())?;
                    Ok(None)
                }
                PinCheck::Duress => {
                    portal::duress(c, &st, now, &alert)?;
                    Ok(None)
                }
            }
        })
        .await;
    let t = lang.text();
    match r {
        Ok(None) => notice(&req, &state, lang, StatusCode::OK, t.thanks_title, t.thanks_text),
        Ok(Some(view)) => {
            state.form.guard.failed(addr);
            render(&req, &state, lang, now, view, Flash { pin_error: Some(t.err_pin), ..Default::default() })
        }
        Err(e) => error_page(&req, &state, lang, e),
    }
}

/// Sets (or changes, with the current PIN) the check-in PIN and the duress PIN.
pub async fn pins(req: HttpRequest, state: web::Data<AppState>, payload: web::Payload) -> HttpResponse {
    let (lang, f) = match form(&req, &state, payload, &["lang", "t", "current", "new_pin", "duress_pin"]).await {
        Ok(x) => x,
        Err(res) => return *res,
    };
    let now = state.clock.now();
    let alert_id = match session(&req, &state, lang, &f, now) {
        Ok(id) => id,
        Err(res) => return *res,
    };
    let addr = crate::api::auth::client_addr(&req, state.config.login.trust_forwarded_for);
    if !state.form.guard.may_try(addr) {
        return error_page(&req, &state, lang, AppError::TooManyRequests { retry_after_secs: 900 });
    }
    let t = lang.text();
    let current = f.raw("current").to_string();
    let new_pin = normalize_pin(f.raw("new_pin"));
    let duress_pin = normalize_pin(f.raw("duress_pin"));
    let failed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let failed2 = failed.clone();
    let res = act(req, state.clone(), lang, alert_id, now, move |c, _st, alert| {
        let receipt = Receipt::for_alert(c, &alert.id)?.ok_or(AppError::NotFound("alert_not_found"))?;
        if receipt.safe_pin_hash.is_some() {
            let ok = normalize_pin(&current)
                .is_some_and(|p| crate::auth::password::verify(&p, receipt.safe_pin_hash.as_deref()));
            if !ok {
                failed2.store(true, std::sync::atomic::Ordering::Relaxed);
                return Ok(Flash { pins_error: Some(t.err_pin), ..Default::default() });
            }
        }
        let (Some(pin), Some(duress)) = (new_pin, duress_pin) else {
            return Ok(Flash { pins_error: Some(t.err_pin_format), ..Default::default() });
        };
        if pin == duress {
            return Ok(Flash { pins_error: Some(t.err_pin_same), ..Default::default() });
        }
        let safe_hash = crate::auth::password::hash(&pin)?;
        let duress_hash = crate::auth::password::hash(&duress)?;
        Receipt::set_pins(c, &receipt.lookup, &safe_hash, &duress_hash)?;
        let e = crate::audit::Entry::new(None, "receipt.pins_set", "alert", Some(&alert.id));
        crate::audit::record(c, now, e)?;
        Ok(Flash { notice: Some(t.pins_saved), ..Default::default() })
    })
    .await;
    if failed.load(std::sync::atomic::Ordering::Relaxed) {
        state.form.guard.failed(addr);
    }
    res
}
