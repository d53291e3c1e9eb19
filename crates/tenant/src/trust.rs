//! The tenant's trust in one provider, as a state machine with no I/O: what it holds (the pinned
//! certificate and so its key, the chain links learned from the provider, whether the provider
//! marked the pinned key compromised, and the trust mode), how it judges a presented
//! certificate, and the state each verdict leads to. The session (`session.rs`) persists and
//! audits every transition; the binary only renders.
//!
//! The rules (docs/src/design.md, "Trust rules"):
//! - the pinned key is accepted, in the pinned certificate or any renewal of it;
//! - another key is accepted only at the end of a walk of verified rollover proofs that starts
//!   at the pinned key ([`cloudgate_pki::rollover::walk`]); a link marked compromised, a link
//!   without a proof, a proof that does not verify, or no link at all is a refusal;
//! - a compromise signal sets a flag that refuses everything, the pinned key included, until
//!   the user verifies a certificate by hand;
//! - a manual verification (add, refresh) starts from nothing learned: what a stolen key signed
//!   before can never be followed afterwards.

use cloudgate_pki::rollover::{ChainLink, Walk, walk};
use cloudgate_pki::{CertificateInfo, PkiError};
use cloudgate_proto::trust::{PinnedProvider, TrustMode};
use cloudgate_store::PublishedTrust;

/// What a tenant holds for one provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustState {
    /// How the provider is trusted.
    pub mode: TrustMode,
    /// The pinned certificate (its key is what is trusted).
    pub pinned: CertificateInfo,
    /// Links learned from the provider, each verified from the pinned key when learned.
    pub learned: Vec<ChainLink>,
    /// The provider marked the pinned key compromised.
    pub compromised: bool,
}

/// Why a presented certificate is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// The provider marked the pinned key compromised earlier; only a manual verification helps.
    KeyCompromised,
    /// The provider marks a key on the way compromised (it switched without a proof).
    Compromised,
    /// The provider switched keys without a rollover proof.
    Unproven,
    /// A rollover proof on the way does not verify against the key before it.
    BadProof,
    /// Nothing leads from the pinned key to the presented one (or the provider's chain could
    /// not be fetched).
    NoProof,
}

impl Refusal {
    /// A stable name for logs, audit and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::KeyCompromised => "key_compromised",
            Refusal::Compromised => "compromised",
            Refusal::Unproven => "unproven",
            Refusal::BadProof => "bad_proof",
            Refusal::NoProof => "no_proof",
        }
    }
}

/// The judgement of a presented certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The pinned certificate itself.
    Pinned,
    /// Another certificate with the pinned key: a renewal.
    Renewed(Box<CertificateInfo>),
    /// A certificate with another key, reached by verified proofs; the certificates on the way.
    RolledOver(Vec<CertificateInfo>),
    /// Not trusted.
    Refused(Refusal),
}

impl TrustState {
    /// The state stored for a provider.
    pub fn of(p: &PinnedProvider) -> Result<Self, PkiError> {
        Ok(TrustState {
            mode: p.trust,
            pinned: CertificateInfo::from_der(&p.cert_der)?,
            learned: p.learned_chain.clone(),
            compromised: p.compromised,
        })
    }

    /// A state after the user verified `cert` by hand: nothing learned, no flag.
    pub fn verified_by_hand(mode: TrustMode, cert: CertificateInfo) -> Self {
        TrustState {
            mode,
            pinned: cert,
            learned: Vec::new(),
            compromised: false,
        }
    }

