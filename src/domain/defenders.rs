//! Defenders: the people Haven protects. Lists show a pseudonym, country and networks; the
//! profile (legal name, contacts, safe-contact instructions, location, dependants) is sealed
//! with the defender's own key and opened only for a single authorised read.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::audit::{self, Entry};
use crate::authz::{AccessPolicy, Action, Relation};
use crate::clock::naive;
use crate::crypto::{Crypto, Sealed};
use crate::db::models::defender::DefenderChanges;
use crate::db::models::{Case, CaseShare, Defender};
use crate::db::DbConn;
use crate::domain::cases::{self, check_country, text_field, Caller};
use crate::domain::new_id;
use crate::error::AppError;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactChannel {
    /// e.g. signal, whatsapp, phone, email
    pub channel: String,
    pub value: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Dependant {
    pub name: String,
    pub relation: String,
    pub age: Option<u8>,
}

/// Everything identifying about a defender: sealed as one JSON document.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub legal_name: String,
    #[serde(default)]
    pub contact_channels: Vec<ContactChannel>,
    pub safe_contact_instructions: Option<String>,
    pub location_detail: Option<String>,
    #[serde(default)]
    pub dependants: Vec<Dependant>,
}

impl Profile {
    fn validate(&self) -> Result<(), AppError> {
        text_field("legal_name", &self.legal_name, 200)?;
        if self.contact_channels.len() > 20 || self.dependants.len() > 30 {
            let (list, max) =
                if self.contact_channels.len() > 20 { ("contact_channels", 20) } else { ("dependants", 30) };
            return Err(AppError::invalid_field(list, &format!("may hold at most {max} entries")));
        }
        for (i, c) in self.contact_channels.iter().enumerate() {
            text_field(format!("contact_channels[{i}].channel"), &c.channel, 50)?;
            text_field(format!("contact_channels[{i}].value"), &c.value, 500)?;
        }
        for (i, d) in self.dependants.iter().enumerate() {
            text_field(format!("dependants[{i}].name"), &d.name, 200)?;
            text_field(format!("dependants[{i}].relation"), &d.relation, 100)?;
        }
        if let Some(s) = &self.safe_contact_instructions {
            text_field("safe_contact_instructions", s, 2000)?;
        }
        if let Some(s) = &self.location_detail {
            text_field("location_detail", s, 2000)?;
        }
        Ok(())
    }
}

fn networks_json(networks: &[String]) -> Result<String, AppError> {
    if networks.len() > 20 {
        return Err(AppError::invalid_field("networks", "may hold at most 20 entries"));
    }
    let cleaned = networks
        .iter()
        .enumerate()
        .map(|(i, n)| text_field(format!("networks[{i}]"), n, 100))
        .collect::<Result<Vec<_>, _>>()?;
    serde_json::to_string(&cleaned).map_err(AppError::internal)
}

fn seal_profile(crypto: &Crypto, conn: &mut DbConn, id: &str, p: &Profile) -> Result<Sealed, AppError> {
    p.validate()?;
    let json = zeroize::Zeroizing::new(serde_json::to_vec(p).map_err(AppError::internal)?);
    Ok(crypto.seal(conn, id, "profile", &json)?)
}

pub fn open_profile(crypto: &Crypto, conn: &mut DbConn, d: &Defender) -> Result<Profile, AppError> {
    let plain = crypto.open(
        conn,
        &d.id,
        "profile",
        &Sealed { ciphertext: d.profile_ct.clone(), key_version: d.profile_key_version },
    )?;
    serde_json::from_slice(&plain).map_err(AppError::internal)
}

pub struct NewDefender {
    pub pseudonym: String,
    pub country: String,
    pub networks: Vec<String>,
    pub profile: Profile,
}

pub fn create(
    conn: &mut DbConn,
    crypto: &Crypto,
    now: DateTime<Utc>,
    caller: &Caller<'_>,
    input: NewDefender,
) -> Result<Defender, AppError> {
    let pseudonym = text_field("pseudonym", &input.pseudonym, 100)?;
    check_country("country", &input.country)?;
    let networks = networks_json(&input.networks)?;
    input.profile.validate()?;
    let id = new_id();
    crypto.create_case_key(conn, &id, now)?;
    let sealed = seal_profile(crypto, conn, &id, &input.profile)?;
    let d = Defender {
        id: id.clone(),
        pseudonym,
        country: input.country,
        networks,
        owner_organization_id: caller.user.organization_id.clone(),
        profile_ct: sealed.ciphertext,
        profile_key_version: sealed.key_version,
        created_by: caller.user.id.clone(),
        version: 1,
        created_at: naive(now),
        updated_at: naive(now),
    };
    d.insert(conn)?;
    audit::record(conn, now, Entry::new(Some(&caller.user.id), "defender.create", "defender", Some(&id)))?;
    Ok(d)
}

