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
        (
            self.key(b"account:", email_normalized.as_bytes()),
            addr.map(|a| self.key(b"address:", a.to_string().as_bytes())),
        )
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

    /// A successful login clears the account's failures (not the address's).
    pub fn record_success(&self, email_normalized: &str) {
        let (acct, _) = self.keys(email_normalized, None);
        self.buckets.lock().unwrap_or_else(|p| p.into_inner()).remove(&acct);
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
}
