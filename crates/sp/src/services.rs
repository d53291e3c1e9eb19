//! The backends a tenant may reach, with their rules: a service name like a tenant name, and a
//! target that is a `HOST:PORT` the gateway can connect to.

use cloudgate_db::SpRepository;

use crate::SpError;
use crate::credentials::check_name;

/// Gives a tenant a service after checking its name and target.
pub async fn add_service(
    db: &dyn SpRepository,
    tenant: &str,
    service: &str,
    target: &str,
) -> Result<(), SpError> {
    check_name("service", service).map_err(|e| SpError::Invalid(format!("{e} ({service:?})")))?;
    cloudgate_addr::HostPort::parse(target, None)
        .map_err(|e| SpError::Invalid(format!("service target {e}")))?;
    Ok(db.add_service(tenant, service, target).await?)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use cloudgate_db::SqliteSpRepository;

    #[tokio::test]
    async fn a_service_needs_a_valid_name_and_a_host_and_port() {
        let dir = tempfile::tempdir().unwrap();
        let db: Arc<dyn SpRepository> = Arc::new(
            SqliteSpRepository::open(&dir.path().join("sp.db"))
                .await
                .unwrap(),
        );
        db.add_tenant("acme", "", "h").await.unwrap();
        for (name, target) in [
            ("", "127.0.0.1:9000"),
            ("with space", "127.0.0.1:9000"),
            ("repo", "127.0.0.1"),
            ("repo", "http://x:1/"),
        ] {
            let e = add_service(&*db, "acme", name, target).await.unwrap_err();
            assert!(matches!(e, SpError::Invalid(_)), "{name:?} {target:?}: {e}");
        }
        assert!(db.services("acme").await.unwrap().is_empty());
        add_service(&*db, "acme", "repo", "backup.internal:9000")
            .await
            .unwrap();
        assert_eq!(db.services("acme").await.unwrap().len(), 1);
    }
}
