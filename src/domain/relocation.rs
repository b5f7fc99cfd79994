//! Relocation support: relocation requests, visa applications per relocation, and
//! psychosocial care. What identifies where she goes, with whom and who cares for her is
//! sealed with the case key, a visa's country and type included (they name the destination);
//! escalation rules see only statuses and dates.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::audit::{self, Entry};
use crate::clock::naive;
use crate::crypto::{Crypto, Sealed};
use crate::db::models::relocation::{CareChanges, RelocationChanges, VisaChanges};
use crate::db::models::{Case, PsychosocialCare, Relocation, SecurityPlan, Visa};
use crate::db::DbConn;
use crate::domain::cases::{check_country, text_field, Caller};
use crate::domain::Ctx;
use crate::domain::{check_date, new_id, Role};
use crate::error::AppError;

str_enum!(RelocationKind { InCountry => "in_country", Regional => "regional", International => "international" });
str_enum!(RelocationStatus {
    Requested => "requested",
    Approved => "approved",
    InProgress => "in_progress",
    Completed => "completed",
    Cancelled => "cancelled",
});
str_enum!(VisaStatus { Preparing => "preparing", Submitted => "submitted", Approved => "approved", Rejected => "rejected", Issued => "issued" });
str_enum!(CareModality { Individual => "individual", Group => "group", Online => "online" });
str_enum!(ReferralStatus {
    NotReferred => "not_referred",
    Referred => "referred",
    Accepted => "accepted",
    Declined => "declined",
    Completed => "completed",
});

impl RelocationStatus {
    pub fn next(self) -> &'static [RelocationStatus] {
        use RelocationStatus::*;
        match self {
            Requested => &[Approved, Cancelled],
            Approved => &[InProgress, Cancelled],
            InProgress => &[Completed, Cancelled],
            Completed | Cancelled => &[],
        }
    }
}

impl VisaStatus {
    pub fn next(self) -> &'static [VisaStatus] {
        use VisaStatus::*;
        match self {
            Preparing => &[Submitted],
            Submitted => &[Approved, Rejected],
            Approved => &[Issued],
            Rejected | Issued => &[],
        }
    }
}

fn invalid<T: Copy>(from: &'static str, next: &[T], name: fn(T) -> &'static str) -> AppError {
    AppError::InvalidTransition { from, allowed: next.iter().map(|s| name(*s)).collect() }
}

fn seal_json<T: Serialize>(
    crypto: &Crypto,
    conn: &mut DbConn,
    case_id: &str,
    record: &str,
    v: &T,
) -> Result<Sealed, AppError> {
    let json = zeroize::Zeroizing::new(serde_json::to_vec(v).map_err(AppError::internal)?);
    Ok(crypto.seal(conn, case_id, record, &json)?)
}

fn open_json<T: for<'de> Deserialize<'de>>(
    crypto: &Crypto,
    conn: &mut DbConn,
    case_id: &str,
    record: &str,
    ct: &[u8],
    key_version: i32,
) -> Result<T, AppError> {
    let plain = crypto.open(conn, case_id, record, &Sealed { ciphertext: ct.to_vec(), key_version })?;
    serde_json::from_slice(&plain).map_err(AppError::internal)
}

// ---------------------------------------------------------------- relocations

/// Sealed: where, who hosts her, who goes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RelocationDetails {
    /// ISO 3166-1 alpha-2.
    pub destination_country: String,
    pub destination_city: Option<String>,
    pub host_organization: Option<String>,
    /// The defender and the dependants who go with her, by name.
    pub beneficiaries: Vec<String>,
}

impl RelocationDetails {
    fn validate(&self) -> Result<(), AppError> {
        check_country("destination_country", &self.destination_country)?;
        if let Some(c) = &self.destination_city {
            text_field("destination_city", c, 200)?;
        }
        if let Some(h) = &self.host_organization {
            text_field("host_organization", h, 200)?;
        }
        if self.beneficiaries.is_empty() || self.beneficiaries.len() > 20 {
            return Err(AppError::invalid_field("beneficiaries", "must hold 1 to 20 names"));
        }
        for (i, b) in self.beneficiaries.iter().enumerate() {
            text_field(format!("beneficiaries[{i}]"), b, 200)?;
        }
        Ok(())
    }
}

