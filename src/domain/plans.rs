//! Security plans: prevention and response measures agreed for a case, each optionally
//! answering a threat of the latest assessment. A plan is approved by a coordinator who did
//! not write it.

use chrono::{DateTime, NaiveDateTime, Utc};

use crate::audit::{self, Entry};
use crate::authz::AccessPolicy;
use crate::clock::naive;
use crate::crypto::Crypto;
use crate::db::models::security_plan::{MeasureChanges, PlanChanges};
use crate::db::models::{Case, PlanMeasure, RiskAssessment, SecurityPlan, User};
use crate::db::DbConn;
use crate::domain::cases::{open_opt, seal_opt, text_field, Caller};
use crate::domain::Ctx;
use crate::domain::{new_id, Role};
use crate::error::AppError;

str_enum!(PlanStatus { Draft => "draft", Approved => "approved", UnderReview => "under_review" });
str_enum!(MeasureCategory {
    Physical => "physical",
    Digital => "digital",
    Communications => "communications",
    Legal => "legal",
    Psychosocial => "psychosocial",
    Travel => "travel",
});
str_enum!(MeasureKind { Prevention => "prevention", Response => "response" });
str_enum!(MeasureStatus { Planned => "planned", InProgress => "in_progress", Done => "done", Dropped => "dropped" });

impl PlanStatus {
    /// draft → approved → under_review → approved again, or back to draft.
    pub fn next(self) -> &'static [PlanStatus] {
        match self {
            PlanStatus::Draft => &[PlanStatus::Approved],
            PlanStatus::Approved => &[PlanStatus::UnderReview],
            PlanStatus::UnderReview => &[PlanStatus::Approved, PlanStatus::Draft],
        }
    }
}

impl MeasureStatus {
    /// Done and dropped are final; dropping needs a reason.
    pub fn next(self) -> &'static [MeasureStatus] {
        use MeasureStatus::*;
        match self {
            Planned => &[InProgress, Done, Dropped],
            InProgress => &[Planned, Done, Dropped],
            Done | Dropped => &[],
        }
    }
}

fn invalid<T: Copy>(from: &'static str, next: &[T], name: fn(T) -> &'static str) -> AppError {
    AppError::InvalidTransition { from, allowed: next.iter().map(|s| name(*s)).collect() }
}

fn check_review_by(review_by: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), AppError> {
    if review_by <= now || review_by > now + chrono::Duration::days(3 * 366) {
        return Err(AppError::unprocessable(
            "invalid_review_by",
            "review_by must be in the future, within three years",
        ));
    }
    Ok(())
}

pub fn create_plan(
    conn: &mut DbConn,
    cx: &Ctx<'_>,
    caller: &Caller<'_>,
    case: &Case,
    summary: Option<&str>,
    review_by: DateTime<Utc>,
) -> Result<SecurityPlan, AppError> {
    let (rules, crypto, now) = (&*cx.rules, cx.crypto, cx.now);
    check_review_by(review_by, now)?;
    let summary = summary.map(|s| text_field("summary", s, 5000)).transpose()?;
    let id = new_id();
    let sealed = seal_opt(crypto, conn, &case.id, &id, summary.as_deref())?;
    let plan = SecurityPlan {
        id: id.clone(),
        case_id: case.id.clone(),
        status: PlanStatus::Draft.as_str().into(),
        key_version: sealed.as_ref().map_or(1, |s| s.key_version),
        summary_ct: sealed.map(|s| s.ciphertext),
        author_id: caller.user.id.clone(),
        approved_by: None,
        approved_at: None,
        review_by: naive(review_by),
        version: 1,
        created_at: naive(now),
        updated_at: naive(now),
    };
    plan.insert(conn)?;
    audit::record(conn, now, Entry::new(Some(&caller.user.id), "plan.create", "plan", Some(&id)))?;
    crate::escalation::fire(conn, rules, now, crate::escalation::Event::PlanCreated, &plan.id)?;
    Ok(plan)
}

pub struct PlanUpdate {
    pub status: Option<PlanStatus>,
    pub summary: Option<String>,
    pub review_by: Option<DateTime<Utc>>,
}

