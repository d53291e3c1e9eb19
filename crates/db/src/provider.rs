//! The tenant's state: the service providers it added and the pins it holds for them.

use std::path::Path;

use sqlx::Row as _;
use sqlx::sqlite::SqlitePool;

use crate::{DbError, connect, migrate, now};

const TENANT_MIGRATIONS: &[(i64, &str)] = &[
    (101, include_str!("../migrations/0101_tenant_state.sql")),
    (102, include_str!("../migrations/0102_tenant_successor.sql")),
];

/// A provider the tenant added, with its pinned certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PinnedProvider {
    /// The tenant's name for it (`ADDRESS:PORT` by default).
    pub name: String,
    /// Host name or address of the gateway.
    pub address: String,
    /// Gateway port.
    pub port: u16,
    /// Free text.
    pub description: String,
    /// `pinned` (or `ca` for a provider trusted through the system roots).
    pub trust: String,
    /// The pinned SP certificate, DER, as fetched.
    pub cert_der: Vec<u8>,
    /// Its thumbprint (SHA-1).
    pub thumbprint: String,
    /// Its SHA-256, uppercase hex.
    pub sha256: String,
    /// Its public key pin.
    pub spki_sha256: String,
    /// When the pin was first verified (RFC 3339).
    pub first_seen: String,
    /// When the provider was last reached with this pin (RFC 3339).
    pub last_seen: String,
    /// The tenant user name it enrolled with.
    pub username: String,
    /// This tenant's client certificate for the provider, DER.
    pub client_cert_der: Vec<u8>,
    /// The services the SP offered at the last contact.
    pub services: Vec<String>,
    /// A successor certificate (DER) announced with a verified rollover proof.
    pub successor_der: Option<Vec<u8>>,
}

/// The tenant database.
#[derive(Clone, Debug)]
pub struct TenantDb {
    pool: SqlitePool,
    path: String,
}

impl TenantDb {
    /// Opens (and migrates) the tenant database at `path`; create the file owner-only first.
    pub async fn open(path: &Path) -> Result<Self, DbError> {
        let pool = connect(path).await?;
        let display = path.display().to_string();
        migrate(&pool, &display, TENANT_MIGRATIONS).await?;
        Ok(TenantDb {
            pool,
            path: display,
        })
    }

    fn sql(&self, e: sqlx::Error) -> DbError {
        DbError::Sql {
            path: self.path.clone(),
            source: e,
        }
    }

    /// Saves a newly added provider; refuses a name in use.
    pub async fn add(&self, p: &PinnedProvider) -> Result<(), DbError> {
        let result = sqlx::query(
            "INSERT INTO providers (name, address, port, description, trust, cert_der, thumbprint, sha256, spki_sha256, \
             first_seen, last_seen, username, client_cert_der, services) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(&p.name)
        .bind(&p.address)
        .bind(i64::from(p.port))
        .bind(&p.description)
        .bind(&p.trust)
        .bind(&p.cert_der)
        .bind(&p.thumbprint)
        .bind(&p.sha256)
        .bind(&p.spki_sha256)
        .bind(&p.first_seen)
        .bind(&p.last_seen)
        .bind(&p.username)
        .bind(&p.client_cert_der)
        .bind(p.services.join("\n"))
        .execute(&self.pool)
        .await;
        match result {
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(DbError::ProviderExists(p.name.clone()))
            }
            Err(e) => Err(self.sql(e)),
        }
    }

    /// Every provider, by name.
    pub async fn list(&self) -> Result<Vec<PinnedProvider>, DbError> {
        let rows = sqlx::query("SELECT * FROM providers ORDER BY name")
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.sql(e))?;
        Ok(rows.iter().map(from_row).collect())
    }

    /// One provider.
    pub async fn get(&self, name: &str) -> Result<PinnedProvider, DbError> {
        let row = sqlx::query("SELECT * FROM providers WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.sql(e))?;
        row.as_ref()
            .map(from_row)
            .ok_or_else(|| DbError::NoSuchProvider(name.to_string()))
    }

    /// Records a successful contact: last seen now, and the services offered.
    pub async fn seen(&self, name: &str, services: &[String]) -> Result<(), DbError> {
        sqlx::query("UPDATE providers SET last_seen = $1, services = $2 WHERE name = $3")
            .bind(now())
            .bind(services.join("\n"))
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(|e| self.sql(e))?;
        Ok(())
    }

    /// Moves the pin to another certificate: one the user verified (`refresh`, first-seen starts
    /// again) or a renewal with the same key (`keep_first_seen`, the trust is continuous).
    pub async fn repin(
        &self,
        name: &str,
        cert_der: &[u8],
        thumbprint: &str,
        sha256: &str,
        spki: &str,
        keep_first_seen: bool,
    ) -> Result<(), DbError> {
        let t = now();
        let query = if keep_first_seen {
            "UPDATE providers SET cert_der = $1, thumbprint = $2, sha256 = $3, spki_sha256 = $4, last_seen = $5 WHERE name = $6"
        } else {
            "UPDATE providers SET cert_der = $1, thumbprint = $2, sha256 = $3, spki_sha256 = $4, first_seen = $5, last_seen = $5 WHERE name = $6"
        };
        let done = sqlx::query(query)
            .bind(cert_der)
            .bind(thumbprint)
            .bind(sha256)
            .bind(spki)
            .bind(&t)
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(|e| self.sql(e))?;
        if done.rows_affected() == 0 {
            return Err(DbError::NoSuchProvider(name.to_string()));
        }
        Ok(())
    }

    /// Records (or clears) the successor certificate a verified rollover proof announced.
    pub async fn set_successor(
        &self,
        name: &str,
        successor_der: Option<&[u8]>,
    ) -> Result<(), DbError> {
        sqlx::query("UPDATE providers SET successor_der = $1 WHERE name = $2")
            .bind(successor_der)
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(|e| self.sql(e))?;
        Ok(())
    }

    /// Forgets a provider.
    pub async fn remove(&self, name: &str) -> Result<(), DbError> {
        let done = sqlx::query("DELETE FROM providers WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(|e| self.sql(e))?;
        if done.rows_affected() == 0 {
            return Err(DbError::NoSuchProvider(name.to_string()));
        }
        Ok(())
    }
}

fn from_row(r: &sqlx::sqlite::SqliteRow) -> PinnedProvider {
    let services: String = r.get("services");
    PinnedProvider {
        name: r.get("name"),
        address: r.get("address"),
        port: u16::try_from(r.get::<i64, _>("port")).unwrap_or(0),
        description: r.get("description"),
        trust: r.get("trust"),
        cert_der: r.get("cert_der"),
        thumbprint: r.get("thumbprint"),
        sha256: r.get("sha256"),
        spki_sha256: r.get("spki_sha256"),
        first_seen: r.get("first_seen"),
        last_seen: r.get("last_seen"),
        username: r.get("username"),
        client_cert_der: r.get("client_cert_der"),
        services: services
            .split('\n')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        successor_der: r.get("successor_der"),
    }
}
