use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{alerts, messages};
use crate::db::DbConn;

/// One message between the case team and the defender, sealed with the key of `key_owner`
/// (the case once the alert is triaged, the alert's own key before).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = messages)]
pub struct Message {
    pub id: String,
    pub alert_id: String,
    /// `to_defender` or `from_defender`.
    pub direction: String,
    pub key_owner: String,
    pub body_ct: Vec<u8>,
    pub key_version: i32,
    pub author_id: Option<String>,
    pub created_at: NaiveDateTime,
}

impl Message {
    pub fn insert(&self, conn: &mut DbConn) -> QueryResult<()> {
        diesel::insert_into(messages::table).values(self).execute(conn).map(|_| ())
    }

    pub fn find(conn: &mut DbConn, id: &str) -> QueryResult<Option<Message>> {
        messages::table.find(id).select(Message::as_select()).get_result(conn).optional()
    }

    /// How many messages the defender sent on one alert since `since`.
    pub fn count_from_defender_since(conn: &mut DbConn, alert_id: &str, since: NaiveDateTime) -> QueryResult<i64> {
        messages::table
            .filter(messages::alert_id.eq(alert_id))
            .filter(messages::direction.eq("from_defender"))
            .filter(messages::created_at.gt(since))
            .count()
            .get_result(conn)
    }

    /// The messages of one alert, oldest first, at most `limit` (the newest ones).
    pub fn for_alert(conn: &mut DbConn, alert_id: &str, limit: i64) -> QueryResult<Vec<Message>> {
        Message::for_alerts(conn, &[alert_id.to_string()], limit)
    }

    /// One alert's messages, newest first.
    pub fn for_alert_desc(conn: &mut DbConn, alert_id: &str) -> QueryResult<Vec<Message>> {
        messages::table
            .filter(messages::alert_id.eq(alert_id))
            .order((messages::created_at.desc(), messages::id.desc()))
            .select(Message::as_select())
            .load(conn)
    }

    /// The messages of every alert triaged into a case, newest first.
    pub fn for_case(conn: &mut DbConn, case_id: &str) -> QueryResult<Vec<Message>> {
        let ids: Vec<String> = alerts::table.filter(alerts::case_id.eq(case_id)).select(alerts::id).load(conn)?;
        messages::table
            .filter(messages::alert_id.eq_any(&ids))
            .order((messages::created_at.desc(), messages::id.desc()))
            .select(Message::as_select())
            .load(conn)
    }

    /// `(case_id, direction, created_at)` of the newest message of each of these cases that
    /// has one.
    pub fn newest_per_case(
        conn: &mut DbConn,
        case_ids: &[String],
    ) -> QueryResult<Vec<(String, String, NaiveDateTime)>> {
        if case_ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<(Option<String>, String, NaiveDateTime)> = messages::table
            .inner_join(alerts::table)
            .filter(alerts::case_id.eq_any(case_ids.iter().map(|s| Some(s.clone()))))
            .order((messages::created_at.desc(), messages::id.desc()))
            .select((alerts::case_id, messages::direction, messages::created_at))
            .load(conn)?;
        let mut seen = std::collections::BTreeSet::new();
        Ok(rows
            .into_iter()
            .filter_map(|(case_id, direction, at)| case_id.map(|c| (c, direction, at)))
            .filter(|(c, _, _)| seen.insert(c.clone()))
            .collect())
    }

    fn for_alerts(conn: &mut DbConn, alert_ids: &[String], limit: i64) -> QueryResult<Vec<Message>> {
        let mut rows: Vec<Message> = messages::table
            .filter(messages::alert_id.eq_any(alert_ids))
            .order((messages::created_at.desc(), messages::id.desc()))
            .limit(limit)
            .select(Message::as_select())
            .load(conn)?;
        rows.reverse();
        Ok(rows)
    }
}
