//! Safety check-ins: an officer (or the defender herself, on the status page) asks for a
//! check-in by a time. The engine finds a check-in still pending after its time and fires
//! `checkin.missed` once (`escalation::engine::run_due`). Confirming ("she is safe") or
//! cancelling stops the escalation.

use chrono::{DateTime, Utc};

use crate::audit::{self, Entry};
use crate::clock::naive;
use crate::db::models::{Case, Checkin};
use crate::db::DbConn;
use crate::domain::cases::Caller;
use crate::domain::new_id;
use crate::domain::Ctx;
use crate::error::AppError;

/// How far ahead a check-in may be asked for.
pub const MAX_AHEAD_DAYS: i64 = 90;

pub fn schedule(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    caller: &Caller<'_>,
    case: &Case,
    due_at: DateTime<Utc>,
) -> Result<Checkin, AppError> {
    crate::domain::check_date("due_at", due_at)?;
    if due_at <= now || due_at > crate::domain::end_of_day(now + chrono::Duration::days(MAX_AHEAD_DAYS)) {
        return Err(AppError::unprocessable(
            "invalid_due_at",
            format!("due_at must be in the future, at most {MAX_AHEAD_DAYS} days ahead"),
        ));
    }
    if case.status == "closed" {
        return Err(AppError::conflict("case_closed", "a closed case takes no check-ins"));
    }
    let c = Checkin {
        id: new_id(),
        case_id: case.id.clone(),
        due_at: naive(due_at),
        status: "pending".into(),
        created_by: Some(caller.user.id.clone()),
        closed_by: None,
        closed_at: None,
        created_at: naive(now),
        source: "staff".into(),
        missed_at: None,
        alert_id: None,
        coerced_at: None,
    };
    c.insert(conn)?;
    let e = Entry::new(Some(&caller.user.id), "checkin.schedule", "case", Some(&case.id))
        .detail(serde_json::json!({ "checkin": c.id }));
    audit::record(conn, now, e)?;
    Ok(c)
}

/// `confirmed` (she checked in) or `cancelled`; only a pending check-in can be closed.
pub fn close(
    conn: &mut DbConn,
    cx: &Ctx<'_>,
    caller: &Caller<'_>,
    checkin: &Checkin,
    status: &str,
) -> Result<(), AppError> {
    let (rules, now) = (&*cx.rules, cx.now);
    if !Checkin::close(conn, &checkin.id, status, Some(&caller.user.id), naive(now))? {
        return Err(AppError::InvalidTransition { from: "closed", allowed: vec![] });
    }
    let e = Entry::new(Some(&caller.user.id), "checkin.close", "case", Some(&checkin.case_id))
        .detail(serde_json::json!({ "checkin": checkin.id, "status": status }));
    audit::record(conn, now, e)?;
    crate::escalation::settle_case(conn, rules, now, &checkin.case_id)?;
    Ok(())
}
