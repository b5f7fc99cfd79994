//! Business rules that tests call without HTTP. Handlers in `api/` parse, authorize, call
//! these, and map the result.

/// A string-valued enum as stored in the database and sent over the API: serde in
/// snake_case, an OpenAPI schema, `as_str` and `parse`. Defined before the modules below so
/// that they can all use it.
macro_rules! str_enum {
    ($(#[$meta:meta])* $name:ident $([$($derive:ident),+])? { $($variant:ident => $s:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema $($(, $derive)+)?)]
        pub enum $name { $(#[serde(rename = $s)] $variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: [$name; [$($s),+].len()] = [$($name::$variant),+];

            /// The stored and wire form.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $s),+ }
            }

            pub fn parse(s: &str) -> Option<Self> {
                Self::ALL.into_iter().find(|x| x.as_str() == s)
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
pub mod escalations;
pub mod grants;
pub mod intake;
pub mod legacy;
pub mod messages;
pub mod plans;
pub mod portal;
pub mod relocation;
pub mod summary;

str_enum!(
    /// What an account may do; see `policies/access.toml`.
    Role [Hash] { Admin => "admin", Coordinator => "coordinator", Officer => "officer", Auditor => "auditor" }
);
str_enum!(OrganizationKind { Embassy => "embassy", UnAgency => "un_agency", Ngo => "ngo", Other => "other" });

/// What every change needs besides the connection, who acts and the change's own input: the
/// keys that seal, the rules that decide access, risk, funding and escalation, and the time.
/// Each door builds one per request (`AppState::ctx`); a domain function reads from it only
/// what it uses, and no door passes these pieces one by one.
pub struct Ctx<'a> {
    pub crypto: &'a crate::crypto::Crypto,
    pub access: &'a crate::authz::AccessPolicy,
    pub risk: &'a crate::policy::risk::RiskPolicy,
    pub funding: &'a crate::policy::funding::FundingPolicy,
    /// The escalation rules in force when the change began (a reload during it does not
    /// change them halfway).
    pub rules: std::sync::Arc<crate::escalation::Rules>,
    pub now: chrono::DateTime<chrono::Utc>,
}

/// Opaque ids: UUID v7, so ids sort by creation time and make stable cursors.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// The last second (UTC) of the day `t` falls on. Limits counted in days ("at most 90 days
/// ahead") allow the whole of their last day, since a client may give a bare date, which
/// means that day's end.
pub fn end_of_day(t: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
    t.date_naive().and_hms_opt(23, 59, 59).map_or(t, |d| d.and_utc())
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
