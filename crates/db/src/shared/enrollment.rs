//! Enrolled client certificates, written once for every SQL database: `impl_enrollment!(Repository, Database)`
//! expands to the trait implementations for one of them. The repository provides `begin`,
//! `begin_read`, `commit`, `sql` (its error classifier), `stamp` and `time_of` (how it stores
//! times), and its `pool` and `path`.

macro_rules! impl_enrollment {
    ($repo:ty, $db:ty) => {
        impl $repo {
            fn client_cert_from_row(&self, r: &<$db as sqlx::Database>::Row) -> Result<ClientCertRecord, DbError> {
                let get = |e| self.sql(e);
                Ok(ClientCertRecord {
                    sha256: r.try_get("sha256").map_err(get)?,
                    tenant: r.try_get("tenant").map_err(get)?,
                    enrolled_at: self.time_of(r, "enrolled_at")?,
                    last_seen: self.optional_time_of(r, "last_seen")?,
                    confirmed_sha256: r.try_get("confirmed_sha256").map_err(get)?,
                    successor_sha256: r.try_get("successor_sha256").map_err(get)?,
                    confirmed_at: self.optional_time_of(r, "confirmed_at")?,
                    label: r.try_get("label").map_err(get)?,
                })
            }

            /// Inserts a client certificate for a tenant inside a transaction, unless it is bound to
            /// the tenant already (then `false`); refuses one bound to another tenant.
            async fn bind_in(
                &self,
                tx: &mut <$db as sqlx::Database>::Connection,
                tenant: &str,
                sha256: &str,
                cert_der: &[u8],
                label: Option<&str>,
            ) -> Result<bool, DbError> {
                let owner: Option<String> =
                    sqlx::query_scalar("SELECT tenant FROM client_certs WHERE sha256 = $1")
                        .bind(sha256)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(|e| self.sql(e))?;
                match owner {
                    Some(o) if o == tenant => Ok(false),
                    Some(_) => Err(DbError::ClientCertTaken),
                    None => {
                        sqlx::query("INSERT INTO client_certs (sha256, tenant, cert_der, enrolled_at, label) VALUES ($1, $2, $3, $4, $5)")
                            .bind(sha256)
                            .bind(tenant)
                            .bind(cert_der)
                            .bind(self.stamp(now()))
                            .bind(label)
                            .execute(&mut *tx)
                            .await
                            .map_err(|e| self.sql(e))?;
                        Ok(true)
                    }
                }
            }
        }

        const CLIENT_CERT_COLUMNS: &str = "sha256, tenant, enrolled_at, last_seen, confirmed_sha256, successor_sha256, confirmed_at, label";

        #[async_trait]
        impl EnrollmentRepository for $repo {
            async fn bind_client_cert(
                &self,
                tenant: &str,
                sha256: &str,
                cert_der: &[u8],
                label: Option<&str>,
            ) -> Result<(), DbError> {
                let mut tx = self.begin().await?;
                if self
                    .bind_in(&mut tx, tenant, sha256, cert_der, label)
                    .await?
                {
                    self.commit(tx, crate::repo::Change::Tenant(tenant)).await
                } else {
                    // Enrolled already: nothing the gateway needs to reload.
                    Ok(())
                }
            }

            async fn client_certs(&self, tenant: &str) -> Result<Vec<ClientCertRecord>, DbError> {
                self.tenant(tenant).await?;
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {CLIENT_CERT_COLUMNS} FROM client_certs WHERE tenant = $1 ORDER BY enrolled_at"
                )))
                .bind(tenant)
                .fetch_all(&self.pool())
                .await
                .map_err(|e| self.sql(e))?;
                rows.iter().map(|r| self.client_cert_from_row(r)).collect()
            }

            async fn all_client_certs(&self) -> Result<Vec<ClientCertRecord>, DbError> {
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {CLIENT_CERT_COLUMNS} FROM client_certs ORDER BY tenant, enrolled_at"
                )))
                .fetch_all(&self.pool())
                .await
                .map_err(|e| self.sql(e))?;
                rows.iter().map(|r| self.client_cert_from_row(r)).collect()
            }

            async fn confirm_client_cert(
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
                .bind(self.stamp(now()))
                .bind(sha256)
                .execute(&self.pool())
                .await
                .map_err(|e| self.sql(e))?;
                Ok(())
            }

            async fn revoke_client_cert(&self, tenant: &str, sha256: &str) -> Result<(), DbError> {
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
                self.commit(tx, crate::repo::Change::Tenant(tenant)).await
            }

            async fn prune_client_certs(
                &self,
                tenant: &str,
                before: OffsetDateTime,
            ) -> Result<Vec<ClientCertRecord>, DbError> {
                let stale: Vec<ClientCertRecord> = self
                    .client_certs(tenant)
                    .await?
                    .into_iter()
                    .filter(|c| c.last_activity() < before)
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
                self.commit(tx, crate::repo::Change::Tenant(tenant)).await?;
                Ok(stale)
            }

            async fn touch_client_cert(&self, sha256: &str) -> Result<(), DbError> {
                sqlx::query("UPDATE client_certs SET last_seen = $1 WHERE sha256 = $2")
                    .bind(self.stamp(now()))
                    .bind(sha256)
                    .execute(&self.pool())
                    .await
                    .map_err(|e| self.sql(e))?;
                Ok(())
            }
        }
    };
}
pub(crate) use impl_enrollment;
