//! SQLite, the embedded default: one file in the data directory, nothing to run or configure.

mod schema;

use std::path::Path;
use std::str::FromStr as _;
use std::time::Duration;

use sqlx::migrate::{MigrateError, Migrator};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::{Row as _, Sqlite, Transaction};

pub use schema::sqlite_schema_status;

use crate::error::classify;
use crate::{DbError, SpRepository};

/// The SP schema.
static SP_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sp");
/// The tenant schema.
pub(crate) static TENANT_MIGRATIONS: Migrator = sqlx::migrate!("migrations/tenant");

/// Opens a SQLite database and brings its schema up to date. Two processes opening a new file at
/// once can see SQLITE_BUSY without SQLite's busy wait (while the other switches the file to WAL
/// mode), so a lock is waited out here, for as long as the busy timeout.
pub(crate) async fn open_migrated(path: &Path, migrator: &Migrator) -> Result<SqlitePool, DbError> {
    let display = path.display().to_string();
    let deadline = tokio::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        let attempt = async {
            let pool = connect(path).await?;
            migrate(&pool, &display, migrator).await?;
            Ok(pool)
        };
        match attempt.await {
            Err(DbError::Locked { .. }) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            done => return done,
        }
    }
}

/// How long a statement waits for a lock another connection holds.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens a SQLite database with WAL, foreign keys and a wait for locks held by others.
async fn connect(path: &Path) -> Result<SqlitePool, DbError> {
    let display = path.display().to_string();
    pool_options()
        .connect_with(connect_options(path)?)
        .await
        .map_err(|e| classify(&display, e))
}

/// The pool every SQLite database is opened with.
fn pool_options() -> SqlitePoolOptions {
    SqlitePoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(10))
}

/// How a SQLite file is opened; refuses a path that is not a regular file.
fn connect_options(path: &Path) -> Result<SqliteConnectOptions, DbError> {
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
    Ok(
        SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
            .map_err(|e| DbError::Sql {
                path: display.clone(),
                source: e,
            })?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true),
    )
}

/// Brings the schema up to date, all of it in one `BEGIN IMMEDIATE` transaction so that two
/// processes opening a new database at once take turns instead of both creating its tables.
///
/// Databases written before the migrations moved to `sqlx::migrate!` record their versions in
/// `schema_migrations`; those versions are adopted (marked applied without running them again)
/// the first time.
async fn migrate(pool: &SqlitePool, path: &str, migrator: &Migrator) -> Result<(), DbError> {
    let sql = |e| classify(path, e);
    if up_to_date(pool, migrator).await.map_err(sql)? {
        return Ok(());
    }
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(sql)?;
    let table_exists = |name: &'static str| {
        sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = $1",
        )
        .bind(name)
    };
    let legacy = table_exists("schema_migrations")
        .fetch_one(&mut *tx)
        .await
        .map_err(sql)?
        > 0;
    let current = table_exists("_sqlx_migrations")
        .fetch_one(&mut *tx)
        .await
        .map_err(sql)?
        > 0;
    let failed = |source: MigrateError| match source {
        MigrateError::VersionMissing(version) => DbError::SchemaNewer {
            path: path.to_string(),
            version,
        },
        source => DbError::Migrate {
            path: path.to_string(),
            source,
        },
    };
    if legacy && !current {
        let applied: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM schema_migrations")
            .fetch_one(&mut *tx)
            .await
            .map_err(sql)?;
        if let Some(version) = applied {
            if !migrator.version_exists(version) {
                return Err(DbError::SchemaNewer {
                    path: path.to_string(),
                    version,
                });
            }
            migrator
                .run_direct(Some(version), &mut *tx, true)
                .await
                .map_err(failed)?;
        }
        sqlx::query("DROP TABLE schema_migrations")
            .execute(&mut *tx)
            .await
            .map_err(sql)?;
    }
    // `run_direct` rather than `run`/`skip`: those take an `Acquire` whose higher-ranked bound
    // makes the future not `Send` where a caller spawns it (sqlx's own note on `run_direct`).
    migrator
        .run_direct(None, &mut *tx, false)
        .await
        .map_err(failed)?;
    tx.commit().await.map_err(sql)
}

/// Whether every migration is applied, exactly as written and with nothing unknown: read without
/// taking the write lock, so opening a database another process is writing to only waits when
/// there is something to migrate.
async fn up_to_date(pool: &SqlitePool, migrator: &Migrator) -> Result<bool, sqlx::Error> {
    let tracked: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
    )
    .fetch_one(pool)
    .await?;
    if tracked == 0 {
        return Ok(false);
    }
    let applied: Vec<(i64, Vec<u8>)> = sqlx::query_as(
        "SELECT version, checksum FROM _sqlx_migrations WHERE success ORDER BY version",
    )
    .fetch_all(pool)
    .await?;
    let expected: Vec<(i64, Vec<u8>)> = migrator
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
        .map(|m| (m.version, m.checksum.to_vec()))
        .collect();
    Ok(applied == expected)
}

