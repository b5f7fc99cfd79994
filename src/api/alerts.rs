//! `/api/v1/alerts`: staff intake, triage into cases, dismissal.

use crate::api::extract::{Json, Query};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::api::{idempotency_key, idempotent, if_match, request_hash, ts, Page, PageQuery};
use crate::auth::Authed;
use crate::clock::naive;
use crate::db::models::alert::AlertFilter;
use crate::db::models::Alert;
use crate::domain::alerts::{self, AlertDetail, AlertKind, AlertStatus, NewAlert, TriageTarget};
use crate::domain::cases::{Caller, Severity};
use crate::domain::OrganizationKind;
use crate::error::AppError;
use crate::state::AppState;

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertCreate {
    pub kind: AlertKind,
    pub urgency: Severity,
    #[serde(deserialize_with = "crate::domain::country::upper")]
    pub country: String,
    /// Region or city, in her words (sealed; shown only when one alert is read).
    pub region: Option<String>,
    pub narrative: String,
    pub safe_contact: Option<String>,
    pub consent_scope: Vec<OrganizationKind>,
    pub defender_id: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCaseSpec {
    pub severity: Option<Severity>,
    pub summary: Option<String>,
    /// The defender record the new case is about (one of your organisation's); a form alert
    /// comes without one.
    pub defender_id: Option<String>,
}

/// Exactly one of `case_id` (attach) or `new_case` (promote).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TriageRequest {
    pub case_id: Option<String>,
    pub new_case: Option<NewCaseSpec>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DismissRequest {
    pub reason: String,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AlertListQuery {
    pub status: Option<AlertStatus>,
    pub kind: Option<AlertKind>,
    pub urgency: Option<crate::domain::cases::Severity>,
    #[serde(default, deserialize_with = "crate::domain::country::upper_opt")]
    pub country: Option<String>,
    /// A day (2027-01-15, meaning its first second UTC) or an RFC 3339 time.
    #[serde(default, deserialize_with = "crate::api::dates::start_opt")]
    #[param(value_type = Option<String>)]
    pub received_since: Option<DateTime<Utc>>,
    /// The eight characters that name an alert in a mail (`alert 5c10177a`): the alerts so
    /// named that the caller may read, on one page; no other filter applies with it.
    pub short_id: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AlertListItem {
    pub id: String,
    /// How mails name it: the id's last eight characters.
    pub short_id: String,
    pub kind: String,
    pub urgency: String,
    pub country: String,
    pub status: String,
    pub source: String,
    pub case_id: Option<String>,
    pub defender_id: Option<String>,
    pub consent_scope: Vec<String>,
    pub version: i32,
    pub received_at: String,
    pub triaged_at: Option<String>,
}

impl From<&Alert> for AlertListItem {
    fn from(a: &Alert) -> Self {
        AlertListItem {
            id: a.id.clone(),
            short_id: a.id[a.id.len().saturating_sub(8)..].to_string(),
            kind: a.kind.clone(),
            urgency: a.urgency.clone(),
            country: a.country.clone(),
            status: a.status.clone(),
            source: a.source.clone(),
            case_id: a.case_id.clone(),
            defender_id: a.defender_id.clone(),
            consent_scope: serde_json::from_str(&a.consent_scope).unwrap_or_default(),
            version: a.version,
            received_at: ts(a.received_at),
            triaged_at: a.triaged_at.map(ts),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AlertView {
    #[serde(flatten)]
    pub item: AlertListItem,
    /// Region or city, in her words. Sealed, so not in the list.
    pub region: Option<String>,
    pub narrative: String,
    pub safe_contact: Option<String>,
    pub dismiss_reason: Option<String>,
    /// Form alerts: the day it happened, if she said (`YYYY-MM-DD`).
    pub occurred_on: Option<String>,
    /// Form alerts: the name or pseudonym she gave, if any.
    pub reporter_name: Option<String>,
}

fn respond(status: StatusCode, d: AlertDetail) -> HttpResponse {
    crate::api::with_etag(
        status,
        d.alert.version,
        AlertView {
            item: (&d.alert).into(),
            region: d.region,
            narrative: d.narrative,
            safe_contact: d.safe_contact,
            dismiss_reason: d.dismiss_reason,
            occurred_on: d.occurred_on,
            reporter_name: d.reporter_name,
        },
    )
}

pub async fn create(
    auth: Authed,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Json<AlertCreate>,
) -> Result<HttpResponse, AppError> {
    let idem = idempotency_key(&req)?;
    let body = body.into_inner();
    let hash = request_hash(&state.jwt, &body)?;
    let now = state.clock.now();
    // Validation and sealing (all the X25519 work) on a blocking thread, before the write
    // transaction: writers then queue only for the inserts.
    let prepared = {
        let st = state.clone();
        web::block(move || {
            let input = NewAlert {
                kind: body.kind,
                urgency: body.urgency,
                country: body.country,
                region: body.region,
                narrative: body.narrative,
                safe_contact: body.safe_contact,
                consent_scope: body.consent_scope,
                defender_id: body.defender_id,
                occurred_on: None,
                reporter_name: None,
            };
            alerts::prepare(&st.crypto, input)
        })
        .await
        .map_err(AppError::internal)??
    };
    let prepared = std::sync::Arc::new(prepared);
    let st = state.clone();
    let user_id = auth.user.id.clone();
    let detail = idempotent(&state, &user_id, idem, "alert.create", hash, move |c, earlier| {
        let detail = match earlier {
            Some(id) => {
                let alert = Alert::find(c, id)?.ok_or(AppError::NotFound("alert_not_found"))?;
                alerts::detail(c, &st.crypto, alert)?
            }
            None => {
                let caller = auth.caller();
                alerts::create(c, &st.ctx(now), &caller, &prepared)?
            }
        };
        let id = detail.alert.id.clone();
        Ok((detail, id))
    })
    .await?;
    Ok(respond(StatusCode::CREATED, detail))
}

/// The caller's organisation's alerts (coordinators), newest first; nothing sealed (no
/// narrative, region or contact details), so a page opens no ciphertext.
pub async fn list(
    auth: Authed,
    state: web::Data<AppState>,
    query: Query<AlertListQuery>,
) -> Result<HttpResponse, AppError> {
    let q = query.into_inner();
    let page_q = PageQuery { cursor: q.cursor.clone(), limit: q.limit };
    let limit = page_q.limit()?;
    let cursor = page_q.cursor()?.map(str::to_string);
    if q.country.as_deref().is_some_and(|c| !crate::domain::country::is_valid(c)) {
        return Err(AppError::bad_request("invalid_query", "country must be an ISO 3166-1 alpha-2 code").at("country"));
    }
    if let Some(t) = q.received_since {
        crate::domain::check_date("received_since", t)
            .map_err(|_| AppError::bad_request("invalid_query", "received_since is out of range"))?;
    }
    if let Some(short) = q.short_id {
        if alerts::normalize_short_id(&short).is_none() {
            return Err(AppError::bad_request(
                "invalid_query",
                "short_id is the eight characters a mail names an alert by",
            )
            .at("short_id"));
        }
        if q.status.is_some()
            || q.kind.is_some()
            || q.urgency.is_some()
            || q.country.is_some()
            || q.received_since.is_some()
            || q.cursor.is_some()
        {
            return Err(AppError::bad_request("invalid_query", "short_id comes alone"));
        }
        let now = naive(state.clock.now());
        let st = state.clone();
        let found =
            state.db.read(move |c| alerts::find_by_short_id(c, &st.access, &auth.caller(), &short, now)).await?;
        let items = found.iter().map(|a| AlertListItem::from(&a.alert)).collect();
        return Ok(HttpResponse::Ok().json(Page { items, next_cursor: None }));
    }
    let filter = AlertFilter {
        status: q.status.map(|s| s.as_str().to_string()),
        kind: q.kind.map(|k| k.as_str().to_string()),
        urgency: q.urgency.map(|u| u.as_str().to_string()),
        country: q.country,
        received_since: q.received_since.map(naive),
    };
    let rows = state.db.read(move |c| alerts::list(c, &auth.caller(), &filter, cursor.as_deref(), limit + 1)).await?;
    let page = Page::from_rows(rows, limit, |a| a.id.clone());
    Ok(HttpResponse::Ok()
        .json(Page { items: page.items.iter().map(AlertListItem::from).collect(), next_cursor: page.next_cursor }))
}

pub async fn show(auth: Authed, state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let now = naive(state.clock.now());
    let st = state.clone();
    let detail = state
        .db
        .read(move |c| {
            let a = alerts::load_for(c, &st.access, &auth.caller(), &id, auth.action, now)?;
            alerts::detail(c, &st.crypto, a)
        })
        .await?;
    Ok(respond(StatusCode::OK, detail))
}

/// Loads the alert for the route's action, runs `change` on it and answers with its fresh detail, in
/// one write transaction.
async fn change_alert<F>(
    state: web::Data<AppState>,
    auth: Authed,
    id: String,
    change: F,
) -> Result<HttpResponse, AppError>
where
    F: FnOnce(&mut crate::db::DbConn, &AppState, &Caller<'_>, &Alert) -> Result<(), AppError> + Send + 'static,
{
    let now = state.clock.now();
    let st = state.clone();
    let detail = state
        .db
        .write(move |c| {
            let who = auth.caller();
            let alert = alerts::load_for(c, &st.access, &who, &id, auth.action, naive(now))?;
            change(c, &st, &who, &alert)?;
            let alert = Alert::find(c, &id)?.ok_or(AppError::NotFound("alert_not_found"))?;
            alerts::detail(c, &st.crypto, alert)
        })
        .await?;
    Ok(respond(StatusCode::OK, detail))
}

pub async fn triage(
    auth: Authed,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: Json<TriageRequest>,
) -> Result<HttpResponse, AppError> {
    let expected = if_match(&req)?;
    let target = match body.into_inner() {
        TriageRequest { case_id: Some(id), new_case: None } => TriageTarget::ExistingCase(id),
        TriageRequest { case_id: None, new_case: Some(spec) } => {
            TriageTarget::NewCase { severity: spec.severity, summary: spec.summary, defender_id: spec.defender_id }
        }
        _ => return Err(AppError::bad_request("invalid_body", "give exactly one of case_id or new_case")),
    };
    let now = state.clock.now();
    change_alert(state, auth, path.into_inner(), move |c, st, who, alert| {
        alerts::triage(c, &st.ctx(now), who, alert, expected, target).map(|_| ())
    })
    .await
}

pub async fn dismiss(
    auth: Authed,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: Json<DismissRequest>,
) -> Result<HttpResponse, AppError> {
    let expected = if_match(&req)?;
    let reason = body.into_inner().reason;
    let now = state.clock.now();
    change_alert(state, auth, path.into_inner(), move |c, st, who, alert| {
        alerts::dismiss(c, &st.ctx(now), who, alert, expected, &reason)
    })
    .await
}
