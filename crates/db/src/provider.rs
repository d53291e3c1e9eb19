//! The tenant's state: the service providers it added and the pins it holds for them.

use std::path::Path;

use cloudgate_pki::CertificateInfo;
use cloudgate_pki::rollover::ChainLink;
use sqlx::Row as _;
use sqlx::sqlite::{SqlitePool, SqliteRow};

use crate::DbError;
use crate::error::classify;
use crate::sqlite::{TENANT_MIGRATIONS, open_migrated};
use crate::stamp::{from_text, now, to_text};

pub use cloudgate_proto::trust::{PinUpdate, PinnedProvider, TrustMode};

/// The tenant database.
#[derive(Clone, Debug)]
pub struct TenantDb {
    pool: SqlitePool,
    path: String,
}

impl TenantDb {
    /// Opens (and migrates) the tenant database at `path`; create the file owner-only first.
    pub async fn open(path: &Path) -> Result<Self, DbError> {
        let pool = open_migrated(path, &TENANT_MIGRATIONS).await?;
        let display = path.display().to_string();
        Ok(TenantDb {
            pool,
            path: display,
        })
    }

    fn sql(&self, e: sqlx::Error) -> DbError {
        classify(&self.path, e)
    }

    /// The three fingerprints of a certificate, as stored beside it for readers of the file.
    fn fingerprints(&self, cert_der: &[u8]) -> Result<[String; 3], DbError> {
        let info = CertificateInfo::from_der(cert_der).map_err(|e| DbError::Corrupt {
            path: self.path.clone(),
            reason: format!("a pinned certificate does not parse: {e}"),
        })?;
        let f = &info.fingerprints;
        Ok([f.thumbprint(), f.sha256_hex(), f.spki_pin()])
    }

    fn provider_from_row(&self, r: &SqliteRow) -> Result<PinnedProvider, DbError> {
        let get = |e| self.sql(e);
        let corrupt = |reason: String| DbError::Corrupt {
            path: self.path.clone(),
            reason,
        };
        let services: String = r.try_get("services").map_err(get)?;
        let port: i64 = r.try_get("port").map_err(get)?;
        let trust: String = r.try_get("trust").map_err(get)?;
        let cert_der: Vec<u8> = r.try_get("cert_der").map_err(get)?;
        let [thumbprint, sha256, spki_sha256] = self.fingerprints(&cert_der)?;
        Ok(PinnedProvider {
            name: r.try_get("name").map_err(get)?,
            address: r.try_get("address").map_err(get)?,
            port: u16::try_from(port)
                .map_err(|_| corrupt(format!("a provider's port is {port}")))?,
            description: r.try_get("description").map_err(get)?,
            trust: TrustMode::from_name(&trust)
                .ok_or_else(|| corrupt(format!("unknown trust mode {trust:?}")))?,
            cert_der,
            thumbprint,
            sha256,
            spki_sha256,
            first_seen: from_text(
                &self.path,
                "providers.first_seen",
                r.try_get("first_seen").map_err(get)?,
            )?,
            last_seen: from_text(
                &self.path,
                "providers.last_seen",
                r.try_get("last_seen").map_err(get)?,
            )?,
            username: r.try_get("username").map_err(get)?,
            client_cert_der: r.try_get("client_cert_der").map_err(get)?,
            services: services
                .split('\n')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            // A chain that does not decode is dropped: it only ever saves a manual verification.
            learned_chain: serde_json::from_str(
                r.try_get::<&str, _>("learned_chain").map_err(get)?,
            )
            .unwrap_or_default(),
            compromised: r.try_get("compromised").map_err(get)?,
            // Like the chain: a list that does not decode is dropped (the address remains).
            gateways: serde_json::from_str(r.try_get::<&str, _>("gateways").map_err(get)?)
                .unwrap_or_default(),
        })
    }

    /// Saves a newly added provider; refuses a name in use.
    pub async fn add(&self, p: &PinnedProvider) -> Result<(), DbError> {
        let [thumbprint, sha256, spki_sha256] = self.fingerprints(&p.cert_der)?;
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
        .bind(thumbprint)
        .bind(sha256)
        .bind(spki_sha256)
        .bind(to_text(p.first_seen))
        .bind(to_text(p.last_seen))
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
        rows.iter().map(|r| self.provider_from_row(r)).collect()
    }