/// Edits a plan or moves its status. Approval is given alone (not with edits), by a
/// coordinator of the organisation that owns the case, and never by the plan's author.
/// Rewording an approved plan's summary sends it back to review; moving its review date
/// does not (the approved measures are the same).
pub fn update_plan(
    conn: &mut DbConn,
    cx: &Ctx<'_>,
    caller: &Caller<'_>,
    case: &Case,
    plan: &SecurityPlan,
    expected: Option<i32>,
    input: PlanUpdate,
) -> Result<(), AppError> {
    let (rules, crypto, now) = (&*cx.rules, cx.crypto, cx.now);
    if expected.is_some_and(|v| v != plan.version) {
        return Err(AppError::PreconditionFailed);
    }
    let from = PlanStatus::parse(&plan.status).ok_or_else(|| AppError::internal(anyhow::anyhow!("bad plan status")))?;
    let mut changes = PlanChanges::default();
    if let Some(to) = input.status {
        if !from.next().contains(&to) {
            return Err(invalid(from.as_str(), from.next(), PlanStatus::as_str));
        }
        if to == PlanStatus::Approved {
            if input.summary.is_some() || input.review_by.is_some() {
                return Err(AppError::unprocessable(
                    "approve_separately",
                    "approve a plan in a request of its own, after any edit",
                ));
            }
            if caller.role != Role::Coordinator || caller.user.organization_id != case.owner_organization_id {
                return Err(AppError::Forbidden("approval_needs_coordinator"));
            }
            if caller.user.id == plan.author_id {
                return Err(AppError::Forbidden("approval_by_author"));
            }
            changes.approved_by = Some(Some(caller.user.id.clone()));
            changes.approved_at = Some(Some(naive(now)));
        }
        if to == PlanStatus::Draft {
            changes.approved_by = Some(None);
            changes.approved_at = Some(None);
        }
        changes.status = Some(to.as_str().into());
    }
    if let Some(r) = input.review_by {
        check_review_by(r, now)?;
        changes.review_by = Some(naive(r));
    }
    if let Some(s) = &input.summary {
        let s = text_field("summary", s, 5000)?;
        let sealed = crypto.seal(conn, &plan.case_id, &plan.id, s.as_bytes())?;
        if sealed.key_version != plan.key_version && plan.summary_ct.is_some() {
            return Err(AppError::internal(anyhow::anyhow!("case key version changed under a plan")));
        }
        changes.summary_ct = Some(Some(sealed.ciphertext));
    }
    if input.summary.is_some() && input.status.is_none() && from == PlanStatus::Approved {
        send_back_to_review(&mut changes);
    }
    if !SecurityPlan::update_versioned(conn, &plan.id, plan.version, &changes, naive(now))? {
        return Err(AppError::PreconditionFailed);
    }
    let detail = serde_json::json!({ "status": changes.status });
    audit::record(conn, now, Entry::new(Some(&caller.user.id), "plan.update", "plan", Some(&plan.id)).detail(detail))?;
    crate::escalation::refresh(conn, rules, now, crate::escalation::Event::PlanCreated, &plan.id)?;
    crate::escalation::settle_case(conn, rules, now, &case.id)?;
    Ok(())
}

fn send_back_to_review(changes: &mut PlanChanges) {
    changes.status = Some(PlanStatus::UnderReview.as_str().into());
    changes.approved_by = Some(None);
    changes.approved_at = Some(None);
}

/// A change to a plan's measures is a change to the plan: its version moves (so an
/// approver's If-Match notices). An approved plan goes back to review only when what was
/// approved changes (`reworded`: a measure added, dropped or reworded), not when work on a
/// measure progresses or its owner or date moves.
fn measures_changed(
    conn: &mut DbConn,
    plan: &SecurityPlan,
    now: DateTime<Utc>,
    reworded: bool,
) -> Result<(), AppError> {
    let mut changes = PlanChanges::default();
    if reworded && plan.status == PlanStatus::Approved.as_str() {
        send_back_to_review(&mut changes);
    }
    if !SecurityPlan::update_versioned(conn, &plan.id, plan.version, &changes, naive(now))? {
        return Err(AppError::conflict("plan_changed", "the plan changed meanwhile; read it again and retry"));
    }
    Ok(())
}

