use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::users;
use crate::db::DbConn;

#[derive(Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: String,
    pub organization_id: String,
    pub email: String,
    /// Lower-cased, trimmed: the unique key, so `Ana@X.org` and `ana@x.org` are one account.
    pub email_normalized: String,
    pub name: String,
    pub role: String,
    pub password_hash: String,
    pub active: bool,
    /// Set for generated one-time passwords: the account can do nothing else until it
    /// chooses its own.
    pub must_change_password: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// Her console's language (`en`, `fr`, `es`, `ar`); None: her browser's.
    pub language: Option<String>,
    /// When she first confirmed a second factor; None: she signs in with a password alone.
    pub mfa_enabled_at: Option<NaiveDateTime>,
}

/// `Debug` leaves the password hash out.
impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("organization_id", &self.organization_id)
            .field("role", &self.role)
            .field("active", &self.active)
            .finish_non_exhaustive()
    }
}

#[derive(Default, AsChangeset)]
#[diesel(table_name = users)]
pub struct UserChanges {
    pub role: Option<String>,
    pub active: Option<bool>,
    pub password_hash: Option<String>,
    pub must_change_password: Option<bool>,
    pub updated_at: Option<NaiveDateTime>,
    pub language: Option<Option<String>>,
    pub mfa_enabled_at: Option<Option<NaiveDateTime>>,
}

pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

impl User {
    /// How many active users have `role`, in one organisation or (None) in the service.
    pub fn count_active(conn: &mut DbConn, organization_id: Option<&str>, role: &str) -> QueryResult<i64> {
        let mut q = users::table.filter(users::role.eq(role.to_string())).filter(users::active.eq(true)).into_boxed();
        if let Some(org) = organization_id {
            q = q.filter(users::organization_id.eq(org.to_string()));
        }
        q.count().get_result(conn)
    }

    /// Active users of an organisation with a role, by id.
    pub fn active_with_role(conn: &mut DbConn, organization_id: &str, role: &str) -> QueryResult<Vec<User>> {
        users::table
            .filter(users::organization_id.eq(organization_id))
            .filter(users::role.eq(role))
            .filter(users::active.eq(true))
            .order(users::id.asc())
            .select(User::as_select())
            .load(conn)
    }

    /// Active users assigned to a case, by id.
    pub fn active_assignees(conn: &mut DbConn, case_id: &str) -> QueryResult<Vec<User>> {
        use crate::db::schema::case_assignees;
        users::table
            .inner_join(case_assignees::table.on(case_assignees::user_id.eq(users::id)))
            .filter(case_assignees::case_id.eq(case_id))
            .filter(users::active.eq(true))
            .order(users::id.asc())
            .select(User::as_select())
            .load(conn)
    }

    /// `(id, name)` of these users, for pages that show who did what: one query.
    pub fn names(conn: &mut DbConn, ids: &[String]) -> QueryResult<Vec<(String, String)>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        users::table.filter(users::id.eq_any(ids)).select((users::id, users::name)).load(conn)
    }

    /// Active coordinators and officers of these organisations, by name: who may be assigned.
    pub fn active_staff_of(conn: &mut DbConn, organization_ids: &[String]) -> QueryResult<Vec<User>> {
        users::table
            .filter(users::organization_id.eq_any(organization_ids))
            .filter(users::role.eq_any(["coordinator", "officer"]))
            .filter(users::active.eq(true))
            .order((users::name.asc(), users::id.asc()))
            .select(User::as_select())
            .load(conn)
    }

    pub fn insert(&self, conn: &mut DbConn) -> QueryResult<()> {
        diesel::insert_into(users::table).values(self).execute(conn).map(|_| ())
    }

    pub fn find(conn: &mut DbConn, id: &str) -> QueryResult<Option<User>> {
        users::table.find(id).select(User::as_select()).get_result(conn).optional()
    }

    pub fn find_by_email(conn: &mut DbConn, email: &str) -> QueryResult<Option<User>> {
        users::table
            .filter(users::email_normalized.eq(normalize_email(email)))
            .select(User::as_select())
            .get_result(conn)
            .optional()
    }

    pub fn update(conn: &mut DbConn, id: &str, changes: &UserChanges) -> QueryResult<usize> {
        diesel::update(users::table.find(id)).set(changes).execute(conn)
    }

    /// A page ordered by id, after `cursor` if given, optionally within one organisation.
    pub fn page(
        conn: &mut DbConn,
        organization_id: Option<&str>,
        cursor: Option<&str>,
        limit: i64,
    ) -> QueryResult<Vec<User>> {
        let mut q = users::table.select(User::as_select()).order(users::id.asc()).into_boxed();
        if let Some(org) = organization_id {
            q = q.filter(users::organization_id.eq(org.to_string()));
        }
        if let Some(c) = cursor {
            q = q.filter(users::id.gt(c.to_string()));
        }
        q.limit(limit).load(conn)
    }

    pub fn count(conn: &mut DbConn) -> QueryResult<i64> {
        users::table.count().get_result(conn)
    }
}
