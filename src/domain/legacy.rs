//! Seals what databases from before migration 2026-12-04-000014 hold in clear: alert regions
//! (her own words) and visa countries and types (they give the sealed destination away).
//! SQL cannot encrypt, so the migration only adds the sealed columns; this runs at every
//! start ([`crate::state::AppState::prepare`]), once the key ring is in line, and finds
//! nothing to do after the first.
//!
//! Rows go in batches, each sealed and emptied of its plaintext in one transaction: a crash
//! leaves every row either sealed or still in clear for the next start, never both nor
//! neither. A row whose keys were destroyed (a shredded case) can no longer be sealed or
//! read: its plaintext is only emptied. Never logs what it seals.

use crate::crypto::{Crypto, CryptoError};
use crate::db::models::{Alert, Visa};
use crate::db::{Db, DbConn};
use crate::domain::relocation::visa_record;
use crate::error::AppError;

/// Rows per transaction: short write transactions, so a large upgrade does not hold the
/// writer for long.
pub const BATCH: i64 = 200;

/// How many rows a start sealed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Sealed {
    pub alerts: usize,
    pub visas: usize,
}

/// Seals every alert region and visa country and type still in clear; idempotent.
pub fn seal_clear_fields(db: &Db, crypto: &Crypto) -> anyhow::Result<Sealed> {
    let batches = |what: &str, f: &dyn Fn(&mut DbConn) -> Result<usize, AppError>| -> anyhow::Result<usize> {
        let mut total = 0;
        loop {
            let n = db.write_blocking(f).map_err(|e| anyhow::anyhow!("sealing {what} stored in clear: {e}"))?;
            total += n;
            if (n as i64) < BATCH {
                return Ok(total);
            }
        }
    };
    let done = Sealed {
        alerts: batches("alert regions", &|c| seal_alert_batch(c, crypto))?,
        visas: batches("visa countries and types", &|c| seal_visa_batch(c, crypto))?,
    };
    if done != Sealed::default() {
        db.reclaim(&["alerts", "visas"])?;
    }
    Ok(done)
}

/// Its ciphertext, or None when its keys are gone (nothing can read the record any more).
fn seal_or_drop(
    crypto: &Crypto,
    conn: &mut DbConn,
    key_owner: &str,
    version: i32,
    record: &str,
    text: Option<&str>,
) -> Result<Option<Vec<u8>>, AppError> {
    let Some(text) = text else { return Ok(None) };
    match crypto.seal_to_version(conn, key_owner, version, record, text.as_bytes()) {
        Ok(s) => Ok(Some(s.ciphertext)),
        Err(CryptoError::Shredded) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn seal_alert_batch(conn: &mut DbConn, crypto: &Crypto) -> Result<usize, AppError> {
    let rows = Alert::legacy_regions(conn, BATCH)?;
    for (id, version, region) in &rows {
        let ct = seal_or_drop(crypto, conn, id, *version, "region", Some(region))?;
        Alert::seal_legacy_region(conn, id, ct.as_deref())?;
    }
    Ok(rows.len())
}

fn seal_visa_batch(conn: &mut DbConn, crypto: &Crypto) -> Result<usize, AppError> {
    let rows = Visa::legacy_clear(conn, BATCH)?;
    for v in &rows {
        let record = |field| visa_record(&v.id, field);
        let country = seal_or_drop(crypto, conn, &v.case_id, v.key_version, &record("country"), v.country.as_deref())?;
        let visa_type =
            seal_or_drop(crypto, conn, &v.case_id, v.key_version, &record("visa_type"), v.visa_type.as_deref())?;
        Visa::seal_legacy(conn, &v.id, country.as_deref(), visa_type.as_deref())?;
    }
    Ok(rows.len())
}
