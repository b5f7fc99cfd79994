//! Funding grants: requested, decided by a coordinator (approved within the category cap of
//! `policies/funding.toml`, or rejected with a reason), paid out in disbursements whose sum
//! can never exceed the approved amount; fully paid, a grant is `disbursed`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::audit::{self, Entry};
use crate::clock::naive;
use crate::crypto::{Crypto, Sealed};
use crate::db::models::grant::GrantChanges;
use crate::db::models::{Case, Disbursement, Grant};
use crate::db::DbConn;
use crate::domain::cases::{open_opt, text_field, Caller};
use crate::domain::Ctx;
use crate::domain::{new_id, Role};
use crate::error::AppError;
use crate::policy::funding::GrantCategory;

/// The largest amount Haven takes, in minor units: far above any cap, far below overflow.
const MAX_AMOUNT: i64 = 1_000_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GrantDecision {
    Approved,
    Rejected,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentMethod {
    BankTransfer,
    Cash,
    MobileMoney,
    Other,
}

impl PaymentMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentMethod::BankTransfer => "bank_transfer",
            PaymentMethod::Cash => "cash",
            PaymentMethod::MobileMoney => "mobile_money",
            PaymentMethod::Other => "other",
        }
    }
}

/// What is sealed about a grant.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantDetails {
    pub purpose: String,
    #[serde(default)]
    pub other_funders: Vec<String>,
}

fn amount(field: &'static str, v: i64) -> Result<i64, AppError> {
    if v > 0 && v <= MAX_AMOUNT {
        Ok(v)
    } else {
        Err(AppError::unprocessable(
            "invalid_amount",
            format!("{field} must be a positive whole number of minor units"),
        ))
    }
}

pub struct NewGrant {
    /// A relocation of the same case this grant pays for, if any.
    pub relocation_id: Option<String>,
    pub category: GrantCategory,
    pub currency: String,
    pub amount_requested: i64,
    pub details: GrantDetails,
}

pub fn request(
    conn: &mut DbConn,
    cx: &Ctx<'_>,
    caller: &Caller<'_>,
    case: &Case,
    input: NewGrant,
) -> Result<Grant, AppError> {
    let (rules, crypto, funding, now) = (&*cx.rules, cx.crypto, cx.funding, cx.now);
    let requested = amount("amount_requested", input.amount_requested)?;
    let cap = funding.cap(&input.currency, input.category).ok_or_else(|| {
        AppError::unprocessable(
            "unsupported_currency",
            "the programme does not pay in this currency (policies/funding.toml)",
        )
    })?;
    if requested > cap {
        return Err(AppError::unprocessable("over_cap", format!("the cap for this category is {cap} minor units")));
    }
    text_field("purpose", &input.details.purpose, 5000)?;
    if let Some(r) = &input.relocation_id {
        let ok = crate::domain::accounts::is_id(r)
            && crate::db::models::Relocation::find(conn, r)?.is_some_and(|x| x.case_id == case.id);
        if !ok {
            return Err(AppError::unprocessable(
                "unknown_relocation",
                "relocation_id does not name a relocation of this case",
            ));
        }
    }
    if input.details.other_funders.len() > 20 {
        return Err(AppError::invalid_field("other_funders", "may hold at most 20 entries"));
    }
    for (i, f) in input.details.other_funders.iter().enumerate() {
        text_field(format!("other_funders[{i}]"), f, 200)?;
    }
    let id = new_id();
    let json = zeroize::Zeroizing::new(serde_json::to_vec(&input.details).map_err(AppError::internal)?);
    let sealed = crypto.seal(conn, &case.id, &id, &json)?;
    let g = Grant {
        id: id.clone(),
        case_id: case.id.clone(),
        relocation_id: input.relocation_id,
        category: input.category.as_str().into(),
        currency: input.currency,
        amount_requested: requested,
        amount_approved: None,
        amount_disbursed: 0,
        status: "requested".into(),
        details_ct: sealed.ciphertext,
        decision_reason_ct: None,
        key_version: sealed.key_version,
        requested_by: caller.user.id.clone(),
        decided_by: None,
        decided_at: None,
        version: 1,
        created_at: naive(now),
        updated_at: naive(now),
    };
    g.insert(conn)?;
    let detail = serde_json::json!({ "category": g.category, "currency": g.currency, "amount": g.amount_requested });
    audit::record(conn, now, Entry::new(Some(&caller.user.id), "grant.request", "grant", Some(&id)).detail(detail))?;
    crate::escalation::fire(conn, rules, now, crate::escalation::Event::GrantRequested, &g.id)?;
    Ok(g)
}

