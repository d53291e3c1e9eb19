//! The SP as a whole: its gateways and public address, the fleet, the license and the audit.

use cloudgate_db::{AuditQuery, AuditRecord};
use cloudgate_proto::admin::{FleetStatus, Gateway, LicenseInfo, PublicAddress};
use cloudgate_store::license::License;
use serde_json::json;
use time::OffsetDateTime;

use super::Sp;

/// A change of the fleet key ([`Sp::fleet_key_changed`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FleetKeyChange {
    /// `sp fleet init`.
    Created,
    /// `sp fleet rotate-key`.
    RotationStarted,
    /// `sp fleet rotate-key --finish`.
    RotationFinished,
}
use crate::settings::public_address;
use crate::{SpError, views};

impl Sp {
    /// The gateways that reported to the SP database, with their state as of now.
    pub async fn gateways(&self) -> Result<Vec<Gateway>, SpError> {
        let now = OffsetDateTime::now_utc();
        Ok(self
            .db
            .gateways()
            .await?
            .iter()
            .map(|g| views::gateway(g, now))
            .collect())
    }

    /// Forgets a gateway that is gone for good (one that runs again records itself again).
    pub async fn forget_gateway(&self, id: &str) -> Result<(), SpError> {
        let outcome = async {
            if !self.db.remove_gateway(id).await? {
                return Err(SpError::NotFound(format!(
                    "no gateway {id:?} is recorded; `cloudgate sp gateway list` and the console's gateways page list them"
                )));
            }
            self.audit(
                "gateway.forgotten",
                "gateway forgotten",
                json!({ "gateway": id }),
            );
            Ok(())
        };
        self.done(outcome.await).await
    }

    /// Where tenants reach the gateway.
    pub fn public_address(&self) -> Result<PublicAddress, SpError> {
        let layout = self.store.layout();
        let (address, configured) = public_address::effective(layout)?;
        Ok(PublicAddress {
            public_address: address,
            source: if configured {
                "configured"
            } else {
                "host name"
            }
            .to_string(),
            config: layout.gateway_config().display().to_string(),
        })
    }

    /// Sets where tenants reach the gateway (`public_address` in `gateway.toml`); new join
    /// tokens and the instructions for tenants use it.
    pub async fn set_public_address(&self, address: &str) -> Result<PublicAddress, SpError> {
        let outcome = async {
            let parsed = public_address::parse(address)
                .map_err(|e| SpError::Invalid(format!("public address {address:?}: {e}")))?;
            if public_address::configured(self.store.layout())?.as_ref() == Some(&parsed) {
                // Not a change: nothing written, nothing audited.
                return self.public_address();
            }
            public_address::save(self.store.layout(), self.store.ownership(), &parsed)?;
            self.audit(
                "gateway.address",
                "public address set",
                json!({ "public_address": public_address::shown(&parsed) }),
            );
            self.public_address()
        };
        self.done(outcome.await).await
    }

    /// The fleet key here and the certificate published to the gateways.
    pub async fn fleet_status(&self, published_now: bool) -> Result<FleetStatus, SpError> {
        crate::fleet::status(&self.store, &*self.db, published_now).await
    }

    /// Publishes the certificate in use to the fleet now; audited when it changed what the
    /// gateways serve.
    pub async fn fleet_publish(&self) -> Result<FleetStatus, SpError> {
        let outcome = async {
            if !self.serves_a_fleet() {
                return Err(SpError::Fleet(
                    "this SP serves no fleet: it runs on one host's database, or without the fleet key (`cloudgate sp fleet init`)".into(),
                ));
            }
            if self.store.applied_record()?.is_none() {
                return Err(SpError::NoCertificate);
            }
            let published = self.publish().await?;
            if published {
                self.audit(
                    "fleet.published",
                    "certificate published to the fleet",
                    json!({}),
                );
            }
            self.fleet_status(published).await
        };
        self.done(outcome.await).await
    }

    /// Audits a change of the fleet key that the command line made on this host's files
    /// (created, a rotation started, a rotation finished), after its publication: one entry,
    /// with the key's id, never the key.
    pub async fn fleet_key_changed(
        &self,
        change: FleetKeyChange,
        key_id: &str,
        published: bool,
    ) -> Result<(), SpError> {
        let (event, message) = match change {
            FleetKeyChange::Created => ("fleet.key_created", "fleet key created"),
            FleetKeyChange::RotationStarted => ("fleet.key_rotating", "fleet key rotation started"),
            FleetKeyChange::RotationFinished => {
                ("fleet.key_rotated", "fleet key rotation finished")
            }
        };
        self.audit(
            event,
            message,
            json!({ "key_id": key_id, "published": published }),
        );
        self.done(Ok(())).await
    }

    /// The installed license.
    pub fn license(&self) -> Result<LicenseInfo, SpError> {
        Ok(views::license(self.store.layout())?)
    }

    /// Installs a license from its TOML text; `origin` names where it came from in messages.
    pub async fn install_license(&self, toml: &str, origin: &str) -> Result<LicenseInfo, SpError> {
        let outcome = async {
            let license = License::parse(toml.as_bytes(), std::path::Path::new(origin))
                .map_err(|e| SpError::Invalid(e.to_string()))?;
            if license.is_expired_at(OffsetDateTime::now_utc()) {
                return Err(SpError::Invalid(format!(
                    "the license expired on {}; install a current one",
                    license.expires.map(|d| d.to_string()).unwrap_or_default()
                )));
            }
            cloudgate_store::license::install(
                self.store.layout(),
                self.store.ownership(),
                &license,
            )?;
            self.audit(
                "license.installed",
                "license installed",
                json!({ "licensed_to": license.licensed_to, "license_id": license.license_id }),
            );
            self.license()
        };
        self.done(outcome.await).await
    }

    /// Writes a whole SP database (read from another, `sp db import-sqlite`) into this empty
    /// one; `from` names the source in the entry.
    pub async fn import_database(
        &self,
        dump: &cloudgate_db::SpDump,
        from: &str,
    ) -> Result<(), SpError> {
        let outcome = async {
            self.db.import(dump).await?;
            self.audit(
                "db.imported",
                "SP database moved in from another",
                json!({ "from": from, "tenants": dump.tenants.len(), "services": dump.services.len(),
                    "machines": dump.client_certs.len(), "join_tokens": dump.join_tokens.len() }),
            );
            Ok(())
        };
        self.done(outcome.await).await
    }

    /// Audit entries matching `query`, newest first, and how many match in all.
    pub async fn audit_entries(
        &self,
        query: &AuditQuery,
    ) -> Result<(Vec<AuditRecord>, i64), SpError> {
        Ok(self.db.audit_search(query).await?)
    }

    /// Walks the audit's chain (see [`crate::audit::verify`]).
    pub async fn verify_audit(&self) -> Result<crate::audit::Verification, SpError> {
        crate::audit::verify(&self.db, self.store.layout()).await
    }
}
