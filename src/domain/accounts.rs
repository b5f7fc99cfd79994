//! Organisations and accounts: validation, uniqueness, the last-admin rule, first-start
//! bootstrap. Every change is audited in its own transaction.

use chrono::{DateTime, Utc};
use diesel::result::{DatabaseErrorKind, Error as DieselError};

use crate::audit::{self, Entry};
use crate::clock::naive;
use crate::db::models::user::{normalize_email, UserChanges};
use crate::db::models::{Organization, Session, User};
use crate::db::DbConn;
use crate::domain::{country, new_id, OrganizationKind, Role};
use crate::error::AppError;

pub struct NewOrganization {
    pub name: String,
    pub kind: OrganizationKind,
    pub country: String,
}

pub struct NewUser {
    pub email: String,
    pub name: String,
    pub role: Role,
    pub organization_id: String,
}

/// A display name: trimmed, 1–200 characters, no control characters.
pub fn clean_name(field: &'static str, raw: &str) -> Result<String, AppError> {
    let name = raw.trim();
    let n = name.chars().count();
    if n == 0 || n > 200 || name.chars().any(char::is_control) {
        return Err(AppError::invalid_field(field, "must be 1 to 200 printable characters"));
    }
    Ok(name.to_string())
}

/// A deliberately plain check: one `@`, a dotted domain, no spaces, at most 254 bytes.
pub fn clean_email(raw: &str) -> Result<String, AppError> {
    let email = raw.trim();
    let bad = || AppError::unprocessable("invalid_email", "email is not a valid address");
    if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    let (local, domain) = email.split_once('@').ok_or_else(bad)?;
    if local.is_empty()
        || domain.contains('@')
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
    {
        return Err(bad());
    }
    Ok(email.to_string())
}

/// Ids are UUIDs; anything else (a NUL byte, a megabyte of text) is refused before it
/// reaches the database.
/// The names of these users by id (each asked for once, in one query), for the doors that
/// show people by name; an id with no account is absent.
pub fn names<'a>(
    conn: &mut DbConn,
    ids: impl IntoIterator<Item = &'a str>,
) -> Result<std::collections::BTreeMap<String, String>, AppError> {
    let mut ids: Vec<String> = ids.into_iter().map(str::to_string).collect();
    ids.sort();
    ids.dedup();
    Ok(User::names(conn, &ids)?.into_iter().collect())
}

