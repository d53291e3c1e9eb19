//! Certificates: generate, import, renew, stage, apply, remove, ACME renewal, and reading them.

use cloudgate_pki::{KeyType, SelfSignedRequest, dn::SubjectName};
use cloudgate_proto::admin::{
    AcmeRenewRequest, Certificate, CertificateDetail, CertificateStatus, CheckReport,
    NewCertificate,
};
use cloudgate_store::StoredCertificate;
use time::OffsetDateTime;

use super::Sp;
use crate::certs::{self, CertificateSource as _};
use crate::switch::{Adoption, SwitchImpact};
use crate::{SpError, views};

/// A certificate put into use, and what followed.
#[derive(Clone, Debug)]
pub struct Applied {
    /// The certificate, as the model says it.
    pub certificate: Certificate,
    /// Whether it was published to the fleet's gateways.
    pub published: bool,
}

/// A successor staged, and what followed.
#[derive(Clone, Debug)]
pub struct Staged {
    /// The successor, as the model says it.
    pub certificate: Certificate,
    /// The staged record with its rollover proof, as the store keeps it.
    pub record: cloudgate_store::StagedSuccessor,
    /// Whether the proof was published to the fleet's gateways.
    pub published: bool,
}

/// Longest friendly name.
const MAX_FRIENDLY_NAME: usize = 128;

fn checked_friendly_name(name: Option<&str>) -> Result<Option<String>, SpError> {
    match name.map(str::trim) {
        None | Some("") => Ok(None),
        Some(n) if n.chars().any(char::is_control) || n.chars().count() > MAX_FRIENDLY_NAME => {
            Err(SpError::Invalid(format!(
                "the friendly name must be at most {MAX_FRIENDLY_NAME} characters, without control characters"
            )))
        }
        Some(n) => Ok(Some(n.to_string())),
    }
}

impl Sp {
    /// Every certificate of the store, the one in use first.
    pub fn certificates(&self) -> Result<Vec<Certificate>, SpError> {
        let mut all: Vec<Certificate> = self.store.list()?.iter().map(views::certificate).collect();
        all.sort_by_key(|c| !c.applied);
        Ok(all)
    }

    /// The certificate in use.
    pub fn current(&self) -> Result<Option<Certificate>, SpError> {
        Ok(self.store.applied()?.as_ref().map(views::certificate))
    }

    /// A store entry by thumbprint, SHA-256 or a unique prefix.
    pub fn find(&self, id: &str) -> Result<StoredCertificate, SpError> {
        Ok(self.store.find(id)?)
    }

    /// One certificate with the Summary's six lines, as the reference product shows them.
    pub fn certificate(&self, id: &str) -> Result<CertificateDetail, SpError> {
        let entry = self.store.find(id)?;
        Ok(CertificateDetail {
            summary: cloudgate_pki::summary_lines(&entry.meta.friendly_name, &entry.info),
            certificate: views::certificate(&entry),
        })
    }

    /// The certificate in use, the staged successor, the key changes and their adoption.
    pub async fn certificate_status(&self) -> Result<CertificateStatus, SpError> {
        let machines = self.db.all_client_certs().await?;
        crate::switch::status(&self.store, &machines)
    }

    /// Checks an entry: key readable, private and matching; certificate intact and valid.
    pub fn check_certificate(&self, id: &str) -> Result<CheckReport, SpError> {
        let entry = self.store.find(id)?;
        certs::check(&self.store, &entry)
    }

    /// How far the enrolled machines adopted the certificate in use and the staged successor.
    pub async fn adoption(&self) -> Result<Adoption, SpError> {
        let machines = self.db.all_client_certs().await?;
        let current = self.store.applied_record()?.map(|r| r.sha256);
        let staged = self.store.rollover_history()?.staged.map(|s| s.to_sha256);
        Ok(crate::switch::adoption(
            &machines,
            current.as_deref(),
            staged.as_deref(),
        ))
    }

    /// What putting `id` into use would mean for the tenants, and how many machines are
    /// enrolled.
    pub async fn switch_impact(&self, id: &str) -> Result<(SwitchImpact, Adoption), SpError> {
        let entry = self.store.find(id)?;
        let impact = crate::switch::impact(&self.store, &entry)?;
        Ok((impact, self.adoption().await?))
    }

