//! Database rows, one file per table. These are storage shapes, not API shapes: handlers
//! map them to DTOs in `api/`.

pub mod audit_event;
pub mod organization;
pub mod session;
pub mod user;

pub use audit_event::AuditEvent;
pub use organization::Organization;
pub use session::{RefreshToken, Session};
pub use user::User;
