//! Join tokens in the SP database: created by the SP, redeemed by the gateway in the same
//! transaction that enrolls the machine, so a token is never spent without an enrollment nor
//! used more often than it allows.

use sqlx::Row as _;

use crate::{DbError, SpDb, now};

/// A join token as the SP database keeps it (never the secret itself).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinTokenRecord {
    /// Public id, 32 lowercase hex digits.
    pub id: String,
    /// The tenant it enrolls machines for.
    pub tenant: String,
    /// SHA-256 of the secret, lowercase hex.
    pub secret_sha256: String,
    /// Free text.
    pub label: String,
    /// Who created it.
    pub created_by: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339; the token is refused from then on.
    pub expires_at: String,
    /// Enrollments it may still make.
    pub uses_left: i64,
    /// RFC 3339, when revoked.
    pub revoked_at: Option<String>,
}

/// Why a presented token was refused (the tenant exits 4 with the reason).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenRefusal {
    /// No such token, or the secret does not match (the two are not told apart).
    Unknown,
    /// Past its expiry.
    Expired,
    /// No uses left.
    UsedUp,
    /// Revoked by the SP.
    Revoked,
    /// Its tenant is disabled.
    TenantDisabled,
}

impl TokenRefusal {
    /// The explanation for the tenant.
    pub fn message(self) -> &'static str {
        match self {
            TokenRefusal::Unknown => "the service provider does not know this join token",
            TokenRefusal::Expired => {
                "this join token has expired; ask the service provider for a new one"
            }
            TokenRefusal::UsedUp => {
                "this join token has been used already; ask the service provider for a new one"
            }
            TokenRefusal::Revoked => "this join token was revoked by the service provider",
            TokenRefusal::TenantDisabled => {
                "the tenant account of this join token is disabled; contact the service provider"
            }
        }
    }
}

fn token_from_row(r: &sqlx::sqlite::SqliteRow) -> JoinTokenRecord {
    JoinTokenRecord {
        id: r.get("id"),
        tenant: r.get("tenant"),
        secret_sha256: r.get("secret_sha256"),
        label: r.get("label"),
        created_by: r.get("created_by"),
        created_at: r.get("created_at"),
        expires_at: r.get("expires_at"),
        uses_left: r.get("uses_left"),
        revoked_at: r.get("revoked_at"),
    }
}

/// Equal lengths compared without an early exit.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

impl SpDb {
    /// Stores a new token (its tenant must exist).
    pub async fn add_join_token(&self, t: &JoinTokenRecord) -> Result<(), DbError> {
        self.tenant(&t.tenant).await?;
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO join_tokens (id, tenant, secret_sha256, label, created_by, created_at, expires_at, uses_left) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&t.id)
        .bind(&t.tenant)
        .bind(&t.secret_sha256)
        .bind(&t.label)
        .bind(&t.created_by)
        .bind(&t.created_at)
        .bind(&t.expires_at)
        .bind(t.uses_left)
        .execute(&mut *tx)
        .await
        .map_err(|e| self.sql(e))?;
        self.commit(tx).await
    }

    /// Every token, or a tenant's, newest first.
    pub async fn join_tokens(&self, tenant: Option<&str>) -> Result<Vec<JoinTokenRecord>, DbError> {
        if let Some(t) = tenant {
            self.tenant(t).await?;
        }
        let rows = sqlx::query(
            "SELECT id, tenant, secret_sha256, label, created_by, created_at, expires_at, uses_left, revoked_at \
             FROM join_tokens WHERE $1 IS NULL OR tenant = $1 ORDER BY created_at DESC, id",
        )
        .bind(tenant)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.sql(e))?;
        Ok(rows.iter().map(token_from_row).collect())
    }

    /// Revokes a token by its id (or a unique prefix of at least 8 hex digits).
    pub async fn revoke_join_token(&self, id: &str) -> Result<JoinTokenRecord, DbError> {
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
        let mut tx = self.begin().await?;
        sqlx::query("UPDATE join_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now())
            .bind(&token.id)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.sql(e))?;
        self.commit(tx).await?;
        Ok(JoinTokenRecord {
            revoked_at: Some(token.revoked_at.unwrap_or_else(now)),
            ..token
        })
    }

    /// Redeems a token and enrolls the client certificate in one transaction. Returns the
    /// tenant, or why the token is refused (nothing changes then).
    pub async fn enroll_with_token(
        &self,
        id: &str,
        secret_sha256: &str,
        client_sha256: &str,
        cert_der: &[u8],
        label: Option<&str>,
    ) -> Result<Result<String, TokenRefusal>, DbError> {
        let mut tx = self.begin().await?;
        let row = sqlx::query(
            "SELECT id, tenant, secret_sha256, label, created_by, created_at, expires_at, uses_left, revoked_at \
             FROM join_tokens WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| self.sql(e))?;
        let Some(token) = row.as_ref().map(token_from_row) else {
            return Ok(Err(TokenRefusal::Unknown));
        };
        if !same(&token.secret_sha256, secret_sha256) {
            return Ok(Err(TokenRefusal::Unknown));
        }
        if token.revoked_at.is_some() {
            return Ok(Err(TokenRefusal::Revoked));
        }
        if token.expires_at.as_str() <= now().as_str() {
            return Ok(Err(TokenRefusal::Expired));
        }
        if token.uses_left <= 0 {
            return Ok(Err(TokenRefusal::UsedUp));
        }
        let enabled: bool = sqlx::query_scalar("SELECT enabled FROM tenants WHERE name = $1")
            .bind(&token.tenant)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| self.sql(e))?;
        if !enabled {
            return Ok(Err(TokenRefusal::TenantDisabled));
        }
        let owner: Option<String> =
            sqlx::query_scalar("SELECT tenant FROM client_certs WHERE sha256 = $1")
                .bind(client_sha256)
                .fetch_optional(&mut *tx)
                .await
                .map_err(|e| self.sql(e))?;
        match owner {
            Some(o) if o != token.tenant => return Err(DbError::ClientCertTaken),
            Some(_) => {}
            None => {
                sqlx::query("INSERT INTO client_certs (sha256, tenant, cert_der, enrolled_at, label) VALUES ($1, $2, $3, $4, $5)")
                    .bind(client_sha256)
                    .bind(&token.tenant)
                    .bind(cert_der)
                    .bind(now())
                    .bind(label)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| self.sql(e))?;
            }
        }
        sqlx::query("UPDATE join_tokens SET uses_left = uses_left - 1 WHERE id = $1")
            .bind(&token.id)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.sql(e))?;
        self.commit(tx).await?;
        Ok(Ok(token.tenant))
    }
}
