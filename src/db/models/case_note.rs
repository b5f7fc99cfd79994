use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::case_notes;
use crate::db::DbConn;

/// An append-only note; `body_ct` is sealed with the case key.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = case_notes)]
pub struct CaseNote {
    pub id: String,
    pub case_id: String,
    pub author_id: String,
    pub kind: String,
    pub body_ct: Vec<u8>,
    pub key_version: i32,
    pub created_at: NaiveDateTime,
}

impl CaseNote {
    pub fn insert(&self, conn: &mut DbConn) -> QueryResult<()> {
        diesel::insert_into(case_notes::table).values(self).execute(conn).map(|_| ())
    }

    pub fn find(conn: &mut DbConn, id: &str) -> QueryResult<Option<CaseNote>> {
        case_notes::table.find(id).select(CaseNote::as_select()).get_result(conn).optional()
    }

    /// The newest `limit` notes of a case, newest first.
    pub fn newest(conn: &mut DbConn, case_id: &str, limit: i64) -> QueryResult<Vec<CaseNote>> {
        case_notes::table
            .filter(case_notes::case_id.eq(case_id))
            .order(case_notes::id.desc())
            .limit(limit)
            .select(CaseNote::as_select())
            .load(conn)
    }

    /// Oldest first, after `cursor`.
    pub fn page(conn: &mut DbConn, case_id: &str, cursor: Option<&str>, limit: i64) -> QueryResult<Vec<CaseNote>> {
        let mut q = case_notes::table.filter(case_notes::case_id.eq(case_id.to_string())).into_boxed();
        if let Some(c) = cursor {
            q = q.filter(case_notes::id.gt(c.to_string()));
        }
        q.order(case_notes::id.asc()).limit(limit).select(CaseNote::as_select()).load(conn)
    }
}
