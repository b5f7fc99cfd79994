//! The console's pages. Each reads its input, checks the session (and its CSRF token on a
//! POST), asks the access policy whether the role may, calls the domain, and renders or
//! redirects (post/redirect/get).

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::i18n::Words;
use super::session::{self, Staff};
use super::{html, redirect, with_cookie, Chrome, NoticePage};
use crate::auth::session::ConsoleSignIn;
use crate::authz::Action;
use crate::clock::{naive, ts};
use crate::db::models::alert::AlertFilter;
use crate::db::models::case::CaseFilter;
use crate::error::AppError;
use crate::i18n::Lang;
use crate::page::decode::Fields;
use crate::state::AppState;

/// The header of a signed-in page, with this page's entry of the navigation marked.
pub(super) fn staff_chrome(staff: &Staff, path: &'static str, title: &'static str, section: &'static str) -> Chrome {
    let mut c = Chrome::new(staff.lang, Some(staff), path, title);
    c.section = section;
    c
}

/// A field's error, linked from the summary at the top of the page.
pub(super) struct FieldError {
    pub field: &'static str,
    pub text: &'static str,
}

pub(super) fn error_in(errors: &[FieldError], field: &str) -> Option<&'static str> {
    errors.iter().find(|e| e.field == field).map(|e| e.text)
}

/// The query's `n=` notice, by name (never echoed).
pub(super) fn notice_of(req: &HttpRequest, w: &'static Words) -> Option<&'static str> {
    let n = req.query_string().split('&').find_map(|p| p.strip_prefix("n="))?;
    Some(match n {
        "out" => w.signed_out,
        "ended" => w.session_ended,
        "acked" => w.acknowledged,
        "password" => w.password_changed,
        "language" => w.language_saved,
        "dismissed" => w.dismissed,
        "status" => w.status_changed,
        "note" => w.note_added,
        "assigned" => w.assigned_done,
        "unassigned" => w.unassigned_done,
        "sent" => w.reply_sent,
        "checkin" => w.checkin_asked,
        "checkin_closed" => w.checkin_closed,
        "shared" => w.shared_done,
        "unshared" => w.unshared_done,
        "defender_saved" => w.defender_saved,
        "defender_created" => w.defender_created,
        "defender_linked" => w.defender_linked,
        "mfa_on" => w.mfa_turned_on,
        "mfa_off" => w.mfa_turned_off,
        _ => return None,
    })
}

/// A whole-page message in her language.
pub(super) fn notice_page(
    req: &HttpRequest,
    staff: Option<&Staff>,
    lang: Lang,
    status: StatusCode,
    text: &'static str,
) -> HttpResponse {
    let w = lang.words();
    let (link, link_label) =
        if staff.is_some() { ("/console/", w.back_home) } else { ("/console/login", w.login_title) };
    let page = NoticePage { c: Chrome::new(lang, staff, "/console/", w.err_title), text, link, link_label };
    html(req, status, &page)
}

/// An error as the console's page: what the status says, never the cause (logged).
pub(super) fn error_page(req: &HttpRequest, staff: Option<&Staff>, lang: Lang, e: AppError) -> HttpResponse {
    let w = lang.words();
    let status = actix_web::ResponseError::status_code(&e);
    e.log_cause();
    let text = match status {
        StatusCode::NOT_FOUND => w.not_found,
        StatusCode::FORBIDDEN => w.forbidden,
        StatusCode::TOO_MANY_REQUESTS => w.err_throttled,
        StatusCode::SERVICE_UNAVAILABLE => w.err_unavailable,
        _ => w.err_generic,
    };
    let mut res = notice_page(req, staff, lang, status, text);
    crate::page::set_retry_after(&mut res, &e);
    res
}

/// The signed-in member of staff, or the answer to give instead: the sign-in page (saying
/// her session ended, when a cookie came with the request), or the password page first
/// when she must change hers.
pub(super) async fn signed_in(req: &HttpRequest, state: &AppState, password_page: bool) -> Result<Staff, HttpResponse> {
    match session::current(req, state).await {
        Ok(Some(s)) if s.user.must_change_password && !password_page => Err(redirect(req, "/console/account")),
        Ok(Some(s)) if s.must_enrol && !password_page => Err(redirect(req, "/console/account/mfa")),
        Ok(Some(s)) => Ok(s),
        Ok(None) => {
            let had_cookie = req.headers().get(header::COOKIE).is_some();
            let to = if had_cookie { "/console/login?n=ended" } else { "/console/login" };
            Err(with_cookie(redirect(req, to), &session::clear_cookie(state)))
        }
        Err(e) => Err(error_page(req, None, session::guest_lang(req), e)),
    }
}

/// Whether a POST comes from another site. Browsers say so in `Sec-Fetch-Site`, older ones
/// in `Origin`; a request with neither (not a browser's form) is judged by its CSRF token
/// alone. This also covers the sign-in form, which has no session to take a token from
/// (login CSRF: being signed in to someone else's account).
pub(super) fn cross_site(req: &HttpRequest) -> bool {
    let h = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = h("sec-fetch-site") {
        return !matches!(site, "same-origin" | "none");
    }
    match (h("origin"), h("host")) {
        (Some(origin), Some(host)) => {
            let bare = origin.split_once("://").map_or(origin, |(_, rest)| rest);
            bare != host
        }
        (Some(_), None) => true,
        (None, _) => false,
    }
}

/// A POST's fields, after its session and CSRF token are checked: a form without this
/// session's token changes nothing.
pub(super) async fn posted(
    req: &HttpRequest,
    state: &AppState,
    payload: web::Payload,
    allowed: &[&str],
    password_page: bool,
) -> Result<(Staff, Fields), HttpResponse> {
    posted_with(req, state, payload, allowed, &[], crate::page::decode::MAX_FIELDS, password_page).await
}

/// `posted`, for a form with rows: `rows` may come more than once, up to `max` fields in all.
pub(super) async fn posted_rows(
    req: &HttpRequest,
    state: &AppState,
    payload: web::Payload,
    allowed: &[&str],
    rows: &[&str],
    max: usize,
) -> Result<(Staff, Fields), HttpResponse> {
    posted_with(req, state, payload, allowed, rows, max, false).await
}

async fn posted_with(
    req: &HttpRequest,
    state: &AppState,
    payload: web::Payload,
    allowed: &[&str],
    repeatable: &[&str],
    max: usize,
    password_page: bool,
) -> Result<(Staff, Fields), HttpResponse> {
    let staff = signed_in(req, state, password_page).await?;
    if cross_site(req) {
        tracing::info!(target: "haven::console", "form refused: sent from another site");
        return Err(notice_page(
            req,
            Some(&staff),
            staff.lang,
            StatusCode::FORBIDDEN,
            staff.lang.words().err_expired_form,
        ));
    }
    let body = match crate::page::read_body(req, payload).await {
        Ok(b) => b,
        Err(e) => return Err(error_page(req, Some(&staff), staff.lang, e)),
    };
    let mut all = vec!["csrf"];
    all.extend_from_slice(allowed);
    let Ok(fields) = Fields::parse_at_most(&body, &all, repeatable, max) else {
        let e = AppError::bad_request("invalid_form", "malformed form");
        return Err(error_page(req, Some(&staff), staff.lang, e));
    };
    if !staff.csrf_ok(fields.get("csrf")) {
        tracing::info!(target: "haven::console", "form refused: missing or foreign CSRF token");
        return Err(notice_page(
            req,
            Some(&staff),
            staff.lang,
            StatusCode::FORBIDDEN,
            staff.lang.words().err_expired_form,
        ));
    }
    Ok((staff, fields))
}

// --- Sign-in -------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "login.html", config = "src/console/askama.toml")]
pub(super) struct LoginPage {
    c: Chrome,
    pub errors: Vec<FieldError>,
    email: String,
}

/// The empty sign-in form.
pub(super) fn login_form(c: Chrome) -> LoginPage {
    LoginPage { c, errors: Vec::new(), email: String::new() }
}

impl LoginPage {
    fn error_for(&self, field: &str) -> Option<&'static str> {
        error_in(&self.errors, field)
    }
}

