//! The form's secrets: the receipt pepper and the key of its tokens, one 32-byte key in
//! `form.secret` or `<data_dir>/form.key` (created on first start, mode 0600).
//!
//! - A **receipt** is 16 digits. Only `Argon2id(receipt, secret = pepper)` with a fixed salt
//!   is stored: deterministic, so it is the lookup key, and useless without the pepper.
//! - A **form token** (in the form page) is `nonce.expiry.mac`; it can be sent once. The
//!   receipt of a submission is derived from the token's nonce under the key, so a form
//!   sent twice (a lost answer on a bad connection) shows the same receipt, for a short time.
//! - A **portal token** (in the status pages, instead of the receipt) names the alert and
//!   expires after 30 minutes; no cookie is ever set.

use std::io::Write;
use std::path::Path;

use argon2::{Algorithm, Argon2, Params, Version};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::error::AppError;

pub const KEY_FILE: &str = "form.key";
/// A form page may stay open this long before its token is refused (answers are kept).
pub const FORM_TOKEN_HOURS: i64 = 24;
/// How long after a first submission the same form shows its receipt again.
pub const RESHOW_MINUTES: i64 = 10;
/// How long a status page works before the receipt must be entered again.
pub const PORTAL_MINUTES: i64 = 30;
/// How long a portal session lasts at most, however often its pages are used: then the
/// receipt is asked again, so a phone taken from her with the page open does not stay in.
pub const PORTAL_SESSION_MINUTES: i64 = 120;
/// Anything longer is refused before hashing (a receipt is 16 digits plus separators).
pub const MAX_RECEIPT_INPUT: usize = 64;
const RECEIPT_SALT: &[u8] = b"haven-receipt-v1";

pub struct FormKeys {
    key: Zeroizing<Vec<u8>>,
    /// The HMAC key as one SHA-256 block (HMAC's own padding, done once), so building a MAC
    /// cannot fail.
    mac_key: Zeroizing<[u8; 64]>,
    params: Params,
    /// Argon2 working memory (8 MiB each), kept for the next lookup: at most one per
    /// computation allowed at once (`password::limited`), so at most one per core. Allocating
    /// it afresh each time costs a page fault per 4 KiB, since glibc returns large buffers
    /// to the system (`tune_allocator`).
    memory: std::sync::Mutex<Vec<Vec<argon2::Block>>>,
}

/// HMAC's key preparation: a key longer than the block is hashed, then zero-padded.
pub fn hmac_block_key(key: &[u8]) -> Zeroizing<[u8; 64]> {
    use sha2::Digest;
    let mut block = Zeroizing::new([0u8; 64]);
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    block
}

#[derive(Debug, PartialEq, Eq)]
pub enum TokenError {
    Invalid,
    Expired,
}

/// A checked form token: the digest that marks it used, and the nonce its receipt comes from.
pub struct FormToken {
    pub digest: String,
    nonce: [u8; 16],
}

impl FormKeys {
    pub fn load_or_create(data_dir: &Path, configured: &str) -> anyhow::Result<FormKeys> {
        if !configured.is_empty() {
            return FormKeys::new(configured.as_bytes().to_vec());
        }
        let path = data_dir.join(KEY_FILE);
        let key = if path.exists() {
            crate::keyfile::check_private(&path)?;
            let text = Zeroizing::new(std::fs::read_to_string(&path)?);
            let bytes = hex::decode(text.trim())
                .map_err(|_| anyhow::anyhow!("{} is not a hex key (losing it breaks every receipt)", path.display()))?;
            anyhow::ensure!(bytes.len() >= 32, "{} holds a key shorter than 32 bytes", path.display());
            bytes
        } else {
            let bytes = rand::random::<[u8; 32]>().to_vec();
            let mut f = crate::keyfile::create_private(&path)?;
            f.write_all(Zeroizing::new(hex::encode(&bytes)).as_bytes())?;
            f.sync_all()?;
            bytes
        };
        FormKeys::new(key)
    }

    fn new(key: Vec<u8>) -> anyhow::Result<FormKeys> {
        let key = Zeroizing::new(key);
        // 8 MiB, 2 passes: about 10 ms here. The pepper, not the cost, is what makes a
        // stolen database useless; the cost only slows a search by someone who has both.
        let params = Params::new(8 * 1024, 2, 1, Some(32)).map_err(|e| anyhow::anyhow!("argon2 params: {e}"))?;
        let mac_key = hmac_block_key(&key);
        Ok(FormKeys { key, mac_key, params, memory: std::sync::Mutex::new(Vec::new()) })
    }

    fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut m = <Hmac<Sha256> as hmac::digest::KeyInit>::new((&*self.mac_key).into());
        for p in parts {
            m.update(&(p.len() as u32).to_be_bytes());
            m.update(p);
        }
        m.finalize().into_bytes().into()
    }

    /// The stored lookup of a normalised receipt (16 ASCII digits).
    pub fn receipt_lookup(&self, receipt: &str) -> Result<String, AppError> {
        let mut out = [0u8; 32];
        let argon = Argon2::new_with_secret(&self.key, Algorithm::Argon2id, Version::V0x13, self.params.clone())
            .map_err(|e| AppError::internal(anyhow::anyhow!("argon2: {e}")))?;
        crate::auth::password::limited(|| {
            let pool = || self.memory.lock().unwrap_or_else(|p| p.into_inner());
            let reused = pool().pop();
            let mut blocks = reused.unwrap_or_else(|| vec![argon2::Block::default(); self.params.block_count()]);
            let hashed = argon.hash_password_into_with_memory(receipt.as_bytes(), RECEIPT_SALT, &mut out, &mut blocks);
            pool().push(blocks);
            hashed
        })
        .map_err(|e| AppError::internal(anyhow::anyhow!("argon2: {e}")))?;
        Ok(format!("v1:{}", hex::encode(out)))
    }

    pub fn new_form_token(&self, now: DateTime<Utc>) -> String {
        let mut nonce = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let exp = (now + chrono::Duration::hours(FORM_TOKEN_HOURS)).timestamp().to_string();
        let mac = self.mac(&[b"form", &nonce, exp.as_bytes()]);
        format!("{}.{exp}.{}", hex::encode(nonce), hex::encode(&mac[..16]))
    }

    pub fn check_form_token(&self, token: &str, now: DateTime<Utc>) -> Result<FormToken, TokenError> {
        let mut parts = token.split('.');
        let (Some(n), Some(exp), Some(mac), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(TokenError::Invalid);
        };
        let nonce: [u8; 16] = hex::decode(n).ok().and_then(|v| v.try_into().ok()).ok_or(TokenError::Invalid)?;
        let want = self.mac(&[b"form", &nonce, exp.as_bytes()]);
        let got = hex::decode(mac).map_err(|_| TokenError::Invalid)?;
        if !crate::crypto::constant_time_eq(&got, &want[..16]) {
            return Err(TokenError::Invalid);
        }
        let exp: i64 = exp.parse().map_err(|_| TokenError::Invalid)?;
        if now.timestamp() > exp {
            return Err(TokenError::Expired);
        }
        Ok(FormToken { digest: hex::encode(self.mac(&[b"form-used", &nonce])), nonce })
    }

    /// The receipt of the submission made with `token`: 16 digits, unpredictable without
    /// the key.
    pub fn receipt_for(&self, token: &FormToken) -> String {
        let mac = self.mac(&[b"receipt", &token.nonce]);
        let n = u128::from_be_bytes(mac[..16].try_into().unwrap_or([0; 16])) % 10u128.pow(16);
        format!("{n:016}")
    }

    /// A status-page token for the session that began (the receipt entered) at `since`
    /// (Unix seconds): it works `PORTAL_MINUTES`, and never past the session's end.
    pub fn portal_token(&self, alert_id: &str, since: i64, now: DateTime<Utc>) -> String {
        let end = since + PORTAL_SESSION_MINUTES * 60;
        let ttl = (PORTAL_MINUTES * 60).min(end - now.timestamp()).max(0);
        self.ticket_for("portal", &[alert_id, &since.to_string()], now, chrono::Duration::seconds(ttl))
    }

    /// The alert a portal token names and when its session began, if it is genuine and
    /// neither it nor its session has expired.
    pub fn check_portal_token(&self, token: &str, now: DateTime<Utc>) -> Result<(String, i64), TokenError> {
        let parts = self.check_ticket("portal", token, 2, now)?;
        let since: i64 = parts[1].parse().map_err(|_| TokenError::Invalid)?;
        if now.timestamp() > since + PORTAL_SESSION_MINUTES * 60 {
            return Err(TokenError::Expired);
        }
        Ok((parts[0].clone(), since))
    }
}