pub struct NewMeasure {
    pub category: MeasureCategory,
    pub kind: MeasureKind,
    pub description: String,
    /// None: the defender herself owns it.
    pub owner_user_id: Option<String>,
    pub due_at: Option<DateTime<Utc>>,
    /// Index of a threat in the case's latest risk assessment.
    pub threat_index: Option<i32>,
}

/// A measure's owner must be someone who may read the case; anyone else (or no one) gets
/// the same 422, so the check reveals nothing about other accounts.
fn check_owner(
    conn: &mut DbConn,
    policy: &AccessPolicy,
    case: &Case,
    owner: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let Some(id) = owner else { return Ok(()) };
    let bad = || AppError::unprocessable("unknown_user", "owner_user_id does not name someone working on this case");
    if !crate::domain::accounts::is_id(id) {
        return Err(bad());
    }
    let u = User::find(conn, id)?.ok_or_else(bad)?;
    let role = Role::parse(&u.role).filter(|_| u.active).ok_or_else(bad)?;
    if crate::domain::cases::can_read(conn, policy, &Caller { user: &u, role }, case, naive(now))? {
        Ok(())
    } else {
        Err(bad())
    }
}

/// Due dates within ten years either side: anything else is a typo.
fn check_due(due: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), AppError> {
    let span = chrono::Duration::days(3660);
    if due < now - span || due > now + span {
        return Err(AppError::unprocessable("invalid_due_at", "due_at must be within ten years of today"));
    }
    Ok(())
}

pub fn add_measure(
    conn: &mut DbConn,
    cx: &Ctx<'_>,
    caller: &Caller<'_>,
    case: &Case,
    plan: &SecurityPlan,
    input: NewMeasure,
) -> Result<PlanMeasure, AppError> {
    let (rules, crypto, policy, now) = (&*cx.rules, cx.crypto, cx.access, cx.now);
    let description = text_field("description", &input.description, 5000)?;
    check_owner(conn, policy, case, input.owner_user_id.as_deref(), now)?;
    if let Some(due) = input.due_at {
        check_due(due, now)?;
    }
    let assessment_id = match input.threat_index {
        None => None,
        Some(i) => {
            let latest = RiskAssessment::for_case(conn, &plan.case_id)?.into_iter().next();
            match latest {
                Some(a) if i >= 0 && i < a.threat_count => Some(a.id),
                _ => {
                    return Err(AppError::unprocessable(
                        "unknown_threat",
                        "threat_index does not name a threat of the case's latest assessment",
                    ))
                }
            }
        }
    };
    let id = new_id();
    let sealed = crypto.seal(conn, &plan.case_id, &id, description.as_bytes())?;
    let m = PlanMeasure {
        id: id.clone(),
        plan_id: plan.id.clone(),
        case_id: plan.case_id.clone(),
        category: input.category.as_str().into(),
        kind: input.kind.as_str().into(),
        description_ct: sealed.ciphertext,
        key_version: sealed.key_version,
        owner_kind: if input.owner_user_id.is_some() { "user" } else { "defender" }.into(),
        owner_user_id: input.owner_user_id,
        due_at: input.due_at.map(naive),
        status: MeasureStatus::Planned.as_str().into(),
        dropped_reason_ct: None,
        assessment_id,
        threat_index: input.threat_index,
        version: 1,
        created_at: naive(now),
        updated_at: naive(now),
    };
    m.insert(conn)?;
    measures_changed(conn, plan, now, true)?;
    audit::record(conn, now, Entry::new(Some(&caller.user.id), "measure.create", "measure", Some(&id)))?;
    crate::escalation::fire(conn, rules, now, crate::escalation::Event::MeasureCreated, &m.id)?;
    Ok(m)
}

pub struct MeasureUpdate {
    pub status: Option<MeasureStatus>,
    pub reason: Option<String>,
    pub description: Option<String>,
    pub due_at: Option<DateTime<Utc>>,
    /// Some(None): the defender owns it now.
    pub owner_user_id: Option<Option<String>>,
}

