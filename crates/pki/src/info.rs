//! The one certificate parser: DER in, [`CertificateInfo`] out.
//!
//! Every printer, the store and (later) the verifiers describe a certificate through this value,
//! so that a thumbprint, a subject or a key type is computed in exactly one place.

use std::fmt;
use std::net::IpAddr;

use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use rustls_pki_types::PrivateKeyDer;
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer;

use crate::fingerprint::{Fingerprints, upper_hex};
use crate::{KeyType, PkiError, dn};

/// The algorithm and size of a certificate's public key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PublicKeyKind {
    /// RSA with a modulus of this many bits.
    Rsa {
        /// Modulus size in bits.
        bits: usize,
    },
    /// ECDSA on a named curve (`p256`, `p384`, `p521`, or the curve's OID).
    Ecdsa {
        /// The curve's short name.
        curve: String,
    },
    /// Ed25519.
    Ed25519,
    /// Anything else, by algorithm OID.
    Other {
        /// The algorithm's dotted OID.
        oid: String,
    },
}

impl PublicKeyKind {
    /// The generated key type this is, if it is one cloudgate can generate.
    pub fn key_type(&self) -> Option<KeyType> {
        self.to_string().parse().ok()
    }
}

impl fmt::Display for PublicKeyKind {
    /// Spelled like `--key-type` (`rsa-2048`, `ecdsa-p256`, `ed25519`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PublicKeyKind::Rsa { bits } => write!(f, "rsa-{bits}"),
            PublicKeyKind::Ecdsa { curve } => write!(f, "ecdsa-{curve}"),
            PublicKeyKind::Ed25519 => f.write_str("ed25519"),
            PublicKeyKind::Other { oid } => write!(f, "unknown-{oid}"),
        }
    }
}

/// Everything cloudgate shows or checks about a certificate, parsed once from its DER. Two are
/// equal when their DER is: everything else is derived from it.
#[derive(Clone, Debug)]
pub struct CertificateInfo {
    /// The certificate, DER.
    pub der: Vec<u8>,
    /// Subject, RFC 4514 (`CN=Acme,O=Acme,OU=Acme`).
    pub subject: String,
    /// Subject as the Summary shows it (`CN=Acme, O=Acme, OU=Acme`).
    pub subject_display: String,
    /// Issuer, RFC 4514.
    pub issuer: String,
    /// Issuer as the Summary shows it.
    pub issuer_display: String,
    /// The first common name of the subject, if any.
    pub common_name: Option<String>,
    /// Serial number, uppercase hex without leading zero bytes (as `openssl x509 -serial`).
    pub serial: String,
    /// Start of validity.
    pub not_before: OffsetDateTime,
    /// End of validity.
    pub not_after: OffsetDateTime,
    /// Thumbprint, SHA-256 and public key pin.
    pub fingerprints: Fingerprints,
    /// Public key algorithm and size.
    pub key_kind: PublicKeyKind,
    /// Subject alternative names: DNS names, IP addresses, e-mail addresses and URIs, as text.
    pub sans: Vec<String>,
    /// Whether basicConstraints says CA:TRUE.
    pub is_ca: bool,
    /// Whether subject and issuer are the same name.
    pub is_self_issued: bool,
    /// The SubjectPublicKeyInfo, DER.
    pub spki_der: Vec<u8>,
    /// The subjectPublicKey bits inside the SPKI (what a private key's public half must equal).
    public_key_bits: Vec<u8>,
    signature_algorithm_oid: String,
    tbs_der: Vec<u8>,
    signature: Vec<u8>,
}

impl PartialEq for CertificateInfo {
    fn eq(&self, other: &Self) -> bool {
        self.der == other.der
    }
}

impl Eq for CertificateInfo {}

impl CertificateInfo {
    /// Only what a peer's certificate check needs ([`Usage`]), read by the same parser as
    /// [`Self::from_der`] and refusing the same inputs, without computing the names,
    /// fingerprints and copies (the gateway checks every tenant's certificate at every
    /// handshake: issue 31).
    pub fn usage_of(der: &[u8]) -> Result<Usage, PkiError> {
        let cert = parse(der)?;
        // The extensions `from_der` reads must be readable here too, or the two would disagree.
        cert.subject_alternative_name()
            .map_err(|e| PkiError::InvalidCertificate(e.to_string()))?;
        Ok(Usage {
            is_ca: is_ca(&cert)?,
            not_before: cert.validity().not_before.to_datetime(),
            not_after: cert.validity().not_after.to_datetime(),
        })
    }

