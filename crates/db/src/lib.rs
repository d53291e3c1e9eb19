//! cloudgate's SQL state on the SP side: tenants, the services each may reach, and the client
//! certificates they enrolled. SQLite in the data directory by default (no server to run); the
//! schema and queries use the SQL SQLite and PostgreSQL share, with `$n` placeholders.
//!
//! This crate stores and fetches; rules (who may enroll, what a valid name is) live with the
//! gateway.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr as _;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::{Row as _, Sqlite, Transaction};

/// The SP schema, as versioned migrations; each runs once, in order.
const SP_MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/0001_sp_state.sql")),
    (2, include_str!("../migrations/0002_sp_adoption.sql")),
    (3, include_str!("../migrations/0003_sp_machine_label.sql")),
    (4, include_str!("../migrations/0004_sp_join_tokens.sql")),
];

mod join_tokens;
mod provider;
pub use join_tokens::{JoinTokenRecord, TokenRefusal};
pub use provider::{PinUpdate, PinnedProvider, TenantDb, TrustMode};

/// Opens a SQLite database with WAL, foreign keys and a 5-second wait for locks held by others.
async fn connect(path: &Path) -> Result<SqlitePool, DbError> {
    let display = path.display().to_string();
    // SQLite follows links; nothing of the data directory may be opened through one.
    if let Ok(meta) = std::fs::symlink_metadata(path)
        && !meta.is_file()
    {
        return Err(DbError::NotRegularFile {
            path: display,
            what: if meta.file_type().is_symlink() {
                "a symbolic link"
            } else {
                "not a regular file"
            },
        });
    }
    let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
        .map_err(|e| DbError::Sql {
            path: display.clone(),
            source: e,
        })?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .busy_timeout(Duration::from_secs(5))
        .foreign_keys(true);
    SqlitePoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await
        .map_err(|e| classify(&display, e))
}

/// Applies the migrations the database lacks, each in its own transaction with its version
/// recorded.
async fn migrate(pool: &SqlitePool, path: &str, migrations: &[(i64, &str)]) -> Result<(), DbError> {
    let sql = |e| classify(path, e);
    sqlx::query("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at TEXT NOT NULL)")
        .execute(pool)
        .await
        .map_err(sql)?;
    for (version, text) in migrations {
        let mut tx = pool.begin().await.map_err(sql)?;
        let done: Option<i64> =
            sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = $1")
                .bind(version)
                .fetch_optional(&mut *tx)
                .await
                .map_err(sql)?;
        if done.is_some() {
            continue;
        }
        sqlx::raw_sql(sqlx::AssertSqlSafe(*text))
            .execute(&mut *tx)
            .await
            .map_err(|e| DbError::Migrate {
                path: path.to_string(),
                version: *version,
                source: e,
            })?;
        sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)")
            .bind(version)
            .bind(now())
            .execute(&mut *tx)
            .await
            .map_err(sql)?;
        tx.commit().await.map_err(sql)?;
    }
    Ok(())
}

