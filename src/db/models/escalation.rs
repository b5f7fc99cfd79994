use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{escalations, outbox};
use crate::db::DbConn;

/// One escalation chain: a policy running against one subject (a case, an alert, a visa…).
/// `next_due_at` is set exactly while the chain is active.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = escalations)]
pub struct Escalation {
    pub id: String,
    pub policy_id: String,
    pub policy_hash: String,
    pub event: String,
    pub subject_kind: String,
    pub subject_id: String,
    pub case_id: Option<String>,
    pub organization_id: String,
    pub reference: String,
    pub status: String,
    pub anchor_at: NaiveDateTime,
    pub step: i32,
    pub loop_no: i32,
    pub next_due_at: Option<NaiveDateTime>,
    pub last_fired_at: Option<NaiveDateTime>,
    pub acknowledged_by: Option<String>,
    pub acknowledged_at: Option<NaiveDateTime>,
    pub ended_reason: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = escalations)]
pub struct EscalationChanges {
    pub policy_hash: Option<String>,
    pub status: Option<String>,
    pub step: Option<i32>,
    pub loop_no: Option<i32>,
    pub next_due_at: Option<Option<NaiveDateTime>>,
    pub last_fired_at: Option<Option<NaiveDateTime>>,
    pub acknowledged_by: Option<Option<String>>,
    pub acknowledged_at: Option<Option<NaiveDateTime>>,
    pub ended_reason: Option<Option<String>>,
}

/// One notification to one recipient, waiting for (or done with) delivery.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = outbox)]
pub struct OutboxMessage {
    pub id: String,
    pub escalation_id: String,
    pub step: i32,
    pub loop_no: i32,
    pub target: String,
    pub recipient: String,
    pub user_id: Option<String>,
    pub subject: String,
    pub body: String,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    pub deadline_at: NaiveDateTime,
    pub last_error: Option<String>,
    pub sent_at: Option<NaiveDateTime>,
    pub acked_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
}

impl Escalation {
    pub fn insert(&self, conn: &mut DbConn) -> QueryResult<()> {
        diesel::insert_into(escalations::table).values(self).execute(conn).map(|_| ())
    }

    pub fn find(conn: &mut DbConn, id: &str) -> QueryResult<Option<Escalation>> {
        escalations::table.find(id).select(Escalation::as_select()).get_result(conn).optional()
    }

    pub fn active_for(
        conn: &mut DbConn,
        policy_id: &str,
        subject_kind: &str,
        subject_id: &str,
    ) -> QueryResult<Option<Escalation>> {
        escalations::table
            .filter(escalations::policy_id.eq(policy_id))
            .filter(escalations::subject_kind.eq(subject_kind))
            .filter(escalations::subject_id.eq(subject_id))
            .filter(crate::db::literal("escalations.status = 'active'")) // the partial index escalations_one_active
            .select(Escalation::as_select())
            .get_result(conn)
            .optional()
    }

    /// Ends an escalation: `status` (stopped, completed…) with `reason`, off the due index.
    pub fn end(conn: &mut DbConn, id: &str, status: &str, reason: &str, now: NaiveDateTime) -> QueryResult<()> {
        let changes = EscalationChanges {
            status: Some(status.into()),
            next_due_at: Some(None),
            ended_reason: Some(Some(reason.into())),
            ..Default::default()
        };
        Escalation::update(conn, id, &changes, now)
    }

    /// The running escalations of a case (its own and its records').
    pub fn active_for_case(conn: &mut DbConn, case_id: &str) -> QueryResult<Vec<String>> {
        escalations::table
            .filter(escalations::case_id.eq(case_id))
            .filter(escalations::status.eq("active"))
            .select(escalations::id)
            .load(conn)
    }

    /// One batch of the escalations a reader may be shown, oldest first: her organisation's,
    /// and those of the cases she is assigned to, after `after`, in `status` (None: any).
    /// The caller still checks each row's need-to-know.
    /// The active escalations of one case (on the case or any of its records), oldest first.
    pub fn active_rows_of_case(conn: &mut DbConn, case_id: &str) -> QueryResult<Vec<Escalation>> {
        escalations::table
            .filter(escalations::case_id.eq(case_id))
            .filter(escalations::status.eq("active"))
            .order(escalations::id.asc())
            .select(Escalation::as_select())
            .load(conn)
    }

    pub fn batch_for_reader(
        conn: &mut DbConn,
        organization_id: &str,
        assigned_cases: &[String],
        status: Option<&str>,
        after: Option<&str>,
        limit: i64,
    ) -> QueryResult<Vec<Escalation>> {
        let mut query = escalations::table
            .filter(
                escalations::organization_id
                    .eq(organization_id)
                    .or(escalations::case_id.eq_any(assigned_cases.iter().map(|s| Some(s.clone())))),
            )
            .order(escalations::id.asc())
            .limit(limit)
            .select(Escalation::as_select())
            .into_boxed();
        if let Some(s) = status {
            query = query.filter(escalations::status.eq(s.to_string()));
        }
        if let Some(a) = after {
            query = query.filter(escalations::id.gt(a.to_string()));
        }
        query.load(conn)
    }

