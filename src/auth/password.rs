//! Password hashing (argon2id, the crate's default parameters: m=19 MiB, t=2, p=1) and the
//! password rules. Hashing is slow on purpose: callers run it on a blocking thread.

use std::sync::OnceLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::distributions::{Alphanumeric, DistString};

use crate::error::AppError;

pub const MIN_LEN: usize = 12;
/// Long enough for any passphrase, short enough that hashing it is not a denial of service.
pub const MAX_LEN: usize = 256;

pub fn hash(password: &str) -> Result<String, AppError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AppError::internal(anyhow::anyhow!("argon2 hash: {e}")))
}

/// Constant work whether or not the account exists: an unknown account is checked against
/// a dummy hash so response time does not reveal which emails have accounts.
pub fn verify(password: &str, stored_hash: Option<&str>) -> bool {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash("dummy password for timing").unwrap_or_default());
    let target = stored_hash.unwrap_or(dummy);
    let ok = match PasswordHash::new(target) {
        Ok(parsed) => Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok(),
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
