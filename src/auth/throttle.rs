//! Throttles kept in the database (`throttles`), so that every instance on one PostgreSQL
//! database counts together (N instances give the limits of one), a restart forgets
//! nothing, and a counter ends on its own when its window does. A counter's slot is an HMAC,
//! under a key derived from a secret every instance shares, of what it counts (an account,
//! a network, an alert): neither the table nor a log ever holds an address or an email.
//!
//! Logins have three budgets, so that a stranger cannot lock a coordinator out from her own
//! address:
//! - one account from one network: a few free failures, then a delay that doubles with
//!   every further failure (30 s, 1 min, 2 min, … up to the window). This stops a guesser.
//! - one network over all accounts: a bound within the window (spraying many accounts).
//! - one account over all networks: a much higher bound, against guessing spread over many
//!   addresses; one stranger's failures alone come nowhere near it.
//!
//! An attempt is counted before the slow password check (so parallel guesses cannot all
//! slip past a bound) by incrementing in SQL; a refused attempt is taken back in the same
//! transaction, so refusals never lengthen anyone's wait.

use std::net::IpAddr;

use chrono::{Duration, NaiveDateTime};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::config::LoginConfig;
use crate::db::models::throttle::Throttle;
use crate::db::DbConn;

/// The first delay once an account's free failures from one network are used up.
const FIRST_DELAY: Duration = Duration::seconds(30);

/// Roughly one counted attempt in this many also deletes the rows whose window has ended.
const SWEEP_ONE_IN: u32 = 64;

/// Makes slots: an HMAC-SHA256 of a counter's kind and parts, hex.
#[derive(Clone)]
pub struct SlotKey(Zeroizing<[u8; 64]>);

fn mac(block: &[u8; 64]) -> Hmac<Sha256> {
    // A key of one block is what HMAC pads every key to: any key length is valid.
    <Hmac<Sha256> as hmac::digest::KeyInit>::new(block.into())
}

impl SlotKey {
    /// A key for `purpose`, derived from a secret that every instance shares.
    pub fn derive(secret: &[u8], purpose: &str) -> SlotKey {
        let mut m = mac(&crate::form::keys::hmac_block_key(secret));
        m.update(b"haven throttle slots\0");
        m.update(purpose.as_bytes());
        SlotKey(crate::form::keys::hmac_block_key(&m.finalize().into_bytes()))
    }

    pub fn slot(&self, parts: &[&[u8]]) -> String {
        let mut m = mac(&self.0);
        for p in parts {
            m.update(&(p.len() as u32).to_be_bytes());
            m.update(p);
        }
        hex::encode(m.finalize().into_bytes())
    }

    /// The slot of a client's network: IPv4 addresses one by one, IPv6 by /64, the block one
    /// subscriber usually holds; unknown addresses share one slot.
    pub fn network_slot(&self, kind: &[u8], addr: Option<IpAddr>) -> String {
        match addr.map(network_of) {
            Some(net) => self.slot(&[kind, &net]),
            None => self.slot(&[kind, b"unknown"]),
        }
    }
}

fn network_of(addr: IpAddr) -> Vec<u8> {
    match addr {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) => v4.octets().to_vec(),
            None => a.octets()[..8].to_vec(),
        },
    }
}

fn seconds_until(at: NaiveDateTime, now: NaiveDateTime) -> u64 {
    (at - now).num_seconds().max(1) as u64
}

fn maybe_sweep(conn: &mut DbConn, now: NaiveDateTime) -> diesel::QueryResult<()> {
    if rand::random::<u32>().is_multiple_of(SWEEP_ONE_IN) {
        Throttle::sweep(conn, now)?;
    }
    Ok(())
}

/// A bound of `max` per `window` on one slot. Counts one; `Err(seconds)` (and nothing
/// counted) when that would pass the bound.
pub fn take(
    conn: &mut DbConn,
    slot: &str,
    max: u32,
    window: Duration,
    now: NaiveDateTime,
) -> diesel::QueryResult<Result<(), u64>> {
    maybe_sweep(conn, now)?;
    let row = Throttle::bump(conn, slot, now, now + window)?;
    if row.failures as u32 > max {
        Throttle::give_back(conn, slot, true, now)?;
        return Ok(Err(seconds_until(row.expires_at, now)));
    }
    Ok(Ok(()))
}

/// Counts one in a slot, whatever its count.
pub fn add(conn: &mut DbConn, slot: &str, window: Duration, now: NaiveDateTime) -> diesel::QueryResult<()> {
    maybe_sweep(conn, now)?;
    Throttle::bump(conn, slot, now, now + window).map(|_| ())
}

/// What a slot holds now (0 when it has no live window).
pub fn count(conn: &mut DbConn, slot: &str, now: NaiveDateTime) -> diesel::QueryResult<u32> {
    Ok(Throttle::live(conn, &[slot.to_string()], now)?.first().map_or(0, |r| r.failures.max(0) as u32))
}

/// The login throttle's settings and slot key; see the module's description.
pub struct LoginThrottle {
    key: SlotKey,
    limits: Limits,
}

#[derive(Debug, Clone, Copy)]
struct Limits {
    max_account: u32,
    max_address: u32,
    free_pair: u32,
    window: Duration,
}