/// Errors of the SP database.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    /// The database could not be opened, read or written.
    #[error("database {path}: {source}")]
    Sql {
        /// The database file.
        path: String,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// Another process held a lock on the database longer than the wait (SQLITE_BUSY or
    /// SQLITE_LOCKED).
    #[error("database {path} is locked by another process: {source}")]
    Locked {
        /// The database file.
        path: String,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// The file system holding the database is full (SQLITE_FULL).
    #[error("database {path}: the file system is full: {source}")]
    DiskFull {
        /// The database file.
        path: String,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// A migration failed.
    #[error("database {path}: applying schema migration {version} failed: {source}")]
    Migrate {
        /// The database file.
        path: String,
        /// The migration's version.
        version: i64,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// No tenant of that name.
    #[error("no tenant named {0:?}; `cloudgate sp tenant list` shows them")]
    NoSuchTenant(String),
    /// A tenant of that name exists already.
    #[error("a tenant named {0:?} exists already")]
    TenantExists(String),
    /// No such service for that tenant.
    #[error("tenant {tenant:?} has no service named {service:?}")]
    NoSuchService {
        /// The tenant.
        tenant: String,
        /// The service.
        service: String,
    },
    /// The tenant has that service already.
    #[error("tenant {tenant:?} has a service named {service:?} already; remove it first")]
    ServiceExists {
        /// The tenant.
        tenant: String,
        /// The service.
        service: String,
    },
    /// No enrolled client certificate with that SHA-256 for that tenant.
    #[error("tenant {tenant:?} has no enrolled client certificate {sha256}")]
    NoSuchClientCert {
        /// The tenant.
        tenant: String,
        /// The certificate's SHA-256.
        sha256: String,
    },
    /// No provider of that name (tenant side).
    #[error("no provider named {0:?}; `cloudgate tenant provider list` shows them")]
    NoSuchProvider(String),
    /// A provider of that name exists already (tenant side).
    #[error("a provider named {0:?} exists already; pick another --name or remove it first")]
    ProviderExists(String),
    /// The client certificate is enrolled for another tenant.
    #[error("this client certificate is enrolled for another tenant")]
    ClientCertTaken,
    /// No join token with that id.
    #[error("no join token {0}; `cloudgate sp tenant token list` shows them")]
    NoSuchToken(String),
    /// Several join tokens start with that prefix.
    #[error("several join tokens start with {0}; give more of the id")]
    AmbiguousToken(String),
    /// The database path is a link or not a regular file.
    #[error(
        "refusing to open the database {path}: it is {what}, not a regular file; replace it with the real file"
    )]
    NotRegularFile {
        /// The database file.
        path: String,
        /// What it is.
        what: &'static str,
    },
    /// A value could not be encoded for the database.
    #[error("database {path}: {reason}")]
    Corrupt {
        /// The database file.
        path: String,
        /// What went wrong.
        reason: String,
    },
}

/// SQLite's primary result code of a driver error, when it is one.
fn sqlite_code(e: &sqlx::Error) -> Option<i64> {
    let code = e.as_database_error()?.code()?;
    code.parse::<i64>().ok().map(|c| c & 0xff)
}

/// A driver error, classified by SQLite's result code (never by its message): a lock held too
/// long and a full disk have variants of their own.
pub(crate) fn classify(path: &str, source: sqlx::Error) -> DbError {
    const SQLITE_BUSY: i64 = 5;
    const SQLITE_LOCKED: i64 = 6;
    const SQLITE_FULL: i64 = 13;
    let path = path.to_string();
    match sqlite_code(&source) {
        Some(SQLITE_BUSY | SQLITE_LOCKED) => DbError::Locked { path, source },
        Some(SQLITE_FULL) => DbError::DiskFull { path, source },
        _ => DbError::Sql { path, source },
    }
}

impl DbError {
    /// Whether SQLite reported an I/O error (SQLITE_IOERR): when the disk is full, SQLite says
    /// this rather than SQLITE_FULL if its shared-memory file cannot grow.
    pub fn is_io_error(&self) -> bool {
        const SQLITE_IOERR: i64 = 10;
        matches!(self, DbError::Sql { source, .. } if sqlite_code(source) == Some(SQLITE_IOERR))
    }

    /// Whether the error is about what the user asked for (exit 2), not the database itself.
    pub fn is_bad_input(&self) -> bool {
        !matches!(
            self,
            DbError::Sql { .. }
                | DbError::Locked { .. }
                | DbError::DiskFull { .. }
                | DbError::Migrate { .. }
                | DbError::Corrupt { .. }
                | DbError::NotRegularFile { .. }
        )
    }
}

/// A tenant account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantRecord {
    /// Unique name, the user name a tenant enrolls with.
    pub name: String,
    /// Free text.
    pub description: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Whether the tenant may enroll and open tunnels.
    pub enabled: bool,
    /// RFC 3339.
    pub created_at: String,
}

/// A backend a tenant may reach by name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceRecord {
    /// The tenant.
    pub tenant: String,
    /// The service name the tenant asks for.
    pub name: String,
    /// `HOST:PORT` on the SP side.
    pub target: String,
}

