//! PostgreSQL: the SP database a fleet of gateways shares. The same repository as SQLite (the
//! SQL is in `crate::shared`), with PostgreSQL's types (`TIMESTAMPTZ`, `BYTEA`), its own
//! migrations (`migrations/postgres/sp/`, applied under sqlx's advisory lock so that gateways
//! starting together take turns), and writers serialised on the change counter's row, as
//! SQLite's `BEGIN IMMEDIATE` does.

use std::str::FromStr as _;
use std::time::Duration;

use sqlx::Connection as _;
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgListener, PgPool, PgPoolOptions, PgRow};
use sqlx::{Postgres, Row as _, Transaction};
use time::OffsetDateTime;

use crate::url::redact_url;
use crate::{DbError, SpRepository};

/// The SP schema on PostgreSQL.
static PG_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres/sp");

/// The SP database on a PostgreSQL server.
#[derive(Clone, Debug)]
pub struct PgSpRepository {
    pool: PgPool,
    /// The URL without its password, for messages.
    path: String,
}

/// A driver error, classified by PostgreSQL's SQLSTATE (never by its message).
fn classify(path: &str, source: sqlx::Error) -> DbError {
    let path = path.to_string();
    let state = source
        .as_database_error()
        .and_then(|e| e.code())
        .map(|c| c.to_string());
    match state.as_deref() {
        // serialization_failure, deadlock_detected, lock_not_available
        Some("40001" | "40P01" | "55P03") => DbError::Locked { path, source },
        // disk_full
        Some("53100") => DbError::DiskFull { path, source },
        None if matches!(
            source,
            sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::PoolTimedOut
        ) =>
        {
            DbError::Unreachable { path, source }
        }
        // invalid_password, invalid_authorization_specification, invalid_catalog_name
        Some("28P01" | "28000" | "3D000") => DbError::Unreachable { path, source },
        _ => DbError::Sql { path, source },
    }
}

impl PgSpRepository {
    /// The pool (a cheap handle), as the shared SQL takes it.
    fn pool(&self) -> PgPool {
        self.pool.clone()
    }

    /// Connects to the server at `url` (`postgres://USER:PASSWORD@HOST:PORT/DB`, with
    /// `?sslmode=require` or `verify-full` for TLS), with a pool of up to 8 connections, and
    /// brings the schema up to date.
    pub async fn connect(url: &str) -> Result<Self, DbError> {
        let path = redact_url(url);
        let options = PgConnectOptions::from_str(url).map_err(|e| DbError::BadUrl {
            url: path.clone(),
            reason: e.to_string(),
        })?;
        // One connection first, for the schema: a server that refuses is reported at once,
        // not after the pool's wait for a connection.
        let mut conn = PgConnection::connect_with(&options)
            .await
            .map_err(|e| classify(&path, e))?;
        // `run_direct`: see the SQLite migration for why not `run`.
        PG_MIGRATIONS
            .run_direct(None, &mut conn, false)
            .await
            .map_err(|source| match source {
                MigrateError::VersionMissing(version) => DbError::SchemaNewer {
                    path: path.clone(),
                    version,
                },
                source => DbError::Migrate {
                    path: path.clone(),
                    source,
                },
            })?;
        let _ = conn.close().await;
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect_lazy_with(options);
        Ok(PgSpRepository { pool, path })
    }

    fn sql(&self, e: sqlx::Error) -> DbError {
        classify(&self.path, e)
    }

