//! Moving a whole SP database, written once for every SQL database:
//! `impl_transfer!(Repository, Database)` expands to the trait implementation for one of them.
//! Every column is carried, so that a database moved (SQLite into PostgreSQL) reads back equal.

macro_rules! impl_transfer {
    ($repo:ty, $db:ty) => {
        #[async_trait]
        impl TransferRepository for $repo {
            async fn dump(&self) -> Result<SpDump, DbError> {
                let sql = |e| self.sql(e);
                let mut tx = self.begin_read().await?;
                let tenants = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {TENANT_COLUMNS}, updated_at FROM tenants ORDER BY name"
                )))
                .fetch_all(&mut *tx)
                .await
                .map_err(sql)?;
                let services = sqlx::query(
                    "SELECT tenant, name, target, created_at FROM services ORDER BY tenant, name",
                )
                .fetch_all(&mut *tx)
                .await
                .map_err(sql)?;
                let certs = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {CLIENT_CERT_COLUMNS}, cert_der FROM client_certs ORDER BY sha256"
                )))
                .fetch_all(&mut *tx)
                .await
                .map_err(sql)?;
                let tokens = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {TOKEN_COLUMNS} FROM join_tokens ORDER BY id"
                )))
                .fetch_all(&mut *tx)
                .await
                .map_err(sql)?;
                let admins = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {ADMIN_COLUMNS} FROM admins ORDER BY name"
                )))
                .fetch_all(&mut *tx)
                .await
                .map_err(sql)?;
                let api_tokens = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {API_TOKEN_COLUMNS} FROM api_tokens ORDER BY id"
                )))
                .fetch_all(&mut *tx)
                .await
                .map_err(sql)?;
                tx.rollback().await.map_err(sql)?;
                let mut dump = SpDump::default();
                for r in &admins {
                    dump.admins.push(self.admin_from_row(r)?);
                }
                for r in &api_tokens {
                    dump.api_tokens.push(self.api_token_from_row(r)?);
                }
                for r in &tenants {
                    dump.tenants.push(TenantDump {
                        tenant: self.tenant_from_row(r)?,
                        updated_at: self.time_of(r, "updated_at")?,
                    });
                }
                for r in &services {
                    dump.services.push(ServiceDump {
                        service: ServiceRecord {
                            tenant: r.try_get("tenant").map_err(sql)?,
                            name: r.try_get("name").map_err(sql)?,
                            target: r.try_get("target").map_err(sql)?,
                        },
                        created_at: self.time_of(r, "created_at")?,
                    });
                }
                for r in &certs {
                    dump.client_certs.push(ClientCertDump {
                        cert: self.client_cert_from_row(r)?,
                        cert_der: r.try_get("cert_der").map_err(sql)?,
                    });
                }
                for r in &tokens {
                    dump.join_tokens.push(self.token_from_row(r)?);
                }
                Ok(dump)
            }

            async fn import(&self, dump: &SpDump) -> Result<(), DbError> {
                let sql = |e| self.sql(e);
                let mut tx = self.begin().await?;
                let tenants: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tenants")
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(sql)?;
                let tokens: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM join_tokens")
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(sql)?;
                if tenants > 0 || tokens > 0 {
                    return Err(DbError::NotEmpty {
                        path: self.path.clone(),
                        tenants,
                        tokens,
                    });
                }
                for d in &dump.tenants {
                    let t = &d.tenant;
                    sqlx::query(
                        "INSERT INTO tenants (name, description, password_hash, enabled, created_at, \
                         updated_at, pool, failover_outside_pool, policy) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    )
                    .bind(&t.name)
                    .bind(&t.description)
                    .bind(&t.password_hash)
                    .bind(t.enabled)
                    .bind(self.stamp(t.created_at))
                    .bind(self.stamp(d.updated_at))
                    .bind(&t.pool)
                    .bind(t.failover_outside_pool)
                    .bind(t.policy.to_stored())
                    .execute(&mut *tx)
                    .await
                    .map_err(sql)?;
                }
                for d in &dump.services {
                    sqlx::query(
                        "INSERT INTO services (tenant, name, target, created_at) VALUES ($1, $2, $3, $4)",
                    )
                    .bind(&d.service.tenant)
                    .bind(&d.service.name)
                    .bind(&d.service.target)
                    .bind(self.stamp(d.created_at))
                    .execute(&mut *tx)
                    .await
                    .map_err(sql)?;
                }
                for d in &dump.client_certs {
                    let c = &d.cert;
                    sqlx::query(
                        "INSERT INTO client_certs (sha256, tenant, cert_der, enrolled_at, last_seen, \
                         confirmed_sha256, successor_sha256, confirmed_at, label) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    )
                    .bind(&c.sha256)
                    .bind(&c.tenant)
                    .bind(&d.cert_der)
                    .bind(self.stamp(c.enrolled_at))
                    .bind(c.last_seen.map(|t| self.stamp(t)))
                    .bind(&c.confirmed_sha256)
                    .bind(&c.successor_sha256)
                    .bind(c.confirmed_at.map(|t| self.stamp(t)))
                    .bind(&c.label)
                    .execute(&mut *tx)
                    .await
                    .map_err(sql)?;
                }
                for t in &dump.join_tokens {
                    self.insert_token(&mut tx, t).await?;
                }
                for a in &dump.admins {
                    if !self.insert_admin(&mut *tx, a).await? {
                        return Err(DbError::AdminExists(a.name.clone()));
                    }
                }
                for t in &dump.api_tokens {
                    self.insert_api_token(&mut *tx, t).await?;
                }
                self.commit(tx, crate::repo::Change::Everything).await
            }
        }
    };
}
pub(crate) use impl_transfer;
