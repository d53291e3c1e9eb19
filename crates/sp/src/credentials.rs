//! Tenant names and passwords: what a valid name is, and argon2id hashing and checking.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

/// Longest tenant or service name.
pub const MAX_NAME_LEN: usize = 64;

/// Checks a tenant or service name: 1–64 characters of letters, digits, `.`, `_`, `-`, starting
/// with a letter or digit. Returns why not.
pub fn check_name(kind: &str, name: &str) -> Result<(), String> {
    check_name_allowing(kind, name, &[])
}

/// Checks a name as [`check_name`] does, allowing the characters of `also` too (a gateway's id
/// or pool may hold `:`, as in `host:port`).
pub fn check_name_allowing(kind: &str, name: &str, also: &[char]) -> Result<(), String> {
    if name.is_empty() {
        return Err(format!("the {kind} name is empty"));
    }
    if name.chars().count() > MAX_NAME_LEN {
        return Err(format!(
            "the {kind} name is longer than {MAX_NAME_LEN} characters"
        ));
    }
    if !name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
    {
        return Err(format!("the {kind} name must start with a letter or digit"));
    }
    let allowed =
        |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') || also.contains(&c);
    if let Some(bad) = name.chars().find(|&c| !allowed(c)) {
        let extra: String = also.iter().map(|c| format!(", '{c}'")).collect();
        return Err(format!(
            "the {kind} name contains {bad:?}; use letters, digits, '.', '_', '-'{extra}"
        ));
    }
    Ok(())
}

/// Two secrets (or their hashes) compared without an early exit: for token hashes and CSRF
/// tokens.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Shortest password accepted for a tenant.
pub const MIN_PASSWORD_LEN: usize = 8;

/// Hashes a tenant password with argon2id and a random salt (PHC string).
pub fn hash_password(password: &str) -> Result<String, String> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(format!(
            "the password is shorter than {MIN_PASSWORD_LEN} characters"
        ));
    }
    let mut salt_bytes = [0u8; 16];
    random_fill(&mut salt_bytes)?;
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| e.to_string())?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Fills `buf` from AWS-LC's kernel-seeded generator (rustls' provider already links it): for
/// salts and token secrets.
pub(crate) fn random_fill(buf: &mut [u8]) -> Result<(), String> {
    rustls::crypto::aws_lc_rs::default_provider()
        .secure_random
        .fill(buf)
        .map_err(|_| "the random generator failed".to_string())
}

/// A fixed hash checked against when the tenant does not exist, so that an unknown name takes as
/// long to refuse as a wrong password.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$1I2sYDuDbvZHdV/Whl1oRxI4w9MQ10vmRSDW3m/Gx34";

/// Checks a password against a stored hash (or against nothing, in the same time).
pub fn verify_password(password: &str, stored_hash: Option<&str>) -> bool {
    let hash = stored_hash.unwrap_or(DUMMY_HASH);
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let ok = Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    ok && stored_hash.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for good in ["acme", "Acme-1", "a.b_c", "9"] {
            assert!(check_name("tenant", good).is_ok(), "{good}");
        }
        for bad in ["", "-a", "a b", "a/b", "ä", &"x".repeat(65)] {
            assert!(check_name("tenant", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", Some(&h)));
        assert!(!verify_password("wrong horse", Some(&h)));
        assert!(!verify_password("correct horse", None));
        assert!(hash_password("short").is_err());
        assert_ne!(hash_password("correct horse").unwrap(), h, "salted");
    }
}
