//! Join tokens, written once for every SQL database: `impl_join_tokens!(Repository, Database)`
//! expands to the trait implementations for one of them. The repository provides `begin`,
//! `begin_read`, `commit`, `sql` (its error classifier), `stamp` and `time_of` (how it stores
//! times), and its `pool` and `path`.

macro_rules! impl_join_tokens {
    ($repo:ty, $db:ty) => {
        const TOKEN_COLUMNS: &str =
            "id, tenant, secret_sha256, label, created_by, created_at, expires_at, uses_left, revoked_at";

        impl $repo {
            /// Writes a token, every column of it, inside a transaction.
            async fn insert_token(
                &self,
                tx: &mut <$db as sqlx::Database>::Connection,
                t: &JoinTokenRecord,
            ) -> Result<(), DbError> {
                sqlx::query(
                    "INSERT INTO join_tokens (id, tenant, secret_sha256, label, created_by, \
                     created_at, expires_at, uses_left, revoked_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(&t.id)
                .bind(&t.tenant)
                .bind(&t.secret_sha256)
                .bind(&t.label)
                .bind(&t.created_by)
                .bind(self.stamp(t.created_at))
                .bind(self.stamp(t.expires_at))
                .bind(t.uses_left)
                .bind(t.revoked_at.map(|r| self.stamp(r)))
                .execute(&mut *tx)
                .await
                .map_err(|e| self.sql(e))?;
                Ok(())
            }

            fn token_from_row(&self, r: &<$db as sqlx::Database>::Row) -> Result<JoinTokenRecord, DbError> {
                let get = |e| self.sql(e);
                Ok(JoinTokenRecord {
                    id: r.try_get("id").map_err(get)?,
                    tenant: r.try_get("tenant").map_err(get)?,
                    secret_sha256: r.try_get("secret_sha256").map_err(get)?,
                    label: r.try_get("label").map_err(get)?,
                    created_by: r.try_get("created_by").map_err(get)?,
                    created_at: self.time_of(r, "created_at")?,
                    expires_at: self.time_of(r, "expires_at")?,
                    uses_left: r.try_get("uses_left").map_err(get)?,
                    revoked_at: self.optional_time_of(r, "revoked_at")?,
                })
            }
        }

        #[async_trait]
        impl JoinTokenRepository for $repo {
            async fn add_join_token(&self, t: &JoinTokenRecord) -> Result<(), DbError> {
                self.tenant(&t.tenant).await?;
                let mut tx = self.begin().await?;
                self.insert_token(&mut tx, t).await?;
                self.commit(tx, crate::repo::Change::Tenant(&t.tenant)).await
            }

            async fn join_tokens(&self, tenant: Option<&str>) -> Result<Vec<JoinTokenRecord>, DbError> {
                if let Some(t) = tenant {
                    self.tenant(t).await?;
                }
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {TOKEN_COLUMNS} FROM join_tokens WHERE $1 IS NULL OR tenant = $1 ORDER BY created_at DESC, id"
                )))
                .bind(tenant)
                .fetch_all(&self.pool())
                .await
                .map_err(|e| self.sql(e))?;
                rows.iter().map(|r| self.token_from_row(r)).collect()
            }

            async fn revoke_join_token(&self, id: &str) -> Result<JoinTokenRecord, DbError> {
                let id = id.trim().to_ascii_lowercase();
                let matching: Vec<JoinTokenRecord> = self
                    .join_tokens(None)
                    .await?
                    .into_iter()
                    .filter(|t| id.len() >= 8 && t.id.starts_with(&id))
                    .collect();
                let token = match matching.as_slice() {
                    [one] => one.clone(),
                    [] => return Err(DbError::NoSuchToken(id)),
                    _ => return Err(DbError::AmbiguousToken(id)),
                };
                let revoked_at = token.revoked_at.unwrap_or_else(now);
                let mut tx = self.begin().await?;
                sqlx::query("UPDATE join_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                    .bind(self.stamp(revoked_at))
                    .bind(&token.id)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| self.sql(e))?;
                self.commit(tx, crate::repo::Change::Tenant(&token.tenant)).await?;
                Ok(JoinTokenRecord {
                    revoked_at: Some(revoked_at),
                    ..token
                })
            }

            async fn enroll_with_token(
                &self,
                id: &str,
                secret_sha256: &str,
                client_sha256: &str,
                cert_der: &[u8],
                label: Option<&str>,
                source: std::net::IpAddr,
            ) -> Result<Result<String, TokenRefusal>, DbError> {
                let mut tx = self.begin().await?;
                let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {TOKEN_COLUMNS} FROM join_tokens WHERE id = $1"
                )))
                .bind(id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(|e| self.sql(e))?;
                let Some(token) = row.map(|r| self.token_from_row(&r)).transpose()? else {
                    return Ok(Err(TokenRefusal::Unknown));
                };
                if let Some(refusal) = token_refusal(&token, secret_sha256, now()) {
                    return Ok(Err(refusal));
                }
                let (enabled, policy): (bool, String) =
                    sqlx::query_as("SELECT enabled, policy FROM tenants WHERE name = $1")
                        .bind(&token.tenant)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(|e| self.sql(e))?;
                if !enabled {
                    return Ok(Err(TokenRefusal::TenantDisabled));
                }
                // Checked in the redeeming transaction: a refused token keeps its use.
                let policy = self.policy_of(&policy)?;
                if policy.lease_ended(now()) {
                    return Ok(Err(TokenRefusal::LeaseExpired));
                }
                if !policy.allows(source) {
                    return Ok(Err(TokenRefusal::AddressNotAllowed));
                }
                self.bind_in(&mut tx, &token.tenant, client_sha256, cert_der, label)
                    .await?;
                sqlx::query("UPDATE join_tokens SET uses_left = uses_left - 1 WHERE id = $1")
                    .bind(&token.id)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| self.sql(e))?;
                self.commit(tx, crate::repo::Change::Tenant(&token.tenant)).await?;
                Ok(Ok(token.tenant))
            }
        }
    };
}
pub(crate) use impl_join_tokens;
