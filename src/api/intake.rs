//! `/api/v1/form/intake`: which organisation receives the web form's alerts (admins).

use crate::api::extract::Json;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

use crate::auth::Authed;
use crate::domain::intake::{self, Intake};
use crate::error::AppError;
use crate::state::AppState;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IntakeChange {
    /// The organisation that receives form alerts from now on; it must have an active
    /// coordinator.
    pub organization_id: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IntakeView {
    /// Whether `/report` accepts alerts now.
    pub open: bool,
    /// The receiving organisation, when it exists.
    pub organization_id: Option<String>,
    pub organization_name: Option<String>,
    /// `admin` (set here or with `haven form intake`), `config` (`form.organization`) or
    /// `default` (the organisation made on first start).
    pub source: &'static str,
    /// Why the form is closed and what to do; null while it is open.
    pub reason: Option<String>,
}

impl From<&Intake> for IntakeView {
    fn from(i: &Intake) -> Self {
        let org = match i {
            Intake::Open { organization, .. } | Intake::NoCoordinator { organization, .. } => Some(organization),
            Intake::NoOrganization { .. } => None,
        };
        IntakeView {
            open: i.open_for().is_some(),
            organization_id: org.map(|o| o.id.clone()),
            organization_name: org.map(|o| o.name.clone()),
            source: i.source().as_str(),
            reason: i.explain(),
        }
    }
}

pub async fn show(_auth: Authed, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let st = state.clone();
    let status = state.db.read(move |c| intake::status(c, &st.config)).await?;
    Ok(HttpResponse::Ok().json(IntakeView::from(&status)))
}

/// Takes effect on the next form request, on every instance sharing the database.
pub async fn update(
    auth: Authed,
    state: web::Data<AppState>,
    body: Json<IntakeChange>,
) -> Result<HttpResponse, AppError> {
    let wanted = body.into_inner().organization_id;
    if !crate::domain::accounts::is_id(&wanted) {
        return Err(AppError::unprocessable("unknown_organization", "organization_id does not name an organization"));
    }
    let now = state.clock.now();
    let st = state.clone();
    let status = state
        .db
        .write(move |c| {
            intake::set(c, now, Some(&auth.user.id), &wanted)?;
            intake::status(c, &st.config)
        })
        .await?;
    Ok(HttpResponse::Ok().json(IntakeView::from(&status)))
}