/// The measure comes with the plan and case it belongs to (loaded together by the door's
/// need-to-know check), hence one argument more than clippy likes.
#[allow(clippy::too_many_arguments)]
pub fn update_measure(
    conn: &mut DbConn,
    cx: &Ctx<'_>,
    caller: &Caller<'_>,
    case: &Case,
    plan: &SecurityPlan,
    m: &PlanMeasure,
    expected: Option<i32>,
    input: MeasureUpdate,
) -> Result<(), AppError> {
    let (rules, crypto, policy, now) = (&*cx.rules, cx.crypto, cx.access, cx.now);
    if expected.is_some_and(|v| v != m.version) {
        return Err(AppError::PreconditionFailed);
    }
    let from =
        MeasureStatus::parse(&m.status).ok_or_else(|| AppError::internal(anyhow::anyhow!("bad measure status")))?;
    if from.next().is_empty() {
        // Done and dropped are history: nothing about them changes any more.
        return Err(AppError::InvalidTransition { from: from.as_str(), allowed: Vec::new() });
    }
    if input.reason.is_some() && input.status != Some(MeasureStatus::Dropped) {
        return Err(AppError::unprocessable("unexpected_reason", "a reason goes with dropping a measure only"));
    }
    let mut changes = MeasureChanges::default();
    if let Some(to) = input.status {
        if !from.next().contains(&to) {
            return Err(invalid(from.as_str(), from.next(), MeasureStatus::as_str));
        }
        if to == MeasureStatus::Dropped {
            let reason = input
                .reason
                .as_deref()
                .ok_or_else(|| AppError::unprocessable("reason_required", "dropping a measure needs a reason"))?;
            let reason = text_field("reason", reason, 2000)?;
            let sealed = crypto.seal(conn, &m.case_id, &format!("{}:dropped", m.id), reason.as_bytes())?;
            changes.dropped_reason_ct = Some(Some(sealed.ciphertext));
        }
        changes.status = Some(to.as_str().into());
    }
    if let Some(d) = &input.description {
        let d = text_field("description", d, 5000)?;
        changes.description_ct = Some(crypto.seal(conn, &m.case_id, &m.id, d.as_bytes())?.ciphertext);
    }
    if let Some(due) = input.due_at {
        check_due(due, now)?;
        changes.due_at = Some(Some(naive(due)));
    }
    if let Some(owner) = &input.owner_user_id {
        check_owner(conn, policy, case, owner.as_deref(), now)?;
        changes.owner_kind = Some(if owner.is_some() { "user" } else { "defender" }.into());
        changes.owner_user_id = Some(owner.clone());
    }
    if !PlanMeasure::update_versioned(conn, &m.id, m.version, &changes, naive(now))? {
        return Err(AppError::PreconditionFailed);
    }
    let reworded = input.description.is_some() || input.status == Some(MeasureStatus::Dropped);
    measures_changed(conn, plan, now, reworded)?;
    let detail = serde_json::json!({ "status": input.status.map(|s| s.as_str()) });
    audit::record(
        conn,
        now,
        Entry::new(Some(&caller.user.id), "measure.update", "measure", Some(&m.id)).detail(detail),
    )?;
    crate::escalation::refresh(conn, rules, now, crate::escalation::Event::MeasureCreated, &m.id)?;
    crate::escalation::settle_case(conn, rules, now, &case.id)?;
    Ok(())
}

pub struct MeasureDetail {
    pub measure: PlanMeasure,
    pub description: String,
    pub dropped_reason: Option<String>,
    pub overdue: bool,
}

pub struct PlanDetail {
    pub plan: SecurityPlan,
    pub summary: Option<String>,
    pub measures: Vec<MeasureDetail>,
}

pub fn measure_detail(
    conn: &mut DbConn,
    crypto: &Crypto,
    m: PlanMeasure,
    now: NaiveDateTime,
) -> Result<MeasureDetail, AppError> {
    let v = Some(m.key_version);
    let description =
        open_opt(crypto, conn, &m.case_id, &m.id, &Some(m.description_ct.clone()), v)?.unwrap_or_default();
    let dropped_reason = open_opt(crypto, conn, &m.case_id, &format!("{}:dropped", m.id), &m.dropped_reason_ct, v)?;
    let open = matches!(m.status.as_str(), "planned" | "in_progress");
    let overdue = open && m.due_at.is_some_and(|d| d < now);
    Ok(MeasureDetail { measure: m, description, dropped_reason, overdue })
}

