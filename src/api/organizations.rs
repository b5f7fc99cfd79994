use crate::api::extract::{Json, Query};
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

use crate::api::{ts, Page, PageQuery};
use crate::auth::Authed;
use crate::db::models::Organization;
use crate::domain::accounts::{self, NewOrganization};
use crate::domain::OrganizationKind;
use crate::error::AppError;
use crate::state::AppState;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrganizationCreate {
    pub name: String,
    pub kind: OrganizationKind,
    #[serde(deserialize_with = "crate::domain::country::upper")]
    pub country: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OrganizationView {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub country: String,
    pub created_at: String,
}

impl From<Organization> for OrganizationView {
    fn from(o: Organization) -> Self {
        OrganizationView { id: o.id, name: o.name, kind: o.kind, country: o.country, created_at: ts(o.created_at) }
    }
}

pub async fn create(
    auth: Authed,
    state: web::Data<AppState>,
    body: Json<OrganizationCreate>,
) -> Result<HttpResponse, AppError> {
    let body = body.into_inner();
    let now = state.clock.now();
    let org = state
        .db
        .write(move |c| {
            let input = NewOrganization { name: body.name, kind: body.kind, country: body.country };
            accounts::create_organization(c, now, Some(&auth.user.id), input)
        })
        .await?;
    Ok(HttpResponse::Created().json(OrganizationView::from(org)))
}

pub async fn list(
    _auth: Authed,
    state: web::Data<AppState>,
    query: Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let limit = query.limit()?;
    let cursor = query.cursor()?.map(str::to_string);
    let rows = state.db.read(move |c| Ok(Organization::page(c, cursor.as_deref(), limit + 1)?)).await?;
    let page = Page::from_rows(rows, limit, |o| o.id.clone());
    Ok(HttpResponse::Ok().json(Page {
        items: page.items.into_iter().map(OrganizationView::from).collect(),
        next_cursor: page.next_cursor,
    }))
}
