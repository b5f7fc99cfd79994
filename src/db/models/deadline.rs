//! The dated columns of many cases' records at once, for lists that show each case's next
//! deadline: one query per table whatever the number of cases (no query per case).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{plan_measures, relocations, risk_assessments, security_plans, visas};
use crate::db::DbConn;

/// For each table, `(case_id, …)` rows of the given cases; the domain decides what falls due.
#[derive(Debug, Default)]
pub struct DueDates {
    /// `(case_id, version, reassess_by)` of every assessment.
    pub assessments: Vec<(String, i32, NaiveDateTime)>,
    /// `(case_id, review_by)` of every plan.
    pub plans: Vec<(String, NaiveDateTime)>,
    /// `(case_id, due_at)` of the open measures that have a due date.
    pub measures: Vec<(String, NaiveDateTime)>,
    /// `(case_id, id, status, starts_on)` of every relocation.
    pub relocations: Vec<(String, String, String, NaiveDateTime)>,
    /// `(case_id, expires_on)` of the issued visas that have an expiry.
    pub visas: Vec<(String, NaiveDateTime)>,
}

impl DueDates {
    pub fn of_cases(conn: &mut DbConn, case_ids: &[String]) -> QueryResult<DueDates> {
        if case_ids.is_empty() {
            return Ok(DueDates::default());
        }
        Ok(DueDates {
            assessments: risk_assessments::table
                .filter(risk_assessments::case_id.eq_any(case_ids))
                .select((risk_assessments::case_id, risk_assessments::version, risk_assessments::reassess_by))
                .load(conn)?,
            plans: security_plans::table
                .filter(security_plans::case_id.eq_any(case_ids))
                .select((security_plans::case_id, security_plans::review_by))
                .load(conn)?,
            measures: plan_measures::table
                .filter(plan_measures::case_id.eq_any(case_ids))
                .filter(plan_measures::status.eq_any(["planned", "in_progress"]))
                .filter(plan_measures::due_at.is_not_null())
                .select((plan_measures::case_id, plan_measures::due_at.assume_not_null()))
                .load(conn)?,
            relocations: relocations::table
                .filter(relocations::case_id.eq_any(case_ids))
                .select((relocations::case_id, relocations::id, relocations::status, relocations::starts_on))
                .load(conn)?,
            visas: visas::table
                .filter(visas::case_id.eq_any(case_ids))
                .filter(visas::status.eq("issued"))
                .filter(visas::expires_on.is_not_null())
                .select((visas::case_id, visas::expires_on.assume_not_null()))
                .load(conn)?,
        })
    }
}
