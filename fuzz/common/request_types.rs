//! Every request type the API decodes from the network, in one table shared by the
//! `json_bodies` fuzz target and `seedgen` (which checks that each seed decodes).
//!
//! - JSON bodies: the `.body::<T>()` of every route in `haven::api::table()`; actix-web's
//!   `web::Json<T>` decodes them with `serde_json::from_slice`.
//! - Query strings of the list endpoints: `web::Query<T>`, decoded with `serde_urlencoded`.
//!
//! Keep this list in step with `src/api/mod.rs`: `seedgen` refuses to run if a type has no
//! seed, and a new body type that is missing here is simply not fuzzed.

use haven::api::{
    alerts, assessments, auth, cases, checkins, defenders, escalations, grants, me, messages, notes, organizations,
    plans, relocations, users, PageQuery,
};

pub type Decode = fn(&[u8]) -> Result<(), String>;

fn json<T: serde::de::DeserializeOwned>(b: &[u8]) -> Result<(), String> {
    serde_json::from_slice::<T>(b).map(drop).map_err(|e| e.to_string())
}

fn query<T: serde::de::DeserializeOwned>(b: &[u8]) -> Result<(), String> {
    serde_urlencoded::from_bytes::<T>(b).map(drop).map_err(|e| e.to_string())
}

macro_rules! table {
    ($($how:ident $name:literal => $t:ty),+ $(,)?) => {
        pub const TYPES: &[(&str, Decode)] = &[$(($name, $how::<$t> as Decode)),+];
    };
}

table! {
    // POST /api/v1/auth/login, /auth/refresh, /me/password
    json "auth.LoginRequest" => auth::LoginRequest,
    json "auth.RefreshRequest" => auth::RefreshRequest,
    json "me.PasswordChange" => me::PasswordChange,
    // organizations, users
    json "organizations.OrganizationCreate" => organizations::OrganizationCreate,
    json "users.UserCreate" => users::UserCreate,
    json "users.UserPatch" => users::UserPatch,
    // cases
    json "cases.CaseCreate" => cases::CaseCreate,
    json "cases.CasePatch" => cases::CasePatch,
    json "cases.TransitionRequest" => cases::TransitionRequest,
    json "cases.AssigneeRequest" => cases::AssigneeRequest,
    json "cases.ShareRequest" => cases::ShareRequest,
    json "notes.NoteCreate" => notes::NoteCreate,
    // defenders
    json "defenders.DefenderCreate" => defenders::DefenderCreate,
    json "defenders.DefenderPatch" => defenders::DefenderPatch,
    // alerts
    json "alerts.AlertCreate" => alerts::AlertCreate,
    json "alerts.TriageRequest" => alerts::TriageRequest,
    json "alerts.DismissRequest" => alerts::DismissRequest,
    // assessments, plans, measures
    json "assessments.AssessmentCreate" => assessments::AssessmentCreate,
    json "plans.PlanCreate" => plans::PlanCreate,
    json "plans.PlanPatch" => plans::PlanPatch,
    json "plans.MeasureCreate" => plans::MeasureCreate,
    json "plans.MeasurePatch" => plans::MeasurePatch,
    // grants
    json "grants.GrantCreate" => grants::GrantCreate,
    json "grants.GrantPatch" => grants::GrantPatch,
    json "grants.DisbursementCreate" => grants::DisbursementCreate,
    // relocations, visas, psychosocial care
    json "relocations.RelocationCreate" => relocations::RelocationCreate,
    json "relocations.RelocationPatch" => relocations::RelocationPatch,
    json "relocations.VisaCreate" => relocations::VisaCreate,
    json "relocations.VisaPatch" => relocations::VisaPatch,
    json "relocations.CareCreate" => relocations::CareCreate,
    json "relocations.CarePatch" => relocations::CarePatch,
    // check-ins, messages
    json "checkins.CheckinCreate" => checkins::CheckinCreate,
    json "checkins.CheckinClose" => checkins::CheckinClose,
    json "messages.MessageCreate" => messages::MessageCreate,
    // query strings of the list endpoints
    query "query.PageQuery" => PageQuery,
    query "query.AlertListQuery" => alerts::AlertListQuery,
    query "query.CaseListQuery" => cases::CaseListQuery,
    query "query.EscalationListQuery" => escalations::EscalationListQuery,
    query "query.UserListQuery" => users::UserListQuery,
}

/// The type a fuzz input's first byte selects.
pub fn select(selector: u8) -> (&'static str, Decode) {
    TYPES[selector as usize % TYPES.len()]
}
