//! `/status`: the receipt portal. The receipt is typed once; the pages after carry a
//! 30-minute portal token instead (never the receipt, never a cookie).
//!
//! Every POST that succeeds answers `303 See Other` to a GET with a two-minute ticket
//! (post/redirect/get): the browser history then holds no POST that "resubmit" could send
//! again, with her receipt or her words in it, when someone else holds her phone.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use chrono::{DateTime, Utc};

use super::decode::Fields;
use super::i18n::{Lang, Text, CHECKIN_HOURS};
use super::keys::{normalize_pin, normalize_receipt, TokenError};
use super::{error_page, html, notice, read_body, redirect, Choice, Chrome};
use crate::auth::password;
use crate::clock::naive;
use crate::db::models::{Alert, Message, Receipt};
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
    /// What she typed, put back beside the reply error.
    reply_body: String,
    pending: Vec<String>,
    can_checkin: bool,
    hours: Vec<Choice>,
    pin_error: Option<&'static str>,
    pins_error: Option<&'static str>,
    has_pins: bool,
}

/// Errors shown beside a form on the portal page (answered directly, 422).
#[derive(Default)]
struct Flash {
    reply_error: Option<&'static str>,
    reply_body: String,
    pin_error: Option<&'static str>,
    pins_error: Option<&'static str>,
}

/// What a successful POST says on the page it redirects to; carried in the ticket.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Note {
    None,
    Sent,
    PinsSaved,
    Closed,
    CheckinUnavailable,
    CheckinLimit,
}

impl Note {
    fn code(self) -> &'static str {
        match self {
            Note::None => "0",
            Note::Sent => "1",
            Note::PinsSaved => "2",
            Note::Closed => "3",
            Note::CheckinUnavailable => "4",
            Note::CheckinLimit => "5",
        }
    }

    fn parse(s: &str) -> Note {
        match s {
            "1" => Note::Sent,
            "2" => Note::PinsSaved,
            "3" => Note::Closed,
            "4" => Note::CheckinUnavailable,
            "5" => Note::CheckinLimit,
            _ => Note::None,
        }
    }

    fn text(self, t: &'static Text) -> Option<&'static str> {
        match self {
            Note::None => None,
            Note::Sent => Some(t.sent),
            Note::PinsSaved => Some(t.pins_saved),
            Note::Closed => Some(t.closed_note),
            Note::CheckinUnavailable => Some(t.checkin_unavailable),
            Note::CheckinLimit => Some(t.checkin_limit),
        }
    }
}

pub async fn login_page(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let lang = super::query_lang(&req);
    html(&req, StatusCode::OK, &LoginPage { c: Chrome::new(&state, lang, "/status"), error: None })
}

