//! The gateway's view of the SP database, written once for every SQL database: `impl_state!(Repository, Database)`
//! expands to the trait implementations for one of them. The repository provides `begin`,
//! `begin_read`, `commit`, `sql` (its error classifier), `stamp` and `time_of` (how it stores
//! times), and its `pool` and `path`.

macro_rules! impl_state {
    ($repo:ty, $db:ty) => {
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
                let tenants = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {TENANT_COLUMNS} FROM tenants"
                )))
                .fetch_all(&mut *tx)
                .await
                .map_err(sql)?;
                let services = sqlx::query("SELECT tenant, name, target FROM services")
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(sql)?;
                let certs = sqlx::query("SELECT sha256, tenant FROM client_certs")
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(sql)?;
                tx.rollback().await.map_err(sql)?;
                let mut state = GatewayState {
                    version,
                    ..GatewayState::default()
                };
                for r in &tenants {
                    let t = self.tenant_from_row(r)?;
                    state.tenants.insert(t.name.clone(), t);
                }
                for r in &services {
                    state.services.insert(
                        (
                            r.try_get("tenant").map_err(sql)?,
                            r.try_get("name").map_err(sql)?,
                        ),
                        r.try_get("target").map_err(sql)?,
                    );
                }
                for r in &certs {
                    state.client_certs.insert(
                        r.try_get("sha256").map_err(sql)?,
                        r.try_get("tenant").map_err(sql)?,
                    );
                }
                Ok(state)
            }
        }
    };
}
pub(crate) use impl_state;