    /// Parses a DER X.509 certificate. Trailing bytes after the certificate are refused.
    pub fn from_der(der: &[u8]) -> Result<Self, PkiError> {
        let cert = parse(der)?;
        let der = der.to_vec();
        let spki = cert.public_key();
        let fingerprints = Fingerprints::compute(&der, spki.raw);
        let ca = is_ca(&cert)?;
        let sans = cert
            .subject_alternative_name()
            .map_err(|e| PkiError::InvalidCertificate(e.to_string()))?
            .map(|ext| {
                ext.value
                    .general_names
                    .iter()
                    .filter_map(general_name_text)
                    .collect()
            })
            .unwrap_or_default();
        let serial_bytes = cert.raw_serial();
        let first_nonzero = serial_bytes
            .iter()
            .position(|b| *b != 0)
            .unwrap_or(serial_bytes.len().saturating_sub(1));
        Ok(CertificateInfo {
            subject: dn::rfc4514(cert.subject()),
            subject_display: dn::display(cert.subject()),
            issuer: dn::rfc4514(cert.issuer()),
            issuer_display: dn::display(cert.issuer()),
            common_name: cert
                .subject()
                .iter_common_name()
                .next()
                .and_then(|cn| cn.as_str().ok())
                .map(str::to_string),
            serial: upper_hex(&serial_bytes[first_nonzero..]),
            not_before: cert.validity().not_before.to_datetime(),
            not_after: cert.validity().not_after.to_datetime(),
            key_kind: key_kind(spki),
            sans,
            is_ca: ca,
            is_self_issued: cert.subject().as_raw() == cert.issuer().as_raw(),
            spki_der: spki.raw.to_vec(),
            public_key_bits: spki.subject_public_key.data.to_vec(),
            signature_algorithm_oid: cert.signature_algorithm.algorithm.to_id_string(),
            tbs_der: cert.tbs_certificate.as_ref().to_vec(),
            signature: cert.signature_value.data.to_vec(),
            fingerprints,
            der,
        })
    }

    /// The subjectPublicKey bits inside the SPKI (what signatures are verified with).
    pub(crate) fn public_key_bits(&self) -> &[u8] {
        &self.public_key_bits
    }

    /// Whether the certificate is valid at this time.
    pub fn is_valid_at(&self, t: OffsetDateTime) -> bool {
        self.not_before <= t && t <= self.not_after
    }

    /// Whole days from `t` until the certificate expires (negative once expired).
    pub fn days_left(&self, t: OffsetDateTime) -> i64 {
        let d = self.not_after - t;
        if d.is_negative() {
            -((-d).whole_days()) - 1
        } else {
            d.whole_days()
        }
    }

    /// Whether `issuer` issued this certificate: its subject is this certificate's issuer name
    /// and its key made this certificate's signature.
    pub fn is_issued_by(&self, issuer: &CertificateInfo) -> bool {
        if self.issuer != issuer.subject {
            return false;
        }
        let Some(alg) = verification_algorithm(&self.signature_algorithm_oid, &issuer.key_kind)
        else {
            return false;
        };
        UnparsedPublicKey::new(alg, &issuer.public_key_bits)
            .verify(&self.tbs_der, &self.signature)
            .is_ok()
    }

    /// Whether the certificate's signature verifies with its own public key (a self-signed
    /// certificate that is intact).
    pub fn verify_self_signature(&self) -> bool {
        let Some(alg) = verification_algorithm(&self.signature_algorithm_oid, &self.key_kind)
        else {
            return false;
        };
        UnparsedPublicKey::new(alg, &self.public_key_bits)
            .verify(&self.tbs_der, &self.signature)
            .is_ok()
    }
}

/// Whether a private key (PKCS#8, PKCS#1 or SEC1 DER) is the one for this certificate's public key.
pub fn private_key_matches(cert: &CertificateInfo, key_der: &[u8]) -> Result<bool, PkiError> {
    let key =
        PrivateKeyDer::try_from(key_der).map_err(|e| PkiError::InvalidPrivateKey(e.to_string()))?;
    let pair =
        rcgen::KeyPair::try_from(&key).map_err(|e| PkiError::InvalidPrivateKey(e.to_string()))?;
    use rcgen::PublicKeyData as _;
    Ok(pair.der_bytes() == cert.public_key_bits.as_slice())
}

fn key_kind(spki: &x509_parser::x509::SubjectPublicKeyInfo<'_>) -> PublicKeyKind {
    let alg = spki.algorithm.algorithm.to_id_string();
    match alg.as_str() {
        "1.2.840.113549.1.1.1" => match spki.parsed() {
            Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => PublicKeyKind::Rsa {
                bits: rsa.key_size(),
            },
            _ => PublicKeyKind::Other { oid: alg },
        },
        "1.2.840.10045.2.1" => {
            let curve_oid = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string())
                .unwrap_or_default();
            let curve = match curve_oid.as_str() {
                "1.2.840.10045.3.1.7" => "p256".to_string(),
                "1.3.132.0.34" => "p384".to_string(),
                "1.3.132.0.35" => "p521".to_string(),
                other => other.to_string(),
            };
            PublicKeyKind::Ecdsa { curve }
        }
        "1.3.101.112" => PublicKeyKind::Ed25519,
        _ => PublicKeyKind::Other { oid: alg },
    }
}

