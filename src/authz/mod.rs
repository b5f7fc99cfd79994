//! The access decision. Every route names an [`Action`]; this module decides whether a role
//! may perform it, from the declarative rules in `policies/access.toml`. Object-level
//! need-to-know (which cases a user may see) is layered on top by the resource modules and
//! must also come through here.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde::Deserialize;

use crate::domain::Role;

/// Declares `Action` and its lists from one table: each action, its name in
/// `policies/access.toml` and the audit log, and `on_object` for actions decided by role *and*
/// by the caller's relation to one object (a case, a defender, an alert).
macro_rules! actions {
    ($($variant:ident => $name:literal $($on_object:ident)?,)+) => {
        /// What a route does. `Public` routes take no token; every other action needs a session
        /// and a rule in `policies/access.toml`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Action {
            Public,
            $($variant,)+
        }

        impl Action {
            /// Every action but `Public`: each needs a rule in `policies/access.toml`.
            pub const PROTECTED: [Action; [$($name),+].len()] = [$(Action::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    Action::Public => "public",
                    $(Action::$variant => $name,)+
                }
            }

            /// Decided by role and by the caller's relation to the object.
            pub fn on_object(self) -> bool {
                match self {
                    Action::Public => false,
                    $(Action::$variant => actions!(@on_object $($on_object)?),)+
                }
            }
        }
    };
    (@on_object on_object) => { true };
    (@on_object) => { false };
}

actions! {
    AuthLogout => "auth.logout",
    MeRead => "me.read",
    MePasswordChange => "me.password_change",
    MeMfaEnroll => "me.mfa_enroll",
    MeMfaDisable => "me.mfa_disable",
    OrganizationCreate => "organization.create",
    OrganizationList => "organization.list",
    UserCreate => "user.create",
    UserList => "user.list",
    UserUpdate => "user.update",
    UserResetPassword => "user.reset_password",
    UserMfaReset => "user.mfa_reset",
    FormIntakeRead => "form.intake_read",
    FormIntakeUpdate => "form.intake_update",
    AuditRead => "audit.read",
    CaseCreate => "case.create",
    CaseList => "case.list",
    CaseRead => "case.read" on_object,
    CaseUpdate => "case.update" on_object,
    CaseTransition => "case.transition" on_object,
    CaseAssign => "case.assign" on_object,
    CaseUnassign => "case.unassign" on_object,
    CaseShare => "case.share" on_object,
    CaseUnshare => "case.unshare" on_object,
    NoteCreate => "note.create" on_object,
    NoteList => "note.list" on_object,
    DefenderCreate => "defender.create",
    DefenderList => "defender.list",
    DefenderRead => "defender.read" on_object,
    DefenderUpdate => "defender.update" on_object,
    AlertCreate => "alert.create",
    AlertList => "alert.list",
    AlertRead => "alert.read" on_object,
    AlertTriage => "alert.triage" on_object,
    AlertDismiss => "alert.dismiss" on_object,
    AlertMessages => "alert.messages" on_object,
    AssessmentCreate => "assessment.create" on_object,
    AssessmentList => "assessment.list" on_object,
    AssessmentRead => "assessment.read" on_object,
    PlanCreate => "plan.create" on_object,
    PlanList => "plan.list" on_object,
    PlanRead => "plan.read" on_object,
    PlanUpdate => "plan.update" on_object,
    MeasureCreate => "measure.create" on_object,
    MeasureUpdate => "measure.update" on_object,
    GrantRequest => "grant.request" on_object,
    GrantList => "grant.list" on_object,
    GrantRead => "grant.read" on_object,
    GrantDecide => "grant.decide" on_object,
    DisbursementCreate => "disbursement.create" on_object,
    DisbursementList => "disbursement.list" on_object,
    RelocationRequest => "relocation.request" on_object,
    RelocationList => "relocation.list" on_object,
    RelocationRead => "relocation.read" on_object,
    RelocationUpdate => "relocation.update" on_object,
    VisaCreate => "visa.create" on_object,
    VisaList => "visa.list" on_object,
    VisaRead => "visa.read" on_object,
    VisaUpdate => "visa.update" on_object,
    CareCreate => "care.create" on_object,
    CareList => "care.list" on_object,
    CareRead => "care.read" on_object,
    CareUpdate => "care.update" on_object,
    CaseSummary => "case.summary" on_object,
    EscalationList => "escalation.list",
    EscalationAck => "escalation.ack",
    CheckinCreate => "checkin.create" on_object,
    CheckinList => "checkin.list" on_object,
    CheckinClose => "checkin.close" on_object,
    MessageSend => "message.send" on_object,
    MessageList => "message.list" on_object,
}

