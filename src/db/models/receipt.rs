use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{form_submissions, receipts};
use crate::db::DbConn;

/// The lookup of a defender's receipt: a keyed Argon2id hash, never the receipt.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = receipts)]
pub struct Receipt {
    pub lookup: String,
    pub alert_id: String,
    pub created_at: NaiveDateTime,
    pub last_used_at: NaiveDateTime,
    pub safe_pin_hash: Option<String>,
    pub duress_pin_hash: Option<String>,
    /// The PINs she was made to set after giving the duress PIN as the current one: each
    /// use of them raises the duress alarm (see `domain::portal::set_decoy_pins`).
    pub decoy_safe_pin_hash: Option<String>,
    pub decoy_duress_pin_hash: Option<String>,
}

impl Receipt {
    pub fn insert(&self, conn: &mut DbConn) -> QueryResult<()> {
        diesel::insert_into(receipts::table).values(self).execute(conn).map(|_| ())
    }

    pub fn find(conn: &mut DbConn, lookup: &str) -> QueryResult<Option<Receipt>> {
        receipts::table.find(lookup).select(Receipt::as_select()).get_result(conn).optional()
    }

    pub fn for_alert(conn: &mut DbConn, alert_id: &str) -> QueryResult<Option<Receipt>> {
        receipts::table.filter(receipts::alert_id.eq(alert_id)).select(Receipt::as_select()).get_result(conn).optional()
    }

    /// Whether any of these alerts has a receipt (someone to write to).
    pub fn alerts_with_receipt(conn: &mut DbConn, alert_ids: &[String]) -> QueryResult<Vec<String>> {
        receipts::table.filter(receipts::alert_id.eq_any(alert_ids)).select(receipts::alert_id).load(conn)
    }

    pub fn touch(conn: &mut DbConn, lookup: &str, now: NaiveDateTime) -> QueryResult<()> {
        diesel::update(receipts::table.find(lookup)).set(receipts::last_used_at.eq(now)).execute(conn).map(|_| ())
    }

    pub fn set_pins(conn: &mut DbConn, lookup: &str, safe: &str, duress: &str) -> QueryResult<()> {
        diesel::update(receipts::table.find(lookup))
            .set((receipts::safe_pin_hash.eq(Some(safe)), receipts::duress_pin_hash.eq(Some(duress))))
            .execute(conn)
            .map(|_| ())
    }

    /// Replaces the decoy PINs; the real ones are left as they are.
    pub fn set_decoy_pins(conn: &mut DbConn, lookup: &str, safe: &str, duress: &str) -> QueryResult<()> {
        diesel::update(receipts::table.find(lookup))
            .set((receipts::decoy_safe_pin_hash.eq(Some(safe)), receipts::decoy_duress_pin_hash.eq(Some(duress))))
            .execute(conn)
            .map(|_| ())
    }
}

/// A form token already used, and the alert it made.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = form_submissions)]
pub struct FormSubmission {
    pub token_digest: String,
    pub alert_id: String,
    pub created_at: NaiveDateTime,
}

impl FormSubmission {
    pub fn find(conn: &mut DbConn, digest: &str) -> QueryResult<Option<FormSubmission>> {
        form_submissions::table.find(digest).select(FormSubmission::as_select()).get_result(conn).optional()
    }

    pub fn insert(&self, conn: &mut DbConn) -> QueryResult<()> {
        diesel::insert_into(form_submissions::table).values(self).execute(conn).map(|_| ())
    }
}
