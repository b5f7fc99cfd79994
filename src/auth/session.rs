//! Login, refresh, logout and password change: the session life cycle.
//!
//! A login opens a session and hands out an access token plus a refresh token. A refresh
//! token is good once; using it again (a sign that it was copied) revokes the session.

use std::net::IpAddr;

use base64::Engine;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::audit::{self, Entry, Outcome};
use crate::auth::mfa::SecondFactor;
use crate::auth::throttle::LoginAttempt;
use crate::clock::naive;
use crate::db::models::user::{normalize_email, UserChanges};
use crate::db::models::{RefreshToken, Session, User};
use crate::domain::new_id;
use crate::error::AppError;
use crate::state::AppState;

type State = actix_web::web::Data<AppState>;

/// No `Debug`: it holds both tokens.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
}

fn new_refresh_token() -> (String, String) {
    let raw: [u8; 32] = rand::random();
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
    let hash = hash_token(&token);
    (token, hash)
}

fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Checks the throttle, then the password (on a blocking thread), then her second factor
/// when she has one, for a sign-in at either door. Every refusal is audited; a wrong
/// password is the same error whether or not the account exists. Ok: the active account and
/// the throttle's counters (for the success), or, when she has a second factor and sent
/// none, `SecondStep` (an `mfa_required` for the API, the code page for the console).
async fn check_login(
    state: &State,
    email: &str,
    password: &str,
    factor: SecondFactor,
    addr: Option<IpAddr>,
) -> Result<Checked, AppError> {
    let email_n = normalize_email(email);
    let attempt = state.throttle.attempt(&email_n, addr);
    let now = state.clock.now();
    begin(state, &attempt, now).await?;
    // Control characters (a NUL would make PostgreSQL fail the query) cannot be in any
    // account's email: a plain failed login, counted like any other.
    let lookup = email_n.clone();
    let user = if email_n.chars().any(char::is_control) {
        None
    } else {
        state.db.read(move |c| Ok(User::find_by_email(c, &lookup)?)).await?
    };
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let pw = password.to_string();
    let ok = crate::auth::password::off_thread(move || crate::auth::password::verify(&pw, stored.as_deref())).await?;
    let user = match user {
        Some(u) if ok && u.active => u,
        other => return Err(login_denied(state, now, other.map(|u| u.id)).await),
    };
    if user.mfa_enabled_at.is_some() {
        if matches!(factor, SecondFactor::None) {
            // Her password was right: this attempt is not a failure, but the sign-in needs
            // its second step.
            let attempt = attempt.clone();
            state.db.write(move |c| Ok(attempt.give_back(c, naive(now))?)).await?;
            return Ok(Checked::SecondStep(user));
        }
        // A wrong code keeps the attempt counted.
        if !crate::auth::mfa::verify(state, &user, factor, now).await? {
            return Err(AppError::Unauthorized("mfa_invalid"));
        }
    }
    Ok(Checked::Ready(user, attempt))
}

/// Takes an attempt from the throttle's budgets, committed before the slow checks; 429 when
/// one is spent.
async fn begin(state: &AppState, attempt: &LoginAttempt, now: chrono::DateTime<chrono::Utc>) -> Result<(), AppError> {
    let attempt = attempt.clone();
    match state.db.write(move |c| Ok(attempt.begin(c, naive(now))?)).await? {
        Ok(()) => Ok(()),
        Err(retry_after_secs) => Err(AppError::TooManyRequests { retry_after_secs }),
    }
}

enum Checked {
    Ready(User, LoginAttempt),
    SecondStep(User),
}

/// How long the console's code step may follow the password.
const CODE_STEP_MINUTES: i64 = 5;

/// The console's proof, between its two sign-in steps, that the password was right: her id
/// and a deadline, MACed (with the password hash she had) under the token secret. Nothing
/// is stored; a password change or the deadline makes it worthless.
fn code_ticket(state: &AppState, user: &User, until: i64) -> Result<String, AppError> {
    let mac =
        state.jwt.keyed_digest(format!("console-code\0{}\0{until}\0{}", user.id, user.password_hash).as_bytes())?;
    Ok(format!("{}.{until}.{mac}", user.id))
}