/// How long the page a form answers with (by redirect) can be fetched: long enough to
/// follow the redirect on a slow connection, short enough that the browser history is
/// useless to whoever takes her phone later.
pub const TICKET_SECONDS: i64 = 120;

/// How long she may read the receipt page and still switch its language: the ticket the
/// page carries in its language forms (a POST body, never a URL or the history) works this
/// long, so writing the receipt down slowly never costs her the page.
pub const READING_SECONDS: i64 = 15 * 60;

impl FormKeys {
    /// A short-lived signed ticket for a page reached by redirect after a POST (so the
    /// browser history never holds a POST that could be sent again).
    pub fn ticket(&self, domain: &str, parts: &[&str], now: DateTime<Utc>) -> String {
        self.ticket_for(domain, parts, now, chrono::Duration::seconds(TICKET_SECONDS))
    }

    /// A signed `parts.exp.mac` token of `domain` that works for `ttl`.
    fn ticket_for(&self, domain: &str, parts: &[&str], now: DateTime<Utc>, ttl: chrono::Duration) -> String {
        let exp = (now + ttl).timestamp().to_string();
        let mut all: Vec<&[u8]> = vec![domain.as_bytes(), exp.as_bytes()];
        all.extend(parts.iter().map(|p| p.as_bytes()));
        let mac = self.mac(&all);
        let mut out = parts.join(".");
        out.push('.');
        out.push_str(&exp);
        out.push('.');
        out.push_str(&hex::encode(&mac[..16]));
        out
    }

