//! Second factors: TOTP (RFC 6238 through `totp-rs`: SHA-1, 30 s steps, 6 digits, one step
//! either side) and single-use recovery codes.
//!
//! - Her TOTP secret is sealed at rest under a key of its own (`crypto`, a key named by her
//!   user id) and never logged; it is shown once, at enrolment, as text, `otpauth://` URI
//!   and QR code.
//! - A code is good once: the step it matched is stored, and only a later step is accepted
//!   next time, whichever instance answers (an update that only one request can win).
//! - Recovery codes are shown once; each is stored as an Argon2id hash behind a selector
//!   (its first group) so one code costs one hash to check.
//! - Enrolment, confirmation, removal, a reset by an admin, a recovery code's use and every
//!   failure are audited.

use chrono::{DateTime, Utc};
use rand::Rng;
use zeroize::Zeroizing;

use crate::audit::{self, Entry, Outcome};
use crate::clock::naive;
use crate::crypto::Sealed;
use crate::db::models::{CaseKey, RecoveryCode, Session, User, UserTotp};
use crate::db::DbConn;
use crate::error::AppError;
use crate::state::AppState;

type State = actix_web::web::Data<AppState>;

pub const STEP_SECONDS: u64 = 30;
const DIGITS: usize = 6;
/// 160 bits, as RFC 4226 recommends.
const SECRET_BYTES: usize = 20;
pub const RECOVERY_CODES: usize = 10;
/// What the sealed secret is called inside its frame (it cannot be moved to another row).
const RECORD: &str = "totp";
/// The issuer an authenticator app shows next to her account.
const ISSUER: &str = "Haven";

/// Letters and digits that cannot be misread for each other on paper (no 0/o, 1/l/i).
const RECOVERY_ALPHABET: &[u8] = b"23456789abcdefghjkmnpqrstuvwxyz";

fn totp(secret: &[u8], account: &str) -> Result<totp_rs::TOTP, AppError> {
    // The account label may not hold a colon; an email never should, but fall back anyway.
    let label = if account.contains(':') { "account".to_string() } else { account.to_string() };
    totp_rs::TOTP::new(totp_rs::Algorithm::SHA1, DIGITS, 1, STEP_SECONDS, secret.to_vec(), Some(ISSUER.into()), label)
        .map_err(|e| AppError::internal(anyhow::anyhow!("totp: {e:?}")))
}

/// A code as typed: digits only, spaces and dashes dropped; anything else is no code.
fn clean_code(code: &str) -> Option<String> {
    let digits: String = code.chars().filter(|c| !c.is_whitespace() && *c != '-').collect();
    (digits.len() == DIGITS && digits.bytes().all(|b| b.is_ascii_digit())).then_some(digits)
}

/// The time step a code is right for at `now` (this step or one either side), if any.
pub fn matching_step(secret: &[u8], code: &str, now: DateTime<Utc>) -> Result<Option<i64>, AppError> {
    let Some(code) = clean_code(code) else { return Ok(None) };
    let t = totp(secret, "x")?;
    let current = now.timestamp().max(0) as u64 / STEP_SECONDS;
    let mut found = None;
    // Every candidate is compared, in constant time, whichever matches.
    for step in [current.saturating_sub(1), current, current + 1] {
        if crate::crypto::constant_time_eq(t.generate(step * STEP_SECONDS).as_bytes(), code.as_bytes()) {
            found = Some(step as i64);
        }
    }
    Ok(found)
}

/// The code of `now` (for tests and the bench, which play her authenticator).
pub fn code_at(secret_base32: &str, now: DateTime<Utc>) -> Option<String> {
    let secret = totp_rs::Secret::Encoded(secret_base32.to_string()).to_bytes().ok()?;
    let t = totp(&secret, "x").ok()?;
    Some(t.generate(now.timestamp().max(0) as u64))
}

/// What enrolment shows her, once.
pub struct Enrolment {
    pub secret: Zeroizing<String>,
    pub otpauth_uri: Zeroizing<String>,
}