fn login_again(req: &HttpRequest, state: &AppState, lang: Lang) -> HttpResponse {
    let t = lang.text();
    html(
        req,
        StatusCode::UNPROCESSABLE_ENTITY,
        &LoginPage { c: Chrome::new(state, lang, "/status"), error: Some(t.session_over) },
    )
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
        Some(k) => portal::visible_checkins(c, k, alert)?
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

#[allow(clippy::too_many_arguments)]
fn render(
    req: &HttpRequest,
    st: &AppState,
    lang: Lang,
    now: DateTime<Utc>,
    since: i64,
    view: View,
    note: Note,
    flash: Flash,
) -> HttpResponse {
    let t = lang.text();
    let status = if flash.reply_error.is_some() || flash.pin_error.is_some() || flash.pins_error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let page = PortalPage {
        c: Chrome::new(st, lang, "/status"),
        token: st.form.keys.portal_token(&view.alert_id, since, now),
        notice: note.text(t),
        state: match view.state {
            AlertState::Received => t.state_received,
            AlertState::Handling => t.state_handling,
            AlertState::Closed => t.state_closed,
        },
        closed: view.state == AlertState::Closed,
        messages: view.messages,
        max_message: MAX_MESSAGE,
        reply_error: flash.reply_error,
        reply_body: flash.reply_body,
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

/// The redirect to the portal page of `alert_id`, saying `note`, in the session that began
/// at `since`.
fn to_view(
    req: &HttpRequest,
    st: &AppState,
    lang: Lang,
    alert_id: &str,
    note: Note,
    since: i64,
    now: DateTime<Utc>,
) -> HttpResponse {
    let v = st.form.keys.ticket("view", &[alert_id, note.code(), &since.to_string()], now);
    redirect(req, &format!("/status/view?v={v}&lang={}", lang.code()))
}

/// `GET /status/view?v=…`: the portal page a POST redirected to.
pub async fn view(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let lang = super::query_lang(&req);
    let now = state.clock.now();
    let fields = Fields::parse(req.query_string().as_bytes(), &["v", "lang"], &[]).ok();
    let ticket = fields.as_ref().map(|f| f.raw("v").to_string()).unwrap_or_default();
    let (alert_id, note, since) = match state.form.keys.check_ticket("view", &ticket, 3, now) {
        Ok(parts) => match parts[2].parse::<i64>() {
            Ok(since) => (parts[0].clone(), Note::parse(&parts[1]), since),
            Err(_) => return login_again(&req, &state, lang),
        },
        Err(_) => return login_again(&req, &state, lang),
    };
    let st = state.clone();
    let r = state
        .db
        .read(move |c| {
            let alert = Alert::find(c, &alert_id)?.ok_or(AppError::NotFound("alert_not_found"))?;
            load_view(c, &st, &alert)
        })
        .await;
    match r {
        Ok(view) => render(&req, &state, lang, now, since, view, note, Flash::default()),
        Err(AppError::Gone(_) | AppError::NotFound(_)) => login_again(&req, &state, lang),
        Err(e) => error_page(&req, &state, lang, e),
    }
}

/// `GET /status/thanks`: what "I am safe" answers, with the right PIN or the duress PIN.
pub async fn thanks(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let lang = super::query_lang(&req);
    let t = lang.text();
    notice(&req, &state, lang, StatusCode::OK, t.thanks_title, t.thanks_text)
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
    let addr = crate::auth::client_addr(&req, state.config.login.trust_forwarded_for);
    let at = naive(state.clock.now());
    match state.form.guard.may_try(&state.db, addr, at).await {
        Ok(true) => {}
        Ok(false) => return error_page(&req, &state, lang, AppError::TooManyRequests { retry_after_secs: 900 }),
        Err(e) => return error_page(&req, &state, lang, e),
    }
    let wrong = async |state: &AppState| {
        if let Err(e) = state.form.guard.failed(&state.db, addr, at).await {
            return error_page(&req, state, lang, e);
        }
        html(
            &req,
            StatusCode::UNPROCESSABLE_ENTITY,
            &LoginPage { c: Chrome::new(state, lang, "/status"), error: Some(t.err_receipt) },
        )
    };
    // Checked before any hashing: a 10,000-character "receipt" costs nothing.
    let Some(receipt) = normalize_receipt(f.raw("receipt")) else { return wrong(&state).await };
    let st = state.clone();
    let lookup = match password::off_thread(move || st.form.keys.receipt_lookup(&receipt)).await {
        Ok(Ok(l)) => l,
        Ok(Err(e)) | Err(e) => return error_page(&req, &state, lang, e),
    };
    let now = state.clock.now();
    let days = i64::from(state.config.form.receipt_days);
    let found = state
        .db
        .write(move |c| {
            let Some(r) = Receipt::find(c, &lookup)? else { return Ok(None) };
            if naive(now) - r.last_used_at > chrono::Duration::days(days) {
                return Ok(None);
            }
            // A shredded alert's key is gone: the receipt simply stops working.
            let Some(alert) = Alert::find(c, &r.alert_id)? else { return Ok(None) };
            if crate::db::models::CaseKey::latest(c, &alert.id)?.is_none_or(|k| k.shredded_at.is_some()) {
                return Ok(None);
            }
            Receipt::touch(c, &r.lookup, naive(now))?;
            Ok(Some(alert.id))
        })
        .await;
    match found {
        Ok(Some(alert_id)) => to_view(&req, &state, lang, &alert_id, Note::None, now.timestamp(), now),
        Ok(None) => wrong(&state).await,
        Err(e) => error_page(&req, &state, lang, e),
    }
}

/// The alert a portal token names, if the token is genuine and its receipt still works.
async fn session(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    lang: Lang,
    f: &Fields,
    now: DateTime<Utc>,
) -> Result<(String, i64, Receipt), Box<HttpResponse>> {
    let (alert_id, since) = match state.form.keys.check_portal_token(f.raw("t"), now) {
        Ok(session) => session,
        Err(TokenError::Expired) => return Err(Box::new(login_again(req, state, lang))),
        Err(TokenError::Invalid) => {
            return Err(Box::new(error_page(
                req,
                state,
                lang,
                AppError::bad_request("invalid_form", "invalid portal token"),
            )))
        }
    };
    let days = i64::from(state.config.form.receipt_days);
    let id = alert_id.clone();
    let receipt = state.db.read(move |c| Ok(Receipt::for_alert(c, &id)?)).await;
    match receipt {
        Ok(Some(r)) if naive(now) - r.last_used_at <= chrono::Duration::days(days) => Ok((alert_id, since, r)),
        Ok(_) => Err(Box::new(login_again(req, state, lang))),
        Err(e) => Err(Box::new(error_page(req, state, lang, e))),
    }
}

/// A portal POST after the receipt: its body, language, time, alert and receipt row.
struct Posted {
    lang: Lang,
    f: Fields,
    now: DateTime<Utc>,
    alert_id: String,
    /// When this portal session began (the receipt entered), Unix seconds.
    since: i64,
    receipt: Receipt,
}

async fn posted(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    payload: web::Payload,
    fields: &[&str],
) -> Result<Posted, Box<HttpResponse>> {
    let (lang, f) = form(req, state, payload, fields).await?;
    let now = state.clock.now();
    let (alert_id, since, receipt) = session(req, state, lang, &f, now).await?;
    Ok(Posted { lang, f, now, alert_id, since, receipt })
}

/// What a successful action leads to: a redirect to the portal with a note, or the portal
/// page again with an error beside a form.
enum Next {
    View(Note),
    Errors(Flash),
}

/// Runs `act` on the session's alert in one write transaction, then redirects to the portal
/// (or shows it again with the form's error).
async fn act<F>(
    req: HttpRequest,
    state: web::Data<AppState>,
    lang: Lang,
    (alert_id, since): (String, i64),
    now: DateTime<Utc>,
    act: F,
) -> HttpResponse
where
    F: FnOnce(&mut crate::db::DbConn, &AppState, &Alert) -> Result<Next, AppError> + Send + 'static,
{
    let st = state.clone();
    let id = alert_id.clone();
    let r = state
        .db
        .write(move |c| {
            let alert = Alert::find(c, &id)?.ok_or(AppError::NotFound("alert_not_found"))?;
            match act(c, &st, &alert)? {
                Next::View(note) => Ok((note, None)),
                Next::Errors(flash) => Ok((Note::None, Some((load_view(c, &st, &alert)?, flash)))),
            }
        })
        .await;
    match r {
        Ok((note, None)) => to_view(&req, &state, lang, &alert_id, note, since, now),
        Ok((_, Some((view, flash)))) => render(&req, &state, lang, now, since, view, Note::None, flash),
        Err(e) => error_page(&req, &state, lang, e),
    }
}

pub async fn reply(req: HttpRequest, state: web::Data<AppState>, payload: web::Payload) -> HttpResponse {
    let Posted { lang, f, now, alert_id, since, .. } = match posted(&req, &state, payload, &["lang", "t", "body"]).await
    {
        Ok(p) => p,
        Err(res) => return *res,
    };
    let t = lang.text();
    let body = f.raw("body").trim().to_string();
    act(req, state, lang, (alert_id, since), now, move |c, st, alert| {
        if portal::state_of(c, alert)?.0 == AlertState::Closed {
            return Ok(Next::View(Note::Closed));
        }
        let error = if body.is_empty() {
            Some(t.err_required)
        } else if body.chars().count() > MAX_MESSAGE {
            Some(t.err_too_long)
        } else if body.chars().any(|ch| ch.is_control() && !matches!(ch, '\n' | '\r' | '\t')) {
            Some(t.err_generic)
        } else {
            None
        };
        if let Some(e) = error {
            return Ok(Next::Errors(Flash { reply_error: Some(e), reply_body: body, ..Default::default() }));
        }
        match messages::from_defender(c, &st.ctx(now), alert, &body)? {
            Some(_) => Ok(Next::View(Note::Sent)),
            None => {
                Ok(Next::Errors(Flash { reply_error: Some(t.reply_limit), reply_body: body, ..Default::default() }))
            }
        }
    })
    .await
}

pub async fn checkin(req: HttpRequest, state: web::Data<AppState>, payload: web::Payload) -> HttpResponse {
    let Posted { lang, f, now, alert_id, since, .. } =
        match posted(&req, &state, payload, &["lang", "t", "hours"]).await {
            Ok(p) => p,
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
    act(req, state, lang, (alert_id, since), now, move |c, _st, alert| {
        let (s, case) = portal::state_of(c, alert)?;
        match case {
            Some(case) if s == AlertState::Handling => match portal::request_checkin(c, now, &case, alert, hours)? {
                Some(_) => Ok(Next::View(Note::None)),
                None => Ok(Next::View(Note::CheckinLimit)),
            },
            _ => Ok(Next::View(Note::CheckinUnavailable)),
        }
    })
    .await
}

/// What a PIN typed at "I am safe" (or as the current PIN) means.
#[derive(Clone, Copy, PartialEq, Eq)]
enum PinCheck {
    Safe,
    Duress,
    Wrong,
}

/// Argon2id checks, slow on purpose: run on a blocking thread, outside any transaction.
/// The decoy PINs (set under duress) count as the duress PIN, unless the PIN is also her
/// real one (she chose it again later): her own PIN never raises the alarm.
fn check_pin(receipt: &Receipt, typed: &str) -> PinCheck {
    let Some(safe_hash) = &receipt.safe_pin_hash else { return PinCheck::Safe };
    let Some(pin) = normalize_pin(typed) else { return PinCheck::Wrong };
    // All four are always checked (a missing one against a dummy hash), so the time taken
    // does not tell which one matched, nor whether there are decoys.
    let safe = password::verify(&pin, Some(safe_hash));
    let duress = password::verify(&pin, receipt.duress_pin_hash.as_deref());
    let decoy_safe = password::verify(&pin, receipt.decoy_safe_pin_hash.as_deref());
    let decoy_duress = password::verify(&pin, receipt.decoy_duress_pin_hash.as_deref());
    match (safe, duress, decoy_safe || decoy_duress) {
        (_, true, _) => PinCheck::Duress,
        (true, false, _) => PinCheck::Safe,
        (false, false, true) => PinCheck::Duress,
        _ => PinCheck::Wrong,
    }
}

async fn check_pin_blocking(receipt: Receipt, typed: String) -> Result<PinCheck, AppError> {
    password::off_thread(move || check_pin(&receipt, &typed)).await
}

async fn raise_duress(state: &web::Data<AppState>, alert_id: String, now: DateTime<Utc>) -> Result<(), AppError> {
    let st = state.clone();
    state
        .db
        .write(move |c| {
            let alert = Alert::find(c, &alert_id)?.ok_or(AppError::NotFound("alert_not_found"))?;
            portal::duress(c, &st.escalation.rules(), now, &alert)
        })
        .await
}

/// Checks a typed PIN against her receipt. The duress PIN raises the alarm here, locked or
/// not; wrong PINs count against the alert. Once the alert is locked every answer is
/// "too many tries" (an `Err` page), whatever was typed, so the duress PIN cannot be told
/// apart there either. `Ok` is what the caller goes on with.
async fn pin_gate(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    p: &Posted,
    field: &str,
) -> Result<PinCheck, HttpResponse> {
    let at = naive(p.now);
    let locked =
        state.form.guard.pin_locked(&state.db, &p.alert_id, at).await.map_err(|e| error_page(req, state, p.lang, e))?;
    let check = check_pin_blocking(p.receipt.clone(), p.f.raw(field).to_string())
        .await
        .map_err(|e| error_page(req, state, p.lang, e))?;
    match check {
        PinCheck::Duress => {
            raise_duress(state, p.alert_id.clone(), p.now).await.map_err(|e| error_page(req, state, p.lang, e))?
        }
        PinCheck::Wrong => state
            .form
            .guard
            .pin_failed(&state.db, &p.alert_id, at)
            .await
            .map_err(|e| error_page(req, state, p.lang, e))?,
        PinCheck::Safe => {}
    }
    if locked {
        return Err(error_page(req, state, p.lang, AppError::TooManyRequests { retry_after_secs: 900 }));
    }
    Ok(check)
}

/// "I am safe". With the duress PIN the answer is exactly the same, but the case becomes
/// critical and the duress escalation starts. Wrong PINs are counted per alert; once locked,
/// every answer is "too many tries", but the duress PIN still raises the alarm silently.
pub async fn safe(req: HttpRequest, state: web::Data<AppState>, payload: web::Payload) -> HttpResponse {
    let p = match posted(&req, &state, payload, &["lang", "t", "pin"]).await {
        Ok(p) => p,
        Err(res) => return *res,
    };
    let thanks = || redirect(&req, &format!("/status/thanks?lang={}", p.lang.code()));
    match pin_gate(&req, &state, &p, "pin").await {
        Err(page) => page,
        Ok(PinCheck::Duress) => thanks(),
        Ok(PinCheck::Safe) => {
            let (alert_id, now) = (p.alert_id.clone(), p.now);
            let st = state.clone();
            let r = state
                .db
                .write(move |c| {
                    let alert = Alert::find(c, &alert_id)?.ok_or(AppError::NotFound("alert_not_found"))?;
                    let (_, case) = portal::state_of(c, &alert)?;
                    portal::confirm_safe(c, &st.ctx(now), case.as_ref(), &alert)
                })
                .await;
            match r {
                Ok(_) => thanks(),
                Err(e) => error_page(&req, &state, p.lang, e),
            }
        }
        Ok(PinCheck::Wrong) => {
            let t = p.lang.text();
            act(req.clone(), state, p.lang, (p.alert_id, p.since), p.now, move |_, _, _| {
                Ok(Next::Errors(Flash { pin_error: Some(t.err_pin), ..Default::default() }))
            })
            .await
        }
    }
}

/// Sets (or changes, with the current PIN) the check-in PIN and the duress PIN. The duress
/// PIN (or a decoy) given as the current one raises the alarm and answers exactly as a real
/// change would, errors included; the PINs given then become decoys (see
/// `portal::set_decoy_pins`) and her real PINs stay as they were.
pub async fn pins(req: HttpRequest, state: web::Data<AppState>, payload: web::Payload) -> HttpResponse {
    let p = match posted(&req, &state, payload, &["lang", "t", "current", "new_pin", "duress_pin"]).await {
        Ok(p) => p,
        Err(res) => return *res,
    };
    let (lang, now, t) = (p.lang, p.now, p.lang.text());
    let errors = |flash: Flash| {
        let (req, state, session) = (req.clone(), state.clone(), (p.alert_id.clone(), p.since));
        async move { act(req, state, lang, session, now, move |_, _, _| Ok(Next::Errors(flash))).await }
    };
    let mut coerced = false;
    if p.receipt.safe_pin_hash.is_some() {
        match pin_gate(&req, &state, &p, "current").await {
            Err(page) => return page,
            Ok(PinCheck::Duress) => coerced = true,
            Ok(PinCheck::Wrong) => return errors(Flash { pins_error: Some(t.err_pin), ..Default::default() }).await,
            Ok(PinCheck::Safe) => {}
        }
    }
    let (Some(pin), Some(duress)) = (normalize_pin(p.f.raw("new_pin")), normalize_pin(p.f.raw("duress_pin"))) else {
        return errors(Flash { pins_error: Some(t.err_pin_format), ..Default::default() }).await;
    };
    if pin == duress {
        return errors(Flash { pins_error: Some(t.err_pin_same), ..Default::default() }).await;
    }
    let hashed = password::off_thread(move || Ok::<_, AppError>((password::hash(&pin)?, password::hash(&duress)?)));
    let (safe_hash, duress_hash) = match hashed.await {
        Ok(Ok(h)) => h,
        Ok(Err(e)) | Err(e) => return error_page(&req, &state, lang, e),
    };
    let before = p.receipt.safe_pin_hash.clone();
    act(req, state, lang, (p.alert_id, p.since), now, move |c, _st, alert| {
        let current = Receipt::for_alert(c, &alert.id)?.ok_or(AppError::NotFound("alert_not_found"))?;
        if coerced {
            portal::set_decoy_pins(c, now, alert, &current, &safe_hash, &duress_hash)?;
            return Ok(Next::View(Note::PinsSaved));
        }
        // Only if nobody changed the PINs since they were checked above.
        if current.safe_pin_hash != before {
            return Ok(Next::Errors(Flash { pins_error: Some(t.err_pin), ..Default::default() }));
        }
        Receipt::set_pins(c, &current.lookup, &safe_hash, &duress_hash)?;
        let e = crate::audit::Entry::new(None, "receipt.pins_set", "alert", Some(&alert.id));
        crate::audit::record(c, now, e)?;
        Ok(Next::View(Note::PinsSaved))
    })
    .await
}
