//! Building a self-signed certificate and its private key.
//!
//! Everything the reference product leaves implicit is set explicitly here: the validity window,
//! a random positive serial, the basic constraints, key usages and the subject key identifier.

use rcgen::{
    CertificateParams, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, RsaKeySize,
    SerialNumber,
};
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

use crate::dn::SubjectName;
use crate::san::SubjectAltName;
use crate::{KeyType, PkiError};

/// The longest validity accepted, in days (ten years). Longer lifetimes only postpone the day a
/// forgotten certificate breaks every tenant.
pub const MAX_VALID_DAYS: u32 = 3650;

/// How far the validity start is set back, so a tenant whose clock runs a little slow does not
/// see a certificate that is not yet valid.
const BACKDATE: Duration = Duration::minutes(5);

/// What to put in a new self-signed certificate.
#[derive(Clone, Debug)]
pub struct SelfSignedRequest {
    /// The key to generate.
    pub key_type: KeyType,
    /// Subject (and issuer, since the certificate is self-signed).
    pub subject: SubjectName,
    /// Subject alternative names.
    pub sans: Vec<SubjectAltName>,
    /// Days of validity from now, 1 to [`MAX_VALID_DAYS`].
    pub valid_days: u32,
    /// The current time.
    pub now: OffsetDateTime,
}

/// A new certificate and its private key.
pub struct GeneratedCertificate {
    /// The certificate, DER.
    pub cert_der: Vec<u8>,
    /// The private key, PKCS#8 v1 DER (v1 so that OpenSSL 3.0 reads Ed25519 keys too).
    pub key_pkcs8_der: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for GeneratedCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratedCertificate")
            .field("cert_der", &format_args!("{} bytes", self.cert_der.len()))
            .field("key_pkcs8_der", &"<redacted>")
            .finish()
    }
}

/// Checks a validity period in days.
pub fn check_valid_days(days: u32) -> Result<(), PkiError> {
    match days {
        0 => Err(PkiError::InvalidValidity {
            days,
            reason: "a certificate must be valid for at least one day",
        }),
        d if d > MAX_VALID_DAYS => Err(PkiError::InvalidValidity {
            days,
            reason: "the maximum is 3650 days (ten years); renew instead of issuing for longer",
        }),
        _ => Ok(()),
    }
}

/// Generates a key of the requested type and a self-signed certificate for it.
pub fn generate_self_signed(req: &SelfSignedRequest) -> Result<GeneratedCertificate, PkiError> {
    check_valid_days(req.valid_days)?;
    let key = generate_key(req.key_type)?;
    sign(
        &key,
        &req.subject,
        &req.sans,
        req.valid_days,
        req.now,
        req.key_type.is_rsa(),
    )
}

/// Issues a new self-signed certificate for the key, subject and SANs of an existing one: a new
/// serial and validity, nothing else changed, so tenants that pinned the old one recognise the
/// renewal by its public key and subject.
pub fn renew_self_signed(
    old: &crate::CertificateInfo,
    key_der: &[u8],
    valid_days: u32,
    now: OffsetDateTime,
) -> Result<GeneratedCertificate, PkiError> {
    check_valid_days(valid_days)?;
    if !old.is_self_issued {
        return Err(PkiError::Unsuitable(
            "it was issued by a CA; renew it with that CA and import the new certificate".into(),
        ));
    }
    if !crate::private_key_matches(old, key_der)? {
        return Err(PkiError::KeyMismatch);
    }
    let subject = SubjectName::parse(&old.subject_display).map_err(|e| {
        PkiError::Unsuitable(format!(
            "its subject cannot be carried over ({e}); generate a new certificate instead"
        ))
    })?;
    let sans = old
        .sans
        .iter()
        .map(|s| SubjectAltName::parse(s))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PkiError::Unsuitable(format!("its names cannot be carried over ({e})")))?;
    let key = rustls_pki_types::PrivateKeyDer::try_from(key_der)
        .map_err(|e| PkiError::InvalidPrivateKey(e.to_string()))
        .and_then(|k| {
            KeyPair::try_from(&k).map_err(|e| PkiError::InvalidPrivateKey(e.to_string()))
        })?;
    let is_rsa = matches!(old.key_kind, crate::PublicKeyKind::Rsa { .. });
    let mut renewed = sign(&key, &subject, &sans, valid_days, now, is_rsa)?;
    renewed.key_pkcs8_der = Zeroizing::new(key_der.to_vec());
    Ok(renewed)
}