pub async fn login_page(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if let Ok(Some(_)) = session::current(&req, &state).await {
        return redirect(&req, "/console/");
    }
    let lang = session::guest_lang(&req);
    let w = lang.words();
    let mut c = Chrome::new(lang, None, "/console/login", w.login_title);
    c.notice = notice_of(&req, w);
    html(&req, StatusCode::OK, &LoginPage { c, errors: Vec::new(), email: String::new() })
}

pub async fn login(req: HttpRequest, state: web::Data<AppState>, payload: web::Payload) -> HttpResponse {
    let fallback = session::guest_lang(&req);
    if cross_site(&req) {
        tracing::info!(target: "haven::console", "sign-in refused: sent from another site");
        return notice_page(&req, None, fallback, StatusCode::FORBIDDEN, fallback.words().err_expired_form);
    }
    let body = match crate::page::read_body(&req, payload).await {
        Ok(b) => b,
        Err(e) => return error_page(&req, None, fallback, e),
    };
    let lang = crate::form::lang_hint(&body).unwrap_or(fallback);
    let w = lang.words();
    let Ok(fields) = Fields::parse(&body, &["email", "password", "lang"], &[]) else {
        return error_page(&req, None, lang, AppError::bad_request("invalid_form", "malformed form"));
    };
    let email = fields.get("email").unwrap_or("").to_string();
    // Passwords may begin or end with spaces: taken as typed, not trimmed.
    let password = fields.raw("password").to_string();
    let mut errors = Vec::new();
    if email.is_empty() {
        errors.push(FieldError { field: "email", text: w.err_required });
    }
    if password.is_empty() {
        errors.push(FieldError { field: "password", text: w.err_required });
    }
    let render = |status: StatusCode, errors: Vec<FieldError>, email: String| {
        let c = Chrome::new(lang, None, "/console/login", w.login_title);
        html(&req, status, &LoginPage { c, errors, email })
    };
    if !errors.is_empty() {
        return render(StatusCode::UNPROCESSABLE_ENTITY, errors, email);
    }
    let addr = crate::auth::client_addr(&req, state.config.login.trust_forwarded_for);
    match crate::auth::session::console_login(&state, &email, &password, addr).await {
        Ok(ConsoleSignIn::Done(user, secret)) => signed_in_now(&req, &state, &user, lang, &secret).await,
        Ok(ConsoleSignIn::CodeNeeded { ticket }) => super::mfa::code_page(&req, lang, StatusCode::OK, ticket, None),
        Err(AppError::Unauthorized(_)) => {
            render(StatusCode::UNAUTHORIZED, vec![FieldError { field: "email", text: w.err_login }], email)
        }
        Err(e @ AppError::TooManyRequests { .. }) => {
            let mut res = render(
                StatusCode::TOO_MANY_REQUESTS,
                vec![FieldError { field: "email", text: w.err_throttled }],
                email,
            );
            crate::page::set_retry_after(&mut res, &e);
            res
        }
        Err(e) => error_page(&req, None, lang, e),
    }
}

