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
    UserResetPassword,
    FormIntakeRead,
    FormIntakeUpdate,
    AuditRead,
    CaseCreate,
    CaseList,
    CaseRead,
    CaseUpdate,
    CaseTransition,
    CaseAssign,
    CaseUnassign,
    CaseShare,
    CaseUnshare,
    NoteCreate,
    NoteList,
    DefenderCreate,
    DefenderList,
    DefenderRead,
    DefenderUpdate,
    AlertCreate,
    AlertList,
    AlertRead,
    AlertTriage,
    AlertDismiss,
    AssessmentCreate,
    AssessmentList,
    AssessmentRead,
    PlanCreate,
    PlanList,
    PlanRead,
    PlanUpdate,
    MeasureCreate,
    MeasureUpdate,
    GrantRequest,
    GrantList,
    GrantRead,
    GrantDecide,
    DisbursementCreate,
    DisbursementList,
    RelocationRequest,
    RelocationList,
    RelocationRead,
    RelocationUpdate,
    VisaCreate,
    VisaList,
    VisaRead,
    VisaUpdate,
    CareCreate,
    CareList,
    CareRead,
    CareUpdate,
    CaseSummary,
    EscalationList,
    EscalationAck,
    CheckinCreate,
    CheckinList,
    CheckinClose,
    MessageSend,
    MessageList,
}

impl Action {
    pub const PROTECTED: [Action; 67] = [
        Action::AuthLogout,
        Action::MeRead,
        Action::MePasswordChange,
        Action::OrganizationCreate,
        Action::OrganizationList,
        Action::UserCreate,
        Action::UserList,
        Action::UserUpdate,
        Action::UserResetPassword,
        Action::FormIntakeRead,
        Action::FormIntakeUpdate,
        Action::AuditRead,
        Action::CaseCreate,
        Action::CaseList,
        Action::CaseRead,
        Action::CaseUpdate,
        Action::CaseTransition,
        Action::CaseAssign,
        Action::CaseUnassign,
        Action::CaseShare,
        Action::CaseUnshare,
        Action::NoteCreate,
        Action::NoteList,
        Action::DefenderCreate,
        Action::DefenderList,
        Action::DefenderRead,
        Action::DefenderUpdate,
        Action::AlertCreate,
        Action::AlertList,
        Action::AlertRead,
        Action::AlertTriage,
        Action::AlertDismiss,
        Action::AssessmentCreate,
        Action::AssessmentList,
        Action::AssessmentRead,
        Action::PlanCreate,
        Action::PlanList,
        Action::PlanRead,
        Action::PlanUpdate,
        Action::MeasureCreate,
        Action::MeasureUpdate,
        Action::GrantRequest,
        Action::GrantList,
        Action::GrantRead,
        Action::GrantDecide,
        Action::DisbursementCreate,
        Action::DisbursementList,
        Action::RelocationRequest,
        Action::RelocationList,
        Action::RelocationRead,
        Action::RelocationUpdate,
        Action::VisaCreate,
        Action::VisaList,
        Action::VisaRead,
        Action::VisaUpdate,
        Action::CareCreate,
        Action::CareList,
        Action::CareRead,
        Action::CareUpdate,
        Action::CaseSummary,
        Action::EscalationList,
        Action::EscalationAck,
        Action::CheckinCreate,
        Action::CheckinList,
        Action::CheckinClose,
        Action::MessageSend,
        Action::MessageList,
    ];

    /// Actions on one object (a case, a defender, an alert): decided by role *and* by the
    /// caller's relation to the object.
    pub const ON_OBJECT: [Action; 47] = [
        Action::CaseRead,
        Action::CaseUpdate,
        Action::CaseTransition,
        Action::CaseAssign,
        Action::CaseUnassign,
        Action::CaseShare,
        Action::CaseUnshare,
        Action::NoteCreate,
        Action::NoteList,
        Action::DefenderRead,
        Action::DefenderUpdate,
        Action::AlertRead,
        Action::AlertTriage,
        Action::AlertDismiss,
        Action::AssessmentCreate,
        Action::AssessmentList,
        Action::AssessmentRead,
        Action::PlanCreate,
        Action::PlanList,
        Action::PlanRead,
        Action::PlanUpdate,
        Action::MeasureCreate,
        Action::MeasureUpdate,
        Action::GrantRequest,
        Action::GrantList,
        Action::GrantRead,
        Action::GrantDecide,
        Action::DisbursementCreate,
        Action::DisbursementList,
        Action::RelocationRequest,
        Action::RelocationList,
        Action::RelocationRead,
        Action::RelocationUpdate,
        Action::VisaCreate,
        Action::VisaList,
        Action::VisaRead,
        Action::VisaUpdate,
        Action::CareCreate,
        Action::CareList,
        Action::CareRead,
        Action::CareUpdate,
        Action::CaseSummary,
        Action::CheckinCreate,
        Action::CheckinList,
        Action::CheckinClose,
        Action::MessageSend,
        Action::MessageList,
    ];

