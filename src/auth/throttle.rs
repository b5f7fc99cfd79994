//! Login throttling, in memory only. Keys are salted SHA-256 digests of the account email
//! and of the client address, with a salt made at start, so neither is kept in the clear
//! even in memory, and nothing here is ever stored or logged.
//!
//! Three budgets, so a stranger cannot lock a coordinator out from her own address:
//! - one account from one address: a few free failures, then a delay that doubles with every
//!   further failure (30 s, 1 min, 2 min, … up to the window). This is what stops a guesser.
//! - one address over all accounts: a bound within the window (spraying many accounts).
//! - one account over all addresses: a much higher bound within the window, against guessing
//!   spread over many addresses; one stranger's failures alone come nowhere near it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::config::LoginConfig;

type Key = [u8; 32];

struct Window {
    started: Instant,
    last: Instant,
    failures: u32,
}

pub struct LoginThrottle {
    salt: [u8; 32],
    max_account: u32,
    max_address: u32,
    free_pair: u32,
    window: Duration,
    buckets: Mutex<HashMap<Key, Window>>,
}

/// Bound on tracked keys: past it, expired windows are swept.
const SWEEP_AT: usize = 100_000;

/// The first delay once an account's free failures from one address are used up.
const FIRST_DELAY: Duration = Duration::from_secs(30);

struct Keys {
    account: Key,
    address: Option<Key>,
    pair: Key,
}

