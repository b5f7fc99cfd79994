use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{case_key_grants, case_keys};
use crate::db::DbConn;

/// The public recipient of one case's key (version). Sealing needs only this.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = case_keys)]
pub struct CaseKey {
    pub case_id: String,
    pub key_version: i32,
    pub recipient: String,
    pub created_at: NaiveDateTime,
    pub shredded_at: Option<NaiveDateTime>,
}

/// The case identity wrapped for one grantee.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = case_key_grants)]
pub struct CaseKeyGrant {
    pub case_id: String,
    pub key_version: i32,
    pub grantee_kind: String,
    pub grantee_id: String,
    pub key_id: String,
    pub wrapped: Vec<u8>,
    pub created_at: NaiveDateTime,
}

impl CaseKey {
    pub fn insert(&self, conn: &mut DbConn) -> QueryResult<()> {
        diesel::insert_into(case_keys::table).values(self).execute(conn).map(|_| ())
    }

    /// The newest version of a case's key.
    pub fn latest(conn: &mut DbConn, case_id: &str) -> QueryResult<Option<CaseKey>> {
        case_keys::table
            .filter(case_keys::case_id.eq(case_id))
            .order(case_keys::key_version.desc())
            .select(CaseKey::as_select())
            .get_result(conn)
            .optional()
    }

    pub fn find(conn: &mut DbConn, case_id: &str, version: i32) -> QueryResult<Option<CaseKey>> {
        case_keys::table.find((case_id, version)).select(CaseKey::as_select()).get_result(conn).optional()
    }

    pub fn mark_shredded(conn: &mut DbConn, case_id: &str, now: NaiveDateTime) -> QueryResult<usize> {
        diesel::update(case_keys::table.filter(case_keys::case_id.eq(case_id)).filter(case_keys::shredded_at.is_null()))
            .set(case_keys::shredded_at.eq(now))
            .execute(conn)
    }

    pub fn clear_shredded(conn: &mut DbConn, case_id: &str, version: i32) -> QueryResult<usize> {
        diesel::update(case_keys::table.find((case_id, version)))
            .set(case_keys::shredded_at.eq(None::<NaiveDateTime>))
            .execute(conn)
    }
}

impl CaseKeyGrant {
    pub fn insert(&self, conn: &mut DbConn) -> QueryResult<()> {
        diesel::insert_into(case_key_grants::table).values(self).execute(conn).map(|_| ())
    }

    pub fn find(
        conn: &mut DbConn,
        case_id: &str,
        version: i32,
        kind: &str,
        grantee_id: &str,
    ) -> QueryResult<Option<CaseKeyGrant>> {
        case_key_grants::table
            .find((case_id, version, kind, grantee_id))
            .select(CaseKeyGrant::as_select())
            .get_result(conn)
            .optional()
    }

    pub fn for_case(conn: &mut DbConn, case_id: &str) -> QueryResult<Vec<CaseKeyGrant>> {
        case_key_grants::table.filter(case_key_grants::case_id.eq(case_id)).select(CaseKeyGrant::as_select()).load(conn)
    }

    /// Service grants not yet wrapped with `current_key_id`, a batch at a time.
    pub fn service_grants_not_under(
        conn: &mut DbConn,
        current_key_id: &str,
        limit: i64,
    ) -> QueryResult<Vec<CaseKeyGrant>> {
        case_key_grants::table
            .filter(case_key_grants::grantee_kind.eq("service"))
            .filter(case_key_grants::key_id.ne(current_key_id))
            .order((case_key_grants::case_id.asc(), case_key_grants::key_version.asc()))
            .limit(limit)
            .select(CaseKeyGrant::as_select())
            .load(conn)
    }

    pub fn count_service_grants_not_under(conn: &mut DbConn, current_key_id: &str) -> QueryResult<i64> {
        case_key_grants::table
            .filter(case_key_grants::grantee_kind.eq("service"))
            .filter(case_key_grants::key_id.ne(current_key_id))
            .count()
            .get_result(conn)
    }

    /// Replaces the wrapping of one grant; returns 0 if the grant changed meanwhile
    /// (shredded, or re-wrapped by another run), so the caller can skip it.
    pub fn rewrap(conn: &mut DbConn, g: &CaseKeyGrant, new_key_id: &str, wrapped: &[u8]) -> QueryResult<usize> {
        diesel::update(
            case_key_grants::table
                .find((&g.case_id, g.key_version, &g.grantee_kind, &g.grantee_id))
                .filter(case_key_grants::key_id.eq(&g.key_id)),
        )
        .set((case_key_grants::key_id.eq(new_key_id), case_key_grants::wrapped.eq(wrapped)))
        .execute(conn)
    }

    /// Deletes grants of a case: all of them, or all but the escrow grant.
    pub fn delete_for_case(conn: &mut DbConn, case_id: &str, keep_escrow: bool) -> QueryResult<usize> {
        let q = case_key_grants::table.filter(case_key_grants::case_id.eq(case_id));
        if keep_escrow {
            diesel::delete(q.filter(case_key_grants::grantee_kind.ne("escrow"))).execute(conn)
        } else {
            diesel::delete(q).execute(conn)
        }
    }

    pub fn delete_one(conn: &mut DbConn, g: &CaseKeyGrant) -> QueryResult<usize> {
        diesel::delete(case_key_grants::table.find((&g.case_id, g.key_version, &g.grantee_kind, &g.grantee_id)))
            .execute(conn)
    }
}
