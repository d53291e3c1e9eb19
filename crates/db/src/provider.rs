//! The tenant's state: the service providers it added and the pins it holds for them.

use std::path::Path;

use cloudgate_pki::rollover::ChainLink;
use sqlx::Row as _;
use sqlx::sqlite::SqlitePool;

use crate::{DbError, connect, migrate, now};

const TENANT_MIGRATIONS: &[(i64, &str)] = &[
    (101, include_str!("../migrations/0101_tenant_state.sql")),
    (102, include_str!("../migrations/0102_tenant_successor.sql")),
    (
        103,
        include_str!("../migrations/0103_tenant_trust_state.sql"),
    ),
];

/// How a tenant trusts a provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrustMode {
    /// The pinned key (and the keys it handed over to with a proof); the default.
    Pinned,
    /// The system's root certificates and the host name, like a browser (`--trust ca`).
    Ca,
}

impl TrustMode {
    /// The stored and displayed form.
    pub fn as_str(self) -> &'static str {
        match self {
            TrustMode::Pinned => "pinned",
            TrustMode::Ca => "ca",
        }
    }

    fn from_stored(s: &str) -> Self {
        if s == "ca" {
            TrustMode::Ca
        } else {
            TrustMode::Pinned
        }
    }
}

/// A move of the pin to another certificate.
#[derive(Clone, Copy, Debug)]
pub struct PinUpdate<'a> {
    /// The certificate, DER.
    pub cert_der: &'a [u8],
    /// Its thumbprint.
    pub thumbprint: &'a str,
    /// Its SHA-256, uppercase hex.
    pub sha256: &'a str,
    /// Its public key pin.
    pub spki_sha256: &'a str,
    /// Whether the trust is continuous (a renewal or a proven rollover keeps first-seen); a
    /// manual verification starts it again.
    pub keep_first_seen: bool,
}

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
    /// How the provider is trusted.
    pub trust: TrustMode,
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
    /// Chain links learned from the provider, each verified from the pinned key when learned.
    pub learned_chain: Vec<ChainLink>,
    /// The provider marked the pinned key compromised: nothing is accepted until the user
    /// verifies a certificate by hand.
    pub compromised: bool,
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
        crate::classify(&self.path, e)
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
        .bind(p.trust.as_str())
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

    /// Saves the trust state of a provider in one statement: optionally a new pin, the learned
    /// chain and the compromise flag.
    pub async fn save_trust(
        &self,
        name: &str,
        pin: Option<PinUpdate<'_>>,
        learned_chain: &[ChainLink],
        compromised: bool,
    ) -> Result<(), DbError> {
        let chain = serde_json::to_string(learned_chain).map_err(|e| DbError::Corrupt {
            path: self.path.clone(),
            reason: format!("cannot encode the learned chain: {e}"),
        })?;
        let t = now();
        let done = match pin {
            Some(pin) => {
                let query = if pin.keep_first_seen {
                    "UPDATE providers SET cert_der = $1, thumbprint = $2, sha256 = $3, spki_sha256 = $4, last_seen = $5, \
                     learned_chain = $6, compromised = $7 WHERE name = $8"
                } else {
                    "UPDATE providers SET cert_der = $1, thumbprint = $2, sha256 = $3, spki_sha256 = $4, first_seen = $5, last_seen = $5, \
                     learned_chain = $6, compromised = $7 WHERE name = $8"
                };
                sqlx::query(query)
                    .bind(pin.cert_der)
                    .bind(pin.thumbprint)
                    .bind(pin.sha256)
                    .bind(pin.spki_sha256)
                    .bind(&t)
                    .bind(&chain)
                    .bind(compromised)
                    .bind(name)
                    .execute(&self.pool)
                    .await
            }
            None => {
                sqlx::query(
                    "UPDATE providers SET learned_chain = $1, compromised = $2 WHERE name = $3",
                )
                .bind(&chain)
                .bind(compromised)
                .bind(name)
                .execute(&self.pool)
                .await
            }
        }
        .map_err(|e| self.sql(e))?;
        if done.rows_affected() == 0 {
            return Err(DbError::NoSuchProvider(name.to_string()));
        }
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
        trust: TrustMode::from_stored(r.get::<&str, _>("trust")),
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
        // A chain that does not decode is dropped: it only ever saves a manual verification.
        learned_chain: serde_json::from_str(r.get::<&str, _>("learned_chain")).unwrap_or_default(),
        compromised: r.get("compromised"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloudgate_pki::rollover::ChainLink;

    fn provider() -> PinnedProvider {
        PinnedProvider {
            name: "sp".into(),
            address: "127.0.0.1".into(),
            port: 6180,
            description: String::new(),
            trust: TrustMode::Pinned,
            cert_der: vec![1, 2, 3],
            thumbprint: "T1".into(),
            sha256: "S1".into(),
            spki_sha256: "K1".into(),
            first_seen: "2026-01-01T00:00:00Z".into(),
            last_seen: "2026-01-01T00:00:00Z".into(),
            username: "acme".into(),
            client_cert_der: vec![4],
            services: vec!["echo".into()],
            learned_chain: Vec::new(),
            compromised: false,
        }
    }

    #[tokio::test]
    async fn the_trust_state_round_trips_and_a_manual_pin_restarts_first_seen() {
        let dir = tempfile::tempdir().unwrap();
        let db = TenantDb::open(&dir.path().join("tenant.db")).await.unwrap();
        db.add(&provider()).await.unwrap();
        let link = ChainLink {
            from_spki_sha256: "AB".repeat(32),
            certificate_pem: "pem".into(),
            proof: None,
            compromised: false,
        };
        db.save_trust("sp", None, std::slice::from_ref(&link), true)
            .await
            .unwrap();
        let p = db.get("sp").await.unwrap();
        assert_eq!(p.learned_chain, vec![link]);
        assert!(p.compromised);
        assert_eq!(p.trust, TrustMode::Pinned);
        let pin = PinUpdate {
            cert_der: &[9],
            thumbprint: "T2",
            sha256: "S2",
            spki_sha256: "K2",
            keep_first_seen: true,
        };
        db.save_trust("sp", Some(pin), &[], false).await.unwrap();
        let p = db.get("sp").await.unwrap();
        assert_eq!(
            (p.sha256.as_str(), p.first_seen.as_str()),
            ("S2", "2026-01-01T00:00:00Z")
        );
        assert!(p.learned_chain.is_empty() && !p.compromised);
        let by_hand = PinUpdate {
            keep_first_seen: false,
            ..pin
        };
        db.save_trust("sp", Some(by_hand), &[], false)
            .await
            .unwrap();
        assert_ne!(
            db.get("sp").await.unwrap().first_seen,
            "2026-01-01T00:00:00Z"
        );
        assert!(matches!(
            db.save_trust("nosuch", None, &[], false).await,
            Err(DbError::NoSuchProvider(_))
        ));
    }
}
