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

    /// Rows numbered `from` or later.
    pub fn count_from(conn: &mut DbConn, from: i64) -> QueryResult<i64> {
        audit_events::table.filter(audit_events::seq.ge(from)).count().get_result(conn)
    }

    pub fn by_seq(conn: &mut DbConn, seq: i64) -> QueryResult<Option<AuditEvent>> {
        audit_events::table.filter(audit_events::seq.eq(seq)).select(AuditEvent::as_select()).first(conn).optional()
    }

    /// Rows numbered 0 or below: never written by Haven, which numbers the chain from 1.
    pub fn outside_chain(conn: &mut DbConn, limit: i64) -> QueryResult<Vec<AuditEvent>> {
        audit_events::table
            .filter(audit_events::seq.le(0))
            .order(audit_events::seq.asc())
            .limit(limit)
            .select(AuditEvent::as_select())
            .load(conn)
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

    /// Newest first, before `before_seq` if given, within `filter`.
    pub fn page_desc(
        conn: &mut DbConn,
        filter: &AuditFilter,
        before_seq: Option<i64>,
        limit: i64,
    ) -> QueryResult<Vec<AuditEvent>> {
        use crate::db::schema::{alerts, cases, defenders, users};
        let mut q = audit_events::table.select(AuditEvent::as_select()).order(audit_events::seq.desc()).into_boxed();
        if let Some(b) = before_seq {
            q = q.filter(audit_events::seq.lt(b));
        }
        if let Some(org) = &filter.organization_id {
            // What her organisation's people did, and what anyone did to its cases, alerts
            // and defenders (a partner's officer on a shared case, a defender on the form).
            let members = users::table.filter(users::organization_id.eq(org.clone())).select(users::id.nullable());
            let own_cases =
                cases::table.filter(cases::owner_organization_id.eq(org.clone())).select(cases::id.nullable());
            let own_alerts =
                alerts::table.filter(alerts::owner_organization_id.eq(org.clone())).select(alerts::id.nullable());
            let own_defenders = defenders::table
                .filter(defenders::owner_organization_id.eq(org.clone()))
                .select(defenders::id.nullable());
            q = q.filter(
                audit_events::actor_id
                    .eq_any(members)
                    .or(audit_events::subject_type.eq("case").and(audit_events::subject_id.eq_any(own_cases)))
                    .or(audit_events::subject_type.eq("alert").and(audit_events::subject_id.eq_any(own_alerts)))
                    .or(audit_events::subject_type.eq("defender").and(audit_events::subject_id.eq_any(own_defenders))),
            );
        }
        if let Some(a) = &filter.actor_id {
            q = q.filter(audit_events::actor_id.eq(a.clone()));
        }
        match &filter.action {
            Some(ActionFilter::Exact(a)) => q = q.filter(audit_events::action.eq(a.clone())),
            Some(ActionFilter::Prefix(p)) => q = q.filter(audit_events::action.like(format!("{p}%"))),
            None => {}
        }
        if let Some(s) = &filter.subject_id {
            q = q.filter(audit_events::subject_id.eq(s.clone()));
        }
        if let Some(o) = &filter.outcome {
            q = q.filter(audit_events::outcome.eq(o.clone()));
        }
        if let Some(f) = filter.from {
            q = q.filter(audit_events::occurred_at.ge(f));
        }
        if let Some(t) = filter.to {
            q = q.filter(audit_events::occurred_at.lt(t));
        }
        q.limit(limit).load(conn)
    }
}

/// `action=case.share` matches that action; `action=case.` every action of cases.
#[derive(Debug, Clone)]
pub enum ActionFilter {
    Exact(String),
    /// Letters, digits, `_` and `.` only, so it is safe inside LIKE.
    Prefix(String),
}

/// Which audit rows a reader asked for, and may see.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// An auditor's scope: her organisation's events. None for admins: everything.
    pub organization_id: Option<String>,
    pub actor_id: Option<String>,
    pub action: Option<ActionFilter>,
    pub subject_id: Option<String>,
    pub outcome: Option<String>,
    /// From this time on (inclusive).
    pub from: Option<NaiveDateTime>,
    /// Before this time (exclusive).
    pub to: Option<NaiveDateTime>,
}