/// How a console sign-in went past the password.
pub enum ConsoleSignIn {
    /// Signed in: the account and the cookie's secret.
    Done(Box<User>, String),
    /// Her password was right and she has a second factor: the ticket for the code step.
    CodeNeeded { ticket: String },
}

/// Which door a session is opened for, and what it holds for that door.
enum Door {
    /// API: a refresh token (its hash stored).
    Api { refresh_hash: String },
    /// Console: the hash of the cookie's secret.
    Console { secret_hash: String },
}

/// Opens the session of a checked login, in one transaction with its audit row. The password
/// was checked outside the transaction: if it changed (or the account was deactivated)
/// meanwhile, the check no longer holds and the login is refused.
async fn open_session(state: &State, user: &User, attempt: LoginAttempt, door: Door) -> Result<Session, AppError> {
    let now = state.clock.now();
    let console = matches!(door, Door::Console { .. });
    let session = Session {
        id: new_id(),
        user_id: user.id.clone(),
        created_at: naive(now),
        expires_at: naive(now + chrono::Duration::seconds(state.config.jwt.session_ttl_seconds as i64)),
        revoked_at: None,
        revoked_reason: None,
        console_secret_hash: match &door {
            Door::Console { secret_hash } => Some(secret_hash.clone()),
            Door::Api { .. } => None,
        },
        last_seen_at: console.then(|| naive(now)),
    };
    let (uid, checked_hash, row) = (user.id.clone(), user.password_hash.clone(), session.clone());
    let opened = state
        .db
        .write(move |c| {
            let still = User::find(c, &uid)?.is_some_and(|u| u.active && u.password_hash == checked_hash);
            if !still {
                return Ok(false);
            }
            row.insert(c)?;
            attempt.succeeded(c, naive(now))?;
            let mut e = Entry::new(Some(&uid), "auth.login", "session", Some(&row.id));
            match door {
                Door::Api { refresh_hash } => {
                    RefreshToken {
                        token_hash: refresh_hash,
                        session_id: row.id.clone(),
                        issued_at: naive(now),
                        used_at: None,
                    }
                    .insert(c)?;
                }
                Door::Console { .. } => e = e.detail(serde_json::json!({ "door": "console" })),
            }
            audit::record(c, now, e)?;
            Ok(true)
        })
        .await?;
    if !opened {
        return Err(login_denied(state, now, None).await);
    }
    Ok(session)
}

/// Checks the password (on a blocking thread), then opens a session. Every outcome is
/// audited; a failure says nothing about whether the account exists.
pub async fn login(
    state: &State,
    email: &str,
    password: &str,
    factor: SecondFactor,
    addr: Option<IpAddr>,
) -> Result<TokenPair, AppError> {
    let (user, attempt) = match check_login(state, email, password, factor, addr).await? {
        Checked::Ready(user, attempt) => (user, attempt),
        Checked::SecondStep(_) => return Err(AppError::Unauthorized("mfa_required")),
    };
    let (refresh_token, refresh_hash) = new_refresh_token();
    let session = open_session(state, &user, attempt, Door::Api { refresh_hash }).await?;
    let access_token = state.jwt.issue(&user.id, &session.id, session.created_at.and_utc())?;
    Ok(TokenPair { access_token, refresh_token, token_type: "Bearer", expires_in: state.jwt.ttl_seconds() })
}

