//! The staff console under `/console`: server-rendered pages (askama) that work completely
//! without JavaScript, with the form's strict CSP, in the form's four languages.
//!
//! It is a door like the API: every page reads and changes through the same domain
//! functions, and every permission is the access policy's (`AccessPolicy::permits` for the
//! role, the domain's need-to-know for the object). It decides nothing of its own.

mod cases;
mod defenders;
pub mod i18n;
mod mfa;
mod pages;
pub mod session;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use crate::i18n::Lang;
use i18n::Words;

const STYLESHEET: &str = include_str!("console.css");

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/console", web::get().to(|req: HttpRequest| async move { redirect(&req, "/console/") })).service(
        web::scope("/console")
            .route("/", web::get().to(pages::home))
            .route("/login", web::get().to(pages::login_page))
            .route("/login", web::post().to(pages::login))
            .route("/login/code", web::post().to(mfa::code_step))
            .route("/logout", web::post().to(pages::logout))
            .route("/account", web::get().to(pages::account))
            .route("/account/password", web::post().to(pages::change_password))
            .route("/account/mfa", web::get().to(mfa::page))
            .route("/account/mfa/start", web::post().to(mfa::start))
            .route("/account/mfa/confirm", web::post().to(mfa::confirm))
            .route("/account/mfa/off", web::post().to(mfa::turn_off))
            .route("/language", web::post().to(pages::set_language))
            .route("/escalations", web::get().to(pages::escalations))
            .route("/escalations/{id}/ack", web::post().to(pages::acknowledge))
            .route("/alerts", web::get().to(pages::alerts))
            .route("/alerts/{id}", web::get().to(pages::alert))
            .route("/alerts/{id}/triage", web::post().to(pages::triage))
            .route("/alerts/{id}/dismiss", web::post().to(pages::dismiss))
            .route("/cases", web::get().to(cases::list))
            .route("/cases/{id}", web::get().to(cases::file))
            .route("/cases/{id}/status", web::post().to(cases::move_on))
            .route("/cases/{id}/notes", web::post().to(cases::add_note))
            .route("/cases/{id}/assignees", web::post().to(cases::assign))
            .route("/cases/{id}/assignees/remove", web::post().to(cases::unassign))
            .route("/cases/{id}/messages", web::post().to(cases::reply))
            .route("/cases/{id}/shares", web::post().to(cases::share))
            .route("/cases/{id}/shares/end", web::post().to(cases::unshare))
            .route("/cases/{id}/checkins", web::post().to(cases::ask_checkin))
            .route("/cases/{id}/checkins/{checkin}/close", web::post().to(cases::close_checkin))
            .route("/cases/{id}/defender", web::post().to(defenders::attach_to_case))
            .route("/defenders", web::get().to(defenders::list))
            .route("/defenders/new", web::get().to(defenders::new_record))
            .route("/defenders/new", web::post().to(defenders::create))
            .route("/defenders/{id}", web::get().to(defenders::record))
            .route("/defenders/{id}", web::post().to(defenders::update))
            .route("/console.css", web::get().to(stylesheet))
            .default_service(web::to(pages::not_found)),
    );
}

async fn stylesheet(req: HttpRequest) -> HttpResponse {
    crate::page::respond(&req, StatusCode::OK, "text/css; charset=utf-8", STYLESHEET.as_bytes().to_vec())
}

/// An option of a select or radio group.
pub struct Choice {
    pub value: &'static str,
    pub label: &'static str,
    pub checked: bool,
}

/// A language in the switch.
pub struct LangLink {
    pub code: &'static str,
    pub name: &'static str,
    pub current: bool,
}

/// Who is signed in, as the header shows her.
pub struct StaffView {
    pub name: String,
    pub csrf: String,
}

/// What every page has: language, title, the signed-in header (or the language links).
pub struct Chrome {
    pub lang: Lang,
    pub w: &'static Words,
    pub title: &'static str,
    pub staff: Option<StaffView>,
    /// This page's path: the language switch comes back here.
    pub path: &'static str,
    /// Which entry of the navigation is this page's.
    pub section: &'static str,
    pub langs: Vec<LangLink>,
    pub notice: Option<&'static str>,
    /// Her role lists alerts: the navigation shows "Alerts".
    pub show_alerts: bool,
    /// Her role lists cases: the navigation shows "Cases".
    pub show_cases: bool,
    /// Her role lists escalations: the navigation shows "Escalations".
    pub show_escalations: bool,
}

impl Chrome {
    pub fn new(lang: Lang, staff: Option<&session::Staff>, path: &'static str, title: &'static str) -> Chrome {
        Chrome {
            lang,
            w: lang.words(),
            title,
            staff: staff.map(|s| StaffView { name: s.user.name.clone(), csrf: s.masked_csrf() }),
            path,
            section: "",
            langs: Lang::ALL.iter().map(|l| LangLink { code: l.code(), name: l.name(), current: *l == lang }).collect(),
            notice: None,
            show_alerts: staff.is_some_and(|s| s.lists_alerts),
            show_cases: staff.is_some_and(|s| s.lists_cases),
            show_escalations: staff.is_some_and(|s| s.lists_escalations),
        }
    }
}

#[derive(Template)]
#[template(path = "notice.html", config = "src/console/askama.toml")]
pub struct NoticePage {
    pub c: Chrome,
    pub text: &'static str,
    pub link: &'static str,
    pub link_label: &'static str,
}

/// A page with the console's headers (those of the form: strict CSP, no-store, no-referrer).
pub fn html(req: &HttpRequest, status: StatusCode, page: &impl Template) -> HttpResponse {
    match page.render() {
        Ok(body) => crate::page::respond(req, status, "text/html; charset=utf-8", body.into_bytes()),
        Err(e) => {
            tracing::error!(target: "haven::console", error = %e, "template failed");
            crate::page::respond(req, StatusCode::INTERNAL_SERVER_ERROR, "text/plain; charset=utf-8", b"error".to_vec())
        }
    }
}

/// `303 See Other` (post/redirect/get), with the console's headers.
pub fn redirect(req: &HttpRequest, location: &str) -> HttpResponse {
    let mut res = crate::page::respond(req, StatusCode::SEE_OTHER, "text/plain; charset=utf-8", Vec::new());
    if let Ok(v) = header::HeaderValue::from_str(location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res
}

/// Adds a `Set-Cookie` to a response.
pub fn with_cookie(mut res: HttpResponse, cookie: &str) -> HttpResponse {
    if let Ok(v) = header::HeaderValue::from_str(cookie) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}
