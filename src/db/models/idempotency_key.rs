use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::idempotency_keys;
use crate::db::DbConn;

/// What a request with an `Idempotency-Key` created, so a retry returns it again.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = idempotency_keys)]
pub struct IdempotencyKey {
    pub user_id: String,
    pub idem_key: String,
    pub route: String,
    pub request_hash: String,
    pub resource_id: String,
    pub created_at: NaiveDateTime,
}

impl IdempotencyKey {
    pub fn insert(&self, conn: &mut DbConn) -> QueryResult<()> {
        diesel::insert_into(idempotency_keys::table).values(self).execute(conn).map(|_| ())
    }

    pub fn find(conn: &mut DbConn, user_id: &str, key: &str) -> QueryResult<Option<IdempotencyKey>> {
        idempotency_keys::table.find((user_id, key)).select(IdempotencyKey::as_select()).get_result(conn).optional()
    }
}
