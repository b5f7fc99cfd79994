//! Business rules that tests call without HTTP. Handlers in `api/` parse, authorize, call
//! these, and map the result.

/// A string-valued enum as stored in the database and sent over the API: serde in
/// snake_case, an OpenAPI schema, `as_str` and `parse`. Defined before the modules below so
/// that they can all use it.
macro_rules! str_enum {
    ($name:ident { $($variant:ident => $s:literal),+ $(,)? }) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $s),+ }
            }
            pub fn parse(s: &str) -> Option<Self> {
                [$($name::$variant),+].into_iter().find(|x| x.as_str() == s)
            }
        }
    };
}

pub mod access;
pub mod accounts;
pub mod alerts;
pub mod assessments;
pub mod cases;
pub mod checkins;
pub mod country;
pub mod defenders;
pub mod grants;
pub mod intake;
pub mod legacy;
pub mod messages;
pub mod plans;
pub mod portal;
pub mod relocation;
pub mod summary;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Coordinator,
    Officer,
    Auditor,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Admin, Role::Coordinator, Role::Officer, Role::Auditor];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Coordinator => "coordinator",
            Role::Officer => "officer",
            Role::Auditor => "auditor",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrganizationKind {
    Embassy,
    UnAgency,
    Ngo,
    Other,
}

impl OrganizationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OrganizationKind::Embassy => "embassy",
            OrganizationKind::UnAgency => "un_agency",
            OrganizationKind::Ngo => "ngo",
            OrganizationKind::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Embassy, Self::UnAgency, Self::Ngo, Self::Other].into_iter().find(|k| k.as_str() == s)
    }
}

/// Opaque ids: UUID v7, so ids sort by creation time and make stable cursors.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Dates from clients must lie between 1900 and 9999: beyond that they are typos, and far
/// enough beyond, PostgreSQL cannot store them (which would be a 500 instead of a 400).
pub fn check_date(field: &'static str, t: chrono::DateTime<chrono::Utc>) -> Result<(), crate::error::AppError> {
    use chrono::Datelike;
    if (1900..=9999).contains(&t.year()) {
        Ok(())
    } else {
        Err(crate::error::AppError::unprocessable(
            "invalid_date",
            format!("{field} must be a date between the years 1900 and 9999"),
        ))
    }
}
