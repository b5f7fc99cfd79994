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

    /// The chain's head: `(seq, hash)` of the newest row.
    pub fn head(conn: &mut DbConn) -> QueryResult<Option<(i64, String)>> {
        match conn {
            // SQLite re-plans a statement with a bound LIMIT on every execution, and this runs
            // in every write: max(seq), then that row.
            DbConn::Sqlite(c) => {
                let max: Option<i64> = audit_events::table.select(diesel::dsl::max(audit_events::seq)).get_result(c)?;
                let Some(seq) = max else { return Ok(None) };
                audit_events::table
                    .filter(audit_events::seq.eq(seq))
                    .select((audit_events::seq, audit_events::hash))
                    .get_result(c)
                    .optional()
            }
            // PostgreSQL: one round trip, while the chain's lock is held.
            DbConn::Postgres(c) => audit_events::table
                .order(audit_events::seq.desc())
                .select((audit_events::seq, audit_events::hash))
                .first(c)
                .optional(),
        }
    }

    /// Inserts rows: in one statement on PostgreSQL (one round trip while the chain's lock is
    /// held), one by one on SQLite (no round trips there).
    pub fn insert_all(conn: &mut DbConn, rows: &[AuditEvent]) -> QueryResult<()> {
        match conn {
            DbConn::Postgres(c) => diesel::insert_into(audit_events::table).values(rows).execute(c).map(|_| ()),
            DbConn::Sqlite(_) => rows.iter().try_for_each(|r| r.insert(conn)),
        }
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
