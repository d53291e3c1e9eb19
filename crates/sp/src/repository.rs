//! Opening the SP database: the one place that knows which implementation of
//! [`cloudgate_db::SpRepository`] an install uses and how its file is created.

use std::sync::Arc;

use cloudgate_db::{PgSpRepository, SharedRepository, SqliteSpRepository};
use cloudgate_store::fsio::{self, FileSpec};
use cloudgate_store::{FileOwnership, Layout, StoreError};

use crate::SpError;

/// Opens the SP database: the PostgreSQL server at `server` when one is configured, else SQLite
/// in the data directory's `sp.db`, created first (with the data directory if needed) with the
/// store's owner, group and mode, so SQLite never creates it with the process's umask.
pub async fn open(
    layout: &Layout,
    own: &FileOwnership,
    server: Option<&str>,
) -> Result<SharedRepository, SpError> {
    if let Some(url) = server {
        return Ok(Arc::new(PgSpRepository::connect(url).await?));
    }
    let path = layout.sp_database();
    if !path.exists() {
        fsio::ensure_private_dir(layout.data_dir(), own)?;
        match fsio::write_new_file(&path, b"", FileSpec::store(own)) {
            Ok(()) => {}
            // Another process created it in between: open theirs.
            Err(StoreError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Arc::new(SqliteSpRepository::open(&path).await?))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    #[tokio::test]
    async fn the_database_is_created_owner_and_group_only_and_opened_twice() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path().join("data"));
        let own = FileOwnership::resolve(None).unwrap();
        let db = open(&layout, &own, None).await.unwrap();
        db.add_tenant("acme", "", "h").await.unwrap();
        let mode = std::fs::metadata(layout.sp_database())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o007, 0, "no access for others: {mode:o}");
        let again = open(&layout, &own, None).await.unwrap();
        assert_eq!(again.tenants().await.unwrap().len(), 1);
    }
}
