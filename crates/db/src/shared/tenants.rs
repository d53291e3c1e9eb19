//! Tenants and their services, written once for every SQL database: `impl_tenants!(Repository, Database)`
//! expands to the trait implementations for one of them. The repository provides `begin`,
//! `begin_read`, `commit`, `sql` (its error classifier), `stamp` and `time_of` (how it stores
//! times), and its `pool` and `path`.

macro_rules! impl_tenants {
    ($repo:ty, $db:ty) => {
        const TENANT_COLUMNS: &str =
            "name, description, password_hash, enabled, created_at, pool, failover_outside_pool, policy";

        impl $repo {
            pub(super) fn tenant_from_row(&self, r: &<$db as sqlx::Database>::Row) -> Result<TenantRecord, DbError> {
                let get = |e| self.sql(e);
                Ok(TenantRecord {
                    name: r.try_get("name").map_err(get)?,
                    description: r.try_get("description").map_err(get)?,
                    password_hash: r.try_get("password_hash").map_err(get)?,
                    enabled: r.try_get("enabled").map_err(get)?,
                    created_at: self.time_of(r, "created_at")?,
                    pool: r.try_get("pool").map_err(get)?,
                    failover_outside_pool: r.try_get("failover_outside_pool").map_err(get)?,
                    policy: self.policy_of(&r.try_get::<String, _>("policy").map_err(get)?)?,
                })
            }

            /// A stored policy, read.
            pub(super) fn policy_of(&self, text: &str) -> Result<cloudgate_policy::TenantPolicy, DbError> {
                cloudgate_policy::TenantPolicy::from_stored(text).map_err(|e| DbError::Corrupt {
                    path: $crate::SpRepository::location(self).to_string(),
                    reason: e.to_string(),
                })
            }

            fn updated(&self, name: &str, rows: u64) -> Result<(), DbError> {
                if rows == 0 {
                    Err(DbError::NoSuchTenant(name.to_string()))
                } else {
                    Ok(())
                }
            }
        }

        #[async_trait]
        impl TenantRepository for $repo {
            async fn add_tenant(
                &self,
                name: &str,
                description: &str,
                password_hash: &str,
            ) -> Result<(), DbError> {
                let mut tx = self.begin().await?;
                // Names are unique without regard to case: `Globex` and `globex` would be two
                // accounts an operator (and a tenant reading a token) takes for one.
                let result = sqlx::query(
                    "INSERT INTO tenants (name, description, password_hash, enabled, created_at, updated_at) SELECT $1, $2, $3, TRUE, $4, $4 WHERE NOT EXISTS (SELECT 1 FROM tenants WHERE lower(name) = lower($1))",
                )
                .bind(name)
                .bind(description)
                .bind(password_hash)
                .bind(self.stamp(now()))
                .execute(&mut *tx)
                .await;
                match result {
                    Ok(done) if done.rows_affected() == 0 => {
                        Err(DbError::TenantExists(name.to_string()))
                    }
                    Ok(_) => self.commit(tx, crate::repo::Change::Tenant(name)).await,
                    Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                        Err(DbError::TenantExists(name.to_string()))
                    }
                    Err(e) => Err(self.sql(e)),
                }
            }

            async fn tenants(&self) -> Result<Vec<TenantRecord>, DbError> {
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {TENANT_COLUMNS} FROM tenants ORDER BY name"
                )))
                .fetch_all(&self.pool())
                .await
                .map_err(|e| self.sql(e))?;
                rows.iter().map(|r| self.tenant_from_row(r)).collect()
            }

            async fn tenant(&self, name: &str) -> Result<TenantRecord, DbError> {
                let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {TENANT_COLUMNS} FROM tenants WHERE name = $1"
                )))
                .bind(name)
                .fetch_optional(&self.pool())
                .await
                .map_err(|e| self.sql(e))?;
                match row {
                    Some(r) => self.tenant_from_row(&r),
                    None => Err(DbError::NoSuchTenant(name.to_string())),
                }
            }

            async fn set_password_hash(&self, name: &str, hash: &str) -> Result<(), DbError> {
                let mut tx = self.begin().await?;
                let done =
                    sqlx::query("UPDATE tenants SET password_hash = $1, updated_at = $2 WHERE name = $3")
                        .bind(hash)
                        .bind(self.stamp(now()))
                        .bind(name)
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| self.sql(e))?;
                self.updated(name, done.rows_affected())?;
                self.commit(tx, crate::repo::Change::Tenant(name)).await
            }

            async fn set_enabled(&self, name: &str, enabled: bool) -> Result<(), DbError> {
                let mut tx = self.begin().await?;
                let done = sqlx::query("UPDATE tenants SET enabled = $1, updated_at = $2 WHERE name = $3")
                    .bind(enabled)
                    .bind(self.stamp(now()))
                    .bind(name)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| self.sql(e))?;
                self.updated(name, done.rows_affected())?;
                self.commit(tx, crate::repo::Change::Tenant(name)).await
            }

            async fn set_pool(&self, name: &str, pool: &str, outside: bool) -> Result<(), DbError> {
                let mut tx = self.begin().await?;
                let done = sqlx::query(
                    "UPDATE tenants SET pool = $1, failover_outside_pool = $2, updated_at = $3 WHERE name = $4",
                )
                .bind(pool)
                .bind(outside)
                .bind(self.stamp(now()))
                .bind(name)
                .execute(&mut *tx)
                .await
                .map_err(|e| self.sql(e))?;
                self.updated(name, done.rows_affected())?;
                self.commit(tx, crate::repo::Change::Tenant(name)).await
            }

            async fn set_policy(
                &self,
                name: &str,
                policy: &cloudgate_policy::TenantPolicy,
            ) -> Result<(), DbError> {
                let mut tx = self.begin().await?;
                let old: Option<String> = sqlx::query_scalar("SELECT policy FROM tenants WHERE name = $1")
                    .bind(name)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(|e| self.sql(e))?;
                let Some(old) = old else {
                    return Err(DbError::NoSuchTenant(name.to_string()));
                };
                // A new lease end starts its warnings over; another change keeps them.
                let lease_moved = self.policy_of(&old).map(|p| p.expires_at).ok() != Some(policy.expires_at);
                let sql = if lease_moved {
                    "UPDATE tenants SET policy = $1, lease_warned = NULL, updated_at = $2 WHERE name = $3"
                } else {
                    "UPDATE tenants SET policy = $1, updated_at = $2 WHERE name = $3"
                };
                sqlx::query(sql)
                    .bind(policy.to_stored())
                    .bind(self.stamp(now()))
                    .bind(name)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| self.sql(e))?;
                self.commit(tx, crate::repo::Change::Tenant(name)).await
            }

            async fn lease_warnings_due(
                &self,
                at: time::OffsetDateTime,
            ) -> Result<Vec<crate::LeaseWarning>, DbError> {
                let rows: Vec<(String, String, Option<i64>)> = sqlx::query_as(
                    "SELECT name, policy, lease_warned FROM tenants WHERE policy <> ''",
                )
                .fetch_all(&self.pool())
                .await
                .map_err(|e| self.sql(e))?;
                let mut due = Vec::new();
                for (name, policy, warned) in rows {
                    let Ok(policy) = self.policy_of(&policy) else { continue };
                    let (Some(days), Some(expires_at)) = (policy.lease_warning_due(at), policy.expires_at) else {
                        continue;
                    };
                    if warned.is_some_and(|w| w <= i64::from(days)) {
                        continue;
                    }
                    // Claimed in one statement: of the gateways of a fleet, one gives it.
                    let done = sqlx::query(
                        "UPDATE tenants SET lease_warned = $1 WHERE name = $2 AND (lease_warned IS NULL OR lease_warned > $1)",
                    )
                    .bind(i64::from(days))
                    .bind(&name)
                    .execute(&self.pool())
                    .await
                    .map_err(|e| self.sql(e))?;
                    if done.rows_affected() == 1 {
                        due.push(crate::LeaseWarning { tenant: name, days, expires_at });
                    }
                }
                Ok(due)
            }

            async fn remove_tenant(&self, name: &str) -> Result<(), DbError> {
                let mut tx = self.begin().await?;
                let done = sqlx::query("DELETE FROM tenants WHERE name = $1")
                    .bind(name)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| self.sql(e))?;
                self.updated(name, done.rows_affected())?;
                self.commit(tx, crate::repo::Change::Tenant(name)).await
            }
        }

        #[async_trait]
        impl ServiceRepository for $repo {
            async fn add_service(&self, tenant: &str, service: &str, target: &str) -> Result<(), DbError> {
                self.tenant(tenant).await?;
                let mut tx = self.begin().await?;
                let result = sqlx::query(
                    "INSERT INTO services (tenant, name, target, created_at) VALUES ($1, $2, $3, $4)",
                )
                .bind(tenant)
                .bind(service)
                .bind(target)
                .bind(self.stamp(now()))
                .execute(&mut *tx)
                .await;
                match result {
                    Ok(_) => self.commit(tx, crate::repo::Change::Tenant(tenant)).await,
                    Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                        Err(DbError::ServiceExists {
                            tenant: tenant.into(),
                            service: service.into(),
                        })
                    }
                    Err(e) => Err(self.sql(e)),
                }
            }

            async fn services(&self, tenant: &str) -> Result<Vec<ServiceRecord>, DbError> {
                self.tenant(tenant).await?;
                let rows = sqlx::query(
                    "SELECT tenant, name, target FROM services WHERE tenant = $1 ORDER BY name",
                )
                .bind(tenant)
                .fetch_all(&self.pool())
                .await
                .map_err(|e| self.sql(e))?;
                rows.iter()
                    .map(|r| {
                        Ok(ServiceRecord {
                            tenant: r.try_get("tenant").map_err(|e| self.sql(e))?,
                            name: r.try_get("name").map_err(|e| self.sql(e))?,
                            target: r.try_get("target").map_err(|e| self.sql(e))?,
                        })
                    })
                    .collect()
            }

            async fn remove_service(&self, tenant: &str, service: &str) -> Result<(), DbError> {
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
                self.commit(tx, crate::repo::Change::Tenant(tenant)).await
            }
        }
    };
}
pub(crate) use impl_tenants;
