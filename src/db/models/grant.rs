use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{disbursements, grants};
use crate::db::DbConn;

/// A funding grant; amounts in minor units of `currency`. `details_ct` (purpose, other
/// funders approached) and `decision_reason_ct` are sealed with the case key.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = grants)]
pub struct Grant {
    pub id: String,
    pub case_id: String,
    pub relocation_id: Option<String>,
    pub category: String,
    pub currency: String,
    pub amount_requested: i64,
    pub amount_approved: Option<i64>,
    pub amount_disbursed: i64,
    pub status: String,
    pub details_ct: Vec<u8>,
    pub decision_reason_ct: Option<Vec<u8>>,
    pub key_version: i32,
    pub requested_by: String,
    pub decided_by: Option<String>,
    pub decided_at: Option<NaiveDateTime>,
    pub version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = grants)]
pub struct GrantChanges {
    pub status: Option<String>,
    pub amount_approved: Option<Option<i64>>,
    pub amount_disbursed: Option<i64>,
    pub decision_reason_ct: Option<Option<Vec<u8>>>,
    pub decided_by: Option<Option<String>>,
    pub decided_at: Option<Option<NaiveDateTime>>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = disbursements)]
pub struct Disbursement {
    pub id: String,
    pub grant_id: String,
    pub amount: i64,
    pub paid_on: NaiveDateTime,
    pub method: String,
    pub recorded_by: String,
    pub created_at: NaiveDateTime,
}

impl Grant {
    pub fn insert(&self, conn: &mut DbConn) -> QueryResult<()> {
        diesel::insert_into(grants::table).values(self).execute(conn).map(|_| ())
    }

    pub fn find(conn: &mut DbConn, id: &str) -> QueryResult<Option<Grant>> {
        grants::table.find(id).select(Grant::as_select()).get_result(conn).optional()
    }

    pub fn for_case(conn: &mut DbConn, case_id: &str) -> QueryResult<Vec<Grant>> {
        grants::table.filter(grants::case_id.eq(case_id)).order(grants::id.desc()).select(Grant::as_select()).load(conn)
    }

    /// Applies `changes` at `expected_version` only; false when someone changed it first
    /// (two disbursements at once: one of them must read the new total first).
    pub fn update_versioned(
        conn: &mut DbConn,
        id: &str,
        expected_version: i32,
        changes: &GrantChanges,
        now: NaiveDateTime,
    ) -> QueryResult<bool> {
        let n = diesel::update(grants::table.find(id).filter(grants::version.eq(expected_version)))
            .set((changes, grants::version.eq(expected_version + 1), grants::updated_at.eq(now)))
            .execute(conn)?;
        Ok(n == 1)
    }
}

impl Disbursement {
    pub fn insert(&self, conn: &mut DbConn) -> QueryResult<()> {
        diesel::insert_into(disbursements::table).values(self).execute(conn).map(|_| ())
    }

    pub fn for_grant(conn: &mut DbConn, grant_id: &str) -> QueryResult<Vec<Disbursement>> {
        disbursements::table
            .filter(disbursements::grant_id.eq(grant_id))
            .order(disbursements::id.asc())
            .select(Disbursement::as_select())
            .load(conn)
    }
}
