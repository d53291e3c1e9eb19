//! Rollover proofs and the chain of them: how a tenant that pinned one key of the SP can follow
//! the SP to a new key without asking, and never to a key the SP did not hand over to.
//!
//! A proof is signed by the SP's *previous key* and names that key (its SubjectPublicKeyInfo
//! SHA-256) and the *next certificate* (its SHA-256). Binding the key, not the previous
//! certificate, lets a tenant that slept through a renewal (same key, new certificate) still
//! verify the proof against the key it pinned. Signed bytes, version 2 (all fixed-size):
//!
//! ```text
//! "cloudgate-rollover-v2\n"                       22 bytes of ASCII
//! SHA-256 of the previous key's SPKI (DER)        32 bytes
//! SHA-256 of the next certificate (DER)           32 bytes
//! signing time, Unix seconds                      8 bytes, big-endian, signed
//! ```
//!
//! The signature is made with the previous key: RSA PKCS#1 v1.5 with SHA-256, ECDSA (ASN.1 DER)
//! with SHA-256 on P-256 or SHA-384 on P-384, or Ed25519.
//!
//! The gateway publishes the SP's key changes as a [`ChainLink`] list, oldest first, bounded to
//! [`MAX_CHAIN_LINKS`]; a tenant walks it from its pinned key ([`walk`]), one verified link at a
//! time (the idea of TUF's root rotation). A link without a proof (the SP switched keys without
//! handing over) or marked compromised ends the walk: the tenant must verify by hand.

use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rcgen::{KeyPair, SigningKey as _};
use rustls_pki_types::PrivateKeyDer;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::fingerprint::upper_hex;
use crate::{CertificateInfo, PkiError, PublicKeyKind, private_key_matches};

/// The domain-separation prefix of version 2.
pub const CONTEXT_V2: &[u8] = b"cloudgate-rollover-v2\n";

/// How many key changes the gateway publishes: a tenant offline across more than this many key
/// changes verifies by hand. Renewals (same key) cost no link.
pub const MAX_CHAIN_LINKS: usize = 16;

/// A signed statement "the holder of the key `from_spki_sha256` hands over to the certificate
/// `to_sha256`".
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "ProofWire", into = "ProofWire")]
pub struct RolloverProof {
    /// SHA-256 of the SubjectPublicKeyInfo of the key that signed.
    pub from_spki_sha256: [u8; 32],
    /// SHA-256 of the successor certificate.
    pub to_sha256: [u8; 32],
    /// When it was signed, Unix seconds.
    pub signed_at: i64,
    /// The signature over [`signed_bytes`].
    pub signature: Vec<u8>,
}

/// The JSON form: hex digests, base64 signature, an explicit version.
#[derive(Serialize, Deserialize)]
struct ProofWire {
    version: u32,
    from_spki_sha256: String,
    to_sha256: String,
    signed_at: i64,
    signature: String,
}

