use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::service_settings;
use crate::db::DbConn;

/// One run-time setting (see the migration): a key and its value.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = service_settings)]
pub struct Setting {
    pub key: String,
    pub value: String,
    pub updated_by: Option<String>,
    pub updated_at: NaiveDateTime,
}

impl Setting {
    pub fn get(conn: &mut DbConn, key: &str) -> QueryResult<Option<Setting>> {
        service_settings::table.find(key).select(Setting::as_select()).get_result(conn).optional()
    }

    /// Sets the value, replacing any earlier one, in the caller's transaction.
    pub fn put(&self, conn: &mut DbConn) -> QueryResult<()> {
        diesel::delete(service_settings::table.find(&self.key)).execute(conn)?;
        diesel::insert_into(service_settings::table).values(self).execute(conn).map(|_| ())
    }
}