/// Where a fresh sign-in goes: her password first if she must change it, then her second
/// factor if she must enrol one, else her work. The language she signed in with becomes
/// hers when she has none saved, so the pages after it do not switch back to her browser's.
pub(super) async fn signed_in_now(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    user: &crate::db::models::User,
    lang: Lang,
    secret: &str,
) -> HttpResponse {
    if user.language.is_none() {
        let (st, u) = (state.clone(), user.clone());
        let saved =
            state.db.write(move |c| crate::domain::accounts::set_language(c, st.clock.now(), &u, Some(lang))).await;
        if let Err(e) = saved {
            // She is signed in all the same; her pages follow her browser's language.
            e.log_cause();
        }
    }
    let must_enrol = user.mfa_enabled_at.is_none()
        && crate::domain::Role::parse(&user.role).is_some_and(|r| state.access.requires_mfa(r));
    let to = if user.must_change_password {
        "/console/account"
    } else if must_enrol {
        "/console/account/mfa"
    } else {
        "/console/"
    };
    with_cookie(redirect(req, to), &session::set_cookie(state, secret))
}

pub async fn logout(req: HttpRequest, state: web::Data<AppState>, payload: web::Payload) -> HttpResponse {
    let (staff, _) = match posted(&req, &state, payload, &[], true).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    match crate::auth::session::logout(&state, &staff.user.id, &staff.session_id).await {
        Ok(()) => with_cookie(redirect(&req, "/console/login?n=out"), &session::clear_cookie(&state)),
        Err(e) => error_page(&req, Some(&staff), staff.lang, e),
    }
}

// --- My work -------------------------------------------------------------------------------

struct AlertRow {
    id: String,
    received: String,
    kind: &'static str,
    urgency: &'static str,
    country: String,
    duress: bool,
}

struct EscalationRow {
    id: String,
    subject: String,
    started: String,
    next: String,
    step: i32,
    csrf: String,
}

struct CaseRow {
    id: String,
    reference: String,
    severity: &'static str,
    status: &'static str,
    country: String,
    updated: String,
    deadline: Option<super::cases::DeadlineCell>,
}

struct CheckinDueRow {
    case_id: String,
    reference: String,
    due: String,
    missed: bool,
    coerced: bool,
}

struct WaitingRow {
    case_id: String,
    reference: String,
    at: String,
}

#[derive(Template)]
#[template(path = "home.html", config = "src/console/askama.toml")]
struct HomePage {
    c: Chrome,
    /// None: her role does not triage alerts.
    alerts: Option<Vec<AlertRow>>,
    alerts_more: bool,
    escalations: Option<Vec<EscalationRow>>,
    cases: Option<Vec<CaseRow>>,
    checkins_due: Vec<CheckinDueRow>,
    waiting: Vec<WaitingRow>,
}

/// How many rows each part of "My work" shows.
const ALERTS_SHOWN: usize = 50;
const CASES_SHOWN: i64 = 50;
const ESCALATIONS_SHOWN: i64 = 50;
/// Her cases looked at for check-ins due and messages waiting (the newest, beyond "My cases").
const CASES_WATCHED: i64 = 500;
/// Check-ins due within this many hours show on "My work".
const CHECKINS_AHEAD_HOURS: i64 = 48;

pub async fn home(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let staff = match signed_in(&req, &state, false).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    let w = staff.lang.words();
    let st = state.clone();
    let user = staff.user.clone();
    let role = staff.role;
    let loaded = state
        .db
        .read(move |c| {
            let who = crate::domain::cases::Caller { user: &user, role };
            let now = st.clock.now();
            let alerts = if st.access.permits(role, Action::AlertList) {
                Some(crate::domain::alerts::waiting(c, &who, ALERTS_SHOWN as i64 + 1)?)
            } else {
                None
            };
            let escalations = if st.access.permits(role, Action::EscalationList) {
                let (rows, _) =
                    crate::domain::escalations::list(c, &st.access, now, &user, "active", None, ESCALATIONS_SHOWN)?;
                Some(rows)
            } else {
                None
            };
            let mut watch = Watch::default();
            let cases = if st.access.permits(role, Action::CaseList) {
                let mine = (role != crate::domain::Role::Coordinator).then(|| user.id.clone());
                let filter = CaseFilter { assigned_to: mine, ..Default::default() };
                let mut all = crate::domain::cases::list(c, &who, &filter, None, CASES_WATCHED, naive(now))?;
                all.retain(|k| k.status != "closed");
                let ids: Vec<String> = all.iter().map(|k| k.id.clone()).collect();
                let by = naive(now + chrono::Duration::hours(CHECKINS_AHEAD_HOURS));
                if st.access.permits(role, Action::CheckinList) {
                    watch.checkins = crate::db::models::Checkin::pending_due(c, &ids, by)?;
                }
                if st.access.permits(role, Action::MessageList) {
                    watch.waiting = {
                        use crate::domain::messages::{FROM_DEFENDER, TO_DEFENDER};
                        crate::db::models::Message::awaiting_answer(c, &ids, FROM_DEFENDER, TO_DEFENDER)?
                    };
                }
                watch.references = all.iter().map(|k| (k.id.clone(), k.reference.clone())).collect();
                all.truncate(CASES_SHOWN as usize);
                let shown: Vec<String> = all.iter().map(|k| k.id.clone()).collect();
                watch.deadlines = crate::domain::summary::next_deadlines(c, &shown, naive(now))?;
                Some(all)
            } else {
                None
            };
            Ok((alerts, escalations, cases, watch))
        })
        .await;
    let (alerts, escalations, cases, watch) = match loaded {
        Ok(x) => x,
        Err(e) => return error_page(&req, Some(&staff), staff.lang, e),
    };
    let alerts_more = alerts.as_ref().is_some_and(|a| a.len() > ALERTS_SHOWN);
    let alerts = alerts.map(|rows| {
        rows.into_iter()
            .take(ALERTS_SHOWN)
            .map(|a| AlertRow {
                received: ts_short(a.received_at),
                kind: w.kind(&a.kind),
                urgency: w.severity(&a.urgency),
                country: a.country,
                duress: a.duress_at.is_some(),
                id: a.id,
            })
            .collect()
    });
    // The reference as mailed (`HVN-2026-000123`, `alert 5c10177a`), its kind in her language.
    let escalations = escalations.map(|rows| escalation_rows(w, &staff, rows));
    let cases = cases.map(|rows| {
        rows.into_iter()
            .map(|k| CaseRow {
                severity: w.severity(&k.severity),
                status: w.status(&k.status),
                updated: ts_short(k.updated_at),
                deadline: watch.deadlines.get(&k.id).map(|d| super::cases::deadline_cell(w, d)),
                reference: k.reference,
                country: k.country,
                id: k.id,
            })
            .collect()
    });
    let reference = |id: &str| watch.references.get(id).cloned().unwrap_or_default();
    let checkins_due = watch
        .checkins
        .iter()
        .map(|k| CheckinDueRow {
            reference: reference(&k.case_id),
            case_id: k.case_id.clone(),
            due: ts_short(k.due_at),
            missed: k.missed_at.is_some(),
            coerced: k.coerced_at.is_some(),
        })
        .collect();
    let waiting = watch
        .waiting
        .iter()
        .map(|(case_id, at)| WaitingRow { reference: reference(case_id), case_id: case_id.clone(), at: ts_short(*at) })
        .collect();
    let mut c = staff_chrome(&staff, "/console/", w.home_title, "home");
    c.notice = notice_of(&req, w);
    html(&req, StatusCode::OK, &HomePage { c, alerts, alerts_more, escalations, cases, checkins_due, waiting })
}

