//! Where the tenant's state lives, and the audit trail of its trust decisions.

use std::path::PathBuf;

use cloudgate_db::{PinnedProvider, TenantDb};
use cloudgate_pki::fingerprint::upper_hex;
use cloudgate_store::fsio::{self, FileSpec};
use cloudgate_store::{FileOwnership, Layout, StoreError};
use sha2::Digest as _;

use crate::client::ClientIdentity;
use crate::error::TenantError;

/// Where the tenant's state lives: `DATA_DIR/tenant.db`, one owner-only client key per provider
/// under `DATA_DIR/tenant-keys/`, and the audit log `DATA_DIR/audit.log`.
#[derive(Clone, Debug)]
pub struct TenantPaths {
    layout: Layout,
}

impl TenantPaths {
    /// The tenant paths under a data directory.
    pub fn new(layout: Layout) -> Self {
        TenantPaths { layout }
    }

    /// The data directory's layout.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    fn db_path(&self) -> PathBuf {
        self.layout.data_dir().join("tenant.db")
    }

    pub(crate) fn keys_dir(&self) -> PathBuf {
        self.layout.data_dir().join("tenant-keys")
    }

    /// The client key file of a provider.
    pub fn key_path(&self, provider: &str) -> PathBuf {
        let safe: String = provider
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let digest =
            upper_hex(&sha2::Sha256::digest(provider.as_bytes()))[..12].to_ascii_lowercase();
        self.keys_dir().join(format!("{safe}-{digest}.key"))
    }

    /// Opens the tenant database, creating it owner-only first.
    pub async fn db(&self) -> Result<TenantDb, TenantError> {
        let own = FileOwnership::owner_only();
        fsio::ensure_private_dir(self.layout.data_dir(), &own)?;
        let path = self.db_path();
        if !path.exists() {
            match fsio::write_new_file(&path, b"", FileSpec::owner_only()) {
                Ok(()) => {}
                Err(StoreError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(TenantDb::open(&path).await?)
    }

    /// Records a trust decision in the tenant's audit log (JSON lines). A failure to write it is
    /// logged, never hidden and never fatal to the decision itself.
    pub(crate) fn audit(&self, event: &'static str, message: &str, details: serde_json::Value) {
        if let Err(e) = cloudgate_store::audit::record(
            &self.layout,
            &FileOwnership::owner_only(),
            event,
            message,
            details,
        ) {
            tracing::error!(error = %e, "cannot write the audit log");
        }
    }

    pub(crate) fn load_identity(&self, p: &PinnedProvider) -> Result<ClientIdentity, TenantError> {
        let pem = fsio::read_secret_file(&self.key_path(&p.name))?;
        let key = cloudgate_pki::pem::decode_private_key(&pem)?;
        Ok(ClientIdentity {
            cert_der: p.client_cert_der.clone(),
            key_der: key,
        })
    }
}
