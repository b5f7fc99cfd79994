//! Login throttling, in memory only. Keys are salted SHA-256 digests of the account email
//! and of the client address, with a salt made at start, so neither is kept in the clear
//! even in memory, and nothing here is ever stored or logged.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::config::LoginConfig;

type Key = [u8; 32];

struct Window {
    started: Instant,
    failures: u32,
}

pub struct LoginThrottle {
    salt: [u8; 32],
    max_account: u32,
    max_address: u32,
    window: Duration,
    buckets: Mutex<HashMap<Key, Window>>,
}

/// Bound on tracked keys: past it, expired windows are swept.
const SWEEP_AT: usize = 100_000;

impl LoginThrottle {
    pub fn new(cfg: &LoginConfig) -> Self {
        LoginThrottle {
            salt: rand::random(),
            max_account: cfg.max_failures_per_account,
            max_address: cfg.max_failures_per_address,
            window: Duration::from_secs(cfg.window_seconds),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn key(&self, kind: &[u8], value: &[u8]) -> Key {
        let mut h = Sha256::new();
        h.update(self.salt);
        h.update(kind);
        h.update(value);
        h.finalize().into()
    }

    fn keys(&self, email_normalized: &str, addr: Option<IpAddr>) -> (Key, Option<Key>) {
        (self.key(b"account:", email_normalized.as_bytes()), addr.map(|a| self.key(b"address:", &network_of(a))))
    }

    /// Takes one attempt from both budgets before the (slow) password check, so parallel
    /// guesses cannot all slip past the limit; `Err(seconds)` when either is spent. A
    /// successful login gives its attempt back with `record_success`.
    pub fn begin_attempt(&self, email_normalized: &str, addr: Option<IpAddr>) -> Result<(), u64> {
        self.check(email_normalized, addr)?;
        self.record_failure(email_normalized, addr);
        Ok(())
    }

    /// `Err(seconds)` while the account or the address is over its limit.
    pub fn check(&self, email_normalized: &str, addr: Option<IpAddr>) -> Result<(), u64> {
        let (acct, ip) = self.keys(email_normalized, addr);
        let buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let blocked = |k: &Key, max: u32| {
            buckets.get(k).and_then(|w| {
                let age = now.duration_since(w.started);
                (age < self.window && w.failures >= max).then(|| (self.window - age).as_secs().max(1))
            })
        };
        let wait = [blocked(&acct, self.max_account), ip.and_then(|k| blocked(&k, self.max_address))]
            .into_iter()
            .flatten()
            .max();
        match wait {
            Some(secs) => Err(secs),
            None => Ok(()),
        }
    }

    pub fn record_failure(&self, email_normalized: &str, addr: Option<IpAddr>) {
        let (acct, ip) = self.keys(email_normalized, addr);
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if buckets.len() >= SWEEP_AT {
            let window = self.window;
            buckets.retain(|_, w| now.duration_since(w.started) < window);
        }
        for k in std::iter::once(acct).chain(ip) {
            let w = buckets.entry(k).or_insert(Window { started: now, failures: 0 });
            if now.duration_since(w.started) >= self.window {
                *w = Window { started: now, failures: 0 };
            }
            w.failures += 1;
        }
    }

    /// A successful login gives back the attempt `begin_attempt` took, on both budgets. It
    /// does not wipe earlier failures: the victim's own login must not hand an attacker a
    /// fresh budget.
    pub fn record_success(&self, email_normalized: &str, addr: Option<IpAddr>) {
        let (acct, ip) = self.keys(email_normalized, addr);
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        for k in std::iter::once(acct).chain(ip) {
            if let Some(w) = buckets.get_mut(&k) {
                w.failures = w.failures.saturating_sub(1);
            }
        }
    }
}

/// IPv4 addresses count one by one; IPv6 by /64, the block one subscriber usually holds.
fn network_of(addr: IpAddr) -> Vec<u8> {
    match addr {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) => v4.octets().to_vec(),
            None => a.octets()[..8].to_vec(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_and_address_limits() {
        let t = LoginThrottle::new(&LoginConfig {
            max_failures_per_account: 2,
            max_failures_per_address: 3,
            window_seconds: 60,
            ..LoginConfig::default()
        });
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        assert!(t.check("a@x", Some(ip)).is_ok());
        t.record_failure("a@x", Some(ip));
        t.record_failure("a@x", Some(ip));
        assert!(t.check("a@x", Some(ip)).is_err(), "account limit");
        assert!(t.check("b@x", Some(ip)).is_ok());
        t.record_failure("b@x", Some(ip));
        assert!(t.check("c@x", Some(ip)).is_err(), "address limit");
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        assert!(t.check("c@x", Some(other)).is_ok());
    }

    #[test]
    fn attempts_are_counted_before_the_check_and_success_gives_one_back() {
        let t = LoginThrottle::new(&LoginConfig {
            max_failures_per_account: 3,
            max_failures_per_address: 100,
            window_seconds: 60,
            ..LoginConfig::default()
        });
        // Three parallel guesses all start before any finishes: the fourth is refused.
        for _ in 0..3 {
            assert!(t.begin_attempt("a@x", None).is_ok());
        }
        assert!(t.begin_attempt("a@x", None).is_err());
        // One of them succeeded: one attempt back, not a fresh budget.
        t.record_success("a@x", None);
        assert!(t.begin_attempt("a@x", None).is_ok());
        assert!(t.begin_attempt("a@x", None).is_err());
    }

    #[test]
    fn ipv6_counts_per_slash_64() {
        let t = LoginThrottle::new(&LoginConfig {
            max_failures_per_account: 100,
            max_failures_per_address: 2,
            window_seconds: 60,
            ..LoginConfig::default()
        });
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        t.record_failure("x@x", Some(a));
        t.record_failure("y@x", Some(b));
        assert!(t.check("z@x", Some(a)).is_err());
        assert!(t.check("z@x", Some(c)).is_ok());
    }
}
