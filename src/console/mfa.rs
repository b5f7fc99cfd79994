//! Two-step sign-in in the console: the code step after the password, and her own
//! enrolment (QR code, key, first code, recovery codes shown once) and removal. No script:
//! TOTP is the path that needs none. The rules are `auth::mfa`'s and `auth::session`'s.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::pages::{error_page, notice_page, posted, signed_in, signed_in_now, staff_chrome};
use super::session::{self, Staff};
use super::{html, redirect, Chrome};
use crate::error::AppError;
use crate::i18n::Lang;
use crate::page::decode::Fields;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "login_code.html", config = "src/console/askama.toml")]
struct CodePage {
    c: Chrome,
    ticket: String,
    error: Option<&'static str>,
}

pub(super) fn code_page(
    req: &HttpRequest,
    lang: Lang,
    status: StatusCode,
    ticket: String,
    error: Option<&'static str>,
) -> HttpResponse {
    let c = Chrome::new(lang, None, "/console/login", lang.words().code_title);
    html(req, status, &CodePage { c, ticket, error })
}

/// `POST /console/login/code`: the second step of a sign-in.
pub async fn code_step(req: HttpRequest, state: web::Data<AppState>, payload: web::Payload) -> HttpResponse {
    let fallback = session::guest_lang(&req);
    if super::pages::cross_site(&req) {
        tracing::info!(target: "haven::console", "code step refused: sent from another site");
        return notice_page(&req, None, fallback, StatusCode::FORBIDDEN, fallback.words().err_expired_form);
    }
    let body = match crate::page::read_body(&req, payload).await {
        Ok(b) => b,
        Err(e) => return error_page(&req, None, fallback, e),
    };
    let lang = crate::form::lang_hint(&body).unwrap_or(fallback);
    let w = lang.words();
    let Ok(fields) = Fields::parse(&body, &["ticket", "code", "lang"], &[]) else {
        return error_page(&req, None, lang, AppError::bad_request("invalid_form", "malformed form"));
    };
    let ticket = fields.get("ticket").unwrap_or("").to_string();
    let code = fields.get("code").unwrap_or("").to_string();
    if code.is_empty() {
        return code_page(&req, lang, StatusCode::UNPROCESSABLE_ENTITY, ticket, Some(w.err_required));
    }
    let addr = crate::auth::client_addr(&req, state.config.login.trust_forwarded_for);
    match crate::auth::session::console_code(&state, &ticket, &code, addr).await {
        Ok((user, secret)) => signed_in_now(&req, &state, &user, lang, &secret).await,
        Err(AppError::Unauthorized("mfa_invalid")) => {
            code_page(&req, lang, StatusCode::UNAUTHORIZED, ticket, Some(w.err_code))
        }
        Err(AppError::Unauthorized(_)) => {
            let c = Chrome::new(lang, None, "/console/login", w.login_title);
            let mut page = super::pages::login_form(c);
            page.errors.push(super::pages::FieldError { field: "email", text: w.err_code_expired });
            html(&req, StatusCode::UNAUTHORIZED, &page)
        }
        Err(e @ AppError::TooManyRequests { .. }) => {
            let mut res = code_page(&req, lang, StatusCode::TOO_MANY_REQUESTS, ticket, Some(w.err_throttled));
            crate::page::set_retry_after(&mut res, &e);
            res
        }
        Err(e) => error_page(&req, None, lang, e),
    }
}

struct Pending {
    svg: String,
    key: String,
}

#[derive(Template)]
#[template(path = "mfa.html", config = "src/console/askama.toml")]
struct MfaPage {
    c: Chrome,
    csrf: String,
    must: bool,
    enabled: bool,
    codes_left: i64,
    pending: Option<Pending>,
    error: Option<&'static str>,
}

