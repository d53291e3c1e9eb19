//! Renewing the ACME certificate in use with the settings of its issuance: the same key by
//! default (tenants follow without asking), or a new key staged with a rollover proof. The
//! command line, the gateway's `--acme-renew` and the console renew here.

use cloudgate_store::{CertStore, StoredCertificate};

use super::{AcmeSettings, KeyChoice, issue};
use crate::SpError;

/// What a renewal made.
#[derive(Debug)]
pub struct Renewal {
    /// The certificate in use before.
    pub previous: StoredCertificate,
    /// The new store entry (not applied; staged when `new_key`).
    pub entry: StoredCertificate,
    /// Whether it has a new key, staged as the successor.
    pub new_key: bool,
}

/// The settings of the last issuance, or how to get some.
pub fn settings(store: &CertStore) -> Result<AcmeSettings, SpError> {
    AcmeSettings::load(store)?.ok_or_else(|| {
        SpError::Invalid(
            "no certificate was issued here over ACME: run `cloudgate sp cert acme issue` first"
                .into(),
        )
    })
}

/// Asks the CA again for the names of the certificate in use: with its key, or with a new key
/// that is then staged with a proof signed by the key in use. Nothing is applied here. The
/// audit entry is the store's (whose sink names who acted).
pub async fn renew(
    store: &CertStore,
    new_key: bool,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Renewal, SpError> {
    let settings = settings(store)?;
    let previous = store.applied()?.ok_or_else(|| {
        SpError::Invalid("no certificate is in use: apply the ACME certificate first".into())
    })?;
    let name = previous.meta.friendly_name.clone();
    let entry = if new_key {
        let entry = issue(
            store,
            &settings,
            KeyChoice::New(cloudgate_pki::KeyType::EcdsaP256),
            name,
            progress,
        )
        .await?;
        store.stage(&entry, None)?;
        entry
    } else {
        let key = store.load_private_key(&previous)?;
        issue(store, &settings, KeyChoice::Same(&key), name, progress).await?
    };
    let details = serde_json::json!({
        "old_thumbprint": previous.info.fingerprints.thumbprint(),
        "thumbprint": entry.info.fingerprints.thumbprint(),
        "sha256": entry.info.fingerprints.sha256_hex(),
        "issuer": entry.info.issuer_display,
    });
    store.audit(
        "cert.acme",
        if new_key {
            "ACME certificate renewed (new key, staged)"
        } else {
            "ACME certificate renewed (same key)"
        },
        details,
    )?;
    Ok(Renewal {
        previous,
        entry,
        new_key,
    })
}
