use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::audit_events;
use crate::db::DbConn;

/// One audit row. `hash` covers every other column and `prev_hash`, so editing, deleting
/// or reordering rows breaks the chain (see `crate::audit`).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_events)]
pub struct AuditEvent {
    pub seq: i64,
    pub id: String,
    pub occurred_at: NaiveDateTime,
    pub actor_id: Option<String>,
    pub action: String,
    pub subject_type: String,
    pub subject_id: Option<String>,
    pub outcome: String,
    pub detail: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

impl AuditEvent {
    pub fn insert(&self, conn: &mut DbConn) -> QueryResult<()> {
        diesel::insert_into(audit_events::table).values(self).execute(conn).map(|_| ())
    }

    pub fn last(conn: &mut DbConn) -> QueryResult<Option<AuditEvent>> {
        // max(seq), then that row, rather than `ORDER BY seq DESC LIMIT ?`: SQLite re-plans a
        // statement with a bound LIMIT on every execution, and this runs in every write.
        let newest: Option<i64> = audit_events::table.select(diesel::dsl::max(audit_events::seq)).get_result(conn)?;
        let Some(seq) = newest else { return Ok(None) };
        audit_events::table
            .filter(audit_events::seq.eq(seq))
            .select(AuditEvent::as_select())
            .get_result(conn)
            .optional()
    }

    pub fn count(conn: &mut DbConn) -> QueryResult<i64> {
        audit_events::table.count().get_result(conn)
    }

    /// Rows in chain order starting after `after_seq`, `limit` at a time.
    pub fn chunk_after(conn: &mut DbConn, after_seq: i64, limit: i64) -> QueryResult<Vec<AuditEvent>> {
        audit_events::table
            .filter(audit_events::seq.gt(after_seq))
            .order(audit_events::seq.asc())
            .limit(limit)
            .select(AuditEvent::as_select())
            .load(conn)
    }

    /// Newest first, before `before_seq` if given.
    pub fn page_desc(conn: &mut DbConn, before_seq: Option<i64>, limit: i64) -> QueryResult<Vec<AuditEvent>> {
        let mut q = audit_events::table.select(AuditEvent::as_select()).order(audit_events::seq.desc()).into_boxed();
        if let Some(b) = before_seq {
            q = q.filter(audit_events::seq.lt(b));
        }
        q.limit(limit).load(conn)
    }
}
