//! The ACME account: found in the store by its directory or created there (with the store's
//! permissions), reached through the HTTPS client that watches for `Retry-After`; and what is
//! done with the account alone: revocation and key rollover.

use std::time::Duration;

use cloudgate_store::fsio::{self, FileSpec};
use cloudgate_store::{CertStore, StoredCertificate};
use instant_acme::{Account, AccountCredentials, NewAccount};
use zeroize::Zeroizing;

use super::client::{RetryAfter, WatchingClient};
use super::error::{from_acme, is_transient};
use super::{AcmeError, AcmeSettings, ExternalAccount, ORDER_ATTEMPTS};
use crate::SpError;

/// A short id of a directory URL, naming its account file.
pub(super) fn directory_id(url: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, url.as_bytes());
    cloudgate_pki::fingerprint::upper_hex(&digest.as_ref()[..8]).to_ascii_lowercase()
}

/// An HTTP client for the directory: the system's roots, or the private CA's certificate;
/// refusals' `Retry-After` go to `retry_after`.
fn builder(
    settings: &AcmeSettings,
    retry_after: &RetryAfter,
) -> Result<instant_acme::AccountBuilder, SpError> {
    let roots = match &settings.directory_ca {
        Some(ca) => {
            let unreadable = |why: String| {
                SpError::Invalid(format!(
                    "--directory-ca {}: not a readable PEM certificate ({why})",
                    ca.display()
                ))
            };
            let bytes = std::fs::read(ca).map_err(|e| unreadable(e.to_string()))?;
            let certs = cloudgate_pki::pem::decode_certificates(&bytes)
                .map_err(|e| unreadable(e.to_string()))?;
            let mut roots = rustls::RootCertStore::empty();
            for der in certs {
                roots
                    .add(rustls::pki_types::CertificateDer::from(der))
                    .map_err(|e| unreadable(e.to_string()))?;
            }
            Some(roots)
        }
        None => None,
    };
    let client = WatchingClient::new(roots, retry_after.clone())
        .map_err(|e| SpError::Acme(AcmeError::Other(format!("no HTTPS client: {e}"))))?;
    Ok(Account::builder_with_http(Box::new(client)))
}

/// A failure of an operation that used `retry_after`'s client, with the CA's `Retry-After`.
pub(super) fn with_wait(e: SpError, retry_after: &RetryAfter) -> SpError {
    match e {
        SpError::Acme(e) => SpError::Acme(e.with_retry_after(retry_after.take())),
        other => other,
    }
}

/// The account at the settings' directory: the one kept in the store, or a new one (kept).
async fn account(
    store: &CertStore,
    settings: &AcmeSettings,
    retry_after: &RetryAfter,
) -> Result<Account, SpError> {
    account_with(store, settings, None, retry_after).await
}