/// Decodes 64 hex digits (either case) into a digest.
pub fn parse_hex32(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

impl TryFrom<ProofWire> for RolloverProof {
    type Error = String;
    fn try_from(w: ProofWire) -> Result<Self, String> {
        if w.version != 2 {
            return Err(format!("unsupported rollover proof version {}", w.version));
        }
        Ok(RolloverProof {
            from_spki_sha256: parse_hex32(&w.from_spki_sha256)
                .ok_or("from_spki_sha256 is not 64 hex digits")?,
            to_sha256: parse_hex32(&w.to_sha256).ok_or("to_sha256 is not 64 hex digits")?,
            signed_at: w.signed_at,
            signature: BASE64
                .decode(&w.signature)
                .map_err(|e| format!("signature is not base64: {e}"))?,
        })
    }
}

impl From<RolloverProof> for ProofWire {
    fn from(p: RolloverProof) -> Self {
        ProofWire {
            version: 2,
            from_spki_sha256: upper_hex(&p.from_spki_sha256),
            to_sha256: upper_hex(&p.to_sha256),
            signed_at: p.signed_at,
            signature: BASE64.encode(&p.signature),
        }
    }
}

/// The exact bytes a version 2 proof signs.
pub fn signed_bytes(from_spki: &[u8; 32], to: &[u8; 32], signed_at: i64) -> Vec<u8> {
    let mut b = Vec::with_capacity(CONTEXT_V2.len() + 72);
    b.extend_from_slice(CONTEXT_V2);
    b.extend_from_slice(from_spki);
    b.extend_from_slice(to);
    b.extend_from_slice(&signed_at.to_be_bytes());
    b
}

/// Signs a handover from the key of `from` (whose private key is `from_key_der`) to the
/// certificate `to`.
pub fn sign_rollover(
    from: &CertificateInfo,
    from_key_der: &[u8],
    to: &CertificateInfo,
    now: OffsetDateTime,
) -> Result<RolloverProof, PkiError> {
    if !private_key_matches(from, from_key_der)? {
        return Err(PkiError::KeyMismatch);
    }
    let key = PrivateKeyDer::try_from(from_key_der)
        .map_err(|e| PkiError::InvalidPrivateKey(e.to_string()))
        .and_then(|k| {
            KeyPair::try_from(&k).map_err(|e| PkiError::InvalidPrivateKey(e.to_string()))
        })?;
    let signed_at = now.unix_timestamp();
    let from_spki = from.fingerprints.spki_sha256;
    let to_sha256 = to.fingerprints.sha256;
    let signature = key
        .sign(&signed_bytes(&from_spki, &to_sha256, signed_at))
        .map_err(|e| PkiError::Signing(e.to_string()))?;
    Ok(RolloverProof {
        from_spki_sha256: from_spki,
        to_sha256,
        signed_at,
        signature,
    })
}

fn algorithm(kind: &PublicKeyKind) -> Option<&'static dyn VerificationAlgorithm> {
    Some(match kind {
        PublicKeyKind::Rsa { .. } => &signature::RSA_PKCS1_2048_8192_SHA256,
        PublicKeyKind::Ecdsa { curve } if curve == "p256" => &signature::ECDSA_P256_SHA256_ASN1,
        PublicKeyKind::Ecdsa { curve } if curve == "p384" => &signature::ECDSA_P384_SHA384_ASN1,
        PublicKeyKind::Ed25519 => &signature::ED25519,
        _ => return None,
    })
}

impl RolloverProof {
    /// Whether this proof hands over from the key of `signer` (any certificate carrying that
    /// key) to the certificate `to`, and was signed by that key.
    pub fn verifies(&self, signer: &CertificateInfo, to: &CertificateInfo) -> bool {
        if self.from_spki_sha256 != signer.fingerprints.spki_sha256
            || self.to_sha256 != to.fingerprints.sha256
        {
            return false;
        }
        let Some(alg) = algorithm(&signer.key_kind) else {
            return false;
        };
        let bytes = signed_bytes(&self.from_spki_sha256, &self.to_sha256, self.signed_at);
        UnparsedPublicKey::new(alg, signer.public_key_bits())
            .verify(&bytes, &self.signature)
            .is_ok()
    }
}

/// One key change of the SP, as published by the gateway and kept by tenants: from the key
/// `from_spki_sha256` to the certificate `certificate_pem`, handed over by `proof` — or, without
/// one, a switch tenants must verify by hand (`compromised` says the old key is not to be
/// trusted for anything any more).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainLink {
    /// SHA-256 (uppercase hex) of the SubjectPublicKeyInfo of the key handing over.
    pub from_spki_sha256: String,
    /// The certificate handed over to, PEM.
    pub certificate_pem: String,
    /// The proof signed by the previous key; absent when the SP switched without one.
    pub proof: Option<RolloverProof>,
    /// The SP marked the previous key compromised: nothing it signed is followed.
    pub compromised: bool,
}

impl ChainLink {
    /// The certificate handed over to, parsed.
    pub fn certificate(&self) -> Result<CertificateInfo, PkiError> {
        let der = crate::pem::decode_certificates(self.certificate_pem.as_bytes())?
            .into_iter()
            .next()
            .ok_or_else(|| {
                PkiError::InvalidCertificate("a chain link has no certificate".into())
            })?;
        CertificateInfo::from_der(&der)
    }

    /// The key this link hands over from.
    pub fn from_spki(&self) -> Option<[u8; 32]> {
        parse_hex32(&self.from_spki_sha256)
    }
}

