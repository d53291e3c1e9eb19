//! Tenant accounts: creating one and replacing its password, with their rules.

use cloudgate_db::DbError;
use cloudgate_db::prelude::*;
use cloudgate_errors::{Classify, ErrorKind};
use cloudgate_store::{CertStore, StoreError};

use crate::credentials::{check_name, hash_password};

/// Longest tenant description.
pub const MAX_DESCRIPTION: usize = 256;

/// Why an SP operation was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpError {
    /// What was asked is not acceptable (a name, a description, a password): exit 2.
    #[error("{0}")]
    Invalid(String),
    /// Tenants need a certificate in use first, as in the reference product.
    #[error(
        "no certificate is in use, and tenants cannot be created before one is: run `cloudgate sp cert generate --apply` or `cloudgate sp cert manage` first"
    )]
    NoCertificate,
    /// The database refused.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The certificate store could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A certificate could not be made.
    #[error(transparent)]
    Pki(#[from] cloudgate_pki::PkiError),
    /// Hashing could not run.
    #[error("hashing the password failed: {0}")]
    Hashing(String),
    /// The fleet's certificate cannot be opened or published (no fleet key, the wrong one, none
    /// published): what to copy or run is in the message.
    #[error("{0}")]
    Fleet(String),
    /// An ACME CA could not issue (unreachable, rate limited, a name not validated…).
    #[error(transparent)]
    Acme(#[from] crate::acme::AcmeError),
    /// Every password-check slot is taken: try again in a moment.
    #[error(transparent)]
    Busy(#[from] crate::credentials::ChecksBusy),
    /// Putting a certificate with a new key into use without a proof would make every enrolled
    /// machine verify it by hand: done only when forced.
    #[error(
        "certificate {thumbprint} has a new key and was not staged: {machines} enrolled machine(s) of {tenants} tenant(s) would all have to verify it by hand; stage it first and apply it once they have seen it, or apply with force"
    )]
    WouldReverify {
        /// The certificate.
        thumbprint: String,
        /// Enrolled machines.
        machines: usize,
        /// Their tenants.
        tenants: usize,
    },
    /// No such thing (a gateway, a certificate entry).
    #[error("{0}")]
    NotFound(String),
    /// The change was made but its audit entry could not be stored.
    #[error("{0}")]
    Unaudited(String),
}

impl SpError {
    /// Whether the error is the user's input (exit 2) rather than a failure of the machine.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self.kind(),
            ErrorKind::Usage | ErrorKind::NotFound | ErrorKind::Conflict
        )
    }
}

impl Classify for SpError {
    fn kind(&self) -> ErrorKind {
        match self {
            SpError::Invalid(_) | SpError::NoCertificate | SpError::Fleet(_) => ErrorKind::Usage,
            SpError::Db(e) => e.kind(),
            SpError::Store(e) => e.kind(),
            SpError::Pki(e) => e.kind(),
            SpError::Hashing(_) => ErrorKind::Internal,
            SpError::Acme(e) => e.kind(),
            SpError::Busy(_) => ErrorKind::Unavailable,
            SpError::WouldReverify { .. } => ErrorKind::Conflict,
            SpError::NotFound(_) => ErrorKind::NotFound,
            SpError::Unaudited(_) => ErrorKind::Io,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            SpError::Db(e) => e.code(),
            SpError::Store(e) => e.code(),
            SpError::Pki(e) => e.code(),
            SpError::Acme(e) => e.code(),
            SpError::WouldReverify { .. } => "would_reverify",
            SpError::Unaudited(_) => "unaudited",
            _ => self.kind().name(),
        }
    }
}

/// Hashes on the blocking pool: argon2id takes tens of milliseconds of CPU.
async fn hash(password: &str) -> Result<String, SpError> {
    let password = zeroize::Zeroizing::new(password.to_string());
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| SpError::Hashing(e.to_string()))?
        .map_err(SpError::Invalid)
}

