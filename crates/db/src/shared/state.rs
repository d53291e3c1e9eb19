//! The gateway's view of the SP database, written once for every SQL database: `impl_state!(Repository, Database)`
//! expands to the trait implementations for one of them. The repository provides `begin`,
//! `begin_read`, `commit`, `sql` (its error classifier), `stamp` and `time_of` (how it stores
//! times), and its `pool` and `path`.
//!
//! Every change the gateways reload for is logged with the tenant it touched
//! (`state_changes`), so a gateway reads again only the tenants changed since its version.

macro_rules! impl_state {
    ($repo:ty, $db:ty) => {
        impl $repo {
            /// One tenant's part of the gateway state, inside a read transaction.
            async fn tenant_slice(
                &self,
                tx: &mut <$db as sqlx::Database>::Connection,
                name: &str,
            ) -> Result<TenantSlice, DbError> {
                let sql = |e| self.sql(e);
                let tenant: Option<(bool, String, bool)> = sqlx::query_as(
                    "SELECT enabled, pool, failover_outside_pool FROM tenants WHERE name = $1",
                )
                .bind(name)
                .fetch_optional(&mut *tx)
                .await
                .map_err(sql)?;
                let services: Vec<(String, String)> =
                    sqlx::query_as("SELECT name, target FROM services WHERE tenant = $1")
                        .bind(name)
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(sql)?;
                let client_certs: Vec<String> =
                    sqlx::query_scalar("SELECT sha256 FROM client_certs WHERE tenant = $1")
                        .bind(name)
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(sql)?;
                Ok(TenantSlice {
                    name: name.to_string(),
                    tenant: tenant.map(|(enabled, pool, failover_outside_pool)| GatewayTenant {
                        enabled,
                        pool,
                        failover_outside_pool,
                    }),
                    services,
                    client_certs,
                })
            }
        }

        #[async_trait]
        impl StateRepository for $repo {
            async fn version(&self) -> Result<i64, DbError> {
                sqlx::query_scalar("SELECT version FROM state_version WHERE id = 1")
                    .fetch_one(&self.pool)
                    .await
                    .map_err(|e| self.sql(e))
            }

            async fn gateway_state(&self) -> Result<GatewayState, DbError> {
                let sql = |e| self.sql(e);
                let mut tx = self.begin_read().await?;
                let version: i64 =
                    sqlx::query_scalar("SELECT version FROM state_version WHERE id = 1")
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(sql)?;
                let tenants: Vec<(String, bool, String, bool)> = sqlx::query_as(
                    "SELECT name, enabled, pool, failover_outside_pool FROM tenants",
                )
                .fetch_all(&mut *tx)
                .await
                .map_err(sql)?;
                let services: Vec<(String, String, String)> =
                    sqlx::query_as("SELECT tenant, name, target FROM services")
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(sql)?;
                let certs: Vec<(String, String)> =
                    sqlx::query_as("SELECT tenant, sha256 FROM client_certs")
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(sql)?;
                tx.rollback().await.map_err(sql)?;
                let mut slices: std::collections::HashMap<String, TenantSlice> = tenants
                    .into_iter()
                    .map(|(name, enabled, pool, failover_outside_pool)| {
                        let slice = TenantSlice {
                            name: name.clone(),
                            tenant: Some(GatewayTenant {
                                enabled,
                                pool,
                                failover_outside_pool,
                            }),
                            services: Vec::new(),
                            client_certs: Vec::new(),
                        };
                        (name, slice)
                    })
                    .collect();
                for (tenant, name, target) in services {
                    if let Some(s) = slices.get_mut(&tenant) {
                        s.services.push((name, target));
                    }
                }
                for (tenant, sha256) in certs {
                    if let Some(s) = slices.get_mut(&tenant) {
                        s.client_certs.push(sha256);
                    }
                }
                let mut state = GatewayState::default();
                for (_, slice) in slices {
                    state.set_tenant(slice);
                }
                state.version = version;
                Ok(state)
            }

            async fn state_delta(&self, since: i64) -> Result<Option<StateDelta>, DbError> {
                let sql = |e| self.sql(e);
                let mut tx = self.begin_read().await?;
                let version: i64 =
                    sqlx::query_scalar("SELECT version FROM state_version WHERE id = 1")
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(sql)?;
                if version < since {
                    return Ok(None);
                }
                let changes: Vec<(i64, Option<String>)> = sqlx::query_as(
                    "SELECT version, tenant FROM state_changes WHERE version > $1 AND version <= $2 ORDER BY version",
                )
                .bind(since)
                .bind(version)
                .fetch_all(&mut *tx)
                .await
                .map_err(sql)?;
                // Every version since must be logged, each for one tenant: else read it all.
                let complete = i64::try_from(changes.len()).ok() == Some(version - since)
                    && changes.first().is_none_or(|(v, _)| *v == since + 1);
                if !complete || changes.iter().any(|(_, t)| t.is_none()) {
                    return Ok(None);
                }
                let names: std::collections::BTreeSet<String> =
                    changes.into_iter().filter_map(|(_, t)| t).collect();
                let mut tenants = Vec::with_capacity(names.len());
                for name in &names {
                    tenants.push(self.tenant_slice(&mut tx, name).await?);
                }
                tx.rollback().await.map_err(sql)?;
                Ok(Some(StateDelta { version, tenants }))
            }
        }
    };
}
pub(crate) use impl_state;