fn check_span(starts: DateTime<Utc>, ends: DateTime<Utc>) -> Result<(), AppError> {
    check_date("starts_on", starts)?;
    check_date("ends_on", ends)?;
    if ends <= starts {
        return Err(AppError::unprocessable("invalid_dates", "ends_on must be after starts_on"));
    }
    Ok(())
}

fn check_plan(conn: &mut DbConn, case: &Case, plan_id: Option<&str>) -> Result<(), AppError> {
    let Some(id) = plan_id else { return Ok(()) };
    let ok = crate::domain::accounts::is_id(id) && SecurityPlan::find(conn, id)?.is_some_and(|p| p.case_id == case.id);
    if ok {
        Ok(())
    } else {
        Err(AppError::unprocessable("unknown_plan", "plan_id does not name a security plan of this case"))
    }
}

pub struct NewRelocation {
    pub kind: RelocationKind,
    pub details: RelocationDetails,
    pub starts_on: DateTime<Utc>,
    pub ends_on: DateTime<Utc>,
    pub plan_id: Option<String>,
}

pub fn request_relocation(
    conn: &mut DbConn,
    cx: &Ctx<'_>,
    caller: &Caller<'_>,
    case: &Case,
    input: NewRelocation,
) -> Result<Relocation, AppError> {
    let (rules, crypto, now) = (&*cx.rules, cx.crypto, cx.now);
    input.details.validate()?;
    check_span(input.starts_on, input.ends_on)?;
    check_plan(conn, case, input.plan_id.as_deref())?;
    let id = new_id();
    let sealed = seal_json(crypto, conn, &case.id, &id, &input.details)?;
    let r = Relocation {
        id: id.clone(),
        case_id: case.id.clone(),
        kind: input.kind.as_str().into(),
        details_ct: sealed.ciphertext,
        key_version: sealed.key_version,
        starts_on: naive(input.starts_on),
        ends_on: naive(input.ends_on),
        status: RelocationStatus::Requested.as_str().into(),
        cancel_reason_ct: None,
        plan_id: input.plan_id,
        requested_by: caller.user.id.clone(),
        approved_by: None,
        version: 1,
        created_at: naive(now),
        updated_at: naive(now),
    };
    r.insert(conn)?;
    let detail = serde_json::json!({ "kind": r.kind });
    audit::record(
        conn,
        now,
        Entry::new(Some(&caller.user.id), "relocation.request", "relocation", Some(&id)).detail(detail),
    )?;
    crate::escalation::fire(conn, rules, now, crate::escalation::Event::RelocationRequested, &r.id)?;
    Ok(r)
}

pub struct RelocationUpdate {
    pub status: Option<RelocationStatus>,
    pub reason: Option<String>,
    pub details: Option<RelocationDetails>,
    pub starts_on: Option<DateTime<Utc>>,
    pub ends_on: Option<DateTime<Utc>>,
    pub plan_id: Option<String>,
}

