//! Reading a certificate with its private key from whatever file an SP brings: PKCS#12, PEM
//! (certificate and key in one file, or a separate key file; PKCS#1, PKCS#8 or SEC1 keys) or DER,
//! and deciding whether it may serve as the SP certificate.

use aws_lc_rs::encoding::AsDer as _;
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject as _;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::pkcs12::{build_chain, decode_pkcs12_selecting, describe, looks_like_pkcs12};
use crate::{CertificateInfo, PkiError, PublicKeyKind, pem, private_key_matches};

/// The largest input file read.
pub const MAX_INPUT_BYTES: usize = 1024 * 1024;

/// A certificate with its key and chain, ready for the store.
pub struct KeyMaterial {
    /// The end-entity certificate, parsed.
    pub cert: CertificateInfo,
    /// Its private key, PKCS#8 v1 DER.
    pub key_pkcs8_der: Zeroizing<Vec<u8>>,
    /// Intermediate certificates, DER, from the leaf's issuer up, each verified to have issued
    /// the one before.
    pub chain: Vec<Vec<u8>>,
    /// Certificates of the file that are not on the leaf's chain: left out, named for a warning.
    pub left_out: Vec<String>,
    /// The friendly name the file carried, if any.
    pub friendly_name: Option<String>,
    /// What kind of file it was (`PKCS#12`, `PEM`, `DER`), for messages.
    pub format: &'static str,
}

impl std::fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyMaterial")
            .field("cert", &self.cert.fingerprints.thumbprint())
            .field("chain", &self.chain.len())
            .field("format", &self.format)
            .field("key_pkcs8_der", &"<redacted>")
            .finish()
    }
}

/// Whether a PKCS#12 file is password-protected in a way that needs a password we do not have:
/// callers try the empty password first and ask only when this says so.
pub fn needs_password(err: &PkiError) -> bool {
    matches!(err, PkiError::WrongPassword { empty: true })
}

/// Reads key material from `main` (and `separate_key`, when the key is in its own file). A
/// PKCS#12 file with several keys needs `select` (the thumbprint, SHA-256 or pin of the
/// certificate wanted).
/// `password` opens a PKCS#12 file; PEM and DER files ignore it.
pub fn read_key_material(
    main: &[u8],
    separate_key: Option<&[u8]>,
    password: &str,
    select: Option<&str>,
) -> Result<KeyMaterial, PkiError> {
    if main.len() > MAX_INPUT_BYTES || separate_key.is_some_and(|k| k.len() > MAX_INPUT_BYTES) {
        return Err(PkiError::InvalidInput(
            "the file is larger than 1 MiB; is it the right file?".into(),
        ));
    }
    if main.is_empty() {
        return Err(PkiError::InvalidInput("the file is empty".into()));
    }
    let is_pem = main.windows(11).any(|w| w == b"-----BEGIN ");
    if !is_pem && looks_like_pkcs12(main) {
        if separate_key.is_some() {
            return Err(PkiError::InvalidInput(
                "a PKCS#12 file carries its own key; drop --key".into(),
            ));
        }
        let p = decode_pkcs12_selecting(main, password, select)?;
        let cert = CertificateInfo::from_der(&p.cert_der)?;
        return Ok(KeyMaterial {
            cert,
            key_pkcs8_der: normalize_key(&p.key_pkcs8_der)?,
            chain: p.chain,
            left_out: p.left_out,
            friendly_name: p.friendly_name,
            format: "PKCS#12",
        });
    }
    // An encrypted key is named as such before its headers make the PEM look damaged.
    pem::refuse_encrypted_key(main)?;
    if let Some(k) = separate_key {
        pem::refuse_encrypted_key(k)?;
    }
    let (certs, format) = if is_pem {
        (pem::decode_certificates(main)?, "PEM")
    } else {
        let cert = CertificateInfo::from_der(main).map_err(|_| {
            PkiError::InvalidInput(
                "not a PKCS#12, PEM or DER certificate file (or it is damaged or truncated)".into(),
            )
        })?;
        (vec![cert.der], "DER")
    };
    let key_source = match separate_key {
        Some(k) => k,
        None if is_pem => main,
        None => return Err(PkiError::NoPrivateKey),
    };
    let key_der = read_private_key(key_source)?;
    let infos: Vec<CertificateInfo> = certs
        .iter()
        .map(|c| CertificateInfo::from_der(c))
        .collect::<Result<_, _>>()?;
    let leaf = infos
        .iter()
        .position(|c| private_key_matches(c, &key_der).unwrap_or(false));
    let Some(leaf) = leaf else {
        // A key too weak to load cannot be matched: say why it is refused, not "mismatch".
        if let Some(weak) = infos
            .iter()
            .find(|c| matches!(c.key_kind, PublicKeyKind::Rsa { bits } if bits < 2048))
        {
            return Err(check_serviceable(weak, OffsetDateTime::now_utc(), true)
                .err()
                .unwrap_or(PkiError::KeyMismatch));
        }
        return Err(PkiError::KeyMismatch);
    };
    let others: Vec<&CertificateInfo> = infos
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != leaf)
        .map(|(_, c)| c)
        .collect();
    let (chain, left_out) = build_chain(&infos[leaf], &others);
    Ok(KeyMaterial {
        cert: infos[leaf].clone(),
        key_pkcs8_der: normalize_key(&key_der)?,
        chain,
        left_out: left_out.iter().map(describe).collect(),
        friendly_name: None,
        format,
    })
}

