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

/// Whether a new password is acceptable (the one rule, for prompts that ask again and for
/// [`hash_password`]); the reason when it is not.
pub fn password_acceptable(password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(format!(
            "the password is shorter than {MIN_PASSWORD_LEN} characters"
        ));
    }
    Ok(())
}

/// Hashes a tenant password with argon2id and a random salt (PHC string).
pub fn hash_password(password: &str) -> Result<String, String> {
    password_acceptable(password)?;
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

/// Password checks that may run at once in this process. Each argon2id check takes a 19 MiB
/// work area: this bounds a flood's memory to `MAX_CONCURRENT_CHECKS × 19 MiB`, whatever the
/// number of connections.
pub const MAX_CONCURRENT_CHECKS: usize = 2;

/// What an unknown name waits, until a real check was timed.
const FIRST_GUESS_OF_A_CHECK: std::time::Duration = std::time::Duration::from_millis(40);

/// A bound on concurrent password checks, with the time a real check takes lately.
pub struct PasswordGate {
    slots: tokio::sync::Semaphore,
    /// How long a real check took lately, in microseconds (a moving average; 0: none yet).
    check_micros: std::sync::atomic::AtomicU64,
}

/// Every password check of the process goes through this gate (gateway enrollments, console
/// logins), so the bound holds for the process as a whole.
pub static GATE: PasswordGate = PasswordGate::new(MAX_CONCURRENT_CHECKS);

/// All password-check slots are taken: the caller answers "busy, try again" at once instead of
/// queueing (a queue is memory and time a stranger could fill).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many password checks are running at once; try again in a few seconds")]
pub struct ChecksBusy;

/// [`PasswordGate::check`] at the process's [`GATE`].
pub async fn check_password(
    password: zeroize::Zeroizing<String>,
    stored: Option<String>,
) -> Result<bool, ChecksBusy> {
    GATE.check(password, stored).await
}

impl PasswordGate {
    /// A gate letting `slots` checks run at once.
    pub const fn new(slots: usize) -> Self {
        PasswordGate {
            slots: tokio::sync::Semaphore::const_new(slots),
            check_micros: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Checks `password` against `stored` when a slot is free, else refuses at once. An unknown
    /// name (`stored` is `None`) takes as long as a real check lately took, but costs no
    /// hashing and no work area.
    pub async fn check(
        &self,
        password: zeroize::Zeroizing<String>,
        stored: Option<String>,
    ) -> Result<bool, ChecksBusy> {
        use std::sync::atomic::Ordering::Relaxed;
        let _slot = self.slots.try_acquire().map_err(|_| ChecksBusy)?;
        let Some(stored) = stored else {
            let micros = self.check_micros.load(Relaxed);
            let typical = if micros == 0 {
                FIRST_GUESS_OF_A_CHECK
            } else {
                std::time::Duration::from_micros(micros)
            };
            tokio::time::sleep(typical).await;
            return Ok(false);
        };
        let started = std::time::Instant::now();
        let ok = tokio::task::spawn_blocking(move || verify_password(&password, Some(&stored)))
            .await
            .unwrap_or(false);
        let took = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        let before = self.check_micros.load(Relaxed);
        let average = if before == 0 {
            took
        } else {
            (before.saturating_mul(7).saturating_add(took)) / 8
        };
        self.check_micros.store(average, Relaxed);
        Ok(ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn checks_beyond_the_bound_are_refused_at_once_and_unknown_names_cost_no_hash() {
        let hash = hash_password("correct horse").unwrap();
        static OWN: PasswordGate = PasswordGate::new(MAX_CONCURRENT_CHECKS);
        let many: Vec<_> = (0..8)
            .map(|_| {
                let h = hash.clone();
                tokio::spawn(OWN.check(zeroize::Zeroizing::new("wrong password".into()), Some(h)))
            })
            .collect();
        let mut busy = 0;
        for t in many {
            match t.await.unwrap() {
                Ok(ok) => assert!(!ok),
                Err(ChecksBusy) => busy += 1,
            }
        }
        assert!(busy >= 8 - 2 * MAX_CONCURRENT_CHECKS, "{busy} refused");
        assert_eq!(
            OWN.check(zeroize::Zeroizing::new("correct horse".into()), Some(hash))
                .await,
            Ok(true)
        );
        let started = std::time::Instant::now();
        assert_eq!(
            OWN.check(zeroize::Zeroizing::new("x".into()), None).await,
            Ok(false)
        );
        // An unknown name waits about as long as a real check (no hash, no 19 MiB).
        assert!(started.elapsed() >= std::time::Duration::from_millis(1));
    }

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
