//! The escalations a user may see, and acknowledging one. Need-to-know: an escalation on a
//! case is visible to whoever may read the case; one on an alert not yet triaged, to its
//! organisation's coordinators.

use chrono::{DateTime, Utc};

use crate::authz::AccessPolicy;
use crate::db::models::{Case, CaseAssignee, Escalation, User};
use crate::db::DbConn;
use crate::error::AppError;
use crate::escalation::engine;

/// Rows one list request looks at, at most (each costs an access check).
const MAX_SCANNED: i64 = 2000;

pub const STATUSES: &[&str] = &["active", "acknowledged", "stopped", "completed", "all"];

pub fn visible(
    conn: &mut DbConn,
    policy: &AccessPolicy,
    now: DateTime<Utc>,
    user: &User,
    e: &Escalation,
) -> Result<bool, AppError> {
    let case = match &e.case_id {
        Some(id) => match Case::find(conn, id)? {
            Some(c) => Some(c),
            None => return Ok(false),
        },
        None => None,
    };
    engine::may_see(conn, policy, now, user, &e.organization_id, case.as_ref())
}

/// One page of the escalations `user` may see, oldest first, in `status` (`all`: any),
/// after `cursor`: up to `limit` rows and whether more may follow (the cursor to go on
/// from). Rows she may not see are skipped; at most `MAX_SCANNED` rows are looked at per
/// request, after which the page ends early with a cursor.
pub fn list(
    conn: &mut DbConn,
    policy: &AccessPolicy,
    now: DateTime<Utc>,
    user: &User,
    status: &str,
    cursor: Option<String>,
    limit: i64,
) -> Result<(Vec<Escalation>, Option<String>), AppError> {
    if !STATUSES.contains(&status) {
        return Err(AppError::bad_request(
            "invalid_query",
            "status must be active, acknowledged, stopped, completed or all",
        )
        .at("status"));
    }
    let assigned = CaseAssignee::case_ids_for_user(conn, &user.id)?;
    let status = (status != "all").then_some(status);
    let mut items = Vec::new();
    let mut after = cursor;
    let mut scanned: i64 = 0;
    loop {
        let rows =
            Escalation::batch_for_reader(conn, &user.organization_id, &assigned, status, after.as_deref(), limit + 1)?;
        let exhausted = rows.len() as i64 <= limit;
        scanned += rows.len() as i64;
        for e in rows {
            after = Some(e.id.clone());
            if visible(conn, policy, now, user, &e)? {
                items.push(e);
                if items.len() as i64 > limit {
                    break;
                }
            }
        }
        if items.len() as i64 > limit || exhausted {
            break;
        }
        if scanned >= MAX_SCANNED {
            // Cut short: go on from the last row looked at.
            return Ok((items, after));
        }
    }
    let more = items.len() as i64 > limit;
    items.truncate(limit as usize);
    let next = if more { items.last().map(|e| e.id.clone()) } else { None };
    Ok((items, next))
}

/// The active escalations of a case the caller has been allowed to read (`case.read`): an
/// escalation on a case is visible to exactly its readers.
pub fn active_for_readable_case(
    conn: &mut DbConn,
    case: &crate::domain::cases::CaseAccess,
) -> Result<Vec<Escalation>, AppError> {
    Ok(Escalation::active_rows_of_case(conn, &case.case.id)?)
}

/// Acknowledges an escalation she may see: no further step fires. One that has already
/// ended is a 409 and changes nothing.
pub fn acknowledge(
    conn: &mut DbConn,
    policy: &AccessPolicy,
    now: DateTime<Utc>,
    user: &User,
    id: &str,
) -> Result<Escalation, AppError> {
    let not_found = || AppError::NotFound("escalation_not_found");
    if !crate::domain::accounts::is_id(id) {
        return Err(not_found());
    }
    let e = Escalation::find(conn, id)?.ok_or_else(not_found)?;
    if !visible(conn, policy, now, user, &e)? {
        return Err(not_found());
    }
    if !engine::acknowledge(conn, now, &e, Some(&user.id), "api")? {
        return Err(AppError::conflict("escalation_ended", "this escalation has already ended"));
    }
    Escalation::find(conn, &e.id)?.ok_or_else(not_found)
}