/// A private key from PEM text or DER bytes, in whichever encoding it came.
fn read_private_key(data: &[u8]) -> Result<Zeroizing<Vec<u8>>, PkiError> {
    if data.windows(11).any(|w| w == b"-----BEGIN ") {
        pem::refuse_encrypted_key(data)?;
        return match PrivateKeyDer::from_pem_slice(data) {
            Ok(k) => Ok(Zeroizing::new(k.secret_der().to_vec())),
            Err(rustls_pki_types::pem::Error::NoItemsFound) => Err(PkiError::NoPrivateKey),
            Err(e) => Err(pem::pem_error(e)),
        };
    }
    PrivateKeyDer::try_from(data)
        .map(|k| Zeroizing::new(k.secret_der().to_vec()))
        .map_err(|_| PkiError::InvalidPrivateKey("not a PEM or DER private key".into()))
}

/// Re-encodes any supported private key as PKCS#8 v1, the one form the store keeps (and the one
/// OpenSSL 3.0 reads for every key type).
pub fn normalize_key(der: &[u8]) -> Result<Zeroizing<Vec<u8>>, PkiError> {
    let bad = |what: &str| PkiError::InvalidPrivateKey(format!("cannot re-encode the {what} key"));
    let key =
        PrivateKeyDer::try_from(der).map_err(|e| PkiError::InvalidPrivateKey(e.to_string()))?;
    match key {
        PrivateKeyDer::Pkcs1(k) => {
            let pair = aws_lc_rs::rsa::KeyPair::from_der(k.secret_pkcs1_der())
                .map_err(|e| PkiError::InvalidPrivateKey(e.to_string()))?;
            let doc = pair.as_der().map_err(|_| bad("RSA"))?;
            Ok(Zeroizing::new(doc.as_ref().to_vec()))
        }
        PrivateKeyDer::Sec1(k) => {
            use aws_lc_rs::signature::{
                ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_ASN1_SIGNING,
                ECDSA_P521_SHA512_ASN1_SIGNING, EcdsaKeyPair,
            };
            for alg in [
                &ECDSA_P256_SHA256_ASN1_SIGNING,
                &ECDSA_P384_SHA384_ASN1_SIGNING,
                &ECDSA_P521_SHA512_ASN1_SIGNING,
            ] {
                if let Ok(pair) = EcdsaKeyPair::from_private_key_der(alg, k.secret_sec1_der()) {
                    let doc = pair.to_pkcs8v1().map_err(|_| bad("EC"))?;
                    return Ok(Zeroizing::new(doc.as_ref().to_vec()));
                }
            }
            Err(PkiError::InvalidPrivateKey(
                "unsupported EC curve (P-256, P-384 and P-521 are supported)".into(),
            ))
        }
        PrivateKeyDer::Pkcs8(k) => {
            // Ed25519 keys may come as PKCS#8 v2, which OpenSSL 3.0 cannot read: write v1.
            if let Ok(pair) = aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(
                k.secret_pkcs8_der(),
            ) {
                let doc = pair.to_pkcs8v1().map_err(|_| bad("Ed25519"))?;
                return Ok(Zeroizing::new(doc.as_ref().to_vec()));
            }
            Ok(Zeroizing::new(k.secret_pkcs8_der().to_vec()))
        }
        _ => Err(PkiError::InvalidPrivateKey(
            "unsupported private key format".into(),
        )),
    }
}

