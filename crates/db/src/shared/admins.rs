//! Console administrators and API tokens, written once for every SQL database:
//! `impl_admins!(Repository, Database)` expands to the trait implementation for one of them.
//! Nothing here is a change the gateways reload for: single statements on the pool, no change
//! counter.

macro_rules! impl_admins {
    ($repo:ty, $db:ty) => {
        const ADMIN_COLUMNS: &str = "name, password_hash, created_at, updated_at";
        const API_TOKEN_COLUMNS: &str =
            "id, name, secret_sha256, created_by, created_at, expires_at, last_used_at, revoked_at";

        impl $repo {
            fn admin_from_row(&self, r: &<$db as sqlx::Database>::Row) -> Result<AdminRecord, DbError> {
                let get = |e| self.sql(e);
                Ok(AdminRecord {
                    name: r.try_get("name").map_err(get)?,
                    password_hash: r.try_get("password_hash").map_err(get)?,
                    created_at: self.time_of(r, "created_at")?,
                    updated_at: self.time_of(r, "updated_at")?,
                })
            }

            fn api_token_from_row(
                &self,
                r: &<$db as sqlx::Database>::Row,
            ) -> Result<ApiTokenRecord, DbError> {
                let get = |e| self.sql(e);
                Ok(ApiTokenRecord {
                    id: r.try_get("id").map_err(get)?,
                    name: r.try_get("name").map_err(get)?,
                    secret_sha256: r.try_get("secret_sha256").map_err(get)?,
                    created_by: r.try_get("created_by").map_err(get)?,
                    created_at: self.time_of(r, "created_at")?,
                    expires_at: self.time_of(r, "expires_at")?,
                    last_used_at: self.optional_time_of(r, "last_used_at")?,
                    revoked_at: self.optional_time_of(r, "revoked_at")?,
                })
            }

            /// Writes an administrator, every column; `false` when the name is taken.
            async fn insert_admin<'c, E>(&self, on: E, a: &AdminRecord) -> Result<bool, DbError>
            where
                E: sqlx::Executor<'c, Database = $db>,
            {
                let done = sqlx::query(
                    "INSERT INTO admins (name, password_hash, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING",
                )
                .bind(&a.name)
                .bind(&a.password_hash)
                .bind(self.stamp(a.created_at))
                .bind(self.stamp(a.updated_at))
                .execute(on)
                .await
                .map_err(|e| self.sql(e))?;
                Ok(done.rows_affected() == 1)
            }

            /// Writes an API token, every column.
            async fn insert_api_token<'c, E>(&self, on: E, t: &ApiTokenRecord) -> Result<(), DbError>
            where
                E: sqlx::Executor<'c, Database = $db>,
            {
                sqlx::query(
                    "INSERT INTO api_tokens (id, name, secret_sha256, created_by, created_at, \
                     expires_at, last_used_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(&t.id)
                .bind(&t.name)
                .bind(&t.secret_sha256)
                .bind(&t.created_by)
                .bind(self.stamp(t.created_at))
                .bind(self.stamp(t.expires_at))
                .bind(t.last_used_at.map(|at| self.stamp(at)))
                .bind(t.revoked_at.map(|at| self.stamp(at)))
                .execute(on)
                .await
                .map_err(|e| self.sql(e))?;
                Ok(())
            }
        }

        #[async_trait]
        impl AdminRepository for $repo {
            async fn add_admin(&self, a: &AdminRecord) -> Result<(), DbError> {
                if self.insert_admin(&self.pool(), a).await? {
                    Ok(())
                } else {
                    Err(DbError::AdminExists(a.name.clone()))
                }
            }

            async fn admins(&self) -> Result<Vec<AdminRecord>, DbError> {
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {ADMIN_COLUMNS} FROM admins ORDER BY name"
                )))
                .fetch_all(&self.pool())
                .await
                .map_err(|e| self.sql(e))?;
                rows.iter().map(|r| self.admin_from_row(r)).collect()
            }

            async fn admin(&self, name: &str) -> Result<AdminRecord, DbError> {
                let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {ADMIN_COLUMNS} FROM admins WHERE name = $1"
                )))
                .bind(name)
                .fetch_optional(&self.pool())
                .await
                .map_err(|e| self.sql(e))?;
                match row {
                    Some(r) => self.admin_from_row(&r),
                    None => Err(DbError::NoSuchAdmin(name.to_string())),
                }
            }

            async fn set_admin_password_hash(&self, name: &str, hash: &str) -> Result<(), DbError> {
                let done = sqlx::query(
                    "UPDATE admins SET password_hash = $1, updated_at = $2 WHERE name = $3",
                )
                .bind(hash)
                .bind(self.stamp(now()))
                .bind(name)
                .execute(&self.pool())
                .await
                .map_err(|e| self.sql(e))?;
                if done.rows_affected() == 0 {
                    return Err(DbError::NoSuchAdmin(name.to_string()));
                }
                Ok(())
            }

            async fn remove_admin(&self, name: &str) -> Result<(), DbError> {
                let done = sqlx::query("DELETE FROM admins WHERE name = $1")
                    .bind(name)
                    .execute(&self.pool())
                    .await
                    .map_err(|e| self.sql(e))?;
                if done.rows_affected() == 0 {
                    return Err(DbError::NoSuchAdmin(name.to_string()));
                }
                Ok(())
            }

            async fn add_api_token(&self, t: &ApiTokenRecord) -> Result<(), DbError> {
                self.insert_api_token(&self.pool(), t).await
            }

            async fn api_tokens(&self) -> Result<Vec<ApiTokenRecord>, DbError> {
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {API_TOKEN_COLUMNS} FROM api_tokens ORDER BY created_at DESC, id"
                )))
                .fetch_all(&self.pool())
                .await
                .map_err(|e| self.sql(e))?;
                rows.iter().map(|r| self.api_token_from_row(r)).collect()
            }

            async fn api_token(&self, id: &str) -> Result<Option<ApiTokenRecord>, DbError> {
                let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {API_TOKEN_COLUMNS} FROM api_tokens WHERE id = $1"
                )))
                .bind(id)
                .fetch_optional(&self.pool())
                .await
                .map_err(|e| self.sql(e))?;
                row.map(|r| self.api_token_from_row(&r)).transpose()
            }

            async fn revoke_api_token(&self, id: &str) -> Result<ApiTokenRecord, DbError> {
                let id = id.trim().to_ascii_lowercase();
                let matching: Vec<ApiTokenRecord> = self
                    .api_tokens()
                    .await?
                    .into_iter()
                    .filter(|t| id.len() >= 6 && t.id.starts_with(&id))
                    .collect();
                let token = match matching.as_slice() {
                    [one] => one.clone(),
                    [] => return Err(DbError::NoSuchApiToken(id)),
                    _ => return Err(DbError::AmbiguousToken(id)),
                };
                let revoked_at = token.revoked_at.unwrap_or_else(now);
                sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                    .bind(self.stamp(revoked_at))
                    .bind(&token.id)
                    .execute(&self.pool())
                    .await
                    .map_err(|e| self.sql(e))?;
                Ok(ApiTokenRecord {
                    revoked_at: Some(revoked_at),
                    ..token
                })
            }

            async fn touch_api_token(&self, id: &str, at: OffsetDateTime) -> Result<(), DbError> {
                sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
                    .bind(self.stamp(at))
                    .bind(id)
                    .execute(&self.pool())
                    .await
                    .map_err(|e| self.sql(e))?;
                Ok(())
            }
        }
    };
}
pub(crate) use impl_admins;
