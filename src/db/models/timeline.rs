//! The clear columns a case's timeline shows of its records: who did what when, never the
//! sealed content (a note's body is opened by the domain, for those who may read notes).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{escalations, relocations, risk_assessments, security_plans};
use crate::db::DbConn;

/// Escalations shown on a case's timeline at most (a looping rule can run many).
pub const ESCALATIONS_SHOWN: i64 = 100;

/// `(version, assessor_id, level, created_at)` of each assessment of a case.
pub fn assessments(conn: &mut DbConn, case_id: &str) -> QueryResult<Vec<(i32, String, String, NaiveDateTime)>> {
    risk_assessments::table
        .filter(risk_assessments::case_id.eq(case_id))
        .order(risk_assessments::version.desc())
        .select((
            risk_assessments::version,
            risk_assessments::assessor_id,
            risk_assessments::level,
            risk_assessments::created_at,
        ))
        .load(conn)
}

/// A plan as the timeline shows it.
#[derive(Debug, Queryable)]
pub struct PlanStep {
    pub author_id: String,
    pub created_at: NaiveDateTime,
    pub approved_by: Option<String>,
    pub approved_at: Option<NaiveDateTime>,
}

pub fn plans(conn: &mut DbConn, case_id: &str) -> QueryResult<Vec<PlanStep>> {
    security_plans::table
        .filter(security_plans::case_id.eq(case_id))
        .order(security_plans::id.desc())
        .select((
            security_plans::author_id,
            security_plans::created_at,
            security_plans::approved_by,
            security_plans::approved_at,
        ))
        .load(conn)
}

/// `(kind, status, requested_by, created_at)` of each relocation of a case.
pub fn relocations(conn: &mut DbConn, case_id: &str) -> QueryResult<Vec<(String, String, String, NaiveDateTime)>> {
    relocations::table
        .filter(relocations::case_id.eq(case_id))
        .order(relocations::id.desc())
        .select((relocations::kind, relocations::status, relocations::requested_by, relocations::created_at))
        .load(conn)
}

/// An escalation as the timeline shows it.
#[derive(Debug, Queryable)]
pub struct EscalationStep {
    pub subject_kind: String,
    pub status: String,
    pub created_at: NaiveDateTime,
    pub acknowledged_by: Option<String>,
    pub acknowledged_at: Option<NaiveDateTime>,
    pub updated_at: NaiveDateTime,
}

/// The newest `ESCALATIONS_SHOWN` escalations of a case and its records, in any status.
pub fn escalations(conn: &mut DbConn, case_id: &str) -> QueryResult<Vec<EscalationStep>> {
    escalations::table
        .filter(escalations::case_id.eq(case_id))
        .order(escalations::id.desc())
        .limit(ESCALATIONS_SHOWN)
        .select((
            escalations::subject_kind,
            escalations::status,
            escalations::created_at,
            escalations::acknowledged_by,
            escalations::acknowledged_at,
            escalations::updated_at,
        ))
        .load(conn)
}
