//! Rollover proofs: the SP's *current* key signs the SHA-256 of its successor certificate, so a
//! tenant that pinned the current certificate can accept the successor without asking, and never
//! accepts a new certificate without either this proof or manual verification.
//!
//! Signed bytes, version 1 (all fixed-size, no ambiguity):
//!
//! ```text
//! "cloudgate-rollover-v1\n"            22 bytes of ASCII
//! SHA-256 of the current certificate   32 bytes
//! SHA-256 of the successor certificate 32 bytes
//! signing time, Unix seconds           8 bytes, big-endian, signed
//! ```
//!
//! The signature is made with the current certificate's key: RSA PKCS#1 v1.5 with SHA-256,
//! ECDSA (ASN.1 DER) with SHA-256 on P-256 or SHA-384 on P-384, or Ed25519.

use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rcgen::{KeyPair, SigningKey as _};
use rustls_pki_types::PrivateKeyDer;
use serde_json::json;
use time::OffsetDateTime;

use crate::fingerprint::upper_hex;
use crate::{CertificateInfo, PkiError, PublicKeyKind, private_key_matches};

/// The domain-separation prefix of version 1.
pub const CONTEXT_V1: &[u8] = b"cloudgate-rollover-v1\n";

/// A signed statement "the holder of `from` hands over to `to`".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RolloverProof {
    /// Format version (1).
    pub version: u32,
    /// SHA-256 of the certificate whose key signed.
    pub from_sha256: [u8; 32],
    /// SHA-256 of the successor certificate.
    pub to_sha256: [u8; 32],
    /// When it was signed, Unix seconds.
    pub signed_at: i64,
    /// The signature over [`signed_bytes`].
    pub signature: Vec<u8>,
}

/// The exact bytes a version 1 proof signs.
pub fn signed_bytes(from: &[u8; 32], to: &[u8; 32], signed_at: i64) -> Vec<u8> {
    let mut b = Vec::with_capacity(CONTEXT_V1.len() + 72);
    b.extend_from_slice(CONTEXT_V1);
    b.extend_from_slice(from);
    b.extend_from_slice(to);
    b.extend_from_slice(&signed_at.to_be_bytes());
    b
}

/// Signs a handover from `from` (whose private key is `from_key_der`) to the certificate with
/// SHA-256 `to_sha256`.
pub fn sign_rollover(
    from: &CertificateInfo,
    from_key_der: &[u8],
    to_sha256: [u8; 32],
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
    let bytes = signed_bytes(&from.fingerprints.sha256, &to_sha256, signed_at);
    let signature = key
        .sign(&bytes)
        .map_err(|e| PkiError::Signing(e.to_string()))?;
    Ok(RolloverProof {
        version: 1,
        from_sha256: from.fingerprints.sha256,
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
    /// Whether this proof hands over from `pinned` to the certificate with SHA-256 `to`, signed
    /// by `pinned`'s key.
    pub fn verifies(&self, pinned: &CertificateInfo, to: &[u8; 32]) -> bool {
        if self.version != 1
            || self.from_sha256 != pinned.fingerprints.sha256
            || &self.to_sha256 != to
        {
            return false;
        }
        let Some(alg) = algorithm(&pinned.key_kind) else {
            return false;
        };
        let bytes = signed_bytes(&self.from_sha256, &self.to_sha256, self.signed_at);
        UnparsedPublicKey::new(alg, pinned.public_key_bits())
            .verify(&bytes, &self.signature)
            .is_ok()
    }

    /// The JSON form published by the gateway.
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "version": self.version,
            "from_sha256": upper_hex(&self.from_sha256),
            "to_sha256": upper_hex(&self.to_sha256),
            "signed_at": self.signed_at,
            "signature": BASE64.encode(&self.signature),
        })
    }

    /// Reads the JSON form; `None` for anything malformed.
    pub fn from_json(v: &serde_json::Value) -> Option<Self> {
        let hex32 = |s: &str| -> Option<[u8; 32]> {
            if s.len() != 64 {
                return None;
            }
            let bytes: Option<Vec<u8>> = (0..32)
                .map(|i| u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok())
                .collect();
            bytes?.try_into().ok()
        };
        Some(RolloverProof {
            version: u32::try_from(v["version"].as_u64()?).ok()?,
            from_sha256: hex32(v["from_sha256"].as_str()?)?,
            to_sha256: hex32(v["to_sha256"].as_str()?)?,
            signed_at: v["signed_at"].as_i64()?,
            signature: BASE64.decode(v["signature"].as_str()?).ok()?,
        })
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
            let to = successor.fingerprints.sha256;
            let proof = sign_rollover(&current, &key, to, OffsetDateTime::now_utc()).unwrap();
            assert!(proof.verifies(&current, &to), "{kt}");
            let round = RolloverProof::from_json(&proof.to_json()).unwrap();
            assert_eq!(round, proof);
            // Another successor, another signer, a changed byte: all refused.
            assert!(!proof.verifies(&current, &current.fingerprints.sha256));
            let (stranger, stranger_key) = cert(kt);
            assert!(!proof.verifies(&stranger, &to));
            let mut forged =
                sign_rollover(&stranger, &stranger_key, to, OffsetDateTime::now_utc()).unwrap();
            forged.from_sha256 = current.fingerprints.sha256;
            assert!(
                !forged.verifies(&current, &to),
                "{kt}: signed by another key"
            );
            let mut tampered = proof.clone();
            tampered.signed_at += 1;
            assert!(!tampered.verifies(&current, &to));
        }
    }
}
