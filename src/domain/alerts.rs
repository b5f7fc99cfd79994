//! Alerts: raw intake, sealed with a key of their own until triage turns them into (or
//! attaches them to) a case, in one transaction. Everything she wrote in her own words (the
//! narrative, the region, how to reach her) is sealed; lists and escalation rules see only the
//! kind, urgency, country code and status.

use chrono::NaiveDateTime;

use crate::audit::{self, Entry};
use crate::authz::{AccessPolicy, Action};
use crate::clock::naive;
use crate::crypto::{Crypto, FreshKey, Sealed};
use crate::db::models::{Alert, Case};
use crate::db::DbConn;
use crate::domain::cases::{self, check_country, open_opt, text_field, Caller, NewCase, Severity};
use crate::domain::Ctx;
use crate::domain::{new_id, OrganizationKind};
use crate::error::AppError;

str_enum!(AlertKind {
    ThreatReceived => "threat_received",
    PhysicalAttack => "physical_attack",
    ArrestDetention => "arrest_detention",
    OnlineHarassment => "online_harassment",
    Surveillance => "surveillance",
    SmearCampaign => "smear_campaign",
    ThreatToFamily => "threat_to_family",
    Other => "other",
});

str_enum!(AlertStatus { Received => "received", Triaged => "triaged", Dismissed => "dismissed", Merged => "merged" });

pub struct NewAlert {
    pub kind: AlertKind,
    pub urgency: Severity,
    pub country: String,
    pub region: Option<String>,
    pub narrative: String,
    pub safe_contact: Option<String>,
    pub consent_scope: Vec<OrganizationKind>,
    pub defender_id: Option<String>,
    /// When it happened, if she said (form alerts).
    pub occurred_on: Option<chrono::NaiveDate>,
    /// The name or pseudonym she gave (form alerts).
    pub reporter_name: Option<String>,
}

/// Longest narrative or message a defender may send, in characters.
pub const MAX_NARRATIVE: usize = cases::MAX_TEXT;

/// An alert checked and sealed ahead of its transaction ([`prepare`]): validation and all the
/// X25519 work of intake (a new key, its wrapping, the sealing of every field) happen before
/// the write lock is taken, so writers queue only for the inserts.
#[derive(Clone)]
pub struct PreparedAlert {
    id: String,
    key: FreshKey,
    kind: AlertKind,
    urgency: Severity,
    country: String,
    consent_scope: String,
    defender_id: Option<String>,
    narrative: (String, Sealed),
    region: Option<(String, Sealed)>,
    safe_contact: Option<(String, Sealed)>,
    occurred_on: Option<(String, Sealed)>,
    reporter_name: Option<(String, Sealed)>,
}

/// Checks `input` and seals it to a new key of its own; no database work.
pub fn prepare(crypto: &Crypto, input: NewAlert) -> Result<PreparedAlert, AppError> {
    check_country("country", &input.country)?;
    let region = input.region.as_deref().map(|r| text_field("region", r, 100)).transpose()?;
    let narrative = text_field("narrative", &input.narrative, MAX_NARRATIVE)?;
    let safe_contact = input.safe_contact.as_deref().map(|s| text_field("safe_contact", s, 2000)).transpose()?;
    let reporter_name = input.reporter_name.as_deref().map(|s| text_field("reporter_name", s, 200)).transpose()?;
    let consent_scope = cases::scope_json(&input.consent_scope)?;
    let occurred_on = input.occurred_on.map(|d| d.format("%Y-%m-%d").to_string());
    let id = new_id();
    let key = crypto.fresh_key(&id, 1)?;
    let seal = |record: &str, text: Option<String>| -> Result<Option<(String, Sealed)>, AppError> {
        match text {
            Some(t) => {
                let sealed = key.seal(record, t.as_bytes())?;
                Ok(Some((t, sealed)))
            }
            None => Ok(None),
        }
    };
    let narrative_sealed = key.seal("narrative", narrative.as_bytes())?;
    Ok(PreparedAlert {
        narrative: (narrative, narrative_sealed),
        region: seal("region", region)?,
        safe_contact: seal("safe_contact", safe_contact)?,
        occurred_on: seal("occurred_on", occurred_on)?,
        reporter_name: seal("reporter_name", reporter_name)?,
        id,
        key,
        kind: input.kind,
        urgency: input.urgency,
        country: input.country,
        consent_scope,
        defender_id: input.defender_id,
    })
}