/// Loads a defender the caller may perform `action` on: her organisation's coordinators, or
/// anyone who may read one of her cases; for everyone else she does not exist (404).
pub fn load_for(
    conn: &mut DbConn,
    policy: &AccessPolicy,
    caller: &Caller<'_>,
    id: &str,
    action: Action,
    now: NaiveDateTime,
) -> Result<Defender, AppError> {
    if !crate::domain::accounts::is_id(id) {
        return Err(AppError::NotFound("defender_not_found"));
    }
    let d = Defender::find(conn, id)?.ok_or(AppError::NotFound("defender_not_found"))?;
    let linked = Case::for_defender(conn, &d.id)?;
    let rel = cases::owner_or_case_reader(conn, policy, caller, &d.owner_organization_id, linked, now)?;
    cases::enforce(policy.decide_on_object(&rel, action), d, "defender_not_found")
}

/// A defender loaded for an action, with what the caller may do and see of her: a page
/// offering several actions decides each from this instead of loading her again.
pub struct DefenderAccess {
    pub defender: Defender,
    /// The caller's relations to the record: her organisation's coordinator, a reader of one
    /// of her cases.
    pub relations: Vec<Relation>,
    /// The caller may also open her sealed profile.
    pub profile: bool,
    /// Those of her cases the caller may read.
    pub cases: Vec<Case>,
}

impl DefenderAccess {
    pub fn may(&self, policy: &AccessPolicy, action: Action) -> bool {
        policy.decide_on_object(&self.relations, action) == crate::authz::Decision::Allow
    }
}

/// Loads a defender for `action`, as `load_for` does, and says whether the caller may also
/// open her sealed profile (legal name, contacts, location, dependants): her organisation's
/// coordinators and the assignees of one of her cases; in a partner organisation, anyone else
/// only while a live share of one of her cases includes the profile. Reading the rest of the
/// record (pseudonym, country, networks) needs less. Her cases are loaded, and the caller's
/// relations to each computed, once for all the answers.
pub fn load_access(
    conn: &mut DbConn,
    policy: &AccessPolicy,
    caller: &Caller<'_>,
    id: &str,
    action: Action,
    now: NaiveDateTime,
) -> Result<DefenderAccess, AppError> {
    if !crate::domain::accounts::is_id(id) {
        return Err(AppError::NotFound("defender_not_found"));
    }
    let d = Defender::find(conn, id)?.ok_or(AppError::NotFound("defender_not_found"))?;
    let owner =
        caller.role == crate::domain::Role::Coordinator && caller.user.organization_id == d.owner_organization_id;
    let mut profile = owner;
    let mut readable = Vec::new();
    for case in Case::for_defender(conn, &d.id)? {
        let rel = cases::relations(conn, caller, &case, now)?;
        let reads = policy.decide_on_object(&rel, Action::CaseRead) == crate::authz::Decision::Allow;
        profile = profile
            || rel.contains(&Relation::OwnerCoordinator)
            || rel.contains(&Relation::Assignee)
            || (rel.contains(&Relation::SharedOrg)
                && CaseShare::find(conn, &case.id, &caller.user.organization_id)?
                    .is_some_and(|s| s.is_live(now) && s.includes_profile));
        if reads {
            readable.push(case);
        }
    }
    let mut relations = Vec::new();
    if owner {
        relations.push(Relation::OwnerCoordinator);
    }
    if !readable.is_empty() {
        relations.push(Relation::CaseReader);
    }
    let d = cases::enforce(policy.decide_on_object(&relations, action), d, "defender_not_found")?;
    Ok(DefenderAccess { defender: d, relations, profile, cases: readable })
}

/// `load_access`, for a door that needs only the record and whether it may open the profile.
pub fn load_with_profile_access(
    conn: &mut DbConn,
    policy: &AccessPolicy,
    caller: &Caller<'_>,
    id: &str,
    action: Action,
    now: NaiveDateTime,
) -> Result<(Defender, bool), AppError> {
    load_access(conn, policy, caller, id, action, now).map(|a| (a.defender, a.profile))
}

