//! What the gateway serves and decides with, swapped as a whole when the certificate or the
//! tenants change: a reload builds the new state aside and swaps it in; a failed reload logs and
//! keeps the old one. Connections already open keep the state they started with.
//!
//! The certificate comes from this host's store, or, for a gateway of a fleet, from the SP
//! database, where the SP's certificate commands publish it with its key sealed under the fleet
//! key (`cloudgate_sp::fleet`).

use std::sync::{Arc, RwLock};

use cloudgate_db::{GatewayState, PublishedCertificate, SharedRepository};
use cloudgate_pki::CertificateInfo;
use cloudgate_sp::fleet::{FleetCertificate, FleetKey};
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

/// Where the served certificate comes from.
pub enum CertSource {
    /// This host's certificate store.
    Store,
    /// The certificate published to the SP database, opened with the fleet key.
    Fleet {
        /// The fleet key.
        key: FleetKey,
        /// Its file, for messages.
        path: std::path::PathBuf,
    },
}

/// The gateway's state, shared by every connection.
pub struct SharedState {
    /// The SP's store on this host, its audit entries going to the journal as this gateway's.
    store: CertStore,
    /// The SP's audit, for this gateway's own work and what it refuses.
    journal: Arc<cloudgate_sp::audit::Journal>,
    db: SharedRepository,
    source: CertSource,
    current: RwLock<Arc<Snapshot>>,
    /// Ticks whenever a new snapshot is swapped in, so open tunnels re-check their grant.
    swapped: tokio::sync::watch::Sender<()>,
    /// When the database was last read for an unknown client certificate.
    miss_read: tokio::sync::Mutex<Option<tokio::time::Instant>>,
}

/// The least time between two database reads made because a client certificate was unknown:
/// a stranger presenting certificates nobody enrolled makes a gateway read the database at
/// most this often, however fast it connects.
pub const MISS_READ_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

impl SharedState {
    /// Loads the first state. With no certificate applied it generates one with the defaults,
    /// applies it and logs its fingerprints, so a fresh install just works.
    pub async fn load(store: CertStore, db: SharedRepository) -> Result<Arc<Self>, GatewayError> {
        if store.applied()?.is_none() {
            first_certificate(&store)?;
        }
        Self::start(store, db, CertSource::Store).await
    }

    /// Loads the first state of a gateway of a fleet: the certificate published to the
    /// database, opened with `key`. Refuses to start when none is published or `key` does not
    /// open it.
    pub async fn load_fleet(
        store: CertStore,
        db: SharedRepository,
        key: FleetKey,
        path: std::path::PathBuf,
    ) -> Result<Arc<Self>, GatewayError> {
        Self::start(store, db, CertSource::Fleet { key, path }).await
    }

    async fn start(
        store: CertStore,
        db: SharedRepository,
        source: CertSource,
    ) -> Result<Arc<Self>, GatewayError> {
        let db_state = db.gateway_state().await?;
        cloudgate_alloc::release_free_memory();
        let snapshot = build(&store, &db, &source, db_state, None, None).await?;
        let journal = cloudgate_sp::audit::Journal::new(
            store.layout().clone(),
            store.ownership().clone(),
            db.clone(),
        );
        // What this gateway renews or switches by itself is its own doing.
        let actor = cloudgate_sp::Actor::Gateway(cloudgate_store::license::host_name());
        let store = store.audited_by(journal.sink(actor));
        Ok(Arc::new(SharedState {
            store,
            journal,
            db,
            source,
            current: RwLock::new(Arc::new(snapshot)),
            swapped: tokio::sync::watch::Sender::new(()),
            miss_read: tokio::sync::Mutex::new(None),
        }))
    }

    /// The SP's audit.
    pub fn journal(&self) -> &Arc<cloudgate_sp::audit::Journal> {
        &self.journal
    }

    /// The SP's certificate store on this host (empty on a gateway host of a fleet).
    pub fn store(&self) -> &CertStore {
        &self.store
    }