    /// Generates a self-signed certificate (not applied); unset fields take the install's
    /// identity and the defaults.
    pub async fn generate(&self, request: &NewCertificate) -> Result<Certificate, SpError> {
        let outcome = async {
            let identity = certs::default_identity(self.store.layout())?;
            let key_type = match request.key_type.as_deref().map(str::trim) {
                None | Some("") => certs::DEFAULT_KEY_TYPE,
                Some(t) => t
                    .parse::<KeyType>()
                    .map_err(|e| SpError::Invalid(format!("key type: {e}")))?,
            };
            let valid_days = request.valid_days.unwrap_or(certs::DEFAULT_VALID_DAYS);
            cloudgate_pki::check_valid_days(valid_days)
                .map_err(|e| SpError::Invalid(e.to_string()))?;
            let subject = match request.subject.as_deref().map(str::trim) {
                None | Some("") => identity.subject.clone(),
                Some(s) => {
                    SubjectName::parse(s).map_err(|e| SpError::Invalid(format!("subject: {e}")))?
                }
            };
            let sans = if request.sans.iter().all(|s| s.trim().is_empty()) {
                identity.sans.clone()
            } else {
                request
                    .sans
                    .iter()
                    .map(|s| s.trim())
                    .filter(|s| !s.is_empty())
                    .map(|s| {
                        cloudgate_pki::san::SubjectAltName::parse(s)
                            .map_err(|e| SpError::Invalid(format!("alternative name {s:?}: {e}")))
                    })
                    .collect::<Result<Vec<_>, _>>()?
            };
            let friendly_name = checked_friendly_name(request.friendly_name.as_deref())?
                .unwrap_or_else(|| identity.friendly_name.clone());
            let req = SelfSignedRequest {
                key_type,
                subject,
                sans,
                valid_days,
                now: OffsetDateTime::now_utc(),
            };
            // RSA keys take a while: off the async threads.
            let issued = tokio::task::spawn_blocking(move || certs::SelfSigned.issue(&req))
                .await
                .map_err(|e| SpError::Invalid(format!("generation stopped: {e}")))??;
            let entry =
                certs::save_issued(&self.store, &certs::SelfSigned, &issued, friendly_name)?;
            drop(issued);
            Ok(views::certificate(&entry))
        };
        self.done(outcome.await).await
    }

    /// Imports a certificate with its key from a file's bytes (PKCS#12 or PEM): the same
    /// reader and refusals as `sp cert import` (a wrong password, a CA certificate, an expired
    /// one). Not applied.
    pub async fn import(
        &self,
        file: &[u8],
        password: &str,
        friendly_name: Option<&str>,
    ) -> Result<Certificate, SpError> {
        let outcome = async {
            let material = cloudgate_pki::import::read_key_material(file, None, password, None)?;
            cloudgate_pki::import::check_serviceable(
                &material.cert,
                OffsetDateTime::now_utc(),
                false,
            )?;
            let friendly_name = checked_friendly_name(friendly_name)?;
            let entry = certs::save_imported(&self.store, &material, friendly_name)?;
            Ok(views::certificate(&entry))
        };
        self.done(outcome.await).await
    }

    /// Renews a certificate (the one in use when `id` is `None`) with the same key, subject and
    /// names for `valid_days`; tenants follow without asking. With `apply` the renewal is put
    /// into use and published.
    pub async fn renew(
        &self,
        id: Option<&str>,
        valid_days: u32,
        apply: bool,
    ) -> Result<Applied, SpError> {
        let outcome = async {
            cloudgate_pki::check_valid_days(valid_days)
                .map_err(|e| SpError::Invalid(e.to_string()))?;
            let old = match id {
                Some(id) => self.store.find(id)?,
                None => self.store.applied()?.ok_or_else(|| {
                    SpError::Invalid(
                        "no certificate is in use; name the certificate to renew".into(),
                    )
                })?,
            };
            let entry = certs::renew(
                &self.store,
                &certs::SelfSigned,
                &old,
                certs::Lifetime::Days(valid_days),
                apply,
            )?;
            let published = apply && self.publish().await?;
            Ok(Applied {
                certificate: views::certificate(&entry),
                published,
            })
        };
        self.done(outcome.await).await
    }

    /// Removes a certificate and its key; the one in use only with `force` (tenants are then
    /// left without one).
    pub async fn remove_certificate(&self, id: &str, force: bool) -> Result<Certificate, SpError> {
        let outcome = async {
            let entry = self.store.find(id)?;
            self.store.remove(&entry, force)?;
            Ok(views::certificate(&entry))
        };
        self.done(outcome.await).await
    }