pub struct DefenderUpdate {
    pub pseudonym: Option<String>,
    pub country: Option<String>,
    pub networks: Option<Vec<String>>,
    pub profile: Option<Profile>,
}

pub fn update(
    conn: &mut DbConn,
    crypto: &Crypto,
    now: DateTime<Utc>,
    caller: &Caller<'_>,
    d: &Defender,
    expected: Option<i32>,
    input: DefenderUpdate,
) -> Result<(), AppError> {
    if expected.is_some_and(|v| v != d.version) {
        return Err(AppError::PreconditionFailed);
    }
    let pseudonym = input.pseudonym.as_deref().map(|p| text_field("pseudonym", p, 100)).transpose()?;
    if let Some(c) = &input.country {
        check_country("country", c)?;
    }
    let networks = input.networks.as_deref().map(networks_json).transpose()?;
    let sealed = input.profile.as_ref().map(|p| seal_profile(crypto, conn, &d.id, p)).transpose()?;
    let changes = DefenderChanges {
        pseudonym,
        country: input.country,
        networks,
        profile_key_version: sealed.as_ref().map(|s| s.key_version),
        profile_ct: sealed.map(|s| s.ciphertext),
    };
    if !Defender::update_versioned(conn, &d.id, d.version, &changes, naive(now))? {
        return Err(AppError::PreconditionFailed);
    }
    audit::record(conn, now, Entry::new(Some(&caller.user.id), "defender.update", "defender", Some(&d.id)))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile() -> Profile {
        Profile {
            legal_name: "Amina K.".into(),
            contact_channels: vec![ContactChannel { channel: "signal".into(), value: "+254 700 000000".into() }],
            safe_contact_instructions: Some("Only after 6 pm; never mention the network".into()),
            location_detail: None,
            dependants: vec![Dependant { name: "Yusuf".into(), relation: "son".into(), age: Some(9) }],
        }
    }

    fn field_of(r: Result<(), AppError>) -> String {
        r.expect_err("refused").field().map(str::to_string).unwrap_or_default()
    }

    #[test]
    fn a_profile_names_the_field_it_refuses() {
        assert!(profile().validate().is_ok());
        let mut p = profile();
        p.legal_name = "   ".into();
        assert_eq!(field_of(p.validate()), "legal_name");
        let mut p = profile();
        p.contact_channels[0].value = "x".repeat(501);
        assert_eq!(field_of(p.validate()), "contact_channels[0].value");
        let mut p = profile();
        p.dependants.push(Dependant { name: "".into(), relation: "daughter".into(), age: None });
        assert_eq!(field_of(p.validate()), "dependants[1].name");
        let mut p = profile();
        p.location_detail = Some("y".repeat(2001));
        assert_eq!(field_of(p.validate()), "location_detail");
    }

    #[test]
    fn a_profile_holds_at_most_20_channels_and_30_dependants() {
        let mut p = profile();
        p.contact_channels =
            (0..21).map(|i| ContactChannel { channel: "phone".into(), value: format!("{i}") }).collect();
        assert_eq!(field_of(p.validate()), "contact_channels");
        let mut p = profile();
        p.contact_channels.truncate(1);
        p.dependants =
            (0..31).map(|i| Dependant { name: format!("d{i}"), relation: "child".into(), age: None }).collect();
        assert_eq!(field_of(p.validate()), "dependants");
        p.dependants.truncate(30);
        assert!(p.validate().is_ok());
    }

    #[test]
    fn networks_are_at_most_20_short_names() {
        let ok: Vec<String> = vec!["Women Mediators Network".into(), "FemWise-Africa".into()];
        assert_eq!(networks_json(&ok).unwrap(), r#"["Women Mediators Network","FemWise-Africa"]"#);
        let too_many: Vec<String> = (0..21).map(|i| format!("n{i}")).collect();
        assert_eq!(networks_json(&too_many).unwrap_err().field(), Some("networks"));
        let long = vec!["ok".to_string(), "z".repeat(101)];
        assert_eq!(networks_json(&long).unwrap_err().field(), Some("networks[1]"));
        assert_eq!(networks_json(&[]).unwrap(), "[]");
    }
}
