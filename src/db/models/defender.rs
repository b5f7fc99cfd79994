use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::defenders;
use crate::db::DbConn;

/// A protected person. The pseudonym is what lists show; `profile_ct` (legal name, contacts,
/// safe-contact instructions, location, dependants) is sealed with the defender's own key.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = defenders)]
pub struct Defender {
    pub id: String,
    pub pseudonym: String,
    pub country: String,
    pub networks: String,
    pub owner_organization_id: String,
    pub profile_ct: Vec<u8>,
    pub profile_key_version: i32,
    pub created_by: String,
    pub version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = defenders)]
pub struct DefenderChanges {
    pub pseudonym: Option<String>,
    pub country: Option<String>,
    pub networks: Option<String>,
    pub profile_ct: Option<Vec<u8>>,
    pub profile_key_version: Option<i32>,
}

impl Defender {
    pub fn insert(&self, conn: &mut DbConn) -> QueryResult<()> {
        diesel::insert_into(defenders::table).values(self).execute(conn).map(|_| ())
    }

    pub fn find(conn: &mut DbConn, id: &str) -> QueryResult<Option<Defender>> {
        defenders::table.find(id).select(Defender::as_select()).get_result(conn).optional()
    }

    /// Applies `changes` only at `expected_version`; false when someone changed it first.
    pub fn update_versioned(
        conn: &mut DbConn,
        id: &str,
        expected_version: i32,
        changes: &DefenderChanges,
        now: NaiveDateTime,
    ) -> QueryResult<bool> {
        let n = diesel::update(defenders::table.find(id).filter(defenders::version.eq(expected_version)))
            .set((changes, defenders::version.eq(expected_version + 1), defenders::updated_at.eq(now)))
            .execute(conn)?;
        Ok(n == 1)
    }

    /// The defenders of one organisation, newest first, after `cursor`.
    pub fn page_for_org(conn: &mut DbConn, org: &str, cursor: Option<&str>, limit: i64) -> QueryResult<Vec<Defender>> {
        let mut q = defenders::table.filter(defenders::owner_organization_id.eq(org.to_string())).into_boxed();
        if let Some(c) = cursor {
            q = q.filter(defenders::id.lt(c.to_string()));
        }
        q.order(defenders::id.desc()).limit(limit).select(Defender::as_select()).load(conn)
    }
}
