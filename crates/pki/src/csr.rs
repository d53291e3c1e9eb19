//! Certificate signing requests, for a CA that issues the certificate (ACME): for a new key of
//! a chosen type, or for the key a certificate in use already has (a renewal that tenants who
//! pinned the key do not notice).

use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};
use rustls_pki_types::PrivateKeyDer;
use zeroize::Zeroizing;

use crate::{KeyType, PkiError};

/// A CSR and the key it is for.
pub struct SigningRequest {
    /// The CSR, DER.
    pub csr_der: Vec<u8>,
    /// Its private key, PKCS#8 DER.
    pub key_pkcs8_der: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for SigningRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningRequest")
            .field("csr_der", &self.csr_der.len())
            .finish_non_exhaustive()
    }
}

/// A CSR for the DNS names `domains` (the first is also the common name), signed with a new
/// key of `key_type`, or with `key_pkcs8_der` when given.
pub fn signing_request(
    domains: &[String],
    key_type: KeyType,
    key_pkcs8_der: Option<&[u8]>,
) -> Result<SigningRequest, PkiError> {
    let first = domains
        .first()
        .ok_or_else(|| PkiError::Unsuitable("a certificate request needs a name".into()))?;
    let key = match key_pkcs8_der {
        Some(der) => PrivateKeyDer::try_from(der)
            .map_err(|e| PkiError::InvalidPrivateKey(e.to_string()))
            .and_then(|k| {
                KeyPair::try_from(&k).map_err(|e| PkiError::InvalidPrivateKey(e.to_string()))
            })?,
        None => crate::generate::generate_key(key_type)?,
    };
    let mut params = CertificateParams::new(domains.to_vec())
        .map_err(|e| PkiError::Unsuitable(format!("a name cannot be requested: {e}")))?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, first.as_str());
    params.distinguished_name = dn;
    let csr = params
        .serialize_request(&key)
        .map_err(|e| PkiError::Signing(e.to_string()))?;
    Ok(SigningRequest {
        csr_der: csr.der().to_vec(),
        key_pkcs8_der: Zeroizing::new(key.serialize_der()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_keeps_the_key_it_is_given() {
        let first = signing_request(&["sp.example.test".into()], KeyType::EcdsaP256, None).unwrap();
        let again = signing_request(
            &["sp.example.test".into(), "b.example.test".into()],
            KeyType::Rsa2048,
            Some(&first.key_pkcs8_der),
        )
        .unwrap();
        assert_eq!(*again.key_pkcs8_der, *first.key_pkcs8_der);
        assert_ne!(again.csr_der, first.csr_der);
        assert!(signing_request(&[], KeyType::EcdsaP256, None).is_err());
        assert!(
            signing_request(&["a.test".into()], KeyType::EcdsaP256, Some(b"not a key")).is_err()
        );
    }
}
