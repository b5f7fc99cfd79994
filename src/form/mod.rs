//! The secure alert form and the receipt portal: the only part of Haven a defender sees.
//!
//! Server-rendered HTML (askama, checked at compile time), no JavaScript, no cookies, no
//! external resource, one small stylesheet. Every page carries a strict CSP, `no-store` and
//! `no-referrer`, and a quick-exit link. Nothing identifying is logged or stored: the access
//! log has the route pattern only, and abuse counters are in memory, keyed by a hash.

pub mod countries;
pub mod decode;
mod door;
pub mod guard;
pub mod i18n;
pub mod keys;
mod portal;
mod report;

pub use report::FIELDS as REPORT_FIELDS;

use std::io::Write;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use futures_util::StreamExt;

use crate::error::AppError;
use crate::state::AppState;
use i18n::{Lang, Text};

/// The form's CSP: nothing but this origin's stylesheet (and images), forms only to here.
pub const CSP: &str =
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'";
/// Largest form body: a 20,000-character narrative in Arabic, percent-encoded, fits.
pub const MAX_FORM_BODY: usize = 256 * 1024;

const STYLESHEET: &str = include_str!("form.css");

/// Built once at start: the form's keys, abuse counters and the intake organisation.
pub struct FormState {
    pub keys: keys::FormKeys,
    pub guard: guard::Guard,
}

impl FormState {
    pub fn new(config: &crate::config::Config) -> anyhow::Result<FormState> {
        Ok(FormState {
            keys: keys::FormKeys::load_or_create(&config.data_dir, config.form.secret.expose())?,
            guard: guard::Guard::new(
                config.form.reports_per_address_per_hour,
                config.form.receipt_failures_per_address,
            ),
        })
    }

    /// The organisation that receives form alerts, or None while the form is closed (see
    /// `domain::intake`: no such organisation, or nobody there who could read them).
    pub fn organization(
        conn: &mut crate::db::DbConn,
        config: &crate::config::Config,
    ) -> Result<Option<String>, AppError> {
        Ok(crate::domain::intake::status(conn, config)?.open_for().map(str::to_string))
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    // Only `GET /` is the door: every other unknown path stays the API's JSON 404.
    cfg.route("/", web::get().to(door::show))
        .route("/report", web::get().to(report::show))
        .route("/report", web::post().to(report::submit))
        .route("/status", web::get().to(portal::login_page))
        .route("/status", web::post().to(portal::open))
        .route("/status/reply", web::post().to(portal::reply))
        .route("/status/checkin", web::post().to(portal::checkin))
        .route("/status/safe", web::post().to(portal::safe))
        .route("/status/pins", web::post().to(portal::pins))
        .route("/status/view", web::get().to(portal::view))
        .route("/status/thanks", web::get().to(portal::thanks))
        .route("/report/receipt", web::get().to(report::receipt_page))
        .route("/report/receipt", web::post().to(report::receipt_in_language))
        .route("/form.css", web::get().to(stylesheet))
        // Registered last: any other path under her pages gets her pages' own 404.
        .route("/report/{tail:.*}", web::to(not_found))
        .route("/status/{tail:.*}", web::to(not_found));
}

/// Any other path under the defender's pages: "this page does not exist" in her language,
/// as one of her pages, not the API's JSON (which would tell an onlooker what runs here).
async fn not_found(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    error_page(&req, &state, query_lang(&req), AppError::NotFound("not_found"))
}

/// A language in the switch.
pub struct LangLink {
    pub code: &'static str,
    pub name: &'static str,
    pub current: bool,
}

/// What every page shows: language, quick exit, language switch.
pub struct Chrome {
    pub lang: Lang,
    pub t: &'static Text,
    /// `form.page_title`: the same neutral title on every page, in every language.
    pub page_title: String,
    pub quick_exit: String,
    /// This page's path, for the language switch.
    pub path: &'static str,
    pub langs: Vec<LangLink>,
    /// On the receipt page: the language switch is a POST of this ticket (the receipt page
    /// must not be lost by changing language, and a ticket never goes into a link).
    pub receipt_ticket: Option<String>,
}

impl Chrome {
    pub fn new(state: &AppState, lang: Lang, path: &'static str) -> Chrome {
        Chrome {
            lang,
            t: lang.text(),
            page_title: state.config.form.page_title.clone(),
            quick_exit: state.config.form.quick_exit_url.clone(),
            path,
            langs: Lang::ALL.iter().map(|l| LangLink { code: l.code(), name: l.name(), current: *l == lang }).collect(),
            receipt_ticket: None,
        }
    }
}

/// An option of a radio group, checkbox group or select.
pub struct Choice {
    pub value: &'static str,
    pub label: &'static str,
    pub checked: bool,
}

#[derive(Template)]
#[template(path = "notice.html", config = "src/form/askama.toml")]
pub struct NoticePage {
    pub c: Chrome,
    pub title: &'static str,
    pub text: &'static str,
    pub link: &'static str,
    pub link_label: &'static str,
}

/// A page with the form's headers. Responses to GET may be compressed (they echo nothing
/// the client sent); answers to POST never are, so a receipt is never compressed beside
/// text an attacker might inject (BREACH).
pub fn html(req: &HttpRequest, status: StatusCode, page: &impl Template) -> HttpResponse {
    match page.render() {
        Ok(body) => respond(req, status, "text/html; charset=utf-8", body.into_bytes()),
        Err(e) => {
            tracing::error!(target: "haven::form", error = %e, "template failed");
            HttpResponse::InternalServerError()
                .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
                .insert_header((header::CONTENT_TYPE, "text/plain; charset=utf-8"))
                .body("error")
        }
    }
}

/// `303 See Other` to a page of the form (post/redirect/get), with the form's headers.
pub fn redirect(req: &HttpRequest, location: &str) -> HttpResponse {
    let mut res = respond(req, StatusCode::SEE_OTHER, "text/plain; charset=utf-8", Vec::new());
    if let Ok(v) = header::HeaderValue::from_str(location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res
}

pub(crate) fn respond(req: &HttpRequest, status: StatusCode, content_type: &str, body: Vec<u8>) -> HttpResponse {
    let mut res = HttpResponse::build(status);
    res.insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header(("Permissions-Policy", "interest-cohort=()"))
        .insert_header((header::VARY, "Accept-Encoding, Accept-Language"));
    let gzip_ok = req.method() == actix_web::http::Method::GET
        && req
            .headers()
            .get(header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|p| p.trim().split(';').next() == Some("gzip")));
    if gzip_ok {
        if let Some(z) = gzip(&body) {
            res.insert_header((header::CONTENT_ENCODING, "gzip"));
            return res.body(z);
        }
    }
    res.body(body)
}

pub fn gzip(body: &[u8]) -> Option<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(body).ok()?;
    enc.finish().ok()
}