/// What "My work" watches on her open cases beyond the table of cases.
#[derive(Default)]
struct Watch {
    checkins: Vec<crate::db::models::Checkin>,
    /// (case id, when she wrote) of the cases whose newest message is hers.
    waiting: Vec<(String, chrono::NaiveDateTime)>,
    references: std::collections::BTreeMap<String, String>,
    deadlines: std::collections::BTreeMap<String, crate::domain::summary::NextDeadline>,
}

/// A time as staff read it in a table: `2026-12-04 21:30 UTC`.
pub(super) fn ts_short(t: chrono::NaiveDateTime) -> String {
    let full = ts(t);
    format!("{} {} UTC", &full[..10], &full[11..16])
}

#[derive(Template)]
#[template(path = "escalations.html", config = "src/console/askama.toml")]
struct EscalationsPage {
    c: Chrome,
    rows: Vec<EscalationRow>,
    next: Option<String>,
}

const ESCALATIONS_PER_PAGE: i64 = 50;

/// Hers, active only, oldest first, with their next step's time; acknowledge from here.
pub async fn escalations(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let staff = match signed_in(&req, &state, false).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    if !state.access.permits(staff.role, Action::EscalationList) {
        return error_page(&req, Some(&staff), staff.lang, AppError::Forbidden("forbidden"));
    }
    let w = staff.lang.words();
    let q = Fields::parse(req.query_string().as_bytes(), &["cursor", "lang", "n"], &[]).unwrap_or_default();
    let cursor = q.get("cursor").filter(|c| crate::domain::accounts::is_id(c)).map(str::to_string);
    let (st, user) = (state.clone(), staff.user.clone());
    let loaded = state
        .db
        .read(move |c| {
            crate::domain::escalations::list(
                c,
                &st.access,
                st.clock.now(),
                &user,
                "active",
                cursor,
                ESCALATIONS_PER_PAGE,
            )
        })
        .await;
    let (rows, next) = match loaded {
        Ok(x) => x,
        Err(e) => return error_page(&req, Some(&staff), staff.lang, e),
    };
    let rows = escalation_rows(w, &staff, rows);
    let mut c = staff_chrome(&staff, "/console/escalations", w.escalations_page_title, "escalations");
    c.notice = notice_of(&req, w);
    let next = next.map(|n| format!("/console/escalations?cursor={n}"));
    html(&req, StatusCode::OK, &EscalationsPage { c, rows, next })
}

/// Escalations as tables show them: what about (as the mails name it), started, next step.
fn escalation_rows(w: &'static Words, staff: &Staff, rows: Vec<crate::db::models::Escalation>) -> Vec<EscalationRow> {
    rows.into_iter()
        .map(|e| EscalationRow {
            subject: match e.subject_kind.as_str() {
                "alert" => format!("{} {}", w.subject_alert, e.reference.trim_start_matches("alert ")),
                _ => format!("{} {}", w.subject_case, e.reference),
            },
            started: ts_short(e.created_at),
            next: e.next_due_at.map(ts_short).unwrap_or_default(),
            step: e.step + 1,
            csrf: staff.masked_csrf(),
            id: e.id,
        })
        .collect()
}

pub async fn acknowledge(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    payload: web::Payload,
) -> HttpResponse {
    let (staff, f) = match posted(&req, &state, payload, &["back"], false).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    // Back to the page the button was on: one of the console's own paths, nothing else.
    let back = f.get("back").filter(|b| is_console_path(b)).unwrap_or("/console/").to_string();
    if !state.access.permits(staff.role, Action::EscalationAck) {
        return error_page(&req, Some(&staff), staff.lang, AppError::Forbidden("forbidden"));
    }
    let id = path.into_inner();
    let (st, user) = (state.clone(), staff.user.clone());
    let done = state
        .db
        .write(move |c| crate::domain::escalations::acknowledge(c, &st.access, st.clock.now(), &user, &id))
        .await;
    match done {
        Ok(_) => redirect(&req, &format!("{back}?n=acked")),
        Err(e) => error_page(&req, Some(&staff), staff.lang, e),
    }
}

// --- Account -------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "account.html", config = "src/console/askama.toml")]
struct AccountPage {
    c: Chrome,
    csrf: String,
    must_change: bool,
    mfa_enabled: bool,
    errors: Vec<FieldError>,
}

impl AccountPage {
    fn error_for(&self, field: &str) -> Option<&'static str> {
        error_in(&self.errors, field)
    }
}