pub fn plan_detail(
    conn: &mut DbConn,
    crypto: &Crypto,
    plan: SecurityPlan,
    now: NaiveDateTime,
) -> Result<PlanDetail, AppError> {
    let summary = open_opt(crypto, conn, &plan.case_id, &plan.id, &plan.summary_ct, Some(plan.key_version))?;
    let measures = PlanMeasure::for_plan(conn, &plan.id)?
        .into_iter()
        .map(|m| measure_detail(conn, crypto, m, now))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(PlanDetail { plan, summary, measures })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    const PLAN: [PlanStatus; 3] = [PlanStatus::Draft, PlanStatus::Approved, PlanStatus::UnderReview];
    const MEASURE: [MeasureStatus; 4] =
        [MeasureStatus::Planned, MeasureStatus::InProgress, MeasureStatus::Done, MeasureStatus::Dropped];

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 5, 1, 12, 0, 0).unwrap()
    }

    #[test]
    fn plan_workflow_allows_exactly_the_documented_steps() {
        use PlanStatus::*;
        // draft → approved → under_review → approved again, or back to draft.
        let allowed = [(Draft, Approved), (Approved, UnderReview), (UnderReview, Approved), (UnderReview, Draft)];
        for from in PLAN {
            for to in PLAN {
                assert_eq!(from.next().contains(&to), allowed.contains(&(from, to)), "{from:?} -> {to:?}");
            }
        }
        // An approved plan is not edited back to draft without a review.
        assert!(!Approved.next().contains(&Draft));
    }

    #[test]
    fn measure_workflow_ends_in_done_or_dropped() {
        use MeasureStatus::*;
        let allowed = [
            (Planned, InProgress),
            (Planned, Done),
            (Planned, Dropped),
            (InProgress, Planned),
            (InProgress, Done),
            (InProgress, Dropped),
        ];
        for from in MEASURE {
            for to in MEASURE {
                assert_eq!(from.next().contains(&to), allowed.contains(&(from, to)), "{from:?} -> {to:?}");
            }
        }
        assert!(Done.next().is_empty());
        assert!(Dropped.next().is_empty());
    }

    #[test]
    fn statuses_round_trip_as_stored() {
        for s in PLAN {
            assert_eq!(PlanStatus::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), serde_json::json!(s.as_str()));
        }
        for s in MEASURE {
            assert_eq!(MeasureStatus::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), serde_json::json!(s.as_str()));
        }
        assert_eq!(PlanStatus::UnderReview.as_str(), "under_review");
        assert_eq!(MeasureStatus::InProgress.as_str(), "in_progress");
        assert_eq!(PlanStatus::parse("under review"), None);
        assert_eq!(MeasureStatus::parse("Done"), None);
    }

    #[test]
    fn invalid_transition_lists_what_is_allowed() {
        match invalid("planned", MeasureStatus::Planned.next(), MeasureStatus::as_str) {
            AppError::InvalidTransition { from, allowed } => {
                assert_eq!(from, "planned");
                assert_eq!(allowed, vec!["in_progress", "done", "dropped"]);
            }
            other => panic!("{other:?}"),
        }
        match invalid("done", MeasureStatus::Done.next(), MeasureStatus::as_str) {
            AppError::InvalidTransition { allowed, .. } => assert!(allowed.is_empty()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn review_by_is_in_the_future_and_within_three_years() {
        let n = now();
        let code = |r| check_review_by(r, n).map_err(|e| e.code().to_string());
        assert_eq!(code(n), Err("invalid_review_by".into()), "now is not the future");
        assert_eq!(code(n - Duration::days(1)), Err("invalid_review_by".into()));
        assert_eq!(code(n + Duration::seconds(1)), Ok(()));
        assert_eq!(code(n + Duration::days(3 * 366)), Ok(()), "the limit itself is allowed");
        assert_eq!(code(n + Duration::days(3 * 366) + Duration::seconds(1)), Err("invalid_review_by".into()));
    }

    #[test]
    fn due_at_lies_within_ten_years_either_side() {
        let n = now();
        let span = Duration::days(3660);
        let ok = |d| check_due(d, n).is_ok();
        assert!(ok(n));
        assert!(ok(n - span), "ten years back is allowed (overdue measures)");
        assert!(ok(n + span));
        assert!(!ok(n - span - Duration::seconds(1)));
        assert!(!ok(n + span + Duration::seconds(1)));
        assert_eq!(check_due(n + span + Duration::days(1), n).unwrap_err().code(), "invalid_due_at");
    }
}
