//! PEM text for certificates and private keys.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use zeroize::Zeroizing;

use crate::PkiError;

/// Encodes DER as a PEM block with this label, in 64-column lines.
pub fn encode(label: &str, der: &[u8]) -> String {
    let b64 = BASE64.encode(der);
    let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 2 * label.len() + 40);
    out.push_str(&format!("-----BEGIN {label}-----\n"));
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Encodes a certificate as PEM.
pub fn encode_certificate(der: &[u8]) -> String {
    encode("CERTIFICATE", der)
}

/// Encodes a PKCS#8 private key as PEM (`PRIVATE KEY`), in memory that is wiped when dropped.
pub fn encode_pkcs8_key(der: &[u8]) -> Zeroizing<String> {
    let b64 = Zeroizing::new(BASE64.encode(der));
    let mut out = Zeroizing::new(String::with_capacity(b64.len() + b64.len() / 64 + 64));
    out.push_str("-----BEGIN PRIVATE KEY-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END PRIVATE KEY-----\n");
    out
}

/// Reads every certificate from PEM text, in order. Refuses text with none, or with a damaged one.
pub fn decode_certificates(pem: &[u8]) -> Result<Vec<Vec<u8>>, PkiError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .map(|c| c.map(|c| c.to_vec()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PkiError::InvalidPem(e.to_string()))?;
    if certs.is_empty() {
        return Err(PkiError::InvalidPem(
            "no CERTIFICATE block found (is the file truncated?)".into(),
        ));
    }
    Ok(certs)
}

/// Reads the first private key (PKCS#8, PKCS#1 or SEC1) from PEM text; returns its DER.
pub fn decode_private_key(pem: &[u8]) -> Result<Zeroizing<Vec<u8>>, PkiError> {
    let key = PrivateKeyDer::from_pem_slice(pem).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => {
            PkiError::InvalidPem("no PRIVATE KEY block found (is the file truncated?)".into())
        }
        other => PkiError::InvalidPem(other.to_string()),
    })?;
    Ok(Zeroizing::new(key.secret_der().to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_truncation() {
        let der: Vec<u8> = (0..=255u8).cycle().take(700).collect();
        let pem = encode_certificate(&der);
        assert!(pem.lines().all(|l| l.len() <= 64));
        assert_eq!(decode_certificates(pem.as_bytes()).unwrap(), vec![der]);
        let truncated = &pem[..pem.len() / 2];
        assert!(decode_certificates(truncated.as_bytes()).is_err());
        assert!(decode_certificates(b"").is_err());
    }

    #[test]
    fn key_round_trip() {
        let der = vec![1u8, 2, 3, 4, 5];
        let pem = encode_pkcs8_key(&der);
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        assert_eq!(
            decode_private_key(pem.as_bytes()).unwrap().as_slice(),
            &der[..]
        );
        assert!(decode_private_key(b"-----BEGIN PRIVATE KEY-----\nAAAA\n").is_err());
    }
}