impl Enrolment {
    /// The QR code of the URI as an inline SVG (no script, no style attribute).
    pub fn qr_svg(&self, label: &str) -> Result<String, AppError> {
        let code = qrcode::QrCode::with_error_correction_level(self.otpauth_uri.as_bytes(), qrcode::EcLevel::M)
            .map_err(|e| AppError::internal(anyhow::anyhow!("qr code: {e}")))?;
        let svg = code
            .render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(200, 200)
            .dark_color(qrcode::render::svg::Color("#000"))
            .light_color(qrcode::render::svg::Color("#fff"))
            .build();
        // Inline in HTML: no XML prolog; named for screen readers.
        let start = svg.find("<svg").unwrap_or(0);
        let label = askama::filters::escape(label, askama::filters::Html).map(|s| s.to_string()).unwrap_or_default();
        Ok(svg[start..].replacen("<svg", &format!("<svg role=\"img\" aria-label=\"{label}\""), 1))
    }
}

fn unprocessable_code() -> AppError {
    AppError::Unauthorized("mfa_invalid")
}

/// Starts (or starts again) her TOTP enrolment: a new secret, sealed and stored unconfirmed.
/// Refused while a confirmed one exists: she removes it first, with a current code.
pub async fn enrol(state: &State, user: &User) -> Result<Enrolment, AppError> {
    let mut raw = Zeroizing::new([0u8; SECRET_BYTES]);
    rand::rngs::OsRng.fill(&mut raw[..]);
    let t = totp(&raw[..], &user.email)?;
    let enrolment =
        Enrolment { secret: Zeroizing::new(t.get_secret_base32()), otpauth_uri: Zeroizing::new(t.get_url()) };
    let (st, uid) = (state.clone(), user.id.clone());
    let now = state.clock.now();
    state
        .db
        .write(move |c| {
            if UserTotp::find(c, &uid)?.is_some_and(|t| t.confirmed_at.is_some()) {
                return Err(AppError::conflict("mfa_already_enrolled", "remove the current authenticator first"));
            }
            if CaseKey::latest(c, &uid)?.is_none() {
                st.crypto.create_case_key(c, &uid, now)?;
            }
            let sealed = st.crypto.seal(c, &uid, RECORD, &raw[..])?;
            UserTotp {
                user_id: uid.clone(),
                secret_ct: sealed.ciphertext,
                key_version: sealed.key_version,
                created_at: naive(now),
                confirmed_at: None,
                last_step: None,
            }
            .put_pending(c)?;
            audit::record(c, now, Entry::new(Some(&uid), "me.mfa_enroll", "user", Some(&uid)))?;
            Ok(())
        })
        .await?;
    Ok(enrolment)
}

/// Her unconfirmed enrolment, shown again (after a wrong first code, or a reload).
pub async fn pending(state: &State, user: &User) -> Result<Option<Enrolment>, AppError> {
    let (st, uid, email) = (state.clone(), user.id.clone(), user.email.clone());
    state
        .db
        .read(move |c| {
            let Some(row) = UserTotp::find(c, &uid)?.filter(|t| t.confirmed_at.is_none()) else { return Ok(None) };
            let secret = open_secret(&st, c, &row)?;
            let t = totp(&secret, &email)?;
            Ok(Some(Enrolment {
                secret: Zeroizing::new(t.get_secret_base32()),
                otpauth_uri: Zeroizing::new(t.get_url()),
            }))
        })
        .await
}

fn open_secret(state: &AppState, c: &mut DbConn, row: &UserTotp) -> Result<Zeroizing<Vec<u8>>, AppError> {
    let sealed = Sealed { ciphertext: row.secret_ct.clone(), key_version: row.key_version };
    Ok(state.crypto.open(c, &row.user_id, RECORD, &sealed)?)
}

/// New recovery codes (shown once) and the rows that keep their hashes.
fn new_recovery_codes(user_id: &str, now: DateTime<Utc>) -> Result<(Vec<String>, Vec<RecoveryCode>), AppError> {
    let mut rng = rand::rngs::OsRng;
    let mut codes: Vec<String> = Vec::with_capacity(RECOVERY_CODES);
    while codes.len() < RECOVERY_CODES {
        let groups: Vec<String> = (0..4)
            .map(|_| (0..4).map(|_| RECOVERY_ALPHABET[rng.gen_range(0..RECOVERY_ALPHABET.len())] as char).collect())
            .collect();
        let code = groups.join("-");
        // Selectors are unique per user (they are the key).
        if !codes.iter().any(|c| c[..4] == code[..4]) {
            codes.push(code);
        }
    }
    let mut rows = Vec::with_capacity(RECOVERY_CODES);
    for code in &codes {
        rows.push(RecoveryCode {
            user_id: user_id.to_string(),
            selector: code[..4].to_string(),
            code_hash: crate::auth::password::hash(code)?,
            created_at: naive(now),
            used_at: None,
        });
    }
    Ok((codes, rows))
}