/// Alerts of the caller's organisation (the one they were sent to), newest first, after
/// `cursor`. Who may list alerts at all is the route's action (`alert.list`).
pub fn list(
    conn: &mut DbConn,
    caller: &Caller<'_>,
    filter: &crate::db::models::alert::AlertFilter,
    cursor: Option<&str>,
    limit: i64,
) -> Result<Vec<Alert>, AppError> {
    Ok(Alert::page_for_org(conn, &caller.user.organization_id, filter, cursor, limit)?)
}

/// The caller's organisation's alerts awaiting triage, most pressing first (a duress signal,
/// then urgency, then the longest waiting), at most `limit`.
pub fn waiting(conn: &mut DbConn, caller: &Caller<'_>, limit: i64) -> Result<Vec<Alert>, AppError> {
    Ok(Alert::waiting_for_org(conn, &caller.user.organization_id, limit)?)
}

/// Staff intake on behalf of a defender; the alert belongs to the caller's organisation.
pub fn create(
    conn: &mut DbConn,
    cx: &Ctx<'_>,
    caller: &Caller<'_>,
    alert: &PreparedAlert,
) -> Result<AlertDetail, AppError> {
    cases::check_defender(conn, cx.access, caller, alert.defender_id.as_deref(), naive(cx.now))?;
    let org = caller.user.organization_id.clone();
    insert(conn, cx, &org, "staff", Some(&caller.user.id), alert)
}

/// An alert from the public form: no caller, no defender record, owned by the intake
/// organisation. Audited with no actor, and nothing about the sender.
pub fn create_from_form(
    conn: &mut DbConn,
    cx: &Ctx<'_>,
    organization_id: &str,
    alert: &PreparedAlert,
) -> Result<AlertDetail, AppError> {
    if alert.defender_id.is_some() {
        return Err(AppError::internal(anyhow::anyhow!("a form alert names no defender record")));
    }
    insert(conn, cx, organization_id, "form", None, alert)
}

/// Stores a prepared alert and its key; answers with what it stored, in clear, without
/// opening what was just sealed.
fn insert(
    conn: &mut DbConn,
    cx: &Ctx<'_>,
    organization_id: &str,
    source: &str,
    created_by: Option<&str>,
    p: &PreparedAlert,
) -> Result<AlertDetail, AppError> {
    let (rules, crypto, now) = (&*cx.rules, cx.crypto, cx.now);
    crypto.store_fresh_key(conn, &p.key, now)?;
    let ct = |v: &Option<(String, Sealed)>| v.as_ref().map(|(_, s)| s.ciphertext.clone());
    let clear = |v: &Option<(String, Sealed)>| v.as_ref().map(|(t, _)| t.clone());
    let id = p.id.clone();
    let alert = Alert {
        id: id.clone(),
        kind: p.kind.as_str().into(),
        urgency: p.urgency.as_str().into(),
        country: p.country.clone(),
        narrative_ct: p.narrative.1.ciphertext.clone(),
        safe_contact_ct: ct(&p.safe_contact),
        key_version: p.narrative.1.key_version,
        consent_scope: p.consent_scope.clone(),
        status: AlertStatus::Received.as_str().into(),
        dismiss_reason_ct: None,
        owner_organization_id: organization_id.to_string(),
        defender_id: p.defender_id.clone(),
        case_id: None,
        source: source.into(),
        created_by: created_by.map(str::to_string),
        version: 1,
        received_at: naive(now),
        triaged_at: None,
        updated_at: naive(now),
        occurred_on_ct: ct(&p.occurred_on),
        reporter_name_ct: ct(&p.reporter_name),
        region_ct: ct(&p.region),
        duress_at: None,
    };
    alert.insert(conn)?;
    let detail = serde_json::json!({ "kind": alert.kind, "urgency": alert.urgency, "source": source });
    audit::record(conn, now, Entry::new(created_by, "alert.create", "alert", Some(&id)).detail(detail))?;
    crate::escalation::fire(conn, rules, now, crate::escalation::Event::AlertReceived, &id)?;
    Ok(AlertDetail {
        alert,
        narrative: p.narrative.0.clone(),
        region: clear(&p.region),
        safe_contact: clear(&p.safe_contact),
        dismiss_reason: None,
        occurred_on: clear(&p.occurred_on),
        reporter_name: clear(&p.reporter_name),
    })
}

