//! What the gateway serves and decides with, swapped as a whole when the certificate or the
//! tenants change: a reload builds the new state aside and swaps it in; a failed reload logs and
//! keeps the old one. Connections already open keep the state they started with.

use std::sync::{Arc, RwLock};

use cloudgate_db::{GatewayState, SharedRepository};
use cloudgate_pki::CertificateInfo;
use cloudgate_store::license::{DefaultIdentity, Licensee};
use cloudgate_store::{CertStore, RolloverHistory};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::GatewayError;

/// One consistent view: the TLS configuration with the applied certificate, and the tenants.
pub struct Snapshot {
    /// TLS configuration serving the applied certificate.
    pub tls: Arc<rustls::ServerConfig>,
    /// The applied certificate.
    pub cert: CertificateInfo,
    /// Its friendly name, the Summary's "Name".
    pub friendly_name: String,
    /// The SP's name (the licensee).
    pub provider_name: String,
    /// Tenants, services and enrolled client certificates.
    pub db: GatewayState,
    /// The staged successor and the history of key changes, published to tenants.
    pub rollover: RolloverHistory,
}

/// The gateway's state, shared by every connection.
pub struct SharedState {
    store: CertStore,
    db: SharedRepository,
    current: RwLock<Arc<Snapshot>>,
    /// Ticks whenever a new snapshot is swapped in, so open tunnels re-check their grant.
    swapped: tokio::sync::watch::Sender<()>,
}

impl SharedState {
    /// Loads the first state. With no certificate applied it generates one with the defaults,
    /// applies it and logs its fingerprints, so a fresh install just works.
    pub async fn load(store: CertStore, db: SharedRepository) -> Result<Arc<Self>, GatewayError> {
        if store.applied()?.is_none() {
            first_certificate(&store)?;
        }
        let snapshot = build(&store, &db, None).await?;
        Ok(Arc::new(SharedState {
            store,
            db,
            current: RwLock::new(Arc::new(snapshot)),
            swapped: tokio::sync::watch::Sender::new(()),
        }))
    }

    /// The current snapshot.
    pub fn current(&self) -> Arc<Snapshot> {
        self.current
            .read()
            .map(|s| s.clone())
            .unwrap_or_else(|poisoned| poisoned.into_inner().clone())
    }

    /// The current snapshot, made sure to know `client_sha256` if the database does: a
    /// certificate it does not know may have been enrolled a moment ago through another gateway
    /// of the fleet, so the database's change counter is read and, if it moved, the state
    /// reloaded first. An enrollment is thus valid on every gateway at once, not at their next
    /// reload. A database that does not answer leaves the snapshot as it is.
    pub async fn current_knowing(&self, client_sha256: &str) -> Arc<Snapshot> {
        let snap = self.current();
        if snap.db.client_certs.contains_key(client_sha256) {
            return snap;
        }
        match self.refresh().await {
            Ok(true) => self.current(),
            Ok(false) => snap,
            Err(e) => {
                tracing::debug!(error = %e, "cannot look for a new enrollment");
                snap
            }
        }
    }

