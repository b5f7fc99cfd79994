//! The one error type of the service.
//!
//! Policy: a client sees a stable machine-readable code and a short human message, never a
//! cause. Internal and unavailable errors are logged here, with their cause chain, and leave
//! as a bare 500/503. A client's mistake is always a 4xx. Messages must never echo secrets,
//! tokens, receipts or plaintext of sensitive fields.

use std::borrow::Cow;

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Malformed input: bad JSON, unknown field, invalid value. `field` is the path of the
    /// field at fault (`threats[1].likelihood`) when there is one.
    #[error("{code}: {message}")]
    BadRequest { code: &'static str, message: Cow<'static, str>, field: Option<Cow<'static, str>> },
    /// Missing, invalid, expired or revoked credentials.
    #[error("unauthorized: {0}")]
    Unauthorized(&'static str),
    /// Authenticated, but this action is not allowed for this account.
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    #[error("method not allowed")]
    MethodNotAllowed,
    /// Carries its code, e.g. `user_not_found`. Also used for objects the caller may not
    /// see, so that existence is not revealed.
    #[error("not found: {0}")]
    NotFound(&'static str),
    #[error("{code}: {message}")]
    Conflict { code: &'static str, message: Cow<'static, str> },
    /// Well-formed but not acceptable: a value out of range, a date in the past.
    #[error("{code}: {message}")]
    Unprocessable { code: &'static str, message: Cow<'static, str>, field: Option<Cow<'static, str>> },
    /// A body sent as something other than JSON.
    #[error("unsupported content type")]
    UnsupportedMediaType,
    /// An `If-Match` that no longer matches: someone changed the object first.
    #[error("precondition failed")]
    PreconditionFailed,
    /// A workflow step that is not allowed from the current status.
    #[error("invalid transition from {from}")]
    InvalidTransition { from: &'static str, allowed: Vec<&'static str> },
    /// The object existed but is gone for good (a shredded case).
    #[error("gone: {0}")]
    Gone(&'static str),
    #[error("payload too large")]
    PayloadTooLarge,
    #[error("too many requests")]
    TooManyRequests { retry_after_secs: u64 },
    /// A dependency (the database) is down; the cause is logged.
    #[error("unavailable: {0}")]
    Unavailable(anyhow::Error),
    /// A bug or an unexpected failure; the cause is logged.
    #[error("internal: {0}")]
    Internal(anyhow::Error),
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    message: &'a str,
    /// For `invalid_transition`: the statuses that are allowed from here.
    #[serde(skip_serializing_if = "Option::is_none")]
    allowed: Option<&'a [&'static str]>,
    /// For a bad or unacceptable value: the path of the field, e.g. `threats[1].likelihood`.
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl AppError {
    pub fn bad_request(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        AppError::BadRequest { code, message: message.into(), field: None }
    }

    pub fn conflict(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        AppError::Conflict { code, message: message.into() }
    }

    pub fn unprocessable(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        AppError::Unprocessable { code, message: message.into(), field: None }
    }

    /// `invalid_field` for the field at `path`: "{path} {problem}", with `field` set.
    pub fn invalid_field(path: impl Into<Cow<'static, str>>, problem: &str) -> Self {
        let path = path.into();
        AppError::Unprocessable {
            code: "invalid_field",
            message: format!("{path} {problem}").into(),
            field: Some(path),
        }
    }

    /// The same error, naming the field at fault.
    pub fn at(self, path: impl Into<Cow<'static, str>>) -> Self {
        match self {
            AppError::BadRequest { code, message, .. } => {
                AppError::BadRequest { code, message, field: Some(path.into()) }
            }
            AppError::Unprocessable { code, message, .. } => {
                AppError::Unprocessable { code, message, field: Some(path.into()) }
            }
            other => other,
        }
    }

    /// The field at fault, if the error names one.
    pub fn field(&self) -> Option<&str> {
        match self {
            AppError::BadRequest { field, .. } | AppError::Unprocessable { field, .. } => field.as_deref(),
            _ => None,
        }
    }

    pub fn internal(e: impl Into<anyhow::Error>) -> Self {
        AppError::Internal(e.into())
    }

    /// Logs the cause of a server-side failure (never anything the client sent); every
    /// answer to an error, JSON or HTML, goes through here.
    pub fn log_cause(&self) {
        match self {
            AppError::Internal(cause) => tracing::error!(error = %format!("{cause:#}"), "internal error"),
            AppError::Unavailable(cause) => tracing::warn!(error = %format!("{cause:#}"), "dependency unavailable"),
            _ => {}
        }
    }

    /// The stable code clients switch on.
    pub fn code(&self) -> &str {
        match self {
            AppError::BadRequest { code, .. } => code,
            AppError::Unauthorized(code) => code,
            AppError::Forbidden(code) => code,
            AppError::MethodNotAllowed => "method_not_allowed",
            AppError::NotFound(code) => code,
            AppError::Conflict { code, .. } => code,
            AppError::Unprocessable { code, .. } => code,
            AppError::UnsupportedMediaType => "unsupported_content_type",
            AppError::Gone(code) => code,
            AppError::PreconditionFailed => "precondition_failed",
            AppError::InvalidTransition { .. } => "invalid_transition",
            AppError::PayloadTooLarge => "payload_too_large",
            AppError::TooManyRequests { .. } => "too_many_requests",
            AppError::Unavailable(_) => "unavailable",
            AppError::Internal(_) => "internal_error",
        }
    }

    fn message(&self) -> Cow<'_, str> {
        match self {
            AppError::BadRequest { message, .. }
            | AppError::Conflict { message, .. }
            | AppError::Unprocessable { message, .. } => Cow::Borrowed(message),
            AppError::Unauthorized("mfa_required") => {
                Cow::Borrowed("this account signs in with a second factor: send totp_code or recovery_code")
            }
            AppError::Unauthorized("mfa_invalid") => Cow::Borrowed("the code is wrong, expired or already used"),
            AppError::Unauthorized(_) => Cow::Borrowed("authentication required"),
            AppError::Forbidden("mfa_enrollment_required") => Cow::Borrowed(
                "enrol a second factor (POST /api/v1/me/mfa/totp, then /api/v1/me/mfa/totp/confirm) before anything else",
            ),
            AppError::Forbidden("password_change_required") => {
                Cow::Borrowed("choose a new password (POST /api/v1/me/password) before anything else")
            }
            AppError::Forbidden("approval_by_author") => {
                Cow::Borrowed("a plan is approved by a coordinator other than its author")
            }
            AppError::Forbidden("approval_needs_coordinator") => {
                Cow::Borrowed("only a coordinator of the case's own organisation may approve this")
            }
            AppError::Forbidden("decision_needs_coordinator") => Cow::Borrowed("only a coordinator may decide a grant"),
            AppError::Forbidden("wrong_password") => Cow::Borrowed("the current password is not correct"),
            AppError::Forbidden(_) => Cow::Borrowed("your role does not allow this, or not on this record"),
            AppError::UnsupportedMediaType => Cow::Borrowed("send the body as Content-Type: application/json"),
            AppError::MethodNotAllowed => Cow::Borrowed("method not allowed on this resource"),
            AppError::NotFound(_) => Cow::Borrowed("not found"),
            AppError::Gone(_) => Cow::Borrowed("this record is no longer available"),
            AppError::PreconditionFailed => {
                Cow::Borrowed("the object changed since you read it; read it again and retry")
            }
            AppError::InvalidTransition { from, .. } => Cow::Owned(format!("not allowed from status {from}")),
            AppError::PayloadTooLarge => Cow::Borrowed("request body too large"),
            AppError::TooManyRequests { .. } => Cow::Borrowed("too many attempts; try again later"),
            AppError::Unavailable(_) => Cow::Borrowed("service temporarily unavailable"),
            AppError::Internal(_) => Cow::Borrowed("internal error"),
        }
    }
}

/// Database failures that are the database's state, not a bug or the client's request: a
/// connection dropped or restarted, a full disk, a read-only file, a lock not obtained in
/// time, a deadlock or serialization failure. They answer 503 with a retry hint; the pool
/// replaces dead connections on its own. By kind where diesel gives one (it maps SQLSTATE
/// 40001 and 08xxx, and a connection gone bad), by the message otherwise: on PostgreSQL,
/// `db::english_messages` keeps those untranslated (diesel 2.3 does not expose SQLSTATE).
fn database_unavailable(e: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    match e {
        Error::DatabaseError(DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::SerializationFailure, _)
        | Error::BrokenTransactionManager => true,
        Error::DatabaseError(_, info) => {
            let m = info.message().to_ascii_lowercase();
            [
                "terminating connection",
                "server closed the connection",
                "connection to server",
                "no connection to the server",
                "could not receive data",
                "could not send data",
                "the database system is shutting down",
                "the database system is starting up",
                "cannot execute",
                "database or disk is full",
                "disk i/o error",
                "readonly database",
                "database is locked",
                // A lock or statement timeout, or an administrator's cancel (55P03, 57014),
                // a lock not available at once (55P03 with NOWAIT), a deadlock (40P01).
                "canceling statement due to",
                "could not obtain lock",
                "deadlock detected",
                "sorry, too many clients",
                "remaining connection slots are reserved",
            ]
            .iter()
            .any(|needle| m.contains(needle))
        }
        _ => false,
    }
}

impl From<diesel::result::Error> for AppError {
    /// A unique violation that no caller anticipated is two requests racing for the same
    /// slot (the same assignee, share or version): a 409 to retry, not a 500.
    fn from(e: diesel::result::Error) -> Self {
        match e {
            diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _) => {
                AppError::conflict(
                    "concurrent_change",
                    "someone changed this at the same moment; read it again and retry",
                )
            }
            other if database_unavailable(&other) => AppError::Unavailable(other.into()),
            other => AppError::Internal(other.into()),
        }
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            AppError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Conflict { .. } => StatusCode::CONFLICT,
            AppError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::Gone(_) => StatusCode::GONE,
            AppError::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            AppError::InvalidTransition { .. } => StatusCode::CONFLICT,
            AppError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        self.log_cause();
        let mut res = HttpResponse::build(self.status_code());
        if let AppError::TooManyRequests { retry_after_secs } = self {
            res.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
        }
        if let AppError::Unauthorized(_) = self {
            res.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        if let AppError::Unavailable(_) = self {
            res.insert_header((header::RETRY_AFTER, "5"));
        }
        let allowed = match self {
            AppError::InvalidTransition { allowed, .. } => Some(allowed.as_slice()),
            _ => None,
        };
        let body = ErrorBody { error: self.code(), message: &self.message(), allowed, field: self.field() };
        let mut res = res.json(body);
        if let AppError::Forbidden(code) = self {
            res.extensions_mut().insert(Refused(code));
        }
        res
    }
}

/// Left on a 403 response for the auth guard, which audits object-level refusals.
#[derive(Debug, Clone, Copy)]
pub struct Refused(pub &'static str);

pub fn path_error(_err: actix_web::error::PathError) -> AppError {
    AppError::NotFound("not_found")
}
