//! Anti-abuse without identification: counters per client network and per alert, in the
//! database's `throttles` table (see `auth::throttle`), so that every instance counts
//! together and a restart forgets nothing. A counter's slot is an HMAC of the network or the
//! alert under a key every instance derives from a shared secret: the table holds no
//! address. Nothing here is logged.

use std::net::IpAddr;

use chrono::{Duration, NaiveDateTime};

use crate::auth::throttle::{self, SlotKey};
use crate::db::{Db, DbConn};
use crate::error::AppError;

/// Wrong PINs tolerated on one alert per 15 minutes, wherever they come from.
pub const PIN_FAILURES_PER_ALERT: u32 = 5;

const REPORT_WINDOW: Duration = Duration::hours(1);
const FAILURE_WINDOW: Duration = Duration::minutes(15);

pub struct Guard {
    key: SlotKey,
    reports_per_hour: u32,
    failures_per_window: u32,
}

/// The counter of one network's reports, for `Guard::take_report` inside the transaction
/// that stores the report (so a report that fails to store is not counted).
#[derive(Debug, Clone)]
pub struct ReportSlot {
    slot: String,
    max: u32,
}

impl ReportSlot {
    /// Counts this report; `false` (nothing counted) when the network sent its hour's share.
    pub fn take(&self, conn: &mut DbConn, now: NaiveDateTime) -> diesel::QueryResult<bool> {
        Ok(throttle::take(conn, &self.slot, self.max, REPORT_WINDOW, now)?.is_ok())
    }

    /// Whether the network has already sent its hour's share (a look, nothing counted).
    pub fn spent(&self, conn: &mut DbConn, now: NaiveDateTime) -> diesel::QueryResult<bool> {
        Ok(throttle::count(conn, &self.slot, now)? >= self.max)
    }
}

impl Guard {
    pub fn new(key: SlotKey, reports_per_hour: u32, failures_per_window: u32) -> Guard {
        Guard { key, reports_per_hour, failures_per_window }
    }

    pub fn report_slot(&self, addr: Option<IpAddr>) -> ReportSlot {
        ReportSlot { slot: self.key.network_slot(b"form-reports", addr), max: self.reports_per_hour }
    }

    fn failure_slot(&self, addr: Option<IpAddr>) -> String {
        self.key.network_slot(b"form-failures", addr)
    }

    fn pin_slot(&self, alert_id: &str) -> String {
        self.key.slot(&[b"form-pin", alert_id.as_bytes()])
    }

    /// Whether this network may try a receipt or PIN now.
    pub async fn may_try(&self, db: &Db, addr: Option<IpAddr>, now: NaiveDateTime) -> Result<bool, AppError> {
        let (slot, max) = (self.failure_slot(addr), self.failures_per_window);
        db.read(move |c| Ok(throttle::count(c, &slot, now)? < max)).await
    }

    pub async fn failed(&self, db: &Db, addr: Option<IpAddr>, now: NaiveDateTime) -> Result<(), AppError> {
        let slot = self.failure_slot(addr);
        db.write(move |c| Ok(throttle::add(c, &slot, FAILURE_WINDOW, now)?)).await
    }

    /// Whether this alert's PIN checks are locked for a while (too many wrong PINs).
    pub async fn pin_locked(&self, db: &Db, alert_id: &str, now: NaiveDateTime) -> Result<bool, AppError> {
        let slot = self.pin_slot(alert_id);
        db.read(move |c| Ok(throttle::count(c, &slot, now)? >= PIN_FAILURES_PER_ALERT)).await
    }

    pub async fn pin_failed(&self, db: &Db, alert_id: &str, now: NaiveDateTime) -> Result<(), AppError> {
        let slot = self.pin_slot(alert_id);
        db.write(move |c| Ok(throttle::add(c, &slot, FAILURE_WINDOW, now)?)).await
    }
}