/// Loads an alert the caller may perform `action` on: her organisation's coordinators, or
/// anyone who may read the case it was triaged into.
pub fn load_for(
    conn: &mut DbConn,
    policy: &AccessPolicy,
    caller: &Caller<'_>,
    id: &str,
    action: Action,
    now: NaiveDateTime,
) -> Result<Alert, AppError> {
    Ok(load_access(conn, policy, caller, id, action, now)?.alert)
}

/// An alert loaded for an action, with the caller's relations to it and the case it went
/// into when she may read that case: a page offering several actions decides each from
/// these (`AlertAccess::may`) instead of loading the alert again per action.
pub struct AlertAccess {
    pub alert: Alert,
    pub relations: Vec<crate::authz::Relation>,
    /// The case it was triaged into, if she may read it.
    pub case: Option<Case>,
}

impl AlertAccess {
    pub fn may(&self, policy: &AccessPolicy, action: Action) -> bool {
        policy.decide_on_object(&self.relations, action) == crate::authz::Decision::Allow
    }
}

/// `load_for`, keeping what it learnt on the way (see `AlertAccess`).
pub fn load_access(
    conn: &mut DbConn,
    policy: &AccessPolicy,
    caller: &Caller<'_>,
    id: &str,
    action: Action,
    now: NaiveDateTime,
) -> Result<AlertAccess, AppError> {
    if !crate::domain::accounts::is_id(id) {
        return Err(AppError::NotFound("alert_not_found"));
    }
    let alert = Alert::find(conn, id)?.ok_or(AppError::NotFound("alert_not_found"))?;
    let linked: Vec<Case> = match &alert.case_id {
        Some(case_id) => Case::find(conn, case_id)?.into_iter().collect(),
        None => Vec::new(),
    };
    let case = linked.first().cloned();
    let relations = cases::owner_or_case_reader(conn, policy, caller, &alert.owner_organization_id, linked, now)?;
    let alert = cases::enforce(policy.decide_on_object(&relations, action), alert, "alert_not_found")?;
    // `case_reader` is there exactly when she may read the linked case.
    let case = case.filter(|_| relations.contains(&crate::authz::Relation::CaseReader));
    Ok(AlertAccess { alert, relations, case })
}

/// An alert's short id as typed (` 5C10177A `), if it is one: the last eight characters of
/// an id, as the mails and pages name an alert.
pub fn normalize_short_id(typed: &str) -> Option<String> {
    let t = typed.trim().to_ascii_lowercase();
    (t.len() == 8 && t.bytes().all(|b| b.is_ascii_hexdigit())).then_some(t)
}