/// An enrolled tenant client certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientCertRecord {
    /// SHA-256 of the certificate DER, uppercase hex.
    pub sha256: String,
    /// The tenant it belongs to.
    pub tenant: String,
    /// RFC 3339.
    pub enrolled_at: String,
    /// RFC 3339, when a tunnel last used it.
    pub last_seen: Option<String>,
    /// SHA-256 (uppercase hex) of the SP certificate the machine last confirmed it trusts.
    pub confirmed_sha256: Option<String>,
    /// SHA-256 of the staged successor it had learned then, if any.
    pub successor_sha256: Option<String>,
    /// RFC 3339, when it last confirmed.
    pub confirmed_at: Option<String>,
    /// The machine's host name, as the tenant sent it at enrollment.
    pub label: Option<String>,
}

/// Everything the gateway needs to decide who may do what, read in one go.
#[derive(Clone, Debug, Default)]
pub struct GatewayState {
    /// Tenants by name.
    pub tenants: HashMap<String, TenantRecord>,
    /// Services by (tenant, service).
    pub services: HashMap<(String, String), String>,
    /// Enrolled client certificates: SHA-256 → tenant.
    pub client_certs: HashMap<String, String>,
    /// The change counter this state was read at.
    pub version: i64,
}

/// The SP database.
#[derive(Clone, Debug)]
pub struct SpDb {
    pool: SqlitePool,
    path: String,
}