impl Action {
    /// The actions decided on one object, in declaration order.
    pub fn on_object_actions() -> impl Iterator<Item = Action> {
        Action::PROTECTED.into_iter().filter(|a| a.on_object())
    }

    /// The action that decides whether the object exists at all for the caller.
    pub fn read_action(self) -> Action {
        match self {
            Action::DefenderRead | Action::DefenderUpdate => Action::DefenderRead,
            Action::AlertRead | Action::AlertTriage | Action::AlertDismiss | Action::AlertMessages => Action::AlertRead,
            _ => Action::CaseRead,
        }
    }

    /// Actions an account with a one-time password may still perform.
    pub fn allowed_before_password_change(self) -> bool {
        matches!(self, Action::AuthLogout | Action::MeRead | Action::MePasswordChange)
    }

    /// Actions an account that must use a second factor may perform before she has one:
    /// read herself, change her password, enrol, sign out.
    pub fn allowed_before_mfa_enrollment(self) -> bool {
        matches!(self, Action::AuthLogout | Action::MeRead | Action::MePasswordChange | Action::MeMfaEnroll)
    }
}

/// How a user stands to one object. Need-to-know: with no relation that allows reading it,
/// the object does not exist for her (404, so ids cannot be probed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Relation {
    /// A coordinator of the organisation that owns the case.
    OwnerCoordinator,
    /// Assigned to the case.
    Assignee,
    /// A member of an organisation the case is shared with, while the share is live.
    SharedOrg,
    /// (Defenders and alerts) may read a case the defender or alert is linked to.
    CaseReader,
}

impl Relation {
    pub const ALL: [Relation; 4] =
        [Relation::OwnerCoordinator, Relation::Assignee, Relation::SharedOrg, Relation::CaseReader];