impl Limits {
    /// The delay after `failures` failures of one account from one network: none for the
    /// free ones, then doubling from `FIRST_DELAY`, never more than the window.
    fn pair_delay(&self, failures: u32) -> Duration {
        if failures < self.free_pair {
            return Duration::zero();
        }
        let doublings = (failures - self.free_pair).min(16);
        (FIRST_DELAY * (1 << doublings)).min(self.window)
    }
}

/// The three counters of one login attempt, ready to be used inside a transaction.
#[derive(Debug, Clone)]
pub struct LoginAttempt {
    account: String,
    address: String,
    pair: String,
    limits: Limits,
}

impl LoginThrottle {
    pub fn new(cfg: &LoginConfig, key: SlotKey) -> Self {
        LoginThrottle {
            key,
            limits: Limits {
                max_account: cfg.max_failures_per_account,
                max_address: cfg.max_failures_per_address,
                free_pair: cfg.free_failures_per_account_and_address,
                window: Duration::seconds(cfg.window_seconds as i64),
            },
        }
    }

    /// The counters of an attempt on this account (normalised email) from this address.
    pub fn attempt(&self, email_normalized: &str, addr: Option<IpAddr>) -> LoginAttempt {
        let email = email_normalized.as_bytes();
        let net = addr.map(network_of);
        LoginAttempt {
            account: self.key.slot(&[b"login-account", email]),
            address: self.key.network_slot(b"login-address", addr),
            pair: self.key.slot(&[b"login-pair", email, net.as_deref().unwrap_or(b"unknown")]),
            limits: self.limits,
        }
    }
}

impl LoginAttempt {
    /// Takes one attempt from every budget, before the (slow) password check; `Err(seconds)`
    /// and nothing counted when a budget is spent. Commit it before checking the password.
    pub fn begin(&self, conn: &mut DbConn, now: NaiveDateTime) -> diesel::QueryResult<Result<(), u64>> {
        maybe_sweep(conn, now)?;
        let l = self.limits;
        let end = now + l.window;
        let account = Throttle::bump(conn, &self.account, now, end)?;
        let address = Throttle::bump(conn, &self.address, now, end)?;
        let pair = Throttle::bump(conn, &self.pair, now, end)?;
        let over = |row: &Throttle, max: u32| (row.failures as u32 > max).then(|| seconds_until(row.expires_at, now));
        let before = (pair.failures as u32).saturating_sub(1);
        let pair_wait = pair.prev_last_at.and_then(|last| {
            let until = last + l.pair_delay(before);
            (until > now).then(|| seconds_until(until, now))
        });
        let wait =
            [over(&account, l.max_account), over(&address, l.max_address), pair_wait].into_iter().flatten().max();
        match wait {
            Some(secs) => {
                for slot in [&self.account, &self.address, &self.pair] {
                    Throttle::give_back(conn, slot, true, now)?;
                }
                Ok(Err(secs))
            }
            None => Ok(Ok(())),
        }
    }

    /// Gives back the attempt `begin` took without clearing anything: her password was right
    /// but the sign-in needs a second step.
    pub fn give_back(&self, conn: &mut DbConn, now: NaiveDateTime) -> diesel::QueryResult<()> {
        for slot in [&self.account, &self.address, &self.pair] {
            Throttle::give_back(conn, slot, false, now)?;
        }
        Ok(())
    }

    /// A successful sign-in gives back the attempt on the account and network budgets; it
    /// does not wipe their earlier failures, so the victim's own sign-in does not hand an
    /// attacker a fresh budget. The budget of this account from this network starts again:
    /// whoever signed in from here knew the password and the second factor.
    pub fn succeeded(&self, conn: &mut DbConn, now: NaiveDateTime) -> diesel::QueryResult<()> {
        Throttle::give_back(conn, &self.account, false, now)?;
        Throttle::give_back(conn, &self.address, false, now)?;
        Throttle::delete(conn, &self.pair).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delay_doubles_up_to_the_window() {
        let l = Limits { max_account: 100, max_address: 20, free_pair: 5, window: Duration::seconds(900) };
        let delays: Vec<i64> = (0..12).map(|f| l.pair_delay(f).num_seconds()).collect();
        assert_eq!(delays, [0, 0, 0, 0, 0, 30, 60, 120, 240, 480, 900, 900]);
    }

    #[test]
    fn slots_hide_what_they_count_and_ipv6_counts_per_slash_64() {
        let k = SlotKey::derive(b"secret", "login");
        let a = k.network_slot(b"x", Some("2001:db8:1:2::1".parse().unwrap()));
        let b = k.network_slot(b"x", Some("2001:db8:1:2:ffff::9".parse().unwrap()));
        let c = k.network_slot(b"x", Some("2001:db8:1:3::1".parse().unwrap()));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.len(), 64);
        assert!(!a.contains("2001"));
        // Another secret (another deployment) gives other slots.
        assert_ne!(a, SlotKey::derive(b"other", "login").network_slot(b"x", Some("2001:db8:1:2::1".parse().unwrap())));
        // Mapped IPv4 is the IPv4 address.
        assert_eq!(
            k.network_slot(b"x", Some("::ffff:192.0.2.1".parse().unwrap())),
            k.network_slot(b"x", Some("192.0.2.1".parse().unwrap()))
        );
    }
}
