//! `GET /`: the door. A small page in her language that leads to the form and to the
//! status page, worded so that it says little to someone looking over her shoulder. It
//! reads nothing from the database: the door opens even when the form is closed.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::{html, Chrome};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "door.html", config = "src/form/askama.toml")]
struct DoorPage {
    c: Chrome,
}

pub async fn show(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let lang = super::query_lang(&req);
    html(&req, StatusCode::OK, &DoorPage { c: Chrome::new(&state, lang, "/") })
}
