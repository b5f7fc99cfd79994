//! Time comes from here, so tests (and later the escalation engine's tests) move time
//! instead of sleeping. Times are UTC and truncated to microseconds, the precision both
//! databases keep, so a value reads back exactly as it was written (the audit hash needs that).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};

pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now().trunc_subsecs(6)
    }
}

/// A clock the test moves by hand; starts at the real time.
#[derive(Clone)]
pub struct ManualClock {
    offset_micros: Arc<AtomicI64>,
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock { offset_micros: Arc::new(AtomicI64::new(0)) }
    }
}

impl ManualClock {
    pub fn advance(&self, by: chrono::Duration) {
        self.offset_micros.fetch_add(by.num_microseconds().unwrap_or(i64::MAX), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        let off = chrono::Duration::microseconds(self.offset_micros.load(Ordering::SeqCst));
        (Utc::now() + off).trunc_subsecs(6)
    }
}

/// `DateTime<Utc>` as stored (naive UTC).
pub fn naive(t: DateTime<Utc>) -> NaiveDateTime {
    t.naive_utc()
}

/// Stored naive UTC back to `DateTime<Utc>`.
pub fn utc(t: NaiveDateTime) -> DateTime<Utc> {
    DateTime::from_naive_utc_and_offset(t, Utc)
}

/// Timestamps in answers (API, CLI, console): RFC 3339, UTC, to the microsecond.
pub fn ts(t: NaiveDateTime) -> String {
    utc(t).to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}
