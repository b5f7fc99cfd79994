//! Password hashing (argon2id, the crate's default parameters: m=19 MiB, t=2, p=1) and the
//! password rules. Hashing is slow on purpose: request handlers run it through `off_thread`.

use std::sync::OnceLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::distributions::{Alphanumeric, DistString};

use crate::error::AppError;

pub const MIN_LEN: usize = 12;
/// Long enough for any passphrase, short enough that hashing it is not a denial of service.
pub const MAX_LEN: usize = 256;

/// How many Argon2 computations may run at once: one per core (read once: on Linux the
/// answer comes from cgroup files).
static MAX_ARGON2: std::sync::LazyLock<usize> =
    std::sync::LazyLock::new(|| std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(1, 8));

/// Runs `f`, an Argon2 computation, once fewer than one per core are running; waits
/// otherwise. Each one holds 8–19 MiB while it runs: without a bound, a burst of logins or
/// form submissions on the blocking pool's hundreds of threads would hold hundreds of MiB
/// (and, beyond one per core, would only be slower, not faster).
pub fn limited<T>(f: impl FnOnce() -> T) -> T {
    static RUNNING: std::sync::Mutex<usize> = std::sync::Mutex::new(0);
    static FREED: std::sync::Condvar = std::sync::Condvar::new();
    let max = *MAX_ARGON2;
    {
        let mut running = RUNNING.lock().unwrap_or_else(|p| p.into_inner());
        while *running >= max {
            running = FREED.wait(running).unwrap_or_else(|p| p.into_inner());
        }
        *running += 1;
    }
    // Released however `f` ends, a panic included.
    struct Release;
    impl Drop for Release {
        fn drop(&mut self) {
            let mut running = RUNNING.lock().unwrap_or_else(|p| p.into_inner());
            *running = running.saturating_sub(1);
            FREED.notify_one();
        }
    }
    let _release = Release;
    f()
}

/// Runs `f`, which does Argon2 work, on a blocking thread once one of the places (one per
/// core) is free. The wait is asynchronous: a burst of logins or form posts queues here, in
/// order, and not on the blocking pool, whose threads every other request's database work
/// needs. `limited` inside `f` still holds the bound if a request is dropped while its
/// computation runs (its place is then given back early).
pub async fn off_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, AppError> {
    static PLACES: std::sync::LazyLock<tokio::sync::Semaphore> =
        std::sync::LazyLock::new(|| tokio::sync::Semaphore::new(*MAX_ARGON2));
    let _place = PLACES.acquire().await.map_err(|e| AppError::internal(anyhow::anyhow!("argon2 places: {e}")))?;
    actix_web::web::block(f).await.map_err(|e| AppError::internal(anyhow::anyhow!("blocking pool: {e}")))
}

pub fn hash(password: &str) -> Result<String, AppError> {
    let salt = SaltString::generate(&mut OsRng);
    limited(|| Argon2::default().hash_password(password.as_bytes(), &salt).map(|h| h.to_string()))
        .map_err(|e| AppError::internal(anyhow::anyhow!("argon2 hash: {e}")))
}

/// Constant work whether or not the account exists: an unknown account is checked against
/// a dummy hash so response time does not reveal which emails have accounts.
pub fn verify(password: &str, stored_hash: Option<&str>) -> bool {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash("dummy password for timing").unwrap_or_default());
    let target = stored_hash.unwrap_or(dummy);
    let ok = match PasswordHash::new(target) {
        Ok(parsed) => limited(|| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok()),
        Err(_) => false,
    };
    ok && stored_hash.is_some()
}

pub fn check_policy(password: &str) -> Result<(), AppError> {
    let n = password.chars().count();
    if n < MIN_LEN {
        return Err(AppError::unprocessable(
            "weak_password",
            format!("password must have at least {MIN_LEN} characters"),
        ));
    }
    if password.len() > MAX_LEN {
        return Err(AppError::unprocessable(
            "password_too_long",
            format!("password must have at most {MAX_LEN} bytes"),
        ));
    }
    Ok(())
}

