//! The risk formula of `policies/risk.toml`.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::domain::cases::Severity;

pub const BUILTIN: &str = include_str!("../../policies/risk.toml");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FactorCategory {
    Physical,
    Digital,
    Legal,
    SocialCommunity,
    Psychosocial,
    Financial,
    Family,
}

impl FactorCategory {
    pub const ALL: [FactorCategory; 7] = [
        FactorCategory::Physical,
        FactorCategory::Digital,
        FactorCategory::Legal,
        FactorCategory::SocialCommunity,
        FactorCategory::Psychosocial,
        FactorCategory::Financial,
        FactorCategory::Family,
    ];
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Aggregate {
    Max,
    Mean,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    threat_aggregate: Aggregate,
    weights: HashMap<FactorCategory, f64>,
    thresholds: Thresholds,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
struct Thresholds {
    medium: f64,
    high: f64,
    critical: f64,
}

#[derive(Debug, Clone)]
pub struct RiskPolicy {
    aggregate: Aggregate,
    weights: HashMap<FactorCategory, f64>,
    thresholds: Thresholds,
    /// SHA-256 of the file, stamped on every assessment it scored.
    pub hash: String,
}

/// The inputs of the formula: (likelihood, impact) per threat, (category, score) per factor.
pub struct Inputs<'a> {
    pub threats: &'a [(u8, u8)],
    pub vulnerabilities: &'a [(FactorCategory, u8)],
    pub capacities: &'a [(FactorCategory, u8)],
}

impl RiskPolicy {
    pub fn parse(text: &str) -> Result<Self, String> {
        let f: File = toml::from_str(text).map_err(|e| format!("risk policy: {e}"))?;
        for c in FactorCategory::ALL {
            match f.weights.get(&c) {
                Some(w) if w.is_finite() && *w > 0.0 && *w <= 100.0 => {}
                Some(_) => return Err(format!("risk policy: weight of {c:?} must be above 0 and at most 100")),
                None => return Err(format!("risk policy: no weight for {c:?}")),
            }
        }
        let t = f.thresholds;
        let ok = [t.medium, t.high, t.critical].iter().all(|x| x.is_finite() && *x > 0.0)
            && t.medium < t.high
            && t.high < t.critical;
        if !ok {
            return Err("risk policy: thresholds must be positive and ascending (medium < high < critical)".into());
        }
        let hash = hex::encode(Sha256::digest(text.as_bytes()));
        Ok(RiskPolicy { aggregate: f.threat_aggregate, weights: f.weights, thresholds: t, hash })
    }

    pub fn load(dir: Option<&std::path::Path>) -> Result<Self, String> {
        let (text, from) = crate::policy::read(dir, "risk.toml", BUILTIN)?;
        Self::parse(&text).map_err(|e| format!("{from}: {e}"))
    }

    fn weighted_mean(&self, factors: &[(FactorCategory, u8)]) -> f64 {
        if factors.is_empty() {
            return 1.0;
        }
        let (sum, weight) = factors.iter().fold((0.0, 0.0), |(s, w), (c, score)| {
            let k = self.weights.get(c).copied().unwrap_or(1.0);
            (s + k * f64::from(*score), w + k)
        });
        sum / weight
    }

    /// The score, rounded to hundredths, and the level it reaches.
    pub fn score(&self, inputs: &Inputs<'_>) -> (f64, Severity) {
        let per_threat = inputs.threats.iter().map(|(l, i)| f64::from(*l) * f64::from(*i));
        let t = match self.aggregate {
            Aggregate::Max => per_threat.fold(0.0, f64::max),
            Aggregate::Mean if inputs.threats.is_empty() => 0.0,
            Aggregate::Mean => per_threat.sum::<f64>() / inputs.threats.len() as f64,
        };
        let v = self.weighted_mean(inputs.vulnerabilities);
        let c = self.weighted_mean(inputs.capacities);
        let score = (t * v / c * 100.0).round() / 100.0;
        let th = self.thresholds;
        let level = if score >= th.critical {
            Severity::Critical
        } else if score >= th.high {
            Severity::High
        } else if score >= th.medium {
            Severity::Medium
        } else {
            Severity::Low
        };
        (score, level)
    }
}

#[cfg(test)]
mod tests {
    use super::FactorCategory::*;
    use super::*;