pub(crate) fn now() -> String {
    time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

impl SpDb {
    /// Opens (creating the schema if needed) the SQLite database at `path`. The file should exist:
    /// the caller creates it with the right owner and mode first, so SQLite never makes it
    /// world-readable. Waits up to 5 seconds for a lock held by another process.
    pub async fn open(path: &Path) -> Result<Self, DbError> {
        let pool = connect(path).await?;
        let display = path.display().to_string();
        migrate(&pool, &display, SP_MIGRATIONS).await?;
        Ok(SpDb {
            pool,
            path: display,
        })
    }

    fn sql(&self, e: sqlx::Error) -> DbError {
        classify(&self.path, e)
    }

    /// A write transaction. `BEGIN IMMEDIATE` takes the write lock at once (waiting up to the
    /// busy timeout, like any statement), so no transaction ever upgrades a read lock to a write
    /// lock: SQLite refuses such an upgrade at once, without waiting, with "database is locked"
    /// while another connection is still writing or rolling back (CI caught it).
    async fn begin(&self) -> Result<Transaction<'_, Sqlite>, DbError> {
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|e| self.sql(e))
    }

    /// A read-only transaction, for one consistent view.
    async fn begin_read(&self) -> Result<Transaction<'_, Sqlite>, DbError> {
        self.pool.begin().await.map_err(|e| self.sql(e))
    }

    async fn bump(&self, tx: &mut Transaction<'_, Sqlite>) -> Result<(), DbError> {
        sqlx::query("UPDATE state_version SET version = version + 1 WHERE id = 1")
            .execute(&mut **tx)
            .await
            .map_err(|e| self.sql(e))?;
        Ok(())
    }

    async fn commit(&self, mut tx: Transaction<'_, Sqlite>) -> Result<(), DbError> {
        self.bump(&mut tx).await?;
        tx.commit().await.map_err(|e| self.sql(e))
    }

    /// Adds a tenant.
    pub async fn add_tenant(
        &self,
        name: &str,
        description: &str,
        password_hash: &str,
    ) -> Result<(), DbError> {
        let mut tx = self.begin().await?;
        let t = now();
        let result = sqlx::query(
            "INSERT INTO tenants (name, description, password_hash, enabled, created_at, updated_at) VALUES ($1, $2, $3, TRUE, $4, $4)",
        )
        .bind(name)
        .bind(description)
        .bind(password_hash)
        .bind(&t)
        .execute(&mut *tx)
        .await;
        match result {
            Ok(_) => self.commit(tx).await,
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(DbError::TenantExists(name.to_string()))
            }
            Err(e) => Err(self.sql(e)),
        }
    }

    /// Every tenant, by name.
    pub async fn tenants(&self) -> Result<Vec<TenantRecord>, DbError> {
        let rows = sqlx::query("SELECT name, description, password_hash, enabled, created_at FROM tenants ORDER BY name")
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.sql(e))?;
        Ok(rows.iter().map(tenant_from_row).collect())
    }

    /// One tenant.
    pub async fn tenant(&self, name: &str) -> Result<TenantRecord, DbError> {
        let row = sqlx::query("SELECT name, description, password_hash, enabled, created_at FROM tenants WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.sql(e))?;
        row.as_ref()
            .map(tenant_from_row)
            .ok_or_else(|| DbError::NoSuchTenant(name.to_string()))
    }

    fn updated(&self, name: &str, rows: u64) -> Result<(), DbError> {
        if rows == 0 {
            Err(DbError::NoSuchTenant(name.to_string()))
        } else {
            Ok(())
        }
    }

    /// Replaces a tenant's password hash.
    pub async fn set_password_hash(&self, name: &str, hash: &str) -> Result<(), DbError> {
        let mut tx = self.begin().await?;
        let done =
            sqlx::query("UPDATE tenants SET password_hash = $1, updated_at = $2 WHERE name = $3")
                .bind(hash)
                .bind(now())
                .bind(name)
                .execute(&mut *tx)
                .await
                .map_err(|e| self.sql(e))?;
        self.updated(name, done.rows_affected())?;
        self.commit(tx).await
    }

    /// Enables or disables a tenant.
    pub async fn set_enabled(&self, name: &str, enabled: bool) -> Result<(), DbError> {
        let mut tx = self.begin().await?;
        let done = sqlx::query("UPDATE tenants SET enabled = $1, updated_at = $2 WHERE name = $3")
            .bind(enabled)
            .bind(now())
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.sql(e))?;
        self.updated(name, done.rows_affected())?;
        self.commit(tx).await
    }

    /// Removes a tenant with its services and client certificates.
    pub async fn remove_tenant(&self, name: &str) -> Result<(), DbError> {
        let mut tx = self.begin().await?;
        let done = sqlx::query("DELETE FROM tenants WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.sql(e))?;
        if done.rows_affected() == 0 {
            return Err(DbError::NoSuchTenant(name.to_string()));
        }
        self.commit(tx).await
    }

    /// Gives a tenant a service.
    pub async fn add_service(
        &self,
        tenant: &str,
        service: &str,
        target: &str,
    ) -> Result<(), DbError> {
        self.tenant(tenant).await?;
        let mut tx = self.begin().await?;
        let result = sqlx::query(
            "INSERT INTO services (tenant, name, target, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(tenant)
        .bind(service)
        .bind(target)
        .bind(now())
        .execute(&mut *tx)
        .await;
        match result {
            Ok(_) => self.commit(tx).await,
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(DbError::ServiceExists {
                    tenant: tenant.into(),
                    service: service.into(),
                })
            }
            Err(e) => Err(self.sql(e)),
        }
    }

    /// A tenant's services, by name.
    pub async fn services(&self, tenant: &str) -> Result<Vec<ServiceRecord>, DbError> {
        self.tenant(tenant).await?;
        let rows = sqlx::query(
            "SELECT tenant, name, target FROM services WHERE tenant = $1 ORDER BY name",
        )
        .bind(tenant)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.sql(e))?;
        Ok(rows
            .iter()
            .map(|r| ServiceRecord {
                tenant: r.get("tenant"),
                name: r.get("name"),
                target: r.get("target"),
            })
            .collect())
    }

    /// Takes a service away from a tenant.
    pub async fn remove_service(&self, tenant: &str, service: &str) -> Result<(), DbError> {
        self.tenant(tenant).await?;
        let mut tx = self.begin().await?;
        let done = sqlx::query("DELETE FROM services WHERE tenant = $1 AND name = $2")
            .bind(tenant)
            .bind(service)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.sql(e))?;
        if done.rows_affected() == 0 {
            return Err(DbError::NoSuchService {
                tenant: tenant.into(),
                service: service.into(),
            });
        }
        self.commit(tx).await
    }

    /// Binds a client certificate to a tenant (again, if it was already: enrollment is repeatable).
    pub async fn bind_client_cert(
        &self,
        tenant: &str,
        sha256: &str,
        cert_der: &[u8],
        label: Option<&str>,
    ) -> Result<(), DbError> {
        let mut tx = self.begin().await?;
        let owner: Option<String> =
            sqlx::query_scalar("SELECT tenant FROM client_certs WHERE sha256 = $1")
                .bind(sha256)
                .fetch_optional(&mut *tx)
                .await
                .map_err(|e| self.sql(e))?;
        match owner {
            Some(o) if o == tenant => return Ok(()),
            Some(_) => return Err(DbError::ClientCertTaken),
            None => {}
        }
        sqlx::query("INSERT INTO client_certs (sha256, tenant, cert_der, enrolled_at, label) VALUES ($1, $2, $3, $4, $5)")
            .bind(sha256)
            .bind(tenant)
            .bind(cert_der)
            .bind(now())
            .bind(label)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.sql(e))?;
        self.commit(tx).await
    }

    /// A tenant's enrolled client certificates.
    pub async fn client_certs(&self, tenant: &str) -> Result<Vec<ClientCertRecord>, DbError> {
        self.tenant(tenant).await?;
        let rows = sqlx::query(
            "SELECT sha256, tenant, enrolled_at, last_seen, confirmed_sha256, successor_sha256, confirmed_at, label \
             FROM client_certs WHERE tenant = $1 ORDER BY enrolled_at",
        )
        .bind(tenant)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.sql(e))?;
        Ok(rows.iter().map(client_cert_from_row).collect())
    }

    /// Every enrolled client certificate of every tenant, by tenant.
    pub async fn all_client_certs(&self) -> Result<Vec<ClientCertRecord>, DbError> {
        let rows = sqlx::query(
            "SELECT sha256, tenant, enrolled_at, last_seen, confirmed_sha256, successor_sha256, confirmed_at, label \
             FROM client_certs ORDER BY tenant, enrolled_at",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.sql(e))?;
        Ok(rows.iter().map(client_cert_from_row).collect())
    }

    /// Records which SP certificate (and staged successor) an enrolled machine confirmed it
    /// trusts; not a change the gateway reloads for.
    pub async fn confirm_client_cert(
        &self,
        sha256: &str,
        confirmed_sha256: &str,
        successor_sha256: Option<&str>,
    ) -> Result<(), DbError> {
        sqlx::query(
            "UPDATE client_certs SET confirmed_sha256 = $1, successor_sha256 = $2, confirmed_at = $3, last_seen = $3 WHERE sha256 = $4",
        )
        .bind(confirmed_sha256)
        .bind(successor_sha256)
        .bind(now())
        .bind(sha256)
        .execute(&self.pool)
        .await
        .map_err(|e| self.sql(e))?;
        Ok(())
    }

    /// Removes one enrolled client certificate of a tenant.
    pub async fn revoke_client_cert(&self, tenant: &str, sha256: &str) -> Result<(), DbError> {
        self.tenant(tenant).await?;
        let mut tx = self.begin().await?;
        let done = sqlx::query("DELETE FROM client_certs WHERE tenant = $1 AND sha256 = $2")
            .bind(tenant)
            .bind(sha256)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.sql(e))?;
        if done.rows_affected() == 0 {
            return Err(DbError::NoSuchClientCert {
                tenant: tenant.into(),
                sha256: sha256.into(),
            });
        }
        self.commit(tx).await
    }

    /// Removes a tenant's enrolled client certificates not used since `before` (RFC 3339; a
    /// machine never seen counts from its enrollment); returns the removed ones.
    pub async fn prune_client_certs(
        &self,
        tenant: &str,
        before: &str,
    ) -> Result<Vec<ClientCertRecord>, DbError> {
        let stale: Vec<ClientCertRecord> = self
            .client_certs(tenant)
            .await?
            .into_iter()
            .filter(|c| c.last_seen.as_deref().unwrap_or(&c.enrolled_at) < before)
            .collect();
        if stale.is_empty() {
            return Ok(stale);
        }
        let mut tx = self.begin().await?;
        for c in &stale {
            sqlx::query("DELETE FROM client_certs WHERE tenant = $1 AND sha256 = $2")
                .bind(tenant)
                .bind(&c.sha256)
                .execute(&mut *tx)
                .await
                .map_err(|e| self.sql(e))?;
        }
        self.commit(tx).await?;
        Ok(stale)
    }

    /// Records that a client certificate was just used (does not count as a change to reload).
    pub async fn touch_client_cert(&self, sha256: &str) -> Result<(), DbError> {
        sqlx::query("UPDATE client_certs SET last_seen = $1 WHERE sha256 = $2")
            .bind(now())
            .bind(sha256)
            .execute(&self.pool)
            .await
            .map_err(|e| self.sql(e))?;
        Ok(())
    }

    /// The change counter.
    pub async fn version(&self) -> Result<i64, DbError> {
        sqlx::query_scalar("SELECT version FROM state_version WHERE id = 1")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| self.sql(e))
    }

    /// Everything the gateway decides with, read in one transaction.
    pub async fn gateway_state(&self) -> Result<GatewayState, DbError> {
        let mut tx = self.begin_read().await?;
        let version: i64 = sqlx::query_scalar("SELECT version FROM state_version WHERE id = 1")
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| self.sql(e))?;
        let tenants = sqlx::query(
            "SELECT name, description, password_hash, enabled, created_at FROM tenants",
        )
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| self.sql(e))?;
        let services = sqlx::query("SELECT tenant, name, target FROM services")
            .fetch_all(&mut *tx)
            .await
            .map_err(|e| self.sql(e))?;
        let certs = sqlx::query("SELECT sha256, tenant FROM client_certs")
            .fetch_all(&mut *tx)
            .await
            .map_err(|e| self.sql(e))?;
        tx.rollback().await.map_err(|e| self.sql(e))?;
        Ok(GatewayState {
            tenants: tenants
                .iter()
                .map(tenant_from_row)
                .map(|t| (t.name.clone(), t))
                .collect(),
            services: services
                .iter()
                .map(|r| {
                    (
                        (r.get::<String, _>("tenant"), r.get::<String, _>("name")),
                        r.get::<String, _>("target"),
                    )
                })
                .collect(),
            client_certs: certs
                .iter()
                .map(|r| (r.get("sha256"), r.get("tenant")))
                .collect(),
            version,
        })
    }
}

