use crate::api::extract::Json;
use actix_web::{web, HttpResponse};
use serde::Deserialize;

use crate::api::users::UserView;
use crate::auth::{session, Authed};
use crate::error::AppError;
use crate::state::AppState;

pub async fn show(auth: Authed) -> HttpResponse {
    HttpResponse::Ok().json(UserView::from(auth.user))
}

/// No `Debug`: it holds passwords.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

pub async fn change_password(
    auth: Authed,
    state: web::Data<AppState>,
    body: Json<PasswordChange>,
) -> Result<HttpResponse, AppError> {
    if body.current_password.len() > crate::auth::password::MAX_LEN {
        return Err(AppError::Forbidden("wrong_password"));
    }
    session::change_password(&state, &auth.user, &auth.session_id, &body.current_password, &body.new_password).await?;
    Ok(HttpResponse::NoContent().finish())
}
