//! Usage accounting, written once for every SQL database: `impl_usage!(Repository, Database)`
//! expands to the trait implementation for one of them. Bookkeeping: no writers' lock beyond the
//! transaction, no change counter.

macro_rules! impl_usage {
    ($repo:ty, $db:ty) => {
        #[async_trait]
        impl $crate::UsageRepository for $repo {
            async fn record_usage(
                &self,
                gateway_id: &str,
                at: OffsetDateTime,
                counted: &[$crate::UsageCount],
                open: &[$crate::OpenTunnelCount],
            ) -> Result<(), DbError> {
                let sql = |e| self.sql(e);
                let mut tx = self.begin().await?;
                for c in counted {
                    sqlx::query(
                        "INSERT INTO tenant_usage (tenant, machine, gateway_id, hour, bytes_up, \
                         bytes_down, tunnels, tunnel_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                         ON CONFLICT (tenant, machine, gateway_id, hour) DO UPDATE SET \
                         bytes_up = tenant_usage.bytes_up + excluded.bytes_up, \
                         bytes_down = tenant_usage.bytes_down + excluded.bytes_down, \
                         tunnels = tenant_usage.tunnels + excluded.tunnels, \
                         tunnel_ms = tenant_usage.tunnel_ms + excluded.tunnel_ms",
                    )
                    .bind(&c.tenant)
                    .bind(&c.machine)
                    .bind(gateway_id)
                    .bind(self.stamp($crate::usage::hour_of(c.hour)))
                    .bind(c.bytes_up)
                    .bind(c.bytes_down)
                    .bind(c.tunnels)
                    .bind(c.tunnel_ms)
                    .execute(&mut *tx)
                    .await
                    .map_err(sql)?;
                }
                sqlx::query("DELETE FROM open_tunnels WHERE gateway_id = $1")
                    .bind(gateway_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(sql)?;
                for o in open.iter().filter(|o| o.open > 0) {
                    sqlx::query(
                        "INSERT INTO open_tunnels (gateway_id, tenant, machine, tunnels_open, \
                         updated_at) VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(gateway_id)
                    .bind(&o.tenant)
                    .bind(&o.machine)
                    .bind(o.open)
                    .bind(self.stamp(at))
                    .execute(&mut *tx)
                    .await
                    .map_err(sql)?;
                }
                tx.commit().await.map_err(sql)
            }

            async fn usage(
                &self,
                query: &$crate::UsageQuery,
            ) -> Result<Vec<$crate::UsageCount>, DbError> {
                let tenant = if query.tenant.is_some() { "AND tenant = $3 " } else { "" };
                let text = format!(
                    "SELECT tenant, machine, hour, CAST(SUM(bytes_up) AS BIGINT) AS bytes_up, \
                     CAST(SUM(bytes_down) AS BIGINT) AS bytes_down, \
                     CAST(SUM(tunnels) AS BIGINT) AS tunnels, \
                     CAST(SUM(tunnel_ms) AS BIGINT) AS tunnel_ms \
                     FROM tenant_usage WHERE hour >= $1 AND hour < $2 {tenant}\
                     GROUP BY tenant, machine, hour ORDER BY hour, tenant, machine"
                );
                let since = query.since.unwrap_or(OffsetDateTime::UNIX_EPOCH);
                let until = query
                    .until
                    .unwrap_or_else(|| now() + time::Duration::days(366 * 100));
                let mut q = sqlx::query(sqlx::AssertSqlSafe(text))
                    .bind(self.stamp($crate::usage::hour_of(since)))
                    .bind(self.stamp(until));
                if let Some(t) = &query.tenant {
                    q = q.bind(t.clone());
                }
                let rows = q.fetch_all(&self.pool()).await.map_err(|e| self.sql(e))?;
                let get = |e| self.sql(e);
                rows.iter()
                    .map(|r| {
                        Ok($crate::UsageCount {
                            tenant: r.try_get("tenant").map_err(get)?,
                            machine: r.try_get("machine").map_err(get)?,
                            hour: self.time_of(r, "hour")?,
                            bytes_up: r.try_get("bytes_up").map_err(get)?,
                            bytes_down: r.try_get("bytes_down").map_err(get)?,
                            tunnels: r.try_get("tunnels").map_err(get)?,
                            tunnel_ms: r.try_get("tunnel_ms").map_err(get)?,
                        })
                    })
                    .collect()
            }

            async fn open_tunnel_counts(
                &self,
                fresh_since: OffsetDateTime,
                except_gateway: Option<&str>,
            ) -> Result<Vec<$crate::OpenTunnelCount>, DbError> {
                let rows = sqlx::query(
                    "SELECT tenant, machine, CAST(SUM(tunnels_open) AS BIGINT) AS tunnels_open \
                     FROM open_tunnels WHERE updated_at >= $1 AND gateway_id <> $2 \
                     GROUP BY tenant, machine ORDER BY tenant, machine",
                )
                .bind(self.stamp(fresh_since))
                .bind(except_gateway.unwrap_or(""))
                .fetch_all(&self.pool())
                .await
                .map_err(|e| self.sql(e))?;
                let get = |e| self.sql(e);
                rows.iter()
                    .map(|r| {
                        Ok($crate::OpenTunnelCount {
                            tenant: r.try_get("tenant").map_err(get)?,
                            machine: r.try_get("machine").map_err(get)?,
                            open: r.try_get("tunnels_open").map_err(get)?,
                        })
                    })
                    .collect()
            }
        }
    };
}
pub(crate) use impl_usage;
