//! Cases: creation (with their own key and reference), workflow, assignment, consent-bound
//! sharing, encrypted notes, and the need-to-know check every case operation goes through.

use chrono::{DateTime, Datelike, NaiveDateTime, Utc};

use crate::audit::{self, Entry};
use crate::authz::{AccessPolicy, Action, Decision, Relation};
use crate::clock::naive;
use crate::crypto::{Crypto, Sealed};
use crate::db::models::case::CaseChanges;
use crate::db::models::{Case, CaseAssignee, CaseNote, CaseShare, CaseTransition, Organization, User};
use crate::db::{self, DbConn};
use crate::domain::Ctx;
use crate::domain::{country, new_id, OrganizationKind, Role};
use crate::error::AppError;

str_enum!(
    /// Ordered: `Low < Medium < High < Critical`.
    Severity [PartialOrd, Ord] { Low => "low", Medium => "medium", High => "high", Critical => "critical" }
);

impl Severity {
    /// The levels under this one, as stored.
    pub fn below(self) -> Vec<&'static str> {
        Severity::ALL.into_iter().filter(|x| *x < self).map(Severity::as_str).collect()
    }
}

str_enum!(CaseStatus {
    Open => "open",
    Acknowledged => "acknowledged",
    Active => "active",
    Monitoring => "monitoring",
    Closed => "closed",
});

impl CaseStatus {
    /// The workflow: forward one step, back from monitoring to active, close from anywhere,
    /// reopen a closed case.
    pub fn next(self) -> &'static [CaseStatus] {
        use CaseStatus::*;
        match self {
            Open => &[Acknowledged, Closed],
            Acknowledged => &[Active, Closed],
            Active => &[Monitoring, Closed],
            Monitoring => &[Active, Closed],
            Closed => &[Open],
        }
    }
}

str_enum!(NoteKind { Note => "note", ContactLog => "contact_log", Decision => "decision" });

pub const MAX_TEXT: usize = 20_000;

/// Free text: trimmed, 1 to `max` characters, no control characters but line breaks and tabs.
pub fn text_field(field: impl Into<std::borrow::Cow<'static, str>>, raw: &str, max: usize) -> Result<String, AppError> {
    let t = raw.trim();
    if t.is_empty() || t.chars().count() > max || t.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(AppError::invalid_field(field, &format!("must be 1 to {max} characters")));
    }
    Ok(t.to_string())
}

pub fn check_country(field: &'static str, c: &str) -> Result<(), AppError> {
    if country::is_valid(c) {
        Ok(())
    } else {
        Err(AppError::unprocessable(
            "invalid_country",
            format!("{field} must be an ISO 3166-1 alpha-2 code such as CO or KE"),
        )
        .at(field))
    }
}

/// A case as its reader sees it, content decrypted.
pub struct CaseDetail {
    pub case: Case,
    pub summary: Option<String>,
    pub assignees: Vec<CaseAssignee>,
    pub shares: Vec<CaseShare>,
    pub transitions: Vec<(CaseTransition, Option<String>)>,
}

/// The caller, as the case rules need her.
pub struct Caller<'a> {
    pub user: &'a User,
    pub role: Role,
}

pub(crate) fn relations(
    conn: &mut DbConn,
    caller: &Caller<'_>,
    case: &Case,
    now: NaiveDateTime,
) -> Result<Vec<Relation>, AppError> {
    let mut r = Vec::new();
    let own_org = caller.user.organization_id == case.owner_organization_id;
    if caller.role == Role::Coordinator && own_org {
        r.push(Relation::OwnerCoordinator);
    }
    // A case is never shared with its own organisation (refused in `share`): no lookup needed.
    let shared =
        !own_org && CaseShare::find(conn, &case.id, &caller.user.organization_id)?.is_some_and(|s| s.is_live(now));
    if shared {
        r.push(Relation::SharedOrg);
    }
    // An assignee from a partner organisation is one only while the share lasts.
    if (own_org || shared) && CaseAssignee::exists(conn, &case.id, &caller.user.id)? {
        r.push(Relation::Assignee);
    }
    Ok(r)
}

/// The relations of an object that belongs to `owner_org` and is linked to `linked` cases
/// (defenders and alerts): its organisation's coordinators, and readers of a linked case.
pub fn owner_or_case_reader(
    conn: &mut DbConn,
    policy: &AccessPolicy,
    caller: &Caller<'_>,
    owner_org: &str,
    linked: Vec<Case>,
    now: NaiveDateTime,
) -> Result<Vec<Relation>, AppError> {
    let mut rel = Vec::new();
    if caller.role == Role::Coordinator && caller.user.organization_id == owner_org {
        rel.push(Relation::OwnerCoordinator);
    }
    for case in linked {
        if can_read(conn, policy, caller, &case, now)? {
            rel.push(Relation::CaseReader);
            break;
        }
    }
    Ok(rel)
}