    /// One provider.
    pub async fn get(&self, name: &str) -> Result<PinnedProvider, DbError> {
        let row = sqlx::query("SELECT * FROM providers WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.sql(e))?;
        match row {
            Some(r) => self.provider_from_row(&r),
            None => Err(DbError::NoSuchProvider(name.to_string())),
        }
    }

    /// Records a successful contact: last seen now, the services offered and, when the
    /// provider told them, its gateways.
    pub async fn seen(
        &self,
        name: &str,
        services: &[String],
        gateways: Option<&[String]>,
    ) -> Result<(), DbError> {
        match gateways {
            Some(g) => {
                let list = serde_json::to_string(g).map_err(|e| DbError::Corrupt {
                    path: self.path.clone(),
                    reason: format!("cannot encode the gateway list: {e}"),
                })?;
                sqlx::query(
                    "UPDATE providers SET last_seen = $1, services = $2, gateways = $3 WHERE name = $4",
                )
                .bind(to_text(now()))
                .bind(services.join("\n"))
                .bind(list)
                .bind(name)
                .execute(&self.pool)
                .await
            }
            None => {
                sqlx::query("UPDATE providers SET last_seen = $1, services = $2 WHERE name = $3")
                    .bind(to_text(now()))
                    .bind(services.join("\n"))
                    .bind(name)
                    .execute(&self.pool)
                    .await
            }
        }
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
        let t = to_text(now());
        let done = match pin {
            Some(pin) => {
                let [thumbprint, sha256, spki_sha256] = self.fingerprints(pin.cert_der)?;
                let query = if pin.keep_first_seen {
                    "UPDATE providers SET cert_der = $1, thumbprint = $2, sha256 = $3, spki_sha256 = $4, last_seen = $5, \
                     learned_chain = $6, compromised = $7 WHERE name = $8"
                } else {
                    "UPDATE providers SET cert_der = $1, thumbprint = $2, sha256 = $3, spki_sha256 = $4, first_seen = $5, last_seen = $5, \
                     learned_chain = $6, compromised = $7 WHERE name = $8"
                };
                sqlx::query(query)
                    .bind(pin.cert_der)
                    .bind(thumbprint)
                    .bind(sha256)
                    .bind(spki_sha256)
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

#[cfg(test)]
mod tests {
    use super::*;
    use cloudgate_pki::rollover::ChainLink;

    fn cert(name: &str) -> Vec<u8> {
        cloudgate_pki::generate_self_signed(&cloudgate_pki::SelfSignedRequest {
            key_type: cloudgate_pki::KeyType::EcdsaP256,
            subject: cloudgate_pki::dn::SubjectName::parse(&format!("CN={name}")).unwrap(),
            sans: vec![],
            valid_days: 1,
            now: time::OffsetDateTime::now_utc(),
        })
        .unwrap()
        .cert_der
    }

    const FIRST: time::OffsetDateTime = time::macros::datetime!(2026-01-01 00:00 UTC);

    fn provider() -> PinnedProvider {
        PinnedProvider {
            name: "sp".into(),
            address: "127.0.0.1".into(),
            port: 6180,
            description: String::new(),
            trust: TrustMode::Pinned,
            cert_der: cert("one"),
            thumbprint: String::new(),
            sha256: String::new(),
            spki_sha256: String::new(),
            first_seen: FIRST,
            last_seen: FIRST,
            username: "acme".into(),
            client_cert_der: vec![4],
            services: vec!["echo".into()],
            learned_chain: Vec::new(),
            compromised: false,
            gateways: Vec::new(),
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
        let second = cert("two");
        let pin = PinUpdate {
            cert_der: &second,
            keep_first_seen: true,
        };
        db.save_trust("sp", Some(pin), &[], false).await.unwrap();
        let p = db.get("sp").await.unwrap();
        let expected = CertificateInfo::from_der(&second).unwrap().fingerprints;
        assert_eq!(
            (p.sha256, p.thumbprint, p.first_seen),
            (expected.sha256_hex(), expected.thumbprint(), FIRST),
            "fingerprints come from the DER; first seen is kept"
        );
        assert!(p.learned_chain.is_empty() && !p.compromised);
        let by_hand = PinUpdate {
            keep_first_seen: false,
            ..pin
        };
        db.save_trust("sp", Some(by_hand), &[], false)
            .await
            .unwrap();
        assert_ne!(db.get("sp").await.unwrap().first_seen, FIRST);
        assert!(matches!(
            db.save_trust("nosuch", None, &[], false).await,
            Err(DbError::NoSuchProvider(_))
        ));
        let garbage = PinUpdate {
            cert_der: &[1, 2, 3],
            keep_first_seen: true,
        };
        assert!(
            matches!(
                db.save_trust("sp", Some(garbage), &[], false).await,
                Err(DbError::Corrupt { .. })
            ),
            "a pin must be a certificate"
        );
    }
}
