//! `GET /api/v1/cases/{id}/summary`: the wire form of `domain::summary::CaseSummary` (times
//! as RFC 3339 text, deadline kinds as strings).

use serde::Serialize;

use crate::clock::ts;
use crate::domain::summary as d;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RiskSummary {
    pub level: String,
    pub score: f64,
    pub version: i32,
    pub assessed_at: String,
    pub reassess_by: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MeasureCounts {
    pub open: usize,
    pub overdue: usize,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RelocationSummary {
    pub id: String,
    pub kind: String,
    pub status: String,
    pub starts_on: String,
    pub ends_on: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VisaCounts {
    /// Preparing or submitted.
    pub pending: usize,
    pub issued: usize,
    pub expiring_within_30_days: usize,
}

/// Amounts in minor units of `currency`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct GrantTotals {
    pub currency: String,
    pub requested: i64,
    pub approved: i64,
    pub disbursed: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Deadline {
    /// reassessment | plan_review | measure_due | relocation_start | visa_expiry
    pub kind: &'static str,
    pub id: String,
    pub due_at: String,
    pub overdue: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CaseSummary {
    pub case_id: String,
    pub reference: String,
    pub status: String,
    pub severity: String,
    pub risk: Option<RiskSummary>,
    pub measures: MeasureCounts,
    pub relocation: Option<RelocationSummary>,
    pub visas: VisaCounts,
    pub grants: Vec<GrantTotals>,
    /// The ten nearest, soonest first.
    pub next_deadlines: Vec<Deadline>,
}

impl From<d::CaseSummary> for CaseSummary {
    fn from(s: d::CaseSummary) -> Self {
        CaseSummary {
            case_id: s.case_id,
            reference: s.reference,
            status: s.status,
            severity: s.severity,
            risk: s.risk.map(|r| RiskSummary {
                level: r.level,
                score: r.score,
                version: r.version,
                assessed_at: ts(r.assessed_at),
                reassess_by: ts(r.reassess_by),
            }),
            measures: MeasureCounts { open: s.measures.open, overdue: s.measures.overdue },
            relocation: s.relocation.map(|r| RelocationSummary {
                id: r.id,
                kind: r.kind,
                status: r.status,
                starts_on: ts(r.starts_on),
                ends_on: ts(r.ends_on),
            }),
            visas: VisaCounts {
                pending: s.visas.pending,
                issued: s.visas.issued,
                expiring_within_30_days: s.visas.expiring_within_30_days,
            },
            grants: s
                .grants
                .into_iter()
                .map(|g| GrantTotals {
                    currency: g.currency,
                    requested: g.requested,
                    approved: g.approved,
                    disbursed: g.disbursed,
                })
                .collect(),
            next_deadlines: s
                .next_deadlines
                .into_iter()
                .map(|x| Deadline { kind: x.kind.as_str(), id: x.id, due_at: ts(x.due_at), overdue: x.overdue })
                .collect(),
        }
    }
}