    pub fn as_str(self) -> &'static str {
        match self {
            Relation::OwnerCoordinator => "owner_coordinator",
            Relation::Assignee => "assignee",
            Relation::SharedOrg => "shared_org",
            Relation::CaseReader => "case_reader",
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccessFile {
    actions: HashMap<String, Vec<String>>,
    relations: HashMap<String, Vec<String>>,
    #[serde(default)]
    shares: SharesFile,
    #[serde(default)]
    mfa: MfaFile,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MfaFile {
    /// The roles that must sign in with a second factor.
    required_roles: Vec<String>,
}

impl Default for MfaFile {
    /// Without an `[mfa]` section: admins and coordinators, who open every case file.
    fn default() -> Self {
        MfaFile { required_roles: vec!["admin".into(), "coordinator".into()] }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SharesFile {
    /// How far ahead a share may end: a longer one must be renewed with a new consent.
    max_days: u32,
}

impl Default for SharesFile {
    fn default() -> Self {
        SharesFile { max_days: DEFAULT_SHARE_MAX_DAYS }
    }
}

/// A share's longest life when the access policy names none.
pub const DEFAULT_SHARE_MAX_DAYS: u32 = 365;

/// Role rules and case-relation rules, loaded once and checked complete at start.
#[derive(Debug, Clone)]
pub struct AccessPolicy {
    allowed: HashMap<Action, HashSet<Role>>,
    on_object: HashMap<Action, HashSet<Relation>>,
    share_max_days: u32,
    mfa_roles: HashSet<Role>,
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
        let mut on_object = HashMap::new();
        for (name, relations) in file.relations {
            let action = Action::on_object_actions()
                .find(|a| a.as_str() == name)
                .ok_or_else(|| format!("access policy: relations: `{name}` is not an action on one object"))?;
            let mut set = HashSet::new();
            for r in relations {
                let rel = Relation::ALL
                    .into_iter()
                    .find(|x| x.as_str() == r)
                    .ok_or_else(|| format!("access policy: relations `{name}`: unknown relation `{r}`"))?;
                set.insert(rel);
            }
            on_object.insert(action, set);
        }
        if let Some(missing) = Action::on_object_actions().find(|a| !on_object.contains_key(a)) {
            return Err(format!("access policy: no relations rule for `{}`", missing.as_str()));
        }
        if !(1..=3650).contains(&file.shares.max_days) {
            return Err("access policy: shares.max_days must be from 1 to 3650".into());
        }
        let mut mfa_roles = HashSet::new();
        for r in file.mfa.required_roles {
            mfa_roles.insert(Role::parse(&r).ok_or_else(|| format!("access policy: mfa: unknown role `{r}`"))?);
        }
        Ok(AccessPolicy { allowed, on_object, share_max_days: file.shares.max_days, mfa_roles })
    }

    /// `<dir>/access.toml` when it exists, otherwise the rules built into the binary.
    pub fn load(dir: Option<&Path>) -> Result<Self, String> {
        let (text, from) = crate::policy::read(dir, "access.toml", DEFAULT_ACCESS_POLICY)?;
        Self::parse(&text).map_err(|e| format!("{from}: {e}"))
    }

    /// How many days ahead a share may end at most.
    pub fn share_max_days(&self) -> u32 {
        self.share_max_days
    }

    /// Whether this role must sign in with a second factor (`[mfa] required_roles`).
    pub fn requires_mfa(&self, role: Role) -> bool {
        self.mfa_roles.contains(&role)
    }

    pub fn permits(&self, role: Role, action: Action) -> bool {
        action == Action::Public || self.allowed.get(&action).is_some_and(|roles| roles.contains(&role))
    }

    /// The decision for one object: `NotFound` when the caller has no relation that lets her
    /// even read it, `Forbidden` when she may read it but not do this.
    pub fn decide_on_object(&self, relations: &[Relation], action: Action) -> Decision {
        let grants =
            |a: Action| self.on_object.get(&a).is_some_and(|allowed| relations.iter().any(|r| allowed.contains(r)));
        if grants(action) {
            Decision::Allow
        } else if grants(action.read_action()) {
            Decision::Forbidden
        } else {
            Decision::NotFound
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Forbidden,
    NotFound,
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
        assert!(AccessPolicy::parse("[actions]\n\"me.read\" = [\"admin\"]\n[relations]\n")
            .unwrap_err()
            .contains("no rule"));
        let bad = DEFAULT_ACCESS_POLICY.replace("\"auditor\"]", "\"auditor\", \"root\"]");
        assert!(AccessPolicy::parse(&bad).unwrap_err().contains("root"));
        let unknown = DEFAULT_ACCESS_POLICY.replace("[actions]\n", "[actions]\n\"case.fly\" = [\"admin\"]\n");
        assert!(AccessPolicy::parse(&unknown).unwrap_err().contains("case.fly"));
        let bad_rel = DEFAULT_ACCESS_POLICY.replace("\"shared_org\"]", "\"shared_org\", \"anyone\"]");
        assert!(AccessPolicy::parse(&bad_rel).unwrap_err().contains("anyone"));
    }

    #[test]
    fn case_decisions() {
        let p = AccessPolicy::parse(DEFAULT_ACCESS_POLICY).unwrap();
        use Decision::*;
        assert_eq!(p.decide_on_object(&[], Action::CaseRead), NotFound);
        assert_eq!(p.decide_on_object(&[], Action::CaseShare), NotFound);
        assert_eq!(p.decide_on_object(&[Relation::SharedOrg], Action::CaseRead), Allow);
        assert_eq!(p.decide_on_object(&[Relation::SharedOrg], Action::CaseShare), Forbidden);
        assert_eq!(p.decide_on_object(&[Relation::OwnerCoordinator], Action::CaseShare), Allow);
        assert_eq!(p.decide_on_object(&[Relation::Assignee], Action::NoteCreate), Allow);
    }
}
