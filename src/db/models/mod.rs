//! Database rows, one file per table. These are storage shapes, not API shapes: handlers
//! map them to DTOs in `api/`.

pub mod alert;
pub mod audit_event;
pub mod case;
pub mod case_key;
pub mod case_note;
pub mod checkin;
pub mod deadline;
pub mod defender;
pub mod escalation;
pub mod grant;
pub mod idempotency_key;
pub mod message;
pub mod organization;
pub mod receipt;
pub mod relocation;
pub mod risk_assessment;
pub mod security_plan;
pub mod service_key;
pub mod session;
pub mod setting;
pub mod throttle;
pub mod timeline;
pub mod user;
pub mod user_mfa;

pub use alert::Alert;
pub use audit_event::AuditEvent;
pub use case::{Case, CaseAssignee, CaseShare, CaseTransition};
pub use case_key::{CaseKey, CaseKeyGrant};
pub use case_note::CaseNote;
pub use checkin::Checkin;
pub use defender::Defender;
pub use escalation::{Escalation, OutboxMessage};
pub use grant::{Disbursement, Grant};
pub use idempotency_key::IdempotencyKey;
pub use message::Message;
pub use organization::Organization;
pub use receipt::{FormSubmission, Receipt};
pub use relocation::{PsychosocialCare, Relocation, Visa};
pub use risk_assessment::RiskAssessment;
pub use security_plan::{PlanMeasure, SecurityPlan};
pub use service_key::ServiceKey;
pub use session::{RefreshToken, Session};
pub use setting::Setting;
pub use user::User;
pub use user_mfa::{RecoveryCode, UserTotp};