    /// Puts a certificate into use and publishes it to the fleet. A certificate not valid now
    /// is refused; a new key without a proof while machines are enrolled comes back as
    /// [`SpError::WouldReverify`] unless `force` (and the entry then says it was forced).
    pub async fn apply(&self, id: &str, force: bool) -> Result<Applied, SpError> {
        let outcome = async {
            let mut entry = self.store.find(id)?;
            if !entry.info.is_valid_at(OffsetDateTime::now_utc()) {
                return Err(SpError::Invalid(format!(
                    "certificate {} is not valid now (valid {} to {}); tenants would refuse it",
                    entry.info.fingerprints.thumbprint(),
                    cloudgate_pki::format_rfc3339(entry.info.not_before),
                    cloudgate_pki::format_rfc3339(entry.info.not_after)
                )));
            }
            let impact = crate::switch::impact(&self.store, &entry)?;
            let adoption = self.adoption().await?;
            let forced = impact == SwitchImpact::ManualReverify && adoption.machines > 0;
            if forced && !force {
                return Err(SpError::WouldReverify {
                    thumbprint: entry.info.fingerprints.thumbprint(),
                    machines: adoption.machines,
                    tenants: adoption.tenants,
                });
            }
            let store = if forced {
                // One entry for the switch, saying that a warning was overridden.
                self.store.audited_by(self.journal.sink_noting(
                    self.actor.clone(),
                    serde_json::json!({ "forced": true, "machines": adoption.machines,
                        "tenants": adoption.tenants }),
                ))
            } else {
                self.store.clone()
            };
            certs::apply(&store, &mut entry)?;
            let published = self.publish().await?;
            Ok(Applied {
                certificate: views::certificate(&entry),
                published,
            })
        };
        self.done(outcome.await).await
    }

    /// Stages a certificate as the successor of the one in use, with a rollover proof, and
    /// publishes the proof to the fleet.
    pub async fn stage(
        &self,
        id: &str,
        switch_at: Option<OffsetDateTime>,
    ) -> Result<Staged, SpError> {
        let outcome = async {
            let successor = self.store.find(id)?;
            if self.store.applied()?.is_none() {
                return Err(SpError::Invalid(
                    "no certificate is in use: apply the successor directly (`cloudgate sp cert apply`)".into(),
                ));
            }
            let now = OffsetDateTime::now_utc();
            if !successor.info.is_valid_at(now) {
                return Err(SpError::Invalid(
                    "the successor is not valid now; tenants would refuse it".into(),
                ));
            }
            if switch_at.is_some_and(|t| t < now) {
                return Err(SpError::Invalid(
                    "the switch time is in the past; apply the successor now (`cloudgate sp cert apply`)".into(),
                ));
            }
            let record = self.store.stage(&successor, switch_at)?;
            let published = self.publish().await?;
            Ok(Staged {
                certificate: views::certificate(&successor),
                record,
                published,
            })
        };
        self.done(outcome.await).await
    }

    /// Renews the ACME certificate in use with the CA of its issuance: the same key (applied
    /// with `apply`), or a new key staged with a rollover proof; published either way.
    pub async fn acme_renew(
        &self,
        request: &AcmeRenewRequest,
        progress: &(dyn Fn(&str) + Sync),
    ) -> Result<Applied, SpError> {
        let outcome = async {
            let mut renewal = crate::acme::renew(&self.store, request.new_key, progress).await?;
            let applied = !renewal.new_key && request.apply;
            if applied {
                certs::apply(&self.store, &mut renewal.entry)?;
            }
            let published = (applied || renewal.new_key) && self.publish().await?;
            Ok(Applied {
                certificate: views::certificate(&renewal.entry),
                published,
            })
        };
        self.done(outcome.await).await
    }

    /// A certificate with its chain, PEM: the public part only.
    pub fn certificate_pem(&self, id: &str) -> Result<(String, String), SpError> {
        let entry = self.store.find(id)?;
        let mut pem = cloudgate_pki::pem::encode_certificate(&entry.info.der);
        for c in &entry.chain {
            pem.push_str(&cloudgate_pki::pem::encode_certificate(c));
        }
        Ok((entry.info.fingerprints.thumbprint(), pem))
    }

    /// A certificate, DER: the public part only.
    pub fn certificate_der(&self, id: &str) -> Result<(String, Vec<u8>), SpError> {
        let entry = self.store.find(id)?;
        Ok((entry.info.fingerprints.thumbprint(), entry.info.der.clone()))
    }

    /// The Summary's six lines of a certificate.
    pub fn summary(&self, id: &str) -> Result<String, SpError> {
        let entry = self.store.find(id)?;
        Ok(cloudgate_pki::summary_lines(
            &entry.meta.friendly_name,
            &entry.info,
        ))
    }
}