pub fn is_id(s: &str) -> bool {
    (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn unique_violation(e: &DieselError) -> bool {
    matches!(e, DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _))
}

pub fn create_organization(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    actor: Option<&str>,
    input: NewOrganization,
) -> Result<Organization, AppError> {
    let name = clean_name("name", &input.name)?;
    if !country::is_valid(&input.country) {
        return Err(AppError::unprocessable(
            "invalid_country",
            "country must be an ISO 3166-1 alpha-2 code such as CO or KE",
        ));
    }
    let org = Organization {
        id: new_id(),
        name,
        kind: input.kind.as_str().to_string(),
        country: input.country,
        created_at: naive(now),
    };
    if Organization::find_by_name(conn, &org.name)?.is_some() {
        return Err(AppError::conflict("organization_exists", "an organization with this name exists"));
    }
    org.insert(conn).map_err(|e| {
        if unique_violation(&e) {
            AppError::conflict("organization_exists", "an organization with this name exists")
        } else {
            e.into()
        }
    })?;
    audit::record(conn, now, Entry::new(actor, "organization.create", "organization", Some(&org.id)))?;
    Ok(org)
}

/// Creates an account with an already hashed password (hashing is slow; do it outside the
/// transaction). `must_change_password` is set for generated one-time passwords.
pub fn create_user(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    actor: Option<&str>,
    input: NewUser,
    password_hash: String,
    must_change_password: bool,
) -> Result<User, AppError> {
    let email = clean_email(&input.email)?;
    let name = clean_name("name", &input.name)?;
    if !is_id(&input.organization_id) || Organization::find(conn, &input.organization_id)?.is_none() {
        return Err(AppError::unprocessable("unknown_organization", "organization_id does not name an organization"));
    }
    let exists = || AppError::conflict("email_taken", "an account with this email exists");
    if User::find_by_email(conn, &email)?.is_some() {
        return Err(exists());
    }
    let user = User {
        id: new_id(),
        organization_id: input.organization_id,
        email_normalized: normalize_email(&email),
        email,
        name,
        role: input.role.as_str().to_string(),
        password_hash,
        active: true,
        must_change_password,
        created_at: naive(now),
        updated_at: naive(now),
        language: None,
        mfa_enabled_at: None,
    };
    user.insert(conn).map_err(|e| if unique_violation(&e) { exists() } else { e.into() })?;
    let detail = serde_json::json!({ "role": user.role, "organization_id": user.organization_id });
    audit::record(conn, now, Entry::new(actor, "user.create", "user", Some(&user.id)).detail(detail))?;
    Ok(user)
}

/// Sets the language of her console pages (None: her browser's). Audited, like every change.
pub fn set_language(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    user: &User,
    lang: Option<crate::i18n::Lang>,
) -> Result<(), AppError> {
    let changes = UserChanges {
        language: Some(lang.map(|l| l.code().to_string())),
        updated_at: Some(naive(now)),
        ..Default::default()
    };
    User::update(conn, &user.id, &changes)?;
    let detail = serde_json::json!({ "language": lang.map(|l| l.code()) });
    audit::record(conn, now, Entry::new(Some(&user.id), "me.language", "user", Some(&user.id)).detail(detail))?;
    Ok(())
}

/// Changes role and/or active flag. Refuses to leave the service without an active admin.
/// Deactivation ends the account's sessions at once.
pub fn update_user(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    actor: Option<&str>,
    id: &str,
    role: Option<Role>,
    active: Option<bool>,
) -> Result<User, AppError> {
    if !is_id(id) {
        return Err(AppError::NotFound("user_not_found"));
    }
    crate::db::lock_accounts(conn)?;
    let user = User::find(conn, id)?.ok_or(AppError::NotFound("user_not_found"))?;
    let loses_admin = user.role == Role::Admin.as_str()
        && user.active
        && (role.is_some_and(|r| r != Role::Admin) || active == Some(false));
    if loses_admin && active_admins(conn)? <= 1 {
        return Err(AppError::conflict("last_admin", "this is the last active admin account"));
    }
    let changes = UserChanges {
        role: role.map(|r| r.as_str().to_string()),
        active,
        updated_at: Some(naive(now)),
        ..Default::default()
    };
    User::update(conn, id, &changes)?;
    if active == Some(false) {
        Session::revoke_all_for_user(conn, id, None, naive(now), "deactivated")?;
    }
    let mut detail = serde_json::Map::new();
    if let Some(r) = role {
        detail.insert("role".into(), serde_json::json!({ "from": user.role, "to": r.as_str() }));
    }
    if let Some(a) = active {
        detail.insert("active".into(), serde_json::json!({ "from": user.active, "to": a }));
    }
    audit::record(conn, now, Entry::new(actor, "user.update", "user", Some(id)).detail(detail.into()))?;
    User::find(conn, id)?.ok_or(AppError::NotFound("user_not_found"))
}

/// Gives an account a new one-time password (already hashed, outside the transaction): for a
/// forgotten password or a first start whose printed password was lost. Every session of the
/// account ends at once, she must change the password at her next login, and the reset is
/// audited (never the password).
pub fn reset_password(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    actor: Option<&str>,
    id: &str,
    password_hash: String,
) -> Result<User, AppError> {
    if !is_id(id) {
        return Err(AppError::NotFound("user_not_found"));
    }
    let user = User::find(conn, id)?.ok_or(AppError::NotFound("user_not_found"))?;
    let changes = UserChanges {
        password_hash: Some(password_hash),
        must_change_password: Some(true),
        updated_at: Some(naive(now)),
        ..Default::default()
    };
    User::update(conn, &user.id, &changes)?;
    let ended = Session::revoke_all_for_user(conn, &user.id, None, naive(now), "password_reset")?;
    let detail = serde_json::json!({ "sessions_ended": ended, "by": if actor.is_some() { "api" } else { "cli" } });
    audit::record(conn, now, Entry::new(actor, "user.reset_password", "user", Some(&user.id)).detail(detail))?;
    User::find(conn, id)?.ok_or(AppError::NotFound("user_not_found"))
}

fn active_admins(conn: &mut DbConn) -> Result<i64, AppError> {
    Ok(User::count_active(conn, None, Role::Admin.as_str())?)
}

/// What first start did.
pub enum Bootstrap {
    AlreadyInitialised,
    Created { email: String, generated_password: Option<String> },
}

/// On an empty database: one organisation and one admin. The password comes from config,
/// or is generated and returned once for the caller to print; it is never logged.
pub fn bootstrap(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    cfg: &crate::config::AdminConfig,
    hash: impl FnOnce(&str) -> Result<String, AppError>,
) -> Result<Bootstrap, AppError> {
    if User::count(conn)? > 0 {
        return Ok(Bootstrap::AlreadyInitialised);
    }
    let email = if cfg.email.is_empty() { "admin@haven.invalid".to_string() } else { cfg.email.clone() };
    let (password, generated) = if cfg.password.is_empty() {
        let p = crate::auth::password::generate();
        (p.clone(), Some(p))
    } else {
        crate::auth::password::check_policy(cfg.password.expose()).map_err(|_| {
            AppError::bad_request("weak_password", "HAVEN_ADMIN_PASSWORD must have at least 12 characters")
        })?;
        (cfg.password.expose().to_string(), None)
    };
    let org = match Organization::find_by_name(conn, &cfg.organization_name)? {
        Some(o) => o,
        None => create_organization(
            conn,
            now,
            None,
            NewOrganization {
                name: cfg.organization_name.clone(),
                kind: OrganizationKind::Other,
                country: cfg.organization_country.clone(),
            },
        )?,
    };
    let new =
        NewUser { email: email.clone(), name: "Administrator".into(), role: Role::Admin, organization_id: org.id };
    create_user(conn, now, None, new, hash(&password)?, generated.is_some())?;
    Ok(Bootstrap::Created { email, generated_password: generated })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_printable_and_at_most_200_characters() {
        assert_eq!(clean_name("name", "  Ana María  ").unwrap(), "Ana María");
        assert!(clean_name("name", &"ñ".repeat(200)).is_ok(), "200 characters, 400 bytes");
        assert_eq!(clean_name("name", &"ñ".repeat(201)).unwrap_err().field(), Some("name"));
        for bad in ["", "   ", "Ana\nMaría", "Ana\u{0}"] {
            assert!(clean_name("name", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn emails_get_a_plain_check() {
        assert_eq!(clean_email(" ana@example.org ").unwrap(), "ana@example.org");
        assert!(clean_email("a@b.co").is_ok());
        for bad in [
            "",
            "ana",
            "@example.org",
            "ana@",
            "ana@localhost",
            "ana@@example.org",
            "ana@exa@mple.org",
            "ana@.example.org",
            "ana@example.org.",
            "ana maria@example.org",
            "ana@exam\tple.org",
        ] {
            assert_eq!(clean_email(bad).unwrap_err().code(), "invalid_email", "{bad:?}");
        }
        let local = "a".repeat(254 - "@example.org".len());
        assert!(clean_email(&format!("{local}@example.org")).is_ok(), "254 bytes");
        assert!(clean_email(&format!("{local}a@example.org")).is_err(), "255 bytes");
    }

    #[test]
    fn ids_are_short_and_plain() {
        assert!(is_id(&crate::domain::new_id()));
        assert!(is_id("a"));
        assert!(is_id(&"a".repeat(64)));
        for bad in ["", "a b", "a\u{0}", "../etc", "a_b", "é"] {
            assert!(!is_id(bad), "{bad:?}");
        }
        assert!(!is_id(&"a".repeat(65)));
    }
}
