//! Key-ring operations run from the CLI (and, for shredding, by retention rules later):
//! rotation, retirement, status, escrow recovery, crypto-shredding. Each is audited.

use std::path::Path;
use std::str::FromStr;

use age::x25519;
use chrono::{DateTime, Utc};

use super::{unwrap_with, wrap, Crypto, CryptoError, SERVICE_GRANTEE};
use crate::audit::{self, Entry};
use crate::clock::naive;
use crate::db::models::{CaseKey, CaseKeyGrant, Escalation, ServiceKey};
use crate::db::{self, Db, DbConn};
use crate::error::AppError;

fn app(e: CryptoError) -> AppError {
    e.into()
}

#[derive(Debug, PartialEq, Eq)]
pub struct RotateReport {
    /// The key made current by this run; None when the run resumed an earlier one.
    pub new_key: Option<String>,
    pub current_key: String,
    pub rewrapped: u64,
}

/// Adds a service identity, makes it current and re-wraps every service grant to it, one
/// transaction per batch. If grants under an older key remain (an earlier run stopped), it
/// resumes that run instead of starting another. Killing it at any point leaves every case
/// readable: old keys stay in the key file until `retire`.
pub fn rotate(
    crypto: &Crypto,
    db: &Db,
    now: DateTime<Utc>,
    batch: i64,
    pause_between_batches: std::time::Duration,
    mut progress: impl FnMut(u64, u64),
) -> anyhow::Result<RotateReport> {
    anyhow::ensure!(batch > 0, "batch size must be positive");
    let current = db
        .read_blocking(|c| Ok(ServiceKey::current(c)?))
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .ok_or_else(|| anyhow::anyhow!("no current service key: start the service once first"))?;
    let pending = db
        .read_blocking(|c| Ok(CaseKeyGrant::count_service_grants_not_under(c, &current.key_id)?))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let (current_id, new_key) = if pending > 0 {
        (current.key_id, None)
    } else {
        let id = crypto.ring_write().add_new(now)?;
        let recipient = crypto
            .ring_read()
            .get(&id)
            .map(|k| k.recipient())
            .ok_or_else(|| anyhow::anyhow!("new key vanished from the key file"))?;
        let key_id = id.clone();
        db.write_blocking(move |c| {
            db::lock_key_ring_exclusive(c)?;
            ServiceKey {
                key_id: key_id.clone(),
                recipient,
                created_at: naive(now),
                is_current: false,
                retired_at: None,
            }
            .insert(c)?;
            ServiceKey::make_current(c, &key_id)?;
            audit::record(c, now, Entry::new(None, "keys.rotate", "service_key", Some(&key_id)))?;
            Ok(())
        })
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        (id.clone(), Some(id))
    };
    let total = db
        .read_blocking(|c| Ok(CaseKeyGrant::count_service_grants_not_under(c, &current_id)?))
        .map_err(|e| anyhow::anyhow!("{e}"))? as u64;
    progress(0, total);
    let target = {
        let ring = crypto.ring_read();
        let k = ring
            .get(&current_id)
            .ok_or_else(|| anyhow::anyhow!("current service key {current_id} is not in the key file"))?;
        k.identity.to_public()
    };
    let mut done = 0u64;
    loop {
        let n = db
            .write_blocking(|c| rewrap_batch(crypto, c, &current_id, &target, batch))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        if n == 0 {
            break;
        }
        done += n;
        progress(done, total.max(done));
        if !pause_between_batches.is_zero() {
            std::thread::sleep(pause_between_batches);
        }
    }
    Ok(RotateReport { new_key, current_key: current_id, rewrapped: done })
}

fn rewrap_batch(
    crypto: &Crypto,
    c: &mut DbConn,
    current_id: &str,
    target: &x25519::Recipient,
    batch: i64,
) -> Result<u64, AppError> {
    // Under the shared lock a retirement cannot run meanwhile, and if another rotation made a
    // newer key current, this run is stale and must not wrap anything more to the old one.
    db::lock_key_ring_shared(c)?;
    let still_current = ServiceKey::current(c)?.is_some_and(|k| k.key_id == current_id);
    if !still_current {
        return Err(AppError::conflict(
            "rotation_superseded",
            "another rotation made a newer key current; run rotate again",
        ));
    }
    let grants = CaseKeyGrant::service_grants_not_under(c, current_id, batch)?;
    let mut n = 0;
    for g in &grants {
        let identity = crypto.unwrap_service_grant(g).map_err(app)?;
        let wrapped = wrap(&identity, target).map_err(app)?;
        n += CaseKeyGrant::rewrap(c, g, current_id, &wrapped)? as u64;
    }
    // A grant changed by someone else meanwhile is skipped; report progress only if this
    // batch achieved something, or the caller would spin.
    Ok(if grants.is_empty() { 0 } else { n.max(1) })
}

/// Removes a service identity for good. Refused while it is current or any grant uses it.
pub fn retire(crypto: &Crypto, db: &Db, now: DateTime<Utc>, key_id: &str) -> anyhow::Result<()> {
    let id = key_id.to_string();
    db.write_blocking(move |c| {
        db::lock_key_ring_exclusive(c)?;
        let key =
            ServiceKey::find(c, &id)?.ok_or_else(|| AppError::unprocessable("unknown_key", "no such service key"))?;
        if key.is_current {
            return Err(AppError::conflict("key_current", "the current key cannot be retired; rotate first"));
        }
        let n = ServiceKey::grant_count(c, &id)?;
        if n > 0 {
            return Err(AppError::Conflict {
                code: "key_in_use",
                message: format!("{n} case key grant(s) still use this key; finish `haven keys rotate` first").into(),
            });
        }
        if ServiceKey::mark_retired(c, &id, naive(now))? > 0 {
            audit::record(c, now, Entry::new(None, "keys.retire", "service_key", Some(&id)))?;
        }
        Ok(())
    })
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    // After the database says retired (and no grant can use it any more), drop the secret.
    crypto.ring_write().remove(key_id)?;
    Ok(())
}