/// A recovery code as typed: lower case, the four groups of four with or without dashes or
/// spaces. None when it cannot be one.
fn clean_recovery(code: &str) -> Option<String> {
    let bare: String =
        code.chars().filter(|c| !c.is_whitespace() && *c != '-').map(|c| c.to_ascii_lowercase()).collect();
    if bare.len() != 16 || !bare.bytes().all(|b| RECOVERY_ALPHABET.contains(&b)) {
        return None;
    }
    Some(format!("{}-{}-{}-{}", &bare[0..4], &bare[4..8], &bare[8..12], &bare[12..16]))
}

/// Confirms her pending secret with a first code; returns her recovery codes (shown once).
pub async fn confirm(state: &State, user: &User, code: &str) -> Result<Vec<String>, AppError> {
    let now = state.clock.now();
    let uid = user.id.clone();
    let (codes, rows) = {
        let uid = uid.clone();
        crate::auth::password::off_thread(move || new_recovery_codes(&uid, now)).await??
    };
    let code = code.to_string();
    let st = state.clone();
    let outcome = state
        .db
        .write(move |c| {
            let Some(row) = UserTotp::find(c, &uid)? else {
                return Err(AppError::conflict("mfa_not_started", "start the enrolment first"));
            };
            if row.confirmed_at.is_some() {
                return Err(AppError::conflict("mfa_already_enrolled", "remove the current authenticator first"));
            }
            let secret = open_secret(&st, c, &row)?;
            let Some(step) = matching_step(&secret, &code, now)? else {
                let e = Entry::new(Some(&uid), "me.mfa_confirm", "user", Some(&uid)).outcome(Outcome::Denied);
                audit::record(c, now, e)?;
                return Ok(false);
            };
            UserTotp::confirm(c, &uid, step, naive(now))?;
            RecoveryCode::replace_all(c, &uid, &rows)?;
            let changes = crate::db::models::user::UserChanges {
                mfa_enabled_at: Some(Some(naive(now))),
                updated_at: Some(naive(now)),
                ..Default::default()
            };
            User::update(c, &uid, &changes)?;
            audit::record(c, now, Entry::new(Some(&uid), "me.mfa_confirm", "user", Some(&uid)))?;
            Ok(true)
        })
        .await?;
    if outcome {
        Ok(codes)
    } else {
        Err(unprocessable_code())
    }
}

/// Removes her authenticator and recovery codes; needs a current code (or a recovery code),
/// so a stolen session alone cannot turn the second factor off.
pub async fn disable(state: &State, user: &User, code: &str) -> Result<(), AppError> {
    let now = state.clock.now();
    if !verify(state, user, SecondFactor::guess(code), now).await? {
        return Err(unprocessable_code());
    }
    let uid = user.id.clone();
    state
        .db
        .write(move |c| {
            remove_factors(c, &uid, now)?;
            audit::record(c, now, Entry::new(Some(&uid), "me.mfa_disable", "user", Some(&uid)))?;
            Ok(())
        })
        .await
}

fn remove_factors(c: &mut DbConn, user_id: &str, now: DateTime<Utc>) -> Result<(), AppError> {
    UserTotp::delete(c, user_id)?;
    RecoveryCode::delete_all(c, user_id)?;
    let changes = crate::db::models::user::UserChanges {
        mfa_enabled_at: Some(None),
        updated_at: Some(naive(now)),
        ..Default::default()
    };
    User::update(c, user_id, &changes)?;
    Ok(())
}

/// An admin removes a user's second factors (a lost phone): audited, and every session of
/// hers ends, so whoever holds one must sign in again and enrol anew.
pub async fn reset(state: &State, admin: &User, user_id: &str) -> Result<(), AppError> {
    if !crate::domain::accounts::is_id(user_id) {
        return Err(AppError::NotFound("user_not_found"));
    }
    let now = state.clock.now();
    let (aid, uid) = (admin.id.clone(), user_id.to_string());
    state
        .db
        .write(move |c| {
            if User::find(c, &uid)?.is_none() {
                return Err(AppError::NotFound("user_not_found"));
            }
            remove_factors(c, &uid, now)?;
            let ended = Session::revoke_all_for_user(c, &uid, None, naive(now), "mfa_reset")?;
            let e = Entry::new(Some(&aid), "user.mfa_reset", "user", Some(&uid))
                .detail(serde_json::json!({ "sessions_ended": ended }));
            audit::record(c, now, e)?;
            Ok(())
        })
        .await
}

