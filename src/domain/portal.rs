//! What the defender can do on the status page with her receipt: see where her alert
//! stands, ask for a safety check-in, say she is safe, set her PINs, and (without anyone
//! watching her screen being able to tell) signal duress. No caller: the receipt is the
//! credential, checked by `form`; audit entries carry no actor and nothing about her.

use chrono::{DateTime, Utc};

use crate::audit::{self, Entry};
use crate::clock::naive;
use crate::db::models::{Alert, Case, Checkin, Receipt};
use crate::db::DbConn;
use crate::domain::cases::Severity;
use crate::domain::new_id;
use crate::domain::Ctx;
use crate::error::AppError;
use crate::escalation::Rules;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertState {
    Received,
    Handling,
    Closed,
}

/// The alert's state in plain words: received (not triaged yet), being handled (in a case
/// that is not closed), closed (dismissed, merged, or its case closed).
pub fn state_of(conn: &mut DbConn, alert: &Alert) -> Result<(AlertState, Option<Case>), AppError> {
    match alert.status.as_str() {
        "received" => Ok((AlertState::Received, None)),
        "triaged" => {
            let case = match &alert.case_id {
                Some(id) => Case::find(conn, id)?,
                None => None,
            };
            let state = match &case {
                Some(c) if c.status != "closed" => AlertState::Handling,
                _ => AlertState::Closed,
            };
            Ok((state, case))
        }
        _ => Ok((AlertState::Closed, None)),
    }
}

/// Check-ins she may have waiting at once from her receipt: each one that passes unconfirmed
/// alerts the team, so more than a few would only bury the one that matters. She can
/// always say she is safe, which closes them.
pub const MAX_PENDING_CHECKINS: usize = 3;

/// "Check in with me within `hours`": a pending check-in on her case, which starts the
/// missed-check-in escalation if still pending at its time. Only once her alert is in an open case.
pub fn request_checkin(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    case: &Case,
    alert: &Alert,
    hours: u32,
) -> Result<Option<Checkin>, AppError> {
    if case.status == "closed" || !(1..=72).contains(&hours) {
        return Err(AppError::unprocessable("invalid_checkin", "no check-in possible"));
    }
    let mine = Checkin::pending_for_receipt(conn, &case.id, &alert.id)?
        .into_iter()
        .filter(|c| c.source == "defender" && c.alert_id.as_deref() == Some(alert.id.as_str()))
        .count();
    if mine >= MAX_PENDING_CHECKINS {
        return Ok(None);
    }
    let c = Checkin {
        id: new_id(),
        case_id: case.id.clone(),
        due_at: naive(now + chrono::Duration::hours(i64::from(hours))),
        status: "pending".into(),
        created_by: None,
        closed_by: None,
        closed_at: None,
        created_at: naive(now),
        source: "defender".into(),
        missed_at: None,
        alert_id: Some(alert.id.clone()),
        coerced_at: None,
    };
    c.insert(conn)?;
    let e = Entry::new(None, "checkin.schedule", "case", Some(&case.id))
        .detail(serde_json::json!({ "checkin": c.id, "source": "defender" }));
    audit::record(conn, now, e)?;
    Ok(Some(c))
}

/// The pending check-ins her status page shows: hers and the team's, not those she
/// "confirmed" under duress.
pub fn visible_checkins(conn: &mut DbConn, case: &Case, alert: &Alert) -> Result<Vec<Checkin>, AppError> {
    Ok(Checkin::pending_for_receipt(conn, &case.id, &alert.id)?
        .into_iter()
        .filter(|c| c.coerced_at.is_none())
        .collect())
}

/// "I am safe": confirms the pending check-ins this receipt may see (her own, and those
/// staff asked for on her case). Returns how many.
pub fn confirm_safe(conn: &mut DbConn, cx: &Ctx<'_>, case: Option<&Case>, alert: &Alert) -> Result<usize, AppError> {
    let (rules, now) = (&*cx.rules, cx.now);
    let Some(case) = case else { return Ok(0) };
    let mut n = 0;
    for c in Checkin::pending_for_receipt(conn, &case.id, &alert.id)? {
        if Checkin::close(conn, &c.id, "confirmed", None, naive(now))? {
            let e = Entry::new(None, "checkin.close", "case", Some(&case.id))
                .detail(serde_json::json!({ "checkin": c.id, "status": "confirmed", "source": "defender" }));
            audit::record(conn, now, e)?;
            n += 1;
        }
    }
    crate::escalation::settle_case(conn, rules, now, &case.id)?;
    Ok(n)
}

/// The duress PIN was used. Her case (or, before triage, her alert) becomes critical and
/// the duress escalation starts. Her pending check-ins stay pending, so they escalate too,
/// but disappear from her status page as a real "I am safe" would make them. Nothing of
/// this shows on her page.
pub fn duress(conn: &mut DbConn, rules: &Rules, now: DateTime<Utc>, alert: &Alert) -> Result<(), AppError> {
    match &alert.case_id {
        Some(case_id) => {
            for c in Checkin::pending_for_receipt(conn, case_id, &alert.id)? {
                Checkin::mark_coerced(conn, &c.id, naive(now))?;
            }
            // Only the duress rules fire, not also the raised-to-critical ones: one alarm,
            // not two mails saying different things.
            Case::raise_severity(conn, case_id, Severity::Critical.as_str(), &Severity::Critical.below(), naive(now))?;
            audit::record(conn, now, Entry::new(None, "case.duress", "case", Some(case_id)))?;
            crate::escalation::fire(conn, rules, now, crate::escalation::Event::CaseDuress, case_id)?;
        }
        None => {
            Alert::raise_to_critical(conn, &alert.id, naive(now))?;
            Alert::mark_duress(conn, &alert.id, naive(now))?;
            audit::record(conn, now, Entry::new(None, "alert.duress", "alert", Some(&alert.id)))?;
            crate::escalation::fire(conn, rules, now, crate::escalation::Event::AlertDuress, &alert.id)?;
        }
    }
    Ok(())
}

/// The PINs she was made to set after giving the duress PIN as the current one (already
/// hashed): kept apart as decoys, so that whoever forced the change finds that they work,
/// while each use of them raises the duress alarm again. Her real PINs stay as they were;
/// a later forced change replaces the decoys.
pub fn set_decoy_pins(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    alert: &Alert,
    receipt: &Receipt,
    safe_hash: &str,
    duress_hash: &str,
) -> Result<(), AppError> {
    Receipt::set_decoy_pins(conn, &receipt.lookup, safe_hash, duress_hash)?;
    audit::record(conn, now, Entry::new(None, "receipt.decoy_pins_set", "alert", Some(&alert.id)))?;
    Ok(())
}