/// A case reference as typed (` hvn-2026-000123 `) in its stored form.
pub fn normalize_reference(typed: &str) -> String {
    typed.trim().to_ascii_uppercase()
}

/// The case with this reference, if the caller may see it (None otherwise, as if it did not
/// exist).
pub fn find_by_reference(
    conn: &mut DbConn,
    caller: &Caller<'_>,
    reference: &str,
    now: NaiveDateTime,
) -> Result<Option<Case>, AppError> {
    let filter =
        crate::db::models::case::CaseFilter { reference: Some(normalize_reference(reference)), ..Default::default() };
    Ok(list(conn, caller, &filter, None, 1, now)?.into_iter().next())
}

/// The cases the caller may see, newest first, after `cursor`: a coordinator her
/// organisation's and those shared with it, anyone the ones she is assigned to, and those
/// shared with her organisation while the share is live.
pub fn list(
    conn: &mut DbConn,
    caller: &Caller<'_>,
    filter: &crate::db::models::case::CaseFilter,
    cursor: Option<&str>,
    limit: i64,
    now: NaiveDateTime,
) -> Result<Vec<Case>, AppError> {
    Ok(Case::page_visible(conn, &visibility(caller, now), filter, cursor, limit)?)
}

/// `list`, with only the columns a list shows (the console's case list).
pub fn list_rows(
    conn: &mut DbConn,
    caller: &Caller<'_>,
    filter: &crate::db::models::case::CaseFilter,
    limit: i64,
    now: NaiveDateTime,
) -> Result<Vec<crate::db::models::case::CaseListRow>, AppError> {
    Ok(Case::page_visible_rows(conn, &visibility(caller, now), filter, None, limit)?)
}

/// What the caller may see of the cases: her organisation's (coordinators), those she is
/// assigned to, and those shared with her organisation while the share is live.
fn visibility<'a>(caller: &'a Caller<'_>, now: NaiveDateTime) -> crate::db::models::case::Visibility<'a> {
    let owner = (caller.role == Role::Coordinator).then_some(caller.user.organization_id.as_str());
    crate::db::models::case::Visibility {
        owner_org: owner,
        assignee: &caller.user.id,
        shared_with_org: &caller.user.organization_id,
        now,
    }
}

/// A consent scope as stored: JSON, sorted, without repeats.
pub fn scope_json(kinds: &[OrganizationKind]) -> Result<String, AppError> {
    let mut scope: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
    scope.sort();
    scope.dedup();
    serde_json::to_string(&scope).map_err(AppError::internal)
}

/// A `defender_id` given with a new case or alert must name a defender the caller may
/// update (one of her organisation's); anything else is the same 422.
pub fn check_defender(
    conn: &mut DbConn,
    policy: &AccessPolicy,
    caller: &Caller<'_>,
    defender_id: Option<&str>,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    match defender_id {
        Some(d) => crate::domain::defenders::load_for(conn, policy, caller, d, Action::DefenderUpdate, now)
            .map(|_| ())
            .map_err(|_| {
                AppError::unprocessable("unknown_defender", "defender_id does not name a defender of your organization")
            }),
        None => Ok(()),
    }
}

/// `check_defender` for linking a case of `case_org`: the defender must also belong to the
/// case's own organisation, so a partner's coordinator assigned to the case cannot tie one
/// of her own organisation's defenders to it.
pub fn check_defender_for(
    conn: &mut DbConn,
    policy: &AccessPolicy,
    caller: &Caller<'_>,
    defender_id: &str,
    case_org: &str,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    check_defender(conn, policy, caller, Some(defender_id), now)?;
    if caller.user.organization_id != case_org {
        return Err(AppError::unprocessable(
            "unknown_defender",
            "defender_id does not name a defender of the case's organization",
        ));
    }
    Ok(())
}

/// Whether the caller may read this case (for defenders and alerts linked to it).
pub fn can_read(
    conn: &mut DbConn,
    policy: &AccessPolicy,
    caller: &Caller<'_>,
    case: &Case,
    now: NaiveDateTime,
) -> Result<bool, AppError> {
    let rel = relations(conn, caller, case, now)?;
    Ok(policy.decide_on_object(&rel, Action::CaseRead) == Decision::Allow)
}

/// The answer for an object the policy decided on.
pub fn enforce<T>(decision: Decision, object: T, not_found: &'static str) -> Result<T, AppError> {
    match decision {
        Decision::Allow => Ok(object),
        Decision::Forbidden => Err(AppError::Forbidden("forbidden")),
        Decision::NotFound => Err(AppError::NotFound(not_found)),
    }
}