/// What she gave as a second factor at sign-in.
#[derive(Clone)]
pub enum SecondFactor {
    None,
    Totp(String),
    Recovery(String),
}

impl SecondFactor {
    /// A code typed in one box: six digits are a TOTP code, anything else a recovery code.
    pub fn guess(code: &str) -> SecondFactor {
        if clean_code(code).is_some() {
            SecondFactor::Totp(code.to_string())
        } else {
            SecondFactor::Recovery(code.to_string())
        }
    }
}

/// Checks her second factor: a TOTP code (once per step) or an unused recovery code (then
/// used up). Every failure is audited; `false` is the caller's `mfa_invalid`.
pub async fn verify(state: &State, user: &User, factor: SecondFactor, now: DateTime<Utc>) -> Result<bool, AppError> {
    let uid = user.id.clone();
    match factor {
        SecondFactor::None => Ok(false),
        SecondFactor::Totp(code) => {
            let st = state.clone();
            state
                .db
                .write(move |c| {
                    let ok = match UserTotp::find(c, &uid)?.filter(|t| t.confirmed_at.is_some()) {
                        Some(row) => {
                            let secret = open_secret(&st, c, &row)?;
                            match matching_step(&secret, &code, now)? {
                                Some(step) => UserTotp::use_step(c, &uid, step)? == 1,
                                None => false,
                            }
                        }
                        None => false,
                    };
                    if !ok {
                        let e = Entry::new(Some(&uid), "auth.mfa", "user", Some(&uid)).outcome(Outcome::Denied);
                        audit::record(c, now, e)?;
                    }
                    Ok(ok)
                })
                .await
        }
        SecondFactor::Recovery(code) => {
            let Some(code) = clean_recovery(&code) else {
                return deny(state, &uid, now).await;
            };
            let (lookup_uid, selector) = (uid.clone(), code[..4].to_string());
            let row = state.db.read(move |c| Ok(RecoveryCode::find_unused(c, &lookup_uid, &selector)?)).await?;
            let Some(row) = row else { return deny(state, &uid, now).await };
            let hash = row.code_hash.clone();
            let ok =
                crate::auth::password::off_thread(move || crate::auth::password::verify(&code, Some(&hash))).await?;
            if !ok {
                return deny(state, &uid, now).await;
            }
            let used = state
                .db
                .write(move |c| {
                    if RecoveryCode::mark_used(c, &uid, &row.selector, naive(now))? != 1 {
                        let e = Entry::new(Some(&uid), "auth.mfa", "user", Some(&uid)).outcome(Outcome::Denied);
                        audit::record(c, now, e)?;
                        return Ok(false);
                    }
                    let left = RecoveryCode::count_unused(c, &uid)?;
                    let e = Entry::new(Some(&uid), "auth.recovery_code_used", "user", Some(&uid))
                        .detail(serde_json::json!({ "recovery_codes_left": left }));
                    audit::record(c, now, e)?;
                    Ok(true)
                })
                .await?;
            Ok(used)
        }
    }
}

async fn deny(state: &State, uid: &str, now: DateTime<Utc>) -> Result<bool, AppError> {
    let uid = uid.to_string();
    state
        .db
        .write(move |c| {
            audit::record(c, now, Entry::new(Some(&uid), "auth.mfa", "user", Some(&uid)).outcome(Outcome::Denied))?;
            Ok(false)
        })
        .await
}

/// Her second factors as `/me` shows them.
pub struct Status {
    pub enabled: bool,
    pub required: bool,
    pub recovery_codes_left: i64,
}

pub async fn status(state: &State, user: &User, role: crate::domain::Role) -> Result<Status, AppError> {
    let uid = user.id.clone();
    let left = state.db.read(move |c| Ok(RecoveryCode::count_unused(c, &uid)?)).await?;
    Ok(Status {
        enabled: user.mfa_enabled_at.is_some(),
        required: state.access.requires_mfa(role),
        recovery_codes_left: left,
    })
}