fn client_cert_from_row(r: &sqlx::sqlite::SqliteRow) -> ClientCertRecord {
    ClientCertRecord {
        sha256: r.get("sha256"),
        tenant: r.get("tenant"),
        enrolled_at: r.get("enrolled_at"),
        last_seen: r.get("last_seen"),
        confirmed_sha256: r.get("confirmed_sha256"),
        successor_sha256: r.get("successor_sha256"),
        confirmed_at: r.get("confirmed_at"),
        label: r.get("label"),
    }
}

fn tenant_from_row(r: &sqlx::sqlite::SqliteRow) -> TenantRecord {
    TenantRecord {
        name: r.get("name"),
        description: r.get("description"),
        password_hash: r.get("password_hash"),
        enabled: r.get("enabled"),
        created_at: r.get("created_at"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn db() -> (tempfile::TempDir, SpDb) {
        let dir = tempfile::tempdir().unwrap();
        let db = SpDb::open(&dir.path().join("sp.db")).await.unwrap();
        (dir, db)
    }

    #[tokio::test]
    async fn a_join_token_is_redeemed_once_and_refused_with_its_reason() {
        let (_d, db) = db().await;
        db.add_tenant("acme", "", "hash").await.unwrap();
        let token = |id: &str, expires: &str, uses: i64| JoinTokenRecord {
            id: id.into(),
            tenant: "acme".into(),
            secret_sha256: "aa".repeat(32),
            label: String::new(),
            created_by: "root".into(),
            created_at: now(),
            expires_at: expires.into(),
            uses_left: uses,
            revoked_at: None,
        };
        db.add_join_token(&token("t1", "2999-01-01T00:00:00Z", 1))
            .await
            .unwrap();
        db.add_join_token(&token("t2", "2000-01-01T00:00:00Z", 1))
            .await
            .unwrap();
        let good = "aa".repeat(32);
        let v = db.version().await.unwrap();
        assert_eq!(
            db.enroll_with_token("t1", &"bb".repeat(32), "M1", &[1], None)
                .await
                .unwrap(),
            Err(TokenRefusal::Unknown),
            "a wrong secret is an unknown token"
        );
        assert_eq!(
            db.enroll_with_token("t1", &good, "M1", &[1], Some("laptop"))
                .await
                .unwrap(),
            Ok("acme".to_string())
        );
        assert!(db.version().await.unwrap() > v, "the gateway reloads");
        assert_eq!(
            db.client_certs("acme").await.unwrap()[0].label.as_deref(),
            Some("laptop")
        );
        assert_eq!(
            db.enroll_with_token("t1", &good, "M2", &[2], None)
                .await
                .unwrap(),
            Err(TokenRefusal::UsedUp)
        );
        assert_eq!(
            db.enroll_with_token("t2", &good, "M2", &[2], None)
                .await
                .unwrap(),
            Err(TokenRefusal::Expired)
        );
        db.add_join_token(&token("t3abcdef0", "2999-01-01T00:00:00Z", 5))
            .await
            .unwrap();
        db.revoke_join_token("t3abcdef").await.unwrap();
        assert_eq!(
            db.enroll_with_token("t3abcdef0", &good, "M2", &[2], None)
                .await
                .unwrap(),
            Err(TokenRefusal::Revoked)
        );
        assert_eq!(
            db.client_certs("acme").await.unwrap().len(),
            1,
            "nothing bound on refusal"
        );
        db.remove_tenant("acme").await.unwrap();
        assert!(
            db.join_tokens(None).await.unwrap().is_empty(),
            "tokens go with their tenant"
        );
    }

    #[tokio::test]
    async fn a_machine_confirmation_is_recorded_and_listed() {
        let (_d, db) = db().await;
        db.add_tenant("acme", "", "hash").await.unwrap();
        db.bind_client_cert("acme", "M1", &[1], Some("host-1"))
            .await
            .unwrap();
        db.confirm_client_cert("M1", "CUR", Some("NEXT"))
            .await
            .unwrap();
        let all = db.all_client_certs().await.unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].confirmed_sha256.as_deref(), Some("CUR"));
        assert_eq!(all[0].successor_sha256.as_deref(), Some("NEXT"));
        assert!(all[0].confirmed_at.is_some() && all[0].last_seen.is_some());
        assert_eq!(db.client_certs("acme").await.unwrap(), all);
    }

    #[tokio::test]
    async fn tenants_services_and_certs() {
        let (_d, db) = db().await;
        let v0 = db.version().await.unwrap();
        db.add_tenant("acme", "Acme Corp", "hash").await.unwrap();
        assert!(matches!(
            db.add_tenant("acme", "", "h").await,
            Err(DbError::TenantExists(_))
        ));
        db.add_service("acme", "repo", "127.0.0.1:9000")
            .await
            .unwrap();
        assert!(matches!(
            db.add_service("acme", "repo", "x:1").await,
            Err(DbError::ServiceExists { .. })
        ));
        assert!(matches!(
            db.add_service("nobody", "repo", "x:1").await,
            Err(DbError::NoSuchTenant(_))
        ));
        db.bind_client_cert("acme", "AB", b"der", None)
            .await
            .unwrap();
        db.bind_client_cert("acme", "AB", b"der", None)
            .await
            .unwrap();
        db.add_tenant("other", "", "h").await.unwrap();
        assert!(matches!(
            db.bind_client_cert("other", "AB", b"der", None).await,
            Err(DbError::ClientCertTaken)
        ));
        db.touch_client_cert("AB").await.unwrap();
        assert!(
            db.client_certs("acme").await.unwrap()[0]
                .last_seen
                .is_some()
        );
        let state = db.gateway_state().await.unwrap();
        assert_eq!(
            state.client_certs.get("AB").map(String::as_str),
            Some("acme")
        );
        assert_eq!(
            state
                .services
                .get(&("acme".into(), "repo".into()))
                .map(String::as_str),
            Some("127.0.0.1:9000")
        );
        assert!(state.version > v0);
        db.set_enabled("acme", false).await.unwrap();
        assert!(!db.tenant("acme").await.unwrap().enabled);
        db.revoke_client_cert("acme", "AB").await.unwrap();
        assert!(matches!(
            db.revoke_client_cert("acme", "AB").await,
            Err(DbError::NoSuchClientCert { .. })
        ));
        db.remove_tenant("acme").await.unwrap();
        assert!(db.services("acme").await.is_err());
        assert!(matches!(
            db.remove_tenant("acme").await,
            Err(DbError::NoSuchTenant(_))
        ));
    }
}