impl LoginThrottle {
    pub fn new(cfg: &LoginConfig) -> Self {
        LoginThrottle {
            salt: rand::random(),
            max_account: cfg.max_failures_per_account,
            max_address: cfg.max_failures_per_address,
            free_pair: cfg.free_failures_per_account_and_address,
            window: Duration::from_secs(cfg.window_seconds),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn key(&self, parts: &[&[u8]]) -> Key {
        let mut h = Sha256::new();
        h.update(self.salt);
        for p in parts {
            h.update((p.len() as u32).to_be_bytes());
            h.update(p);
        }
        h.finalize().into()
    }

    fn keys(&self, email_normalized: &str, addr: Option<IpAddr>) -> Keys {
        let net = addr.map(network_of);
        let email = email_normalized.as_bytes();
        Keys {
            account: self.key(&[b"account", email]),
            address: net.as_deref().map(|n| self.key(&[b"address", n])),
            pair: self.key(&[b"pair", email, net.as_deref().unwrap_or(b"none")]),
        }
    }

    /// The delay after `failures` failures of one account from one address: none for the
    /// free ones, then doubling from `FIRST_DELAY`, never more than the window.
    fn pair_delay(&self, failures: u32) -> Duration {
        if failures < self.free_pair {
            return Duration::ZERO;
        }
        let doublings = (failures - self.free_pair).min(16);
        FIRST_DELAY.saturating_mul(1 << doublings).min(self.window)
    }

    /// Takes one attempt from every budget before the (slow) password check, so parallel
    /// guesses cannot all slip past the limit; `Err(seconds)` when one is spent. A
    /// successful login gives its attempt back with `record_success`.
    pub fn begin_attempt(&self, email_normalized: &str, addr: Option<IpAddr>) -> Result<(), u64> {
        self.check(email_normalized, addr)?;
        self.record_failure(email_normalized, addr);
        Ok(())
    }

    /// `Err(seconds)` while any of the three budgets is spent.
    pub fn check(&self, email_normalized: &str, addr: Option<IpAddr>) -> Result<(), u64> {
        let keys = self.keys(email_normalized, addr);
        let buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let live = |k: &Key| buckets.get(k).filter(|w| now.duration_since(w.started) < self.window);
        let over = |k: &Key, max: u32| {
            live(k).and_then(|w| (w.failures >= max).then(|| self.window - now.duration_since(w.started)))
        };
        let pair = live(&keys.pair).and_then(|w| {
            let until = w.last + self.pair_delay(w.failures);
            (until > now).then(|| until - now)
        });
        let wait = [over(&keys.account, self.max_account), keys.address.and_then(|k| over(&k, self.max_address)), pair]
            .into_iter()
            .flatten()
            .max();
        match wait {
            Some(d) => Err(d.as_secs().max(1)),
            None => Ok(()),
        }
    }

    pub fn record_failure(&self, email_normalized: &str, addr: Option<IpAddr>) {
        let keys = self.keys(email_normalized, addr);
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if buckets.len() >= SWEEP_AT {
            let window = self.window;
            buckets.retain(|_, w| now.duration_since(w.started) < window);
        }
        for k in [Some(keys.account), keys.address, Some(keys.pair)].into_iter().flatten() {
            let w = buckets.entry(k).or_insert(Window { started: now, last: now, failures: 0 });
            if now.duration_since(w.started) >= self.window {
                *w = Window { started: now, last: now, failures: 0 };
            }
            w.failures += 1;
            w.last = now;
        }
    }

    /// A successful login gives back the attempt `begin_attempt` took on the account and the
    /// address budgets; it does not wipe their earlier failures, so the victim's own login
    /// does not hand an attacker a fresh budget. The budget of this account from this address
    /// starts again: whoever logged in from here knew the password.
    pub fn record_success(&self, email_normalized: &str, addr: Option<IpAddr>) {
        let keys = self.keys(email_normalized, addr);
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        for k in [Some(keys.account), keys.address].into_iter().flatten() {
            if let Some(w) = buckets.get_mut(&k) {
                w.failures = w.failures.saturating_sub(1);
            }
        }
        buckets.remove(&keys.pair);
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

    fn throttle(account: u32, address: u32, free_pair: u32) -> LoginThrottle {
        LoginThrottle::new(&LoginConfig {
            max_failures_per_account: account,
            max_failures_per_address: address,
            free_failures_per_account_and_address: free_pair,
            window_seconds: 900,
            ..LoginConfig::default()
        })
    }

    #[test]
    fn account_and_address_limits() {
        let t = throttle(2, 3, 100);
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
    fn a_stranger_slows_down_himself_not_her() {
        let t = throttle(100, 20, 5);
        let stranger: IpAddr = "198.51.100.7".parse().unwrap();
        let hers: IpAddr = "192.0.2.10".parse().unwrap();
        for _ in 0..5 {
            assert!(t.begin_attempt("coord@x", Some(stranger)).is_ok());
        }
        // His sixth attempt waits the first delay; hers goes through at once.
        let wait = t.check("coord@x", Some(stranger)).unwrap_err();
        assert!((29..=30).contains(&wait), "{wait}");
        assert!(t.begin_attempt("coord@x", Some(hers)).is_ok());
        // Every further failure doubles his delay, up to the window.
        let mut delays = Vec::new();
        for failures in 5..12 {
            delays.push(t.pair_delay(failures).as_secs());
        }
        assert_eq!(delays, [30, 60, 120, 240, 480, 900, 900]);
        // Her success from her address clears her own pair budget only.
        t.record_success("coord@x", Some(hers));
        assert!(t.check("coord@x", Some(stranger)).is_err());
        assert!(t.check("coord@x", Some(hers)).is_ok());
    }

    #[test]
    fn failures_spread_over_addresses_reach_the_account_bound() {
        let t = throttle(10, 1000, 5);
        for i in 0..10u8 {
            let ip = IpAddr::from([203, 0, 113, i]);
            assert!(t.begin_attempt("coord@x", Some(ip)).is_ok());
        }
        let fresh: IpAddr = "192.0.2.99".parse().unwrap();
        assert!(t.check("coord@x", Some(fresh)).is_err(), "the account-wide bound holds");
        assert!(t.check("other@x", Some(fresh)).is_ok());
    }

    #[test]
    fn attempts_are_counted_before_the_check_and_success_gives_one_back() {
        let t = throttle(3, 100, 100);
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
        let t = throttle(100, 2, 100);
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        t.record_failure("x@x", Some(a));
        t.record_failure("y@x", Some(b));
        assert!(t.check("z@x", Some(a)).is_err());
        assert!(t.check("z@x", Some(c)).is_ok());
    }
}
