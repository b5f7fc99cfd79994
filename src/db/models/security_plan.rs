use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{plan_measures, security_plans};
use crate::db::DbConn;

/// A case's security plan; `summary_ct` is sealed with the case key.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = security_plans)]
pub struct SecurityPlan {
    pub id: String,
    pub case_id: String,
    pub status: String,
    pub summary_ct: Option<Vec<u8>>,
    pub key_version: i32,
    pub author_id: String,
    pub approved_by: Option<String>,
    pub approved_at: Option<NaiveDateTime>,
    pub review_by: NaiveDateTime,
    pub version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = security_plans)]
pub struct PlanChanges {
    pub status: Option<String>,
    pub summary_ct: Option<Option<Vec<u8>>>,
    pub approved_by: Option<Option<String>>,
    pub approved_at: Option<Option<NaiveDateTime>>,
    pub review_by: Option<NaiveDateTime>,
}

/// One measure of a plan; `description_ct` and `dropped_reason_ct` are sealed.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = plan_measures)]
pub struct PlanMeasure {
    pub id: String,
    pub plan_id: String,
    pub case_id: String,
    pub category: String,
    pub kind: String,
    pub description_ct: Vec<u8>,
    pub key_version: i32,
    pub owner_kind: String,
    pub owner_user_id: Option<String>,
    pub due_at: Option<NaiveDateTime>,
    pub status: String,
    pub dropped_reason_ct: Option<Vec<u8>>,
    pub assessment_id: Option<String>,
    pub threat_index: Option<i32>,
    pub version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = plan_measures)]
pub struct MeasureChanges {
    pub status: Option<String>,
    pub description_ct: Option<Vec<u8>>,
    pub dropped_reason_ct: Option<Option<Vec<u8>>>,
    pub due_at: Option<Option<NaiveDateTime>>,
    pub owner_kind: Option<String>,
    pub owner_user_id: Option<Option<String>>,
}

impl SecurityPlan {
    pub fn count_approved(conn: &mut DbConn, case_id: &str) -> QueryResult<i64> {
        security_plans::table
            .filter(security_plans::case_id.eq(case_id))
            .filter(security_plans::approved_at.is_not_null())
            .count()
            .get_result(conn)
    }

    pub fn insert(&self, conn: &mut DbConn) -> QueryResult<()> {
        diesel::insert_into(security_plans::table).values(self).execute(conn).map(|_| ())
    }

    pub fn find(conn: &mut DbConn, id: &str) -> QueryResult<Option<SecurityPlan>> {
        security_plans::table.find(id).select(SecurityPlan::as_select()).get_result(conn).optional()
    }

    pub fn for_case(conn: &mut DbConn, case_id: &str) -> QueryResult<Vec<SecurityPlan>> {
        security_plans::table
            .filter(security_plans::case_id.eq(case_id))
            .order(security_plans::id.desc())
            .select(SecurityPlan::as_select())
            .load(conn)
    }

    /// Applies `changes` at `expected_version` only; false when someone changed it first.
    pub fn update_versioned(
        conn: &mut DbConn,
        id: &str,
        expected_version: i32,
        changes: &PlanChanges,
        now: NaiveDateTime,
    ) -> QueryResult<bool> {
        let n = diesel::update(security_plans::table.find(id).filter(security_plans::version.eq(expected_version)))
            .set((changes, security_plans::version.eq(expected_version + 1), security_plans::updated_at.eq(now)))
            .execute(conn)?;
        Ok(n == 1)
    }
}

impl PlanMeasure {
    pub fn insert(&self, conn: &mut DbConn) -> QueryResult<()> {
        diesel::insert_into(plan_measures::table).values(self).execute(conn).map(|_| ())
    }

    pub fn find(conn: &mut DbConn, id: &str) -> QueryResult<Option<PlanMeasure>> {
        plan_measures::table.find(id).select(PlanMeasure::as_select()).get_result(conn).optional()
    }

    pub fn for_plan(conn: &mut DbConn, plan_id: &str) -> QueryResult<Vec<PlanMeasure>> {
        plan_measures::table
            .filter(plan_measures::plan_id.eq(plan_id))
            .order(plan_measures::id.asc())
            .select(PlanMeasure::as_select())
            .load(conn)
    }

    /// A case's measures still to do (planned or in progress), in one query.
    pub fn open_for_case(conn: &mut DbConn, case_id: &str) -> QueryResult<Vec<PlanMeasure>> {
        plan_measures::table
            .filter(plan_measures::case_id.eq(case_id))
            .filter(plan_measures::status.eq_any(["planned", "in_progress"]))
            .select(PlanMeasure::as_select())
            .load(conn)
    }

    pub fn update_versioned(
        conn: &mut DbConn,
        id: &str,
        expected_version: i32,
        changes: &MeasureChanges,
        now: NaiveDateTime,
    ) -> QueryResult<bool> {
        let n = diesel::update(plan_measures::table.find(id).filter(plan_measures::version.eq(expected_version)))
            .set((changes, plan_measures::version.eq(expected_version + 1), plan_measures::updated_at.eq(now)))
            .execute(conn)?;
        Ok(n == 1)
    }
}