    /// Judges `presented` (whose key the TLS handshake proved its server holds), with what the
    /// server published about its keys (`None` when it could not be fetched).
    pub fn judge(
        &self,
        presented: &CertificateInfo,
        published: Option<&PublishedTrust>,
    ) -> Verdict {
        if self.compromised {
            return Verdict::Refused(Refusal::KeyCompromised);
        }
        if presented.fingerprints.sha256 == self.pinned.fingerprints.sha256 {
            return Verdict::Pinned;
        }
        if presented.fingerprints.spki_sha256 == self.pinned.fingerprints.spki_sha256 {
            return Verdict::Renewed(Box::new(presented.clone()));
        }
        // The published chain comes first so that a compromise marker it carries is seen even
        // where a learned link leaves the same key (the walk stops at any compromised link).
        let mut links: Vec<ChainLink> = Vec::new();
        if let Some(p) = published {
            links.extend(p.chain.iter().cloned());
            links.extend(p.successor.iter().cloned());
        }
        links.extend(self.learned.iter().cloned());
        match walk(&self.pinned, &links, presented) {
            Walk::Reached(path) => Verdict::RolledOver(path),
            Walk::Compromised { .. } => Verdict::Refused(Refusal::Compromised),
            Walk::Unproven { .. } => Verdict::Refused(Refusal::Unproven),
            Walk::BadProof { .. } => Verdict::Refused(Refusal::BadProof),
            Walk::Gap => Verdict::Refused(Refusal::NoProof),
        }
    }

    /// The state a verdict leads to: a renewal or rollover moves the pin (a rollover forgets
    /// what was learned, which hands over from a key no longer pinned); a compromise sets the
    /// flag; anything else changes nothing. `None` when nothing changes.
    pub fn after(&self, verdict: &Verdict) -> Option<TrustState> {
        match verdict {
            Verdict::Pinned => None,
            Verdict::Renewed(cert) => Some(TrustState {
                pinned: (**cert).clone(),
                ..self.clone()
            }),
            Verdict::RolledOver(path) => path.last().map(|cert| TrustState {
                pinned: cert.clone(),
                learned: Vec::new(),
                ..self.clone()
            }),
            Verdict::Refused(Refusal::Compromised) => Some(TrustState {
                compromised: true,
                ..self.clone()
            }),
            Verdict::Refused(_) => None,
        }
    }

    /// Learns the successor a server presenting the pinned key announces, if its proof verifies
    /// from the pinned key. `None` when there is nothing new to learn.
    pub fn learn(&self, published: &PublishedTrust) -> Option<TrustState> {
        if self.compromised {
            return None;
        }
        let link = published.successor.as_ref()?;
        if self.learned.contains(link) {
            return None;
        }
        let next = link.certificate().ok()?;
        match walk(&self.pinned, std::slice::from_ref(link), &next) {
            Walk::Reached(_) => Some(TrustState {
                learned: vec![link.clone()],
                ..self.clone()
            }),
            _ => None,
        }
    }

    /// The learned successor's certificate, if any.
    pub fn successor(&self) -> Option<CertificateInfo> {
        self.learned.last().and_then(|l| l.certificate().ok())
    }

    /// The state after a gateway the provider *told of* (not the first-contact address)
    /// presented a certificate judged `verdict`: a renewal or a proven rollover is followed as
    /// anywhere; a refusal changes nothing — that gateway is dropped, and no alarm is raised,
    /// because only the first-contact address may announce a compromise. `None` when nothing
    /// changes.
    pub fn after_told(&self, verdict: &Verdict) -> Option<TrustState> {
        match verdict {
            Verdict::Refused(_) => None,
            accepted => self.after(accepted),
        }
    }

    /// What `tenant provider refresh` does with the certificate presented at the first-contact
    /// address and the thumbprint the user gave, if any: the refresh ends pinned to what the
    /// user named, or fails.
    pub fn refresh(
        &self,
        presented: &CertificateInfo,
        wanted: Option<&cloudgate_pki::fingerprint::FingerprintQuery>,
    ) -> Refresh {
        let named = wanted.map(|q| q.matches(&presented.fingerprints));
        let unchanged =
            presented.fingerprints.sha256 == self.pinned.fingerprints.sha256 && !self.compromised;
        match (unchanged, named) {
            (_, Some(false)) => Refresh::NotWhatWasNamed,
            (true, _) => Refresh::Unchanged,
            (false, Some(true)) => Refresh::Repin,
            (false, None) => Refresh::AskTheUser,
        }
    }
}