fn sign(
    key: &KeyPair,
    subject: &SubjectName,
    sans: &[SubjectAltName],
    valid_days: u32,
    now: OffsetDateTime,
    is_rsa: bool,
) -> Result<GeneratedCertificate, PkiError> {
    let mut params = CertificateParams::default();
    params.distinguished_name = subject.to_rcgen();
    params.subject_alt_names = sans
        .iter()
        .map(SubjectAltName::to_rcgen)
        .collect::<Result<_, _>>()?;
    let now = now.replace_nanosecond(0).unwrap_or(now);
    params.not_before = now - BACKDATE;
    params.not_after = now + Duration::days(i64::from(valid_days));
    params.serial_number = Some(random_serial()?);
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    if is_rsa {
        params.key_usages.push(KeyUsagePurpose::KeyEncipherment);
    }
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.key_identifier_method = rcgen::KeyIdMethod::Sha256;
    let cert = params
        .self_signed(key)
        .map_err(|e| PkiError::Signing(e.to_string()))?;
    Ok(GeneratedCertificate {
        cert_der: cert.der().to_vec(),
        key_pkcs8_der: Zeroizing::new(key.serialize_der()),
    })
}

pub(crate) fn generate_key(key_type: KeyType) -> Result<KeyPair, PkiError> {
    let gen_err = |e: rcgen::Error| PkiError::KeyGeneration(e.to_string());
    match key_type {
        KeyType::Rsa2048 => {
            KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_2048).map_err(gen_err)
        }
        KeyType::Rsa3072 => {
            KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_3072).map_err(gen_err)
        }
        KeyType::Rsa4096 => {
            KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_4096).map_err(gen_err)
        }
        KeyType::EcdsaP256 => {
            KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(gen_err)
        }
        KeyType::EcdsaP384 => {
            KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).map_err(gen_err)
        }
        KeyType::Ed25519 => {
            // aws-lc-rs writes PKCS#8 v2 by default, which OpenSSL 3.0 cannot read: ask for v1.
            let pair = aws_lc_rs::signature::Ed25519KeyPair::generate()
                .map_err(|_| PkiError::KeyGeneration("Ed25519 key generation failed".into()))?;
            let v1 = pair
                .to_pkcs8v1()
                .map_err(|_| PkiError::KeyGeneration("Ed25519 PKCS#8 encoding failed".into()))?;
            let der = Zeroizing::new(v1.as_ref().to_vec());
            let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(der.as_slice()));
            KeyPair::from_der_and_sign_algo(&key, &rcgen::PKCS_ED25519).map_err(gen_err)
        }
    }
}

