//! Turns the global options into the data directory and store a command works on.

use std::path::PathBuf;

use anyhow::Context as _;
use cloudgate_store::act_as::ActingAs;
use cloudgate_store::{CertStore, FileOwnership, Layout};

use crate::cli::GlobalArgs;
use crate::exit::usage;

/// What every command needs: where the data lives and who owns what it writes.
pub struct Context {
    pub layout: Layout,
    admin_group: Option<String>,
    database: Option<String>,
    #[cfg(feature = "sp")]
    /// The SP's audit, for everything this command changes (made with the first store for
    /// writing; written to the SP database when the command ends, [`Context::finish_audit`]).
    journal: std::sync::OnceLock<std::sync::Arc<cloudgate_sp::audit::Journal>>,
}

/// Whom this command acts as, when root took on the data directory's owner.
static ACTING_AS: std::sync::OnceLock<ActingAs> = std::sync::OnceLock::new();

/// Whom this command acts as, when root took on the data directory's owner.
pub fn acting_as() -> Option<&'static ActingAs> {
    ACTING_AS.get()
}

/// When root acts as the data directory's owner, what that means for the files a command reads.
pub fn acting_as_hint() -> String {
    acting_as()
        .map(|a| {
            format!(
                "\n  hint: run by root, this command acts as {user}, the owner of the data directory, so it reads only what {user} may read; pass secrets with --password-stdin, or give the file to {user}",
                user = a.user
            )
        })
        .unwrap_or_default()
}

/// Which side of the product a command works on: they have different default directories.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// `cloudgate sp …`
    Sp,
    /// `cloudgate tenant …`
    Tenant,
}

impl Context {
    /// The context of an SP command.
    pub fn new(global: &GlobalArgs) -> anyhow::Result<Self> {
        Self::for_side(global, Side::Sp)
    }

    /// The context of a command of `side`. Run by root in a data directory that belongs to
    /// another user (a packaged install's service user), the command takes on that user before
    /// it opens or creates anything, so what it writes is the service's (docs/src/installing.md).
    pub fn for_side(global: &GlobalArgs, side: Side) -> anyhow::Result<Self> {
        let data_dir: PathBuf = match &global.data_dir {
            Some(d) if d.as_os_str().is_empty() => {
                return Err(usage("--data-dir (or CLOUDGATE_HOME) is empty; give a directory"));
            }
            Some(d) => d.clone(),
            None => match side {
                Side::Sp => Layout::default_data_dir(),
                Side::Tenant => Layout::default_tenant_data_dir(),
            }
            .ok_or_else(|| {
                usage("cannot tell the data directory: HOME is not set; pass --data-dir DIR or set CLOUDGATE_HOME")
            })?,
        };
        if let Some(acting) = cloudgate_store::act_as::act_as_owner_of(&data_dir)? {
            tracing::info!(
                user = %acting.user,
                data_dir = %data_dir.display(),
                "run by root: acting as the data directory's owner"
            );
            let _ = ACTING_AS.set(acting);
        }
        Ok(Context {
            layout: Layout::new(data_dir),
            admin_group: global.admin_group.clone(),
            database: checked_database_flag(global.database.as_deref())?,
            #[cfg(feature = "sp")]
            journal: std::sync::OnceLock::new(),
        })
    }

    /// The ownership for files this command creates; a configured admin group must be usable.
    pub fn ownership(&self) -> anyhow::Result<FileOwnership> {
        FileOwnership::resolve(self.admin_group.as_deref())
            .context("checking --admin-group / CLOUDGATE_ADMIN_GROUP")
    }

    #[cfg(feature = "sp")]
    /// The store, for commands that change it: its audit entries name the user running the
    /// command, and reach the SP database when the command ends.
    pub fn store_for_write(&self) -> anyhow::Result<CertStore> {
        let own = self.ownership()?;
        let store = CertStore::new(self.layout.clone(), own.clone());
        let journal = self
            .journal
            .get_or_init(|| cloudgate_sp::audit::Journal::deferred(self.layout.clone(), own));
        Ok(store.audited_by(journal.sink(cloudgate_sp::Actor::current_user())))
    }

    #[cfg(feature = "sp")]
    /// The SP core, acting as the user running the command; with a fleet (a server database
    /// and a fleet key here) a change of the certificate in use is published.
    pub async fn sp(&self) -> anyhow::Result<cloudgate_sp::Sp> {
        let store = self.store_for_write()?;
        let db = self.sp_db().await?;
        let keys = if self.database_url()?.is_some() {
            cloudgate_sp::fleet::local_sealing_keys(&self.layout)?
        } else {
            Vec::new()
        };
        let journal = self
            .journal
            .get()
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("the audit journal was not made"))?;
        Ok(cloudgate_sp::Sp::with_journal(store, db, keys, journal))
    }

    #[cfg(feature = "sp")]
    /// Writes what this command audited to the SP database and audit.log (opening the database
    /// only when there is something to write). An entry the database could not take is still
    /// in audit.log (counted by `sp audit verify`); either failure is an error that says the
    /// change was made.
    pub async fn finish_audit(&self) -> anyhow::Result<()> {
        let Some(journal) = self.journal.get() else {
            return Ok(());
        };
        if !journal.has_pending() {
            return Ok(());
        }
        match self.sp_db().await {
            Ok(db) => journal.attach(db),
            Err(e) => tracing::debug!(error = %e, "the SP database for the audit"),
        }
        journal.flush().await.map(drop).map_err(|e| {
            anyhow::anyhow!(
                "the change was made, but its audit entry could not be written everywhere: {e}"
            )
        })
    }

    #[cfg(feature = "sp")]
    /// The SP database: the PostgreSQL server given by --database, CLOUDGATE_DATABASE_URL or
    /// `database` in the gateway configuration, else SQLite in the data directory (created with
    /// the store's owner and mode if missing).
    pub async fn sp_db(&self) -> anyhow::Result<cloudgate_db::SharedRepository> {
        let own = self.ownership()?;
        let url = self.database_url()?;
        Ok(cloudgate_sp::repository::open(&self.layout, &own, url.as_deref()).await?)
    }

    #[cfg(feature = "sp")]
    /// The configured database server's URL, if the SP database is on one.
    pub fn database_url(&self) -> anyhow::Result<Option<String>> {
        Ok(cloudgate_sp::settings::database_url(
            &self.layout,
            self.database.as_deref(),
        )?)
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