async fn stylesheet(req: HttpRequest) -> HttpResponse {
    respond(&req, StatusCode::OK, "text/css; charset=utf-8", STYLESHEET.as_bytes().to_vec())
}

/// A whole-page message: errors, "thank you", "already sent".
pub fn notice(
    req: &HttpRequest,
    state: &AppState,
    lang: Lang,
    status: StatusCode,
    title: &'static str,
    text: &'static str,
) -> HttpResponse {
    let t = lang.text();
    let (link, link_label) =
        if req.path().starts_with("/status") { ("/status", t.status_link) } else { ("/report", t.new_report_link) };
    html(req, status, &NoticePage { c: Chrome::new(state, lang, "/report"), title, text, link, link_label })
}

/// An error as a page in her language; causes of server failures are logged (never what
/// she sent).
pub fn error_page(req: &HttpRequest, state: &AppState, lang: Lang, e: AppError) -> HttpResponse {
    let t = lang.text();
    let status = actix_web::ResponseError::status_code(&e);
    e.log_cause();
    let text = match &e {
        AppError::PayloadTooLarge => t.err_too_large,
        AppError::TooManyRequests { .. } => t.err_rate,
        AppError::NotFound(_) => t.err_not_found,
        _ => t.err_generic,
    };
    let mut res = notice(req, state, lang, status, t.err_title, text);
    set_retry_after(&mut res, &e);
    res
}

/// The `Retry-After` of a page answering `e`: the throttle's wait, or 30 s when the service
/// is unavailable for a moment.
pub fn set_retry_after(res: &mut HttpResponse, e: &AppError) {
    let value = match e {
        AppError::TooManyRequests { retry_after_secs } => {
            header::HeaderValue::from_str(&retry_after_secs.to_string()).ok()
        }
        _ if actix_web::ResponseError::status_code(e) == StatusCode::SERVICE_UNAVAILABLE => {
            Some(header::HeaderValue::from_static("30"))
        }
        _ => None,
    };
    if let Some(v) = value {
        res.headers_mut().insert(header::RETRY_AFTER, v);
    }
}

/// Reads a form body: only `application/x-www-form-urlencoded`, at most `MAX_FORM_BODY`
/// bytes (refused as soon as the limit is passed, without reading the rest).
pub async fn read_body(req: &HttpRequest, mut payload: web::Payload) -> Result<Vec<u8>, AppError> {
    let ct = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if ct.split(';').next().map(str::trim) != Some("application/x-www-form-urlencoded") {
        return Err(AppError::bad_request("unsupported_media_type", "a form body is expected"));
    }
    if let Some(len) =
        req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok())
    {
        if len > MAX_FORM_BODY {
            return Err(AppError::PayloadTooLarge);
        }
    }
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| AppError::bad_request("invalid_body", "the body could not be read"))?;
        if body.len() + chunk.len() > MAX_FORM_BODY {
            return Err(AppError::PayloadTooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The `lang` field of a form body, if it can be found before full decoding (so even an
/// error about the body is in her language).
pub fn lang_hint(body: &[u8]) -> Option<Lang> {
    body.split(|b| *b == b'&')
        .find_map(|p| p.strip_prefix(b"lang="))
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(Lang::parse)
}

/// The language of a GET: `?lang=`, else Accept-Language. Other query parameters are
/// ignored, a malformed query is as good as none.
pub fn query_lang(req: &HttpRequest) -> Lang {
    let explicit = req.query_string().split('&').find_map(|p| p.strip_prefix("lang="));
    Lang::choose(explicit, req)
}
