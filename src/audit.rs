//! The audit trail: who did what to which object, when, and whether it worked.
//!
//! Every row is written inside the transaction of the change it records, and carries the
//! SHA-256 of its own content plus the previous row's hash, so any edit, deletion or
//! reordering is found by `haven audit verify`. Rows never hold case content, secrets,
//! tokens or client addresses: `detail` is for non-sensitive facts like "role: officer".

use chrono::{DateTime, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::clock::{naive, utc};
use crate::db::models::AuditEvent;
use crate::db::{self, DbConn};
use crate::error::AppError;

/// The `prev_hash` of the first row.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Denied,
    Failure,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Denied => "denied",
            Outcome::Failure => "failure",
        }
    }
}

/// What to record; `record` adds sequence, time and hashes.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    pub actor_id: Option<&'a str>,
    pub action: &'a str,
    pub subject_type: &'a str,
    pub subject_id: Option<&'a str>,
    pub outcome: Outcome,
    pub detail: Option<Value>,
}

impl<'a> Entry<'a> {
    pub fn new(actor_id: Option<&'a str>, action: &'a str, subject_type: &'a str, subject_id: Option<&'a str>) -> Self {
        Entry { actor_id, action, subject_type, subject_id, outcome: Outcome::Success, detail: None }
    }
    pub fn outcome(mut self, outcome: Outcome) -> Self {
        self.outcome = outcome;
        self
    }
    pub fn detail(mut self, detail: Value) -> Self {
        self.detail = Some(detail);
        self
    }
}

/// Appends one row to the chain. Call inside the transaction of the change it records.
///
/// Inside [`crate::db::Db::write_blocking`] the row is only queued, and the queue is written at
/// the end of the transaction, just before COMMIT ([`deferred`]): the chain's lock (an
/// advisory lock on PostgreSQL, held until COMMIT) is then held for the audit inserts and the
/// commit alone, not for the whole of the change.
pub fn record(conn: &mut DbConn, now: DateTime<Utc>, entry: Entry<'_>) -> Result<(), AppError> {
    let row = Pending {
        occurred_at: naive(now),
        actor_id: entry.actor_id.map(str::to_string),
        action: entry.action.to_string(),
        subject_type: entry.subject_type.to_string(),
        subject_id: entry.subject_id.map(str::to_string),
        outcome: entry.outcome.as_str(),
        detail: entry.detail.map(|d| d.to_string()),
    };
    let mut row = Some(row);
    PENDING.with(|p| {
        if let Some(queue) = p.borrow_mut().as_mut() {
            queue.extend(row.take());
        }
    });
    match row {
        None => Ok(()),
        // Not inside write_blocking: a transaction of its own (a savepoint if the caller has
        // one), so that the chain's lock covers reading the head and linking to it.
        Some(row) => diesel::Connection::transaction(conn, |c| append(c, vec![row])),
    }
}

/// A row waiting for the end of its transaction.
struct Pending {
    occurred_at: chrono::NaiveDateTime,
    actor_id: Option<String>,
    action: String,
    subject_type: String,
    subject_id: Option<String>,
    outcome: &'static str,
    detail: Option<String>,
}

thread_local! {
    /// The rows recorded by the transaction running on this thread, if one defers them.
    static PENDING: std::cell::RefCell<Option<Vec<Pending>>> = const { std::cell::RefCell::new(None) };
}

/// Restores the thread's previous queue (normally none) however the transaction ends, a
/// panic included, so no row can leak into the next transaction on this thread.
struct QueueScope(Option<Vec<Pending>>);

impl Drop for QueueScope {
    fn drop(&mut self) {
        let outer = self.0.take();
        PENDING.with(|p| *p.borrow_mut() = outer);
    }
}

/// Runs `f` (the body of a transaction) with audit rows queued, then writes them, still inside
/// the transaction. If `f` fails, its rows go with its rollback. Call it only inside a
/// transaction (as `Db::write_blocking` does). The queue belongs to the thread: inside `f`,
/// record only through `f`'s own connection.
pub fn deferred<T>(conn: &mut DbConn, f: impl FnOnce(&mut DbConn) -> Result<T, AppError>) -> Result<T, AppError> {
    let scope = QueueScope(PENDING.with(|p| p.borrow_mut().replace(Vec::new())));
    let out = f(conn);
    let rows = PENDING.with(|p| p.borrow_mut().take()).unwrap_or_default();
    drop(scope);
    let out = out?;
    if !rows.is_empty() {
        append(conn, rows)?;
    }
    Ok(out)
}

/// Links `rows` to the end of the chain, in order: the lock, the head, one insert.
fn append(conn: &mut DbConn, rows: Vec<Pending>) -> Result<(), AppError> {
    db::lock_audit_chain(conn)?;
    let (mut seq, mut prev_hash) = AuditEvent::head(conn)?.unwrap_or((0, GENESIS.to_string()));
    let mut linked = Vec::with_capacity(rows.len());
    for row in rows {
        seq += 1;
        let mut ev = AuditEvent {
            seq,
            id: uuid::Uuid::now_v7().to_string(),
            occurred_at: row.occurred_at,
            actor_id: row.actor_id,
            action: row.action,
            subject_type: row.subject_type,
            subject_id: row.subject_id,
            outcome: row.outcome.to_string(),
            detail: row.detail,
            prev_hash,
            hash: String::new(),
        };
        ev.hash = row_hash(&ev);
        prev_hash = ev.hash.clone();
        linked.push(ev);
    }
    AuditEvent::insert_all(conn, &linked)?;
    Ok(())
}