/// A one-time password for a new account: 20 alphanumerics, about 119 bits.
pub fn generate() -> String {
    Alphanumeric.sample_string(&mut rand::rngs::OsRng, 20)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The two tests of the Argon2 bound share its count: one at a time.
    static BOUND: std::sync::Mutex<()> = std::sync::Mutex::new(());

    #[test]
    fn argon2_work_never_runs_more_than_once_per_core() {
        let _one = BOUND.lock().unwrap_or_else(|p| p.into_inner());
        use std::sync::atomic::{AtomicUsize, Ordering};
        let max = *MAX_ARGON2;
        let (now, peak, done) = (AtomicUsize::new(0), AtomicUsize::new(0), AtomicUsize::new(0));
        std::thread::scope(|s| {
            for _ in 0..4 * max + 3 {
                s.spawn(|| {
                    limited(|| {
                        let running = now.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(running, Ordering::SeqCst);
                        // Hold the place until a second computation runs beside this one (or
                        // long enough that one would have, had the bound allowed it): the
                        // check below then does not depend on how busy the machine is.
                        let waited = std::time::Instant::now();
                        while now.load(Ordering::SeqCst) < max.min(2)
                            && waited.elapsed() < std::time::Duration::from_secs(2)
                        {
                            std::thread::sleep(std::time::Duration::from_millis(1));
                        }
                        peak.fetch_max(now.load(Ordering::SeqCst), Ordering::SeqCst);
                        now.fetch_sub(1, Ordering::SeqCst);
                        done.fetch_add(1, Ordering::SeqCst);
                    })
                });
            }
        });
        assert_eq!(done.load(Ordering::SeqCst), 4 * max + 3, "every caller ran");
        let peak = peak.load(Ordering::SeqCst);
        assert!(peak <= max, "peak {peak} above {max}");
        assert!(peak >= max.min(2), "the computations ran one at a time (peak {peak}, allowed {max})");
        // A panicking computation gives its place back.
        for _ in 0..max + 1 {
            assert!(std::panic::catch_unwind(|| limited(|| panic!("inside"))).is_err());
        }
        assert_eq!(limited(|| 7), 7);
    }

    /// Argon2 work waiting for its place must not sit on a blocking thread: in a runtime
    /// with one blocking thread more than there are places, twice as many computations as
    /// places are started and held; other blocking work must still get the spare thread.
    #[test]
    fn argon2_work_waits_for_its_place_without_a_thread() {
        use std::sync::{Arc, Condvar, Mutex};
        let _one = BOUND.lock().unwrap_or_else(|p| p.into_inner());
        let max = *MAX_ARGON2;
        let rt =
            tokio::runtime::Builder::new_current_thread().max_blocking_threads(max + 1).enable_time().build().unwrap();
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        let started = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        rt.block_on(async {
            let mut held = Vec::new();
            for _ in 0..2 * max {
                let (gate, started) = (gate.clone(), started.clone());
                held.push(tokio::spawn(off_thread(move || {
                    limited(|| {
                        started.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        let (open, cv) = &*gate;
                        let mut open = open.lock().unwrap();
                        while !*open {
                            open = cv.wait(open).unwrap();
                        }
                        7
                    })
                })));
            }
            // Every place taken (the other computations queue behind them).
            while started.load(std::sync::atomic::Ordering::SeqCst) < max {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            let other = tokio::time::timeout(std::time::Duration::from_secs(10), actix_web::web::block(|| 42)).await;
            assert_eq!(started.load(std::sync::atomic::Ordering::SeqCst), max, "only one computation per place ran");
            {
                let (open, cv) = &*gate;
                *open.lock().unwrap() = true;
                cv.notify_all();
            }
            assert!(matches!(other, Ok(Ok(42))), "other blocking work waited behind queued Argon2 work");
            for h in held {
                assert_eq!(h.await.unwrap().unwrap(), 7);
            }
            assert_eq!(started.load(std::sync::atomic::Ordering::SeqCst), 2 * max);
        });
    }

    #[test]
    fn hash_and_verify() {
        let h = hash("a long enough passphrase").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("a long enough passphrase", Some(&h)));
        assert!(!verify("a wrong passphrase here", Some(&h)));
        assert!(!verify("a long enough passphrase", None));
    }

    #[test]
    fn policy() {
        assert!(check_policy("short").is_err());
        assert!(check_policy(&"x".repeat(300)).is_err());
        assert!(check_policy("twelve chars").is_ok());
        assert_eq!(generate().len(), 20);
    }
}