fn account_page(req: &HttpRequest, staff: &Staff, status: StatusCode, errors: Vec<FieldError>) -> HttpResponse {
    let w = staff.lang.words();
    let mut c = staff_chrome(staff, "/console/account", w.account_title, "account");
    c.notice = notice_of(req, w);
    let page = AccountPage {
        c,
        csrf: staff.masked_csrf(),
        must_change: staff.user.must_change_password,
        mfa_enabled: staff.user.mfa_enabled_at.is_some(),
        errors,
    };
    html(req, status, &page)
}

pub async fn account(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    match signed_in(&req, &state, true).await {
        Ok(staff) => account_page(&req, &staff, StatusCode::OK, Vec::new()),
        Err(res) => res,
    }
}

pub async fn change_password(req: HttpRequest, state: web::Data<AppState>, payload: web::Payload) -> HttpResponse {
    let (staff, f) = match posted(&req, &state, payload, &["current", "new", "confirm"], true).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    let w = staff.lang.words();
    let (current, new, confirm) = (f.raw("current"), f.raw("new"), f.raw("confirm"));
    let mut errors = Vec::new();
    if current.is_empty() {
        errors.push(FieldError { field: "current", text: w.err_required });
    }
    if new.is_empty() {
        errors.push(FieldError { field: "new", text: w.err_required });
    } else if new != confirm {
        errors.push(FieldError { field: "confirm", text: w.err_password_mismatch });
    }
    if !errors.is_empty() {
        return account_page(&req, &staff, StatusCode::UNPROCESSABLE_ENTITY, errors);
    }
    match crate::auth::session::change_password(&state, &staff.user, &staff.session_id, current, new).await {
        Ok(()) => redirect(&req, "/console/account?n=password"),
        Err(e) => {
            let (field, text, status) = match e.code() {
                "wrong_password" => ("current", w.err_password_wrong, StatusCode::FORBIDDEN),
                "password_unchanged" => ("new", w.err_password_same, StatusCode::UNPROCESSABLE_ENTITY),
                "weak_password" | "password_too_long" => {
                    ("new", w.err_password_short, StatusCode::UNPROCESSABLE_ENTITY)
                }
                _ if matches!(e, AppError::TooManyRequests { .. }) => {
                    ("current", w.err_throttled, StatusCode::TOO_MANY_REQUESTS)
                }
                _ => return error_page(&req, Some(&staff), staff.lang, e),
            };
            let mut res = account_page(&req, &staff, status, vec![FieldError { field, text }]);
            crate::page::set_retry_after(&mut res, &e);
            res
        }
    }
}

pub async fn set_language(req: HttpRequest, state: web::Data<AppState>, payload: web::Payload) -> HttpResponse {
    let (staff, f) = match posted(&req, &state, payload, &["lang", "back"], true).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    let Some(lang) = f.get("lang").and_then(Lang::parse) else {
        return error_page(&req, Some(&staff), staff.lang, AppError::bad_request("invalid_form", "unknown language"));
    };
    // Back to the page she was on: one of the console's own paths, nothing else.
    let back = f.get("back").filter(|b| is_console_path(b)).unwrap_or("/console/").to_string();
    let (st, user) = (state.clone(), staff.user.clone());
    let saved =
        state.db.write(move |c| crate::domain::accounts::set_language(c, st.clock.now(), &user, Some(lang))).await;
    match saved {
        Ok(()) => redirect(&req, &format!("{back}?n=language")),
        Err(e) => error_page(&req, Some(&staff), staff.lang, e),
    }
}

/// `/console/` or a path below it, made of plain path characters (no scheme, no `//`, no
/// query): the only places a language switch may send her back to.
fn is_console_path(p: &str) -> bool {
    (p == "/console/" || p.starts_with("/console/"))
        && !p.contains("//")
        && p.bytes().all(|b| b.is_ascii_alphanumeric() || b"/-_".contains(&b))
}