async fn mfa_page(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    staff: &Staff,
    status: StatusCode,
    error: Option<&'static str>,
) -> HttpResponse {
    let w = staff.lang.words();
    let shown = async {
        let st = crate::auth::mfa::status(state, &staff.user, staff.role).await?;
        let pending = match st.enabled {
            true => None,
            false => match crate::auth::mfa::pending(state, &staff.user).await? {
                Some(e) => {
                    // The key in groups of four, as authenticator apps show and take it.
                    let key = e
                        .secret
                        .as_bytes()
                        .chunks(4)
                        .map(|c| String::from_utf8_lossy(c).into_owned())
                        .collect::<Vec<_>>()
                        .join(" ");
                    Some(Pending { svg: e.qr_svg(w.mfa_qr_label)?, key })
                }
                None => None,
            },
        };
        Ok::<_, AppError>((st, pending))
    };
    let (st, pending) = match shown.await {
        Ok(x) => x,
        Err(e) => return error_page(req, Some(staff), staff.lang, e),
    };
    let mut c = staff_chrome(staff, "/console/account/mfa", w.code_title, "account");
    c.notice = super::pages::notice_of(req, w);
    let page = MfaPage {
        c,
        csrf: staff.masked_csrf(),
        must: staff.must_enrol,
        enabled: st.enabled,
        codes_left: st.recovery_codes_left,
        pending,
        error,
    };
    html(req, status, &page)
}

/// `GET /console/account/mfa`: where she stands, the enrolment in progress, or the button
/// that starts one.
pub async fn page(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    match signed_in(&req, &state, true).await {
        Ok(staff) => mfa_page(&req, &state, &staff, StatusCode::OK, None).await,
        Err(res) => res,
    }
}

/// `POST /console/account/mfa/start`: a new secret, then back to the page that shows it.
pub async fn start(req: HttpRequest, state: web::Data<AppState>, payload: web::Payload) -> HttpResponse {
    let (staff, _) = match posted(&req, &state, payload, &[], true).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    match crate::auth::mfa::enrol(&state, &staff.user).await {
        // Already on (another tab): the page says so.
        Ok(_) | Err(AppError::Conflict { .. }) => redirect(&req, "/console/account/mfa"),
        Err(e) => error_page(&req, Some(&staff), staff.lang, e),
    }
}

#[derive(Template)]
#[template(path = "mfa_codes.html", config = "src/console/askama.toml")]
struct CodesPage {
    c: Chrome,
    codes: Vec<String>,
}

/// `POST /console/account/mfa/confirm`: the first code turns it on; her recovery codes are
/// shown on this answer, once (not through a redirect that could show them again).
pub async fn confirm(req: HttpRequest, state: web::Data<AppState>, payload: web::Payload) -> HttpResponse {
    let (staff, f) = match posted(&req, &state, payload, &["code"], true).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    let w = staff.lang.words();
    let code = f.get("code").unwrap_or("");
    if code.is_empty() {
        return mfa_page(&req, &state, &staff, StatusCode::UNPROCESSABLE_ENTITY, Some(w.err_required)).await;
    }
    match crate::auth::mfa::confirm(&state, &staff.user, code).await {
        Ok(codes) => {
            let mut after = staff;
            after.must_enrol = false;
            let c = staff_chrome(&after, "/console/account/mfa", w.mfa_codes_title, "account");
            html(&req, StatusCode::OK, &CodesPage { c, codes })
        }
        Err(AppError::Unauthorized(_)) => {
            mfa_page(&req, &state, &staff, StatusCode::UNPROCESSABLE_ENTITY, Some(w.err_code)).await
        }
        Err(AppError::Conflict { .. }) => redirect(&req, "/console/account/mfa"),
        Err(e) => error_page(&req, Some(&staff), staff.lang, e),
    }
}

/// `POST /console/account/mfa/off`: with a current code or a recovery code.
pub async fn turn_off(req: HttpRequest, state: web::Data<AppState>, payload: web::Payload) -> HttpResponse {
    let (staff, f) = match posted(&req, &state, payload, &["code"], true).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    let w = staff.lang.words();
    let code = f.get("code").unwrap_or("");
    if code.is_empty() || code.len() > 64 {
        return mfa_page(&req, &state, &staff, StatusCode::UNPROCESSABLE_ENTITY, Some(w.err_required)).await;
    }
    match crate::auth::mfa::disable(&state, &staff.user, code).await {
        Ok(()) => redirect(&req, "/console/account/mfa?n=mfa_off"),
        Err(AppError::Unauthorized(_)) => {
            mfa_page(&req, &state, &staff, StatusCode::UNPROCESSABLE_ENTITY, Some(w.err_code)).await
        }
        Err(e) => error_page(&req, Some(&staff), staff.lang, e),
    }
}
