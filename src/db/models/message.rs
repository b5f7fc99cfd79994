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

    /// `(case_id, when)` of the cases among these whose newest message went in direction
    /// `hers` with none in direction `ours` since: two aggregate queries (the latest of each
    /// direction per case), whatever the number of messages.
    pub fn awaiting_answer(
        conn: &mut DbConn,
        case_ids: &[String],
        hers: &str,
        ours: &str,
    ) -> QueryResult<Vec<(String, NaiveDateTime)>> {
        if case_ids.is_empty() {
            return Ok(Vec::new());
        }
        let latest =
            |conn: &mut DbConn, direction: &str| -> QueryResult<Vec<(Option<String>, Option<NaiveDateTime>)>> {
                messages::table
                    .inner_join(alerts::table)
                    .filter(alerts::case_id.eq_any(case_ids.iter().map(|s| Some(s.clone()))))
                    .filter(messages::direction.eq(direction.to_string()))
                    .group_by(alerts::case_id)
                    .select((alerts::case_id, diesel::dsl::max(messages::created_at)))
                    .load(conn)
            };
        let answered: std::collections::BTreeMap<String, NaiveDateTime> =
            latest(conn, ours)?.into_iter().filter_map(|(c, at)| Some((c?, at?))).collect();
        Ok(latest(conn, hers)?
            .into_iter()
            .filter_map(|(c, at)| Some((c?, at?)))
            .filter(|(c, hers)| answered.get(c).is_none_or(|ours| ours < hers))
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
