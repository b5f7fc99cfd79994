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
}
