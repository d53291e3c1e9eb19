//! The audit, written once for every SQL database: `impl_audit!(Repository, Database)` expands
//! to the trait implementation for one of them.

macro_rules! impl_audit {
    ($repo:ty, $db:ty) => {
        const AUDIT_COLUMNS: &str = "seq, time, event, actor, message, details, hash";

        /// The filter of an [`AuditQuery`](crate::audit::AuditQuery) as SQL, its values to
        /// bind in order (each placeholder is bound once: SQLite and PostgreSQL number them
        /// alike only that way).
        fn audit_filter(query: &$crate::audit::AuditQuery) -> (String, Vec<String>) {
            let mut clauses = Vec::new();
            let mut binds: Vec<String> = Vec::new();
            let mut placeholder = |value: &str| {
                binds.push(value.to_string());
                format!("${}", binds.len())
            };
            if let Some(since) = &query.since {
                clauses.push(format!("time >= {}", placeholder(since)));
            }
            if let Some(until) = &query.until {
                clauses.push(format!("time < {}", placeholder(until)));
            }
            if let Some(event) = query.event.as_deref().filter(|e| !e.is_empty()) {
                let (a, b) = (placeholder(event), placeholder(event));
                clauses.push(format!("substr(event, 1, length({a})) = {b}"));
            }
            if let Some(text) = query.text.as_deref().filter(|t| !t.is_empty()) {
                let pattern = format!(
                    "%{}%",
                    text.to_lowercase()
                        .replace('\\', "\\\\")
                        .replace('%', "\\%")
                        .replace('_', "\\_")
                );
                let any: Vec<String> = ["event", "actor", "message", "details"]
                    .iter()
                    .map(|column| format!("lower({column}) LIKE {} ESCAPE '\\'", placeholder(&pattern)))
                    .collect();
                clauses.push(format!("({})", any.join(" OR ")));
            }
            let sql = if clauses.is_empty() {
                String::new()
            } else {
                format!(" WHERE {}", clauses.join(" AND "))
            };
            (sql, binds)
        }

        impl $repo {
            fn audit_from_row(
                &self,
                r: &<$db as sqlx::Database>::Row,
            ) -> Result<$crate::audit::AuditRecord, DbError> {
                let get = |e| self.sql(e);
                Ok($crate::audit::AuditRecord {
                    seq: r.try_get("seq").map_err(get)?,
                    entry: $crate::audit::NewAuditRecord {
                        time: r.try_get("time").map_err(get)?,
                        event: r.try_get("event").map_err(get)?,
                        actor: r.try_get("actor").map_err(get)?,
                        message: r.try_get("message").map_err(get)?,
                        details: r.try_get("details").map_err(get)?,
                    },
                    hash: r.try_get("hash").map_err(get)?,
                })
            }
        }

        #[async_trait]
        impl $crate::repo::AuditRepository for $repo {
            async fn append_audit(
                &self,
                entries: &[$crate::audit::NewAuditRecord],
            ) -> Result<Vec<$crate::audit::AuditRecord>, DbError> {
                if entries.is_empty() {
                    return Ok(Vec::new());
                }
                let mut tx = self.begin().await?;
                let last = sqlx::query("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(|e| self.sql(e))?;
                let (mut seq, mut previous): (i64, String) = match last {
                    Some(r) => (
                        r.try_get("seq").map_err(|e| self.sql(e))?,
                        r.try_get("hash").map_err(|e| self.sql(e))?,
                    ),
                    None => (0, $crate::audit::GENESIS.to_string()),
                };
                let mut stored = Vec::with_capacity(entries.len());
                for e in entries {
                    seq += 1;
                    let hash = $crate::audit::link(&previous, seq, e);
                    sqlx::query(
                        "INSERT INTO audit (seq, time, event, actor, message, details, hash) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    )
                    .bind(seq)
                    .bind(&e.time)
                    .bind(&e.event)
                    .bind(&e.actor)
                    .bind(&e.message)
                    .bind(&e.details)
                    .bind(&hash)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| self.sql(e))?;
                    previous.clone_from(&hash);
                    stored.push($crate::audit::AuditRecord {
                        seq,
                        entry: e.clone(),
                        hash,
                    });
                }
                tx.commit().await.map_err(|e| self.sql(e))?;
                Ok(stored)
            }

            async fn audit_after(
                &self,
                after_seq: i64,
                limit: i64,
            ) -> Result<Vec<$crate::audit::AuditRecord>, DbError> {
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {AUDIT_COLUMNS} FROM audit WHERE seq > $1 ORDER BY seq LIMIT $2"
                )))
                .bind(after_seq)
                .bind(limit)
                .fetch_all(&self.pool())
                .await
                .map_err(|e| self.sql(e))?;
                rows.iter().map(|r| self.audit_from_row(r)).collect()
            }

            async fn audit_search(
                &self,
                query: &$crate::audit::AuditQuery,
            ) -> Result<(Vec<$crate::audit::AuditRecord>, i64), DbError> {
                let (filter, binds) = audit_filter(query);
                let n = binds.len();
                let sql = format!(
                    "SELECT {AUDIT_COLUMNS} FROM audit{filter} ORDER BY seq DESC LIMIT ${} OFFSET ${}",
                    n + 1,
                    n + 2
                );
                // Only placeholders are formatted in: every value is bound.
                let mut select = sqlx::query(sqlx::AssertSqlSafe(sql));
                for b in &binds {
                    select = select.bind(b);
                }
                let rows = select
                    .bind(query.limit)
                    .bind(query.offset)
                    .fetch_all(&self.pool())
                    .await
                    .map_err(|e| self.sql(e))?;
                let count_sql = format!("SELECT COUNT(*) FROM audit{filter}");
                let mut count = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(count_sql));
                for b in &binds {
                    count = count.bind(b);
                }
                let total = count.fetch_one(&self.pool()).await.map_err(|e| self.sql(e))?;
                let records = rows
                    .iter()
                    .map(|r| self.audit_from_row(r))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((records, total))
            }
        }
    };
}
pub(crate) use impl_audit;