/// A coordinator's decision on a requested grant.
pub struct Decision<'a> {
    pub decision: GrantDecision,
    /// Approving: how much (default: the amount requested).
    pub amount_approved: Option<i64>,
    /// Rejecting: why (sealed).
    pub reason: Option<&'a str>,
}

/// Approves (at most the requested amount and the cap) or rejects (with a reason) a
/// requested grant. Only a coordinator decides.
pub fn decide(
    conn: &mut DbConn,
    cx: &Ctx<'_>,
    caller: &Caller<'_>,
    g: &Grant,
    expected: Option<i32>,
    d: Decision<'_>,
) -> Result<(), AppError> {
    let (rules, crypto, funding, now) = (&*cx.rules, cx.crypto, cx.funding, cx.now);
    let Decision { decision, amount_approved, reason } = d;
    if expected.is_some_and(|v| v != g.version) {
        return Err(AppError::PreconditionFailed);
    }
    if g.status != "requested" {
        return Err(AppError::InvalidTransition { from: status_name(&g.status), allowed: next_of(&g.status) });
    }
    if caller.role != Role::Coordinator {
        return Err(AppError::Forbidden("decision_needs_coordinator"));
    }
    let mut changes = GrantChanges {
        decided_by: Some(Some(caller.user.id.clone())),
        decided_at: Some(Some(naive(now))),
        ..Default::default()
    };
    match decision {
        GrantDecision::Approved => {
            let approved = amount("amount_approved", amount_approved.unwrap_or(g.amount_requested))?;
            let category =
                GrantCategory::parse(&g.category).ok_or_else(|| AppError::internal(anyhow::anyhow!("bad category")))?;
            let cap = funding.cap(&g.currency, category).unwrap_or(0);
            if approved > g.amount_requested || approved > cap {
                return Err(AppError::unprocessable(
                    "over_cap",
                    "the approved amount exceeds the request or the category cap",
                ));
            }
            changes.status = Some("approved".into());
            changes.amount_approved = Some(Some(approved));
        }
        GrantDecision::Rejected => {
            let reason =
                reason.ok_or_else(|| AppError::unprocessable("reason_required", "rejecting a grant needs a reason"))?;
            let reason = text_field("reason", reason, 2000)?;
            let sealed = crypto.seal(conn, &g.case_id, &format!("{}:decision", g.id), reason.as_bytes())?;
            changes.status = Some("rejected".into());
            changes.decision_reason_ct = Some(Some(sealed.ciphertext));
        }
    }
    if !Grant::update_versioned(conn, &g.id, g.version, &changes, naive(now))? {
        return Err(AppError::PreconditionFailed);
    }
    let detail = serde_json::json!({ "decision": changes.status, "amount_approved": amount_approved });
    audit::record(conn, now, Entry::new(Some(&caller.user.id), "grant.decide", "grant", Some(&g.id)).detail(detail))?;
    crate::escalation::settle_case(conn, rules, now, &g.case_id)?;
    Ok(())
}

fn status_name(s: &str) -> &'static str {
    match s {
        "requested" => "requested",
        "approved" => "approved",
        "rejected" => "rejected",
        _ => "disbursed",
    }
}

/// What may follow a status: a decision after a request, payments after an approval.
fn next_of(s: &str) -> Vec<&'static str> {
    match s {
        "requested" => vec!["approved", "rejected"],
        "approved" => vec!["disbursed"],
        _ => vec![],
    }
}