/// SHA-256 over an unambiguous encoding (a JSON array) of every column but `hash`.
pub fn row_hash(ev: &AuditEvent) -> String {
    let canonical = serde_json::json!([
        ev.seq,
        ev.id,
        utc(ev.occurred_at).format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        ev.actor_id,
        ev.action,
        ev.subject_type,
        ev.subject_id,
        ev.outcome,
        ev.detail,
        ev.prev_hash,
    ]);
    hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
}

/// What `verify` found.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every row links to the one before; `head` is the last row's `(seq, hash)`. Recording the
    /// head somewhere else and passing it back (`haven audit verify --expect-head`) also
    /// catches what a chain alone cannot: rows cut off the end, or a whole chain recomputed
    /// by someone who can write to the database.
    Intact {
        rows: u64,
        head: Option<(i64, String)>,
    },
    Broken {
        seq: i64,
        reason: &'static str,
        rows_checked: u64,
    },
}

/// Walks the whole chain in order, a chunk at a time, and reports the first broken link.
pub fn verify(conn: &mut DbConn) -> Result<Verdict, AppError> {
    verify_from(conn, 1)
}

/// Like [`verify`], but starts at row `from`, taking its `prev_hash` as given: after a
/// recorded incident, an operator keeps checking everything written since the damage without
/// rewriting the damaged rows. Rows numbered below `from` (and outside the chain) are not
/// looked at.
pub fn verify_from(conn: &mut DbConn, from: i64) -> Result<Verdict, AppError> {
    const CHUNK: i64 = 1000;
    let from = from.max(1);
    let mut expected_seq = from;
    let mut prev = if from == 1 {
        GENESIS.to_string()
    } else {
        match AuditEvent::by_seq(conn, from)? {
            Some(ev) => ev.prev_hash,
            None => return Ok(Verdict::Broken { seq: from, reason: "row missing", rows_checked: 0 }),
        }
    };
    let mut rows = 0u64;
    let total = if from == 1 { AuditEvent::count(conn)? } else { AuditEvent::count_from(conn, from)? };
    loop {
        let chunk = AuditEvent::chunk_after(conn, expected_seq - 1, CHUNK)?;
        if chunk.is_empty() {
            if rows as i64 != total {
                // Rows outside 1..=last (a seq of 0 or below) are not part of the chain.
                return Ok(Verdict::Broken { seq: 0, reason: "rows outside the chain", rows_checked: rows });
            }
            let head = (rows > 0).then(|| (expected_seq - 1, prev));
            return Ok(Verdict::Intact { rows, head });
        }
        for ev in chunk {
            let broken = |reason| Verdict::Broken { seq: ev.seq, reason, rows_checked: rows };
            if ev.seq != expected_seq {
                return Ok(Verdict::Broken { seq: expected_seq, reason: "row missing", rows_checked: rows });
            }
            if ev.prev_hash != prev {
                return Ok(broken("prev_hash does not match the previous row"));
            }
            if row_hash(&ev) != ev.hash {
                return Ok(broken("row content does not match its hash"));
            }
            prev = ev.hash;
            expected_seq += 1;
            rows += 1;
        }
    }
}

/// One row after the last good one, as `haven audit verify --report` shows it.
#[derive(Debug)]
pub struct Suspect {
    pub event: AuditEvent,
    /// Its hash still matches its content (false: the row was edited after it was written).
    pub content_ok: bool,
    /// Its `prev_hash` is the hash of the row listed before it.
    pub link_ok: bool,
    /// Rows numbered between the one listed before it and this one are gone.
    pub missing_before: Option<(i64, i64)>,
}

/// What `--report` prints after a failed verification: the last row that still verifies and
/// what follows it, row by row. It reads only; nothing is repaired or rewritten.
#[derive(Debug)]
pub struct Report {
    pub last_good: Option<AuditEvent>,
    pub following: Vec<Suspect>,
    /// Rows after the listed ones, not shown.
    pub more: i64,
    /// Rows numbered 0 or below (never written by Haven).
    pub outside: Vec<AuditEvent>,
}

/// Builds the report for a chain whose rows up to `last_good_seq` verify (0: none do),
/// listing at most `limit` of the rows after it.
pub fn report(conn: &mut DbConn, last_good_seq: i64, limit: i64) -> Result<Report, AppError> {
    let last_good = if last_good_seq > 0 { AuditEvent::by_seq(conn, last_good_seq)? } else { None };
    let rows = AuditEvent::chunk_after(conn, last_good_seq.max(0), limit)?;
    let after = AuditEvent::count_from(conn, last_good_seq.max(0) + 1)?;
    let (mut prev_seq, mut prev_hash) = match &last_good {
        Some(ev) => (ev.seq, ev.hash.clone()),
        None => (0, GENESIS.to_string()),
    };
    let mut following = Vec::with_capacity(rows.len());
    for ev in rows {
        let missing_before = (ev.seq > prev_seq + 1).then_some((prev_seq + 1, ev.seq - 1));
        let content_ok = row_hash(&ev) == ev.hash;
        let link_ok = ev.prev_hash == prev_hash;
        prev_seq = ev.seq;
        prev_hash = ev.hash.clone();
        following.push(Suspect { event: ev, content_ok, link_ok, missing_before });
    }
    let more = after - following.len() as i64;
    let outside = AuditEvent::outside_chain(conn, limit)?;
    Ok(Report { last_good, following, more, outside })
}