    /// A write transaction. It first locks the change counter's row, so writers take turns as
    /// on SQLite, and a join token cannot be redeemed twice by two gateways at once.
    async fn begin(&self) -> Result<Transaction<'_, Postgres>, DbError> {
        let mut tx = self.pool.begin().await.map_err(|e| self.sql(e))?;
        sqlx::query("SELECT version FROM state_version WHERE id = 1 FOR UPDATE")
            .execute(&mut *tx)
            .await
            .map_err(|e| self.sql(e))?;
        Ok(tx)
    }

    /// A read-only transaction on one snapshot.
    async fn begin_read(&self) -> Result<Transaction<'_, Postgres>, DbError> {
        self.pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await
            .map_err(|e| self.sql(e))
    }

    /// Commits a change the gateways must see, bumping the change counter with it and telling
    /// the listening gateways (PostgreSQL delivers the notification at commit, not before).
    async fn commit(
        &self,
        mut tx: Transaction<'_, Postgres>,
        change: crate::repo::Change<'_>,
    ) -> Result<(), DbError> {
        crate::shared::record_change!(self, tx, change);
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(CHANGES_CHANNEL)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.sql(e))?;
        tx.commit().await.map_err(|e| self.sql(e))
    }

    /// A time as PostgreSQL stores it: `TIMESTAMPTZ`, to the second like SQLite's text.
    fn stamp(&self, t: OffsetDateTime) -> OffsetDateTime {
        let utc = t.to_offset(time::UtcOffset::UTC);
        utc.replace_nanosecond(0).unwrap_or(utc)
    }

    fn time_of(&self, r: &PgRow, column: &str) -> Result<OffsetDateTime, DbError> {
        r.try_get(column).map_err(|e| self.sql(e))
    }

    fn optional_time_of(&self, r: &PgRow, column: &str) -> Result<Option<OffsetDateTime>, DbError> {
        r.try_get(column).map_err(|e| self.sql(e))
    }
}

mod repository {
    use async_trait::async_trait;
    use sqlx::Row as _;
    use time::OffsetDateTime;

    use super::PgSpRepository;
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

    crate::shared::impl_sp_repository!(PgSpRepository, sqlx::Postgres);
}

/// The schema of the database at `url`, read without migrating it.
pub async fn pg_schema_status(url: &str) -> Result<crate::SchemaStatus, DbError> {
    let path = redact_url(url);
    let options = PgConnectOptions::from_str(url).map_err(|e| DbError::BadUrl {
        url: path.clone(),
        reason: e.to_string(),
    })?;
    let mut conn = PgConnection::connect_with(&options)
        .await
        .map_err(|e| classify(&path, e))?;
    let tracked: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
        .fetch_one(&mut conn)
        .await
        .map_err(|e| classify(&path, e))?;
    let applied: Vec<(i64, String)> = if tracked {
        sqlx::query_as(
            "SELECT version, description FROM _sqlx_migrations WHERE success ORDER BY version",
        )
        .fetch_all(&mut conn)
        .await
        .map_err(|e| classify(&path, e))?
    } else {
        Vec::new()
    };
    let _ = conn.close().await;
    let known = PG_MIGRATIONS
        .iter()
        .map(|m| (m.version, m.description.to_string()))
        .collect();
    Ok(crate::SchemaStatus::new(path, "postgres", applied, known))
}

/// The channel commits are told on.
const CHANGES_CHANNEL: &str = "cloudgate_state";

#[async_trait::async_trait]
impl SpRepository for PgSpRepository {
    fn location(&self) -> &str {
        &self.path
    }

    async fn change_feed(&self) -> Result<Option<Box<dyn crate::ChangeFeed>>, DbError> {
        let mut listener = PgListener::connect_with(&self.pool)
            .await
            .map_err(|e| self.sql(e))?;
        listener
            .listen(CHANGES_CHANNEL)
            .await
            .map_err(|e| self.sql(e))?;
        Ok(Some(Box::new(PgChangeFeed {
            listener,
            path: self.path.clone(),
        })))
    }
}

/// LISTEN on the changes channel. The listener reconnects by itself when its connection drops.
struct PgChangeFeed {
    listener: PgListener,
    path: String,
}