    fn p() -> RiskPolicy {
        RiskPolicy::parse(BUILTIN).unwrap()
    }

    #[test]
    fn hand_computed_cases() {
        // One threat 4x5 = 20; vulnerabilities digital 4, family 5 (weight 1.5):
        // V = (4 + 1.5*5) / 2.5 = 4.6; capacities legal 2, physical 4: C = 3. 20*4.6/3 = 30.67.
        let (s, l) = p().score(&Inputs {
            threats: &[(4, 5), (2, 2)],
            vulnerabilities: &[(Digital, 4), (Family, 5)],
            capacities: &[(Legal, 2), (Physical, 4)],
        });
        assert_eq!(s, 30.67);
        assert_eq!(l, Severity::High);
        // 5x5 = 25, V = 5, C = 1: 125, the maximum.
        let (s, l) =
            p().score(&Inputs { threats: &[(5, 5)], vulnerabilities: &[(Physical, 5)], capacities: &[(Physical, 1)] });
        assert_eq!((s, l), (125.0, Severity::Critical));
        // 1x1 = 1, no vulnerabilities (V = 1), capacities 5: 0.2.
        let (s, l) = p().score(&Inputs { threats: &[(1, 1)], vulnerabilities: &[], capacities: &[(Legal, 5)] });
        assert_eq!((s, l), (0.2, Severity::Low));
        // Exactly on a threshold counts as that level: 4x2 = 8, V = C.
        let (s, l) =
            p().score(&Inputs { threats: &[(4, 2)], vulnerabilities: &[(Legal, 3)], capacities: &[(Digital, 3)] });
        assert_eq!((s, l), (8.0, Severity::Medium));
    }

    #[test]
    fn mean_aggregate() {
        let text = BUILTIN.replace("threat_aggregate = \"max\"", "threat_aggregate = \"mean\"");
        let (s, _) = RiskPolicy::parse(&text).unwrap().score(&Inputs {
            threats: &[(4, 5), (2, 2)],
            vulnerabilities: &[],
            capacities: &[],
        });
        assert_eq!(s, 12.0);
    }

    #[test]
    fn bad_files_are_refused() {
        for (from, to) in [
            ("medium = 8.0", "medium = 30.0"),
            ("family = 1.5", "family = 0.0"),
            ("family = 1.5\n", ""),
            ("threat_aggregate = \"max\"", "threat_aggregate = \"median\""),
            ("[thresholds]", "[thresholds]\nextreme = 100.0"),
        ] {
            let text = BUILTIN.replace(from, to);
            assert!(RiskPolicy::parse(&text).is_err(), "{from} -> {to} should be refused");
        }
        assert_ne!(p().hash, RiskPolicy::parse(&BUILTIN.replace("45.0", "46.0")).unwrap().hash);
    }

    fn level_at(text: &str, threats: &[(u8, u8)]) -> (f64, Severity) {
        RiskPolicy::parse(text).unwrap().score(&Inputs { threats, vulnerabilities: &[], capacities: &[] })
    }

