//! What the SP database's schema is at, read without changing it (`sp db status`).

use std::path::Path;

use sqlx::Row as _;

use super::{SP_MIGRATIONS, connect};
use crate::error::classify;
use crate::{DbError, SchemaStatus};

/// The schema of the SQLite database at `path`, without migrating it; `None` when there is no
/// database file yet.
pub async fn sqlite_schema_status(path: &Path) -> Result<Option<SchemaStatus>, DbError> {
    if std::fs::symlink_metadata(path).is_err() {
        return Ok(None);
    }
    let display = path.display().to_string();
    let sql = |e| classify(&display, e);
    let pool = connect(path).await?;
    let table = |name: &'static str| {
        sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = $1",
        )
        .bind(name)
    };
    let mut applied = Vec::new();
    if table("_sqlx_migrations")
        .fetch_one(&pool)
        .await
        .map_err(sql)?
        > 0
    {
        let rows = sqlx::query(
            "SELECT version, description, installed_on FROM _sqlx_migrations WHERE success ORDER BY version",
        )
        .fetch_all(&pool)
        .await
        .map_err(sql)?;
        for r in rows {
            applied.push((
                r.try_get::<i64, _>("version").map_err(sql)?,
                r.try_get::<String, _>("description").map_err(sql)?,
            ));
        }
    } else if table("schema_migrations")
        .fetch_one(&pool)
        .await
        .map_err(sql)?
        > 0
    {
        // Written before `sqlx::migrate!`: versions only; adopted at the next open.
        let versions: Vec<i64> =
            sqlx::query_scalar("SELECT version FROM schema_migrations ORDER BY version")
                .fetch_all(&pool)
                .await
                .map_err(sql)?;
        applied = versions.into_iter().map(|v| (v, String::new())).collect();
    }
    pool.close().await;
    let known: Vec<(i64, String)> = SP_MIGRATIONS
        .iter()
        .map(|m| (m.version, m.description.to_string()))
        .collect();
    Ok(Some(SchemaStatus::new(display, "sqlite", applied, known)))
}
