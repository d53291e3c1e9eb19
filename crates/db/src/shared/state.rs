//! The gateway's view of the SP database, written once for every SQL database: `impl_state!(Repository, Database)`
//! expands to the trait implementations for one of them. The repository provides `begin`,
//! `begin_read`, `commit`, `sql` (its error classifier), `stamp` and `time_of` (how it stores
//! times), and its `pool` and `path`.
//!
//! Every change the gateways reload for is logged with the tenant it touched, or as a change
//! of the published certificate (`state_changes`), so a gateway reads again only the tenants
//! changed since its version, and the certificate only when it changed.

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
                let tenant: Option<(bool, String, bool, String)> = sqlx::query_as(
                    "SELECT enabled, pool, failover_outside_pool, policy FROM tenants WHERE name = $1",
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
                    tenant: tenant.map(|(enabled, pool, outside, policy)| {
                        GatewayTenant::from_columns(enabled, pool, outside, &policy)
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
                    .fetch_one(&self.pool())
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
                // Rows are streamed into the slices, never all held at once: at 100,000
                // tenants the rows would take more memory than the state built from them.
                let mut slices: std::collections::HashMap<String, TenantSlice> =
                    std::collections::HashMap::new();
                {
                    let mut rows = sqlx::query_as::<_, (String, bool, String, bool, String)>(
                        "SELECT name, enabled, pool, failover_outside_pool, policy FROM tenants",
                    )
                    .fetch(&mut *tx);
                    while let Some((name, enabled, pool, outside, policy)) =
                        futures_util::TryStreamExt::try_next(&mut rows).await.map_err(sql)?
                    {
                        let slice = TenantSlice {
                            name: name.clone(),
                            tenant: Some(GatewayTenant::from_columns(enabled, pool, outside, &policy)),
                            services: Vec::new(),
                            client_certs: Vec::new(),
                        };
                        slices.insert(name, slice);
                    }
                }
                {
                    let mut rows = sqlx::query_as::<_, (String, String, String)>(
                        "SELECT tenant, name, target FROM services",
                    )
                    .fetch(&mut *tx);
                    while let Some((tenant, name, target)) = futures_util::TryStreamExt::try_next(&mut rows).await.map_err(sql)? {
                        if let Some(s) = slices.get_mut(&tenant) {
                            s.services.push((name, target));
                        }
                    }
                }
                {
                    let mut rows = sqlx::query_as::<_, (String, String)>(
                        "SELECT tenant, sha256 FROM client_certs",
                    )
                    .fetch(&mut *tx);
                    while let Some((tenant, sha256)) = futures_util::TryStreamExt::try_next(&mut rows).await.map_err(sql)? {
                        if let Some(s) = slices.get_mut(&tenant) {
                            s.client_certs.push(sha256);
                        }
                    }
                }
                let maintenance = self.maintenance_in(&mut *tx).await?;
                tx.rollback().await.map_err(sql)?;
                let mut state = GatewayState::from_tenants(version, slices.into_values());
                state.maintenance = maintenance.into();
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
                let changes: Vec<(i64, Option<String>, bool)> = sqlx::query_as(
                    "SELECT version, tenant, certificate FROM state_changes WHERE version > $1 AND version <= $2 ORDER BY version",
                )
                .bind(since)
                .bind(version)
                .fetch_all(&mut *tx)
                .await
                .map_err(sql)?;
                // Every version since must be logged, each for one tenant: else read it all.
                let complete = i64::try_from(changes.len()).ok() == Some(version - since)
                    && changes.first().is_none_or(|(v, _, _)| *v == since + 1);
                if !complete || changes.iter().any(|(_, t, c)| t.is_none() && !c) {
                    return Ok(None);
                }
                let certificate = changes.iter().any(|(_, _, c)| *c);
                let names: std::collections::BTreeSet<String> =
                    changes.into_iter().filter_map(|(_, t, _)| t).collect();
                let mut tenants = Vec::with_capacity(names.len());
                for name in &names {
                    tenants.push(self.tenant_slice(&mut tx, name).await?);
                }
                tx.rollback().await.map_err(sql)?;
                Ok(Some(StateDelta {
                    version,
                    tenants,
                    certificate,
                }))
            }
        }
    };
}
pub(crate) use impl_state;