    #[test]
    fn each_threshold_is_the_lowest_score_of_its_level() {
        // Built-in thresholds: medium 8, high 20, critical 45. V = C = 1 here, so score = T.
        assert_eq!(level_at(BUILTIN, &[(1, 5)]), (5.0, Severity::Low));
        assert_eq!(level_at(BUILTIN, &[(2, 4)]), (8.0, Severity::Medium));
        assert_eq!(level_at(BUILTIN, &[(4, 4)]), (16.0, Severity::Medium));
        assert_eq!(level_at(BUILTIN, &[(4, 5)]), (20.0, Severity::High));
        assert_eq!(level_at(BUILTIN, &[(5, 5)]), (25.0, Severity::High));
        // A hundredth below each threshold is the level under it.
        let raised = |from: &str, to: &str| BUILTIN.replace(from, to);
        assert_eq!(level_at(&raised("medium = 8.0", "medium = 8.01"), &[(2, 4)]).1, Severity::Low);
        assert_eq!(level_at(&raised("high = 20.0", "high = 20.01"), &[(4, 5)]).1, Severity::Medium);
        let critical_at_25 = raised("critical = 45.0", "critical = 25.0");
        assert_eq!(level_at(&critical_at_25, &[(5, 5)]).1, Severity::Critical);
        assert_eq!(level_at(&raised("critical = 45.0", "critical = 25.01"), &[(5, 5)]).1, Severity::High);
        // 45 exactly with the built-in file: 3x3 = 9, V = 5, C = 1.
        let (s, l) =
            p().score(&Inputs { threats: &[(3, 3)], vulnerabilities: &[(Physical, 5)], capacities: &[(Legal, 1)] });
        assert_eq!((s, l), (45.0, Severity::Critical));
        // Capacities divide: 3x5 = 15 over C = 2 is 7.5, low.
        let (s, l) = p().score(&Inputs { threats: &[(3, 5)], vulnerabilities: &[], capacities: &[(Legal, 2)] });
        assert_eq!((s, l), (7.5, Severity::Low));
    }

    #[test]
    fn the_level_follows_the_rounded_score() {
        // 20 / C with C = (1.5*1 + 4) / 2.5 = 2.2: 9.0909… is shown and judged as 9.09.
        let inputs = Inputs { threats: &[(4, 5)], vulnerabilities: &[], capacities: &[(Family, 1), (Legal, 4)] };
        assert_eq!(p().score(&inputs), (9.09, Severity::Medium));
        // With medium at 9.0905 the raw 9.0909… would reach it; the rounded 9.09 does not.
        let strict = RiskPolicy::parse(&BUILTIN.replace("medium = 8.0", "medium = 9.0905")).unwrap();
        assert_eq!(strict.score(&inputs), (9.09, Severity::Low));
    }

    #[test]
    fn max_takes_the_worst_threat_whatever_the_order_and_no_threat_is_zero() {
        assert_eq!(level_at(BUILTIN, &[(2, 2), (5, 4), (1, 1)]), (20.0, Severity::High));
        assert_eq!(level_at(BUILTIN, &[(5, 4), (2, 2)]), level_at(BUILTIN, &[(2, 2), (5, 4)]));
        assert_eq!(level_at(BUILTIN, &[]), (0.0, Severity::Low));
        let mean = BUILTIN.replace("threat_aggregate = \"max\"", "threat_aggregate = \"mean\"");
        assert_eq!(level_at(&mean, &[]), (0.0, Severity::Low));
        // Mean of 25 and 1 is 13.
        assert_eq!(level_at(&mean, &[(5, 5), (1, 1)]), (13.0, Severity::Medium));
    }

    #[test]
    fn weights_and_thresholds_are_bounded() {
        assert!(RiskPolicy::parse(&BUILTIN.replace("family = 1.5", "family = 100.0")).is_ok());
        for (from, to) in [
            ("family = 1.5", "family = 100.5"),
            ("family = 1.5", "family = -1.5"),
            ("family = 1.5", "family = nan"),
            ("high = 20.0", "high = 8.0"),
            ("critical = 45.0", "critical = 20.0"),
            ("critical = 45.0", "critical = inf"),
            ("medium = 8.0", "medium = 0.0"),
        ] {
            assert!(RiskPolicy::parse(&BUILTIN.replace(from, to)).is_err(), "{from} -> {to}");
        }
    }

    #[test]
    fn the_hash_is_the_sha256_of_the_file_as_shipped() {
        // Stamped on every assessment: it changes when and only when the file's bytes do.
        // If you change policies/risk.toml on purpose, update this value.
        assert_eq!(p().hash, "24007b794fa078c2466316a11585488ebaa06b0c60930dac009e03e7710dc28c");
        assert_eq!(p().hash, hex::encode(Sha256::digest(BUILTIN.as_bytes())));
        assert_eq!(p().hash, RiskPolicy::load(None).unwrap().hash);
        // Even a change that computes the same (a comment) is a different policy text.
        assert_ne!(p().hash, RiskPolicy::parse(&format!("{BUILTIN}\n# note\n")).unwrap().hash);
    }
}
