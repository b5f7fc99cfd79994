//! The access decision. Every route names an [`Action`]; this module decides whether a role
//! may perform it, from the declarative rules in `policies/access.toml`. Object-level
//! need-to-know (which cases a user may see) is layered on top by the resource modules and
//! must also come through here.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde::Deserialize;

use crate::domain::Role;

/// What a route does. `Public` routes take no token; every other action needs a session
/// and a rule in `policies/access.toml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Public,
    AuthLogout,
    MeRead,
    MePasswordChange,
    OrganizationCreate,
    OrganizationList,
    UserCreate,
    UserList,
    UserUpdate,
    AuditRead,
}

impl Action {
    pub const PROTECTED: [Action; 9] = [
        Action::AuthLogout,
        Action::MeRead,
        Action::MePasswordChange,
        Action::OrganizationCreate,
        Action::OrganizationList,
        Action::UserCreate,
        Action::UserList,
        Action::UserUpdate,
        Action::AuditRead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Public => "public",
            Action::AuthLogout => "auth.logout",
            Action::MeRead => "me.read",
            Action::MePasswordChange => "me.password_change",
            Action::OrganizationCreate => "organization.create",
            Action::OrganizationList => "organization.list",
            Action::UserCreate => "user.create",
            Action::UserList => "user.list",
            Action::UserUpdate => "user.update",
            Action::AuditRead => "audit.read",
        }
    }

    /// Actions an account with a one-time password may still perform.
    pub fn allowed_before_password_change(self) -> bool {
        matches!(self, Action::AuthLogout | Action::MeRead | Action::MePasswordChange)
    }

    /// Actions that change state: a refusal of one is itself audited.
    pub fn is_mutation(self) -> bool {
        matches!(
            self,
            Action::AuthLogout
                | Action::MePasswordChange
                | Action::OrganizationCreate
                | Action::UserCreate
                | Action::UserUpdate
        )
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccessFile {
    actions: HashMap<String, Vec<String>>,
}

/// Role rules, loaded once and checked complete at start.
#[derive(Debug, Clone)]
pub struct AccessPolicy {
    allowed: HashMap<Action, HashSet<Role>>,
}

pub const DEFAULT_ACCESS_POLICY: &str = include_str!("../../policies/access.toml");

impl AccessPolicy {
    pub fn parse(text: &str) -> Result<Self, String> {
        let file: AccessFile = toml::from_str(text).map_err(|e| format!("access policy: {e}"))?;
        let mut allowed = HashMap::new();
        for (name, roles) in file.actions {
            let action = Action::PROTECTED
                .into_iter()
                .find(|a| a.as_str() == name)
                .ok_or_else(|| format!("access policy: unknown action `{name}`"))?;
            let mut set = HashSet::new();
            for r in roles {
                set.insert(Role::parse(&r).ok_or_else(|| format!("access policy: `{name}`: unknown role `{r}`"))?);
            }
            allowed.insert(action, set);
        }
        if let Some(missing) = Action::PROTECTED.into_iter().find(|a| !allowed.contains_key(a)) {
            return Err(format!("access policy: no rule for action `{}`", missing.as_str()));
        }
        Ok(AccessPolicy { allowed })
    }

    /// `<dir>/access.toml` when it exists, otherwise the rules built into the binary.
    pub fn load(dir: Option<&Path>) -> Result<Self, String> {
        match dir.map(|d| d.join("access.toml")).filter(|p| p.exists()) {
            Some(p) => {
                let text = std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
                Self::parse(&text)
            }
            None => Self::parse(DEFAULT_ACCESS_POLICY),
        }
    }

    pub fn permits(&self, role: Role, action: Action) -> bool {
        action == Action::Public || self.allowed.get(&action).is_some_and(|roles| roles.contains(&role))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_policy_covers_every_action() {
        let p = AccessPolicy::parse(DEFAULT_ACCESS_POLICY).unwrap();
        assert!(p.permits(Role::Admin, Action::UserCreate));
        assert!(!p.permits(Role::Officer, Action::UserCreate));
        assert!(p.permits(Role::Auditor, Action::AuditRead));
        assert!(!p.permits(Role::Coordinator, Action::AuditRead));
    }

    #[test]
    fn incomplete_or_unknown_rules_are_refused() {
        assert!(AccessPolicy::parse("[actions]\n\"me.read\" = [\"admin\"]\n").unwrap_err().contains("no rule"));
        let bad = DEFAULT_ACCESS_POLICY.replace("\"auditor\"]", "\"auditor\", \"root\"]");
        assert!(AccessPolicy::parse(&bad).unwrap_err().contains("root"));
        let unknown = format!("{DEFAULT_ACCESS_POLICY}\n\"case.fly\" = [\"admin\"]\n");
        assert!(AccessPolicy::parse(&unknown).unwrap_err().contains("case.fly"));
    }
}