/// Creates a tenant: a valid name, a description of at most [`MAX_DESCRIPTION`] characters
/// without control characters, a password of at least
/// [`crate::credentials::MIN_PASSWORD_LEN`], and a certificate in use.
pub async fn add_tenant(
    store: &CertStore,
    db: &dyn SpRepository,
    name: &str,
    description: &str,
    password: &str,
) -> Result<(), SpError> {
    check_new_tenant(store, name, description)?;
    let hashed = hash(password).await?;
    db.add_tenant(name, description, &hashed).await?;
    Ok(())
}

/// Everything [`add_tenant`] checks before the password: so a command can refuse before it asks
/// for one.
pub fn check_new_tenant(store: &CertStore, name: &str, description: &str) -> Result<(), SpError> {
    check_name("tenant", name).map_err(|e| SpError::Invalid(format!("{e} ({name:?})")))?;
    if description.chars().any(char::is_control) || description.chars().count() > MAX_DESCRIPTION {
        return Err(SpError::Invalid(format!(
            "the description must be at most {MAX_DESCRIPTION} characters, without control characters"
        )));
    }
    if store.applied()?.is_none() {
        return Err(SpError::NoCertificate);
    }
    Ok(())
}

/// Replaces a tenant's password.
pub async fn set_tenant_password(
    db: &dyn SpRepository,
    name: &str,
    password: &str,
) -> Result<(), SpError> {
    db.tenant(name).await?;
    let hashed = hash(password).await?;
    db.set_password_hash(name, &hashed).await?;
    // A new password ends a lockout: the guesses were at the old one.
    db.clear_enroll_failures(&format!("{}{name}", cloudgate_db::ACCOUNT_FAILURES_PREFIX))
        .await?;
    Ok(())
}

/// A machine's client-certificate SHA-256 as an operator pastes it (any case, with or without
/// colons or spaces), in the database's form: 64 upper-case hex digits.
pub fn machine_sha256(text: &str) -> Result<String, SpError> {
    let normalized: String = text
        .chars()
        .filter(|c| !matches!(c, ':' | ' ' | '-'))
        .collect::<String>()
        .to_ascii_uppercase();
    if normalized.len() != 64 || !normalized.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(SpError::Invalid(format!(
            "{text:?} is not a SHA-256 (64 hex digits); the tenant's page or `cloudgate sp tenant show TENANT` lists its machines'"
        )));
    }
    Ok(normalized)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_pasted_machine_sha256_is_normalised_and_anything_else_refused() {
        let hex = "ab".repeat(32);
        assert_eq!(super::machine_sha256(&hex).unwrap(), hex.to_uppercase());
        let colons = hex
            .as_bytes()
            .chunks(2)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join(":");
        assert_eq!(super::machine_sha256(&colons).unwrap(), hex.to_uppercase());
        assert!(super::machine_sha256(&hex[..62]).is_err());
        assert!(super::machine_sha256(&format!("{}zz", &hex[..62])).is_err());
        assert!(super::machine_sha256("../../etc").is_err());
    }

    use super::*;
    use cloudgate_store::{FileOwnership, Layout};

    #[tokio::test]
    async fn the_rules_come_before_the_password_and_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let store = CertStore::new(
            Layout::new(dir.path().join("data")),
            FileOwnership::owner_only(),
        );
        let bad = check_new_tenant(&store, "a b", "").unwrap_err();
        assert!(
            matches!(bad, SpError::Invalid(_)) && bad.is_bad_input(),
            "{bad}"
        );
        let long = check_new_tenant(&store, "acme", &"x".repeat(MAX_DESCRIPTION + 1)).unwrap_err();
        assert!(matches!(long, SpError::Invalid(_)), "{long}");
        let none = check_new_tenant(&store, "acme", "").unwrap_err();
        assert!(
            matches!(none, SpError::NoCertificate) && none.is_bad_input(),
            "{none}"
        );
    }
}