/// Why a certificate may not serve as the SP certificate, if it may not.
pub fn check_serviceable(
    cert: &CertificateInfo,
    now: OffsetDateTime,
    allow_expired: bool,
) -> Result<(), PkiError> {
    if cert.is_ca {
        return Err(PkiError::Unsuitable(
            "it is a CA certificate (basicConstraints CA:TRUE); import the server certificate that the CA issued, not the CA itself".into(),
        ));
    }
    if let PublicKeyKind::Rsa { bits } = cert.key_kind
        && bits < 2048
    {
        return Err(PkiError::Unsuitable(format!(
            "its RSA key has {bits} bits; at least 2048 are needed"
        )));
    }
    if !allow_expired {
        if now > cert.not_after {
            return Err(PkiError::Unsuitable(format!(
                "it expired on {} (pass --allow-expired to import it anyway)",
                crate::format_rfc3339(cert.not_after)
            )));
        }
        if now < cert.not_before {
            return Err(PkiError::Unsuitable(format!(
                "it is not valid before {} (pass --allow-expired to import it anyway)",
                crate::format_rfc3339(cert.not_before)
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dn::SubjectName;
    use crate::pkcs12::{Pkcs12Profile, encode_pkcs12};
    use crate::{KeyType, SelfSignedRequest, generate_self_signed};

    fn sample(kt: KeyType) -> crate::GeneratedCertificate {
        generate_self_signed(&SelfSignedRequest {
            key_type: kt,
            subject: SubjectName::for_licensee("Acme"),
            sans: vec![],
            valid_days: 30,
            now: OffsetDateTime::now_utc(),
        })
        .unwrap()
    }

    #[test]
    fn pem_with_key_in_one_file_or_two() {
        let g = sample(KeyType::EcdsaP256);
        let cert = pem::encode_certificate(&g.cert_der);
        let key = pem::encode_pkcs8_key(&g.key_pkcs8_der);
        let both = format!("{}{cert}", key.as_str());
        let m = read_key_material(both.as_bytes(), None, "", None).unwrap();
        assert_eq!(m.cert.der, g.cert_der);
        assert_eq!(m.format, "PEM");
        let m = read_key_material(cert.as_bytes(), Some(key.as_bytes()), "", None).unwrap();
        assert_eq!(m.key_pkcs8_der.as_slice(), g.key_pkcs8_der.as_slice());
        let m = read_key_material(&g.cert_der, Some(&g.key_pkcs8_der), "", None).unwrap();
        assert_eq!(m.format, "DER");
    }

    #[test]
    fn refusals() {
        let g = sample(KeyType::EcdsaP256);
        let other = sample(KeyType::EcdsaP256);
        let cert = pem::encode_certificate(&g.cert_der);
        assert!(matches!(
            read_key_material(cert.as_bytes(), None, "", None),
            Err(PkiError::NoPrivateKey)
        ));
        assert!(matches!(
            read_key_material(&g.cert_der, None, "", None),
            Err(PkiError::NoPrivateKey)
        ));
        let wrong_key = pem::encode_pkcs8_key(&other.key_pkcs8_der);
        assert!(matches!(
            read_key_material(cert.as_bytes(), Some(wrong_key.as_bytes()), "", None),
            Err(PkiError::KeyMismatch)
        ));
        assert!(read_key_material(b"", None, "", None).is_err());
        assert!(read_key_material(b"garbage", None, "", None).is_err());
        let pfx = encode_pkcs12(
            &g.cert_der,
            &[],
            &g.key_pkcs8_der,
            "n",
            "pw",
            Pkcs12Profile::Modern,
        )
        .unwrap();
        let e = read_key_material(&pfx, None, "", None).unwrap_err();
        assert!(needs_password(&e), "{e}");
        let m = read_key_material(&pfx, None, "pw", None).unwrap();
        assert_eq!(m.friendly_name.as_deref(), Some("n"));
    }

    #[test]
    fn keys_are_normalised_to_pkcs8_v1() {
        for kt in [KeyType::Rsa2048, KeyType::EcdsaP384, KeyType::Ed25519] {
            let g = sample(kt);
            let n = normalize_key(&g.key_pkcs8_der).unwrap();
            let info = CertificateInfo::from_der(&g.cert_der).unwrap();
            assert!(private_key_matches(&info, &n).unwrap(), "{kt}");
        }
    }
}
