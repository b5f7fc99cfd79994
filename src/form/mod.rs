//! The secure alert form and the receipt portal: the only part of Haven a defender sees.
//!
//! Server-rendered HTML (askama, checked at compile time), no JavaScript, no cookies, no
//! external resource, one small stylesheet. Every page carries a strict CSP, `no-store` and
//! `no-referrer`, and a quick-exit link. Nothing identifying is logged or stored: the access
//! log has the route pattern only, and abuse counters are in memory, keyed by a hash.

pub mod countries;
mod door;
pub mod guard;
pub mod i18n;
pub mod keys;
mod portal;
mod report;

pub use report::FIELDS as REPORT_FIELDS;
// The page plumbing the form shares with the console.
pub use crate::page::decode;
pub use crate::page::{gzip, read_body, respond, set_retry_after, CSP, MAX_FORM_BODY};

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use crate::error::AppError;
use crate::state::AppState;
use i18n::{Lang, Text};

const STYLESHEET: &str = include_str!("form.css");

/// Built once at start: the form's keys, abuse counters and the intake organisation.
pub struct FormState {
    pub keys: keys::FormKeys,
    pub guard: guard::Guard,
}

impl FormState {
    pub fn new(config: &crate::config::Config, guard_key: crate::auth::throttle::SlotKey) -> anyhow::Result<FormState> {
        Ok(FormState {
            keys: keys::FormKeys::load_or_create(&config.data_dir, config.form.secret.expose())?,
            guard: guard::Guard::new(
                guard_key,
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