/// Moves or edits a relocation. Approval is a coordinator's of the owning organisation;
/// cancelling needs a reason; a finished relocation does not change any more.
pub fn update_relocation(
    conn: &mut DbConn,
    cx: &Ctx<'_>,
    caller: &Caller<'_>,
    case: &Case,
    r: &Relocation,
    expected: Option<i32>,
    input: RelocationUpdate,
) -> Result<(), AppError> {
    let (rules, crypto, now) = (&*cx.rules, cx.crypto, cx.now);
    if expected.is_some_and(|v| v != r.version) {
        return Err(AppError::PreconditionFailed);
    }
    let from = RelocationStatus::parse(&r.status)
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("bad relocation status")))?;
    if from.next().is_empty() {
        return Err(invalid(from.as_str(), from.next(), RelocationStatus::as_str));
    }
    let mut changes = RelocationChanges::default();
    if let Some(to) = input.status {
        if !from.next().contains(&to) {
            return Err(invalid(from.as_str(), from.next(), RelocationStatus::as_str));
        }
        if to == RelocationStatus::Approved {
            if caller.role != Role::Coordinator || caller.user.organization_id != case.owner_organization_id {
                return Err(AppError::Forbidden("approval_needs_coordinator"));
            }
            changes.approved_by = Some(Some(caller.user.id.clone()));
        }
        if to == RelocationStatus::Cancelled {
            let reason = input
                .reason
                .as_deref()
                .ok_or_else(|| AppError::unprocessable("reason_required", "cancelling needs a reason"))?;
            let reason = text_field("reason", reason, 2000)?;
            changes.cancel_reason_ct =
                Some(Some(crypto.seal(conn, &case.id, &format!("{}:cancel", r.id), reason.as_bytes())?.ciphertext));
        }
        changes.status = Some(to.as_str().into());
    } else if input.reason.is_some() {
        return Err(AppError::unprocessable("unexpected_reason", "a reason goes with cancelling only"));
    }
    if input.starts_on.is_some() || input.ends_on.is_some() {
        let starts = input.starts_on.unwrap_or_else(|| crate::clock::utc(r.starts_on));
        let ends = input.ends_on.unwrap_or_else(|| crate::clock::utc(r.ends_on));
        check_span(starts, ends)?;
        changes.starts_on = Some(naive(starts));
        changes.ends_on = Some(naive(ends));
    }
    if let Some(d) = &input.details {
        d.validate()?;
        changes.details_ct = Some(seal_json(crypto, conn, &case.id, &r.id, d)?.ciphertext);
    }
    if let Some(p) = &input.plan_id {
        check_plan(conn, case, Some(p))?;
        changes.plan_id = Some(Some(p.clone()));
    }
    if !Relocation::update_versioned(conn, &r.id, r.version, &changes, naive(now))? {
        return Err(AppError::PreconditionFailed);
    }
    let detail = serde_json::json!({ "status": changes.status });
    audit::record(
        conn,
        now,
        Entry::new(Some(&caller.user.id), "relocation.update", "relocation", Some(&r.id)).detail(detail),
    )?;
    crate::escalation::settle_case(conn, rules, now, &case.id)?;
    Ok(())
}

pub struct RelocationDetail {
    pub relocation: Relocation,
    pub details: RelocationDetails,
    pub cancel_reason: Option<String>,
}

pub fn relocation_detail(conn: &mut DbConn, crypto: &Crypto, r: Relocation) -> Result<RelocationDetail, AppError> {
    let details = open_json(crypto, conn, &r.case_id, &r.id, &r.details_ct, r.key_version)?;
    let cancel_reason = crate::domain::cases::open_opt(
        crypto,
        conn,
        &r.case_id,
        &format!("{}:cancel", r.id),
        &r.cancel_reason_ct,
        Some(r.key_version),
    )?;
    Ok(RelocationDetail { relocation: r, details, cancel_reason })
}

// ---------------------------------------------------------------- visas

/// Sealed: who applies and who handles it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VisaDetails {
    /// The defender or one of her dependants.
    pub applicant: String,
    pub handling_organization: Option<String>,
}

pub struct NewVisa {
    pub country: String,
    pub visa_type: String,
    pub details: VisaDetails,
}

/// A visa's country (ISO 3166-1 alpha-2) and type, sealed apart from the details so that
/// lists of visas need not open them.
#[derive(Debug, Clone, PartialEq)]
pub struct VisaTerms {
    pub country: String,
    pub visa_type: String,
}

/// The record id a visa's field is sealed under (the details use the visa's id).
pub fn visa_record(visa_id: &str, field: &str) -> String {
    format!("{visa_id}:{field}")
}

