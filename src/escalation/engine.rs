//! The escalation engine. Every instance runs the same two passes on a timer:
//!
//! * `run_due` claims escalations whose `next_due_at` has passed (`FOR UPDATE SKIP LOCKED` on
//!   PostgreSQL, the single writer on SQLite), re-checks `stop_when`, and writes each due
//!   step's notifications to the outbox in the same transaction (unique per escalation, step,
//!   loop and recipient).
//! * `send_due` claims outbox rows whose next attempt is due by pushing that attempt a lease
//!   into the future, sends them outside any transaction, and records the result: sent, or
//!   retried with exponential backoff until the mail's deadline.
//!
//! Time always comes from the caller (the app's clock), so tests move time instead of sleeping.

use chrono::{DateTime, Duration, Utc};

use super::policy::{Policy, Rules, Target};
use super::subject::{self, Subject};
use crate::audit::{self, Entry};
use crate::auth::jwt::JwtKeys;
use crate::authz::AccessPolicy;
use crate::clock::{naive, utc};
use crate::db::models::escalation::EscalationChanges;
use crate::db::models::{Case, Escalation, OutboxMessage, User};
use crate::db::DbConn;
use crate::domain::new_id;
use crate::error::AppError;
use crate::mail::Outgoing;
use crate::state::AppState;

/// At most this many steps of one escalation fire in one pass (catching up after downtime).
const MAX_STEPS_PER_CLAIM: usize = 32;

/// Starts the escalations `event` calls for on this subject, in the caller's transaction.
/// Returns how many started. A policy whose `when` cannot be evaluated starts anyway: an
/// unneeded mail is better than an urgent case nobody sees.
pub fn start(
    conn: &mut DbConn,
    rules: &Rules,
    now: DateTime<Utc>,
    event: &str,
    kind: &str,
    id: &str,
) -> Result<usize, AppError> {
    let policies: Vec<_> = rules.for_event(event).cloned().collect();
    if policies.is_empty() {
        return Ok(0);
    }
    let Some(subject) = subject::load(conn, kind, id)? else { return Ok(0) };
    let mut started = 0;
    for p in policies {
        if let Some(w) = &p.when {
            match w.eval(&subject.vars, now) {
                Ok(false) => continue,
                Ok(true) => {}
                // The CEL error can quote field values: only the policy goes to the log.
                Err(_) => tracing::warn!(policy = %p.id, "`when` could not be evaluated; starting the escalation"),
            }
        }
        if Escalation::active_for(conn, &p.id, kind, id)?.is_some() {
            continue;
        }
        let anchor = match &p.anchor {
            None => now,
            Some((v, f)) => match subject::time_field(&subject.vars, v, f) {
                // A date that was never set (a measure without a due date): nothing to chase.
                Some(t) if t != DateTime::<Utc>::UNIX_EPOCH => t,
                _ => continue,
            },
        };
        let Some(due) = p.due_at(anchor, 0, 0) else { continue };
        let esc = Escalation {
            id: new_id(),
            policy_id: p.id.clone(),
            policy_hash: p.hash.clone(),
            event: event.to_string(),
            subject_kind: kind.to_string(),
            subject_id: id.to_string(),
            case_id: subject.case_id().map(str::to_string),
            organization_id: subject.organization_id.clone(),
            reference: subject.reference.clone(),
            status: "active".into(),
            anchor_at: naive(anchor),
            step: 0,
            loop_no: 0,
            next_due_at: Some(naive(due)),
            last_fired_at: None,
            acknowledged_by: None,
            acknowledged_at: None,
            ended_reason: None,
            created_at: naive(now),
            updated_at: naive(now),
        };
        esc.insert(conn)?;
        let detail = serde_json::json!({ "policy": p.id, "event": event, "policy_hash": p.hash });
        audit::record(conn, now, Entry::new(None, "escalation.start", "escalation", Some(&esc.id)).detail(detail))?;
        started += 1;
    }
    Ok(started)
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct PassReport {
    pub claimed: usize,
    pub steps_fired: usize,
    pub messages: usize,
    pub ended: usize,
    /// Check-ins found missed in this pass (each fired `checkin.missed`).
    pub missed_checkins: usize,
}

/// One engine pass over at most `limit` due escalations, in one transaction.
pub fn run_due(state: &AppState, now: DateTime<Utc>, limit: i64) -> Result<PassReport, AppError> {
    let rules = state.escalation.rules();
    let ctx = Ctx {
        rules: &rules,
        access: &state.access,
        now,
        deadline: Duration::hours(state.config.mail_deadline_hours as i64),
    };
    state.db.write_blocking(|c| {
        let mut report = PassReport::default();
        // Check-ins still pending after their time: `checkin.missed` fires once for each,
        // here, so its first step is claimed in this very pass.
        for checkin in crate::db::models::Checkin::newly_missed(c, naive(now), limit)? {
            if crate::db::models::Checkin::mark_missed(c, &checkin.id, naive(now))? {
                let ev = super::Event::CheckinMissed;
                start(c, &rules, now, ev.name(), ev.subject_kind(), &checkin.id)?;
                report.missed_checkins += 1;
            }
        }
        for esc in crate::db::claim_due_escalations(c, naive(now), limit)? {
            report.claimed += 1;
            advance(c, &ctx, esc, &mut report)?;
        }
        Ok(report)
    })
}

struct Ctx<'a> {
    rules: &'a Rules,
    access: &'a AccessPolicy,
    now: DateTime<Utc>,
    deadline: Duration,
}