/// Opens a console session after the same checks as an API login (throttle, password,
/// audit), or asks for the code step when she has a second factor. The session row keeps
/// only the SHA-256 of the cookie's secret, so a copy of the database opens no session.
pub async fn console_login(
    state: &State,
    email: &str,
    password: &str,
    addr: Option<IpAddr>,
) -> Result<ConsoleSignIn, AppError> {
    match check_login(state, email, password, SecondFactor::None, addr).await? {
        Checked::Ready(user, attempt) => {
            let (secret, secret_hash) = new_refresh_token();
            open_session(state, &user, attempt, Door::Console { secret_hash }).await?;
            Ok(ConsoleSignIn::Done(Box::new(user), secret))
        }
        Checked::SecondStep(user) => {
            let until = (state.clock.now() + chrono::Duration::minutes(CODE_STEP_MINUTES)).timestamp();
            Ok(ConsoleSignIn::CodeNeeded { ticket: code_ticket(state, &user, until)? })
        }
    }
}

/// The console's code step: the ticket from `console_login` and her code. A wrong code is a
/// failed attempt like a wrong password; an expired or forged ticket is `mfa_ticket` (sign
/// in again).
pub async fn console_code(
    state: &State,
    ticket: &str,
    code: &str,
    addr: Option<IpAddr>,
) -> Result<(User, String), AppError> {
    let expired = || AppError::Unauthorized("mfa_ticket");
    let mut parts = ticket.splitn(3, '.');
    let (Some(uid), Some(until), Some(mac)) = (parts.next(), parts.next(), parts.next()) else { return Err(expired()) };
    let until: i64 = until.parse().map_err(|_| expired())?;
    let now = state.clock.now();
    if until < now.timestamp() || !crate::domain::accounts::is_id(uid) {
        return Err(expired());
    }
    let lookup = uid.to_string();
    let user = state.db.read(move |c| Ok(User::find(c, &lookup)?)).await?.ok_or_else(expired)?;
    let expected = code_ticket(state, &user, until)?;
    if !crate::crypto::constant_time_eq(expected.as_bytes(), format!("{uid}.{until}.{mac}").as_bytes())
        || !user.active
        || user.mfa_enabled_at.is_none()
    {
        return Err(expired());
    }
    let attempt = state.throttle.attempt(&user.email_normalized, addr);
    begin(state, &attempt, now).await?;
    if code.len() > 64 || !crate::auth::mfa::verify(state, &user, SecondFactor::guess(code), now).await? {
        return Err(AppError::Unauthorized("mfa_invalid"));
    }
    let (secret, secret_hash) = new_refresh_token();
    open_session(state, &user, attempt, Door::Console { secret_hash }).await?;
    Ok((user, secret))
}

/// The SHA-256 a console session keeps of its cookie's secret.
pub fn secret_hash(secret: &str) -> String {
    hash_token(secret)
}

/// Audits a refused login and returns the one error every refusal gets.
async fn login_denied(state: &AppState, now: chrono::DateTime<chrono::Utc>, user_id: Option<String>) -> AppError {
    let result = state
        .db
        .write(move |c| {
            let e = Entry::new(user_id.as_deref(), "auth.login", "user", user_id.as_deref()).outcome(Outcome::Denied);
            audit::record(c, now, e)
        })
        .await;
    match result {
        Ok(_) => AppError::Unauthorized("invalid_credentials"),
        Err(e) => e,
    }
}

enum RefreshOutcome {
    Rotated { user_id: String, session_id: String },
    Replayed,
    Invalid,
}