pub fn apply_visa(
    conn: &mut DbConn,
    crypto: &Crypto,
    now: DateTime<Utc>,
    caller: &Caller<'_>,
    r: &Relocation,
    input: NewVisa,
) -> Result<(Visa, VisaTerms), AppError> {
    if matches!(r.status.as_str(), "completed" | "cancelled") {
        return Err(AppError::conflict("relocation_closed", "the relocation is completed or cancelled"));
    }
    check_country("country", &input.country)?;
    let visa_type = text_field("visa_type", &input.visa_type, 100)?;
    text_field("applicant", &input.details.applicant, 200)?;
    if let Some(h) = &input.details.handling_organization {
        text_field("handling_organization", h, 200)?;
    }
    let id = new_id();
    let sealed = seal_json(crypto, conn, &r.case_id, &id, &input.details)?;
    // To the version the details went to: a visa opens all its fields with its one version.
    let mut seal_field = |field: &str, text: &str| {
        crypto.seal_to_version(conn, &r.case_id, sealed.key_version, &visa_record(&id, field), text.as_bytes())
    };
    let country_ct = seal_field("country", &input.country)?.ciphertext;
    let visa_type_ct = seal_field("visa_type", &visa_type)?.ciphertext;
    let v = Visa {
        id: id.clone(),
        relocation_id: r.id.clone(),
        case_id: r.case_id.clone(),
        country_ct: Some(country_ct),
        visa_type_ct: Some(visa_type_ct),
        details_ct: sealed.ciphertext,
        key_version: sealed.key_version,
        status: VisaStatus::Preparing.as_str().into(),
        submitted_on: None,
        decided_on: None,
        issued_on: None,
        expires_on: None,
        version: 1,
        created_at: naive(now),
        updated_at: naive(now),
    };
    v.insert(conn)?;
    audit::record(conn, now, Entry::new(Some(&caller.user.id), "visa.create", "visa", Some(&id)))?;
    Ok((v, VisaTerms { country: input.country, visa_type }))
}

pub struct VisaUpdate {
    pub status: VisaStatus,
    /// When it happened (default: now).
    pub on: Option<DateTime<Utc>>,
    /// Required when the visa is issued.
    pub expires_on: Option<DateTime<Utc>>,
}

pub fn update_visa(
    conn: &mut DbConn,
    cx: &Ctx<'_>,
    caller: &Caller<'_>,
    v: &Visa,
    expected: Option<i32>,
    input: VisaUpdate,
) -> Result<(), AppError> {
    let (rules, now) = (&*cx.rules, cx.now);
    if expected.is_some_and(|x| x != v.version) {
        return Err(AppError::PreconditionFailed);
    }
    let from = VisaStatus::parse(&v.status).ok_or_else(|| AppError::internal(anyhow::anyhow!("bad visa status")))?;
    let to = input.status;
    if !from.next().contains(&to) {
        return Err(invalid(from.as_str(), from.next(), VisaStatus::as_str));
    }
    let on = input.on.unwrap_or(now);
    check_date("on", on)?;
    if on > now + chrono::Duration::days(1) {
        return Err(AppError::unprocessable("invalid_date", "a visa step cannot be dated in the future"));
    }
    let mut changes = VisaChanges { status: Some(to.as_str().into()), ..Default::default() };
    match to {
        VisaStatus::Submitted => changes.submitted_on = Some(Some(naive(on))),
        VisaStatus::Approved | VisaStatus::Rejected => changes.decided_on = Some(Some(naive(on))),
        VisaStatus::Issued => {
            let expires = input
                .expires_on
                .ok_or_else(|| AppError::unprocessable("expiry_required", "an issued visa needs expires_on"))?;
            check_date("expires_on", expires)?;
            if expires <= on {
                return Err(AppError::unprocessable("invalid_dates", "expires_on must be after the issue date"));
            }
            changes.issued_on = Some(Some(naive(on)));
            changes.expires_on = Some(Some(naive(expires)));
        }
        VisaStatus::Preparing => {}
    }
    if input.expires_on.is_some() && to != VisaStatus::Issued {
        return Err(AppError::unprocessable("unexpected_expiry", "expires_on goes with issuing only"));
    }
    if !Visa::update_versioned(conn, &v.id, v.version, &changes, naive(now))? {
        return Err(AppError::PreconditionFailed);
    }
    let detail = serde_json::json!({ "status": to.as_str() });
    audit::record(conn, now, Entry::new(Some(&caller.user.id), "visa.update", "visa", Some(&v.id)).detail(detail))?;
    crate::escalation::settle_case(conn, rules, now, &v.case_id)?;
    if to == VisaStatus::Submitted && from != VisaStatus::Submitted {
        crate::escalation::fire(conn, rules, now, crate::escalation::Event::VisaSubmitted, &v.id)?;
    }
    Ok(())
}

