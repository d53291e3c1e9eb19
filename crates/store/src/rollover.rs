//! The SP's record of its key changes (`store/rollover.json`): the staged successor with the
//! proof the key in use signed for it, and the history of switches, which the gateway publishes
//! as the chain tenants walk from the key they pinned (see `cloudgate_pki::rollover`).
//!
//! Every switch to a certificate with another key adds one link: with the staged proof when the
//! successor was staged, without one otherwise (a plain `apply`, which tenants must verify by
//! hand), and marked compromised for `apply --compromised`. A renewal (same key) adds nothing:
//! tenants follow it by the key. The history keeps the newest
//! [`MAX_CHAIN_LINKS`](cloudgate_pki::rollover::MAX_CHAIN_LINKS) links.

use cloudgate_pki::CertificateInfo;
use cloudgate_pki::fingerprint::upper_hex;
use cloudgate_pki::rollover::{ChainLink, MAX_CHAIN_LINKS, RolloverProof, sign_rollover};
use cloudgate_proto::PublishedTrust;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::entry::StoredCertificate;
use crate::lock::StoreLock;
use crate::{CertStore, StoreError};

/// The current format of `rollover.json`.
const HISTORY_VERSION: u32 = 2;

/// A successor made ready by `sp cert stage`: the key in use already signed the handover.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StagedSuccessor {
    /// SHA-256 (uppercase hex) of the certificate in use when it was staged.
    pub from_sha256: String,
    /// SHA-256 (uppercase hex) of the SubjectPublicKeyInfo that signed the proof.
    pub from_spki_sha256: String,
    /// SHA-256 (uppercase hex) of the successor.
    pub to_sha256: String,
    /// Its thumbprint.
    pub to_thumbprint: String,
    /// The successor certificate, PEM.
    pub to_certificate_pem: String,
    /// The proof signed by the key in use.
    pub proof: RolloverProof,
    /// When the gateway puts it into use by itself (`stage --at`).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub switch_at: Option<OffsetDateTime>,
    /// When it was staged.
    #[serde(with = "time::serde::rfc3339")]
    pub staged_at: OffsetDateTime,
}

/// One switch to a certificate with another key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwitchRecord {
    /// SHA-256 (uppercase hex) of the certificate in use before.
    pub from_sha256: String,
    /// SHA-256 (uppercase hex) of its SubjectPublicKeyInfo.
    pub from_spki_sha256: String,
    /// SHA-256 (uppercase hex) of the certificate switched to.
    pub to_sha256: String,
    /// That certificate, PEM.
    pub to_certificate_pem: String,
    /// The proof, when the successor had been staged.
    pub proof: Option<RolloverProof>,
    /// The previous key was marked compromised.
    pub compromised: bool,
    /// When the switch happened.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

impl SwitchRecord {
    /// The form the gateway publishes.
    pub fn chain_link(&self) -> ChainLink {
        ChainLink {
            from_spki_sha256: self.from_spki_sha256.clone(),
            certificate_pem: self.to_certificate_pem.clone(),
            proof: self.proof.clone(),
            compromised: self.compromised,
        }
    }
}

/// The whole record: staged successor and switch history.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloverHistory {
    /// Format version.
    #[serde(default)]
    pub version: u32,
    /// The staged successor, if any.
    #[serde(default)]
    pub staged: Option<StagedSuccessor>,
    /// Switches to another key, oldest first, at most `MAX_CHAIN_LINKS`.
    #[serde(default)]
    pub switches: Vec<SwitchRecord>,
}

impl RolloverHistory {
    /// What the gateway serving `current` publishes: the chain, and the successor when the key
    /// in use staged it.
    pub fn published(&self, current: &CertificateInfo) -> PublishedTrust {
        let current_spki = upper_hex(&current.fingerprints.spki_sha256);
        PublishedTrust {
            successor: self
                .staged
                .as_ref()
                .filter(|s| s.from_spki_sha256 == current_spki)
                .map(|s| ChainLink {
                    from_spki_sha256: s.from_spki_sha256.clone(),
                    certificate_pem: s.to_certificate_pem.clone(),
                    proof: Some(s.proof.clone()),
                    compromised: false,
                }),
            chain: self.switches.iter().map(SwitchRecord::chain_link).collect(),
        }
    }

    /// When the SP last declared a key compromised (`apply --compromised`), if it ever did:
    /// whatever was made to trust keys before then (a join token) trusts a stolen key.
    pub fn last_compromise(&self) -> Option<OffsetDateTime> {
        self.switches
            .iter()
            .filter(|s| s.compromised)
            .map(|s| s.at)
            .max()
    }