/// Loads a case the caller may perform `action` on. A case she may not even read answers
/// exactly like a case that does not exist.
pub fn load_for(
    conn: &mut DbConn,
    policy: &AccessPolicy,
    caller: &Caller<'_>,
    case_id: &str,
    action: Action,
    now: NaiveDateTime,
) -> Result<Case, AppError> {
    load_access(conn, policy, caller, case_id, action, now).map(|a| a.case)
}

/// A case loaded for an action, with the caller's relations to it: a page offering several
/// actions decides each from these (`CaseAccess::may`) instead of loading the case again.
pub struct CaseAccess {
    pub case: Case,
    pub relations: Vec<crate::authz::Relation>,
}

impl CaseAccess {
    pub fn may(&self, policy: &AccessPolicy, action: Action) -> bool {
        policy.decide_on_object(&self.relations, action) == Decision::Allow
    }
}

/// `load_for`, keeping the relations it found (see `CaseAccess`).
pub fn load_access(
    conn: &mut DbConn,
    policy: &AccessPolicy,
    caller: &Caller<'_>,
    case_id: &str,
    action: Action,
    now: NaiveDateTime,
) -> Result<CaseAccess, AppError> {
    if !crate::domain::accounts::is_id(case_id) {
        return Err(AppError::NotFound("case_not_found"));
    }
    let case = Case::find(conn, case_id)?.ok_or(AppError::NotFound("case_not_found"))?;
    let relations = relations(conn, caller, &case, now)?;
    let case = enforce(policy.decide_on_object(&relations, action), case, "case_not_found")?;
    Ok(CaseAccess { case, relations })
}

pub fn seal_opt(
    crypto: &Crypto,
    conn: &mut DbConn,
    case_id: &str,
    record: &str,
    text: Option<&str>,
) -> Result<Option<Sealed>, AppError> {
    match text {
        Some(t) => Ok(Some(crypto.seal(conn, case_id, record, t.as_bytes())?)),
        None => Ok(None),
    }
}

pub fn open_opt(
    crypto: &Crypto,
    conn: &mut DbConn,
    case_id: &str,
    record: &str,
    ct: &Option<Vec<u8>>,
    version: Option<i32>,
) -> Result<Option<String>, AppError> {
    match (ct, version) {
        (Some(ct), Some(v)) => {
            let plain = crypto.open(conn, case_id, record, &Sealed { ciphertext: ct.clone(), key_version: v })?;
            Ok(Some(String::from_utf8_lossy(&plain).into_owned()))
        }
        _ => Ok(None),
    }
}

pub struct NewCase {
    pub severity: Severity,
    pub country: String,
    pub consent_scope: Vec<OrganizationKind>,
    pub summary: Option<String>,
    pub defender_id: Option<String>,
}

/// Creates a case owned by the caller's organisation, with its own key, in one transaction.
pub fn create(conn: &mut DbConn, cx: &Ctx<'_>, caller: &Caller<'_>, input: NewCase) -> Result<Case, AppError> {
    let (rules, crypto, policy, now) = (&*cx.rules, cx.crypto, cx.access, cx.now);
    check_country("country", &input.country)?;
    check_defender(conn, policy, caller, input.defender_id.as_deref(), naive(now))?;
    let summary = input.summary.as_deref().map(|s| text_field("summary", s, MAX_TEXT)).transpose()?;
    let id = new_id();
    crypto.create_case_key(conn, &id, now)?;
    let number = db::next_case_number(conn, now.year())?;
    let mut case = Case {
        id: id.clone(),
        reference: format!("HVN-{}-{:06}", now.year(), number),
        status: CaseStatus::Open.as_str().into(),
        severity: input.severity.as_str().into(),
        country: input.country,
        owner_organization_id: caller.user.organization_id.clone(),
        defender_id: input.defender_id,
        consent_scope: scope_json(&input.consent_scope)?,
        summary_ct: None,
        summary_key_version: None,
        created_by: caller.user.id.clone(),
        version: 1,
        created_at: naive(now),
        updated_at: naive(now),
        acknowledged_at: None,
        activated_at: None,
        monitoring_at: None,
        closed_at: None,
    };
    case.insert(conn)?;
    if let Some(s) = seal_opt(crypto, conn, &id, "summary", summary.as_deref())? {
        Case::update_versioned(
            conn,
            &id,
            1,
            &CaseChanges {
                summary_ct: Some(Some(s.ciphertext.clone())),
                summary_key_version: Some(Some(s.key_version)),
                ..Default::default()
            },
            naive(now),
        )?;
        case.summary_ct = Some(s.ciphertext);
        case.summary_key_version = Some(s.key_version);
        case.version = 2;
    }
    let detail = serde_json::json!({ "reference": case.reference, "severity": case.severity });
    audit::record(conn, now, Entry::new(Some(&caller.user.id), "case.create", "case", Some(&id)).detail(detail))?;
    crate::escalation::fire(conn, rules, now, crate::escalation::Event::CaseOpened, &case.id)?;
    Ok(case)
}

