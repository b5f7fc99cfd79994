use crate::api::extract::Json;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::auth::mfa::SecondFactor;
use crate::auth::{session, Authed};
use crate::error::AppError;
use crate::state::AppState;

/// No `Debug`: it holds a password.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
    /// The six digits of her authenticator, when she has enrolled one.
    #[serde(default)]
    pub totp_code: Option<String>,
    /// Instead of `totp_code`: one of her single-use recovery codes.
    #[serde(default)]
    pub recovery_code: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Json<LoginRequest>,
) -> Result<HttpResponse, AppError> {
    let body = body.into_inner();
    if body.email.len() > 254 || body.password.len() > crate::auth::password::MAX_LEN {
        return Err(AppError::Unauthorized("invalid_credentials"));
    }
    let factor = match (body.totp_code, body.recovery_code) {
        (None, None) => SecondFactor::None,
        (Some(code), None) if code.len() <= 32 => SecondFactor::Totp(code),
        (None, Some(code)) if code.len() <= 64 => SecondFactor::Recovery(code),
        (Some(_), Some(_)) => {
            return Err(AppError::unprocessable("one_second_factor", "give totp_code or recovery_code, not both"))
        }
        // Too long to be a code: a wrong one, checked (and counted) like any other.
        (Some(_), None) | (None, Some(_)) => SecondFactor::Recovery(String::new()),
    };
    let addr = crate::auth::client_addr(&req, state.config.login.trust_forwarded_for);
    let pair = session::login(&state, &body.email, &body.password, factor, addr).await?;
    Ok(HttpResponse::Ok().json(pair))
}

pub async fn refresh(state: web::Data<AppState>, body: Json<RefreshRequest>) -> Result<HttpResponse, AppError> {
    if body.refresh_token.len() > 128 {
        return Err(AppError::Unauthorized("invalid_refresh_token"));
    }
    let pair = session::refresh(&state, &body.refresh_token).await?;
    Ok(HttpResponse::Ok().json(pair))
}

pub async fn logout(auth: Authed, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    session::logout(&state, &auth.user.id, &auth.session_id).await?;
    Ok(HttpResponse::NoContent().finish())
}