    /// The switch that put `sha256` into use, if it is the newest one.
    pub fn last_switch_to(&self, sha256: &str) -> Option<&SwitchRecord> {
        self.switches.last().filter(|s| s.to_sha256 == sha256)
    }

    /// Records that `to` replaced `from`; see the module docs for which link that adds.
    fn record_switch(&mut self, from: &CertificateInfo, to: &CertificateInfo, compromised: bool) {
        let to_sha = to.fingerprints.sha256_hex();
        let staged = self.staged.take();
        if from.fingerprints.spki_sha256 == to.fingerprints.spki_sha256 && !compromised {
            // A renewal: the staged proof binds the key, so it still holds, unless it was for
            // the certificate now in use.
            self.staged = staged.filter(|s| s.to_sha256 != to_sha);
            return;
        }
        let from_spki = upper_hex(&from.fingerprints.spki_sha256);
        let proof = staged
            .filter(|s| !compromised && s.to_sha256 == to_sha && s.from_spki_sha256 == from_spki)
            .map(|s| s.proof);
        self.switches.push(SwitchRecord {
            from_sha256: from.fingerprints.sha256_hex(),
            from_spki_sha256: from_spki,
            to_sha256: to_sha,
            to_certificate_pem: cloudgate_pki::pem::encode_certificate(&to.der),
            proof,
            compromised,
            at: OffsetDateTime::now_utc(),
        });
        let excess = self.switches.len().saturating_sub(MAX_CHAIN_LINKS);
        self.switches.drain(..excess);
    }
}

