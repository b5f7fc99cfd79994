//! Which organisation receives the web form's alerts, and whether the form is open at all.
//!
//! Haven never accepts a report that no one can read: the receiving organisation must exist
//! and have at least one active coordinator (the only role that may list and triage alerts).
//! Until it does, `/report` shows the closed page, and the start log, `/readyz` and the
//! admin API say why and what to do. Admins choose the organisation while Haven runs
//! (`PUT /api/v1/form/intake`, `haven form intake --org NAME`); that choice is kept in the
//! database, so every instance follows it at once, and it wins over `form.organization`.

use chrono::{DateTime, Utc};

use crate::audit::{self, Entry};
use crate::clock::naive;
use crate::config::Config;
use crate::db::models::{Organization, Setting};
use crate::db::DbConn;
use crate::domain::Role;
use crate::error::AppError;

/// The `service_settings` key of the receiving organisation's id.
const KEY: &str = "form.intake_organization_id";

/// Where the choice of organisation came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Set by an admin while Haven runs.
    Admin,
    /// `form.organization` in the configuration.
    Config,
    /// Neither: the organisation made on first start (`admin.organization_name`).
    Default,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Admin => "admin",
            Source::Config => "config",
            Source::Default => "default",
        }
    }
}

#[derive(Debug, Clone)]
pub enum Intake {
    Open {
        organization: Organization,
        source: Source,
    },
    /// The organisation named does not exist.
    NoOrganization {
        wanted: String,
        source: Source,
    },
    /// It exists, but nobody could read what the form would put there.
    NoCoordinator {
        organization: Organization,
        source: Source,
    },
}

impl Intake {
    /// The receiving organisation's id while the form is open.
    pub fn open_for(&self) -> Option<&str> {
        match self {
            Intake::Open { organization, .. } => Some(&organization.id),
            _ => None,
        }
    }

    pub fn source(&self) -> Source {
        match self {
            Intake::Open { source, .. }
            | Intake::NoOrganization { source, .. }
            | Intake::NoCoordinator { source, .. } => *source,
        }
    }

    /// Why the form is closed and what to do, for admins and the start log (names the
    /// organisation); None while it is open.
    pub fn explain(&self) -> Option<String> {
        match self {
            Intake::Open { .. } => None,
            Intake::NoOrganization { wanted, .. } => Some(format!(
                "the web form is closed: no organisation `{wanted}` exists to receive its alerts; choose one with \
                 `haven form intake --org NAME` or PUT /api/v1/form/intake"
            )),
            Intake::NoCoordinator { organization, .. } => Some(format!(
                "the web form is closed: `{}` has no active coordinator to read its alerts; create one (haven user \
                 create --role coordinator --org \"{}\") or choose another organisation with `haven form intake --org \
                 NAME`",
                organization.name, organization.name
            )),
        }
    }

    /// The same for anyone (`/readyz`): no names.
    pub fn public_reason(&self) -> Option<&'static str> {
        match self {
            Intake::Open { .. } => None,
            Intake::NoOrganization { .. } => Some("the web form has no receiving organisation"),
            Intake::NoCoordinator { .. } => Some("the web form's receiving organisation has no active coordinator"),
        }
    }
}

fn find_org(conn: &mut DbConn, wanted: &str) -> Result<Option<Organization>, AppError> {
    if crate::domain::accounts::is_id(wanted) {
        if let Some(o) = Organization::find(conn, wanted)? {
            return Ok(Some(o));
        }
    }
    Ok(Organization::find_by_name(conn, wanted)?)
}

pub fn active_coordinators(conn: &mut DbConn, organization_id: &str) -> Result<i64, AppError> {
    Ok(crate::db::models::User::count_active(conn, Some(organization_id), Role::Coordinator.as_str())?)
}

/// The form's state now: three small lookups, so a deactivated last coordinator closes the
/// form on the next request, on every instance.
pub fn status(conn: &mut DbConn, config: &Config) -> Result<Intake, AppError> {
    let (wanted, source) = match Setting::get(conn, KEY)? {
        Some(s) => (s.value, Source::Admin),
        None if !config.form.organization.is_empty() => (config.form.organization.clone(), Source::Config),
        None => (config.admin.organization_name.clone(), Source::Default),
    };
    let Some(organization) = find_org(conn, &wanted)? else {
        return Ok(Intake::NoOrganization { wanted, source });
    };
    if active_coordinators(conn, &organization.id)? == 0 {
        return Ok(Intake::NoCoordinator { organization, source });
    }
    Ok(Intake::Open { organization, source })
}

/// Points the form at an organisation (by id or exact name), which must have an active
/// coordinator; audited. `actor` is None from the command line.
pub fn set(conn: &mut DbConn, now: DateTime<Utc>, actor: Option<&str>, wanted: &str) -> Result<Organization, AppError> {
    let organization = find_org(conn, wanted)?.ok_or_else(|| {
        AppError::unprocessable("unknown_organization", "organization_id does not name an organization")
    })?;
    if active_coordinators(conn, &organization.id)? == 0 {
        return Err(AppError::unprocessable(
            "no_coordinator",
            "this organization has no active coordinator: nobody could read the alerts the form would give it",
        ));
    }
    Setting {
        key: KEY.into(),
        value: organization.id.clone(),
        updated_by: actor.map(str::to_string),
        updated_at: naive(now),
    }
    .put(conn)?;
    let detail = serde_json::json!({ "organization_id": organization.id });
    audit::record(
        conn,
        now,
        Entry::new(actor, "form.intake_update", "organization", Some(&organization.id)).detail(detail),
    )?;
    Ok(organization)
}
