//! Maintenance declared for the gateways, written once for every SQL database:
//! `impl_maintenance!(Repository, Database)`. A change is one every gateway reads everything
//! again for (it is rare, and it decides for every tenant at once).

macro_rules! impl_maintenance {
    ($repo:ty, $db:ty) => {
        impl $repo {
            /// Every maintenance row, inside a transaction or on the pool.
            async fn maintenance_in<'e, E>(&self, exec: E) -> Result<Vec<cloudgate_policy::Maintenance>, DbError>
            where
                E: sqlx::Executor<'e, Database = $db>,
            {
                let rows: Vec<(String, String, i64, Option<i64>, Option<i64>)> = sqlx::query_as(
                    "SELECT scope, message, started_at, drain_until, ends_at FROM maintenance ORDER BY scope",
                )
                .fetch_all(exec)
                .await
                .map_err(|e| self.sql(e))?;
                let at = |s: i64| time::OffsetDateTime::from_unix_timestamp(s).ok();
                Ok(rows
                    .into_iter()
                    .filter_map(|(scope, message, started, drain, ends)| {
                        Some(cloudgate_policy::Maintenance {
                            scope: cloudgate_policy::MaintenanceScope::from_key(&scope)?,
                            message,
                            started_at: at(started)?,
                            drain_until: drain.and_then(at),
                            ends_at: ends.and_then(at),
                        })
                    })
                    .collect())
            }
        }

        #[async_trait]
        impl $crate::MaintenanceRepository for $repo {
            async fn maintenance(&self) -> Result<Vec<cloudgate_policy::Maintenance>, DbError> {
                self.maintenance_in(&self.pool()).await
            }

            async fn start_maintenance(&self, m: &cloudgate_policy::Maintenance) -> Result<(), DbError> {
                let mut tx = self.begin().await?;
                sqlx::query(
                    "INSERT INTO maintenance (scope, message, started_at, drain_until, ends_at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (scope) DO UPDATE SET \
                     message = excluded.message, started_at = excluded.started_at, \
                     drain_until = excluded.drain_until, ends_at = excluded.ends_at",
                )
                .bind(m.scope.key())
                .bind(&m.message)
                .bind(m.started_at.unix_timestamp())
                .bind(m.drain_until.map(|t| t.unix_timestamp()))
                .bind(m.ends_at.map(|t| t.unix_timestamp()))
                .execute(&mut *tx)
                .await
                .map_err(|e| self.sql(e))?;
                self.commit(tx, crate::repo::Change::Everything).await
            }

            async fn end_maintenance(
                &self,
                scope: &cloudgate_policy::MaintenanceScope,
            ) -> Result<bool, DbError> {
                let mut tx = self.begin().await?;
                let done = sqlx::query("DELETE FROM maintenance WHERE scope = $1")
                    .bind(scope.key())
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| self.sql(e))?;
                if done.rows_affected() == 0 {
                    return Ok(false);
                }
                self.commit(tx, crate::repo::Change::Everything).await?;
                Ok(true)
            }
        }
    };
}
pub(crate) use impl_maintenance;