    /// The action that decides whether the object exists at all for the caller.
    pub fn read_action(self) -> Action {
        match self {
            Action::DefenderRead | Action::DefenderUpdate => Action::DefenderRead,
            Action::AlertRead | Action::AlertTriage | Action::AlertDismiss => Action::AlertRead,
            _ => Action::CaseRead,
        }
    }

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
            Action::UserResetPassword => "user.reset_password",
            Action::FormIntakeRead => "form.intake_read",
            Action::FormIntakeUpdate => "form.intake_update",
            Action::AuditRead => "audit.read",
            Action::CaseCreate => "case.create",
            Action::CaseList => "case.list",
            Action::CaseRead => "case.read",
            Action::CaseUpdate => "case.update",
            Action::CaseTransition => "case.transition",
            Action::CaseAssign => "case.assign",
            Action::CaseUnassign => "case.unassign",
            Action::CaseShare => "case.share",
            Action::CaseUnshare => "case.unshare",
            Action::NoteCreate => "note.create",
            Action::NoteList => "note.list",
            Action::DefenderCreate => "defender.create",
            Action::DefenderList => "defender.list",
            Action::DefenderRead => "defender.read",
            Action::DefenderUpdate => "defender.update",
            Action::AlertCreate => "alert.create",
            Action::AlertList => "alert.list",
            Action::AlertRead => "alert.read",
            Action::AlertTriage => "alert.triage",
            Action::AlertDismiss => "alert.dismiss",
            Action::AssessmentCreate => "assessment.create",
            Action::AssessmentList => "assessment.list",
            Action::AssessmentRead => "assessment.read",
            Action::PlanCreate => "plan.create",
            Action::PlanList => "plan.list",
            Action::PlanRead => "plan.read",
            Action::PlanUpdate => "plan.update",
            Action::MeasureCreate => "measure.create",
            Action::MeasureUpdate => "measure.update",
            Action::GrantRequest => "grant.request",
            Action::GrantList => "grant.list",
            Action::GrantRead => "grant.read",
            Action::GrantDecide => "grant.decide",
            Action::DisbursementCreate => "disbursement.create",
            Action::DisbursementList => "disbursement.list",
            Action::RelocationRequest => "relocation.request",
            Action::RelocationList => "relocation.list",
            Action::RelocationRead => "relocation.read",
            Action::RelocationUpdate => "relocation.update",
            Action::VisaCreate => "visa.create",
            Action::VisaList => "visa.list",
            Action::VisaRead => "visa.read",
            Action::VisaUpdate => "visa.update",
            Action::CareCreate => "care.create",
            Action::CareList => "care.list",
            Action::CareRead => "care.read",
            Action::CareUpdate => "care.update",
            Action::CaseSummary => "case.summary",
            Action::EscalationList => "escalation.list",
            Action::EscalationAck => "escalation.ack",
            Action::CheckinCreate => "checkin.create",
            Action::CheckinList => "checkin.list",
            Action::CheckinClose => "checkin.close",
            Action::MessageSend => "message.send",
            Action::MessageList => "message.list",
        }
    }

    /// Actions an account with a one-time password may still perform.
    pub fn allowed_before_password_change(self) -> bool {
        matches!(self, Action::AuthLogout | Action::MeRead | Action::MePasswordChange)
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
            let action = Action::ON_OBJECT
                .into_iter()
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
        if let Some(missing) = Action::ON_OBJECT.into_iter().find(|a| !on_object.contains_key(a)) {
            return Err(format!("access policy: no relations rule for `{}`", missing.as_str()));
        }
        if !(1..=3650).contains(&file.shares.max_days) {
            return Err("access policy: shares.max_days must be from 1 to 3650".into());
        }
        Ok(AccessPolicy { allowed, on_object, share_max_days: file.shares.max_days })
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
