use crate::api::extract::Json;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

use crate::api::users::UserView;
use crate::auth::{session, Authed};
use crate::error::AppError;
use crate::state::AppState;

/// Her account, and where she stands with second factors.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MeView {
    #[serde(flatten)]
    pub user: UserView,
    /// Whether her role must sign in with a second factor (`policies/access.toml`).
    pub mfa_required: bool,
    /// Her recovery codes not used yet.
    pub recovery_codes_left: i64,
}

pub async fn show(auth: Authed, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let status = crate::auth::mfa::status(&state, &auth.user, auth.role).await?;
    Ok(HttpResponse::Ok().json(MeView {
        user: UserView::from(auth.user),
        mfa_required: status.required,
        recovery_codes_left: status.recovery_codes_left,
    }))
}

/// What enrolment shows her once: the secret to type into her authenticator, or the URI
/// its QR code holds. No `Debug`: it holds the secret.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TotpEnrolment {
    pub secret: String,
    pub otpauth_uri: String,
}

/// `POST /api/v1/me/mfa/totp`: a new secret, not in force until confirmed with a code.
pub async fn totp_enrol(auth: Authed, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let e = crate::auth::mfa::enrol(&state, &auth.user).await?;
    Ok(HttpResponse::Ok().json(TotpEnrolment { secret: e.secret.to_string(), otpauth_uri: e.otpauth_uri.to_string() }))
}

/// No `Debug`: it holds a code.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TotpCode {
    pub code: String,
}

/// Her recovery codes, shown this once. No `Debug`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RecoveryCodes {
    pub recovery_codes: Vec<String>,
}

/// `POST /api/v1/me/mfa/totp/confirm`: the first code puts the secret in force.
pub async fn totp_confirm(
    auth: Authed,
    state: web::Data<AppState>,
    body: Json<TotpCode>,
) -> Result<HttpResponse, AppError> {
    if body.code.len() > 32 {
        return Err(AppError::Unauthorized("mfa_invalid"));
    }
    let codes = crate::auth::mfa::confirm(&state, &auth.user, &body.code).await?;
    Ok(HttpResponse::Ok().json(RecoveryCodes { recovery_codes: codes }))
}

/// `DELETE /api/v1/me/mfa/totp`: turns her second factor off, with a current code.
pub async fn totp_disable(
    auth: Authed,
    state: web::Data<AppState>,
    body: Json<TotpCode>,
) -> Result<HttpResponse, AppError> {
    if body.code.len() > 64 {
        return Err(AppError::Unauthorized("mfa_invalid"));
    }
    crate::auth::mfa::disable(&state, &auth.user, &body.code).await?;
    Ok(HttpResponse::NoContent().finish())
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
