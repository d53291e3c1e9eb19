//! Where every file lives. Nothing else in cloudgate builds a path inside the data directory.
//!
//! ```text
//! DATA_DIR/                       0750  owner, admin group
//!   license.toml                  0640
//!   sp.db (+ -wal, -shm)          0640  SQLite: tenants, services, client certificates
//!   audit.log                     0640  JSON lines, appended
//!   store/                        0750
//!     .lock                       0640  held exclusively while the store changes
//!     applied.json                0640  which certificate is in use
//!     certs/<sha256>/             0750  one entry: appears atomically by rename
//!       cert.pem  chain.pem  meta.json   0640
//!       key.pem                   0640 at most; created 0600
//!     tmp/                        0700  entries being written or removed
//! ```

use std::path::{Path, PathBuf};

/// The file layout under one data directory.
#[derive(Clone, Debug)]
pub struct Layout {
    data_dir: PathBuf,
}

/// The tenant's data directory on a packaged install (the `cloudgate-tunnels` unit's).
pub const TENANT_PACKAGE_DIR: &str = "/var/lib/cloudgate-tenant";

impl Layout {
    /// The layout under this data directory.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Layout {
            data_dir: data_dir.into(),
        }
    }

    /// The data directory when neither `--data-dir` nor `$CLOUDGATE_HOME` is given:
    /// `/var/lib/cloudgate` for root, `$XDG_DATA_HOME/cloudgate` (or `~/.local/share/cloudgate`)
    /// for others.
    pub fn default_data_dir() -> Option<PathBuf> {
        if nix::unistd::geteuid().is_root() {
            return Some(PathBuf::from("/var/lib/cloudgate"));
        }
        if let Some(xdg) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
            return Some(PathBuf::from(xdg).join("cloudgate"));
        }
        std::env::var_os("HOME")
            .filter(|v| !v.is_empty())
            .map(|h| PathBuf::from(h).join(".local/share/cloudgate"))
    }

    /// The default data directory of tenant commands: the packaged tunnels unit's directory
    /// when root runs them on a machine that has it, else the same as the SP's default.
    pub fn default_tenant_data_dir() -> Option<PathBuf> {
        let packaged = Path::new(TENANT_PACKAGE_DIR);
        if nix::unistd::geteuid().is_root() && packaged.is_dir() {
            return Some(packaged.to_path_buf());
        }
        Self::default_data_dir()
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The installed license.
    pub fn license_file(&self) -> PathBuf {
        self.data_dir.join("license.toml")
    }

    /// The audit log (JSON lines).
    pub fn audit_log(&self) -> PathBuf {
        self.data_dir.join("audit.log")
    }

    /// The gateway's configuration file, read by `sp gateway run` unless `--config` names
    /// another; also holds the `public_address` that tenant commands are printed with.
    pub fn gateway_config(&self) -> PathBuf {
        self.data_dir.join("gateway.toml")
    }

    /// On a tenant: the tunnels `tenant tunnels run` keeps open, unless `--config` names
    /// another file.
    pub fn tunnels_config(&self) -> PathBuf {
        self.data_dir.join("tunnels.toml")
    }

    /// The fleet key: seals the certificate's private key where a fleet of gateways shares it
    /// through the SP database.
    pub fn fleet_key(&self) -> PathBuf {
        self.data_dir.join("fleet.key")
    }

    /// The previous fleet key, kept while a rotation is under way.
    pub fn fleet_key_old(&self) -> PathBuf {
        self.data_dir.join("fleet.key.old")
    }

    /// The SP database (SQLite): tenants, services, enrolled client certificates.
    pub fn sp_database(&self) -> PathBuf {
        self.data_dir.join("sp.db")
    }

    /// The certificate store directory.
    pub fn store_dir(&self) -> PathBuf {
        self.data_dir.join("store")
    }

    /// The store's lock file.
    pub fn lock_file(&self) -> PathBuf {
        self.store_dir().join(".lock")
    }

    /// The record of the certificate in use.
    pub fn applied_file(&self) -> PathBuf {
        self.store_dir().join("applied.json")
    }

    /// The staged successor and its rollover proof, or the record of the last rollover.
    pub fn rollover_file(&self) -> PathBuf {
        self.store_dir().join("rollover.json")
    }

    /// ACME accounts (their keys) and the settings renewals reuse, with the store's permissions.
    pub fn acme_dir(&self) -> PathBuf {
        self.store_dir().join("acme")
    }

    /// The account at one ACME directory: its key and URL (`account-<id>.json`, where the id
    /// is a hash of the directory's URL).
    pub fn acme_account(&self, directory_id: &str) -> PathBuf {
        self.acme_dir().join(format!("account-{directory_id}.json"))
    }

    /// How the ACME certificate was issued (CA, names, challenge), for its renewals.
    pub fn acme_settings(&self) -> PathBuf {
        self.acme_dir().join("settings.json")
    }

    /// The directory holding one directory per entry.
    pub fn certs_dir(&self) -> PathBuf {
        self.store_dir().join("certs")
    }

    /// Where entries are assembled before they appear, and moved before they are deleted.
    pub fn tmp_dir(&self) -> PathBuf {
        self.store_dir().join("tmp")
    }

    /// The directory of the entry for the certificate with this SHA-256 (uppercase hex).
    pub fn entry_dir(&self, sha256_hex: &str) -> PathBuf {
        self.certs_dir().join(sha256_hex.to_ascii_lowercase())
    }
}

/// File names inside an entry directory.
pub(crate) mod entry_files {
    /// The certificate, PEM.
    pub const CERT: &str = "cert.pem";
    /// The private key, PKCS#8 PEM.
    pub const KEY: &str = "key.pem";
    /// Intermediate certificates, PEM, leaf's issuer first.
    pub const CHAIN: &str = "chain.pem";
    /// Friendly name, source, creator, creation time.
    pub const META: &str = "meta.json";
}