/// Where walking the chain from a trusted key to a presented certificate ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Walk {
    /// Every link on the way verified; the certificates reached, in order (the last one carries
    /// the presented key).
    Reached(Vec<CertificateInfo>),
    /// A link on the way is marked compromised: verify by hand.
    Compromised {
        /// SHA-256 (hex) of the key the SP marked compromised.
        from_spki_sha256: String,
    },
    /// A link on the way has no proof: the SP switched keys without handing over.
    Unproven {
        /// SHA-256 (hex) of the key that was replaced without a proof.
        from_spki_sha256: String,
    },
    /// A link on the way carries a proof that does not verify (tampered or forged).
    BadProof {
        /// SHA-256 (hex) of the key the proof claims to come from.
        from_spki_sha256: String,
    },
    /// No link leads from the trusted key (or from where the walk got to) onwards.
    Gap,
}

/// Walks `links` from the key of `trusted` to the key of `presented`. At each step the links
/// that leave the current key are looked at: a compromised one ends the walk (whatever else is
/// offered, so a stolen key's own handovers cannot outvote the SP's alarm), then one with a
/// proof that verifies is followed. The walk never revisits a key and takes at most
/// `links.len()` steps.
pub fn walk(trusted: &CertificateInfo, links: &[ChainLink], presented: &CertificateInfo) -> Walk {
    let target = presented.fingerprints.spki_sha256;
    let mut current = trusted.clone();
    let mut reached = Vec::new();
    let mut visited = vec![current.fingerprints.spki_sha256];
    for _ in 0..links.len() {
        if current.fingerprints.spki_sha256 == target && !reached.is_empty() {
            return Walk::Reached(reached);
        }
        let here = current.fingerprints.spki_sha256;
        let leaving: Vec<&ChainLink> = links
            .iter()
            .filter(|l| l.from_spki() == Some(here))
            .collect();
        let here_hex = upper_hex(&here);
        if leaving.iter().any(|l| l.compromised) {
            return Walk::Compromised {
                from_spki_sha256: here_hex,
            };
        }
        let mut next = None;
        let mut saw_bad = false;
        let mut saw_unproven = false;
        for link in &leaving {
            let Some(proof) = &link.proof else {
                saw_unproven = true;
                continue;
            };
            match link.certificate() {
                Ok(to) if proof.verifies(&current, &to) => {
                    if !visited.contains(&to.fingerprints.spki_sha256) {
                        next = Some(to);
                        break;
                    }
                }
                _ => saw_bad = true,
            }
        }
        match next {
            Some(to) => {
                visited.push(to.fingerprints.spki_sha256);
                reached.push(to.clone());
                current = to;
            }
            None if saw_bad => {
                return Walk::BadProof {
                    from_spki_sha256: here_hex,
                };
            }
            None if saw_unproven => {
                return Walk::Unproven {
                    from_spki_sha256: here_hex,
                };
            }
            None => return Walk::Gap,
        }
    }
    if current.fingerprints.spki_sha256 == target && !reached.is_empty() {
        Walk::Reached(reached)
    } else {
        Walk::Gap
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dn::SubjectName;
    use crate::{KeyType, SelfSignedRequest, generate_self_signed};

    fn cert(kt: KeyType) -> (CertificateInfo, Vec<u8>) {
        let g = generate_self_signed(&SelfSignedRequest {
            key_type: kt,
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

    fn renewed(c: &CertificateInfo, key: &[u8]) -> CertificateInfo {
        let r = crate::renew_self_signed(c, key, 30, OffsetDateTime::now_utc()).unwrap();
        CertificateInfo::from_der(&r.cert_der).unwrap()
    }

    fn link(from: &CertificateInfo, key: &[u8], to: &CertificateInfo) -> ChainLink {
        ChainLink {
            from_spki_sha256: upper_hex(&from.fingerprints.spki_sha256),
            certificate_pem: crate::pem::encode_certificate(&to.der),
            proof: Some(sign_rollover(from, key, to, OffsetDateTime::now_utc()).unwrap()),
            compromised: false,
        }
    }

    #[test]
    fn proofs_verify_for_every_key_type_and_nothing_else() {
        for kt in [
            KeyType::Rsa2048,
            KeyType::EcdsaP256,
            KeyType::EcdsaP384,
            KeyType::Ed25519,
        ] {
            let (current, key) = cert(kt);
            let (successor, _) = cert(KeyType::EcdsaP256);
            let proof =
                sign_rollover(&current, &key, &successor, OffsetDateTime::now_utc()).unwrap();
            assert!(proof.verifies(&current, &successor), "{kt}");
            let round: RolloverProof =
                serde_json::from_value(serde_json::to_value(&proof).unwrap()).unwrap();
            assert_eq!(round, proof);
            // Another successor, another signer, a changed byte: all refused.
            assert!(!proof.verifies(&current, &current));
            let (stranger, stranger_key) = cert(kt);
            assert!(!proof.verifies(&stranger, &successor));
            let mut forged = sign_rollover(
                &stranger,
                &stranger_key,
                &successor,
                OffsetDateTime::now_utc(),
            )
            .unwrap();
            forged.from_spki_sha256 = current.fingerprints.spki_sha256;
            assert!(
                !forged.verifies(&current, &successor),
                "{kt}: signed by another key"
            );
            let mut tampered = proof.clone();
            tampered.signed_at += 1;
            assert!(!tampered.verifies(&current, &successor));
        }
    }

    #[test]
    fn a_proof_binds_the_key_so_a_renewal_of_the_signer_still_verifies_it() {
        let (c1, k1) = cert(KeyType::EcdsaP256);
        let c2 = renewed(&c1, &k1);
        assert_ne!(c1.fingerprints.sha256, c2.fingerprints.sha256);
        let (c3, _) = cert(KeyType::EcdsaP256);
        let proof = sign_rollover(&c2, &k1, &c3, OffsetDateTime::now_utc()).unwrap();
        assert!(
            proof.verifies(&c1, &c3),
            "pinned C1, proof made while C2 was in use"
        );
    }

    #[test]
    fn an_old_version_is_refused_when_read() {
        let v1 = serde_json::json!({"version": 1, "from_spki_sha256": "00".repeat(32),
            "to_sha256": "00".repeat(32), "signed_at": 0, "signature": ""});
        assert!(serde_json::from_value::<RolloverProof>(v1).is_err());
    }

    #[test]
    fn the_walk_follows_verified_links_and_stops_at_every_kind_of_break() {
        let (a, ka) = cert(KeyType::EcdsaP256);
        let (b, kb) = cert(KeyType::EcdsaP256);
        let (c, _) = cert(KeyType::EcdsaP256);
        let b_renewed = renewed(&b, &kb);
        let chain = vec![link(&a, &ka, &b), link(&b_renewed, &kb, &c)];
        assert_eq!(
            walk(&a, &chain, &c),
            Walk::Reached(vec![b.clone(), c.clone()])
        );
        assert_eq!(walk(&a, &chain, &b_renewed), Walk::Reached(vec![b.clone()]));
        assert_eq!(walk(&b, &chain, &c), Walk::Reached(vec![c.clone()]));
        // Nothing leads from c, and nothing to a stranger.
        let (stranger, _) = cert(KeyType::EcdsaP256);
        assert_eq!(walk(&c, &chain, &a), Walk::Gap);
        assert_eq!(walk(&a, &chain, &stranger), Walk::Gap);
        // A gap in the middle.
        assert_eq!(walk(&a, &chain[1..], &c), Walk::Gap);
        // A tampered link.
        let mut tampered = chain.clone();
        tampered[1].proof.as_mut().unwrap().signature[3] ^= 1;
        assert!(matches!(walk(&a, &tampered, &c), Walk::BadProof { .. }));
        // A link signed by the wrong key.
        let mut forged = chain.clone();
        assert!(sign_rollover(&stranger, &ka, &c, OffsetDateTime::now_utc()).is_err());
        let (_, kx) = cert(KeyType::EcdsaP256);
        let mut wrong_signer = link(&b, &kb, &c);
        wrong_signer.proof = Some(RolloverProof {
            signature: sign_rollover(&stranger, &kx, &c, OffsetDateTime::now_utc())
                .map(|p| p.signature)
                .unwrap_or_default(),
            ..wrong_signer.proof.clone().unwrap()
        });
        forged[1] = wrong_signer;
        assert!(matches!(walk(&a, &forged, &c), Walk::BadProof { .. }));
        // A compromised link wins over a valid one from the same key.
        let mut alarm = chain.clone();
        alarm.push(ChainLink {
            proof: None,
            compromised: true,
            ..link(&b, &kb, &c)
        });
        assert!(matches!(walk(&a, &alarm, &c), Walk::Compromised { .. }));
        // A switch without a proof.
        let mut unproven = chain.clone();
        unproven[1].proof = None;
        assert!(matches!(walk(&a, &unproven, &c), Walk::Unproven { .. }));
    }
}