/// Any other path under `/console`: the console's 404, the same whether the thing does not
/// exist or she may not see it.
pub async fn not_found(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let staff = session::current(&req, &state).await.ok().flatten();
    let lang = staff.as_ref().map_or_else(|| session::guest_lang(&req), |s| s.lang);
    error_page(&req, staff.as_ref(), lang, AppError::NotFound("not_found"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_language_switch_only_goes_back_to_a_console_page() {
        for ok in ["/console/", "/console/account", "/console/cases/0193-ab"] {
            assert!(is_console_path(ok), "{ok}");
        }
        for bad in [
            "/",
            "https://evil.example/console/",
            "//evil.example",
            "/console//evil",
            "/consolex",
            "/console/a?x=1",
            "/api/v1/me",
            "/console/%2F%2Fx",
        ] {
            assert!(!is_console_path(bad), "{bad}");
        }
    }

    #[test]
    fn a_form_from_another_site_is_told_apart() {
        use actix_web::test::TestRequest;
        let with = |headers: &[(&str, &str)]| {
            let mut r = TestRequest::post().uri("/console/login").insert_header(("host", "haven.example.org"));
            for (k, v) in headers {
                r = r.insert_header((*k, *v));
            }
            cross_site(&r.to_http_request())
        };
        assert!(!with(&[]), "no browser headers: the CSRF token decides");
        assert!(!with(&[("sec-fetch-site", "same-origin")]));
        assert!(!with(&[("sec-fetch-site", "none")]), "typed into the address bar");
        assert!(with(&[("sec-fetch-site", "cross-site")]));
        assert!(with(&[("sec-fetch-site", "same-site")]), "a neighbouring subdomain is another site here");
        assert!(!with(&[("origin", "https://haven.example.org")]));
        assert!(with(&[("origin", "https://evil.example")]));
        assert!(with(&[("origin", "null")]));
    }

    #[test]
    fn a_table_time_is_minutes_in_utc() {
        let t = chrono::NaiveDate::from_ymd_opt(2026, 12, 4).unwrap().and_hms_opt(21, 30, 59).unwrap();
        assert_eq!(ts_short(t), "2026-12-04 21:30 UTC");
    }
}

// --- Alerts ----------------------------------------------------------------------------------

struct AlertListRow {
    id: String,
    received: String,
    kind: &'static str,
    urgency: &'static str,
    country: String,
    status: &'static str,
    duress: bool,
}

#[derive(Template)]
#[template(path = "alerts.html", config = "src/console/askama.toml")]
struct AlertsPage {
    c: Chrome,
    status: &'static str,
    statuses: Vec<super::Choice>,
    kinds: Vec<super::Choice>,
    urgencies: Vec<super::Choice>,
    country: String,
    since: String,
    rows: Vec<AlertListRow>,
    next: Option<String>,
}

const ALERTS_PER_PAGE: i64 = 50;

/// The intake queue: her organisation's alerts, newest first, filtered and in pages. The
/// filters are a GET form: the page can be bookmarked, and a malformed value is ignored.
pub async fn alerts(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    use crate::domain::alerts::{AlertKind, AlertStatus};
    let staff = match signed_in(&req, &state, false).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    if !state.access.permits(staff.role, Action::AlertList) {
        return error_page(&req, Some(&staff), staff.lang, AppError::Forbidden("forbidden"));
    }
    let w = staff.lang.words();
    let q = Fields::parse(
        req.query_string().as_bytes(),
        &["status", "kind", "urgency", "country", "since", "cursor", "lang", "n"],
        &[],
    )
    .unwrap_or_default();
    let status = match q.get("status") {
        Some("any") => None,
        Some(s) => AlertStatus::parse(s).or(Some(AlertStatus::Received)),
        None => Some(AlertStatus::Received),
    };
    let kind = q.get("kind").and_then(AlertKind::parse);
    let urgency = q.get("urgency").and_then(crate::domain::cases::Severity::parse);
    let country = q.get("country").map(str::to_ascii_uppercase).filter(|c| crate::domain::country::is_valid(c));
    let since = q.get("since").and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
    let cursor = q.get("cursor").filter(|c| crate::domain::accounts::is_id(c)).map(str::to_string);
    let filter = AlertFilter {
        status: status.map(|s| s.as_str().to_string()),
        kind: kind.map(|k| k.as_str().to_string()),
        urgency: urgency.map(|u| u.as_str().to_string()),
        country: country.clone(),
        received_since: since.and_then(|d| d.and_hms_opt(0, 0, 0)),
    };
    let user = staff.user.clone();
    let role = staff.role;
    let rows = state
        .db
        .read(move |c| {
            let who = crate::domain::cases::Caller { user: &user, role };
            crate::domain::alerts::list(c, &who, &filter, cursor.as_deref(), ALERTS_PER_PAGE + 1)
        })
        .await;
    let mut rows = match rows {
        Ok(r) => r,
        Err(e) => return error_page(&req, Some(&staff), staff.lang, e),
    };
    let more = rows.len() as i64 > ALERTS_PER_PAGE;
    rows.truncate(ALERTS_PER_PAGE as usize);
    let status_code = status.map_or("any", |s| s.as_str());
    let next = more.then(|| {
        let last = rows.last().map(|a| a.id.clone()).unwrap_or_default();
        let mut url = format!("/console/alerts?status={status_code}&cursor={last}");
        if let Some(k) = kind {
            url.push_str(&format!("&kind={}", k.as_str()));
        }
        if let Some(u) = urgency {
            url.push_str(&format!("&urgency={}", u.as_str()));
        }
        if let Some(c) = &country {
            url.push_str(&format!("&country={c}"));
        }
        if let Some(d) = since {
            url.push_str(&format!("&since={}", d.format("%Y-%m-%d")));
        }
        url
    });
    let rows = rows
        .into_iter()
        .map(|a| AlertListRow {
            received: ts_short(a.received_at),
            kind: w.kind(&a.kind),
            urgency: w.severity(&a.urgency),
            status: w.alert_status(&a.status),
            duress: a.duress_at.is_some(),
            country: a.country,
            id: a.id,
        })
        .collect();
    let page = AlertsPage {
        c: staff_chrome(&staff, "/console/alerts", w.alerts_page_title, "alerts"),
        status: status_code,
        statuses: AlertStatus::ALL
            .iter()
            .map(|s| super::Choice {
                value: s.as_str(),
                label: w.alert_status(s.as_str()),
                checked: Some(*s) == status,
            })
            .collect(),
        kinds: AlertKind::ALL
            .iter()
            .map(|k| super::Choice { value: k.as_str(), label: w.kind(k.as_str()), checked: Some(*k) == kind })
            .collect(),
        urgencies: crate::domain::cases::Severity::ALL
            .iter()
            .rev()
            .map(|u| super::Choice { value: u.as_str(), label: w.severity(u.as_str()), checked: Some(*u) == urgency })
            .collect(),
        country: country.unwrap_or_default(),
        since: since.map(|d| d.format("%Y-%m-%d").to_string()).unwrap_or_default(),
        rows,
        next,
    };
    html(&req, StatusCode::OK, &page)
}

struct MessageLine {
    at: String,
    body: String,
}

#[derive(Template)]
#[template(path = "alert.html", config = "src/console/askama.toml")]
struct AlertPage {
    c: Chrome,
    id: String,
    short_id: String,
    version: i32,
    csrf: String,
    status: &'static str,
    /// The case it went into, when she may read it: (id, reference).
    case: Option<(String, String)>,
    /// The defender record it names, when she may read it: (id, pseudonym).
    her_record: Option<(String, String)>,
    kind: &'static str,
    urgency: &'static str,
    received: String,
    occurred: Option<String>,
    country: String,
    region: Option<String>,
    reporter: Option<String>,
    safe_contact: Option<String>,
    consent: Vec<&'static str>,
    source: &'static str,
    narrative: String,
    duress: bool,
    /// None: she may not read them (only the receiving coordinators may).
    messages: Option<Vec<MessageLine>>,
    can_triage: bool,
    severities: Vec<super::Choice>,
    errors: Vec<FieldError>,
    typed_summary: String,
    typed_reference: String,
    typed_reason: String,
}

impl AlertPage {
    fn error_for(&self, field: &str) -> Option<&'static str> {
        error_in(&self.errors, field)
    }
}

/// What she typed into the alert page's forms, kept when the page comes back with an error.
#[derive(Default)]
struct Typed {
    severity: Option<crate::domain::cases::Severity>,
    summary: String,
    reference: String,
    reason: String,
}

/// How a page with forms comes back after one of them: its status, a notice, the errors,
/// what she typed (`T`, the page's own).
pub(super) struct Again<T> {
    pub status: StatusCode,
    pub notice: Option<&'static str>,
    pub errors: Vec<FieldError>,
    pub typed: T,
}

impl<T: Default> Again<T> {
    /// The page as it is, nothing typed.
    pub fn fresh() -> Again<T> {
        Again { status: StatusCode::OK, notice: None, errors: Vec::new(), typed: T::default() }
    }
}

impl<T> Again<T> {
    pub fn with_errors(errors: Vec<FieldError>, typed: T) -> Again<T> {
        Again { status: StatusCode::UNPROCESSABLE_ENTITY, notice: None, errors, typed }
    }

    pub fn error(field: &'static str, text: &'static str, typed: T) -> Again<T> {
        Again::with_errors(vec![FieldError { field, text }], typed)
    }

    /// The page again with what she typed and no error (she asked for another row).
    pub fn with_status(status: StatusCode, typed: T) -> Again<T> {
        Again { status, notice: None, errors: Vec::new(), typed }
    }

    pub fn conflict(notice: &'static str, typed: T) -> Again<T> {
        Again { status: StatusCode::CONFLICT, notice: Some(notice), errors: Vec::new(), typed }
    }
}

/// What to tell her when her form met an alert that changed meanwhile (another version, or
/// already triaged or dismissed); None for any other error.
fn stale_notice(e: &AppError, w: &'static Words) -> Option<&'static str> {
    match e {
        AppError::PreconditionFailed => Some(w.changed_meanwhile),
        AppError::Conflict { code: "alert_not_received", .. } => Some(w.already_handled),
        _ => None,
    }
}

/// The alert page, loaded through need-to-know (`alert.read`): a foreign or missing alert is
/// the console's 404.
async fn alert_view(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    staff: &Staff,
    id: String,
    again: Again<Typed>,
) -> HttpResponse {
    let Again { status, notice, errors, typed } = again;
    use crate::domain::cases::Severity;
    let w = staff.lang.words();
    let (st, user, role) = (state.clone(), staff.user.clone(), staff.role);
    let loaded = state
        .db
        .read(move |c| {
            let who = crate::domain::cases::Caller { user: &user, role };
            let now = naive(st.clock.now());
            let access = crate::domain::alerts::load_access(c, &st.access, &who, &id, Action::AlertRead, now)?;
            // Her role may, and so may her relation to this alert.
            let may = |action: Action| st.access.permits(role, action) && access.may(&st.access, action);
            let can_triage = access.alert.status == "received" && may(Action::AlertTriage);
            let messages = if may(Action::AlertMessages) {
                let rows = crate::db::models::Message::for_alert_desc(c, &access.alert.id)?;
                let bodies = crate::domain::messages::open_all(c, &st.crypto, &rows)?;
                Some(
                    rows.into_iter()
                        .zip(bodies)
                        .map(|(m, body)| MessageLine { at: ts_short(m.created_at), body })
                        .collect::<Vec<_>>(),
                )
            } else {
                None
            };
            // Her record, when the alert names one she may read.
            let her_record = match &access.alert.defender_id {
                Some(d) if st.access.permits(role, Action::DefenderRead) => {
                    match crate::domain::defenders::load_for(c, &st.access, &who, d, Action::DefenderRead, now) {
                        Ok(d) => Some((d.id, d.pseudonym)),
                        Err(AppError::NotFound(_)) => None,
                        Err(e) => return Err(e),
                    }
                }
                _ => None,
            };
            let case = access.case.map(|k| (k.id, k.reference));
            let alert = access.alert;
            let detail = crate::domain::alerts::detail(c, &st.crypto, alert)?;
            Ok((detail, can_triage, messages, case, her_record))
        })
        .await;
    let (d, can_triage, messages, case, her_record) = match loaded {
        Ok(x) => x,
        Err(e) => return error_page(req, Some(staff), staff.lang, e),
    };
    let a = &d.alert;
    let consent: Vec<String> = serde_json::from_str(&a.consent_scope).unwrap_or_default();
    let current = Severity::parse(&a.urgency);
    let chosen = typed.severity.or(current);
    let mut c = staff_chrome(staff, "/console/alerts", w.alert_title, "alerts");
    c.notice = notice.or_else(|| notice_of(req, w));
    let page = AlertPage {
        c,
        // As the mails name it (`alert 5c10177a`): the id's last eight characters, its random part.
        short_id: a.id[a.id.len().saturating_sub(8)..].to_string(),
        version: a.version,
        csrf: staff.masked_csrf(),
        status: w.alert_status(&a.status),
        case,
        her_record,
        kind: w.kind(&a.kind),
        urgency: w.severity(&a.urgency),
        received: ts_short(a.received_at),
        occurred: d.occurred_on.clone(),
        country: a.country.clone(),
        region: d.region.clone(),
        reporter: d.reporter_name.clone(),
        safe_contact: d.safe_contact.clone(),
        consent: consent.iter().map(|k| w.org_kind(k)).collect(),
        source: if a.source == "form" { w.source_form } else { w.source_staff },
        narrative: d.narrative.clone(),
        duress: a.duress_at.is_some(),
        messages,
        can_triage,
        severities: Severity::ALL
            .iter()
            .map(|s| super::Choice { value: s.as_str(), label: w.severity(s.as_str()), checked: Some(*s) == chosen })
            .collect(),
        errors,
        typed_summary: typed.summary,
        typed_reference: typed.reference,
        typed_reason: typed.reason,
        id: a.id.clone(),
    };
    html(req, status, &page)
}

pub async fn alert(req: HttpRequest, state: web::Data<AppState>, path: web::Path<String>) -> HttpResponse {
    let staff = match signed_in(&req, &state, false).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    if !state.access.permits(staff.role, Action::AlertRead) {
        return error_page(&req, Some(&staff), staff.lang, AppError::Forbidden("forbidden"));
    }
    alert_view(&req, &state, &staff, path.into_inner(), Again::fresh()).await
}

/// Triage into a new case, or into an existing one found by its reference: one domain call,
/// one transaction. A form sent on an older version of the alert comes back with the alert as
/// it is now and what she typed.
pub async fn triage(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    payload: web::Payload,
) -> HttpResponse {
    use crate::domain::alerts::TriageTarget;
    use crate::domain::cases::Severity;
    let (staff, f) =
        match posted(&req, &state, payload, &["version", "mode", "severity", "summary", "reference"], false).await {
            Ok(x) => x,
            Err(res) => return res,
        };
    if !state.access.permits(staff.role, Action::AlertTriage) {
        return error_page(&req, Some(&staff), staff.lang, AppError::Forbidden("forbidden"));
    }
    let w = staff.lang.words();
    let id = path.into_inner();
    let version = f.get("version").and_then(|v| v.parse::<i32>().ok());
    let typed = Typed {
        severity: f.get("severity").and_then(Severity::parse),
        summary: f.raw("summary").to_string(),
        reference: f.get("reference").unwrap_or("").to_string(),
        reason: String::new(),
    };
    let existing = f.get("mode") == Some("existing");
    if existing && typed.reference.is_empty() {
        return alert_view(&req, &state, &staff, id, Again::error("reference", w.err_required, typed)).await;
    }
    let (st, user, role) = (state.clone(), staff.user.clone(), staff.role);
    let (aid, reference, severity, summary) = (
        id.clone(),
        typed.reference.clone(),
        typed.severity,
        Some(typed.summary.trim().to_string()).filter(|s| !s.is_empty()),
    );
    let done = state
        .db
        .write(move |c| {
            let who = crate::domain::cases::Caller { user: &user, role };
            let now = st.clock.now();
            let alert = crate::domain::alerts::load_for(c, &st.access, &who, &aid, Action::AlertTriage, naive(now))?;
            let target = if existing {
                match crate::domain::cases::find_by_reference(c, &who, &reference, naive(now))? {
                    Some(case) => TriageTarget::ExistingCase(case.id),
                    None => return Ok(None),
                }
            } else {
                TriageTarget::NewCase { severity, summary, defender_id: None }
            };
            crate::domain::alerts::triage(c, &st.ctx(now), &who, &alert, version, target).map(Some)
        })
        .await;
    match done {
        Ok(Some(_case)) => redirect(&req, &format!("/console/alerts/{id}")),
        Ok(None) => {
            alert_view(&req, &state, &staff, id, Again::error("reference", w.err_reference_unknown, typed)).await
        }
        Err(e) if stale_notice(&e, w).is_some() => {
            alert_view(&req, &state, &staff, id, Again::conflict(stale_notice(&e, w).unwrap_or_default(), typed)).await
        }
        Err(e @ AppError::Unprocessable { .. }) if existing => {
            // The case exists for her but she may not change it (read-only through a share).
            e.log_cause();
            alert_view(&req, &state, &staff, id, Again::error("reference", w.err_reference_unknown, typed)).await
        }
        Err(e) => error_page(&req, Some(&staff), staff.lang, e),
    }
}

pub async fn dismiss(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    payload: web::Payload,
) -> HttpResponse {
    let (staff, f) = match posted(&req, &state, payload, &["version", "reason"], false).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    if !state.access.permits(staff.role, Action::AlertDismiss) {
        return error_page(&req, Some(&staff), staff.lang, AppError::Forbidden("forbidden"));
    }
    let w = staff.lang.words();
    let id = path.into_inner();
    let version = f.get("version").and_then(|v| v.parse::<i32>().ok());
    let typed = Typed { reason: f.raw("reason").to_string(), ..Default::default() };
    if typed.reason.trim().is_empty() {
        return alert_view(&req, &state, &staff, id, Again::error("reason", w.err_required, typed)).await;
    }
    let (st, user, role, aid, reason) =
        (state.clone(), staff.user.clone(), staff.role, id.clone(), typed.reason.clone());
    let done = state
        .db
        .write(move |c| {
            let who = crate::domain::cases::Caller { user: &user, role };
            let now = st.clock.now();
            let alert = crate::domain::alerts::load_for(c, &st.access, &who, &aid, Action::AlertDismiss, naive(now))?;
            crate::domain::alerts::dismiss(c, &st.ctx(now), &who, &alert, version, &reason)
        })
        .await;
    match done {
        Ok(()) => redirect(&req, &format!("/console/alerts/{id}?n=dismissed")),
        Err(e) if stale_notice(&e, w).is_some() => {
            alert_view(&req, &state, &staff, id, Again::conflict(stale_notice(&e, w).unwrap_or_default(), typed)).await
        }
        Err(e) => error_page(&req, Some(&staff), staff.lang, e),
    }
}
