//! Need-to-know for the records of a case, in one place. Every record of a case (a plan, a
//! visa, a grant, …) is loaded through [`load_record`] together with its case, for the
//! action the route declares: access follows the case, and a record of a case the caller
//! may not read answers exactly like a record that does not exist. Doors (the API, the
//! console) never pair a lookup with a case check by hand.

use chrono::NaiveDateTime;
use diesel::QueryResult;

use crate::authz::{AccessPolicy, Action};
use crate::db::models::{
    Case, Checkin, Grant, PlanMeasure, PsychosocialCare, Relocation, RiskAssessment, SecurityPlan, Visa,
};
use crate::db::DbConn;
use crate::domain::cases::{self, Caller};
use crate::error::AppError;

/// A record that belongs to one case.
pub trait CaseRecord: Sized {
    /// The code a missing or hidden record answers with, e.g. `visa_not_found`.
    const NOT_FOUND: &'static str;
    fn find(conn: &mut DbConn, id: &str) -> QueryResult<Option<Self>>;
    fn case_id(&self) -> &str;
}

macro_rules! case_record {
    ($($t:ty => $code:literal),* $(,)?) => {$(
        impl CaseRecord for $t {
            const NOT_FOUND: &'static str = $code;
            fn find(conn: &mut DbConn, id: &str) -> QueryResult<Option<Self>> {
                <$t>::find(conn, id)
            }
            fn case_id(&self) -> &str {
                &self.case_id
            }
        }
    )*};
}

case_record! {
    RiskAssessment => "assessment_not_found",
    SecurityPlan => "plan_not_found",
    PlanMeasure => "measure_not_found",
    Grant => "grant_not_found",
    Relocation => "relocation_not_found",
    Visa => "visa_not_found",
    PsychosocialCare => "care_not_found",
    Checkin => "checkin_not_found",
}

/// The record `id` and its case, if the caller may perform `action` on the case. Anything
/// that is not an id is refused before it reaches the database.
pub fn load_record<T: CaseRecord>(
    conn: &mut DbConn,
    policy: &AccessPolicy,
    caller: &Caller<'_>,
    id: &str,
    action: Action,
    now: NaiveDateTime,
) -> Result<(T, Case), AppError> {
    if !crate::domain::accounts::is_id(id) {
        return Err(AppError::NotFound(T::NOT_FOUND));
    }
    let record = T::find(conn, id)?.ok_or(AppError::NotFound(T::NOT_FOUND))?;
    let case = cases::load_for(conn, policy, caller, record.case_id(), action, now).map_err(|e| match e {
        AppError::NotFound(_) => AppError::NotFound(T::NOT_FOUND),
        other => other,
    })?;
    Ok((record, case))
}
