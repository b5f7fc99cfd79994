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
use crate::domain::Ctx;
use crate::error::AppError;
use crate::policy::risk::{FactorCategory, Inputs};

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
pub fn create(
    conn: &mut DbConn,
    cx: &Ctx<'_>,
    caller: &Caller<'_>,
    case: &Case,
    content: &Content,
    reassess_by: DateTime<Utc>,
) -> Result<RiskAssessment, AppError> {
    let (rules, crypto, risk, now) = (&*cx.rules, cx.crypto, cx.risk, cx.now);
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
        crate::escalation::fire(conn, rules, now, crate::escalation::Event::CaseSeverityRaised, &case.id)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn threat(likelihood: u8, impact: u8) -> Threat {
        Threat {
            facts: "calls at night".into(),
            pattern: None,
            objective: None,
            source_actor: SourceActor::Unknown,
            public: false,
            feasibility: None,
            likelihood,
            impact,
        }
    }

    fn factor(category: FactorCategory, score: u8) -> Factor {
        Factor { category, score, description: None }
    }

    fn content() -> Content {
        Content {
            threats: vec![threat(4, 5), threat(2, 2)],
            vulnerabilities: vec![factor(FactorCategory::Digital, 4), factor(FactorCategory::Family, 5)],
            capacities: vec![factor(FactorCategory::Legal, 2)],
        }
    }

    fn field(c: &Content) -> Option<String> {
        c.validate().unwrap_err().field().map(str::to_string)
    }

    #[test]
    fn a_valid_assessment_checks() {
        assert!(content().validate().is_ok());
        let edges = Content { threats: vec![threat(1, 1), threat(5, 5)], vulnerabilities: vec![], capacities: vec![] };
        assert!(edges.validate().is_ok(), "1 and 5 are in range; factors are optional");
    }

    #[test]
    fn scores_are_one_to_five() {
        let mut c = content();
        c.threats[1].likelihood = 0;
        assert_eq!(field(&c), Some("threats[1].likelihood".into()));
        let mut c = content();
        c.threats[0].impact = 6;
        assert_eq!(field(&c), Some("threats[0].impact".into()));
        let mut c = content();
        c.vulnerabilities[1].score = 0;
        assert_eq!(field(&c), Some("vulnerabilities[1].score".into()));
        let mut c = content();
        c.capacities[0].score = 6;
        assert_eq!(field(&c), Some("capacities[0].score".into()));
    }

    #[test]
    fn list_sizes_are_bounded() {
        let mut c = content();
        c.threats.clear();
        assert_eq!(field(&c), Some("threats".into()));
        c.threats = vec![threat(1, 1); 50];
        assert!(c.validate().is_ok());
        c.threats.push(threat(1, 1));
        assert_eq!(field(&c), Some("threats".into()));
        let mut c = content();
        c.vulnerabilities = vec![factor(FactorCategory::Legal, 1); 31];
        assert_eq!(field(&c), Some("vulnerabilities".into()));
        let mut c = content();
        c.capacities = vec![factor(FactorCategory::Legal, 1); 31];
        assert_eq!(field(&c), Some("capacities".into()));
        c.capacities.pop();
        assert!(c.validate().is_ok());
    }

    #[test]
    fn texts_are_checked_with_their_path() {
        let mut c = content();
        c.threats[1].facts = "  ".into();
        assert_eq!(field(&c), Some("threats[1].facts".into()));
        let mut c = content();
        c.threats[0].feasibility = Some("x".repeat(5001));
        assert_eq!(field(&c), Some("threats[0].feasibility".into()));
        let mut c = content();
        c.capacities[0].description = Some("\u{0}".into());
        assert_eq!(field(&c), Some("capacities[0].description".into()));
    }

    #[test]
    fn inputs_feed_the_formula_in_order() {
        let (threats, vulns, caps) = content().inputs();
        assert_eq!(threats, vec![(4, 5), (2, 2)]);
        assert_eq!(vulns, vec![(FactorCategory::Digital, 4), (FactorCategory::Family, 5)]);
        assert_eq!(caps, vec![(FactorCategory::Legal, 2)]);
        // As in tests/it/assessments.rs but with C = 2: 4x5 = 20, V = (4 + 1.5*5)/2.5 = 4.6, 20*4.6/2 = 46.
        let risk = crate::policy::risk::RiskPolicy::parse(crate::policy::risk::BUILTIN).unwrap();
        let score = risk.score(&Inputs { threats: &threats, vulnerabilities: &vulns, capacities: &caps });
        assert_eq!(score, (46.0, Severity::Critical));
    }
}
