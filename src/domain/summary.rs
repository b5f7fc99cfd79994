//! The one-request overview of a case: latest risk, open and overdue measures, relocation,
//! visas, grant totals and the next deadlines. A fixed number of queries, whatever the size
//! of the case (no query per record).

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDateTime};

use crate::db::models::{Case, Grant, PlanMeasure, Relocation, RiskAssessment, SecurityPlan, Visa};
use crate::db::DbConn;
use crate::error::AppError;

#[derive(Debug, Clone, PartialEq)]
pub struct RiskSummary {
    pub level: String,
    pub score: f64,
    pub version: i32,
    pub assessed_at: NaiveDateTime,
    pub reassess_by: NaiveDateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MeasureCounts {
    pub open: usize,
    pub overdue: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelocationSummary {
    pub id: String,
    pub kind: String,
    pub status: String,
    pub starts_on: NaiveDateTime,
    pub ends_on: NaiveDateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VisaCounts {
    /// Preparing or submitted.
    pub pending: usize,
    pub issued: usize,
    pub expiring_within_30_days: usize,
}

/// Amounts in minor units of `currency`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantTotals {
    pub currency: String,
    pub requested: i64,
    pub approved: i64,
    pub disbursed: i64,
}

/// What falls due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadlineKind {
    Reassessment,
    PlanReview,
    MeasureDue,
    RelocationStart,
    VisaExpiry,
}

impl DeadlineKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DeadlineKind::Reassessment => "reassessment",
            DeadlineKind::PlanReview => "plan_review",
            DeadlineKind::MeasureDue => "measure_due",
            DeadlineKind::RelocationStart => "relocation_start",
            DeadlineKind::VisaExpiry => "visa_expiry",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deadline {
    pub kind: DeadlineKind,
    /// The record that falls due.
    pub id: String,
    pub due_at: NaiveDateTime,
    pub overdue: bool,
}

/// The overview of one case, in the domain's terms (times as times, not text): the API and
/// the console each render it their own way.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseSummary {
    pub case_id: String,
    pub reference: String,
    pub status: String,
    pub severity: String,
    pub risk: Option<RiskSummary>,
    pub measures: MeasureCounts,
    pub relocation: Option<RelocationSummary>,
    pub visas: VisaCounts,
    /// One entry per currency, in currency order.
    pub grants: Vec<GrantTotals>,
    /// The ten nearest, soonest first.
    pub next_deadlines: Vec<Deadline>,
}

/// A case's nearest deadline, as a list shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextDeadline {
    pub kind: DeadlineKind,
    pub due_at: NaiveDateTime,
    pub overdue: bool,
}

/// The nearest deadline of each of these cases (absent: none), by the same rules as
/// [`summarize`]'s `next_deadlines`: the latest assessment's reassessment, every plan's
/// review, open measures' due dates, the latest relocation's start once approved, issued
/// visas' expiry. Five queries whatever the number of cases.
pub fn next_deadlines(
    conn: &mut DbConn,
    case_ids: &[String],
    now: NaiveDateTime,
) -> Result<BTreeMap<String, NextDeadline>, AppError> {
    let d = crate::db::models::deadline::DueDates::of_cases(conn, case_ids)?;
    let mut out: BTreeMap<String, NextDeadline> = BTreeMap::new();
    let mut offer = |case_id: String, kind: DeadlineKind, due_at: NaiveDateTime| {
        let nd = NextDeadline { kind, due_at, overdue: due_at < now };
        out.entry(case_id)
            .and_modify(|e| {
                if due_at < e.due_at {
                    *e = nd
                }
            })
            .or_insert(nd);
    };
    let mut latest: BTreeMap<String, (i32, NaiveDateTime)> = BTreeMap::new();
    for (case_id, version, by) in d.assessments {
        latest
            .entry(case_id)
            .and_modify(|e| {
                if version > e.0 {
                    *e = (version, by)
                }
            })
            .or_insert((version, by));
    }
    for (case_id, (_, by)) in latest {
        offer(case_id, DeadlineKind::Reassessment, by);
    }
    for (case_id, by) in d.plans {
        offer(case_id, DeadlineKind::PlanReview, by);
    }
    for (case_id, due) in d.measures {
        offer(case_id, DeadlineKind::MeasureDue, due);
    }
    let mut newest: BTreeMap<String, (String, String, NaiveDateTime)> = BTreeMap::new();
    for (case_id, id, status, starts) in d.relocations {
        newest
            .entry(case_id)
            .and_modify(|e| {
                if id > e.0 {
                    *e = (id.clone(), status.clone(), starts)
                }
            })
            .or_insert((id, status, starts));
    }
    for (case_id, (_, status, starts)) in newest {
        if status == "approved" {
            offer(case_id, DeadlineKind::RelocationStart, starts);
        }
    }
    for (case_id, expires) in d.visas {
        offer(case_id, DeadlineKind::VisaExpiry, expires);
    }
    Ok(out)
}