/// A random positive serial of 127 bits, with a non-zero first byte so that it always encodes in
/// 16 bytes.
fn random_serial() -> Result<SerialNumber, PkiError> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes)
        .map_err(|_| PkiError::KeyGeneration("the random generator failed".into()))?;
    bytes[0] &= 0x7F;
    if bytes[0] == 0 {
        bytes[0] = 0x01;
    }
    Ok(SerialNumber::from_slice(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CertificateInfo;

    fn request(key_type: KeyType) -> SelfSignedRequest {
        SelfSignedRequest {
            key_type,
            subject: SubjectName::parse("CN=Acme, O=Acme, OU=Acme").unwrap(),
            sans: vec![
                SubjectAltName::parse("backup.example.com").unwrap(),
                SubjectAltName::parse("192.0.2.1").unwrap(),
            ],
            valid_days: 365,
            now: OffsetDateTime::now_utc(),
        }
    }

    #[test]
    fn every_key_type_yields_a_matching_pair() {
        for kt in [
            KeyType::Rsa2048,
            KeyType::EcdsaP256,
            KeyType::EcdsaP384,
            KeyType::Ed25519,
        ] {
            let g = generate_self_signed(&request(kt)).unwrap();
            let info = CertificateInfo::from_der(&g.cert_der).unwrap();
            assert_eq!(info.key_kind.to_string(), kt.as_str());
            assert!(
                crate::private_key_matches(&info, &g.key_pkcs8_der).unwrap(),
                "{kt}"
            );
            assert_eq!(info.subject, "CN=Acme,O=Acme,OU=Acme");
            assert_eq!(info.issuer, info.subject);
            assert!(!info.is_ca);
            assert_eq!(
                info.sans,
                vec!["backup.example.com".to_string(), "192.0.2.1".to_string()]
            );
            assert_eq!(info.serial.len(), 32);
            assert!(info.serial.as_bytes()[0] <= b'7');
            assert!(info.verify_self_signature(), "{kt}");
            let days = (info.not_after - info.not_before).whole_days();
            assert_eq!(days, 365);
        }
    }

    #[test]
    fn a_key_does_not_match_another_certificate() {
        let a = generate_self_signed(&request(KeyType::EcdsaP256)).unwrap();
        let b = generate_self_signed(&request(KeyType::EcdsaP256)).unwrap();
        let info_a = CertificateInfo::from_der(&a.cert_der).unwrap();
        assert!(!crate::private_key_matches(&info_a, &b.key_pkcs8_der).unwrap());
        assert_ne!(a.cert_der, b.cert_der);
    }

    #[test]
    fn validity_limits() {
        assert!(check_valid_days(0).is_err());
        assert!(check_valid_days(1).is_ok());
        assert!(check_valid_days(MAX_VALID_DAYS).is_ok());
        assert!(check_valid_days(MAX_VALID_DAYS + 1).is_err());
        let mut r = request(KeyType::EcdsaP256);
        r.valid_days = 0;
        assert!(matches!(
            generate_self_signed(&r),
            Err(PkiError::InvalidValidity { .. })
        ));
    }

    #[test]
    fn renewal_keeps_key_subject_and_names() {
        for kt in [KeyType::Rsa2048, KeyType::EcdsaP384, KeyType::Ed25519] {
            let g = generate_self_signed(&request(kt)).unwrap();
            let old = CertificateInfo::from_der(&g.cert_der).unwrap();
            let r =
                renew_self_signed(&old, &g.key_pkcs8_der, 30, OffsetDateTime::now_utc()).unwrap();
            let new = CertificateInfo::from_der(&r.cert_der).unwrap();
            assert_eq!(
                new.fingerprints.spki_sha256, old.fingerprints.spki_sha256,
                "{kt}"
            );
            assert_eq!(new.subject, old.subject);
            assert_eq!(new.sans, old.sans);
            assert_ne!(new.serial, old.serial);
            assert_ne!(new.fingerprints.sha256, old.fingerprints.sha256);
            assert!(crate::private_key_matches(&new, &r.key_pkcs8_der).unwrap());
            assert!(new.verify_self_signature(), "{kt}");
        }
        let g = generate_self_signed(&request(KeyType::EcdsaP256)).unwrap();
        let other = generate_self_signed(&request(KeyType::EcdsaP256)).unwrap();
        let old = CertificateInfo::from_der(&g.cert_der).unwrap();
        assert!(matches!(
            renew_self_signed(&old, &other.key_pkcs8_der, 30, OffsetDateTime::now_utc()),
            Err(PkiError::KeyMismatch)
        ));
    }

    #[test]
    fn debug_never_shows_the_key() {
        let g = generate_self_signed(&request(KeyType::EcdsaP256)).unwrap();
        assert!(format!("{g:?}").contains("<redacted>"));
    }
}
