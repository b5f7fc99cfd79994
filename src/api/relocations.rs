//! Relocation support: `/api/v1/cases/{id}/relocations`, `/api/v1/relocations/{id}`,
//! `/api/v1/relocations/{id}/visas`, `/api/v1/visas/{id}`, `/api/v1/cases/{id}/psychosocial`,
//! `/api/v1/psychosocial/{id}`. Access follows the case; care records only to the owning
//! coordinators and the assignees.

use crate::api::extract::{Json, Query};
use crate::api::{case_for, record_of};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::api::{find_or, if_match, ts, with_etag, PageQuery};
use crate::auth::Authed;
use crate::db::models::{PsychosocialCare, Relocation, Visa};
use crate::domain::relocation::{
    self as rel, CareDetails, CareModality, CareUpdate, NewCare, NewRelocation, NewVisa, ReferralStatus,
    RelocationDetail, RelocationDetails, RelocationKind, RelocationStatus, RelocationUpdate, VisaDetails, VisaStatus,
    VisaTerms, VisaUpdate,
};
use crate::error::AppError;
use crate::state::AppState;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RelocationCreate {
    pub kind: RelocationKind,
    /// ISO 3166-1 alpha-2 (sealed, with everything about where she goes).
    #[serde(deserialize_with = "crate::domain::country::upper")]
    pub destination_country: String,
    pub destination_city: Option<String>,
    pub host_organization: Option<String>,
    /// The defender and the dependants who go with her, by name.
    pub beneficiaries: Vec<String>,
    /// A day (2027-01-15, meaning its first second UTC) or an RFC 3339 time.
    #[serde(deserialize_with = "crate::api::dates::start")]
    #[schema(value_type = String)]
    pub starts_on: DateTime<Utc>,
    /// A day (2027-01-15, meaning its last second UTC) or an RFC 3339 time.
    #[serde(deserialize_with = "crate::api::dates::end")]
    #[schema(value_type = String)]
    pub ends_on: DateTime<Utc>,
    /// The journey's security plan, a plan of this case.
    pub plan_id: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RelocationPatch {
    pub status: Option<RelocationStatus>,
    /// Required when cancelling.
    pub reason: Option<String>,
    /// Replaces destination, host and beneficiaries.
    pub details: Option<RelocationDetails>,
    /// A day (2027-01-15, meaning its first second UTC) or an RFC 3339 time.
    #[serde(default, deserialize_with = "crate::api::dates::start_opt")]
    #[schema(value_type = Option<String>)]
    pub starts_on: Option<DateTime<Utc>>,
    /// A day (2027-01-15, meaning its last second UTC) or an RFC 3339 time.
    #[serde(default, deserialize_with = "crate::api::dates::end_opt")]
    #[schema(value_type = Option<String>)]
    pub ends_on: Option<DateTime<Utc>>,
    pub plan_id: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VisaCreate {
    /// ISO 3166-1 alpha-2 (sealed: it gives the destination away).
    #[serde(deserialize_with = "crate::domain::country::upper")]
    pub country: String,
    /// Sealed, like the country.
    pub visa_type: String,
    pub applicant: String,
    pub handling_organization: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VisaPatch {
    pub status: VisaStatus,
    /// When the step happened (default: now).
    ///
    /// A day (2027-01-15, meaning its first second UTC) or an RFC 3339 time.
    #[serde(default, deserialize_with = "crate::api::dates::start_opt")]
    #[schema(value_type = Option<String>)]
    pub on: Option<DateTime<Utc>>,
    /// Required when issued.
    ///
    /// A day (2027-01-15, meaning its last second UTC) or an RFC 3339 time.
    #[serde(default, deserialize_with = "crate::api::dates::end_opt")]
    #[schema(value_type = Option<String>)]
    pub expires_on: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CareCreate {
    pub modality: CareModality,
    pub sessions_planned: i32,
    /// Must be true: care is recorded only with her consent.
    pub consent_recorded: bool,
    pub provider: String,
    pub notes: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CarePatch {
    pub modality: Option<CareModality>,
    pub sessions_planned: Option<i32>,
    pub sessions_held: Option<i32>,
    pub referral_status: Option<ReferralStatus>,
    /// Replaces provider and notes.
    pub details: Option<CareDetails>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RelocationView {
    pub id: String,
    pub case_id: String,
    pub kind: String,
    #[serde(flatten)]
    pub details: RelocationDetails,
    pub starts_on: String,
    pub ends_on: String,
    pub status: String,
    pub allowed_transitions: Vec<&'static str>,
    pub cancel_reason: Option<String>,
    pub plan_id: Option<String>,
    pub requested_by: String,
    pub requested_by_name: Option<String>,
    pub approved_by: Option<String>,
    pub approved_by_name: Option<String>,
    pub version: i32,
    pub created_at: String,
    pub updated_at: String,
}

impl crate::api::people::Mentions for RelocationView {
    fn people(&self) -> Vec<&str> {
        let mut ids = vec![self.requested_by.as_str()];
        ids.extend(self.approved_by.as_deref());
        ids
    }

    fn name(&mut self, names: &crate::api::people::Names) {
        self.requested_by_name = names.of(&self.requested_by);
        self.approved_by_name = names.of_opt(self.approved_by.as_deref());
    }
}

impl From<RelocationDetail> for RelocationView {
    fn from(d: RelocationDetail) -> Self {
        let r = d.relocation;
        RelocationView {
            allowed_transitions: RelocationStatus::parse(&r.status)
                .map(|s| s.next().iter().map(|x| x.as_str()).collect())
                .unwrap_or_default(),
            id: r.id,
            case_id: r.case_id,
            kind: r.kind,
            details: d.details,
            starts_on: ts(r.starts_on),
            ends_on: ts(r.ends_on),
            status: r.status,
            cancel_reason: d.cancel_reason,
            plan_id: r.plan_id,
            requested_by: r.requested_by,
            requested_by_name: None,
            approved_by: r.approved_by,
            approved_by_name: None,
            version: r.version,
            created_at: ts(r.created_at),
            updated_at: ts(r.updated_at),
        }
    }
}

/// A visa as lists show it: without its (sealed) country and type.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VisaListItem {
    pub id: String,
    pub relocation_id: String,
    #[serde(flatten)]
    pub details: VisaDetails,
    pub status: String,
    pub allowed_transitions: Vec<&'static str>,
    pub submitted_on: Option<String>,
    pub decided_on: Option<String>,
    pub issued_on: Option<String>,
    pub expires_on: Option<String>,
    pub version: i32,
}

/// One visa, with its country and type.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VisaView {
    #[serde(flatten)]
    pub item: VisaListItem,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    pub visa_type: String,
}

fn visa_item(v: Visa, details: VisaDetails) -> VisaListItem {
    VisaListItem {
        allowed_transitions: VisaStatus::parse(&v.status)
            .map(|s| s.next().iter().map(|x| x.as_str()).collect())
            .unwrap_or_default(),
        id: v.id,
        relocation_id: v.relocation_id,
        details,
        status: v.status,
        submitted_on: v.submitted_on.map(ts),
        decided_on: v.decided_on.map(ts),
        issued_on: v.issued_on.map(ts),
        expires_on: v.expires_on.map(ts),
        version: v.version,
    }
}

fn visa_view(v: Visa, details: VisaDetails, terms: VisaTerms) -> VisaView {
    VisaView { item: visa_item(v, details), country: terms.country, visa_type: terms.visa_type }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CareView {
    pub id: String,
    pub case_id: String,
    pub modality: String,
    pub sessions_planned: i32,
    pub sessions_held: i32,
    pub referral_status: String,
    pub consent_recorded: bool,
    #[serde(flatten)]
    pub details: CareDetails,
    pub version: i32,
    pub created_at: String,
    pub updated_at: String,
}

fn care_view(c: PsychosocialCare, details: CareDetails) -> CareView {
    CareView {
        id: c.id,
        case_id: c.case_id,
        modality: c.modality,
        sessions_planned: c.sessions_planned,
        sessions_held: c.sessions_held,
        referral_status: c.referral_status,
        consent_recorded: c.consent_recorded,
        details,
        version: c.version,
        created_at: ts(c.created_at),
        updated_at: ts(c.updated_at),
    }
}

pub async fn create_relocation(
    auth: Authed,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: Json<RelocationCreate>,
) -> Result<HttpResponse, AppError> {
    let b = body.into_inner();
    let case_id = path.into_inner();
    let now = state.clock.now();
    let st = state.clone();
    let view: RelocationView = state
        .db
        .write(move |c| {
            let who = auth.caller();
            let case = case_for(c, &st, &who, &case_id, auth.action)?;
            let details = RelocationDetails {
                destination_country: b.destination_country,
                destination_city: b.destination_city,
                host_organization: b.host_organization,
                beneficiaries: b.beneficiaries,
            };
            let input =
                NewRelocation { kind: b.kind, details, starts_on: b.starts_on, ends_on: b.ends_on, plan_id: b.plan_id };
            let r = rel::request_relocation(c, &st.ctx(now), &who, &case, input)?;
            let view: RelocationView = rel::relocation_detail(c, &st.crypto, r)?.into();
            crate::api::people::named(c, view)
        })
        .await?;
    Ok(with_etag(StatusCode::CREATED, view.version, view))
}

/// Newest first, paged.
pub async fn list_relocations(
    auth: Authed,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let case_id = path.into_inner();
    let st = state.clone();
    let page = state
        .db
        .read(move |c| {
            let who = auth.caller();
            let case = case_for(c, &st, &who, &case_id, auth.action)?;
            let page = query
                .page_in(Relocation::for_case(c, &case.id)?, |r| &r.id)?
                .try_map(|r| rel::relocation_detail(c, &st.crypto, r).map(RelocationView::from))?;
            crate::api::people::named_page(c, page)
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

pub async fn show_relocation(
    auth: Authed,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let st = state.clone();
    let view: RelocationView = state
        .db
        .read(move |c| {
            let (r, _) = record_of::<Relocation>(c, &st, &auth.caller(), &id, auth.action)?;
            let view: RelocationView = rel::relocation_detail(c, &st.crypto, r)?.into();
            crate::api::people::named(c, view)
        })
        .await?;
    Ok(with_etag(StatusCode::OK, view.version, view))
}

pub async fn update_relocation(
    auth: Authed,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: Json<RelocationPatch>,
) -> Result<HttpResponse, AppError> {
    let expected = if_match(&req)?;
    let b = body.into_inner();
    if b.status.is_none()
        && b.details.is_none()
        && b.starts_on.is_none()
        && b.ends_on.is_none()
        && b.plan_id.is_none()
        && b.reason.is_none()
    {
        return Err(AppError::bad_request("nothing_to_change", "give status, details, dates or plan_id"));
    }
    let id = path.into_inner();
    let now = state.clock.now();
    let st = state.clone();
    let view: RelocationView = state
        .db
        .write(move |c| {
            let who = auth.caller();
            let (r, case) = record_of::<Relocation>(c, &st, &who, &id, auth.action)?;
            let input = RelocationUpdate {
                status: b.status,
                reason: b.reason,
                details: b.details,
                starts_on: b.starts_on,
                ends_on: b.ends_on,
                plan_id: b.plan_id,
            };
            rel::update_relocation(c, &st.ctx(now), &who, &case, &r, expected, input)?;
            let fresh = find_or(c, &id, "relocation_not_found", Relocation::find)?;
            let view: RelocationView = rel::relocation_detail(c, &st.crypto, fresh)?.into();
            crate::api::people::named(c, view)
        })
        .await?;
    Ok(with_etag(StatusCode::OK, view.version, view))
}

pub async fn create_visa(
    auth: Authed,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: Json<VisaCreate>,
) -> Result<HttpResponse, AppError> {
    let b = body.into_inner();
    let id = path.into_inner();
    let now = state.clock.now();
    let st = state.clone();
    let view: VisaView = state
        .db
        .write(move |c| {
            let who = auth.caller();
            let (r, _) = record_of::<Relocation>(c, &st, &who, &id, auth.action)?;
            let details = VisaDetails { applicant: b.applicant, handling_organization: b.handling_organization };
            let (v, terms) = rel::apply_visa(
                c,
                &st.crypto,
                now,
                &who,
                &r,
                NewVisa { country: b.country, visa_type: b.visa_type, details: details.clone() },
            )?;
            Ok(visa_view(v, details, terms))
        })
        .await?;
    Ok(with_etag(StatusCode::CREATED, view.item.version, view))
}

/// Oldest first (the order they were applied for), paged.
pub async fn list_visas(
    auth: Authed,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let st = state.clone();
    let page = state
        .db
        .read(move |c| {
            let (r, _) = record_of::<Relocation>(c, &st, &auth.caller(), &id, auth.action)?;
            query
                .page_in(Visa::for_relocation(c, &r.id)?, |v| &v.id)?
                .try_map(|v| rel::visa_details(c, &st.crypto, &v).map(|d| visa_item(v, d)))
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

pub async fn show_visa(
    auth: Authed,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let st = state.clone();
    let view: VisaView = state
        .db
        .read(move |c| {
            let (v, _) = record_of::<Visa>(c, &st, &auth.caller(), &id, auth.action)?;
            let d = rel::visa_details(c, &st.crypto, &v)?;
            let terms = rel::visa_terms(c, &st.crypto, &v)?;
            Ok(visa_view(v, d, terms))
        })
        .await?;
    Ok(with_etag(StatusCode::OK, view.item.version, view))
}

pub async fn update_visa(
    auth: Authed,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: Json<VisaPatch>,
) -> Result<HttpResponse, AppError> {
    let expected = if_match(&req)?;
    let b = body.into_inner();
    let id = path.into_inner();
    let now = state.clock.now();
    let st = state.clone();
    let view: VisaView = state
        .db
        .write(move |c| {
            let who = auth.caller();
            let (v, _) = record_of::<Visa>(c, &st, &who, &id, auth.action)?;
            rel::update_visa(
                c,
                &st.ctx(now),
                &who,
                &v,
                expected,
                VisaUpdate { status: b.status, on: b.on, expires_on: b.expires_on },
            )?;
            let v = find_or(c, &id, "visa_not_found", Visa::find)?;
            let d = rel::visa_details(c, &st.crypto, &v)?;
            let terms = rel::visa_terms(c, &st.crypto, &v)?;
            Ok(visa_view(v, d, terms))
        })
        .await?;
    Ok(with_etag(StatusCode::OK, view.item.version, view))
}

pub async fn create_care(
    auth: Authed,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: Json<CareCreate>,
) -> Result<HttpResponse, AppError> {
    let b = body.into_inner();
    let case_id = path.into_inner();
    let now = state.clock.now();
    let st = state.clone();
    let view: CareView = state
        .db
        .write(move |c| {
            let who = auth.caller();
            let case = case_for(c, &st, &who, &case_id, auth.action)?;
            let details = CareDetails { provider: b.provider, notes: b.notes };
            let input = NewCare {
                modality: b.modality,
                sessions_planned: b.sessions_planned,
                consent_recorded: b.consent_recorded,
                details: details.clone(),
            };
            let care = rel::add_care(c, &st.crypto, now, &who, &case, input)?;
            Ok(care_view(care, details))
        })
        .await?;
    Ok(with_etag(StatusCode::CREATED, view.version, view))
}

/// Newest first, paged.
pub async fn list_care(
    auth: Authed,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let case_id = path.into_inner();
    let st = state.clone();
    let page = state
        .db
        .read(move |c| {
            let case = case_for(c, &st, &auth.caller(), &case_id, auth.action)?;
            query
                .page_in(PsychosocialCare::for_case(c, &case.id)?, |x| &x.id)?
                .try_map(|x| rel::care_details(c, &st.crypto, &x).map(|d| care_view(x, d)))
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

pub async fn show_care(
    auth: Authed,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let st = state.clone();
    let view: CareView = state
        .db
        .read(move |c| {
            let (x, _) = record_of::<PsychosocialCare>(c, &st, &auth.caller(), &id, auth.action)?;
            let d = rel::care_details(c, &st.crypto, &x)?;
            Ok(care_view(x, d))
        })
        .await?;
    Ok(with_etag(StatusCode::OK, view.version, view))
}

pub async fn update_care(
    auth: Authed,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: Json<CarePatch>,
) -> Result<HttpResponse, AppError> {
    let expected = if_match(&req)?;
    let b = body.into_inner();
    if b.modality.is_none()
        && b.sessions_planned.is_none()
        && b.sessions_held.is_none()
        && b.referral_status.is_none()
        && b.details.is_none()
    {
        return Err(AppError::bad_request("nothing_to_change", "give modality, sessions, referral_status or details"));
    }
    let id = path.into_inner();
    let now = state.clock.now();
    let st = state.clone();
    let view: CareView = state
        .db
        .write(move |c| {
            let who = auth.caller();
            let (x, _) = record_of::<PsychosocialCare>(c, &st, &who, &id, auth.action)?;
            let input = CareUpdate {
                modality: b.modality,
                sessions_planned: b.sessions_planned,
                sessions_held: b.sessions_held,
                referral_status: b.referral_status,
                details: b.details,
            };
            rel::update_care(c, &st.crypto, now, &who, &x, expected, input)?;
            let x = find_or(c, &id, "care_not_found", PsychosocialCare::find)?;
            let d = rel::care_details(c, &st.crypto, &x)?;
            Ok(care_view(x, d))
        })
        .await?;
    Ok(with_etag(StatusCode::OK, view.version, view))
}