pub struct KeyStatus {
    pub key: ServiceKey,
    pub grants: i64,
    pub in_key_file: bool,
}

pub fn status(crypto: &Crypto, db: &Db) -> anyhow::Result<Vec<KeyStatus>> {
    let keys = db.read_blocking(|c| Ok(ServiceKey::all(c)?)).map_err(|e| anyhow::anyhow!("{e}"))?;
    let ring = crypto.ring_read();
    keys.into_iter()
        .map(|k| {
            let id = k.key_id.clone();
            let grants =
                db.read_blocking(|c| Ok(ServiceKey::grant_count(c, &id)?)).map_err(|e| anyhow::anyhow!("{e}"))?;
            let in_key_file = ring.get(&k.key_id).is_some();
            Ok(KeyStatus { key: k, grants, in_key_file })
        })
        .collect()
}

/// Destroys the grants of a case (all of them, or all but the escrow grant), so that its
/// ciphertext cannot be opened by this service. Call inside a transaction; audited.
pub fn shred(
    crypto: &Crypto,
    conn: &mut DbConn,
    now: DateTime<Utc>,
    actor: Option<&str>,
    case_id: &str,
    keep_escrow: bool,
) -> Result<usize, AppError> {
    if CaseKey::latest(conn, case_id)?.is_none() {
        return Err(AppError::NotFound("case_key_not_found"));
    }
    let mut n = CaseKeyGrant::delete_for_case(conn, case_id, keep_escrow)?;
    CaseKey::mark_shredded(conn, case_id, naive(now))?;
    // Alerts triaged into the case keep their own keys: their narratives go with the case.
    for alert in crate::db::models::Alert::for_case(conn, case_id)? {
        n += CaseKeyGrant::delete_for_case(conn, &alert.id, keep_escrow)?;
        CaseKey::mark_shredded(conn, &alert.id, naive(now))?;
        crypto.forget(&alert.id);
    }
    // A shredded case is over: nothing more is mailed about it, and no check-in of it can
    // be missed later.
    for id in Escalation::active_for_case(conn, case_id)? {
        Escalation::end(conn, &id, "stopped", "case_shredded", naive(now))?;
    }
    crate::db::models::Checkin::cancel_pending_for_case(conn, case_id, naive(now))?;
    let detail = serde_json::json!({ "grants_destroyed": n, "escrow_kept": keep_escrow });
    audit::record(conn, now, Entry::new(actor, "case.shred", "case", Some(case_id)).detail(detail))?;
    crypto.forget(case_id);
    Ok(n)
}

/// Re-creates the service grant of a case from its escrow grant, using the offline escrow
/// identity (an age identity file), for each key version that has an escrow grant. Clears
/// the shredded mark of those versions: a case shredded only of its service grant comes back.
pub fn recover(db: &Db, now: DateTime<Utc>, identity_file: &Path, case_id: &str) -> anyhow::Result<usize> {
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(identity_file)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", identity_file.display()))?,
    );
    let identity = text
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .and_then(|l| x25519::Identity::from_str(l).ok())
        .ok_or_else(|| anyhow::anyhow!("{} holds no age X25519 identity", identity_file.display()))?;
    let escrow_id = super::keyring::key_id_of(&identity.to_public().to_string(), "escrow-");
    let case = case_id.to_string();
    db.write_blocking(move |c| {
        db::lock_key_ring_shared(c)?;
        let current =
            ServiceKey::current(c)?.ok_or_else(|| AppError::internal(anyhow::anyhow!("no current service key")))?;
        let target = super::parse_recipient(&current.recipient).map_err(app)?;
        let grants = CaseKeyGrant::for_case(c, &case)?;
        let escrow: Vec<_> =
            grants.iter().filter(|g| g.grantee_kind == "escrow" && g.grantee_id == escrow_id).collect();
        if escrow.is_empty() {
            return Err(AppError::NotFound("escrow_grant_not_found"));
        }
        let mut restored = 0;
        for g in escrow {
            let case_identity = unwrap_with(&g.wrapped, &identity).map_err(app)?;
            if let Some(old) = CaseKeyGrant::find(c, &case, g.key_version, "service", SERVICE_GRANTEE)? {
                CaseKeyGrant::delete_one(c, &old)?;
            }
            CaseKeyGrant {
                case_id: case.clone(),
                key_version: g.key_version,
                grantee_kind: "service".into(),
                grantee_id: SERVICE_GRANTEE.into(),
                key_id: current.key_id.clone(),
                wrapped: wrap(&case_identity, &target).map_err(app)?,
                created_at: naive(now),
            }
            .insert(c)?;
            CaseKey::clear_shredded(c, &case, g.key_version)?;
            restored += 1;
        }
        audit::record(c, now, Entry::new(None, "keys.recover", "case", Some(&case)))?;
        Ok(restored)
    })
    .map_err(|e| anyhow::anyhow!("{e}"))
}