pub fn detail(conn: &mut DbConn, crypto: &Crypto, case: Case) -> Result<CaseDetail, AppError> {
    let summary = open_opt(crypto, conn, &case.id, "summary", &case.summary_ct, case.summary_key_version)?;
    let assignees = CaseAssignee::for_case(conn, &case.id)?;
    let shares = CaseShare::for_case(conn, &case.id)?;
    let mut transitions = Vec::new();
    for t in CaseTransition::for_case(conn, &case.id)? {
        let reason = open_opt(crypto, conn, &case.id, &t.id, &t.reason_ct, t.reason_key_version)?;
        transitions.push((t, reason));
    }
    Ok(CaseDetail { case, summary, assignees, shares, transitions })
}

/// `If-Match` from the client, as a case version; a mismatch is a 412.
pub fn check_version(case: &Case, if_match: Option<i32>) -> Result<(), AppError> {
    match if_match {
        Some(v) if v != case.version => Err(AppError::PreconditionFailed),
        _ => Ok(()),
    }
}

pub struct CaseUpdate {
    pub severity: Option<Severity>,
    pub country: Option<String>,
    pub summary: Option<String>,
    pub defender_id: Option<String>,
}

pub fn update(
    conn: &mut DbConn,
    cx: &Ctx<'_>,
    caller: &Caller<'_>,
    case: &Case,
    input: CaseUpdate,
) -> Result<(), AppError> {
    let (rules, crypto, policy, now) = (&*cx.rules, cx.crypto, cx.access, cx.now);
    if let Some(c) = &input.country {
        check_country("country", c)?;
    }
    if let Some(d) = input.defender_id.as_deref() {
        check_defender_for(conn, policy, caller, d, &case.owner_organization_id, naive(now))?;
    }
    let summary = input.summary.as_deref().map(|s| text_field("summary", s, MAX_TEXT)).transpose()?;
    let sealed = seal_opt(crypto, conn, &case.id, "summary", summary.as_deref())?;
    let changes = CaseChanges {
        severity: input.severity.map(|s| s.as_str().to_string()),
        country: input.country.clone(),
        defender_id: input.defender_id.clone().map(Some),
        summary_ct: sealed.as_ref().map(|s| Some(s.ciphertext.clone())),
        summary_key_version: sealed.as_ref().map(|s| Some(s.key_version)),
        ..Default::default()
    };
    if !Case::update_versioned(conn, &case.id, case.version, &changes, naive(now))? {
        return Err(AppError::PreconditionFailed);
    }
    let mut fields = Vec::new();
    if input.defender_id.is_some() {
        fields.push("defender".into());
    }
    if let Some(s) = input.severity {
        fields.push(format!("severity:{}->{}", case.severity, s.as_str()));
    }
    if input.country.is_some() {
        fields.push("country".into());
    }
    if summary.is_some() {
        fields.push("summary".into());
    }
    let e = Entry::new(Some(&caller.user.id), "case.update", "case", Some(&case.id))
        .detail(serde_json::json!({ "changed": fields }));
    audit::record(conn, now, e)?;
    let raised = input.severity.is_some_and(|s| Severity::parse(&case.severity).is_some_and(|old| s > old));
    if raised {
        crate::escalation::fire(conn, rules, now, crate::escalation::Event::CaseSeverityRaised, &case.id)?;
    }
    crate::escalation::settle_case(conn, rules, now, &case.id)?;
    Ok(())
}