/// How long a chain whose policy this instance does not know waits before it looks again
/// (another instance may already run newer rules; the chain must not be lost).
const UNKNOWN_POLICY_RETRY_MINUTES: i64 = 5;

fn end(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    esc: &Escalation,
    status: &str,
    reason: &str,
    report: &mut PassReport,
) -> Result<(), AppError> {
    Escalation::end(conn, &esc.id, status, reason, naive(now))?;
    report.ended += 1;
    Ok(())
}

fn advance(conn: &mut DbConn, ctx: &Ctx<'_>, esc: Escalation, report: &mut PassReport) -> Result<(), AppError> {
    let now = ctx.now;
    let Some(policy) = ctx.rules.get(&esc.policy_id).cloned() else {
        // Not ended: during a rolling deploy or after a reload on one instance only, another
        // instance may know the policy. An operator ends such chains deliberately.
        tracing::error!(policy = %esc.policy_id, "an active escalation's policy is not in the rules in force; retrying later");
        let later = naive(now + Duration::minutes(UNKNOWN_POLICY_RETRY_MINUTES));
        let changes = EscalationChanges { next_due_at: Some(Some(later)), ..Default::default() };
        return Ok(Escalation::update(conn, &esc.id, &changes, naive(now))?);
    };
    let Some(subject) = subject::load(conn, &esc.subject_kind, &esc.subject_id)? else {
        return end(conn, now, &esc, "stopped", "subject_gone", report);
    };
    if let Some(s) = &policy.stop_when {
        match s.eval(&subject.vars, now) {
            Ok(true) => return end(conn, now, &esc, "stopped", "stop_when", report),
            Ok(false) => {}
            Err(_) => tracing::warn!(policy = %policy.id, "`stop_when` could not be evaluated; the escalation goes on"),
        }
    }
    let anchor = utc(esc.anchor_at);
    let (mut loop_no, mut step) = (esc.loop_no.max(0) as u32, esc.step.max(0) as usize);
    let mut changes = EscalationChanges { policy_hash: Some(policy.hash.clone()), ..Default::default() };
    // Every step due by now (several after downtime) goes out as ONE notification: the last
    // due step, to everyone any of them names. Nobody gets a burst of identical mails, and
    // nobody an earlier step would have told is left out.
    let mut due_steps: Vec<(u32, usize)> = Vec::new();
    loop {
        let Some(due) = policy.due_at(anchor, loop_no, step) else {
            // The policy has fewer steps than this chain had reached.
            changes.status = Some("completed".into());
            changes.next_due_at = Some(None);
            changes.ended_reason = Some(Some("policy_changed".into()));
            report.ended += 1;
            break;
        };
        if due > now || due_steps.len() == MAX_STEPS_PER_CLAIM {
            changes.step = Some(step as i32);
            changes.loop_no = Some(loop_no as i32);
            changes.next_due_at = Some(Some(naive(due.max(now))));
            break;
        }
        due_steps.push((loop_no, step));
        match policy.next(loop_no, step) {
            Some((l, s)) => (loop_no, step) = (l, s),
            None => {
                changes.status = Some("completed".into());
                changes.next_due_at = Some(None);
                changes.ended_reason = Some(Some("all_steps_sent".into()));
                report.ended += 1;
                break;
            }
        }
    }
    if let Some(&(l, s)) = due_steps.last() {
        let mut targets: Vec<Target> = Vec::new();
        for &(_, i) in &due_steps {
            for t in &policy.steps[i].notify {
                if !targets.contains(t) {
                    targets.push(t.clone());
                }
            }
        }
        if due_steps.len() > 1 {
            let detail = serde_json::json!({ "policy": policy.id, "steps_merged": due_steps.len() });
            audit::record(
                conn,
                now,
                Entry::new(None, "escalation.catch_up", "escalation", Some(&esc.id)).detail(detail),
            )?;
        }
        report.messages += fire_step(conn, ctx, &policy, &esc, &subject, &targets, l, s)?;
        report.steps_fired += 1;
        changes.last_fired_at = Some(Some(naive(now)));
    }
    Escalation::update(conn, &esc.id, &changes, naive(now))?;
    Ok(())
}