pub fn visa_details(conn: &mut DbConn, crypto: &Crypto, v: &Visa) -> Result<VisaDetails, AppError> {
    open_json(crypto, conn, &v.case_id, &v.id, &v.details_ct, v.key_version)
}

/// Opens a visa's country and type, for a read of that one visa. Empty only for a visa
/// stored before they were sealed whose case was shredded before the upgrade (its details
/// do not open either).
pub fn visa_terms(conn: &mut DbConn, crypto: &Crypto, v: &Visa) -> Result<VisaTerms, AppError> {
    let mut open = |field: &str, ct: &Option<Vec<u8>>| {
        crate::domain::cases::open_opt(crypto, conn, &v.case_id, &visa_record(&v.id, field), ct, Some(v.key_version))
            .map(Option::unwrap_or_default)
    };
    Ok(VisaTerms { country: open("country", &v.country_ct)?, visa_type: open("visa_type", &v.visa_type_ct)? })
}

// ---------------------------------------------------------------- psychosocial care

/// Sealed: who provides the care, and notes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CareDetails {
    pub provider: String,
    pub notes: Option<String>,
}

impl CareDetails {
    fn validate(&self) -> Result<(), AppError> {
        text_field("provider", &self.provider, 200)?;
        if let Some(n) = &self.notes {
            text_field("notes", n, 5000)?;
        }
        Ok(())
    }
}

fn sessions(field: &'static str, n: i32) -> Result<i32, AppError> {
    if (0..=1000).contains(&n) {
        Ok(n)
    } else {
        Err(AppError::invalid_field(field, "must be from 0 to 1000"))
    }
}

pub struct NewCare {
    pub modality: CareModality,
    pub sessions_planned: i32,
    pub consent_recorded: bool,
    pub details: CareDetails,
}

pub fn add_care(
    conn: &mut DbConn,
    crypto: &Crypto,
    now: DateTime<Utc>,
    caller: &Caller<'_>,
    case: &Case,
    input: NewCare,
) -> Result<PsychosocialCare, AppError> {
    if !input.consent_recorded {
        return Err(AppError::unprocessable("consent_required", "psychosocial care is recorded only with her consent"));
    }
    input.details.validate()?;
    let planned = sessions("sessions_planned", input.sessions_planned)?;
    let id = new_id();
    let sealed = seal_json(crypto, conn, &case.id, &id, &input.details)?;
    let c = PsychosocialCare {
        id: id.clone(),
        case_id: case.id.clone(),
        details_ct: sealed.ciphertext,
        key_version: sealed.key_version,
        modality: input.modality.as_str().into(),
        sessions_planned: planned,
        sessions_held: 0,
        referral_status: ReferralStatus::NotReferred.as_str().into(),
        consent_recorded: true,
        version: 1,
        created_at: naive(now),
        updated_at: naive(now),
    };
    c.insert(conn)?;
    audit::record(conn, now, Entry::new(Some(&caller.user.id), "care.create", "care", Some(&id)))?;
    Ok(c)
}

pub struct CareUpdate {
    pub modality: Option<CareModality>,
    pub sessions_planned: Option<i32>,
    pub sessions_held: Option<i32>,
    pub referral_status: Option<ReferralStatus>,
    pub details: Option<CareDetails>,
}