/// Moves a case along the workflow. Closing and reopening need a reason (sealed).
pub fn transition(
    conn: &mut DbConn,
    cx: &Ctx<'_>,
    caller: &Caller<'_>,
    case: &Case,
    to: CaseStatus,
    reason: Option<&str>,
) -> Result<(), AppError> {
    let (rules, crypto, now) = (&*cx.rules, cx.crypto, cx.now);
    let from =
        CaseStatus::parse(&case.status).ok_or_else(|| AppError::internal(anyhow::anyhow!("bad status in db")))?;
    if !from.next().contains(&to) {
        return Err(AppError::InvalidTransition {
            from: from.as_str(),
            allowed: from.next().iter().map(|s| s.as_str()).collect(),
        });
    }
    let reason = reason.map(|r| text_field("reason", r, 2000)).transpose()?;
    if (to == CaseStatus::Closed || from == CaseStatus::Closed) && reason.is_none() {
        return Err(AppError::unprocessable("reason_required", "closing or reopening a case needs a reason"));
    }
    let t = naive(now);
    let mut changes = CaseChanges { status: Some(to.as_str().into()), ..Default::default() };
    match to {
        CaseStatus::Acknowledged => changes.acknowledged_at = Some(Some(t)),
        CaseStatus::Active if case.activated_at.is_none() => changes.activated_at = Some(Some(t)),
        CaseStatus::Monitoring => changes.monitoring_at = Some(Some(t)),
        CaseStatus::Closed => changes.closed_at = Some(Some(t)),
        CaseStatus::Open => changes.closed_at = Some(None),
        CaseStatus::Active => {}
    }
    if !Case::update_versioned(conn, &case.id, case.version, &changes, t)? {
        return Err(AppError::PreconditionFailed);
    }
    let id = new_id();
    let sealed = seal_opt(crypto, conn, &case.id, &id, reason.as_deref())?;
    CaseTransition {
        id,
        case_id: case.id.clone(),
        from_status: from.as_str().into(),
        to_status: to.as_str().into(),
        reason_ct: sealed.as_ref().map(|s| s.ciphertext.clone()),
        reason_key_version: sealed.as_ref().map(|s| s.key_version),
        actor_id: caller.user.id.clone(),
        created_at: t,
    }
    .insert(conn)?;
    let detail = serde_json::json!({ "from": from.as_str(), "to": to.as_str() });
    audit::record(
        conn,
        now,
        Entry::new(Some(&caller.user.id), "case.transition", "case", Some(&case.id)).detail(detail),
    )?;
    crate::escalation::settle_case(conn, rules, now, &case.id)?;
    Ok(())
}

/// Assigns a coordinator or officer of the owning organisation, or of an organisation the
/// case is shared with.
pub fn assign(
    conn: &mut DbConn,
    cx: &Ctx<'_>,
    caller: &Caller<'_>,
    case: &Case,
    user_id: &str,
) -> Result<(), AppError> {
    let (rules, now) = (&*cx.rules, cx.now);
    let unknown = || {
        AppError::unprocessable(
            "unknown_user",
            "user_id does not name an active coordinator or officer who may see this case",
        )
    };
    if !crate::domain::accounts::is_id(user_id) {
        return Err(unknown());
    }
    let user = User::find(conn, user_id)?.ok_or_else(unknown)?;
    let role = Role::parse(&user.role);
    if !user.active || !matches!(role, Some(Role::Coordinator | Role::Officer)) {
        return Err(unknown());
    }
    let org_ok = user.organization_id == case.owner_organization_id
        || CaseShare::find(conn, &case.id, &user.organization_id)?.is_some_and(|s| s.is_live(naive(now)));
    if !org_ok {
        return Err(unknown());
    }
    if CaseAssignee::exists(conn, &case.id, user_id)? {
        return Ok(());
    }
    CaseAssignee {
        case_id: case.id.clone(),
        user_id: user_id.into(),
        assigned_by: caller.user.id.clone(),
        assigned_at: naive(now),
    }
    .insert(conn)?;
    Case::touch(conn, &case.id, naive(now))?;
    let e = Entry::new(Some(&caller.user.id), "case.assign", "case", Some(&case.id))
        .detail(serde_json::json!({ "user_id": user_id }));
    audit::record(conn, now, e)?;
    crate::escalation::settle_case(conn, rules, now, &case.id)?;
    Ok(())
}

pub fn unassign(
    conn: &mut DbConn,
    cx: &Ctx<'_>,
    caller: &Caller<'_>,
    case: &Case,
    user_id: &str,
) -> Result<(), AppError> {
    let (rules, now) = (&*cx.rules, cx.now);
    if !crate::domain::accounts::is_id(user_id) || CaseAssignee::delete(conn, &case.id, user_id)? == 0 {
        return Err(AppError::NotFound("assignee_not_found"));
    }
    Case::touch(conn, &case.id, naive(now))?;
    let e = Entry::new(Some(&caller.user.id), "case.unassign", "case", Some(&case.id))
        .detail(serde_json::json!({ "user_id": user_id }));
    audit::record(conn, now, e)?;
    crate::escalation::settle_case(conn, rules, now, &case.id)?;
    Ok(())
}

pub struct NewShare {
    pub organization_id: String,
    pub consent_reference: String,
    pub expires_at: DateTime<Utc>,
    pub override_reason: Option<String>,
    pub include_profile: bool,
}

