use crate::api::extract::{Json, Query};
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

use crate::api::{ts, Page, PageQuery};
use crate::auth::Authed;
use crate::db::models::User;
use crate::domain::accounts::{self, NewUser};
use crate::domain::Role;
use crate::error::AppError;
use crate::state::AppState;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserCreate {
    pub email: String,
    pub name: String,
    pub role: Role,
    pub organization_id: String,
}

/// Only these two fields may change through the API; anything else is a 400.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    pub role: Option<Role>,
    pub active: Option<bool>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UserListQuery {
    pub cursor: Option<String>,
    pub limit: Option<u32>,
    pub organization_id: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserView {
    pub id: String,
    pub email: String,
    pub name: String,
    pub role: String,
    pub organization_id: String,
    pub active: bool,
    pub must_change_password: bool,
    /// Whether she signs in with a second factor.
    pub mfa_enabled: bool,
    pub created_at: String,
    pub updated_at: String,
}

impl From<User> for UserView {
    fn from(u: User) -> Self {
        UserView {
            id: u.id,
            email: u.email,
            name: u.name,
            role: u.role,
            organization_id: u.organization_id,
            active: u.active,
            must_change_password: u.must_change_password,
            mfa_enabled: u.mfa_enabled_at.is_some(),
            created_at: ts(u.created_at),
            updated_at: ts(u.updated_at),
        }
    }
}

/// The new account plus its one-time password, shown this once.
#[derive(Serialize, utoipa::ToSchema)]
pub struct UserCreated {
    #[serde(flatten)]
    pub user: UserView,
    pub one_time_password: String,
}

pub async fn create(
    auth: Authed,
    state: web::Data<AppState>,
    body: Json<UserCreate>,
) -> Result<HttpResponse, AppError> {
    let body = body.into_inner();
    let password = crate::auth::password::generate();
    let pw = password.clone();
    let hash = crate::auth::password::off_thread(move || crate::auth::password::hash(&pw)).await??;
    let now = state.clock.now();
    let user = state
        .db
        .write(move |c| {
            let input =
                NewUser { email: body.email, name: body.name, role: body.role, organization_id: body.organization_id };
            accounts::create_user(c, now, Some(&auth.user.id), input, hash, true)
        })
        .await?;
    Ok(HttpResponse::Created().json(UserCreated { user: user.into(), one_time_password: password }))
}

pub async fn list(
    _auth: Authed,
    state: web::Data<AppState>,
    query: Query<UserListQuery>,
) -> Result<HttpResponse, AppError> {
    let q = query.into_inner();
    let page_q = PageQuery { cursor: q.cursor, limit: q.limit };
    let limit = page_q.limit()?;
    let cursor = page_q.cursor()?.map(str::to_string);
    let org = q.organization_id;
    if org.as_deref().is_some_and(|o| !crate::domain::accounts::is_id(o)) {
        return Err(AppError::bad_request("invalid_query", "organization_id is not an id"));
    }
    let rows = state.db.read(move |c| Ok(User::page(c, org.as_deref(), cursor.as_deref(), limit + 1)?)).await?;
    let page = Page::from_rows(rows, limit, |u| u.id.clone());
    Ok(HttpResponse::Ok()
        .json(Page { items: page.items.into_iter().map(UserView::from).collect(), next_cursor: page.next_cursor }))
}

pub async fn update(
    auth: Authed,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: Json<UserPatch>,
) -> Result<HttpResponse, AppError> {
    let body = body.into_inner();
    if body.role.is_none() && body.active.is_none() {
        return Err(AppError::bad_request("nothing_to_change", "give role and/or active"));
    }
    let id = path.into_inner();
    let now = state.clock.now();
    let user = state
        .db
        .write(move |c| accounts::update_user(c, now, Some(&auth.user.id), &id, body.role, body.active))
        .await?;
    Ok(HttpResponse::Ok().json(UserView::from(user)))
}

/// A new one-time password, shown this once.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PasswordReset {
    pub one_time_password: String,
}

/// `POST /api/v1/users/{id}/reset-password`: a new one-time password for an account that lost
/// its own; her sessions end at once and she must change it at her next login.
pub async fn reset_password(
    auth: Authed,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    if !crate::domain::accounts::is_id(&id) {
        return Err(AppError::NotFound("user_not_found"));
    }
    let password = crate::auth::password::generate();
    let pw = password.clone();
    let hash = crate::auth::password::off_thread(move || crate::auth::password::hash(&pw)).await??;
    let now = state.clock.now();
    state.db.write(move |c| accounts::reset_password(c, now, Some(&auth.user.id), &id, hash)).await?;
    Ok(HttpResponse::Ok().json(PasswordReset { one_time_password: password }))
}

/// `POST /api/v1/users/{id}/mfa/reset`: removes her second factors (a lost phone) and ends
/// her sessions; she enrols again at her next sign-in. Audited.
pub async fn mfa_reset(
    auth: Authed,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    crate::auth::mfa::reset(&state, &auth.user, &path.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}