/// Whether `user` may see this subject: read access to its case, or for an alert not yet in a
/// case, being a coordinator of its organisation. Every recipient and every acknowledgement
/// goes through this: a mail is never sent to, nor an escalation stopped by, someone who may
/// not know the case exists.
pub fn may_see(
    conn: &mut DbConn,
    access: &AccessPolicy,
    now: DateTime<Utc>,
    user: &User,
    organization_id: &str,
    case: Option<&Case>,
) -> Result<bool, AppError> {
    let Some(role) = crate::domain::Role::parse(&user.role) else { return Ok(false) };
    if !user.active {
        return Ok(false);
    }
    match case {
        Some(case) => {
            crate::domain::cases::can_read(conn, access, &crate::domain::cases::Caller { user, role }, case, naive(now))
        }
        None => Ok(role == crate::domain::Role::Coordinator && user.organization_id == organization_id),
    }
}

/// Who a step reaches: (target as written, address, user id). One row per address; people
/// only if they may see the subject.
fn recipients(
    conn: &mut DbConn,
    ctx: &Ctx<'_>,
    targets: &[Target],
    subject: &Subject,
) -> Result<Vec<(String, String, Option<String>)>, AppError> {
    let case = subject.case.as_ref();
    let mut out: Vec<(String, String, Option<String>)> = Vec::new();
    for t in targets {
        let people: Vec<User> = match t {
            Target::Role(role) => User::active_with_role(conn, &subject.organization_id, role.as_str())?,
            Target::Org(org) => User::active_with_role(conn, org, "coordinator")?,
            Target::Assignees => match subject.case_id() {
                Some(case_id) => User::active_assignees(conn, case_id)?,
                None => vec![],
            },
            Target::Email(a) => {
                if !out.iter().any(|(_, e, _)| e.eq_ignore_ascii_case(a)) {
                    out.push((t.to_string(), a.clone(), None));
                }
                continue;
            }
        };
        for u in people {
            if out.iter().any(|(_, e, _)| e.eq_ignore_ascii_case(&u.email)) {
                continue;
            }
            if may_see(conn, ctx.access, ctx.now, &u, &subject.organization_id, case)? {
                out.push((t.to_string(), u.email.clone(), Some(u.id.clone())));
            }
        }
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn fire_step(
    conn: &mut DbConn,
    ctx: &Ctx<'_>,
    policy: &Policy,
    esc: &Escalation,
    subject: &Subject,
    targets: &[Target],
    loop_no: u32,
    step: usize,
) -> Result<usize, AppError> {
    let (now, deadline) = (ctx.now, ctx.deadline);
    let to = recipients(conn, ctx, targets, subject)?;
    if to.is_empty() {
        tracing::warn!(policy = %policy.id, step, "escalation step has no recipient: nobody is notified");
        let detail = serde_json::json!({ "policy": policy.id, "step": step, "loop": loop_no });
        let e = Entry::new(None, "escalation.no_recipient", "escalation", Some(&esc.id)).detail(detail);
        audit::record(conn, now, e)?;
        return Ok(0);
    }
    let subject_line = format!("[Haven] {}: {}", subject.reference, policy.description);
    let body = format!(
        "Haven escalation: {}\n\nReference: {}\nRule: {} (step {} of {}{})\nDue since: {}\n",
        policy.description,
        subject.reference,
        policy.id,
        step + 1,
        policy.steps.len(),
        if loop_no > 0 { format!(", repeat {loop_no}") } else { String::new() },
        now.format("%Y-%m-%d %H:%M UTC"),
    );
    let rows: Vec<OutboxMessage> = to
        .into_iter()
        .map(|(target, recipient, user_id)| OutboxMessage {
            id: new_id(),
            escalation_id: esc.id.clone(),
            step: step as i32,
            loop_no: loop_no as i32,
            target,
            recipient,
            user_id,
            subject: subject_line.clone(),
            body: body.clone(),
            status: "pending".into(),
            attempts: 0,
            next_attempt_at: naive(now),
            deadline_at: naive(now + deadline),
            last_error: None,
            sent_at: None,
            acked_at: None,
            created_at: naive(now),
        })
        .collect();
    OutboxMessage::insert_all(conn, &rows)?;
    Ok(rows.len())
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct SendReport {
    pub claimed: usize,
    pub sent: usize,
    pub retrying: usize,
    pub gave_up: usize,
}

/// Wait before attempt `attempts + 1`: 30 s, 1 min, 2 min … at most an hour.
pub fn backoff(attempts: i32) -> Duration {
    let exp = (attempts.max(1) - 1).min(7) as u32;
    Duration::seconds((30i64 << exp).min(3600))
}

/// One sender pass over at most `limit` due outbox messages. Each message is leased on its
/// own, just before it is sent, so a slow SMTP server cannot let another instance take over
/// messages still waiting in this pass. Mail whose escalation was acknowledged or stopped by
/// its `stop_when` meanwhile (during an SMTP outage, say) is cancelled, not sent.
pub fn send_due(state: &AppState, now: DateTime<Utc>, limit: i64) -> Result<SendReport, AppError> {
    let lease = Duration::seconds(state.config.mail_timeout_seconds as i64 * 4 + 60);
    let mut report = SendReport::default();
    for _ in 0..limit.max(0) {
        let claimed = state.db.write_blocking(|c| {
            let Some(mut m) = crate::db::claim_due_outbox(c, naive(now), 1)?.into_iter().next() else {
                return Ok(None);
            };
            let chain = Escalation::status_of(c, &m.escalation_id)?;
            if !still_wanted(chain.as_ref().map(|(s, r)| (s.as_str(), r.as_deref()))) {
                OutboxMessage::set_status(c, &m.id, "cancelled")?;
                return Ok(Some(None));
            }
            if naive(now) >= m.deadline_at {
                OutboxMessage::set_status(c, &m.id, "failed")?;
                tracing::error!(attempts = m.attempts, "an escalation mail could not be delivered before its deadline");
                let detail = serde_json::json!({ "outbox": m.id, "attempts": m.attempts, "error": m.last_error });
                let e = Entry::new(None, "escalation.mail_failed", "escalation", Some(&m.escalation_id)).detail(detail);
                audit::record(c, now, e)?;
                report.gave_up += 1;
                return Ok(Some(None));
            }
            m.attempts += 1;
            OutboxMessage::lease(c, &m.id, m.attempts, naive(now + lease))?;
            Ok(Some(Some(m)))
        })?;
        let m = match claimed {
            None => break,
            Some(None) => {
                report.claimed += 1;
                continue;
            }
            Some(Some(m)) => m,
        };
        report.claimed += 1;
        let link = format!("{}/ack/{}", state.config.public_base(), ack_token(&state.jwt, &m.id)?);
        let body = format!(
            "{}\nAcknowledge (stops this escalation for everyone): {link}\n\nThis mail carries no case details on \
             purpose; sign in to Haven to see the case.\n",
            m.body
        );
        let mail = Outgoing { message_id: format!("{}@haven", m.id), to: &m.recipient, subject: &m.subject, body };
        let result = state.mailer.send(&state.config.mail_from, &mail);
        let after = state.clock.now();
        state.db.write_blocking(|c| {
            match &result {
                Ok(()) => OutboxMessage::mark_sent(c, &m.id, naive(after))?,
                Err(e) => OutboxMessage::mark_retry(c, &m.id, naive(after + backoff(m.attempts)), e)?,
            };
            Ok(())
        })?;
        match result {
            Ok(()) => report.sent += 1,
            Err(e) => {
                tracing::warn!(attempt = m.attempts, error = %e, "escalation mail not delivered; will retry");
                report.retrying += 1;
            }
        }
    }
    Ok(report)
}

/// Whether mail already written for a chain is still to be delivered. Only someone handling
/// it (an acknowledgement) or its reason going away (`stop_when`) makes mail unwanted. A chain
/// that ended because its last step fired (`completed`) has just written the most senior
/// recipient's mail, which must go out.
fn still_wanted(chain: Option<(&str, Option<&str>)>) -> bool {
    match chain {
        None => false,
        Some(("acknowledged", _)) => false,
        Some((_, Some("stop_when"))) => false,
        Some(_) => true,
    }
}

/// The acknowledgement token of one outbox message: its id and an HMAC over it. Nothing is
/// stored; the outbox row records its use.
pub fn ack_token(keys: &JwtKeys, outbox_id: &str) -> Result<String, AppError> {
    let mac = keys.keyed_digest(format!("haven-ack:{outbox_id}").as_bytes())?;
    Ok(format!("{outbox_id}.{}", &mac[..32]))
}

/// The outbox id a token names, if its MAC is right.
pub fn verify_ack_token(keys: &JwtKeys, token: &str) -> Option<String> {
    if token.len() > 128 {
        return None;
    }
    let (id, mac) = token.split_once('.')?;
    if !crate::domain::accounts::is_id(id) {
        return None;
    }
    let want = ack_token(keys, id).ok()?;
    let same = crate::crypto::constant_time_eq(want.split_once('.')?.1.as_bytes(), mac.as_bytes());
    same.then(|| id.to_string())
}

pub enum AckLink {
    Valid(Box<OutboxMessage>, Box<Escalation>),
    /// The recipient may no longer see the case.
    NoLongerAllowed,
    Used,
    Expired,
    Invalid,
}

/// What an acknowledgement link is worth now. `link_hours` is how long a link works after
/// its mail was sent.
pub fn inspect_link(
    conn: &mut DbConn,
    keys: &JwtKeys,
    access: &AccessPolicy,
    link_hours: u64,
    token: &str,
    now: DateTime<Utc>,
) -> Result<AckLink, AppError> {
    let Some(id) = verify_ack_token(keys, token) else { return Ok(AckLink::Invalid) };
    let Some(m) = OutboxMessage::find(conn, &id)? else { return Ok(AckLink::Invalid) };
    if m.acked_at.is_some() {
        return Ok(AckLink::Used);
    }
    if naive(now) > m.sent_at.unwrap_or(m.created_at) + Duration::hours(link_hours as i64) {
        return Ok(AckLink::Expired);
    }
    let esc = Escalation::find(conn, &m.escalation_id)?.ok_or(AppError::NotFound("escalation_not_found"))?;
    // A person's link works only while she may still see the case (not after deactivation
    // or the end of a share); a fixed address (a duty mailbox) is trusted as configured.
    if let Some(user_id) = &m.user_id {
        let case = match &esc.case_id {
            Some(id) => Case::find(conn, id)?,
            None => None,
        };
        let allowed = match User::find(conn, user_id)? {
            Some(u) => may_see(conn, access, now, &u, &esc.organization_id, case.as_ref())?,
            None => false,
        };
        if !allowed {
            return Ok(AckLink::NoLongerAllowed);
        }
    }
    Ok(AckLink::Valid(Box::new(m), Box::new(esc)))
}

/// Whether an escalation still waits for someone to take it: running, or every step sent
/// and nobody has answered yet.
pub fn awaits_acknowledgement(esc: &Escalation) -> bool {
    esc.status == "active" || esc.status == "completed"
}

/// Acknowledges an escalation nobody has taken yet (no more steps fire); false if it was
/// acknowledged already or stopped.
pub fn acknowledge(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    esc: &Escalation,
    by: Option<&str>,
    via: &str,
) -> Result<bool, AppError> {
    let running = awaits_acknowledgement(esc);
    if running {
        let changes = EscalationChanges {
            status: Some("acknowledged".into()),
            next_due_at: Some(None),
            acknowledged_by: Some(by.map(str::to_string)),
            acknowledged_at: Some(Some(naive(now))),
            ended_reason: Some(Some("acknowledged".into())),
            ..Default::default()
        };
        Escalation::update(conn, &esc.id, &changes, naive(now))?;
    }
    let detail = serde_json::json!({ "via": via, "was_running": running, "policy": esc.policy_id });
    audit::record(conn, now, Entry::new(by, "escalation.acknowledge", "escalation", Some(&esc.id)).detail(detail))?;
    Ok(running)
}

/// Marks an acknowledgement link used and acknowledges its escalation.
pub fn acknowledge_link(conn: &mut DbConn, now: DateTime<Utc>, m: &OutboxMessage) -> Result<bool, AppError> {
    if !OutboxMessage::mark_acked(conn, &m.id, naive(now))? {
        return Err(AppError::Gone("ack_link_used"));
    }
    let esc = Escalation::find(conn, &m.escalation_id)?.ok_or(AppError::NotFound("escalation_not_found"))?;
    acknowledge(conn, now, &esc, m.user_id.as_deref(), "link")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mail_retries_back_off_exponentially_up_to_an_hour() {
        let secs = |a: i32| backoff(a).num_seconds();
        assert_eq!(secs(0), 30);
        assert_eq!(secs(1), 30);
        assert_eq!(secs(2), 60);
        assert_eq!(secs(3), 120);
        assert_eq!(secs(7), 1920);
        assert_eq!(secs(8), 3600, "30 s << 7 = 3840 s is capped at an hour");
        assert_eq!(secs(1000), 3600);
        assert_eq!(secs(-5), 30);
        for a in 1..20 {
            assert!(backoff(a + 1) >= backoff(a), "attempt {a}");
        }
    }

    #[test]
    fn mail_is_cancelled_only_when_someone_handled_it_or_its_reason_went_away() {
        assert!(!still_wanted(None), "the chain is gone");
        assert!(!still_wanted(Some(("acknowledged", Some("acknowledged")))));
        assert!(!still_wanted(Some(("acknowledged", None))));
        assert!(!still_wanted(Some(("stopped", Some("stop_when")))));
        // The last step just fired: its mail (to the most senior recipient) must go out.
        assert!(still_wanted(Some(("completed", Some("all_steps_sent")))));
        assert!(still_wanted(Some(("completed", Some("policy_changed")))));
        assert!(still_wanted(Some(("active", None))));
    }
}
