//! The console's administrators and the API tokens scripts use: the rules for their names and
//! passwords, and the tokens' form. A token reads `cgapi_ID_SECRET` (16 and 64 lowercase hex
//! digits): the id finds the record, and only the SHA-256 of the secret is kept, compared in
//! constant time; it is shown once, when created.

use std::time::Duration;

use cloudgate_db::prelude::*;
use cloudgate_db::{AdminRecord, ApiTokenRecord, DbError};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::SpError;
use crate::credentials::{check_name, hash_password, random_fill};

/// What every API token starts with, so that a secret scanner (and a person) recognises one.
pub const API_TOKEN_PREFIX: &str = "cgapi_";
/// Longest an API token may last.
pub const MAX_API_TOKEN_LIFETIME: Duration = Duration::from_secs(366 * 86_400);
/// Longest API token name.
const MAX_TOKEN_NAME: usize = 64;

/// Hashes on the blocking pool: argon2id takes tens of milliseconds of CPU.
async fn hash(password: &str) -> Result<String, SpError> {
    let password = Zeroizing::new(password.to_string());
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| SpError::Hashing(e.to_string()))?
        .map_err(SpError::Invalid)
}

/// Adds an administrator: a valid name (the tenant rule) and a password of at least
/// [`crate::credentials::MIN_PASSWORD_LEN`] characters.
pub async fn add_admin(
    db: &dyn SpRepository,
    name: &str,
    password: &str,
) -> Result<AdminRecord, SpError> {
    check_name("administrator", name).map_err(|e| SpError::Invalid(format!("{e} ({name:?})")))?;
    let now = OffsetDateTime::now_utc();
    let admin = AdminRecord {
        name: name.to_string(),
        password_hash: hash(password).await?,
        created_at: now,
        updated_at: now,
    };
    db.add_admin(&admin).await?;
    Ok(admin)
}

/// Replaces an administrator's password.
pub async fn set_admin_password(
    db: &dyn SpRepository,
    name: &str,
    password: &str,
) -> Result<(), SpError> {
    db.admin(name).await?;
    db.set_admin_password_hash(name, &hash(password).await?)
        .await?;
    Ok(())
}

/// The administrator if `password` is theirs; `None` otherwise, for an unknown name in the
/// same time as for a wrong password.
pub async fn check_admin_password(
    db: &dyn SpRepository,
    name: &str,
    password: &str,
) -> Result<Option<AdminRecord>, SpError> {
    let admin = match db.admin(name).await {
        Ok(a) => Some(a),
        Err(DbError::NoSuchAdmin(_)) => None,
        Err(e) => return Err(e.into()),
    };
    let stored = admin.as_ref().map(|a| a.password_hash.clone());
    let password = Zeroizing::new(password.to_string());
    let ok = crate::credentials::check_password(password, stored).await?;
    Ok(admin.filter(|_| ok))
}

/// A token just created: its record, and the token itself, shown once.
pub struct NewApiToken {
    /// As stored.
    pub record: ApiTokenRecord,
    /// `cgapi_ID_SECRET`; wiped when dropped.
    pub token: Zeroizing<String>,
}

/// Creates an API token named `name` that lasts `valid_for`.
pub async fn create_api_token(
    db: &dyn SpRepository,
    name: &str,
    valid_for: Duration,
    created_by: &str,
) -> Result<NewApiToken, SpError> {
    if name.trim().is_empty()
        || name.chars().any(char::is_control)
        || name.chars().count() > MAX_TOKEN_NAME
    {
        return Err(SpError::Invalid(format!(
            "the token name must be 1-{MAX_TOKEN_NAME} characters without control characters"
        )));
    }
    if valid_for.is_zero() || valid_for > MAX_API_TOKEN_LIFETIME {
        return Err(SpError::Invalid(
            "an API token lasts from 1 second to 366 days".into(),
        ));
    }
    let mut id = [0u8; 8];
    let mut secret = Zeroizing::new([0u8; 32]);
    random_fill(&mut id).map_err(SpError::Hashing)?;
    random_fill(secret.as_mut()).map_err(SpError::Hashing)?;
    let id = hex(&id);
    let secret = Zeroizing::new(hex(secret.as_ref()));
    let now = OffsetDateTime::now_utc();
    let record = ApiTokenRecord {
        id: id.clone(),
        name: name.to_string(),
        secret_sha256: sha256_hex(secret.as_bytes()),
        created_by: created_by.to_string(),
        created_at: now,
        expires_at: now + valid_for,
        last_used_at: None,
        revoked_at: None,
    };
    db.add_api_token(&record).await?;
    let token = Zeroizing::new(format!("{API_TOKEN_PREFIX}{id}_{}", secret.as_str()));
    Ok(NewApiToken { record, token })
}

