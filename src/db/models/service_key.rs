use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{case_key_grants, service_keys};
use crate::db::DbConn;

/// The public half and state of one service identity; the secret half is in the key file.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = service_keys)]
pub struct ServiceKey {
    pub key_id: String,
    pub recipient: String,
    pub created_at: NaiveDateTime,
    pub is_current: bool,
    pub retired_at: Option<NaiveDateTime>,
}

impl ServiceKey {
    pub fn insert(&self, conn: &mut DbConn) -> QueryResult<()> {
        diesel::insert_into(service_keys::table).values(self).execute(conn).map(|_| ())
    }

    pub fn all(conn: &mut DbConn) -> QueryResult<Vec<ServiceKey>> {
        service_keys::table.order(service_keys::created_at.asc()).select(ServiceKey::as_select()).load(conn)
    }

    pub fn find(conn: &mut DbConn, key_id: &str) -> QueryResult<Option<ServiceKey>> {
        service_keys::table.find(key_id).select(ServiceKey::as_select()).get_result(conn).optional()
    }

    pub fn current(conn: &mut DbConn) -> QueryResult<Option<ServiceKey>> {
        service_keys::table
            .filter(service_keys::is_current.eq(true))
            .select(ServiceKey::as_select())
            .get_result(conn)
            .optional()
    }

    /// Makes `key_id` the one current key (two statements: the unique index allows only
    /// one current row at any moment).
    pub fn make_current(conn: &mut DbConn, key_id: &str) -> QueryResult<()> {
        diesel::update(service_keys::table.filter(service_keys::is_current.eq(true)))
            .set(service_keys::is_current.eq(false))
            .execute(conn)?;
        diesel::update(service_keys::table.find(key_id)).set(service_keys::is_current.eq(true)).execute(conn)?;
        Ok(())
    }

    pub fn mark_retired(conn: &mut DbConn, key_id: &str, now: NaiveDateTime) -> QueryResult<usize> {
        diesel::update(service_keys::table.find(key_id).filter(service_keys::retired_at.is_null()))
            .set(service_keys::retired_at.eq(now))
            .execute(conn)
    }

    /// How many service grants are wrapped with this key.
    pub fn grant_count(conn: &mut DbConn, key_id: &str) -> QueryResult<i64> {
        case_key_grants::table
            .filter(case_key_grants::grantee_kind.eq("service"))
            .filter(case_key_grants::key_id.eq(key_id))
            .count()
            .get_result(conn)
    }
}
