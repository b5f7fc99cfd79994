use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{refresh_tokens, sessions};
use crate::db::DbConn;

/// One login. Access tokens name it (`sid`); every request checks it is still live, so a
/// logout or a revocation takes effect on the next request.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = sessions)]
pub struct Session {
    pub id: String,
    pub user_id: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
    pub revoked_reason: Option<String>,
    /// A console session: the SHA-256 of its cookie's secret. None: an API session.
    pub console_secret_hash: Option<String>,
    /// A console session: when it was last used (the idle timeout counts from here).
    pub last_seen_at: Option<NaiveDateTime>,
}

/// A refresh token, stored only as its SHA-256. Each is good for one use; a second use
/// means it was stolen, and revokes the session.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = refresh_tokens)]
pub struct RefreshToken {
    pub token_hash: String,
    pub session_id: String,
    pub issued_at: NaiveDateTime,
    pub used_at: Option<NaiveDateTime>,
}

impl Session {
    pub fn insert(&self, conn: &mut DbConn) -> QueryResult<()> {
        diesel::insert_into(sessions::table).values(self).execute(conn).map(|_| ())
    }

    pub fn find(conn: &mut DbConn, id: &str) -> QueryResult<Option<Session>> {
        sessions::table.find(id).select(Session::as_select()).get_result(conn).optional()
    }

    /// The console session whose cookie secret hashes to `hash`.
    pub fn find_console(conn: &mut DbConn, hash: &str) -> QueryResult<Option<Session>> {
        sessions::table
            .filter(sessions::console_secret_hash.eq(hash))
            .select(Session::as_select())
            .get_result(conn)
            .optional()
    }

    pub fn touch(conn: &mut DbConn, id: &str, now: NaiveDateTime) -> QueryResult<usize> {
        diesel::update(sessions::table.find(id)).set(sessions::last_seen_at.eq(Some(now))).execute(conn)
    }

    pub fn is_live(&self, now: NaiveDateTime) -> bool {
        self.revoked_at.is_none() && self.expires_at > now
    }

    pub fn revoke(conn: &mut DbConn, id: &str, now: NaiveDateTime, reason: &str) -> QueryResult<usize> {
        diesel::update(sessions::table.find(id).filter(sessions::revoked_at.is_null()))
            .set((sessions::revoked_at.eq(now), sessions::revoked_reason.eq(reason)))
            .execute(conn)
    }

    /// Ends every live session of a user, except `keep` if given, in one statement.
    pub fn revoke_all_for_user(
        conn: &mut DbConn,
        user_id: &str,
        keep: Option<&str>,
        now: NaiveDateTime,
        reason: &str,
    ) -> QueryResult<usize> {
        let live = sessions::table.filter(sessions::user_id.eq(user_id)).filter(sessions::revoked_at.is_null());
        let set = (sessions::revoked_at.eq(now), sessions::revoked_reason.eq(reason));
        match keep {
            Some(k) => diesel::update(live.filter(sessions::id.ne(k))).set(set).execute(conn),
            None => diesel::update(live).set(set).execute(conn),
        }
    }
}

impl RefreshToken {
    pub fn insert(&self, conn: &mut DbConn) -> QueryResult<()> {
        diesel::insert_into(refresh_tokens::table).values(self).execute(conn).map(|_| ())
    }

    pub fn find(conn: &mut DbConn, token_hash: &str) -> QueryResult<Option<RefreshToken>> {
        refresh_tokens::table.find(token_hash).select(RefreshToken::as_select()).get_result(conn).optional()
    }

    /// Marks the token used; returns false when it already was (a replay).
    pub fn consume(conn: &mut DbConn, token_hash: &str, now: NaiveDateTime) -> QueryResult<bool> {
        diesel::update(refresh_tokens::table.find(token_hash).filter(refresh_tokens::used_at.is_null()))
            .set(refresh_tokens::used_at.eq(now))
            .execute(conn)
            .map(|n| n == 1)
    }
}