/// Why a presented API token is refused. The caller answers 401 whatever the reason, so that a
/// guess learns nothing, and logs the reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiTokenRefusal {
    /// Not of the token's form.
    Malformed,
    /// No such id, or the secret does not match.
    Unknown,
    /// Past its expiry.
    Expired,
    /// Revoked.
    Revoked,
}

/// The token's record if `presented` is a valid token now; its use is recorded.
pub async fn check_api_token(
    db: &dyn SpRepository,
    presented: &str,
    now: OffsetDateTime,
) -> Result<Result<ApiTokenRecord, ApiTokenRefusal>, SpError> {
    let Some((id, secret)) = presented
        .strip_prefix(API_TOKEN_PREFIX)
        .and_then(|rest| rest.split_once('_'))
        .filter(|(id, secret)| {
            id.len() == 16 && secret.len() == 64 && is_lower_hex(id) && is_lower_hex(secret)
        })
    else {
        return Ok(Err(ApiTokenRefusal::Malformed));
    };
    let Some(record) = db.api_token(id).await? else {
        return Ok(Err(ApiTokenRefusal::Unknown));
    };
    if !crate::credentials::same_secret(&sha256_hex(secret.as_bytes()), &record.secret_sha256) {
        return Ok(Err(ApiTokenRefusal::Unknown));
    }
    if record.revoked_at.is_some() {
        return Ok(Err(ApiTokenRefusal::Revoked));
    }
    if now >= record.expires_at {
        return Ok(Err(ApiTokenRefusal::Expired));
    }
    db.touch_api_token(&record.id, now).await?;
    Ok(Ok(record))
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn hex(bytes: &[u8]) -> String {
    cloudgate_pki::fingerprint::upper_hex(bytes).to_ascii_lowercase()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes).as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn db() -> (tempfile::TempDir, cloudgate_db::SqliteSpRepository) {
        let dir = tempfile::tempdir().unwrap();
        let db = cloudgate_db::SqliteSpRepository::open(&dir.path().join("sp.db"))
            .await
            .unwrap();
        (dir, db)
    }

    #[tokio::test]
    async fn an_admin_logs_in_with_the_password_only() {
        let (_dir, db) = db().await;
        assert!(matches!(
            add_admin(&db, "a b", "long enough").await,
            Err(SpError::Invalid(_))
        ));
        assert!(matches!(
            add_admin(&db, "alice", "short").await,
            Err(SpError::Invalid(_))
        ));
        add_admin(&db, "alice", "long enough").await.unwrap();
        assert!(
            check_admin_password(&db, "alice", "long enough")
                .await
                .unwrap()
                .is_some()
        );
        assert!(
            check_admin_password(&db, "alice", "wrong one")
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            check_admin_password(&db, "bob", "long enough")
                .await
                .unwrap()
                .is_none()
        );
        set_admin_password(&db, "alice", "another one")
            .await
            .unwrap();
        assert!(
            check_admin_password(&db, "alice", "long enough")
                .await
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn a_token_works_until_it_expires_or_is_revoked() {
        let (_dir, db) = db().await;
        let t = create_api_token(&db, "ci", Duration::from_secs(3600), "root")
            .await
            .unwrap();
        assert!(t.token.starts_with("cgapi_") && t.token.len() == 6 + 16 + 1 + 64);
        assert!(
            !t.token.contains(&t.record.secret_sha256),
            "the hash is not the secret"
        );
        let now = OffsetDateTime::now_utc();
        let ok = check_api_token(&db, &t.token, now).await.unwrap().unwrap();
        assert_eq!(ok.id, t.record.id);
        assert!(
            db.api_token(&ok.id)
                .await
                .unwrap()
                .unwrap()
                .last_used_at
                .is_some()
        );
        let later = now + time::Duration::hours(2);
        assert_eq!(
            check_api_token(&db, &t.token, later).await.unwrap(),
            Err(ApiTokenRefusal::Expired)
        );
        let mut wrong = t.token.to_string();
        wrong.pop();
        wrong.push(if t.token.ends_with('0') { '1' } else { '0' });
        assert_eq!(
            check_api_token(&db, &wrong, now).await.unwrap(),
            Err(ApiTokenRefusal::Unknown)
        );
        for bad in ["", "cgapi_", "Bearer x", &t.token.to_uppercase()] {
            assert_eq!(
                check_api_token(&db, bad, now).await.unwrap(),
                Err(ApiTokenRefusal::Malformed),
                "{bad}"
            );
        }
        db.revoke_api_token(&t.record.id).await.unwrap();
        assert_eq!(
            check_api_token(&db, &t.token, now).await.unwrap(),
            Err(ApiTokenRefusal::Revoked)
        );
        assert!(
            create_api_token(&db, "", Duration::from_secs(1), "root")
                .await
                .is_err()
        );
        assert!(
            create_api_token(&db, "x", Duration::from_secs(400 * 86_400), "root")
                .await
                .is_err()
        );
    }
}
