//! Turns the global options into the data directory and store a command works on.

use std::path::PathBuf;

use anyhow::Context as _;
use cloudgate_store::{CertStore, FileOwnership, Layout};

use crate::cli::GlobalArgs;
use crate::exit::usage;

/// What every command needs: where the data lives and who owns what it writes.
pub struct Context {
    pub layout: Layout,
    admin_group: Option<String>,
    database: Option<String>,
}

impl Context {
    pub fn new(global: &GlobalArgs) -> anyhow::Result<Self> {
        let data_dir: PathBuf = match &global.data_dir {
            Some(d) if d.as_os_str().is_empty() => {
                return Err(usage("--data-dir (or CLOUDGATE_HOME) is empty; give a directory"));
            }
            Some(d) => d.clone(),
            None => Layout::default_data_dir().ok_or_else(|| {
                usage("cannot tell the data directory: HOME is not set; pass --data-dir DIR or set CLOUDGATE_HOME")
            })?,
        };
        Ok(Context {
            layout: Layout::new(data_dir),
            admin_group: global.admin_group.clone(),
            database: checked_database_flag(global.database.as_deref())?,
        })
    }

    /// The ownership for files this command creates; a configured admin group must be usable.
    pub fn ownership(&self) -> anyhow::Result<FileOwnership> {
        FileOwnership::resolve(self.admin_group.as_deref())
            .context("checking --admin-group / CLOUDGATE_ADMIN_GROUP")
    }

    /// The store, for commands that change it.
    pub fn store_for_write(&self) -> anyhow::Result<CertStore> {
        Ok(CertStore::new(self.layout.clone(), self.ownership()?))
    }

    /// The SP database: the PostgreSQL server given by --database, CLOUDGATE_DATABASE_URL or
    /// `database` in the gateway configuration, else SQLite in the data directory (created with
    /// the store's owner and mode if missing).
    pub async fn sp_db(&self) -> anyhow::Result<cloudgate_db::SharedRepository> {
        let own = self.ownership()?;
        let url = self.database_url()?;
        Ok(cloudgate_sp::repository::open(&self.layout, &own, url.as_deref()).await?)
    }

    /// The configured database server's URL, if the SP database is on one.
    pub fn database_url(&self) -> anyhow::Result<Option<String>> {
        if let Some(url) = &self.database {
            return Ok(Some(url.clone()));
        }
        Ok(crate::public_address::file_config(self)?.and_then(|c| c.database))
    }

    /// The store, for commands that only read: they create nothing, so the admin group is only
    /// named in permission messages and need not be usable by this user.
    pub fn store_for_read(&self) -> CertStore {
        CertStore::new(
            self.layout.clone(),
            FileOwnership::resolve_for_reading(self.admin_group.as_deref()),
        )
    }
}

/// A database URL from the command line must not carry a password: command lines are visible
/// to every user of the machine (`ps`). The same URL from CLOUDGATE_DATABASE_URL is fine.
fn checked_database_flag(url: Option<&str>) -> anyhow::Result<Option<String>> {
    let Some(url) = url else {
        return Ok(None);
    };
    let from_env = std::env::var("CLOUDGATE_DATABASE_URL").is_ok_and(|v| v == url);
    if !from_env && cloudgate_db::redact_url(url) != url {
        return Err(usage(
            "--database carries a password, which other users can read on the command line; put the URL in CLOUDGATE_DATABASE_URL or `database` in DATA_DIR/gateway.toml, or the password in ~/.pgpass",
        ));
    }
    Ok(Some(url.to_string()))
}
