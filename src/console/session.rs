//! Who is signed in to the console: the session cookie, the idle timeout, the CSRF token.
//!
//! The cookie holds a random secret; the session row (the same table as the API's, so a
//! logout, a deactivation or a password change ends it on the next request) holds its
//! SHA-256. The CSRF token is a MAC of the session id under the service's key, sent masked
//! with a fresh pad on every page (so a compressed page never repeats it byte for byte).

use actix_web::http::header;
use actix_web::HttpRequest;
use chrono::Duration;

use crate::clock::naive;
use crate::db::models::{Session, User};
use crate::domain::cases::Caller;
use crate::domain::Role;
use crate::error::AppError;
use crate::i18n::Lang;
use crate::state::AppState;

/// Over plain http (development): scoped to the console's paths.
pub const COOKIE: &str = "haven_console";
/// Over https: `__Host-` (Secure, this host only, Path=/), so a neighbouring subdomain can
/// neither read nor plant it.
pub const SECURE_COOKIE: &str = "__Host-haven_console";

/// A signed-in member of staff.
pub struct Staff {
    pub user: User,
    pub role: Role,
    pub session_id: String,
    /// The session's CSRF secret (unmasked, hex); pages carry `masked_csrf()`.
    csrf: String,
    pub lang: Lang,
    /// Her role lists alerts (the access policy's `alert.list`): her navigation has "Alerts".
    pub lists_alerts: bool,
    /// Her role lists cases (`case.list`): her navigation has "Cases".
    pub lists_cases: bool,
    /// Her role lists escalations (`escalation.list`): her navigation has "Escalations".
    pub lists_escalations: bool,
    /// Her role must sign in with a second factor and she has none yet: every page but her
    /// account's sends her to enrol.
    pub must_enrol: bool,
}

impl Staff {
    pub fn caller(&self) -> Caller<'_> {
        Caller { user: &self.user, role: self.role }
    }

    /// The CSRF token for one form: a fresh pad, then the token XOR the pad, in hex.
    pub fn masked_csrf(&self) -> String {
        let token = self.csrf.as_bytes();
        let pad: Vec<u8> = (0..token.len()).map(|_| rand::random::<u8>()).collect();
        let masked: Vec<u8> = token.iter().zip(&pad).map(|(t, p)| t ^ p).collect();
        format!("{}{}", hex::encode(pad), hex::encode(masked))
    }

    /// Whether a form's token is this session's, in constant time.
    pub fn csrf_ok(&self, sent: Option<&str>) -> bool {
        let Some(sent) = sent else { return false };
        let Ok(bytes) = hex::decode(sent) else { return false };
        let n = self.csrf.len();
        if bytes.len() != 2 * n {
            return false;
        }
        let (pad, masked) = bytes.split_at(n);
        let token: Vec<u8> = pad.iter().zip(masked).map(|(p, m)| p ^ m).collect();
        crate::crypto::constant_time_eq(&token, self.csrf.as_bytes())
    }
}

/// Whether the service is reached over https (then the cookie is `Secure` and `__Host-`).
pub fn secure(state: &AppState) -> bool {
    state.config.public_url.starts_with("https://")
}

/// The `Set-Cookie` value that opens a session in the browser.
pub fn set_cookie(state: &AppState, secret: &str) -> String {
    if secure(state) {
        format!("{SECURE_COOKIE}={secret}; Path=/; Secure; HttpOnly; SameSite=Strict")
    } else {
        format!("{COOKIE}={secret}; Path=/console; HttpOnly; SameSite=Strict")
    }
}

/// The `Set-Cookie` value that removes it.
pub fn clear_cookie(state: &AppState) -> String {
    if secure(state) {
        format!("{SECURE_COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0")
    } else {
        format!("{COOKIE}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0")
    }
}

fn cookie_secret(req: &HttpRequest, state: &AppState) -> Option<String> {
    let name = if secure(state) { SECURE_COOKIE } else { COOKIE };
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| (20..=100).contains(&v.len()))
}

/// The language of a page for someone not signed in: `?lang=`, else the browser's.
pub fn guest_lang(req: &HttpRequest) -> Lang {
    crate::form::query_lang(req)
}

/// The signed-in member of staff, or None: no cookie, an unknown or ended session, an
/// inactive account, or a session idle longer than `console_idle_minutes` (which ends it).
pub async fn current(req: &HttpRequest, state: &AppState) -> Result<Option<Staff>, AppError> {
    let Some(secret) = cookie_secret(req, state) else { return Ok(None) };
    let hash = crate::auth::session::secret_hash(&secret);
    let found = state
        .db
        .read(move |c| {
            let Some(s) = Session::find_console(c, &hash)? else { return Ok(None) };
            Ok(User::find(c, &s.user_id)?.map(|u| (s, u)))
        })
        .await?;
    let Some((session, user)) = found else { return Ok(None) };
    let now = naive(state.clock.now());
    if session.user_id != user.id || !session.is_live(now) || !user.active {
        return Ok(None);
    }
    let idle = Duration::minutes(state.config.console_idle_minutes as i64);
    let last = session.last_seen_at.unwrap_or(session.created_at);
    let sid = session.id.clone();
    if last + idle <= now {
        state.db.write(move |c| Ok(Session::revoke(c, &sid, now, "idle")?)).await?;
        return Ok(None);
    }
    // At most one write a minute per session, not one per page.
    if now - last >= Duration::seconds(60) {
        state.db.write(move |c| Ok(Session::touch(c, &sid, now)?)).await?;
    }
    let role = Role::parse(&user.role)
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("user {} has an unknown role", user.id)))?;
    let csrf = state.jwt.keyed_digest(format!("console-csrf\0{}", session.id).as_bytes())?;
    let lang = user.language.as_deref().and_then(Lang::parse).unwrap_or_else(|| guest_lang(req));
    let lists_alerts = state.access.permits(role, crate::authz::Action::AlertList);
    let lists_cases = state.access.permits(role, crate::authz::Action::CaseList);
    let lists_escalations = state.access.permits(role, crate::authz::Action::EscalationList);
    let must_enrol = user.mfa_enabled_at.is_none() && state.access.requires_mfa(role);
    Ok(Some(Staff {
        user,
        role,
        session_id: session.id,
        csrf,
        lang,
        lists_alerts,
        lists_cases,
        lists_escalations,
        must_enrol,
    }))
}
