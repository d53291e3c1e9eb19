//! The fleet's published certificate, written once for every SQL database:
//! `impl_certificate!(Repository, Database)` expands to the trait implementation for one of
//! them. Publishing is a change every gateway reloads for.

macro_rules! impl_certificate {
    ($repo:ty, $db:ty) => {
        #[async_trait]
        impl CertificateRepository for $repo {
            async fn publish_certificate(&self, c: &PublishedCertificate) -> Result<(), DbError> {
                let mut tx = self.begin().await?;
                sqlx::query(
                    "INSERT INTO fleet_certificate (id, sha256, cert_der, chain_pem, friendly_name, \
                     provider_name, rollover, sealed_keys, published_at) \
                     VALUES (1, $1, $2, $3, $4, $5, $6, $7, $8) \
                     ON CONFLICT (id) DO UPDATE SET sha256 = excluded.sha256, \
                     cert_der = excluded.cert_der, chain_pem = excluded.chain_pem, \
                     friendly_name = excluded.friendly_name, provider_name = excluded.provider_name, \
                     rollover = excluded.rollover, sealed_keys = excluded.sealed_keys, \
                     published_at = excluded.published_at",
                )
                .bind(&c.sha256)
                .bind(&c.cert_der)
                .bind(&c.chain_pem)
                .bind(&c.friendly_name)
                .bind(&c.provider_name)
                .bind(&c.rollover)
                .bind(&c.sealed_keys)
                .bind(self.stamp(c.published_at))
                .execute(&mut *tx)
                .await
                .map_err(|e| self.sql(e))?;
                self.commit(tx, crate::repo::Change::Certificate).await
            }

            async fn published_certificate(&self) -> Result<Option<PublishedCertificate>, DbError> {
                let get = |e| self.sql(e);
                let row = sqlx::query(
                    "SELECT sha256, cert_der, chain_pem, friendly_name, provider_name, rollover, \
                     sealed_keys, published_at FROM fleet_certificate WHERE id = 1",
                )
                .fetch_optional(&self.pool())
                .await
                .map_err(get)?;
                let Some(r) = row else {
                    return Ok(None);
                };
                Ok(Some(PublishedCertificate {
                    sha256: r.try_get("sha256").map_err(get)?,
                    cert_der: r.try_get("cert_der").map_err(get)?,
                    chain_pem: r.try_get("chain_pem").map_err(get)?,
                    friendly_name: r.try_get("friendly_name").map_err(get)?,
                    provider_name: r.try_get("provider_name").map_err(get)?,
                    rollover: r.try_get("rollover").map_err(get)?,
                    sealed_keys: r.try_get("sealed_keys").map_err(get)?,
                    published_at: self.time_of(&r, "published_at")?,
                }))
            }
        }
    };
}
pub(crate) use impl_certificate;
