//! `/api/v1/defenders`: the protected people. Lists never carry the sealed profile.

use crate::api::extract::{Json, Query};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

use crate::api::{idempotency_key, idempotent, if_match, request_hash, ts, Page, PageQuery};
use crate::auth::Authed;
use crate::clock::naive;
use crate::db::models::Defender;
use crate::domain::defenders::{self, DefenderUpdate, NewDefender, Profile};
use crate::error::AppError;
use crate::state::AppState;

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DefenderCreate {
    pub pseudonym: String,
    #[serde(deserialize_with = "crate::domain::country::upper")]
    pub country: String,
    #[serde(default)]
    pub networks: Vec<String>,
    pub profile: Profile,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DefenderPatch {
    pub pseudonym: Option<String>,
    #[serde(default, deserialize_with = "crate::domain::country::upper_opt")]
    pub country: Option<String>,
    pub networks: Option<Vec<String>>,
    /// Replaces the whole profile.
    pub profile: Option<Profile>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DefenderListItem {
    pub id: String,
    pub pseudonym: String,
    pub country: String,
    pub networks: Vec<String>,
    pub owner_organization_id: String,
    pub version: i32,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&Defender> for DefenderListItem {
    fn from(d: &Defender) -> Self {
        DefenderListItem {
            id: d.id.clone(),
            pseudonym: d.pseudonym.clone(),
            country: d.country.clone(),
            networks: serde_json::from_str(&d.networks).unwrap_or_default(),
            owner_organization_id: d.owner_organization_id.clone(),
            version: d.version,
            created_at: ts(d.created_at),
            updated_at: ts(d.updated_at),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DefenderView {
    #[serde(flatten)]
    pub item: DefenderListItem,
    /// Null for a reader who may see the record but not the profile: a partner organisation's
    /// member who is not assigned, when the share does not include the profile.
    pub profile: Option<Profile>,
}

fn respond(status: StatusCode, d: &Defender, profile: Option<Profile>) -> HttpResponse {
    crate::api::with_etag(status, d.version, DefenderView { item: d.into(), profile })
}

pub async fn create(
    auth: Authed,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Json<DefenderCreate>,
) -> Result<HttpResponse, AppError> {
    let idem = idempotency_key(&req)?;
    let body = std::sync::Arc::new(body.into_inner());
    let hash = request_hash(&state.jwt, &*body)?;
    let now = state.clock.now();
    let st = state.clone();
    let user_id = auth.user.id.clone();
    let (d, profile) = idempotent(&state, &user_id, idem, "defender.create", hash, move |c, earlier| {
        let d = match earlier {
            Some(id) => Defender::find(c, id)?.ok_or(AppError::NotFound("defender_not_found"))?,
            None => {
                let input = NewDefender {
                    pseudonym: body.pseudonym.clone(),
                    country: body.country.clone(),
                    networks: body.networks.clone(),
                    profile: body.profile.clone(),
                };
                defenders::create(c, &st.crypto, now, &auth.caller(), input)?
            }
        };
        let profile = defenders::open_profile(&st.crypto, c, &d)?;
        let id = d.id.clone();
        Ok(((d, profile), id))
    })
    .await?;
    Ok(respond(StatusCode::CREATED, &d, Some(profile)))
}

/// The caller's organisation's defenders (coordinators), newest first.
pub async fn list(auth: Authed, state: web::Data<AppState>, query: Query<PageQuery>) -> Result<HttpResponse, AppError> {
    let limit = query.limit()?;
    let cursor = query.cursor()?.map(str::to_string);
    let org = auth.user.organization_id.clone();
    let rows = state.db.read(move |c| Ok(Defender::page_for_org(c, &org, cursor.as_deref(), limit + 1)?)).await?;
    let page = Page::from_rows(rows, limit, |d| d.id.clone());
    Ok(HttpResponse::Ok()
        .json(Page { items: page.items.iter().map(DefenderListItem::from).collect(), next_cursor: page.next_cursor }))
}

pub async fn show(auth: Authed, state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let now = naive(state.clock.now());
    let st = state.clone();
    let (d, profile) = state
        .db
        .read(move |c| {
            let (d, may_read) =
                defenders::load_with_profile_access(c, &st.access, &auth.caller(), &id, auth.action, now)?;
            let profile = if may_read { Some(defenders::open_profile(&st.crypto, c, &d)?) } else { None };
            Ok((d, profile))
        })
        .await?;
    Ok(respond(StatusCode::OK, &d, profile))
}

pub async fn update(
    auth: Authed,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: Json<DefenderPatch>,
) -> Result<HttpResponse, AppError> {
    let expected = if_match(&req)?;
    let b = body.into_inner();
    if b.pseudonym.is_none() && b.country.is_none() && b.networks.is_none() && b.profile.is_none() {
        return Err(AppError::bad_request("nothing_to_change", "give pseudonym, country, networks and/or profile"));
    }
    let id = path.into_inner();
    let now = state.clock.now();
    let st = state.clone();
    let (d, profile) = state
        .db
        .write(move |c| {
            let who = auth.caller();
            let d = defenders::load_for(c, &st.access, &who, &id, auth.action, naive(now))?;
            let input =
                DefenderUpdate { pseudonym: b.pseudonym, country: b.country, networks: b.networks, profile: b.profile };
            defenders::update(c, &st.crypto, now, &who, &d, expected, input)?;
            let d = Defender::find(c, &id)?.ok_or(AppError::NotFound("defender_not_found"))?;
            let profile = defenders::open_profile(&st.crypto, c, &d)?;
            Ok((d, Some(profile)))
        })
        .await?;
    Ok(respond(StatusCode::OK, &d, profile))
}
