//! Messages between the case team and the defender, who has no account: she reads and
//! writes them on the status page with her receipt. Each body is sealed with the case key
//! once her alert is in a case (the alert's own key before), and framed with the message id,
//! so shredding the case makes them unreadable too.

use chrono::{DateTime, Utc};

use crate::audit::{self, Entry};
use crate::clock::naive;
use crate::crypto::{Crypto, Sealed};
use crate::db::models::{Alert, Case, Message, Receipt};
use crate::db::DbConn;
use crate::domain::cases::{text_field, Caller};
use crate::domain::new_id;
use crate::domain::Ctx;
use crate::error::AppError;
use crate::escalation::Event;

/// Longest message, in characters.
pub const MAX_MESSAGE: usize = 5_000;
/// Most messages shown on a page or returned by the API at once (the newest).
pub const MAX_SHOWN: i64 = 200;

pub const TO_DEFENDER: &str = "to_defender";
pub const FROM_DEFENDER: &str = "from_defender";

fn record_id(message_id: &str) -> String {
    format!("message:{message_id}")
}

fn seal_and_insert(
    conn: &mut DbConn,
    crypto: &Crypto,
    now: DateTime<Utc>,
    alert: &Alert,
    direction: &str,
    author: Option<&str>,
    body: &str,
) -> Result<Message, AppError> {
    let id = new_id();
    let owner = alert.case_id.clone().unwrap_or_else(|| alert.id.clone());
    let sealed = crypto.seal(conn, &owner, &record_id(&id), body.as_bytes())?;
    let m = Message {
        id,
        alert_id: alert.id.clone(),
        direction: direction.into(),
        key_owner: owner,
        body_ct: sealed.ciphertext,
        key_version: sealed.key_version,
        author_id: author.map(str::to_string),
        created_at: naive(now),
    };
    m.insert(conn)?;
    Ok(m)
}

/// Staff to the defender, on a case. `alert_id` picks which of the case's alerts (which
/// receipt) when more than one came with a receipt.
pub fn send_to_defender(
    conn: &mut DbConn,
    crypto: &Crypto,
    now: DateTime<Utc>,
    caller: &Caller<'_>,
    case: &Case,
    alert_id: Option<&str>,
    body: &str,
) -> Result<Message, AppError> {
    let body = text_field("body", body, MAX_MESSAGE)?;
    if case.status == "closed" {
        return Err(AppError::conflict("case_closed", "reopen the case before writing to the defender"));
    }
    let alerts = Alert::for_case(conn, &case.id)?;
    let ids: Vec<String> = alerts.iter().map(|a| a.id.clone()).collect();
    let reachable = Receipt::alerts_with_receipt(conn, &ids)?;
    let alert = match alert_id {
        Some(want) => alerts.iter().find(|a| a.id == want && reachable.contains(&a.id)).ok_or_else(|| {
            AppError::unprocessable(
                "unknown_alert",
                "alert_id does not name an alert of this case filed with a receipt",
            )
        })?,
        None => match reachable.as_slice() {
            [one] => alerts.iter().find(|a| &a.id == one).ok_or(AppError::NotFound("alert_not_found"))?,
            [] => {
                return Err(AppError::conflict(
                    "no_receipt",
                    "no alert of this case came through the form: the defender cannot read messages here",
                ))
            }
            _ => {
                return Err(AppError::unprocessable(
                    "alert_id_required",
                    "several alerts of this case have a receipt: give alert_id",
                ))
            }
        },
    };
    let m = seal_and_insert(conn, crypto, now, alert, TO_DEFENDER, Some(&caller.user.id), &body)?;
    let e = Entry::new(Some(&caller.user.id), "message.send", "case", Some(&case.id))
        .detail(serde_json::json!({ "message": m.id, "alert": alert.id }));
    audit::record(conn, now, e)?;
    Ok(m)
}

/// Messages one alert's receipt may send in an hour. Far more than a person in trouble
/// writes; enough to stop a script (or whoever took her receipt) from burying the team's
/// view of the case, whatever addresses it comes from.
pub const FROM_DEFENDER_PER_HOUR: i64 = 10;

/// The defender's own message, from the status page. Audited without an actor. None (and
/// nothing stored) when this alert has sent `FROM_DEFENDER_PER_HOUR` in the last hour.
pub fn from_defender(conn: &mut DbConn, cx: &Ctx<'_>, alert: &Alert, body: &str) -> Result<Option<Message>, AppError> {
    let (rules, crypto, now) = (&*cx.rules, cx.crypto, cx.now);
    let body = text_field("body", body, MAX_MESSAGE)?;
    let hour_ago = naive(now - chrono::Duration::hours(1));
    if Message::count_from_defender_since(conn, &alert.id, hour_ago)? >= FROM_DEFENDER_PER_HOUR {
        return Ok(None);
    }
    let m = seal_and_insert(conn, crypto, now, alert, FROM_DEFENDER, None, &body)?;
    let e =
        Entry::new(None, "message.receive", "alert", Some(&alert.id)).detail(serde_json::json!({ "message": m.id }));
    audit::record(conn, now, e)?;
    // Before triage there is no case team yet: the alert's receiving coordinators are told.
    match &alert.case_id {
        Some(case_id) => crate::escalation::fire(conn, rules, now, Event::MessageReceived, case_id)?,
        None => crate::escalation::fire(conn, rules, now, Event::AlertMessageReceived, &alert.id)?,
    };
    Ok(Some(m))
}

pub fn open(conn: &mut DbConn, crypto: &Crypto, m: &Message) -> Result<String, AppError> {
    let sealed = Sealed { ciphertext: m.body_ct.clone(), key_version: m.key_version };
    let plain = crypto.open(conn, &m.key_owner, &record_id(&m.id), &sealed)?;
    String::from_utf8(plain.to_vec()).map_err(|_| AppError::internal(anyhow::anyhow!("message {} is not UTF-8", m.id)))
}

/// The bodies of many messages, in order, each key (per key owner and version) read once.
pub fn open_all(conn: &mut DbConn, crypto: &Crypto, messages: &[Message]) -> Result<Vec<String>, AppError> {
    let mut out: Vec<Option<String>> = vec![None; messages.len()];
    let mut owners: Vec<&str> = messages.iter().map(|m| m.key_owner.as_str()).collect();
    owners.sort_unstable();
    owners.dedup();
    for owner in owners {
        let at: Vec<usize> = (0..messages.len()).filter(|i| messages[*i].key_owner == owner).collect();
        let ids: Vec<String> = at.iter().map(|i| record_id(&messages[*i].id)).collect();
        let sealed: Vec<Sealed> = at
            .iter()
            .map(|i| Sealed { ciphertext: messages[*i].body_ct.clone(), key_version: messages[*i].key_version })
            .collect();
        let records: Vec<(&str, &Sealed)> = ids.iter().map(String::as_str).zip(&sealed).collect();
        for (i, plain) in at.iter().zip(crypto.open_all(conn, owner, &records)?) {
            let text = String::from_utf8(plain.to_vec())
                .map_err(|_| AppError::internal(anyhow::anyhow!("message {} is not UTF-8", messages[*i].id)))?;
            out[*i] = Some(text);
        }
    }
    Ok(out.into_iter().map(Option::unwrap_or_default).collect())
}