pub fn summarize(conn: &mut DbConn, case: &Case, now: NaiveDateTime) -> Result<CaseSummary, AppError> {
    let mut deadlines: Vec<(NaiveDateTime, DeadlineKind, String)> = Vec::new();

    let latest = RiskAssessment::for_case(conn, &case.id)?.into_iter().next();
    let risk = latest.map(|a| {
        deadlines.push((a.reassess_by, DeadlineKind::Reassessment, a.id.clone()));
        RiskSummary {
            level: a.level,
            score: f64::from(a.score_centi) / 100.0,
            version: a.version,
            assessed_at: a.created_at,
            reassess_by: a.reassess_by,
        }
    });

    for p in SecurityPlan::for_case(conn, &case.id)? {
        deadlines.push((p.review_by, DeadlineKind::PlanReview, p.id));
    }

    let open = PlanMeasure::open_for_case(conn, &case.id)?;
    let overdue = open.iter().filter(|m| m.due_at.is_some_and(|d| d < now)).count();
    for m in &open {
        if let Some(d) = m.due_at {
            deadlines.push((d, DeadlineKind::MeasureDue, m.id.clone()));
        }
    }

    let relocations = Relocation::for_case(conn, &case.id)?;
    let relocation = relocations.into_iter().next().map(|r| {
        if r.status == "approved" {
            deadlines.push((r.starts_on, DeadlineKind::RelocationStart, r.id.clone()));
        }
        RelocationSummary { id: r.id, kind: r.kind, status: r.status, starts_on: r.starts_on, ends_on: r.ends_on }
    });

    let visas = Visa::for_case(conn, &case.id)?;
    let soon = now + Duration::days(30);
    let mut counts = VisaCounts { pending: 0, issued: 0, expiring_within_30_days: 0 };
    for v in &visas {
        match v.status.as_str() {
            "preparing" | "submitted" => counts.pending += 1,
            "issued" => {
                counts.issued += 1;
                if let Some(e) = v.expires_on {
                    if e <= soon {
                        counts.expiring_within_30_days += 1;
                    }
                    deadlines.push((e, DeadlineKind::VisaExpiry, v.id.clone()));
                }
            }
            _ => {}
        }
    }

    let mut totals: BTreeMap<String, GrantTotals> = BTreeMap::new();
    for g in Grant::for_case(conn, &case.id)? {
        let t = totals.entry(g.currency.clone()).or_insert_with(|| GrantTotals {
            currency: g.currency.clone(),
            requested: 0,
            approved: 0,
            disbursed: 0,
        });
        if g.status != "rejected" {
            t.requested += g.amount_requested;
        }
        t.approved += g.amount_approved.unwrap_or(0);
        t.disbursed += g.amount_disbursed;
    }

    deadlines.sort_by_key(|(at, _, _)| *at);
    let next_deadlines = deadlines
        .into_iter()
        .take(10)
        .map(|(at, kind, id)| Deadline { kind, id, due_at: at, overdue: at < now })
        .collect();

    Ok(CaseSummary {
        case_id: case.id.clone(),
        reference: case.reference.clone(),
        status: case.status.clone(),
        severity: case.severity.clone(),
        risk,
        measures: MeasureCounts { open: open.len(), overdue },
        relocation,
        visas: counts,
        grants: totals.into_values().collect(),
        next_deadlines,
    })
}
