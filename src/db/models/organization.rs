use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::organizations;
use crate::db::DbConn;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = organizations)]
pub struct Organization {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub country: String,
    pub created_at: NaiveDateTime,
}

impl Organization {
    pub fn all_ids(conn: &mut DbConn) -> QueryResult<Vec<String>> {
        organizations::table.select(organizations::id).load(conn)
    }

    /// Every organisation, by name (a short list: the programmes one service hosts).
    pub fn all_by_name(conn: &mut DbConn) -> QueryResult<Vec<Organization>> {
        organizations::table.order(organizations::name.asc()).select(Organization::as_select()).load(conn)
    }

    pub fn insert(&self, conn: &mut DbConn) -> QueryResult<()> {
        diesel::insert_into(organizations::table).values(self).execute(conn).map(|_| ())
    }

    pub fn find(conn: &mut DbConn, id: &str) -> QueryResult<Option<Organization>> {
        organizations::table.find(id).select(Organization::as_select()).get_result(conn).optional()
    }

    pub fn find_by_name(conn: &mut DbConn, name: &str) -> QueryResult<Option<Organization>> {
        organizations::table
            .filter(organizations::name.eq(name))
            .select(Organization::as_select())
            .get_result(conn)
            .optional()
    }

    /// A page ordered by id (UUID v7, so by creation time), after `cursor` if given.
    pub fn page(conn: &mut DbConn, cursor: Option<&str>, limit: i64) -> QueryResult<Vec<Organization>> {
        let mut q = organizations::table.select(Organization::as_select()).order(organizations::id.asc()).into_boxed();
        if let Some(c) = cursor {
            q = q.filter(organizations::id.gt(c.to_string()));
        }
        q.limit(limit).load(conn)
    }

    pub fn count(conn: &mut DbConn) -> QueryResult<i64> {
        organizations::table.count().get_result(conn)
    }
}