/// The SP database in a SQLite file.
#[derive(Clone, Debug)]
pub struct SqliteSpRepository {
    /// Replaced by a fresh pool when a connection finds the file not writable: SQLite opens a
    /// file it may not write read-only and keeps it so, so connections opened before an
    /// operator's `chown` would refuse every write until the process restarted.
    pool: std::sync::Arc<std::sync::RwLock<SqlitePool>>,
    options: SqliteConnectOptions,
    path: String,
}

impl SqliteSpRepository {
    /// Opens (creating the schema if needed) the SQLite database at `path`. The file should exist:
    /// the caller creates it with the right owner and mode first, so SQLite never makes it
    /// world-readable. Waits up to 5 seconds for a lock held by another process.
    pub async fn open(path: &Path) -> Result<Self, DbError> {
        let pool = open_migrated(path, &SP_MIGRATIONS).await?;
        let display = path.display().to_string();
        Ok(SqliteSpRepository {
            pool: std::sync::Arc::new(std::sync::RwLock::new(pool)),
            options: connect_options(path)?,
            path: display,
        })
    }

    /// The pool in use (a cheap handle).
    fn pool(&self) -> SqlitePool {
        match self.pool.read() {
            Ok(pool) => pool.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn sql(&self, e: sqlx::Error) -> DbError {
        let error = classify(&self.path, e);
        if error.is_not_writable() {
            // The next statement opens the file again, as it is now; the old connections close
            // when the last handle on the old pool is dropped.
            let fresh = pool_options().connect_lazy_with(self.options.clone());
            let mut slot = match self.pool.write() {
                Ok(slot) => slot,
                Err(poisoned) => poisoned.into_inner(),
            };
            let old = std::mem::replace(&mut *slot, fresh);
            drop(slot);
            drop(old);
        }
        error
    }

    /// A write transaction. `BEGIN IMMEDIATE` takes the write lock at once (waiting up to the
    /// busy timeout, like any statement), so no transaction ever upgrades a read lock to a write
    /// lock: SQLite refuses such an upgrade at once, without waiting, with "database is locked"
    /// while another connection is still writing or rolling back (CI caught it).
    async fn begin(&self) -> Result<Transaction<'_, Sqlite>, DbError> {
        self.pool()
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|e| self.sql(e))
    }

    /// A read-only transaction, for one consistent view.
    async fn begin_read(&self) -> Result<Transaction<'_, Sqlite>, DbError> {
        self.pool().begin().await.map_err(|e| self.sql(e))
    }

    /// Commits a change the gateway must see, bumping the change counter with it.
    async fn commit(
        &self,
        mut tx: Transaction<'_, Sqlite>,
        change: crate::repo::Change<'_>,
    ) -> Result<(), DbError> {
        crate::shared::record_change!(self, tx, change);
        tx.commit().await.map_err(|e| self.sql(e))
    }
}

impl SqliteSpRepository {
    /// A time as SQLite stores it: RFC 3339 text.
    fn stamp(&self, t: time::OffsetDateTime) -> String {
        crate::stamp::to_text(t)
    }

    /// A stored time read back.
    fn time_of(
        &self,
        r: &sqlx::sqlite::SqliteRow,
        column: &str,
    ) -> Result<time::OffsetDateTime, DbError> {
        let text: String = r.try_get(column).map_err(|e| self.sql(e))?;
        crate::stamp::from_text(&self.path, column, &text)
    }

    /// A stored time that may be absent, read back.
    fn optional_time_of(
        &self,
        r: &sqlx::sqlite::SqliteRow,
        column: &str,
    ) -> Result<Option<time::OffsetDateTime>, DbError> {
        let text: Option<String> = r.try_get(column).map_err(|e| self.sql(e))?;
        crate::stamp::from_optional_text(&self.path, column, text)
    }
}

mod repository {
    use async_trait::async_trait;
    use sqlx::Row as _;
    use time::OffsetDateTime;

    use super::SqliteSpRepository;
    use crate::repo::token_refusal;
    use crate::stamp::now;
    use crate::{AdminRecord, AdminRepository, ApiTokenRecord};
    use crate::{
        CertificateRepository, ClientCertDump, ClientCertRecord, DbError, EnrollmentRepository,
        FleetRepository, GatewayRecord, GatewayState, JoinTokenRecord, JoinTokenRepository,
        PublishedCertificate, ServiceDump, ServiceRecord, ServiceRepository, SpDump,
        StateRepository, TenantDump, TenantRecord, TenantRepository, TokenRefusal,
        TransferRepository,
    };
    use crate::{GatewayTenant, StateDelta, TenantSlice};

    crate::shared::impl_sp_repository!(SqliteSpRepository, sqlx::Sqlite);
}

#[async_trait::async_trait]
impl SpRepository for SqliteSpRepository {
    fn location(&self) -> &str {
        &self.path
    }
}

#[cfg(test)]
mod tests;
