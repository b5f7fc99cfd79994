//! Anti-abuse without identification: counters per client address, in memory only, keyed
//! by an HMAC of the address under a key made at start and never written anywhere, so not
//! even this process's memory holds a list of addresses. Nothing here is logged.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Counters beyond this many addresses are pruned (expired first), so a flood of
/// addresses cannot grow memory without bound.
const MAX_TRACKED: usize = 100_000;

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Report,
    Failure,
    /// Wrong PINs on one alert, from anywhere.
    PinFailure,
}

/// Wrong PINs tolerated on one alert per 15 minutes, wherever they come from.
pub const PIN_FAILURES_PER_ALERT: u32 = 5;

struct Counter {
    count: u32,
    window_start: Instant,
}

pub struct Guard {
    key: [u8; 32],
    reports_per_hour: u32,
    failures_per_window: u32,
    counters: Mutex<HashMap<(Kind, [u8; 16]), Counter>>,
}

const REPORT_WINDOW: Duration = Duration::from_secs(3600);
const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);

impl Guard {
    pub fn new(reports_per_hour: u32, failures_per_window: u32) -> Guard {
        Guard { key: rand::random(), reports_per_hour, failures_per_window, counters: Mutex::new(HashMap::new()) }
    }

    /// Where a counter lives: an HMAC of what it counts under the start-up key.
    fn slot_of(&self, parts: &[&[u8]]) -> [u8; 16] {
        let block = super::keys::hmac_block_key(&self.key);
        let mut m = <Hmac<Sha256> as hmac::digest::KeyInit>::new((&*block).into());
        for p in parts {
            m.update(p);
        }
        let out = m.finalize().into_bytes();
        let mut slot = [0u8; 16];
        slot.copy_from_slice(&out[..16]);
        slot
    }

    fn slot(&self, addr: Option<IpAddr>) -> [u8; 16] {
        match addr {
            Some(IpAddr::V4(a)) => self.slot_of(&[b"v4:", &a.octets()]),
            // One IPv6 user usually holds a whole /64.
            Some(IpAddr::V6(a)) => self.slot_of(&[b"v6:", &a.octets()[..8]]),
            None => self.slot_of(&[b"unknown"]),
        }
    }

    fn window(kind: Kind) -> Duration {
        match kind {
            Kind::Report => REPORT_WINDOW,
            Kind::Failure | Kind::PinFailure => FAILURE_WINDOW,
        }
    }

    fn alert_slot(&self, alert_id: &str) -> [u8; 16] {
        self.slot_of(&[b"alert:", alert_id.as_bytes()])
    }

    fn count(&self, kind: Kind, addr: Option<IpAddr>) -> u32 {
        self.count_slot(kind, self.slot(addr))
    }

    fn count_slot(&self, kind: Kind, slot: [u8; 16]) -> u32 {
        let map = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(&(kind, slot)) {
            Some(c) if c.window_start.elapsed() < Guard::window(kind) => c.count,
            _ => 0,
        }
    }

    fn bump(&self, kind: Kind, addr: Option<IpAddr>) {
        self.bump_slot(kind, self.slot(addr))
    }

    fn bump_slot(&self, kind: Kind, slot: [u8; 16]) {
        let mut map = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_TRACKED {
            map.retain(|(k, _), c| c.window_start.elapsed() < Guard::window(*k));
            if map.len() >= MAX_TRACKED {
                // Still full of live counters: drop the oldest half, never the newest (a
                // flood of fresh addresses must not wipe the counters it is racing).
                let mut starts: Vec<Instant> = map.values().map(|c| c.window_start).collect();
                starts.sort_unstable();
                let cut = starts[starts.len() / 2];
                map.retain(|_, c| c.window_start > cut);
            }
        }
        let c = map.entry((kind, slot)).or_insert(Counter { count: 0, window_start: Instant::now() });
        if c.window_start.elapsed() >= Guard::window(kind) {
            *c = Counter { count: 0, window_start: Instant::now() };
        }
        c.count = c.count.saturating_add(1);
    }

    /// Whether one more alert from this address is accepted; counts it if so.
    pub fn allow_report(&self, addr: Option<IpAddr>) -> bool {
        if self.count(Kind::Report, addr) >= self.reports_per_hour {
            return false;
        }
        self.bump(Kind::Report, addr);
        true
    }

    /// Whether this address may try a receipt or PIN now.
    pub fn may_try(&self, addr: Option<IpAddr>) -> bool {
        self.count(Kind::Failure, addr) < self.failures_per_window
    }

    pub fn failed(&self, addr: Option<IpAddr>) {
        self.bump(Kind::Failure, addr);
    }

    /// Whether this alert's PIN checks are locked for a while (too many wrong PINs).
    pub fn pin_locked(&self, alert_id: &str) -> bool {
        self.count_slot(Kind::PinFailure, self.alert_slot(alert_id)) >= PIN_FAILURES_PER_ALERT
    }

    pub fn pin_failed(&self, alert_id: &str) {
        self.bump_slot(Kind::PinFailure, self.alert_slot(alert_id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_address() {
        let g = Guard::new(2, 3);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        assert!(g.allow_report(Some(a)) && g.allow_report(Some(a)));
        assert!(!g.allow_report(Some(a)));
        assert!(g.allow_report(Some(b)));
        for _ in 0..3 {
            assert!(g.may_try(Some(a)));
            g.failed(Some(a));
        }
        assert!(!g.may_try(Some(a)));
        assert!(g.may_try(Some(b)));
        let v6a: IpAddr = "2001:db8::1".parse().unwrap();
        let v6b: IpAddr = "2001:db8::2".parse().unwrap();
        for _ in 0..3 {
            g.failed(Some(v6a));
        }
        assert!(!g.may_try(Some(v6b)), "one /64 is one client");
        for _ in 0..PIN_FAILURES_PER_ALERT {
            assert!(!g.pin_locked("alert-1"));
            g.pin_failed("alert-1");
        }
        assert!(g.pin_locked("alert-1"));
        assert!(!g.pin_locked("alert-2"));
    }
}
