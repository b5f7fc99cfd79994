//! A member's second factors: her TOTP secret (sealed) and her single-use recovery codes
//! (Argon2id hashes).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{recovery_codes, user_totp};
use crate::db::DbConn;

/// No `Debug`: it holds her sealed secret.
#[derive(Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = user_totp)]
pub struct UserTotp {
    pub user_id: String,
    pub secret_ct: Vec<u8>,
    pub key_version: i32,
    pub created_at: NaiveDateTime,
    pub confirmed_at: Option<NaiveDateTime>,
    pub last_step: Option<i64>,
}

impl UserTotp {
    pub fn find(conn: &mut DbConn, user_id: &str) -> QueryResult<Option<UserTotp>> {
        user_totp::table.find(user_id).select(UserTotp::as_select()).first(conn).optional()
    }

    /// Replaces an unconfirmed secret (or stores the first).
    pub fn put_pending(&self, conn: &mut DbConn) -> QueryResult<()> {
        diesel::delete(user_totp::table.find(&self.user_id)).execute(conn)?;
        diesel::insert_into(user_totp::table).values(self).execute(conn).map(|_| ())
    }

    pub fn confirm(conn: &mut DbConn, user_id: &str, step: i64, now: NaiveDateTime) -> QueryResult<usize> {
        diesel::update(user_totp::table.find(user_id).filter(user_totp::confirmed_at.is_null()))
            .set((user_totp::confirmed_at.eq(now), user_totp::last_step.eq(step)))
            .execute(conn)
    }

    /// Records that a code of `step` was used, only if no code of that step or a later one
    /// was: 1 when it is the first use, 0 for a replay (however many instances race).
    pub fn use_step(conn: &mut DbConn, user_id: &str, step: i64) -> QueryResult<usize> {
        diesel::update(
            user_totp::table
                .find(user_id)
                .filter(user_totp::confirmed_at.is_not_null())
                .filter(user_totp::last_step.is_null().or(user_totp::last_step.lt(step))),
        )
        .set(user_totp::last_step.eq(step))
        .execute(conn)
    }

    pub fn delete(conn: &mut DbConn, user_id: &str) -> QueryResult<usize> {
        diesel::delete(user_totp::table.find(user_id)).execute(conn)
    }
}

/// No `Debug`: it holds a hash of her code.
#[derive(Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = recovery_codes)]
pub struct RecoveryCode {
    pub user_id: String,
    pub selector: String,
    pub code_hash: String,
    pub created_at: NaiveDateTime,
    pub used_at: Option<NaiveDateTime>,
}

impl RecoveryCode {
    /// Replaces all her codes with these.
    pub fn replace_all(conn: &mut DbConn, user_id: &str, codes: &[RecoveryCode]) -> QueryResult<()> {
        Self::delete_all(conn, user_id)?;
        for code in codes {
            diesel::insert_into(recovery_codes::table).values(code).execute(conn)?;
        }
        Ok(())
    }

    pub fn delete_all(conn: &mut DbConn, user_id: &str) -> QueryResult<usize> {
        diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user_id))).execute(conn)
    }

    /// Her unused code with this selector.
    pub fn find_unused(conn: &mut DbConn, user_id: &str, selector: &str) -> QueryResult<Option<RecoveryCode>> {
        recovery_codes::table
            .find((user_id, selector))
            .filter(recovery_codes::used_at.is_null())
            .select(RecoveryCode::as_select())
            .first(conn)
            .optional()
    }

    /// Marks a code used, only if it was not: 1 the first time, 0 if another request won.
    pub fn mark_used(conn: &mut DbConn, user_id: &str, selector: &str, now: NaiveDateTime) -> QueryResult<usize> {
        diesel::update(recovery_codes::table.find((user_id, selector)).filter(recovery_codes::used_at.is_null()))
            .set(recovery_codes::used_at.eq(now))
            .execute(conn)
    }

    pub fn count_unused(conn: &mut DbConn, user_id: &str) -> QueryResult<i64> {
        recovery_codes::table
            .filter(recovery_codes::user_id.eq(user_id))
            .filter(recovery_codes::used_at.is_null())
            .count()
            .get_result(conn)
    }
}