pub fn update_care(
    conn: &mut DbConn,
    crypto: &Crypto,
    now: DateTime<Utc>,
    caller: &Caller<'_>,
    c: &PsychosocialCare,
    expected: Option<i32>,
    input: CareUpdate,
) -> Result<(), AppError> {
    if expected.is_some_and(|v| v != c.version) {
        return Err(AppError::PreconditionFailed);
    }
    let mut changes = CareChanges {
        modality: input.modality.map(|m| m.as_str().into()),
        sessions_planned: input.sessions_planned.map(|n| sessions("sessions_planned", n)).transpose()?,
        sessions_held: input.sessions_held.map(|n| sessions("sessions_held", n)).transpose()?,
        referral_status: input.referral_status.map(|r| r.as_str().into()),
        ..Default::default()
    };
    if let Some(d) = &input.details {
        d.validate()?;
        changes.details_ct = Some(seal_json(crypto, conn, &c.case_id, &c.id, d)?.ciphertext);
    }
    if !PsychosocialCare::update_versioned(conn, &c.id, c.version, &changes, naive(now))? {
        return Err(AppError::PreconditionFailed);
    }
    audit::record(conn, now, Entry::new(Some(&caller.user.id), "care.update", "care", Some(&c.id)))?;
    Ok(())
}

