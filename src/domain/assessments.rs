//! Risk assessments, after Protection International's New Protection Manual and Front Line
//! Defenders' threat assessment: threats (with likelihood and impact), vulnerabilities and
//! capacities, scored by `policies/risk.toml`. Versioned, never edited in place; a new
//! version at a higher level raises the case's severity (never lowers it).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::audit::{self, Entry};
use crate::clock::naive;
use crate::crypto::{Crypto, Sealed};
use crate::db::models::{Case, RiskAssessment};
use crate::db::DbConn;
use crate::domain::cases::{text_field, Caller, Severity};
use crate::domain::new_id;
use crate::error::AppError;
use crate::escalation::Rules;
use crate::policy::risk::{FactorCategory, Inputs, RiskPolicy};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SourceActor {
    StateSecurity,
    Police,
    ArmedGroup,
    PoliticalParty,
    ReligiousCommunityLeader,
    Family,
    OnlineMob,
    Unknown,
    Other,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Threat {
    /// What happened, as established.
    pub facts: String,
    /// How it fits earlier incidents.
    pub pattern: Option<String>,
    /// What the threat seems to aim at.
    pub objective: Option<String>,
    pub source_actor: SourceActor,
    /// Made in public (true) or privately.
    pub public: bool,
    /// Whether the source could carry it out, and how.
    pub feasibility: Option<String>,
    /// 1 (rare) to 5 (almost certain).
    pub likelihood: u8,
    /// 1 (minor) to 5 (severe).
    pub impact: u8,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Factor {
    pub category: FactorCategory,
    /// 1 to 5.
    pub score: u8,
    pub description: Option<String>,
}

/// The sealed part of an assessment.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Content {
    pub threats: Vec<Threat>,
    #[serde(default)]
    pub vulnerabilities: Vec<Factor>,
    #[serde(default)]
    pub capacities: Vec<Factor>,
}

/// (category, score) pairs, as the formula takes them.
type Scores = Vec<(FactorCategory, u8)>;

fn one_to_five(field: String, v: u8) -> Result<(), AppError> {
    if (1..=5).contains(&v) {
        Ok(())
    } else {
        Err(AppError::invalid_field(field, "must be from 1 to 5"))
    }
}

fn opt_text(field: String, v: &Option<String>) -> Result<(), AppError> {
    v.as_deref().map(|t| text_field(field, t, 5000)).transpose().map(|_| ())
}

impl Content {
    fn validate(&self) -> Result<(), AppError> {
        if self.threats.is_empty() || self.threats.len() > 50 {
            return Err(AppError::invalid_field("threats", "must hold 1 to 50 threats"));
        }
        if self.vulnerabilities.len() > 30 || self.capacities.len() > 30 {
            let list = if self.vulnerabilities.len() > 30 { "vulnerabilities" } else { "capacities" };
            return Err(AppError::invalid_field(list, "may hold at most 30 entries"));
        }
        for (i, t) in self.threats.iter().enumerate() {
            text_field(format!("threats[{i}].facts"), &t.facts, 5000)?;
            opt_text(format!("threats[{i}].pattern"), &t.pattern)?;
            opt_text(format!("threats[{i}].objective"), &t.objective)?;
            opt_text(format!("threats[{i}].feasibility"), &t.feasibility)?;
            one_to_five(format!("threats[{i}].likelihood"), t.likelihood)?;
            one_to_five(format!("threats[{i}].impact"), t.impact)?;
        }
        for (list, factors) in [("vulnerabilities", &self.vulnerabilities), ("capacities", &self.capacities)] {
            for (i, f) in factors.iter().enumerate() {
                one_to_five(format!("{list}[{i}].score"), f.score)?;
                opt_text(format!("{list}[{i}].description"), &f.description)?;
            }
        }
        Ok(())
    }

    fn inputs(&self) -> (Vec<(u8, u8)>, Scores, Scores) {
        (
            self.threats.iter().map(|t| (t.likelihood, t.impact)).collect(),
            self.vulnerabilities.iter().map(|f| (f.category, f.score)).collect(),
            self.capacities.iter().map(|f| (f.category, f.score)).collect(),
        )
    }
}

/// Adds the next version of a case's assessment, in the caller's transaction.
#[allow(clippy::too_many_arguments)]
pub fn create(
    conn: &mut DbConn,
    rules: &Rules,
    crypto: &Crypto,
    risk: &RiskPolicy,
    now: DateTime<Utc>,
    caller: &Caller<'_>,
    case: &Case,
    content: &Content,
    reassess_by: DateTime<Utc>,
) -> Result<RiskAssessment, AppError> {
    content.validate()?;
    if reassess_by <= now || reassess_by > now + chrono::Duration::days(3 * 366) {
        return Err(AppError::unprocessable(
            "invalid_reassess_by",
            "reassess_by must be in the future, within three years",
        ));
    }
    let (threats, vulnerabilities, capacities) = content.inputs();
    let (score, level) =
        risk.score(&Inputs { threats: &threats, vulnerabilities: &vulnerabilities, capacities: &capacities });
    let id = new_id();
    let json = zeroize::Zeroizing::new(serde_json::to_vec(content).map_err(AppError::internal)?);
    let sealed = crypto.seal(conn, &case.id, &id, &json)?;
    let a = RiskAssessment {
        id: id.clone(),
        case_id: case.id.clone(),
        version: RiskAssessment::latest_version(conn, &case.id)?.unwrap_or(0) + 1,
        assessor_id: caller.user.id.clone(),
        content_ct: sealed.ciphertext,
        key_version: sealed.key_version,
        threat_count: content.threats.len() as i32,
        score_centi: (score * 100.0).round() as i32,
        level: level.as_str().into(),
        policy_hash: risk.hash.clone(),
        reassess_by: naive(reassess_by),
        created_at: naive(now),
    };
    a.insert(conn)?;
    let detail = serde_json::json!({ "version": a.version, "level": a.level, "score": score });
    audit::record(
        conn,
        now,
        Entry::new(Some(&caller.user.id), "assessment.create", "case", Some(&case.id)).detail(detail),
    )?;
    let current = Severity::parse(&case.severity).unwrap_or(Severity::Low);
    if level > current && Case::raise_severity(conn, &case.id, level.as_str(), &Severity::below(level), naive(now))? {
        let detail = serde_json::json!({ "from": case.severity, "to": level.as_str(), "assessment_id": a.id });
        audit::record(
            conn,
            now,
            Entry::new(Some(&caller.user.id), "case.severity_raised", "case", Some(&case.id)).detail(detail),
        )?;
    }
    // The previous version is superseded now: its chains may end.
    crate::escalation::settle_case(conn, rules, now, &case.id)?;
    crate::escalation::fire(conn, rules, now, crate::escalation::Event::AssessmentCreated, &a.id)?;
    Ok(a)
}

pub fn open_content(conn: &mut DbConn, crypto: &Crypto, a: &RiskAssessment) -> Result<Content, AppError> {
    let plain = crypto.open(
        conn,
        &a.case_id,
        &a.id,
        &Sealed { ciphertext: a.content_ct.clone(), key_version: a.key_version },
    )?;
    serde_json::from_slice(&plain).map_err(AppError::internal)
}
