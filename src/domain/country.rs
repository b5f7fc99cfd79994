//! ISO 3166-1 alpha-2 country codes (officially assigned).

const CODES: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ \
BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES \
ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO \
IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK \
ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR \
PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK \
TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

/// True for an upper-case, officially assigned alpha-2 code.
pub fn is_valid(code: &str) -> bool {
    code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase()) && CODES.split_whitespace().any(|c| c == code)
}

/// Reads a country code as ISO writes it: `co` and ` CO ` are `CO`. Whether it is a code at
/// all is checked where it is used, with `is_valid`.
pub fn upper<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = <String as serde::Deserialize>::deserialize(d)?;
    Ok(s.trim().to_ascii_uppercase())
}

/// `upper` for an optional field (with `#[serde(default)]`).
pub fn upper_opt<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = <Option<String> as serde::Deserialize>::deserialize(d)?;
    Ok(s.map(|s| s.trim().to_ascii_uppercase()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn codes() {
        assert_eq!(super::CODES.split_whitespace().count(), 249);
        assert!(super::is_valid("CO"));
        assert!(super::is_valid("SS"));
        assert!(!super::is_valid("co"));
        assert!(!super::is_valid("ZZ"));
        assert!(!super::is_valid("COL"));
    }
}