    /// A receiver that sees every swap of the snapshot.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<()> {
        self.swapped.subscribe()
    }

    /// The database.
    pub fn db(&self) -> &SharedRepository {
        &self.db
    }

    /// Renews the applied certificate with the same key, subject and names for as long as it was
    /// valid, and applies it; the next refresh serves it. Returns the new thumbprint.
    pub fn renew_applied(&self) -> Result<String, GatewayError> {
        let entry = self
            .store
            .applied()?
            .ok_or_else(|| GatewayError::Config("no certificate is applied".into()))?;
        let new = cloudgate_sp::certs::renew(
            &self.store,
            &cloudgate_sp::certs::SelfSigned,
            &entry,
            cloudgate_sp::certs::Lifetime::SameAsBefore,
            true,
        )?;
        Ok(new.info.fingerprints.thumbprint())
    }

    /// Puts a staged successor into use when its `stage --at` time has come. Returns its
    /// thumbprint when it switched.
    pub fn switch_if_due(&self) -> Result<Option<String>, GatewayError> {
        let snap = self.current();
        let Some(record) = snap.rollover.staged.as_ref() else {
            return Ok(None);
        };
        let due = record
            .switch_at
            .is_some_and(|t| t <= time::OffsetDateTime::now_utc());
        let current_spki =
            cloudgate_pki::fingerprint::upper_hex(&snap.cert.fingerprints.spki_sha256);
        if !due || record.from_spki_sha256 != current_spki {
            return Ok(None);
        }
        let successor = self.store.find(&record.to_sha256)?;
        self.store.apply(&successor)?;
        Ok(Some(successor.info.fingerprints.thumbprint()))
    }

    /// Rebuilds the snapshot if the applied certificate or the database changed. Returns whether
    /// it did. On error the old snapshot stays.
    pub async fn refresh(&self) -> Result<bool, GatewayError> {
        let old = self.current();
        let applied = self.store.applied_record()?;
        let version = self.db.version().await?;
        let rollover = self.store.rollover_history()?;
        let cert_changed = applied.as_ref().map(|a| a.sha256.as_str())
            != Some(old.cert.fingerprints.sha256_hex().as_str());
        if !cert_changed && version == old.db.version && rollover == old.rollover {
            return Ok(false);
        }
        let keep_tls = if cert_changed {
            None
        } else {
            Some(old.clone())
        };
        let new = build(&self.store, &self.db, keep_tls).await?;
        if cert_changed {
            tracing::info!(
                thumbprint = %new.cert.fingerprints.thumbprint(),
                sha256 = %new.cert.fingerprints.sha256_colons(),
                "now serving the newly applied certificate"
            );
        }
        if let Ok(mut slot) = self.current.write() {
            *slot = Arc::new(new);
        }
        self.swapped.send_replace(());
        Ok(true)
    }
}

fn first_certificate(store: &CertStore) -> Result<(), GatewayError> {
    let identity = DefaultIdentity::resolve(store.layout())?;
    if let Licensee::HostName(host) = &identity.licensee {
        tracing::warn!(host = %host, "no license installed; the host name stands in as licensee");
    }
    let entry = cloudgate_sp::certs::issue_default(store, &cloudgate_sp::certs::SelfSigned)?;
    tracing::warn!(
        thumbprint = %entry.info.fingerprints.thumbprint(),
        sha256 = %entry.info.fingerprints.sha256_colons(),
        "no certificate was applied: generated and applied a self-signed one; send tenants its thumbprint"
    );
    Ok(())
}

async fn build(
    store: &CertStore,
    db: &SharedRepository,
    keep_tls_of: Option<Arc<Snapshot>>,
) -> Result<Snapshot, GatewayError> {
    let db_state = db.gateway_state().await?;
    let rollover = store.rollover_history()?;
    if let Some(old) = keep_tls_of {
        return Ok(Snapshot {
            tls: old.tls.clone(),
            cert: old.cert.clone(),
            friendly_name: old.friendly_name.clone(),
            provider_name: old.provider_name.clone(),
            db: db_state,
            rollover,
        });
    }
    let entry = store.applied()?.ok_or_else(|| {
        GatewayError::Config(
            "no certificate is applied; run `cloudgate sp cert generate --apply`".into(),
        )
    })?;
    let key = store.load_private_key(&entry)?;
    let mut chain = vec![CertificateDer::from(entry.info.der.clone())];
    chain.extend(entry.chain.iter().map(|c| CertificateDer::from(c.clone())));
    let tls = crate::tls::server_config(
        chain,
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.to_vec())),
    )?;
    let provider_name = Licensee::resolve(store.layout())?.name().to_string();
    Ok(Snapshot {
        tls: Arc::new(tls),
        cert: entry.info,
        friendly_name: entry.meta.friendly_name,
        provider_name,
        db: db_state,
        rollover,
    })
}