/// The alerts named by this short id that the caller may read (usually one), with the case
/// each went into when she may read it.
pub fn find_by_short_id(
    conn: &mut DbConn,
    policy: &AccessPolicy,
    caller: &Caller<'_>,
    short_id: &str,
    now: NaiveDateTime,
) -> Result<Vec<AlertAccess>, AppError> {
    let Some(suffix) = normalize_short_id(short_id) else { return Ok(Vec::new()) };
    let mut found = Vec::new();
    for alert in Alert::ending_with(conn, &suffix, 5)? {
        match load_access(conn, policy, caller, &alert.id, Action::AlertRead, now) {
            Ok(a) => found.push(a),
            Err(AppError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(found)
}

pub struct AlertDetail {
    pub alert: Alert,
    pub narrative: String,
    pub region: Option<String>,
    pub safe_contact: Option<String>,
    pub dismiss_reason: Option<String>,
    pub occurred_on: Option<String>,
    pub reporter_name: Option<String>,
}

pub fn detail(conn: &mut DbConn, crypto: &Crypto, alert: Alert) -> Result<AlertDetail, AppError> {
    let v = Some(alert.key_version);
    let narrative =
        open_opt(crypto, conn, &alert.id, "narrative", &Some(alert.narrative_ct.clone()), v)?.unwrap_or_default();
    let region = open_opt(crypto, conn, &alert.id, "region", &alert.region_ct, v)?;
    let safe_contact = open_opt(crypto, conn, &alert.id, "safe_contact", &alert.safe_contact_ct, v)?;
    let dismiss_reason = open_opt(crypto, conn, &alert.id, "dismiss_reason", &alert.dismiss_reason_ct, v)?;
    let occurred_on = open_opt(crypto, conn, &alert.id, "occurred_on", &alert.occurred_on_ct, v)?;
    let reporter_name = open_opt(crypto, conn, &alert.id, "reporter_name", &alert.reporter_name_ct, v)?;
    Ok(AlertDetail { alert, narrative, region, safe_contact, dismiss_reason, occurred_on, reporter_name })
}

/// Where a triaged alert goes.
pub enum TriageTarget {
    NewCase { severity: Option<Severity>, summary: Option<String>, defender_id: Option<String> },
    ExistingCase(String),
}

/// Promotes an alert to a new case, or attaches it to an existing one the caller may
/// update, in the caller's transaction: if anything fails, the alert stays untriaged and
/// no case exists.
pub fn triage(
    conn: &mut DbConn,
    cx: &Ctx<'_>,
    caller: &Caller<'_>,
    alert: &Alert,
    expected: Option<i32>,
    target: TriageTarget,
) -> Result<Case, AppError> {
    let (rules, policy, now) = (&*cx.rules, cx.access, cx.now);
    if expected.is_some_and(|v| v != alert.version) {
        return Err(AppError::PreconditionFailed);
    }
    if alert.status != AlertStatus::Received.as_str() {
        return Err(AppError::conflict("alert_not_received", "only a received alert can be triaged or dismissed"));
    }
    let into_existing = matches!(target, TriageTarget::ExistingCase(_));
    let case = match target {
        TriageTarget::ExistingCase(case_id) => {
            // Only into a case of the alert's own organisation, run by the caller's own
            // coordinators: an alert is never moved across organisations (or outside the
            // consent it was given with) by attaching it.
            let unknown =
                || AppError::unprocessable("unknown_case", "case_id does not name an open case of your organization");
            let case = cases::load_for(conn, policy, caller, &case_id, Action::CaseUpdate, naive(now)).map_err(
                |e| match e {
                    AppError::NotFound(_) | AppError::Forbidden(_) => unknown(),
                    other => other,
                },
            )?;
            if case.owner_organization_id != alert.owner_organization_id
                || caller.user.organization_id != case.owner_organization_id
            {
                return Err(unknown());
            }
            if case.status == "closed" {
                return Err(AppError::conflict("case_closed", "reopen the case before attaching alerts to it"));
            }
            if alert.defender_id.is_some() && alert.defender_id != case.defender_id {
                return Err(AppError::unprocessable(
                    "defender_mismatch",
                    "the alert and the case concern different defenders",
                ));
            }
            case
        }
        TriageTarget::NewCase { severity, summary, defender_id } => {
            if defender_id.is_some() && alert.defender_id.is_some() && defender_id != alert.defender_id {
                return Err(AppError::unprocessable(
                    "defender_mismatch",
                    "the alert already concerns another defender",
                ));
            }
            let consent: Vec<OrganizationKind> =
                serde_json::from_str(&alert.consent_scope).map_err(AppError::internal)?;
            let urgency = match alert.urgency.as_str() {
                "critical" => Severity::Critical,
                "high" => Severity::High,
                "medium" => Severity::Medium,
                _ => Severity::Low,
            };
            let input = NewCase {
                severity: severity.unwrap_or(urgency),
                country: alert.country.clone(),
                consent_scope: consent,
                summary,
                defender_id: defender_id.or_else(|| alert.defender_id.clone()),
            };
            cases::create(conn, cx, caller, input)?
        }
    };
    if !Alert::mark_triaged(conn, &alert.id, alert.version, &case.id, naive(now))? {
        // Someone triaged or dismissed it meanwhile: undo everything (the caller's
        // transaction rolls back, the new case included).
        return Err(AppError::conflict("alert_not_received", "the alert was handled by someone else meanwhile"));
    }
    Case::touch(conn, &case.id, naive(now))?;
    // She used her duress PIN before anyone had her alert in a case: the alarm joins the
    // case already open for her, which becomes critical, and its people are told. (A new
    // case is opened critical from the raised alert, and `case.opened` tells them.)
    if alert.duress_at.is_some() && into_existing {
        Case::raise_severity(conn, &case.id, Severity::Critical.as_str(), &Severity::Critical.below(), naive(now))?;
        let e = Entry::new(None, "case.duress", "case", Some(&case.id))
            .detail(serde_json::json!({ "alert_id": alert.id, "via": "triage" }));
        audit::record(conn, now, e)?;
        crate::escalation::fire(conn, rules, now, crate::escalation::Event::CaseDuress, &case.id)?;
    }
    let detail = serde_json::json!({ "case_id": case.id });
    audit::record(
        conn,
        now,
        Entry::new(Some(&caller.user.id), "alert.triage", "alert", Some(&alert.id)).detail(detail),
    )?;
    crate::escalation::settle_alert(conn, rules, now, &alert.id)?;
    crate::escalation::settle_case(conn, rules, now, &case.id)?;
    Ok(case)
}

pub fn dismiss(
    conn: &mut DbConn,
    cx: &Ctx<'_>,
    caller: &Caller<'_>,
    alert: &Alert,
    expected: Option<i32>,
    reason: &str,
) -> Result<(), AppError> {
    let (rules, crypto, now) = (&*cx.rules, cx.crypto, cx.now);
    if expected.is_some_and(|v| v != alert.version) {
        return Err(AppError::PreconditionFailed);
    }
    if alert.status != AlertStatus::Received.as_str() {
        return Err(AppError::conflict("alert_not_received", "only a received alert can be triaged or dismissed"));
    }
    let reason = text_field("reason", reason, 2000)?;
    let sealed: Sealed = crypto.seal(conn, &alert.id, "dismiss_reason", reason.as_bytes())?;
    if sealed.key_version != alert.key_version {
        return Err(AppError::internal(anyhow::anyhow!("alert key version changed")));
    }
    if !Alert::mark_dismissed(conn, &alert.id, alert.version, &sealed.ciphertext, naive(now))? {
        return Err(AppError::conflict("alert_not_received", "the alert was handled by someone else meanwhile"));
    }
    audit::record(conn, now, Entry::new(Some(&caller.user.id), "alert.dismiss", "alert", Some(&alert.id)))?;
    crate::escalation::settle_alert(conn, rules, now, &alert.id)?;
    Ok(())
}