/// Shares a case with another organisation, within the defender's consent scope. A share
/// outside it needs a documented override reason (sealed, and audited as an override).
/// A share lasts at most the policy's `shares.max_days`; extending one is a renewal and
/// needs a new consent reference, since the defender's consent is what it rests on.
pub fn share(
    conn: &mut DbConn,
    cx: &Ctx<'_>,
    caller: &Caller<'_>,
    case: &Case,
    input: NewShare,
) -> Result<CaseShare, AppError> {
    let (rules, crypto, policy, now) = (&*cx.rules, cx.crypto, cx.access, cx.now);
    let unknown = || AppError::unprocessable("unknown_organization", "organization_id does not name an organization");
    if !crate::domain::accounts::is_id(&input.organization_id) {
        return Err(unknown());
    }
    let org = Organization::find(conn, &input.organization_id)?.ok_or_else(unknown)?;
    if org.id == case.owner_organization_id {
        return Err(AppError::unprocessable("own_organization", "a case is not shared with its own organization"));
    }
    let consent_reference = text_field("consent_reference", &input.consent_reference, 200)?;
    crate::domain::check_date("expires_at", input.expires_at)?;
    if input.expires_at <= now {
        return Err(AppError::unprocessable("invalid_expiry", "expires_at must be in the future"));
    }
    // A share on one consent lasts at most `max_days` from the day that consent was first
    // used: changing it (its scope, an earlier end) keeps that day; going past it is a
    // renewal, which rests on a new consent.
    let max_days = policy.share_max_days();
    let max = chrono::Duration::days(i64::from(max_days));
    let same_consent = CaseShare::find(conn, &case.id, &org.id)?.filter(|s| s.consent_reference == consent_reference);
    let since = same_consent.as_ref().map_or(naive(now), |s| s.created_at);
    if input.expires_at > crate::domain::end_of_day(now + max) {
        return Err(AppError::unprocessable(
            "share_too_long",
            format!("expires_at may be at most {max_days} days ahead; renew the share with a new consent_reference"),
        ));
    }
    if input.expires_at > crate::domain::end_of_day(crate::clock::utc(since) + max) {
        return Err(AppError::unprocessable(
            "renewal_needs_consent",
            format!(
                "a share lasts at most {max_days} days on one consent: give the new consent_reference that renews it"
            ),
        ));
    }
    let scope: Vec<String> = serde_json::from_str(&case.consent_scope).map_err(AppError::internal)?;
    let within = scope.contains(&org.kind);
    let reason = input.override_reason.as_deref().map(|r| text_field("override_reason", r, 2000)).transpose()?;
    if !within && reason.is_none() {
        return Err(AppError::unprocessable(
            "outside_consent_scope",
            "the defender has not consented to telling this kind of organization; give override_reason to override",
        ));
    }
    let sealed =
        if within { None } else { seal_opt(crypto, conn, &case.id, &format!("share:{}", org.id), reason.as_deref())? };
    let share = CaseShare {
        case_id: case.id.clone(),
        organization_id: org.id.clone(),
        granted_by: caller.user.id.clone(),
        consent_reference,
        override_reason_ct: sealed.as_ref().map(|s| s.ciphertext.clone()),
        override_key_version: sealed.as_ref().map(|s| s.key_version),
        expires_at: naive(input.expires_at),
        created_at: since,
        revoked_at: None,
        includes_profile: input.include_profile,
    };
    share.upsert(conn)?;
    Case::touch(conn, &case.id, naive(now))?;
    let detail = serde_json::json!({
        "organization_id": org.id,
        "consent_override": !within,
        "includes_profile": input.include_profile,
        "expires_at": input.expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    });
    audit::record(conn, now, Entry::new(Some(&caller.user.id), "case.share", "case", Some(&case.id)).detail(detail))?;
    crate::escalation::settle_case(conn, rules, now, &case.id)?;
    Ok(share)
}

/// Ends a share; the organisation loses access on its next request.
pub fn unshare(
    conn: &mut DbConn,
    cx: &Ctx<'_>,
    caller: &Caller<'_>,
    case: &Case,
    org_id: &str,
) -> Result<(), AppError> {
    let (rules, now) = (&*cx.rules, cx.now);
    if !crate::domain::accounts::is_id(org_id) || CaseShare::revoke(conn, &case.id, org_id, naive(now))? == 0 {
        return Err(AppError::NotFound("share_not_found"));
    }
    // Its people are no longer assignees either.
    CaseAssignee::delete_for_org(conn, &case.id, org_id)?;
    Case::touch(conn, &case.id, naive(now))?;
    let e = Entry::new(Some(&caller.user.id), "case.unshare", "case", Some(&case.id))
        .detail(serde_json::json!({ "organization_id": org_id }));
    audit::record(conn, now, e)?;
    crate::escalation::settle_case(conn, rules, now, &case.id)?;
    Ok(())
}

/// Appends a note sealed with the case key.
pub fn add_note(
    conn: &mut DbConn,
    crypto: &Crypto,
    now: DateTime<Utc>,
    caller: &Caller<'_>,
    case: &Case,
    kind: NoteKind,
    body: &str,
) -> Result<CaseNote, AppError> {
    let body = text_field("body", body, MAX_TEXT)?;
    let id = new_id();
    let sealed = crypto.seal(conn, &case.id, &id, body.as_bytes())?;
    let note = CaseNote {
        id,
        case_id: case.id.clone(),
        author_id: caller.user.id.clone(),
        kind: kind.as_str().into(),
        body_ct: sealed.ciphertext,
        key_version: sealed.key_version,
        created_at: naive(now),
    };
    note.insert(conn)?;
    Case::touch(conn, &case.id, naive(now))?;
    audit::record(conn, now, Entry::new(Some(&caller.user.id), "note.create", "note", Some(&note.id)))?;
    Ok(note)
}

