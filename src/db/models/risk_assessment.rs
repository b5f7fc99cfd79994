use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::risk_assessments;
use crate::db::DbConn;

/// One version of a case's risk assessment; `content_ct` is sealed with the case key.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = risk_assessments)]
pub struct RiskAssessment {
    pub id: String,
    pub case_id: String,
    pub version: i32,
    pub assessor_id: String,
    pub content_ct: Vec<u8>,
    pub key_version: i32,
    pub threat_count: i32,
    pub score_centi: i32,
    pub level: String,
    pub policy_hash: String,
    pub reassess_by: NaiveDateTime,
    pub created_at: NaiveDateTime,
}

impl RiskAssessment {
    /// The level of a case's latest version, if it has one.
    pub fn latest_level(conn: &mut DbConn, case_id: &str) -> QueryResult<Option<String>> {
        risk_assessments::table
            .filter(risk_assessments::case_id.eq(case_id))
            .order(risk_assessments::version.desc())
            .select(risk_assessments::level)
            .first(conn)
            .optional()
    }

    pub fn insert(&self, conn: &mut DbConn) -> QueryResult<()> {
        diesel::insert_into(risk_assessments::table).values(self).execute(conn).map(|_| ())
    }

    pub fn find(conn: &mut DbConn, id: &str) -> QueryResult<Option<RiskAssessment>> {
        risk_assessments::table.find(id).select(RiskAssessment::as_select()).get_result(conn).optional()
    }

    pub fn latest_version(conn: &mut DbConn, case_id: &str) -> QueryResult<Option<i32>> {
        risk_assessments::table
            .filter(risk_assessments::case_id.eq(case_id))
            .select(diesel::dsl::max(risk_assessments::version))
            .get_result(conn)
    }

    /// Every version of a case's assessment, newest first.
    pub fn for_case(conn: &mut DbConn, case_id: &str) -> QueryResult<Vec<RiskAssessment>> {
        risk_assessments::table
            .filter(risk_assessments::case_id.eq(case_id))
            .order(risk_assessments::version.desc())
            .select(RiskAssessment::as_select())
            .load(conn)
    }
}