impl CertStore {
    /// The staged successor and the switch history (empty when there is none yet, or when the
    /// file is from before version 2, whose proofs tenants no longer accept).
    pub fn rollover_history(&self) -> Result<RolloverHistory, StoreError> {
        let path = self.layout().rollover_file();
        let Some(bytes) =
            crate::bounded::read_regular_if_exists(&path, crate::bounded::STORE_FILE_CAP)
                .map_err(|e| self.name_group(e))?
        else {
            return Ok(RolloverHistory::default());
        };
        let history: RolloverHistory =
            serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
                path: path.clone(),
                reason: format!("unreadable rollover record: {e}"),
            })?;
        if history.version != HISTORY_VERSION {
            return Ok(RolloverHistory::default());
        }
        Ok(history)
    }

    pub(crate) fn write_rollover_history(
        &self,
        history: &RolloverHistory,
    ) -> Result<(), StoreError> {
        let path = self.layout().rollover_file();
        let mut history = history.clone();
        history.version = HISTORY_VERSION;
        let json = serde_json::to_vec_pretty(&history).map_err(|e| StoreError::Corrupt {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        self.replace_store_file(&path, &json)
    }

    /// Called by `apply` under the store lock, before the applied record changes: records the
    /// switch from `from` to `to` in the history.
    pub(crate) fn record_switch(
        &self,
        from: Option<&CertificateInfo>,
        to: &CertificateInfo,
        compromised: bool,
    ) -> Result<(), StoreError> {
        let Some(from) = from else {
            return Ok(());
        };
        if from.fingerprints.sha256 == to.fingerprints.sha256 {
            return Ok(());
        }
        let mut history = self.rollover_history()?;
        history.record_switch(from, to, compromised);
        self.write_rollover_history(&history)
    }

    /// Marks `successor` as the next certificate: the key in use signs a rollover proof for it,
    /// which the gateway publishes until it is applied (and, in the chain, after).
    pub fn stage(
        &self,
        successor: &StoredCertificate,
        switch_at: Option<OffsetDateTime>,
    ) -> Result<StagedSuccessor, StoreError> {
        let _lock = StoreLock::acquire(&self.layout().lock_file(), self.ownership())
            .map_err(|e| self.name_group(e))?;
        let current = self.applied()?.ok_or_else(|| StoreError::Corrupt {
            path: self.layout().applied_file(),
            reason: "no certificate is in use, so there is nothing to hand over from".into(),
        })?;
        if current.info.fingerprints.sha256 == successor.info.fingerprints.sha256 {
            return Err(StoreError::CertificateInUse {
                thumbprint: successor.info.fingerprints.thumbprint(),
            });
        }
        let key = self.load_private_key(&current)?;
        let proof = sign_rollover(
            &current.info,
            &key,
            &successor.info,
            OffsetDateTime::now_utc(),
        )?;
        let staged = StagedSuccessor {
            from_sha256: current.info.fingerprints.sha256_hex(),
            from_spki_sha256: upper_hex(&current.info.fingerprints.spki_sha256),
            to_sha256: successor.info.fingerprints.sha256_hex(),
            to_thumbprint: successor.info.fingerprints.thumbprint(),
            to_certificate_pem: cloudgate_pki::pem::encode_certificate(&successor.info.der),
            proof,
            switch_at,
            staged_at: OffsetDateTime::now_utc(),
        };
        let mut history = self.rollover_history()?;
        history.staged = Some(staged.clone());
        self.write_rollover_history(&history)?;
        self.audit(
            "cert.staged",
            "successor certificate staged with a rollover proof",
            serde_json::json!({
                "thumbprint": current.info.fingerprints.thumbprint(),
                "successor_thumbprint": staged.to_thumbprint,
                "successor_sha256": staged.to_sha256,
            }),
        )?;
        Ok(staged)
    }

    /// Puts a certificate with a new key into use and marks the previous key compromised: the
    /// gateway publishes no proof, and every tenant must verify the new certificate by hand,
    /// whatever it learned before.
    pub fn apply_compromised(
        &self,
        cert: &StoredCertificate,
    ) -> Result<Option<crate::AppliedRecord>, StoreError> {
        let previous = self.apply_switch(cert, true)?;
        self.audit(
            "cert.compromised",
            "certificate replaced without a rollover proof (previous key marked compromised)",
            serde_json::json!({
                "thumbprint": cert.info.fingerprints.thumbprint(),
                "previous_thumbprint": previous.as_ref().map(|p| p.thumbprint.clone()),
            }),
        )?;
        Ok(previous)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloudgate_pki::dn::SubjectName;
    use cloudgate_pki::{KeyType, SelfSignedRequest, generate_self_signed};

    fn cert() -> (CertificateInfo, Vec<u8>) {
        let g = generate_self_signed(&SelfSignedRequest {
            key_type: KeyType::EcdsaP256,
            subject: SubjectName::for_licensee("Acme"),
            sans: vec![],
            valid_days: 30,
            now: OffsetDateTime::now_utc(),
        })
        .unwrap();
        (
            CertificateInfo::from_der(&g.cert_der).unwrap(),
            g.key_pkcs8_der.to_vec(),
        )
    }

    fn staged(from: &CertificateInfo, key: &[u8], to: &CertificateInfo) -> StagedSuccessor {
        StagedSuccessor {
            from_sha256: from.fingerprints.sha256_hex(),
            from_spki_sha256: upper_hex(&from.fingerprints.spki_sha256),
            to_sha256: to.fingerprints.sha256_hex(),
            to_thumbprint: to.fingerprints.thumbprint(),
            to_certificate_pem: cloudgate_pki::pem::encode_certificate(&to.der),
            proof: sign_rollover(from, key, to, OffsetDateTime::now_utc()).unwrap(),
            switch_at: None,
            staged_at: OffsetDateTime::now_utc(),
        }
    }

    #[test]
    fn switches_become_links_with_or_without_proof_and_the_history_is_bounded() {
        let (a, ka) = cert();
        let (b, _) = cert();
        let mut h = RolloverHistory {
            staged: Some(staged(&a, &ka, &b)),
            ..Default::default()
        };
        assert!(h.published(&a).successor.is_some());
        assert!(
            h.published(&b).successor.is_none(),
            "only the key in use announces"
        );
        h.record_switch(&a, &b, false);
        assert!(h.staged.is_none());
        assert!(h.switches[0].proof.is_some() && !h.switches[0].compromised);
        let (c, _) = cert();
        h.record_switch(&b, &c, false);
        assert!(h.switches[1].proof.is_none(), "not staged: no proof");
        let (d, _) = cert();
        h.record_switch(&c, &d, true);
        assert!(h.switches[2].compromised && h.switches[2].proof.is_none());
        for _ in 0..MAX_CHAIN_LINKS + 3 {
            let (x, _) = cert();
            h.record_switch(&d, &x, false);
        }
        assert_eq!(h.switches.len(), MAX_CHAIN_LINKS);
        assert_eq!(h.published(&d).chain.len(), MAX_CHAIN_LINKS);
    }

    #[test]
    fn a_compromised_switch_drops_the_staged_proof_even_for_the_staged_successor() {
        let (a, ka) = cert();
        let (b, _) = cert();
        let mut h = RolloverHistory {
            staged: Some(staged(&a, &ka, &b)),
            ..Default::default()
        };
        h.record_switch(&a, &b, true);
        assert!(h.switches[0].compromised && h.switches[0].proof.is_none());
        assert!(h.staged.is_none());
    }
}