pub fn care_details(conn: &mut DbConn, crypto: &Crypto, c: &PsychosocialCare) -> Result<CareDetails, AppError> {
    open_json(crypto, conn, &c.case_id, &c.id, &c.details_ct, c.key_version)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    const RELOCATION: [RelocationStatus; 5] = [
        RelocationStatus::Requested,
        RelocationStatus::Approved,
        RelocationStatus::InProgress,
        RelocationStatus::Completed,
        RelocationStatus::Cancelled,
    ];
    const VISA: [VisaStatus; 5] =
        [VisaStatus::Preparing, VisaStatus::Submitted, VisaStatus::Approved, VisaStatus::Rejected, VisaStatus::Issued];

    fn details() -> RelocationDetails {
        RelocationDetails {
            destination_country: "ES".into(),
            destination_city: Some("Madrid".into()),
            host_organization: None,
            beneficiaries: vec!["A. B.".into()],
        }
    }

    #[test]
    fn relocation_moves_forward_or_is_cancelled_until_it_ends() {
        use RelocationStatus::*;
        let allowed = [
            (Requested, Approved),
            (Requested, Cancelled),
            (Approved, InProgress),
            (Approved, Cancelled),
            (InProgress, Completed),
            (InProgress, Cancelled),
        ];
        for from in RELOCATION {
            for to in RELOCATION {
                assert_eq!(from.next().contains(&to), allowed.contains(&(from, to)), "{from:?} -> {to:?}");
            }
        }
        // Not in progress without an approval; a finished relocation does not change.
        assert!(!Requested.next().contains(&InProgress));
        assert!(Completed.next().is_empty() && Cancelled.next().is_empty());
    }

    #[test]
    fn visa_is_submitted_then_decided_and_only_an_approved_one_is_issued() {
        use VisaStatus::*;
        let allowed = [(Preparing, Submitted), (Submitted, Approved), (Submitted, Rejected), (Approved, Issued)];
        for from in VISA {
            for to in VISA {
                assert_eq!(from.next().contains(&to), allowed.contains(&(from, to)), "{from:?} -> {to:?}");
            }
        }
        assert!(!Rejected.next().contains(&Issued));
        assert!(Rejected.next().is_empty() && Issued.next().is_empty());
    }

    #[test]
    fn statuses_round_trip_as_stored() {
        for s in RELOCATION {
            assert_eq!(RelocationStatus::parse(s.as_str()), Some(s));
        }
        for s in VISA {
            assert_eq!(VisaStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(RelocationStatus::InProgress.as_str(), "in_progress");
        assert_eq!(ReferralStatus::NotReferred.as_str(), "not_referred");
        assert_eq!(RelocationKind::parse("in_country"), Some(RelocationKind::InCountry));
        assert_eq!(VisaStatus::parse("ISSUED"), None);
    }

    #[test]
    fn relocation_details_are_checked_field_by_field() {
        assert!(details().validate().is_ok());
        let field = |d: RelocationDetails| d.validate().unwrap_err().field().map(str::to_string);

        let lower = RelocationDetails { destination_country: "es".into(), ..details() };
        assert_eq!(lower.validate().unwrap_err().code(), "invalid_country");
        assert_eq!(field(lower), Some("destination_country".into()));

        assert_eq!(
            field(RelocationDetails { destination_city: Some(" ".into()), ..details() }),
            Some("destination_city".into())
        );
        assert_eq!(
            field(RelocationDetails { host_organization: Some("h".repeat(201)), ..details() }),
            Some("host_organization".into())
        );
        assert!(RelocationDetails { host_organization: Some("h".repeat(200)), ..details() }.validate().is_ok());

        assert_eq!(field(RelocationDetails { beneficiaries: vec![], ..details() }), Some("beneficiaries".into()));
        let names = |n: usize| (0..n).map(|i| format!("person {i}")).collect::<Vec<_>>();
        assert!(RelocationDetails { beneficiaries: names(20), ..details() }.validate().is_ok());
        assert_eq!(field(RelocationDetails { beneficiaries: names(21), ..details() }), Some("beneficiaries".into()));
        let mut b = names(3);
        b[2] = "\t".into();
        assert_eq!(field(RelocationDetails { beneficiaries: b, ..details() }), Some("beneficiaries[2]".into()));
    }

    #[test]
    fn sealed_details_refuse_unknown_fields() {
        let ok =
            r#"{"destination_country":"ES","destination_city":null,"host_organization":null,"beneficiaries":["A"]}"#;
        assert!(serde_json::from_str::<RelocationDetails>(ok).is_ok());
        let extra = r#"{"destination_country":"ES","beneficiaries":["A"],"gps":"40.4,-3.7"}"#;
        assert!(serde_json::from_str::<RelocationDetails>(extra).is_err());
        assert!(serde_json::from_str::<VisaDetails>(r#"{"applicant":"A","passport":"X1"}"#).is_err());
    }

    #[test]
    fn a_span_ends_after_it_starts_within_storable_years() {
        let s = Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap();
        assert!(check_span(s, s + Duration::seconds(1)).is_ok());
        assert_eq!(check_span(s, s).unwrap_err().code(), "invalid_dates");
        assert_eq!(check_span(s, s - Duration::days(1)).unwrap_err().code(), "invalid_dates");
        let old = Utc.with_ymd_and_hms(1899, 12, 31, 0, 0, 0).unwrap();
        assert_eq!(check_span(old, s).unwrap_err().code(), "invalid_date");
        let far = Utc.with_ymd_and_hms(10000, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(check_span(s, far).unwrap_err().code(), "invalid_date");
    }

    #[test]
    fn care_sessions_and_details() {
        assert_eq!(sessions("sessions_planned", 0).unwrap(), 0);
        assert_eq!(sessions("sessions_planned", 1000).unwrap(), 1000);
        assert_eq!(sessions("sessions_held", -1).unwrap_err().field(), Some("sessions_held"));
        assert_eq!(sessions("sessions_planned", 1001).unwrap_err().field(), Some("sessions_planned"));

        assert!(CareDetails { provider: "Dr. R".into(), notes: None }.validate().is_ok());
        assert_eq!(CareDetails { provider: " ".into(), notes: None }.validate().unwrap_err().field(), Some("provider"));
        let long = CareDetails { provider: "Dr. R".into(), notes: Some("n".repeat(5001)) };
        assert_eq!(long.validate().unwrap_err().field(), Some("notes"));
    }

    #[test]
    fn visa_fields_are_sealed_under_their_own_record_ids() {
        assert_eq!(visa_record("v-1", "country"), "v-1:country");
        assert_ne!(visa_record("v-1", "country"), visa_record("v-1", "visa_type"));
    }
}