/// Records a payment. The running total never exceeds the approved amount; reaching it
/// makes the grant `disbursed`. Concurrent payments serialise on the grant's version.
pub fn disburse(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    caller: &Caller<'_>,
    g: &Grant,
    paid: i64,
    paid_on: DateTime<Utc>,
    method: PaymentMethod,
) -> Result<Disbursement, AppError> {
    let paid = amount("amount", paid)?;
    let Some(approved) = g.amount_approved.filter(|_| g.status == "approved") else {
        return Err(AppError::conflict("grant_not_approved", "payments are recorded against an approved grant only"));
    };
    crate::domain::check_date("paid_on", paid_on)?;
    if paid_on > now + chrono::Duration::days(1) {
        return Err(AppError::unprocessable("invalid_date", "paid_on cannot be in the future"));
    }
    let total = g.amount_disbursed + paid;
    if total > approved {
        return Err(AppError::unprocessable(
            "over_approved",
            format!("this payment would bring the total to {total}, above the approved {approved}"),
        ));
    }
    let changes = GrantChanges {
        amount_disbursed: Some(total),
        status: (total == approved).then(|| "disbursed".to_string()),
        ..Default::default()
    };
    if !Grant::update_versioned(conn, &g.id, g.version, &changes, naive(now))? {
        return Err(AppError::conflict("grant_changed", "the grant changed meanwhile; read it again and retry"));
    }
    let d = Disbursement {
        id: new_id(),
        grant_id: g.id.clone(),
        amount: paid,
        paid_on: naive(paid_on),
        method: method.as_str().into(),
        recorded_by: caller.user.id.clone(),
        created_at: naive(now),
    };
    d.insert(conn)?;
    let detail = serde_json::json!({ "amount": paid, "currency": g.currency, "total": total });
    audit::record(conn, now, Entry::new(Some(&caller.user.id), "grant.disburse", "grant", Some(&g.id)).detail(detail))?;
    Ok(d)
}

pub struct GrantDetail {
    pub grant: Grant,
    pub details: GrantDetails,
    pub decision_reason: Option<String>,
    pub allowed_next: Vec<&'static str>,
}

pub fn detail(conn: &mut DbConn, crypto: &Crypto, g: Grant) -> Result<GrantDetail, AppError> {
    let plain = crypto.open(
        conn,
        &g.case_id,
        &g.id,
        &Sealed { ciphertext: g.details_ct.clone(), key_version: g.key_version },
    )?;
    let details: GrantDetails = serde_json::from_slice(&plain).map_err(AppError::internal)?;
    let decision_reason =
        open_opt(crypto, conn, &g.case_id, &format!("{}:decision", g.id), &g.decision_reason_ct, Some(g.key_version))?;
    let allowed_next = next_of(&g.status);
    Ok(GrantDetail { grant: g, details, decision_reason, allowed_next })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_positive_minor_units_up_to_the_maximum() {
        assert_eq!(amount("amount", 1).unwrap(), 1);
        assert_eq!(amount("amount", MAX_AMOUNT).unwrap(), MAX_AMOUNT);
        for bad in [0, -1, i64::MIN, MAX_AMOUNT + 1, i64::MAX] {
            assert_eq!(amount("amount_requested", bad).unwrap_err().code(), "invalid_amount", "{bad}");
        }
        assert!(amount("amount_approved", 0).unwrap_err().to_string().contains("amount_approved"));
    }

    #[test]
    fn grant_workflow_is_decision_then_payments() {
        assert_eq!(next_of("requested"), vec!["approved", "rejected"]);
        assert_eq!(next_of("approved"), vec!["disbursed"]);
        assert!(next_of("rejected").is_empty());
        assert!(next_of("disbursed").is_empty());
        for s in ["requested", "approved", "rejected", "disbursed"] {
            assert_eq!(status_name(s), s);
        }
    }

    #[test]
    fn details_default_to_no_other_funders_and_refuse_unknown_fields() {
        let d: GrantDetails = serde_json::from_str(r#"{"purpose":"locks"}"#).unwrap();
        assert_eq!(d, GrantDetails { purpose: "locks".into(), other_funders: vec![] });
        assert!(serde_json::from_str::<GrantDetails>(r#"{"purpose":"locks","iban":"X"}"#).is_err());
    }

    #[test]
    fn payment_methods_as_stored() {
        assert_eq!(PaymentMethod::BankTransfer.as_str(), "bank_transfer");
        assert_eq!(PaymentMethod::MobileMoney.as_str(), "mobile_money");
        assert_eq!(serde_json::to_value(PaymentMethod::MobileMoney).unwrap(), serde_json::json!("mobile_money"));
        assert_eq!(serde_json::to_value(GrantDecision::Rejected).unwrap(), serde_json::json!("rejected"));
    }
}