    pub fn count_active(conn: &mut DbConn) -> QueryResult<i64> {
        escalations::table.filter(escalations::status.eq("active")).count().get_result(conn)
    }

    /// The earliest step due by `now` (the engine's lag), if any.
    pub fn oldest_due(conn: &mut DbConn, now: NaiveDateTime) -> QueryResult<Option<NaiveDateTime>> {
        escalations::table
            .filter(escalations::next_due_at.le(now))
            .select(diesel::dsl::min(escalations::next_due_at))
            .get_result(conn)
    }

    /// Its status and why it ended, if it exists.
    pub fn status_of(conn: &mut DbConn, id: &str) -> QueryResult<Option<(String, Option<String>)>> {
        escalations::table.find(id).select((escalations::status, escalations::ended_reason)).get_result(conn).optional()
    }

    /// The running escalations of a case and its records, whole.
    pub fn running_for_case(conn: &mut DbConn, case_id: &str) -> QueryResult<Vec<Escalation>> {
        escalations::table
            .filter(escalations::case_id.eq(case_id))
            .filter(crate::db::literal("escalations.status = 'active'"))
            .order(escalations::id.asc())
            .select(Escalation::as_select())
            .load(conn)
    }

    pub fn update(conn: &mut DbConn, id: &str, changes: &EscalationChanges, now: NaiveDateTime) -> QueryResult<()> {
        diesel::update(escalations::table.find(id))
            .set((changes, escalations::updated_at.eq(now)))
            .execute(conn)
            .map(|_| ())
    }
}

impl OutboxMessage {
    /// One multi-row INSERT (the multi-backend connection cannot batch, its parts can).
    pub fn insert_all(conn: &mut DbConn, rows: &[OutboxMessage]) -> QueryResult<()> {
        for chunk in rows.chunks(500) {
            match conn {
                DbConn::Sqlite(c) => diesel::insert_into(outbox::table).values(chunk).execute(c)?,
                DbConn::Postgres(c) => diesel::insert_into(outbox::table).values(chunk).execute(c)?,
            };
        }
        Ok(())
    }

    pub fn find(conn: &mut DbConn, id: &str) -> QueryResult<Option<OutboxMessage>> {
        outbox::table.find(id).select(OutboxMessage::as_select()).get_result(conn).optional()
    }

    pub fn count_with_status(conn: &mut DbConn, status: &str) -> QueryResult<i64> {
        outbox::table.filter(outbox::status.eq(status.to_string())).count().get_result(conn)
    }

    /// `cancelled` (its escalation ended) or `failed` (past its deadline): never sent.
    pub fn set_status(conn: &mut DbConn, id: &str, status: &str) -> QueryResult<()> {
        diesel::update(outbox::table.find(id)).set(outbox::status.eq(status)).execute(conn).map(|_| ())
    }

    /// Counts an attempt and holds the message until `until`, so no other sender takes it.
    pub fn lease(conn: &mut DbConn, id: &str, attempts: i32, until: NaiveDateTime) -> QueryResult<()> {
        diesel::update(outbox::table.find(id))
            .set((outbox::attempts.eq(attempts), outbox::next_attempt_at.eq(until)))
            .execute(conn)
            .map(|_| ())
    }

    pub fn mark_sent(conn: &mut DbConn, id: &str, at: NaiveDateTime) -> QueryResult<()> {
        diesel::update(outbox::table.find(id))
            .set((outbox::status.eq("sent"), outbox::sent_at.eq(Some(at)), outbox::last_error.eq(None::<String>)))
            .execute(conn)
            .map(|_| ())
    }

    /// A failed attempt: tried again at `retry_at`. `error` names no secret (see the mailer).
    pub fn mark_retry(conn: &mut DbConn, id: &str, retry_at: NaiveDateTime, error: &str) -> QueryResult<()> {
        diesel::update(outbox::table.find(id))
            .set((outbox::next_attempt_at.eq(retry_at), outbox::last_error.eq(Some(error.to_string()))))
            .execute(conn)
            .map(|_| ())
    }

    /// Marks its acknowledgement link used; false if it already was.
    pub fn mark_acked(conn: &mut DbConn, id: &str, at: NaiveDateTime) -> QueryResult<bool> {
        diesel::update(outbox::table.find(id).filter(outbox::acked_at.is_null()))
            .set(outbox::acked_at.eq(Some(at)))
            .execute(conn)
            .map(|n| n > 0)
    }
}
