//! Throttle counters kept in the database, so that every instance on one PostgreSQL
//! database counts together and a restart forgets nothing. A slot is an HMAC of what it
//! counts; this table never sees an address or an email. `auth::throttle` decides.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::throttles;
use crate::db::DbConn;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = throttles)]
pub struct Throttle {
    pub slot: String,
    /// Failures (or reports) counted in the window, this attempt's included once bumped.
    pub failures: i32,
    pub window_started_at: NaiveDateTime,
    /// The latest counted attempt.
    pub last_at: NaiveDateTime,
    /// The attempt before it (for the delay that attempt set).
    pub prev_last_at: Option<NaiveDateTime>,
    pub expires_at: NaiveDateTime,
}

impl Throttle {
    /// The live rows of these slots.
    pub fn live(conn: &mut DbConn, slots: &[String], now: NaiveDateTime) -> QueryResult<Vec<Throttle>> {
        throttles::table
            .filter(throttles::slot.eq_any(slots))
            .filter(throttles::expires_at.gt(now))
            .select(Throttle::as_select())
            .load(conn)
    }

    /// Counts one more in `slot`: in the live window, or in a new one ending at `expires`.
    /// An increment in SQL, so that two instances counting at once both count (PostgreSQL
    /// holds the row lock until commit). Returns the row as it now is.
    pub fn bump(conn: &mut DbConn, slot: &str, now: NaiveDateTime, expires: NaiveDateTime) -> QueryResult<Throttle> {
        let increment = |conn: &mut DbConn| {
            diesel::update(throttles::table.find(slot).filter(throttles::expires_at.gt(now)))
                .set((
                    throttles::failures.eq(throttles::failures + 1),
                    throttles::prev_last_at.eq(throttles::last_at.nullable()),
                    throttles::last_at.eq(now),
                ))
                .execute(conn)
        };
        if increment(conn)? == 0 {
            // Missing or expired: a new window, in place of a dead row.
            diesel::delete(throttles::table.find(slot).filter(throttles::expires_at.le(now))).execute(conn)?;
            let fresh = Throttle {
                slot: slot.to_string(),
                failures: 1,
                window_started_at: now,
                last_at: now,
                prev_last_at: None,
                expires_at: expires,
            };
            // In a savepoint: on PostgreSQL a failed insert would otherwise end the
            // transaction.
            let inserted = conn.transaction(|c| diesel::insert_into(throttles::table).values(&fresh).execute(c));
            match inserted {
                Ok(_) => {}
                // Another instance opened the window first: count in it.
                Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => {
                    increment(conn)?;
                }
                Err(e) => return Err(e),
            }
        }
        throttles::table.find(slot).select(Throttle::as_select()).first(conn)
    }

    /// Takes back one count of a live slot (a refused attempt, a success), restoring the
    /// latest attempt's time to the one before it when `restore_last` is set.
    pub fn give_back(conn: &mut DbConn, slot: &str, restore_last: bool, now: NaiveDateTime) -> QueryResult<usize> {
        let target =
            throttles::table.find(slot).filter(throttles::expires_at.gt(now)).filter(throttles::failures.gt(0));
        if restore_last {
            diesel::update(target)
                .set((
                    throttles::failures.eq(throttles::failures - 1),
                    throttles::last_at
                        .eq(diesel::dsl::sql::<diesel::sql_types::Timestamp>("COALESCE(prev_last_at, last_at)")),
                ))
                .execute(conn)
        } else {
            diesel::update(target).set(throttles::failures.eq(throttles::failures - 1)).execute(conn)
        }
    }

    pub fn delete(conn: &mut DbConn, slot: &str) -> QueryResult<usize> {
        diesel::delete(throttles::table.find(slot)).execute(conn)
    }

    /// Deletes the rows whose window has ended.
    pub fn sweep(conn: &mut DbConn, now: NaiveDateTime) -> QueryResult<usize> {
        diesel::delete(throttles::table.filter(throttles::expires_at.le(now))).execute(conn)
    }
}
