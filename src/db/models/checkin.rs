use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::checkins;
use crate::db::DbConn;

/// A safety check-in the defender is expected to make by `due_at`.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = checkins)]
pub struct Checkin {
    pub id: String,
    pub case_id: String,
    pub due_at: NaiveDateTime,
    pub status: String,
    /// The officer who asked for it; none when the defender asked herself.
    pub created_by: Option<String>,
    pub closed_by: Option<String>,
    pub closed_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    /// `staff` or `defender`.
    pub source: String,
    /// When the engine found it missed (and fired `checkin.missed`).
    pub missed_at: Option<NaiveDateTime>,
    /// The alert (receipt) of a check-in she asked for herself.
    pub alert_id: Option<String>,
    /// "I am safe" said with the duress PIN: still pending, hidden from her status page.
    pub coerced_at: Option<NaiveDateTime>,
}

impl Checkin {
    pub fn insert(&self, conn: &mut DbConn) -> QueryResult<()> {
        diesel::insert_into(checkins::table).values(self).execute(conn).map(|_| ())
    }

    /// The pending check-ins of these cases due by `by` (missed ones included), soonest first.
    pub fn pending_due(conn: &mut DbConn, case_ids: &[String], by: NaiveDateTime) -> QueryResult<Vec<Checkin>> {
        if case_ids.is_empty() {
            return Ok(Vec::new());
        }
        checkins::table
            .filter(checkins::case_id.eq_any(case_ids))
            .filter(checkins::status.eq("pending"))
            .filter(checkins::due_at.le(by))
            .order(checkins::due_at.asc())
            .select(Checkin::as_select())
            .load(conn)
    }

    pub fn find(conn: &mut DbConn, id: &str) -> QueryResult<Option<Checkin>> {
        checkins::table.find(id).select(Checkin::as_select()).get_result(conn).optional()
    }

    pub fn for_case(conn: &mut DbConn, case_id: &str) -> QueryResult<Vec<Checkin>> {
        checkins::table
            .filter(checkins::case_id.eq(case_id))
            .order(checkins::due_at.desc())
            .select(Checkin::as_select())
            .load(conn)
    }

    /// The pending check-ins a receipt may see and confirm: those she asked for with this
    /// receipt, and those staff asked for on her case.
    pub fn pending_for_receipt(conn: &mut DbConn, case_id: &str, alert_id: &str) -> QueryResult<Vec<Checkin>> {
        checkins::table
            .filter(checkins::case_id.eq(case_id))
            .filter(checkins::status.eq("pending"))
            .filter(checkins::alert_id.eq(alert_id).or(checkins::alert_id.is_null()))
            .order(checkins::due_at.asc())
            .select(Checkin::as_select())
            .load(conn)
    }

    /// Cancels every pending check-in of a case (it was shredded).
    pub fn cancel_pending_for_case(conn: &mut DbConn, case_id: &str, now: NaiveDateTime) -> QueryResult<usize> {
        diesel::update(checkins::table.filter(checkins::case_id.eq(case_id)).filter(checkins::status.eq("pending")))
            .set((checkins::status.eq("cancelled"), checkins::closed_at.eq(Some(now))))
            .execute(conn)
    }

    /// Hides a pending check-in from the status page (duress); it stays pending.
    pub fn mark_coerced(conn: &mut DbConn, id: &str, now: NaiveDateTime) -> QueryResult<()> {
        diesel::update(checkins::table.find(id).filter(checkins::coerced_at.is_null()))
            .set(checkins::coerced_at.eq(Some(now)))
            .execute(conn)
            .map(|_| ())
    }

    /// Pending check-ins whose time has passed and whose miss has not been signalled yet.
    pub fn newly_missed(conn: &mut DbConn, now: NaiveDateTime, limit: i64) -> QueryResult<Vec<Checkin>> {
        checkins::table
            .filter(crate::db::literal("checkins.status = 'pending'")) // the partial index checkins_due_idx
            .filter(checkins::missed_at.is_null())
            .filter(checkins::due_at.le(now))
            .order(checkins::due_at.asc())
            .limit(limit)
            .select(Checkin::as_select())
            .load(conn)
    }

    /// Marks a check-in missed; false if it was closed or marked meanwhile (by another
    /// instance), so the event fires once.
    pub fn mark_missed(conn: &mut DbConn, id: &str, now: NaiveDateTime) -> QueryResult<bool> {
        let n = diesel::update(
            checkins::table.find(id).filter(checkins::status.eq("pending")).filter(checkins::missed_at.is_null()),
        )
        .set(checkins::missed_at.eq(Some(now)))
        .execute(conn)?;
        Ok(n == 1)
    }

    /// Closes a pending check-in; false if it was not pending any more.
    pub fn close(conn: &mut DbConn, id: &str, status: &str, by: Option<&str>, now: NaiveDateTime) -> QueryResult<bool> {
        let n = diesel::update(checkins::table.find(id).filter(checkins::status.eq("pending")))
            .set((checkins::status.eq(status), checkins::closed_by.eq(by), checkins::closed_at.eq(Some(now))))
            .execute(conn)?;
        Ok(n == 1)
    }
}