/// The bodies of a page of one case's notes, in order (each key version read once).
pub fn open_notes(
    conn: &mut DbConn,
    crypto: &Crypto,
    case_id: &str,
    notes: &[CaseNote],
) -> Result<Vec<String>, AppError> {
    let sealed: Vec<Sealed> =
        notes.iter().map(|n| Sealed { ciphertext: n.body_ct.clone(), key_version: n.key_version }).collect();
    let records: Vec<(&str, &Sealed)> = notes.iter().zip(&sealed).map(|(n, s)| (n.id.as_str(), s)).collect();
    let plain = crypto.open_all(conn, case_id, &records)?;
    Ok(plain.iter().map(|p| String::from_utf8_lossy(p).into_owned()).collect())
}

pub fn open_note(conn: &mut DbConn, crypto: &Crypto, note: &CaseNote) -> Result<String, AppError> {
    let plain = crypto.open(
        conn,
        &note.case_id,
        &note.id,
        &Sealed { ciphertext: note.body_ct.clone(), key_version: note.key_version },
    )?;
    Ok(String::from_utf8_lossy(&plain).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authz::Decision;

    const ALL: [CaseStatus; 5] =
        [CaseStatus::Open, CaseStatus::Acknowledged, CaseStatus::Active, CaseStatus::Monitoring, CaseStatus::Closed];

    #[test]
    fn case_workflow_allows_exactly_the_documented_steps() {
        use CaseStatus::*;
        // Forward one step, back from monitoring to active, close from anywhere, reopen.
        let allowed = [
            (Open, Acknowledged),
            (Open, Closed),
            (Acknowledged, Active),
            (Acknowledged, Closed),
            (Active, Monitoring),
            (Active, Closed),
            (Monitoring, Active),
            (Monitoring, Closed),
            (Closed, Open),
        ];
        for from in ALL {
            for to in ALL {
                assert_eq!(from.next().contains(&to), allowed.contains(&(from, to)), "{from:?} -> {to:?}");
            }
        }
        // No skipping ahead, no reopening straight into work.
        assert!(!Open.next().contains(&Active));
        assert!(!Acknowledged.next().contains(&Monitoring));
        assert_eq!(Closed.next(), &[Open]);
    }

    #[test]
    fn every_case_status_is_reachable_from_open_and_closed_is_reachable_from_all() {
        let mut seen = vec![CaseStatus::Open];
        let mut i = 0;
        while i < seen.len() {
            for n in seen[i].next() {
                if !seen.contains(n) {
                    seen.push(*n);
                }
            }
            i += 1;
        }
        assert_eq!(seen.len(), ALL.len(), "reached {seen:?}");
        for s in ALL.into_iter().filter(|s| *s != CaseStatus::Closed) {
            assert!(s.next().contains(&CaseStatus::Closed), "{s:?} cannot close");
        }
    }

    #[test]
    fn case_statuses_round_trip_as_stored() {
        assert_eq!(ALL.map(CaseStatus::as_str), ["open", "acknowledged", "active", "monitoring", "closed"]);
        for s in ALL {
            assert_eq!(CaseStatus::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), serde_json::json!(s.as_str()));
        }
        for bad in ["Open", "OPEN", "", "reopened", " open"] {
            assert_eq!(CaseStatus::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn severity_orders_low_to_critical() {
        use Severity::*;
        assert!(Low < Medium && Medium < High && High < Critical);
        let mut shuffled = vec![High, Low, Critical, Medium];
        shuffled.sort();
        assert_eq!(shuffled, Severity::ALL.to_vec());
        assert_eq!(Severity::ALL.iter().max(), Some(&Critical));
    }

    #[test]
    fn severity_below_lists_the_strictly_lower_levels() {
        assert_eq!(Severity::Low.below(), Vec::<&str>::new());
        assert_eq!(Severity::Medium.below(), vec!["low"]);
        assert_eq!(Severity::High.below(), vec!["low", "medium"]);
        assert_eq!(Severity::Critical.below(), vec!["low", "medium", "high"]);
        for s in Severity::ALL {
            assert!(!s.below().contains(&s.as_str()), "{s:?} is not below itself");
        }
    }

    #[test]
    fn severity_round_trips_as_stored_and_sent() {
        for s in Severity::ALL {
            assert_eq!(Severity::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), serde_json::json!(s.as_str()));
        }
        assert_eq!(Severity::parse("CRITICAL"), None);
        assert_eq!(Severity::parse("urgent"), None);
    }

    #[test]
    fn text_field_trims_and_counts_characters_not_bytes() {
        assert_eq!(text_field("summary", "  hello \n", 10).unwrap(), "hello");
        // Five two-byte characters fit in 5; trimming happens before counting.
        assert_eq!(text_field("summary", "ééééé", 5).unwrap(), "ééééé");
        assert_eq!(text_field("summary", "  abcde  ", 5).unwrap(), "abcde");
        let e = text_field("summary", "éééééé", 5).unwrap_err();
        assert_eq!(e.code(), "invalid_field");
        assert_eq!(e.field(), Some("summary"));
        assert!(e.to_string().contains("summary must be 1 to 5 characters"), "{e}");
    }

    #[test]
    fn text_field_refuses_blank_and_control_characters_but_keeps_line_breaks() {
        for blank in ["", "   ", "\n\t \r\n"] {
            assert_eq!(text_field("reason", blank, 2000).unwrap_err().field(), Some("reason"), "{blank:?}");
        }
        assert_eq!(text_field("body", "a\nb\tc\r\nd", 100).unwrap(), "a\nb\tc\r\nd");
        for bad in ["a\u{0}b", "a\u{1b}[31mb", "a\u{7f}b", "a\u{85}b", "a\u{8}b"] {
            assert!(text_field("body", bad, 100).is_err(), "{bad:?}");
        }
        // The field path is passed through, for list items.
        let e = text_field(format!("beneficiaries[{}]", 3), " ", 200).unwrap_err();
        assert_eq!(e.field(), Some("beneficiaries[3]"));
    }

    #[test]
    fn check_country_takes_upper_case_iso_codes_only() {
        assert!(check_country("country", "CO").is_ok());
        assert!(check_country("country", "KE").is_ok());
        for bad in ["co", "Co", " CO", "CO ", "ZZ", "UK", "COL", ""] {
            let e = check_country("country", bad).unwrap_err();
            assert_eq!(e.code(), "invalid_country", "{bad:?}");
            assert_eq!(e.field(), Some("country"), "{bad:?}");
        }
        // What a client sends goes through `country::upper` first: " co " becomes "CO".
        #[derive(serde::Deserialize)]
        struct Body {
            #[serde(deserialize_with = "crate::domain::country::upper")]
            country: String,
        }
        let b: Body = serde_json::from_str(r#"{"country":" co "}"#).unwrap();
        assert_eq!(b.country, "CO");
        assert!(check_country("country", &b.country).is_ok());
        let b: Body = serde_json::from_str(r#"{"country":"uk"}"#).unwrap();
        assert!(check_country("country", &b.country).is_err(), "UK is not ISO 3166-1 (GB is)");
    }

    #[test]
    fn consent_scope_is_stored_sorted_without_repeats() {
        use OrganizationKind::*;
        assert_eq!(scope_json(&[Ngo, Embassy, Ngo, UnAgency]).unwrap(), r#"["embassy","ngo","un_agency"]"#);
        assert_eq!(scope_json(&[UnAgency, Embassy]).unwrap(), scope_json(&[Embassy, UnAgency]).unwrap());
        assert_eq!(scope_json(&[]).unwrap(), "[]");
    }

    #[test]
    fn enforce_maps_decisions_and_hides_what_may_not_be_read() {
        assert_eq!(enforce(Decision::Allow, 7, "case_not_found").unwrap(), 7);
        assert!(matches!(enforce(Decision::Forbidden, 7, "case_not_found"), Err(AppError::Forbidden("forbidden"))));
        assert!(matches!(enforce(Decision::NotFound, 7, "case_not_found"), Err(AppError::NotFound("case_not_found"))));
    }

    #[test]
    fn check_version_refuses_only_a_different_if_match() {
        let t = DateTime::<Utc>::UNIX_EPOCH.naive_utc();
        let case = Case {
            id: "c".into(),
            reference: "HVN-2026-000001".into(),
            status: "open".into(),
            severity: "low".into(),
            country: "CO".into(),
            owner_organization_id: "o".into(),
            defender_id: None,
            consent_scope: "[]".into(),
            summary_ct: None,
            summary_key_version: None,
            created_by: "u".into(),
            version: 3,
            created_at: t,
            updated_at: t,
            acknowledged_at: None,
            activated_at: None,
            monitoring_at: None,
            closed_at: None,
        };
        assert!(check_version(&case, None).is_ok());
        assert!(check_version(&case, Some(3)).is_ok());
        assert!(matches!(check_version(&case, Some(2)), Err(AppError::PreconditionFailed)));
        assert!(matches!(check_version(&case, Some(4)), Err(AppError::PreconditionFailed)));
    }
}
