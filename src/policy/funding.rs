//! Grant caps per category and currency, from `policies/funding.toml`.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

pub const BUILTIN: &str = include_str!("../../policies/funding.toml");

/// ProtectDefenders.eu's grant categories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GrantCategory {
    PhysicalSecurity,
    DigitalSecurity,
    Communications,
    Transport,
    Legal,
    Medical,
    Psychosocial,
    HumanitarianFamily,
    Relocation,
    Other,
}

impl GrantCategory {
    pub const ALL: [GrantCategory; 10] = [
        GrantCategory::PhysicalSecurity,
        GrantCategory::DigitalSecurity,
        GrantCategory::Communications,
        GrantCategory::Transport,
        GrantCategory::Legal,
        GrantCategory::Medical,
        GrantCategory::Psychosocial,
        GrantCategory::HumanitarianFamily,
        GrantCategory::Relocation,
        GrantCategory::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            GrantCategory::PhysicalSecurity => "physical_security",
            GrantCategory::DigitalSecurity => "digital_security",
            GrantCategory::Communications => "communications",
            GrantCategory::Transport => "transport",
            GrantCategory::Legal => "legal",
            GrantCategory::Medical => "medical",
            GrantCategory::Psychosocial => "psychosocial",
            GrantCategory::HumanitarianFamily => "humanitarian_family",
            GrantCategory::Relocation => "relocation",
            GrantCategory::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    caps: HashMap<String, HashMap<GrantCategory, i64>>,
}

#[derive(Debug, Clone)]
pub struct FundingPolicy {
    caps: HashMap<String, HashMap<GrantCategory, i64>>,
}

impl FundingPolicy {
    pub fn parse(text: &str) -> Result<Self, String> {
        let f: File = toml::from_str(text).map_err(|e| format!("funding policy: {e}"))?;
        if f.caps.is_empty() {
            return Err("funding policy: no currency has caps".into());
        }
        for (cur, caps) in &f.caps {
            if cur.len() != 3 || !cur.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(format!("funding policy: `{cur}` is not an ISO 4217 currency code"));
            }
            for c in GrantCategory::ALL {
                match caps.get(&c) {
                    Some(v) if *v > 0 && *v <= 1_000_000_000_000 => {}
                    Some(_) => return Err(format!("funding policy: {cur}.{} must be a positive amount", c.as_str())),
                    None => return Err(format!("funding policy: {cur} has no cap for {}", c.as_str())),
                }
            }
        }
        Ok(FundingPolicy { caps: f.caps })
    }

    pub fn load(dir: Option<&std::path::Path>) -> Result<Self, String> {
        let (text, from) = crate::policy::read(dir, "funding.toml", BUILTIN)?;
        Self::parse(&text).map_err(|e| format!("{from}: {e}"))
    }

    /// The cap for one grant, or None when the currency is not one the programme pays in.
    pub fn cap(&self, currency: &str, category: GrantCategory) -> Option<i64> {
        self.caps.get(currency).and_then(|c| c.get(&category)).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_checks_and_bad_files_do_not() {
        let p = FundingPolicy::parse(BUILTIN).unwrap();
        assert_eq!(p.cap("EUR", GrantCategory::Relocation), Some(1_500_000));
        assert_eq!(p.cap("XOF", GrantCategory::Relocation), None);
        for (from, to) in [
            ("other = 200000", "other = 0"),
            ("[caps.USD]", "[caps.usd]"),
            ("other = 200000\n", ""),
            ("legal = 1000000", "legal = 1000000\nbribes = 1"),
        ] {
            assert!(FundingPolicy::parse(&BUILTIN.replace(from, to)).is_err(), "{from} -> {to}");
        }
    }

    #[test]
    fn shipped_caps_per_currency_and_category() {
        use GrantCategory::*;
        let p = FundingPolicy::load(None).unwrap();
        let eur = [
            (PhysicalSecurity, 800_000),
            (DigitalSecurity, 300_000),
            (Communications, 150_000),
            (Transport, 400_000),
            (Legal, 1_000_000),
            (Medical, 800_000),
            (Psychosocial, 300_000),
            (HumanitarianFamily, 600_000),
            (Relocation, 1_500_000),
            (Other, 200_000),
        ];
        let usd = [
            (PhysicalSecurity, 900_000),
            (DigitalSecurity, 350_000),
            (Communications, 175_000),
            (Transport, 450_000),
            (Legal, 1_100_000),
            (Medical, 900_000),
            (Psychosocial, 350_000),
            (HumanitarianFamily, 650_000),
            (Relocation, 1_650_000),
            (Other, 220_000),
        ];
        for (c, v) in eur {
            assert_eq!(p.cap("EUR", c), Some(v), "EUR {c:?}");
        }
        for (c, v) in usd {
            assert_eq!(p.cap("USD", c), Some(v), "USD {c:?}");
        }
        // Currencies are matched as ISO writes them; anything else is not paid in.
        for cur in ["eur", "Eur", " EUR", "GBP", "", "EURO"] {
            assert_eq!(p.cap(cur, Legal), None, "{cur:?}");
        }
    }

    #[test]
    fn caps_are_positive_and_at_most_a_trillion_minor_units() {
        let with = |to: &str| FundingPolicy::parse(&BUILTIN.replace("other = 200000", to));
        assert_eq!(with("other = 1").unwrap().cap("EUR", GrantCategory::Other), Some(1));
        assert_eq!(with("other = 1000000000000").unwrap().cap("EUR", GrantCategory::Other), Some(1_000_000_000_000));
        assert!(with("other = 1000000000001").is_err());
        assert!(with("other = -200000").is_err());
        assert!(with("other = 2000.50").is_err(), "minor units are whole numbers");
    }

    #[test]
    fn currency_codes_are_three_upper_case_letters_and_one_is_needed() {
        for cur in ["EU", "EURO", "Eur", "E1R"] {
            assert!(FundingPolicy::parse(&BUILTIN.replace("[caps.EUR]", &format!("[caps.{cur}]"))).is_err(), "{cur}");
        }
        let err = FundingPolicy::parse("[caps]\n").unwrap_err();
        assert!(err.contains("no currency has caps"), "{err}");
        assert!(FundingPolicy::parse("").is_err());
        // One currency alone is a valid programme.
        let eur_only = BUILTIN.split("[caps.USD]").next().unwrap();
        let p = FundingPolicy::parse(eur_only).unwrap();
        assert_eq!(p.cap("EUR", GrantCategory::Transport), Some(400_000));
        assert_eq!(p.cap("USD", GrantCategory::Transport), None);
    }

    #[test]
    fn categories_round_trip_as_stored() {
        for c in GrantCategory::ALL {
            assert_eq!(GrantCategory::parse(c.as_str()), Some(c));
            assert_eq!(serde_json::to_value(c).unwrap(), serde_json::json!(c.as_str()));
        }
        assert_eq!(GrantCategory::parse("Legal"), None);
    }
}