/// [`account`], binding a new account to `external` when the CA asks for it.
pub(super) async fn account_with(
    store: &CertStore,
    settings: &AcmeSettings,
    external: Option<&ExternalAccount>,
    retry_after: &RetryAfter,
) -> Result<Account, SpError> {
    let path = store
        .layout()
        .acme_account(&directory_id(&settings.directory));
    // A directory that fails for a passing reason (a dropped connection) is asked again.
    for attempt in 1..=ORDER_ATTEMPTS {
        match account_once(store, settings, external, &path, retry_after).await {
            Err(AccountFailure::Transient(_)) if attempt < ORDER_ATTEMPTS => {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(AccountFailure::Transient(e)) => {
                return Err(SpError::Acme(from_acme(e, &settings.directory, "")));
            }
            Err(AccountFailure::Final(e)) => return Err(e),
            Ok(account) => return Ok(account),
        }
    }
    Err(SpError::Acme(AcmeError::Other(
        "the account could not be reached".into(),
    )))
}

/// Why reaching the account failed: for a passing reason (try again) or not.
enum AccountFailure {
    Transient(instant_acme::Error),
    Final(SpError),
}

impl From<SpError> for AccountFailure {
    fn from(e: SpError) -> Self {
        AccountFailure::Final(e)
    }
}

impl From<cloudgate_store::StoreError> for AccountFailure {
    fn from(e: cloudgate_store::StoreError) -> Self {
        AccountFailure::Final(e.into())
    }
}

/// One attempt of [`account_with`].
async fn account_once(
    store: &CertStore,
    settings: &AcmeSettings,
    external: Option<&ExternalAccount>,
    path: &std::path::Path,
    retry_after: &RetryAfter,
) -> Result<Account, AccountFailure> {
    let unreachable = |e: instant_acme::Error| {
        if is_transient(&e) {
            AccountFailure::Transient(e)
        } else {
            AccountFailure::Final(SpError::Acme(from_acme(e, &settings.directory, "")))
        }
    };
    if path.exists() {
        let bytes = fsio::read_secret_file(path)?;
        let credentials: AccountCredentials = serde_json::from_slice(&bytes).map_err(|e| {
            SpError::Invalid(format!(
                "{} is damaged ({e}); move it away to create a new account",
                path.display()
            ))
        })?;
        return builder(settings, retry_after)?
            .from_credentials(credentials)
            .await
            .map_err(unreachable);
    }
    let contact = settings.email.as_ref().map(|e| format!("mailto:{e}"));
    let contacts: Vec<&str> = contact.iter().map(String::as_str).collect();
    let eab = external.map(|e| instant_acme::ExternalAccountKey::new(e.kid.clone(), &e.hmac_key));
    let (account, credentials) = builder(settings, retry_after)?
        .create(
            &NewAccount {
                contact: &contacts,
                terms_of_service_agreed: true,
                only_return_existing: false,
            },
            settings.directory.clone(),
            eab.as_ref(),
        )
        .await
        .map_err(unreachable)?;
    let json = Zeroizing::new(serde_json::to_vec(&credentials).map_err(|e| {
        SpError::Acme(AcmeError::Other(format!(
            "the account cannot be written: {e}"
        )))
    })?);
    store.acme_dir()?;
    fsio::write_new_file(path, &json, FileSpec::store(store.ownership()))?;
    Ok(account)
}

/// Asks the CA that issued it to revoke `entry` (RFC 8555 §7.6), with the account kept here.
/// The entry stays in the store; the caller says what to do with it.
pub async fn revoke(
    store: &CertStore,
    settings: &AcmeSettings,
    entry: &StoredCertificate,
) -> Result<(), SpError> {
    let retry_after = RetryAfter::default();
    let account = account(store, settings, &retry_after)
        .await
        .map_err(|e| with_wait(e, &retry_after))?;
    let der = rustls::pki_types::CertificateDer::from(entry.info.der.clone());
    account
        .revoke(&instant_acme::RevocationRequest {
            certificate: &der,
            reason: None,
        })
        .await
        .map_err(|e| {
            with_wait(
                SpError::Acme(from_acme(e, &settings.directory, "")),
                &retry_after,
            )
        })
}

/// Replaces the account's key with a new one at the CA (RFC 8555 §7.3.5) and keeps the new
/// one in the store, replacing the old file atomically once the CA has agreed. Returns the
/// account's URL.
pub async fn rotate_account_key(
    store: &CertStore,
    settings: &AcmeSettings,
) -> Result<String, SpError> {
    let path = store
        .layout()
        .acme_account(&directory_id(&settings.directory));
    if !path.exists() {
        return Err(SpError::Invalid(format!(
            "no ACME account at {} yet: `cloudgate sp cert acme issue` creates it",
            settings.directory
        )));
    }
    let retry_after = RetryAfter::default();
    let mut account = account(store, settings, &retry_after)
        .await
        .map_err(|e| with_wait(e, &retry_after))?;
    let credentials = account.update_key().await.map_err(|e| {
        with_wait(
            SpError::Acme(from_acme(e, &settings.directory, "")),
            &retry_after,
        )
    })?;
    let json = Zeroizing::new(serde_json::to_vec(&credentials).map_err(|e| {
        SpError::Acme(AcmeError::Other(format!(
            "the account cannot be written: {e}"
        )))
    })?);
    fsio::replace_file_via(
        &path,
        &json,
        FileSpec::store(store.ownership()),
        &store.acme_dir()?,
    )?;
    Ok(account.id().to_string())
}
