//! The gateway fleet and its shared enrollment throttle, written once for every SQL database:
//! `impl_fleet!(Repository, Database)` expands to the trait implementation for one of them.
//! None of it is a change the gateways reload for, so it writes without the writers' lock and
//! without bumping the change counter.

macro_rules! impl_fleet {
    ($repo:ty, $db:ty) => {
        const GATEWAY_COLUMNS: &str = "id, public_address, pool, version, cert_sha256, \
            open_tunnels, relayed_bytes, started_at, heartbeat_at, stopped_at";

        impl $repo {
            fn gateway_from_row(
                &self,
                r: &<$db as sqlx::Database>::Row,
            ) -> Result<GatewayRecord, DbError> {
                let get = |e| self.sql(e);
                Ok(GatewayRecord {
                    id: r.try_get("id").map_err(get)?,
                    public_address: r.try_get("public_address").map_err(get)?,
                    pool: r.try_get("pool").map_err(get)?,
                    version: r.try_get("version").map_err(get)?,
                    cert_sha256: r.try_get("cert_sha256").map_err(get)?,
                    open_tunnels: r.try_get("open_tunnels").map_err(get)?,
                    relayed_bytes: r.try_get("relayed_bytes").map_err(get)?,
                    started_at: self.time_of(r, "started_at")?,
                    heartbeat_at: self.time_of(r, "heartbeat_at")?,
                    stopped_at: self.optional_time_of(r, "stopped_at")?,
                })
            }
        }

        #[async_trait]
        impl FleetRepository for $repo {
            async fn heartbeat(&self, g: &GatewayRecord) -> Result<(), DbError> {
                sqlx::query(
                    "INSERT INTO gateways (id, public_address, pool, version, cert_sha256, \
                     open_tunnels, relayed_bytes, started_at, heartbeat_at, stopped_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL) \
                     ON CONFLICT (id) DO UPDATE SET public_address = excluded.public_address, \
                     pool = excluded.pool, version = excluded.version, \
                     cert_sha256 = excluded.cert_sha256, open_tunnels = excluded.open_tunnels, \
                     relayed_bytes = excluded.relayed_bytes, \
                     started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at, \
                     stopped_at = NULL",
                )
                .bind(&g.id)
                .bind(&g.public_address)
                .bind(&g.pool)
                .bind(&g.version)
                .bind(&g.cert_sha256)
                .bind(g.open_tunnels)
                .bind(g.relayed_bytes)
                .bind(self.stamp(g.started_at))
                .bind(self.stamp(g.heartbeat_at))
                .execute(&self.pool())
                .await
                .map_err(|e| self.sql(e))?;
                Ok(())
            }

            async fn gateway_stopped(&self, id: &str) -> Result<(), DbError> {
                sqlx::query("UPDATE gateways SET stopped_at = $1 WHERE id = $2")
                    .bind(self.stamp(now()))
                    .bind(id)
                    .execute(&self.pool())
                    .await
                    .map_err(|e| self.sql(e))?;
                Ok(())
            }

            async fn gateways(&self) -> Result<Vec<GatewayRecord>, DbError> {
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {GATEWAY_COLUMNS} FROM gateways ORDER BY id"
                )))
                .fetch_all(&self.pool())
                .await
                .map_err(|e| self.sql(e))?;
                rows.iter().map(|r| self.gateway_from_row(r)).collect()
            }

            async fn remove_gateway(&self, id: &str) -> Result<bool, DbError> {
                let done = sqlx::query("DELETE FROM gateways WHERE id = $1")
                    .bind(id)
                    .execute(&self.pool())
                    .await
                    .map_err(|e| self.sql(e))?;
                Ok(done.rows_affected() > 0)
            }

            async fn record_enroll_failure(
                &self,
                source: &str,
                window_start: OffsetDateTime,
            ) -> Result<i64, DbError> {
                // One statement, so two gateways counting the same source at once both count.
                sqlx::query_scalar(
                    "INSERT INTO enroll_failures (source, failures, window_start) VALUES ($1, 1, $2) \
                     ON CONFLICT (source) DO UPDATE SET \
                     failures = CASE WHEN enroll_failures.window_start < $3 THEN 1 \
                                ELSE enroll_failures.failures + 1 END, \
                     window_start = CASE WHEN enroll_failures.window_start < $3 THEN $2 \
                                    ELSE enroll_failures.window_start END \
                     RETURNING failures",
                )
                .bind(source)
                .bind(self.stamp(now()))
                .bind(self.stamp(window_start))
                .fetch_one(&self.pool())
                .await
                .map_err(|e| self.sql(e))
            }

            async fn enroll_failures(
                &self,
                source: &str,
                window_start: OffsetDateTime,
            ) -> Result<i64, DbError> {
                let n: Option<i64> = sqlx::query_scalar(
                    "SELECT failures FROM enroll_failures WHERE source = $1 AND window_start >= $2",
                )
                .bind(source)
                .bind(self.stamp(window_start))
                .fetch_optional(&self.pool())
                .await
                .map_err(|e| self.sql(e))?;
                Ok(n.unwrap_or(0))
            }

            async fn clear_enroll_failures(&self, source: &str) -> Result<(), DbError> {
                sqlx::query("DELETE FROM enroll_failures WHERE source = $1")
                    .bind(source)
                    .execute(&self.pool())
                    .await
                    .map_err(|e| self.sql(e))?;
                Ok(())
            }

            async fn prune_enroll_failures(&self, window_start: OffsetDateTime) -> Result<(), DbError> {
                sqlx::query("DELETE FROM enroll_failures WHERE window_start < $1")
                    .bind(self.stamp(window_start))
                    .execute(&self.pool())
                    .await
                    .map_err(|e| self.sql(e))?;
                Ok(())
            }
        }
    };
}
pub(crate) use impl_fleet;