    /// Whether this gateway serves the fleet's published certificate.
    pub fn is_fleet(&self) -> bool {
        matches!(self.source, CertSource::Fleet { .. })
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
    ///
    /// Anyone can present a certificate nobody enrolled, so these reads are made one at a time
    /// and at most one per [`MISS_READ_EVERY`]; one read serves every caller that arrived
    /// before it began (it knows every enrollment committed before they asked), so a caller
    /// waits at most about two intervals.
    pub async fn current_knowing(&self, client_sha256: &str) -> Arc<Snapshot> {
        let snap = self.current();
        if snap.db.tenant_of_hex(client_sha256).is_some() {
            return snap;
        }
        let arrived = tokio::time::Instant::now();
        let mut last = self.miss_read.lock().await;
        if let Some(began) = *last {
            if began >= arrived {
                return self.current();
            }
            tokio::time::sleep_until(began + MISS_READ_EVERY).await;
        }
        *last = Some(tokio::time::Instant::now());
        let snap = self.current();
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
        if self.is_fleet() && !self.holds_the_store() {
            return Err(GatewayError::Config(
                "a gateway of a fleet without the SP's store does not renew: run the gateway with --auto-renew where the store is, or renew there with `cloudgate sp cert renew --apply`; either publishes to every gateway".into(),
            ));
        }
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

    /// Whether this gateway runs where the SP's store is (it has a certificate in use): in a
    /// fleet, the one that renews and switches for all, and publishes what it did.
    fn holds_the_store(&self) -> bool {
        self.store.applied_record().ok().flatten().is_some()
    }

    /// In a fleet, publishes the store's certificate in use (under the fleet key, and the old
    /// one too while a rotation is under way), as the `sp cert` commands do: after this gateway
    /// renewed or switched. Elsewhere, nothing to do.
    pub async fn publish_from_store(&self) -> Result<(), GatewayError> {
        let CertSource::Fleet { key, .. } = &self.source else {
            return Ok(());
        };
        let old = FleetKey::load(&self.store.layout().fleet_key_old())?;
        // The rule of `cloudgate_sp::fleet::sealing_keys`, with the key this gateway holds.
        let mut keys = vec![key];
        keys.extend(old.as_ref());
        cloudgate_sp::fleet::publish(&self.store, &*self.db, &keys).await?;
        Ok(())
    }

    /// Puts a staged successor into use when its `stage --at` time has come. Returns its
    /// thumbprint when it switched.
    pub fn switch_if_due(&self) -> Result<Option<String>, GatewayError> {
        if self.is_fleet() && !self.holds_the_store() {
            return Ok(None);
        }
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

    /// Rebuilds the snapshot if the applied certificate or the database changed: the tenants
    /// changed since the state held are read again and applied to a copy of it (the whole state
    /// only when the change log does not reach back). Returns whether anything changed. On error
    /// the old snapshot stays.
    pub async fn refresh(&self) -> Result<bool, GatewayError> {
        let old = self.current();
        let delta = self.db.state_delta(old.db.version).await?;
        let version = delta.as_ref().map(|d| d.version);
        let db_changed = version != Some(old.db.version);
        // The published certificate, when it may have changed: read once, here.
        let mut published = None;
        let (cert_changed, rollover_changed) = match &self.source {
            CertSource::Store => {
                let applied = self.store.applied_record()?;
                let rollover = self.store.rollover_history()?;
                (
                    applied.as_ref().map(|a| a.sha256.as_str())
                        != Some(old.cert.fingerprints.sha256_hex().as_str()),
                    rollover != old.rollover,
                )
            }
            // Publishing is logged as such: nothing to look at until it is.
            CertSource::Fleet { .. }
                if !db_changed || delta.as_ref().is_some_and(|d| !d.certificate) =>
            {
                (false, false)
            }
            CertSource::Fleet { .. } => {
                let p = self.db.published_certificate().await?;
                let changed = p.as_ref().map(|p| p.sha256.as_str())
                    != Some(old.cert.fingerprints.sha256_hex().as_str());
                published = p;
                (changed, true)
            }
        };
        if !cert_changed && !rollover_changed && !db_changed {
            return Ok(false);
        }
        let db_state = match delta {
            Some(delta) => {
                let mut state = old.db.clone();
                state.apply(delta);
                state
            }
            None => self.db.gateway_state().await?,
        };
        let keep_tls = if cert_changed {
            None
        } else {
            Some(old.clone())
        };
        let new = build(
            &self.store,
            &self.db,
            &self.source,
            db_state,
            keep_tls,
            published,
        )
        .await?;
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
        if version.is_none() {
            // A whole read's rows and the state it replaced are freed: give the pages back.
            drop(old);
            cloudgate_alloc::release_free_memory();
        }
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

/// A snapshot of `db_state` with the certificate of `source`; the TLS configuration of
/// `keep_tls_of` when the certificate did not change. `published` is the fleet's published
/// certificate when the caller has already read it.
async fn build(
    store: &CertStore,
    db: &SharedRepository,
    source: &CertSource,
    db_state: GatewayState,
    keep_tls_of: Option<Arc<Snapshot>>,
    published: Option<PublishedCertificate>,
) -> Result<Snapshot, GatewayError> {
    let published = match (source, published) {
        (CertSource::Fleet { .. }, None) => db.published_certificate().await?,
        (_, p) => p,
    };
    let served = match source {
        CertSource::Store => Served::Store(Box::new(from_store(store, keep_tls_of.is_none())?)),
        // The certificate stays: only the rollover record may have moved, and it needs no key.
        CertSource::Fleet { .. } if keep_tls_of.is_some() => {
            let rollover = match published {
                Some(p) => serde_json::from_str(&p.rollover).map_err(|e| {
                    GatewayError::Config(format!("the published rollover record is damaged: {e}"))
                })?,
                None => RolloverHistory::default(),
            };
            Served::Rollover(Box::new(rollover))
        }
        CertSource::Fleet { key, path } => {
            let published = published
                .map(|p| cloudgate_sp::fleet::open(&p, key, path))
                .transpose()?
                .ok_or_else(|| {
                    GatewayError::Config(
                        "no certificate is published for the fleet yet: run `cloudgate sp fleet init` where the SP's certificate store is".into(),
                    )
                })?;
            Served::Fleet(Box::new(published))
        }
    };
    if let Some(old) = keep_tls_of {
        return Ok(Snapshot {
            tls: old.tls.clone(),
            cert: old.cert.clone(),
            friendly_name: old.friendly_name.clone(),
            provider_name: old.provider_name.clone(),
            db: db_state,
            rollover: served.rollover(),
        });
    }
    let c = served.into_certificate()?;
    let mut chain = vec![CertificateDer::from(c.info.der.clone())];
    chain.extend(c.chain.iter().map(|d| CertificateDer::from(d.clone())));
    let tls = crate::tls::server_config(
        chain,
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(c.key_der.to_vec())),
    )?;
    Ok(Snapshot {
        tls: Arc::new(tls),
        cert: c.info,
        friendly_name: c.friendly_name,
        provider_name: c.provider_name,
        db: db_state,
        rollover: c.rollover,
    })
}

/// The certificate to serve, as read from its source (or only its rollover record, when the
/// certificate itself stays).
enum Served {
    Store(Box<StoreServed>),
    Fleet(Box<FleetCertificate>),
    Rollover(Box<RolloverHistory>),
}

/// The store's applied certificate; its key is read only when the TLS configuration is built.
struct StoreServed {
    entry: cloudgate_store::StoredCertificate,
    provider_name: String,
    rollover: RolloverHistory,
    key_der: Option<zeroize::Zeroizing<Vec<u8>>>,
}

fn from_store(store: &CertStore, with_key: bool) -> Result<StoreServed, GatewayError> {
    let entry = store.applied()?.ok_or_else(|| {
        GatewayError::Config(
            "no certificate is applied; run `cloudgate sp cert generate --apply`".into(),
        )
    })?;
    let key_der = if with_key {
        Some(store.load_private_key(&entry)?)
    } else {
        None
    };
    Ok(StoreServed {
        provider_name: Licensee::resolve(store.layout())?.name().to_string(),
        rollover: store.rollover_history()?,
        entry,
        key_der,
    })
}

impl Served {
    fn rollover(&self) -> RolloverHistory {
        match self {
            Served::Store(s) => s.rollover.clone(),
            Served::Fleet(f) => f.rollover.clone(),
            Served::Rollover(r) => (**r).clone(),
        }
    }

    fn into_certificate(self) -> Result<FleetCertificate, GatewayError> {
        Ok(match self {
            Served::Fleet(f) => *f,
            Served::Rollover(_) => {
                return Err(GatewayError::Config(
                    "internal: a certificate was needed where only the rollover record was read"
                        .into(),
                ));
            }
            Served::Store(s) => {
                let s = *s;
                FleetCertificate {
                    info: s.entry.info,
                    chain: s.entry.chain,
                    key_der: s.key_der.unwrap_or_default(),
                    friendly_name: s.entry.meta.friendly_name,
                    provider_name: s.provider_name,
                    rollover: s.rollover,
                }
            }
        })
    }
}
