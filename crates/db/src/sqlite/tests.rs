use super::*;
use crate::stamp::{now, to_text};
use crate::*;

#[tokio::test]
async fn the_repository_suite_passes_on_sqlite() {
    let (_d, db) = db().await;
    crate::shared::suite::all(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_audit_chain_finds_a_removed_edited_or_swapped_row_on_sqlite() {
    let (_d, db) = db().await;
    let pool = db.pool();
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
async fn a_database_moves_whole_into_another() {
    let (_a, src) = db().await;
    let (_b, dst) = db().await;
    crate::shared::suite::transfer(&src, &dst).await;
}

async fn db() -> (tempfile::TempDir, SqliteSpRepository) {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteSpRepository::open(&dir.path().join("sp.db"))
        .await
        .unwrap();
    (dir, db)
}

async fn legacy_database(path: &std::path::Path, versions: &[i64]) {
    let pool = connect(path).await.unwrap();
    sqlx::raw_sql(
        "CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, applied_at TEXT NOT NULL)",
    )
    .execute(&pool)
    .await
    .unwrap();
    for m in SP_MIGRATIONS
        .iter()
        .filter(|m| versions.contains(&m.version))
    {
        sqlx::raw_sql(sqlx::AssertSqlSafe(m.sql.as_str().to_string()))
            .execute(&pool)
            .await
            .unwrap();
        sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, 'then')")
            .bind(m.version)
            .execute(&pool)
            .await
            .unwrap();
    }
    sqlx::query("INSERT INTO tenants (name, description, password_hash, enabled, created_at, updated_at) VALUES ('old', '', 'h', TRUE, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
}

#[tokio::test]
async fn a_database_of_the_old_migration_runner_is_adopted_and_completed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sp.db");
    legacy_database(&path, &[1, 2]).await;
    let db = SqliteSpRepository::open(&path).await.unwrap();
    let old = db.tenant("old").await.unwrap();
    assert_eq!(to_text(old.created_at), "2026-01-01T00:00:00Z");
    // Migrations 3 and 4 ran: labels and join tokens work.
    db.bind_client_cert("old", "AB", b"der", Some("laptop"))
        .await
        .unwrap();
    assert!(db.join_tokens(Some("old")).await.unwrap().is_empty());
    drop(db);
    // And a second open finds nothing to do.
    let db = SqliteSpRepository::open(&path).await.unwrap();
    assert_eq!(db.tenants().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_schema_from_a_newer_version_is_refused_with_the_way_out() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sp.db");
    drop(SqliteSpRepository::open(&path).await.unwrap());
    let pool = connect(&path).await.unwrap();
    sqlx::query("INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (9999, 'future', TRUE, x'00', 0)")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let e = SqliteSpRepository::open(&path).await.unwrap_err();
    assert!(
        matches!(e, DbError::SchemaNewer { version: 9999, .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("upgrade cloudgate"), "{e}");
}

#[tokio::test]
async fn two_processes_opening_a_new_database_at_once_take_turns() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sp.db");
    let (a, b) = tokio::join!(
        SqliteSpRepository::open(&path),
        SqliteSpRepository::open(&path)
    );
    a.unwrap().add_tenant("x", "", "h").await.unwrap();
    assert_eq!(b.unwrap().tenants().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_damaged_time_is_reported_as_a_corrupt_database() {
    let (_d, db) = db().await;
    db.add_tenant("acme", "", "h").await.unwrap();
    sqlx::query("UPDATE tenants SET created_at = 'yesterday'")
        .execute(&db.pool())
        .await
        .unwrap();
    let e = db.tenants().await.unwrap_err();
    assert!(matches!(e, DbError::Corrupt { .. }), "{e:?}");
}

#[tokio::test]
async fn prune_removes_only_machines_quiet_since_the_cutoff() {
    let (_d, db) = db().await;
    db.add_tenant("acme", "", "h").await.unwrap();
    db.bind_client_cert("acme", "OLD", b"1", None)
        .await
        .unwrap();
    db.bind_client_cert("acme", "NEW", b"2", None)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE client_certs SET enrolled_at = '2020-01-01T00:00:00Z' WHERE sha256 = 'OLD'",
    )
    .execute(&db.pool())
    .await
    .unwrap();
    let cutoff = now() - time::Duration::days(30);
    let gone = db.prune_client_certs("acme", cutoff).await.unwrap();
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0].sha256, "OLD");
    assert_eq!(db.client_certs("acme").await.unwrap().len(), 1);
}

#[tokio::test]
async fn an_up_to_date_database_opens_while_another_process_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sp.db");
    drop(SqliteSpRepository::open(&path).await.unwrap());
    let writer = connect(&path).await.unwrap();
    let tx = writer.begin_with("BEGIN IMMEDIATE").await.unwrap();
    let started = std::time::Instant::now();
    let db = SqliteSpRepository::open(&path).await.unwrap();
    assert!(db.tenants().await.unwrap().is_empty());
    assert!(
        started.elapsed() < BUSY_TIMEOUT,
        "opening waited for the writer"
    );
    drop(tx);
}

#[tokio::test]
async fn the_schema_status_tells_applied_pending_and_unknown_without_changing_anything() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sp.db");
    assert_eq!(sqlite_schema_status(&path).await.unwrap(), None);
    legacy_database(&path, &[1, 2]).await;
    let old = sqlite_schema_status(&path).await.unwrap().unwrap();
    assert_eq!(old.version(), 2);
    assert_eq!(
        old.pending.iter().map(|m| m.version).collect::<Vec<_>>(),
        [3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
    );
    assert!(
        old.applied.iter().all(|m| !m.description.is_empty()),
        "legacy versions get their descriptions"
    );
    let again = sqlite_schema_status(&path).await.unwrap().unwrap();
    assert_eq!(again, old, "reading the status migrates nothing");
    drop(SqliteSpRepository::open(&path).await.unwrap());
    let now = sqlite_schema_status(&path).await.unwrap().unwrap();
    assert!(now.pending.is_empty() && now.unknown.is_empty());
    assert_eq!(now.version(), 12);
    let pool = connect(&path).await.unwrap();
    sqlx::query("INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (9999, 'future', TRUE, x'00', 0)")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    assert_eq!(
        sqlite_schema_status(&path).await.unwrap().unwrap().unknown,
        [9999]
    );
}