fn verification_algorithm(
    sig_oid: &str,
    key: &PublicKeyKind,
) -> Option<&'static dyn VerificationAlgorithm> {
    let curve = match key {
        PublicKeyKind::Ecdsa { curve } => curve.as_str(),
        _ => "",
    };
    Some(match (sig_oid, curve) {
        ("1.2.840.113549.1.1.5", _) => &signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
        ("1.2.840.113549.1.1.11", _) => &signature::RSA_PKCS1_2048_8192_SHA256,
        ("1.2.840.113549.1.1.12", _) => &signature::RSA_PKCS1_2048_8192_SHA384,
        ("1.2.840.113549.1.1.13", _) => &signature::RSA_PKCS1_2048_8192_SHA512,
        ("1.2.840.10045.4.3.2", "p256") => &signature::ECDSA_P256_SHA256_ASN1,
        ("1.2.840.10045.4.3.2", "p384") => &signature::ECDSA_P384_SHA256_ASN1,
        ("1.2.840.10045.4.3.3", "p256") => &signature::ECDSA_P256_SHA384_ASN1,
        ("1.2.840.10045.4.3.3", "p384") => &signature::ECDSA_P384_SHA384_ASN1,
        ("1.2.840.10045.4.3.4", "p521") => &signature::ECDSA_P521_SHA512_ASN1,
        ("1.3.101.112", _) => &signature::ED25519,
        _ => return None,
    })
}

/// What a check of a peer's certificate needs to know of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Its basic constraints say it is a CA.
    pub is_ca: bool,
    /// Valid from.
    pub not_before: OffsetDateTime,
    /// Valid until.
    pub not_after: OffsetDateTime,
}

/// The one X.509 parse: a whole certificate and nothing after it.
fn parse(der: &[u8]) -> Result<X509Certificate<'_>, PkiError> {
    let (rest, cert) =
        X509Certificate::from_der(der).map_err(|e| PkiError::InvalidCertificate(e.to_string()))?;
    if !rest.is_empty() {
        return Err(PkiError::InvalidCertificate(format!(
            "{} unexpected bytes after the certificate",
            rest.len()
        )));
    }
    Ok(cert)
}

/// Whether the basic constraints say CA (an unreadable extension refuses the certificate).
fn is_ca(cert: &X509Certificate<'_>) -> Result<bool, PkiError> {
    let basic = cert
        .basic_constraints()
        .map_err(|e| PkiError::InvalidCertificate(e.to_string()))?;
    Ok(basic.is_some_and(|b| b.value.ca))
}

fn general_name_text(name: &GeneralName<'_>) -> Option<String> {
    match name {
        GeneralName::DNSName(s) | GeneralName::RFC822Name(s) | GeneralName::URI(s) => {
            Some((*s).to_string())
        }
        GeneralName::IPAddress(bytes) => match bytes.len() {
            4 => Some(IpAddr::from(<[u8; 4]>::try_from(*bytes).ok()?).to_string()),
            16 => Some(IpAddr::from(<[u8; 16]>::try_from(*bytes).ok()?).to_string()),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_refused() {
        assert!(matches!(
            CertificateInfo::from_der(b"not a certificate"),
            Err(PkiError::InvalidCertificate(_))
        ));
        assert!(CertificateInfo::from_der(&[]).is_err());
    }

    #[test]
    fn truncated_der_is_refused() {
        let g = crate::generate_self_signed(&crate::SelfSignedRequest {
            key_type: KeyType::EcdsaP256,
            subject: crate::dn::SubjectName::for_licensee("T"),
            sans: vec![],
            valid_days: 1,
            now: OffsetDateTime::now_utc(),
        })
        .unwrap();
        for cut in [1, 10, g.cert_der.len() / 2, g.cert_der.len() - 1] {
            assert!(
                CertificateInfo::from_der(&g.cert_der[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        let mut extra = g.cert_der.clone();
        extra.push(0);
        assert!(CertificateInfo::from_der(&extra).is_err());
        assert!(CertificateInfo::usage_of(&extra).is_err());
        for cut in 0..g.cert_der.len() {
            assert!(
                CertificateInfo::usage_of(&g.cert_der[..cut]).is_err(),
                "usage_of must refuse what from_der refuses (cut at {cut})"
            );
        }
        let info = CertificateInfo::from_der(&g.cert_der).unwrap();
        let usage = CertificateInfo::usage_of(&g.cert_der).unwrap();
        assert_eq!(
            usage,
            Usage {
                is_ca: info.is_ca,
                not_before: info.not_before,
                not_after: info.not_after
            }
        );
    }

    #[test]
    fn days_left_rounds_towards_expiry() {
        let g = crate::generate_self_signed(&crate::SelfSignedRequest {
            key_type: KeyType::EcdsaP256,
            subject: crate::dn::SubjectName::for_licensee("T"),
            sans: vec![],
            valid_days: 10,
            now: OffsetDateTime::now_utc(),
        })
        .unwrap();
        let info = CertificateInfo::from_der(&g.cert_der).unwrap();
        let now = OffsetDateTime::now_utc();
        assert!((9..=10).contains(&info.days_left(now)));
        assert!(info.days_left(now + time::Duration::days(11)) < 0);
        assert!(info.is_valid_at(now));
        assert!(!info.is_valid_at(now + time::Duration::days(11)));
    }
}
