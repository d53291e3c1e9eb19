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

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Words for what is wrong with PEM text (the parser's own error prints markers as byte values).
pub(crate) fn pem_error(e: rustls_pki_types::pem::Error) -> PkiError {
    use rustls_pki_types::pem::Error;
    let label = |marker: &[u8]| {
        String::from_utf8_lossy(marker)
            .trim_matches('-')
            .trim_start_matches("END ")
            .trim()
            .to_string()
    };
    PkiError::InvalidPem(match e {
        Error::MissingSectionEnd { end_marker } => format!(
            "the {} block has no END line (is the file truncated?)",
            label(&end_marker)
        ),
        Error::IllegalSectionStart { .. } => {
            "a BEGIN line is damaged or stands inside another block".into()
        }
        Error::Base64Decode(_) => {
            "a block's content is not valid base64 (damaged, or headers inside the block)".into()
        }
        Error::NoItemsFound => "no PEM block of the expected kind was found".into(),
        other => format!("unreadable PEM ({})", other),
    })
}

/// Refuses an encrypted private key with what it is and how to convert it; `Ok` otherwise.
pub fn refuse_encrypted_key(data: &[u8]) -> Result<(), PkiError> {
    let how = "decrypt it with `openssl pkey -in KEY -out KEY.plain` (it asks for the passphrase), \
               or import the certificate and key as one password-protected PKCS#12 (.pfx) file";
    if contains(data, b"-----BEGIN ENCRYPTED PRIVATE KEY-----") {
        return Err(PkiError::InvalidInput(format!(
            "the private key is encrypted (PKCS#8 with a passphrase); {how}"
        )));
    }
    if contains(data, b"Proc-Type: 4,ENCRYPTED") {
        return Err(PkiError::InvalidInput(format!(
            "the private key is encrypted (traditional OpenSSL PEM encryption, `Proc-Type: 4,ENCRYPTED`); {how}"
        )));
    }
    Ok(())
}

/// Reads every certificate from PEM text, in order. Refuses text with none, or with a damaged one.
pub fn decode_certificates(pem: &[u8]) -> Result<Vec<Vec<u8>>, PkiError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .map(|c| c.map(|c| c.to_vec()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem_error)?;
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
        other => pem_error(other),
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
        let e = decode_private_key(b"-----BEGIN PRIVATE KEY-----\nAAAA\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("PRIVATE KEY block has no END line"), "{e}");
        assert!(!e.contains("80, 82"), "byte values: {e}");
    }

    #[test]
    fn encrypted_keys_are_named_with_the_way_out() {
        let pkcs8 =
            b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n";
        let e = refuse_encrypted_key(pkcs8).unwrap_err().to_string();
        assert!(
            e.contains("PKCS#8 with a passphrase") && e.contains("openssl pkey"),
            "{e}"
        );
        let traditional = b"-----BEGIN EC PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,00\n\nAAAA\n-----END EC PRIVATE KEY-----\n";
        let e = refuse_encrypted_key(traditional).unwrap_err().to_string();
        assert!(e.contains("traditional OpenSSL PEM encryption"), "{e}");
        assert!(refuse_encrypted_key(b"-----BEGIN PRIVATE KEY-----").is_ok());
    }
}