/// Exchanges a refresh token for a new pair. A replayed token revokes its whole session.
pub async fn refresh(state: &AppState, token: &str) -> Result<TokenPair, AppError> {
    let hash = hash_token(token);
    let now = state.clock.now();
    let (new_token, new_hash) = new_refresh_token();
    let outcome = state
        .db
        .write(move |c| {
            let Some(rt) = RefreshToken::find(c, &hash)? else {
                return Ok(RefreshOutcome::Invalid);
            };
            let Some(session) = Session::find(c, &rt.session_id)? else {
                return Ok(RefreshOutcome::Invalid);
            };
            if !RefreshToken::consume(c, &hash, naive(now))? {
                let revoked = Session::revoke(c, &session.id, naive(now), "refresh_token_reuse")?;
                if revoked > 0 {
                    let e = Entry::new(Some(&session.user_id), "auth.refresh_reuse", "session", Some(&session.id))
                        .outcome(Outcome::Denied);
                    audit::record(c, now, e)?;
                }
                return Ok(RefreshOutcome::Replayed);
            }
            let user = User::find(c, &session.user_id)?;
            if !session.is_live(naive(now)) || !user.is_some_and(|u| u.active) {
                return Ok(RefreshOutcome::Invalid);
            }
            RefreshToken { token_hash: new_hash, session_id: session.id.clone(), issued_at: naive(now), used_at: None }
                .insert(c)?;
            audit::record(c, now, Entry::new(Some(&session.user_id), "auth.refresh", "session", Some(&session.id)))?;
            Ok(RefreshOutcome::Rotated { user_id: session.user_id, session_id: session.id })
        })
        .await?;
    match outcome {
        RefreshOutcome::Rotated { user_id, session_id } => Ok(TokenPair {
            access_token: state.jwt.issue(&user_id, &session_id, now)?,
            refresh_token: new_token,
            token_type: "Bearer",
            expires_in: state.jwt.ttl_seconds(),
        }),
        RefreshOutcome::Replayed => Err(AppError::Unauthorized("refresh_token_reused")),
        RefreshOutcome::Invalid => Err(AppError::Unauthorized("invalid_refresh_token")),
    }
}

/// Ends the session the access token belongs to.
pub async fn logout(state: &AppState, user_id: &str, session_id: &str) -> Result<(), AppError> {
    let now = state.clock.now();
    let (uid, sid) = (user_id.to_string(), session_id.to_string());
    state
        .db
        .write(move |c| {
            Session::revoke(c, &sid, naive(now), "logout")?;
            audit::record(c, now, Entry::new(Some(&uid), "auth.logout", "session", Some(&sid)))?;
            Ok(())
        })
        .await
}

/// Replaces the caller's password after checking the current one; other sessions end.
pub async fn change_password(
    state: &AppState,
    user: &User,
    session_id: &str,
    current: &str,
    new: &str,
) -> Result<(), AppError> {
    crate::auth::password::check_policy(new)?;
    if new == current {
        return Err(AppError::unprocessable("password_unchanged", "choose a password different from the current one"));
    }
    // Guessing the current password with a stolen access token is throttled like a login.
    let attempt = state.throttle.attempt(&user.email_normalized, None);
    begin(state, &attempt, state.clock.now()).await?;
    let (stored, cur, newp) = (user.password_hash.clone(), current.to_string(), new.to_string());
    let hashed = crate::auth::password::off_thread(move || {
        if !crate::auth::password::verify(&cur, Some(&stored)) {
            return Ok(None);
        }
        crate::auth::password::hash(&newp).map(Some)
    })
    .await??;
    let now = state.clock.now();
    let (uid, sid) = (user.id.clone(), session_id.to_string());
    let Some(hash) = hashed else {
        // The attempt taken above stays counted as a failure.
        state
            .db
            .write(move |c| {
                audit::record(
                    c,
                    now,
                    Entry::new(Some(&uid), "me.password_change", "user", Some(&uid)).outcome(Outcome::Denied),
                )
            })
            .await?;
        return Err(AppError::Forbidden("wrong_password"));
    };
    state
        .db
        .write(move |c| {
            let changes = UserChanges {
                password_hash: Some(hash),
                must_change_password: Some(false),
                updated_at: Some(naive(now)),
                ..Default::default()
            };
            User::update(c, &uid, &changes)?;
            // Every other session ends: whoever knew the old password is out.
            Session::revoke_all_for_user(c, &uid, Some(&sid), naive(now), "password_changed")?;
            attempt.succeeded(c, naive(now))?;
            audit::record(c, now, Entry::new(Some(&uid), "me.password_change", "user", Some(&uid)))?;
            Ok(())
        })
        .await?;
    Ok(())
}