#[async_trait::async_trait]
impl crate::ChangeFeed for PgChangeFeed {
    async fn changed(&mut self) -> Result<(), DbError> {
        self.listener
            .recv()
            .await
            .map(|_| ())
            .map_err(|e| classify(&self.path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_is_shown_without_its_password() {
        assert_eq!(
            redact_url("postgres://cg:s3cret@db.example:5432/cloudgate?sslmode=require"),
            "postgres://cg:***@db.example:5432/cloudgate?sslmode=require"
        );
        assert_eq!(
            redact_url("postgres://db.example/cloudgate"),
            "postgres://db.example/cloudgate"
        );
        assert!(!redact_url("postgres://u:p%40ss@h/d").contains("p%40ss"));
        // No password: nothing to hide, the URL is shown whole.
        assert_eq!(
            redact_url("postgres://cloudgate@db.example/cg"),
            "postgres://cloudgate@db.example/cg"
        );
        assert_eq!(
            redact_url("postgres://cg@h/d?sslmode=require&password=s3cret"),
            "postgres://cg@h/d?sslmode=require&password=***"
        );
    }
}

/// Against a real server: `CLOUDGATE_TEST_DATABASE_URL=postgres://USER:PASSWORD@HOST/DB`, a role
/// that may create databases (`.ci/run` starts one). Each test works in a database of its own.
#[cfg(test)]
mod server_tests {
    use std::sync::Arc;

    use super::*;
    use crate::prelude::*;

    const NEEDS: &str =
        "needs PostgreSQL: set CLOUDGATE_TEST_DATABASE_URL (.ci/run starts a server)";

    /// A new, empty database on the test server; its URL.
    async fn fresh_database() -> String {
        let url = std::env::var("CLOUDGATE_TEST_DATABASE_URL").expect(NEEDS);
        let admin = PgPool::connect(&url)
            .await
            .expect("connect to the test server");
        let name = format!("cg_test_{}", hex_suffix());
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&admin)
            .await
            .expect("the test role may create databases");
        admin.close().await;
        let (base, query) = url
            .split_once('?')
            .map_or((url.as_str(), ""), |(b, q)| (b, q));
        let server = base.rsplit_once('/').map_or(base, |(s, _)| s);
        if query.is_empty() {
            format!("{server}/{name}")
        } else {
            format!("{server}/{name}?{query}")
        }
    }

    fn hex_suffix() -> String {
        let mut bytes = [0u8; 6];
        aws_lc_rs::rand::fill(&mut bytes).expect("random bytes");
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[tokio::test]
    #[ignore = "needs PostgreSQL: set CLOUDGATE_TEST_DATABASE_URL (.ci/run starts a server)"]
    async fn the_repository_suite_passes_on_postgres() {
        let db = PgSpRepository::connect(&fresh_database().await)
            .await
            .unwrap();
        crate::shared::suite::all(&db).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    #[ignore = "needs PostgreSQL: set CLOUDGATE_TEST_DATABASE_URL (.ci/run starts a server)"]
    async fn the_audit_chain_finds_a_removed_edited_or_swapped_row_on_postgres() {
        let db = PgSpRepository::connect(&fresh_database().await)
            .await
            .unwrap();
        let pool = db.pool.clone();
        crate::shared::suite::audit_chain_under_tampering(&db, |sql| {
            let pool = pool.clone();
            async move {
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(&pool)
                    .await
                    .unwrap();
            }
        })
        .await;
    }

    #[tokio::test]
    #[ignore = "needs PostgreSQL: set CLOUDGATE_TEST_DATABASE_URL (.ci/run starts a server)"]
    async fn a_sqlite_database_moves_whole_into_postgres() {
        let dir = tempfile::tempdir().unwrap();
        let src = crate::SqliteSpRepository::open(&dir.path().join("sp.db"))
            .await
            .unwrap();
        let dst = PgSpRepository::connect(&fresh_database().await)
            .await
            .unwrap();
        crate::shared::suite::transfer(&src, &dst).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    #[ignore = "needs PostgreSQL: set CLOUDGATE_TEST_DATABASE_URL (.ci/run starts a server)"]
    async fn gateways_redeeming_one_token_at_once_enroll_exactly_one_machine() {
        let url = fresh_database().await;
        let (a, b) = tokio::join!(PgSpRepository::connect(&url), PgSpRepository::connect(&url));
        let (a, b): (Arc<dyn SpRepository>, Arc<dyn SpRepository>) =
            (Arc::new(a.unwrap()), Arc::new(b.unwrap()));
        a.add_tenant("acme", "", "h").await.unwrap();
        let t = crate::stamp::now();
        a.add_join_token(&crate::JoinTokenRecord {
            id: "t1".into(),
            tenant: "acme".into(),
            secret_sha256: "aa".repeat(32),
            label: String::new(),
            created_by: "test".into(),
            created_at: t,
            expires_at: t + time::Duration::hours(1),
            uses_left: 1,
            revoked_at: None,
        })
        .await
        .unwrap();
        let secret = "aa".repeat(32);
        let mut tasks = Vec::new();
        for i in 0..8 {
            let db = if i % 2 == 0 { a.clone() } else { b.clone() };
            let secret = secret.clone();
            tasks.push(tokio::spawn(async move {
                db.enroll_with_token(
                    "t1",
                    &secret,
                    &format!("M{i}"),
                    &[1],
                    None,
                    "127.0.0.1".parse().unwrap(),
                )
                .await
            }));
        }
        let mut enrolled = 0;
        for t in tasks {
            match t.await.unwrap().unwrap() {
                Ok(_) => enrolled += 1,
                Err(refusal) => assert_eq!(refusal, crate::TokenRefusal::UsedUp),
            }
        }
        assert_eq!(enrolled, 1, "a one-use token enrolls one machine");
        assert_eq!(b.client_certs("acme").await.unwrap().len(), 1);
    }

    #[tokio::test]
    #[ignore = "needs PostgreSQL: set CLOUDGATE_TEST_DATABASE_URL (.ci/run starts a server)"]
    async fn a_newer_schema_is_refused_and_times_are_timestamps() {
        let url = fresh_database().await;
        let db = PgSpRepository::connect(&url).await.unwrap();
        db.add_tenant("acme", "", "h").await.unwrap();
        let kind: String = sqlx::query_scalar(
            "SELECT data_type FROM information_schema.columns WHERE table_name = 'tenants' AND column_name = 'created_at'",
        )
        .fetch_one(&db.pool)
        .await
        .unwrap();
        assert_eq!(kind, "timestamp with time zone");
        sqlx::query("INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (9999, 'future', TRUE, '\\x00', 0)")
            .execute(&db.pool)
            .await
            .unwrap();
        let e = PgSpRepository::connect(&url).await.unwrap_err();
        assert!(
            matches!(e, DbError::SchemaNewer { version: 9999, .. }),
            "{e:?}"
        );
    }
}

#[cfg(test)]
mod unreachable_tests {
    use super::*;

    #[tokio::test]
    async fn a_server_that_does_not_answer_is_unreachable_and_the_password_is_not_shown() {
        // A port nothing listens on: bind one and drop it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let e = PgSpRepository::connect(&format!(
            "postgres://cg:hunter2@127.0.0.1:{port}/cloudgate?connect_timeout=2"
        ))
        .await
        .unwrap_err();
        assert!(matches!(e, DbError::Unreachable { .. }), "{e:?}");
        assert!(!e.to_string().contains("hunter2"), "{e}");
        assert!(e.to_string().contains("CLOUDGATE_DATABASE_URL"), "{e}");
        let e = PgSpRepository::connect("postgres://cg:hunter2@127.0.0.1:1/x?sslmode=bogus")
            .await
            .unwrap_err();
        assert!(matches!(e, DbError::BadUrl { .. }), "{e:?}");
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }
}