    /// The parts of a genuine, unexpired ticket of `domain` with `n` parts.
    pub fn check_ticket(
        &self,
        domain: &str,
        ticket: &str,
        n: usize,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, TokenError> {
        if ticket.len() > 256 {
            return Err(TokenError::Invalid);
        }
        let fields: Vec<&str> = ticket.split('.').collect();
        if fields.len() != n + 2 {
            return Err(TokenError::Invalid);
        }
        let (parts, rest) = fields.split_at(n);
        let (exp, mac) = (rest[0], rest[1]);
        let mut all: Vec<&[u8]> = vec![domain.as_bytes(), exp.as_bytes()];
        all.extend(parts.iter().map(|p| p.as_bytes()));
        let want = self.mac(&all);
        let got = hex::decode(mac).map_err(|_| TokenError::Invalid)?;
        if !crate::crypto::constant_time_eq(&got, &want[..16]) {
            return Err(TokenError::Invalid);
        }
        let exp: i64 = exp.parse().map_err(|_| TokenError::Invalid)?;
        if now.timestamp() > exp {
            return Err(TokenError::Expired);
        }
        Ok(parts.iter().map(|p| p.to_string()).collect())
    }

    /// The receipt page's ticket: the form token's nonce (the receipt is derived from it).
    pub fn receipt_ticket(&self, token: &FormToken, again: bool, now: DateTime<Utc>) -> String {
        self.ticket("receipt-page", &[&hex::encode(token.nonce), if again { "1" } else { "0" }], now)
    }

    /// The receipt a receipt-page ticket shows, and whether it is shown again.
    pub fn check_receipt_ticket(&self, ticket: &str, now: DateTime<Utc>) -> Result<(String, bool), TokenError> {
        self.renew_receipt_ticket(ticket, now).map(|(receipt, again, _)| (receipt, again))
    }

    /// As `check_receipt_ticket`, with a new ticket for the same receipt that works for
    /// `READING_SECONDS` from now: the receipt page's language switch carries it (in a POST
    /// body, never in a link), so she can change language while she reads the page, and a
    /// page found later in the history still shows nothing.
    pub fn renew_receipt_ticket(&self, ticket: &str, now: DateTime<Utc>) -> Result<(String, bool, String), TokenError> {
        let parts = self.check_ticket("receipt-page", ticket, 2, now)?;
        let nonce: [u8; 16] = hex::decode(&parts[0]).ok().and_then(|v| v.try_into().ok()).ok_or(TokenError::Invalid)?;
        let renewed =
            self.ticket_for("receipt-page", &[&parts[0], &parts[1]], now, chrono::Duration::seconds(READING_SECONDS));
        let token = FormToken { digest: String::new(), nonce };
        Ok((self.receipt_for(&token), parts[1] == "1", renewed))
    }
}

/// A new receipt shown in groups of four: `1234 5678 9012 3456`.
pub fn group_receipt(receipt: &str) -> String {
    receipt.as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join(" ")
}

/// What she typed, as the 16 ASCII digits of a receipt: spaces, dashes and dots are
/// ignored, Arabic-Indic and Persian digits are read as digits. None for anything else, and
/// for input longer than `MAX_RECEIPT_INPUT` bytes (refused before any hashing).
pub fn normalize_receipt(input: &str) -> Option<String> {
    if input.len() > MAX_RECEIPT_INPUT {
        return None;
    }
    let mut out = String::with_capacity(16);
    for c in input.chars() {
        if matches!(c, ' ' | '-' | '.' | '\u{00A0}' | '\t') {
            continue;
        }
        out.push(char::from_digit(super::decode::digit(c)?, 10)?);
    }
    (out.len() == 16).then_some(out)
}

/// A PIN: 4 to 12 digits (Arabic-Indic digits read as digits).
pub fn normalize_pin(input: &str) -> Option<String> {
    if input.len() > 48 {
        return None;
    }
    let mut out = String::new();
    for c in input.trim().chars() {
        out.push(char::from_digit(super::decode::digit(c)?, 10)?);
    }
    (4..=12).contains(&out.len()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> FormKeys {
        FormKeys::new(vec![7u8; 32]).unwrap()
    }

    #[test]
    fn the_prepared_block_key_is_hmac_itself() {
        for len in [16usize, 32, 64, 65, 100] {
            let key = vec![0x5au8; len];
            let mut a = <Hmac<Sha256> as Mac>::new_from_slice(&key).unwrap();
            let mut b = <Hmac<Sha256> as hmac::digest::KeyInit>::new((&*hmac_block_key(&key)).into());
            a.update(b"message");
            b.update(b"message");
            assert_eq!(a.finalize().into_bytes(), b.finalize().into_bytes(), "key of {len} bytes");
        }
    }

    #[test]
    fn receipts_normalise_from_what_people_type() {
        assert_eq!(normalize_receipt("1234 5678-9012.3456").as_deref(), Some("1234567890123456"));
        assert_eq!(normalize_receipt("١٢٣٤ ٥٦٧٨ ٩٠١٢ ٣٤٥٦").as_deref(), Some("1234567890123456"));
        assert_eq!(normalize_receipt("۱۲۳۴۵۶۷۸۹۰۱۲۳۴۵۶").as_deref(), Some("1234567890123456"));
        assert_eq!(normalize_receipt("123456789012345"), None);
        assert_eq!(normalize_receipt("12345678901234567"), None);
        assert_eq!(normalize_receipt("1234x67890123456"), None);
        assert_eq!(normalize_receipt(&"1".repeat(10_000)), None);
        assert_eq!(normalize_pin(" 0042 ").as_deref(), Some("0042"));
        assert_eq!(normalize_pin("123"), None);
        assert_eq!(normalize_pin("12a4"), None);
    }

    #[test]
    fn form_tokens_are_checked_and_expire() {
        let k = keys();
        let now = Utc::now();
        let t = k.new_form_token(now);
        let ok = k.check_form_token(&t, now).unwrap();
        assert_eq!(k.receipt_for(&ok).len(), 16);
        assert_eq!(k.receipt_for(&ok), k.receipt_for(&k.check_form_token(&t, now).unwrap()), "same form, same receipt");
        assert_eq!(
            k.check_form_token(&t, now + chrono::Duration::hours(FORM_TOKEN_HOURS + 1)).err(),
            Some(TokenError::Expired)
        );
        let mut forged = t.clone();
        forged.replace_range(0..1, if t.starts_with('0') { "1" } else { "0" });
        assert_eq!(k.check_form_token(&forged, now).err(), Some(TokenError::Invalid));
        assert_eq!(k.check_form_token("junk", now).err(), Some(TokenError::Invalid));
        let other = FormKeys::new(vec![8u8; 32]).unwrap();
        assert_eq!(other.check_form_token(&t, now).err(), Some(TokenError::Invalid));
    }

    #[test]
    fn tickets_are_signed_scoped_and_short_lived() {
        let k = keys();
        let now = Utc::now();
        let t = k.ticket("view", &["alert-1", "2"], now);
        assert_eq!(k.check_ticket("view", &t, 2, now).unwrap(), vec!["alert-1", "2"]);
        assert_eq!(k.check_ticket("other", &t, 2, now).err(), Some(TokenError::Invalid), "scoped");
        assert_eq!(k.check_ticket("view", &t.replacen("-1", "-2", 1), 2, now).err(), Some(TokenError::Invalid));
        let later = now + chrono::Duration::seconds(TICKET_SECONDS + 1);
        assert_eq!(k.check_ticket("view", &t, 2, later).err(), Some(TokenError::Expired));
        let form = k.check_form_token(&k.new_form_token(now), now).unwrap();
        let r = k.receipt_ticket(&form, true, now);
        assert_eq!(k.check_receipt_ticket(&r, now).unwrap(), (k.receipt_for(&form), true));
        // Renewed while the page is read: the same receipt, a ticket that works from now on.
        let soon = now + chrono::Duration::seconds(TICKET_SECONDS - 1);
        let (receipt, again, renewed) = k.renew_receipt_ticket(&r, soon).unwrap();
        assert_eq!((receipt.as_str(), again), (k.receipt_for(&form).as_str(), true));
        assert!(!renewed.contains(&receipt), "a ticket never holds the receipt");
        let later = soon + chrono::Duration::seconds(TICKET_SECONDS - 1);
        assert_eq!(k.check_receipt_ticket(&r, later).err(), Some(TokenError::Expired));
        assert_eq!(k.check_receipt_ticket(&renewed, later).unwrap().0, receipt);
        // The page's own ticket lasts while she reads (writing the receipt down slowly).
        let reading = soon + chrono::Duration::seconds(READING_SECONDS - 1);
        assert_eq!(k.check_receipt_ticket(&renewed, reading).unwrap().0, receipt);
        let gone = soon + chrono::Duration::seconds(READING_SECONDS + 1);
        assert_eq!(k.check_receipt_ticket(&renewed, gone).err(), Some(TokenError::Expired));
        assert_eq!(k.check_ticket("view", &renewed, 2, soon).err(), Some(TokenError::Invalid), "scoped");
    }

    #[test]
    fn portal_tokens_name_their_alert_and_expire() {
        let k = keys();
        let now = Utc::now();
        let since = now.timestamp();
        let t = k.portal_token("alert-1", since, now);
        assert_eq!(k.check_portal_token(&t, now).unwrap(), ("alert-1".to_string(), since));
        let moved = t.replacen("alert-1", "alert-2", 1);
        assert_eq!(k.check_portal_token(&moved, now).err(), Some(TokenError::Invalid));
        let later = now + chrono::Duration::minutes(PORTAL_MINUTES + 1);
        assert_eq!(k.check_portal_token(&t, later).err(), Some(TokenError::Expired));
        // Renewed page after page, a session still ends PORTAL_SESSION_MINUTES after it began.
        let mut at = now;
        let mut token = t;
        while at < now + chrono::Duration::minutes(PORTAL_SESSION_MINUTES - 20) {
            at += chrono::Duration::minutes(20);
            assert_eq!(k.check_portal_token(&token, at).unwrap().1, since, "still in at {at}");
            token = k.portal_token("alert-1", since, at);
        }
        let end = now + chrono::Duration::minutes(PORTAL_SESSION_MINUTES) + chrono::Duration::seconds(1);
        assert_eq!(k.check_portal_token(&token, end).err(), Some(TokenError::Expired), "the session is over");
    }

    #[test]
    fn receipt_lookups_are_deterministic_and_peppered() {
        let a = keys().receipt_lookup("1234567890123456").unwrap();
        assert_eq!(a, keys().receipt_lookup("1234567890123456").unwrap());
        assert_ne!(a, keys().receipt_lookup("1234567890123457").unwrap());
        let other = FormKeys::new(vec![8u8; 32]).unwrap().receipt_lookup("1234567890123456").unwrap();
        assert_ne!(a, other, "another pepper, another lookup");
        assert!(a.starts_with("v1:") && !a.contains("1234567890123456"));
    }
}