/// The outcome of [`TrustState::refresh`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refresh {
    /// The pinned certificate, no compromise flag, and nothing else was named: nothing to do.
    Unchanged,
    /// The user named the presented certificate: pin it, as verified by hand
    /// ([`TrustState::verified_by_hand`]).
    Repin,
    /// Another certificate and no thumbprint: the user must compare it by hand first.
    AskTheUser,
    /// The user named another certificate than the one presented: a trust failure, whether the
    /// presented one is the pinned one (a thief holding the old key) or not.
    NotWhatWasNamed,
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloudgate_pki::dn::SubjectName;
    use cloudgate_pki::fingerprint::upper_hex;
    use cloudgate_pki::rollover::sign_rollover;
    use cloudgate_pki::{KeyType, SelfSignedRequest, generate_self_signed, renew_self_signed};
    use time::OffsetDateTime;

    struct Key {
        cert: CertificateInfo,
        pkcs8: Vec<u8>,
    }

    fn key() -> Key {
        let g = generate_self_signed(&SelfSignedRequest {
            key_type: KeyType::EcdsaP256,
            subject: SubjectName::for_licensee("Acme"),
            sans: vec![],
            valid_days: 30,
            now: OffsetDateTime::now_utc(),
        })
        .unwrap();
        Key {
            cert: CertificateInfo::from_der(&g.cert_der).unwrap(),
            pkcs8: g.key_pkcs8_der.to_vec(),
        }
    }

    fn renewal(k: &Key) -> CertificateInfo {
        let r = renew_self_signed(&k.cert, &k.pkcs8, 30, OffsetDateTime::now_utc()).unwrap();
        CertificateInfo::from_der(&r.cert_der).unwrap()
    }

    fn link(from: &Key, to: &CertificateInfo, proof: bool, compromised: bool) -> ChainLink {
        ChainLink {
            from_spki_sha256: upper_hex(&from.cert.fingerprints.spki_sha256),
            certificate_pem: cloudgate_pki::pem::encode_certificate(&to.der),
            proof: proof.then(|| {
                sign_rollover(&from.cert, &from.pkcs8, to, OffsetDateTime::now_utc()).unwrap()
            }),
            compromised,
        }
    }

    fn state(k: &Key) -> TrustState {
        TrustState::verified_by_hand(TrustMode::Pinned, k.cert.clone())
    }

    fn published(chain: Vec<ChainLink>, successor: Option<ChainLink>) -> PublishedTrust {
        PublishedTrust { successor, chain }
    }

    #[test]
    fn the_pinned_key_passes_in_any_certificate_and_a_renewal_moves_the_pin() {
        let a = key();
        let s = state(&a);
        assert_eq!(s.judge(&a.cert, None), Verdict::Pinned);
        assert_eq!(s.after(&Verdict::Pinned), None);
        let renewed = renewal(&a);
        let v = s.judge(&renewed, None);
        assert_eq!(v, Verdict::Renewed(Box::new(renewed.clone())));
        assert_eq!(s.after(&v).unwrap().pinned, renewed);
    }

    #[test]
    fn a_proven_rollover_is_followed_and_forgets_what_was_learned() {
        let (a, b) = (key(), key());
        let mut s = state(&a);
        let announced = link(&a, &b.cert, true, false);
        s = s
            .learn(&published(vec![], Some(announced.clone())))
            .unwrap();
        assert_eq!(s.successor().unwrap(), b.cert);
        assert!(
            s.learn(&published(vec![], Some(announced))).is_none(),
            "nothing new"
        );
        // Without the chain (the new gateway publishes nothing), the learned link suffices.
        let v = s.judge(&b.cert, None);
        assert_eq!(v, Verdict::RolledOver(vec![b.cert.clone()]));
        let next = s.after(&v).unwrap();
        assert_eq!(next.pinned, b.cert);
        assert!(next.learned.is_empty());
    }

    #[test]
    fn offline_across_a_renewal_and_two_rollovers() {
        let (a, b, c) = (key(), key(), key());
        let a2 = renewal(&a);
        // The SP renewed a to a2, then handed over (signed by the key, while a2 was in use) to
        // b, renewed b, then handed over to c.
        let b2 = renewal(&b);
        let chain = vec![
            link(&a, &b.cert, true, false),
            link(&b, &c.cert, true, false),
        ];
        let s = state(&a);
        assert_eq!(
            s.judge(&c.cert, Some(&published(chain.clone(), None))),
            Verdict::RolledOver(vec![b.cert.clone(), c.cert.clone()])
        );
        assert!(matches!(
            s.judge(&b2, Some(&published(chain, None))),
            Verdict::RolledOver(_)
        ));
        let _ = a2;
    }

    #[test]
    fn a_compromise_sets_the_flag_which_refuses_even_the_pinned_key_until_verified_by_hand() {
        let (x, z) = (key(), key());
        let mut s = state(&x);
        // The tenant had learned z as a successor (staged), then the SP switched to z marking x
        // compromised: the alarm wins over the learned proof.
        s = s
            .learn(&published(vec![], Some(link(&x, &z.cert, true, false))))
            .unwrap();
        let alarm = published(vec![link(&x, &z.cert, false, true)], None);
        let v = s.judge(&z.cert, Some(&alarm));
        assert_eq!(v, Verdict::Refused(Refusal::Compromised));
        let flagged = s.after(&v).unwrap();
        assert!(flagged.compromised);
        assert_eq!(
            flagged.judge(&x.cert, None),
            Verdict::Refused(Refusal::KeyCompromised)
        );
        let by_hand = TrustState::verified_by_hand(TrustMode::Pinned, z.cert.clone());
        assert_eq!(by_hand.judge(&z.cert, None), Verdict::Pinned);
    }

    #[test]
    fn a_successor_learned_before_a_manual_repin_is_never_followed() {
        let (x, y, z) = (key(), key(), key());
        // An attacker with x announced y; the tenant learned it.
        let s = state(&x)
            .learn(&published(vec![], Some(link(&x, &y.cert, true, false))))
            .unwrap();
        assert!(s.successor().is_some());
        // The user verified z by hand after the compromise.
        let s = TrustState::verified_by_hand(TrustMode::Pinned, z.cert.clone());
        let attacker = published(vec![link(&x, &y.cert, true, false)], None);
        assert_eq!(
            s.judge(&y.cert, Some(&attacker)),
            Verdict::Refused(Refusal::NoProof)
        );
    }

    #[test]
    fn unproven_forged_and_missing_links_are_refused_and_change_nothing() {
        let (a, b, m) = (key(), key(), key());
        let s = state(&a);
        let unproven = published(vec![link(&a, &b.cert, false, false)], None);
        let v = s.judge(&b.cert, Some(&unproven));
        assert_eq!(v, Verdict::Refused(Refusal::Unproven));
        assert_eq!(s.after(&v), None);
        let mut forged = link(&a, &b.cert, true, false);
        forged.proof = link(&m, &b.cert, true, false).proof;
        forged.proof.as_mut().unwrap().from_spki_sha256 = a.cert.fingerprints.spki_sha256;
        assert_eq!(
            s.judge(&b.cert, Some(&published(vec![forged.clone()], None))),
            Verdict::Refused(Refusal::BadProof)
        );
        assert!(s.learn(&published(vec![], Some(forged))).is_none());
        assert_eq!(s.judge(&m.cert, None), Verdict::Refused(Refusal::NoProof));
    }
}
