//! The rustls verifiers cloudgate trusts with: both always check the TLS handshake signature with
//! the presented certificate's key, so a peer that merely holds a public certificate cannot pass.
//!
//! - [`PinnedServerVerifier`] (tenant side): accepts the SP certificate only if its SHA-256 is
//!   pinned, or (the tenant's everyday mode) if it carries the pinned public key; or, in capture mode, accepts any certificate and records it so the first contact can
//!   show it for out-of-band verification before anything is sent.
//! - [`TenantClientVerifier`] (gateway side): accepts any well-formed, currently valid end-entity
//!   client certificate; which tenant it belongs to is decided after the handshake.

use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{
    CryptoProvider, WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature,
};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, Error, OtherError, SignatureScheme,
};

use time::OffsetDateTime;

use crate::CertificateInfo;
use crate::fingerprint::{Fingerprints, colon_hex};

/// The presented SP certificate is not a pinned one. Carried inside
/// `rustls::Error::InvalidCertificate(CertificateError::Other(..))`; see [`pin_mismatch`].
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "the service provider presented certificate SHA-256 {presented}, which is not the pinned one ({expected})"
)]
pub struct PinMismatch {
    /// SHA-256 (colon hex) of the presented certificate.
    pub presented: String,
    /// SHA-256 (colon hex) of the pinned certificate(s).
    pub expected: String,
    /// Fingerprints of the presented certificate, when it parsed.
    pub presented_fingerprints: Option<Fingerprints>,
}

/// Finds a [`PinMismatch`] inside a rustls error, if that is what it is.
pub fn pin_mismatch(err: &Error) -> Option<&PinMismatch> {
    match err {
        Error::InvalidCertificate(CertificateError::Other(other)) => {
            other.0.downcast_ref::<PinMismatch>()
        }
        _ => None,
    }
}

/// What a tenant accepts as the SP certificate.
#[derive(Debug, Clone)]
enum Acceptance {
    /// Only certificates with one of these SHA-256 fingerprints.
    Pinned(Vec<[u8; 32]>),
    /// Any certificate carrying a public key with one of these SubjectPublicKeyInfo SHA-256s:
    /// the pinned certificate and its renewals (or, for a join token, the key in use and a
    /// staged successor). The handshake signature proves possession of that key.
    Keys(Vec<[u8; 32]>),
    /// Any certificate (first contact); it is recorded for the user to verify.
    Capture,
    /// A certificate that chains to these roots and matches the server name, like a browser.
    Ca(Arc<rustls::client::WebPkiServerVerifier>),
    /// Both: a chain to these roots matching the server name, whose leaf carries one of these
    /// keys. The chain is judged first, so a certificate no root vouches for is untrusted
    /// whatever its key; a valid chain with another key is a pin mismatch, resolved by proofs.
    CaAndKeys(Arc<rustls::client::WebPkiServerVerifier>, Vec<[u8; 32]>),
}

/// The tenant's verifier of the SP certificate.
#[derive(Debug)]
pub struct PinnedServerVerifier {
    acceptance: Acceptance,
    algorithms: WebPkiSupportedAlgorithms,
    presented: Mutex<Option<Vec<Vec<u8>>>>,
}

impl PinnedServerVerifier {
    /// Accepts only certificates whose SHA-256 is one of `pins`.
    pub fn pinned(provider: &CryptoProvider, pins: Vec<[u8; 32]>) -> Arc<Self> {
        Arc::new(PinnedServerVerifier {
            acceptance: Acceptance::Pinned(pins),
            algorithms: provider.signature_verification_algorithms,
            presented: Mutex::new(None),
        })
    }

    /// Accepts any certificate with the public key whose SubjectPublicKeyInfo SHA-256 is
    /// `spki_sha256`: the pinned certificate and every renewal of it. The caller sees which one
    /// in [`PinnedServerVerifier::presented_chain`] and moves the pin.
    pub fn pinned_key(provider: &CryptoProvider, spki_sha256: [u8; 32]) -> Arc<Self> {
        Self::pinned_keys(provider, vec![spki_sha256])
    }

    /// Accepts any certificate whose key is one of `spki_sha256s` (a join token's pins).
    pub fn pinned_keys(provider: &CryptoProvider, spki_sha256s: Vec<[u8; 32]>) -> Arc<Self> {
        Arc::new(PinnedServerVerifier {
            acceptance: Acceptance::Keys(spki_sha256s),
            algorithms: provider.signature_verification_algorithms,
            presented: Mutex::new(None),
        })
    }

    /// Accepts any certificate and records it (with its chain), still checking the handshake
    /// signature. For first contact only: nothing but the provider's public data may be
    /// exchanged over such a connection.
    pub fn capture(provider: &CryptoProvider) -> Arc<Self> {
        Arc::new(PinnedServerVerifier {
            acceptance: Acceptance::Capture,
            algorithms: provider.signature_verification_algorithms,
            presented: Mutex::new(None),
        })
    }

    /// Accepts certificates that chain to `roots` and match the server name (for providers added
    /// with `--trust ca`); records what was presented.
    pub fn ca(
        provider: Arc<CryptoProvider>,
        roots: rustls::RootCertStore,
    ) -> Result<Arc<Self>, rustls::client::VerifierBuilderError> {
        let algorithms = provider.signature_verification_algorithms;
        let inner =
            rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()?;
        Ok(Arc::new(PinnedServerVerifier {
            acceptance: Acceptance::Ca(inner),
            algorithms,
            presented: Mutex::new(None),
        }))
    }

    /// Accepts certificates that chain to `roots`, match the server name *and* carry one of the
    /// keys `spki_sha256s` (for providers added with `--trust ca+pin`).
    pub fn ca_and_keys(
        provider: Arc<CryptoProvider>,
        roots: rustls::RootCertStore,
        spki_sha256s: Vec<[u8; 32]>,
    ) -> Result<Arc<Self>, rustls::client::VerifierBuilderError> {
        let algorithms = provider.signature_verification_algorithms;
        let inner =
            rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()?;
        Ok(Arc::new(PinnedServerVerifier {
            acceptance: Acceptance::CaAndKeys(inner, spki_sha256s),
            algorithms,
            presented: Mutex::new(None),
        }))
    }

    /// The certificate chain the server presented (leaf first), once a handshake got that far.
    pub fn presented_chain(&self) -> Option<Vec<Vec<u8>>> {
        self.presented.lock().ok().and_then(|p| p.clone())
    }
}

impl ServerCertVerifier for PinnedServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let mut chain = vec![end_entity.to_vec()];
        chain.extend(intermediates.iter().map(|c| c.to_vec()));
        if let Ok(mut slot) = self.presented.lock() {
            *slot = Some(chain);
        }
        let sha256: [u8; 32] = {
            use sha2::Digest as _;
            sha2::Sha256::digest(end_entity.as_ref()).into()
        };
        match &self.acceptance {
            Acceptance::Capture => Ok(ServerCertVerified::assertion()),
            Acceptance::Ca(inner) => {
                inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            }
            Acceptance::CaAndKeys(inner, spkis) => {
                inner.verify_server_cert(
                    end_entity,
                    intermediates,
                    server_name,
                    ocsp_response,
                    now,
                )?;
                if key_of(end_entity.as_ref()).is_some_and(|k| spkis.contains(&k)) {
                    Ok(ServerCertVerified::assertion())
                } else {
                    Err(mismatch(end_entity.as_ref(), sha256, spkis))
                }
            }
            Acceptance::Pinned(pins) if pins.contains(&sha256) => {
                Ok(ServerCertVerified::assertion())
            }
            Acceptance::Keys(spkis)
                if key_of(end_entity.as_ref()).is_some_and(|k| spkis.contains(&k)) =>
            {
                Ok(ServerCertVerified::assertion())
            }
            Acceptance::Pinned(pins) => Err(mismatch(end_entity.as_ref(), sha256, pins)),
            Acceptance::Keys(spkis) => Err(mismatch(end_entity.as_ref(), sha256, spkis)),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

fn key_of(der: &[u8]) -> Option<[u8; 32]> {
    CertificateInfo::from_der(der)
        .ok()
        .map(|c| c.fingerprints.spki_sha256)
}

fn mismatch(der: &[u8], sha256: [u8; 32], expected: &[[u8; 32]]) -> Error {
    Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(PinMismatch {
        presented: colon_hex(&sha256),
        expected: expected
            .iter()
            .map(|p| colon_hex(p))
            .collect::<Vec<_>>()
            .join(" or "),
        presented_fingerprints: CertificateInfo::from_der(der).ok().map(|i| i.fingerprints),
    }))))
}

/// The gateway's verifier of tenant client certificates: offered, not required (a tenant must be
/// able to fetch the provider data and enroll first), and any well-formed, currently valid,
/// non-CA certificate passes; the tenant it belongs to is looked up after the handshake.
#[derive(Debug)]
pub struct TenantClientVerifier {
    algorithms: WebPkiSupportedAlgorithms,
    /// What the certificates seen so far say about their use (a machine presents the same one
    /// for every tunnel).
    usages: crate::usage_cache::UsageCache,
}

impl TenantClientVerifier {
    /// A verifier using the provider's signature algorithms.
    pub fn new(provider: &CryptoProvider) -> Arc<Self> {
        Arc::new(TenantClientVerifier {
            algorithms: provider.signature_verification_algorithms,
            usages: crate::usage_cache::UsageCache::default(),
        })
    }
}

impl ClientCertVerifier for TenantClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        let info = self
            .usages
            .usage_of(end_entity.as_ref())
            .map_err(|_| Error::InvalidCertificate(CertificateError::BadEncoding))?;
        if info.is_ca {
            return Err(Error::InvalidCertificate(CertificateError::InvalidPurpose));
        }
        let now = OffsetDateTime::now_utc();
        if now > info.not_after {
            return Err(Error::InvalidCertificate(CertificateError::Expired));
        }
        if now < info.not_before {
            return Err(Error::InvalidCertificate(CertificateError::NotValidYet));
        }
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dn::SubjectName;
    use crate::{GeneratedCertificate, KeyType, SelfSignedRequest, generate_self_signed};
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    use rustls::server::{ClientHello, ResolvesServerCert};
    use rustls::sign::CertifiedKey;
    use rustls::{ClientConfig, ClientConnection, ServerConfig, ServerConnection};
    use sha2::Digest as _;

    fn identity(cn: &str) -> GeneratedCertificate {
        generate_self_signed(&SelfSignedRequest {
            key_type: KeyType::EcdsaP256,
            subject: SubjectName::parse(&format!("CN={cn}")).unwrap(),
            sans: vec![],
            valid_days: 1,
            now: OffsetDateTime::now_utc(),
        })
        .unwrap()
    }

    /// Serves `cert` while signing with `key`'s private key: an impostor holding only the public
    /// certificate when `key` is another key.
    #[derive(Debug)]
    struct Serve(Arc<CertifiedKey>);
    impl ResolvesServerCert for Serve {
        fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
            Some(self.0.clone())
        }
    }

    fn handshake(
        cert: &GeneratedCertificate,
        signing: &GeneratedCertificate,
        verifier: Arc<PinnedServerVerifier>,
    ) -> Result<(), Error> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let key = provider
            .key_provider
            .load_private_key(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
                signing.key_pkcs8_der.to_vec(),
            )))
            .unwrap();
        let certified = Arc::new(CertifiedKey::new(
            vec![CertificateDer::from(cert.cert_der.clone())],
            key,
        ));
        let server_config = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(TenantClientVerifier::new(&provider))
            .with_cert_resolver(Arc::new(Serve(certified)));
        let client_config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        let mut client = ClientConnection::new(
            Arc::new(client_config),
            ServerName::try_from("sp.example").unwrap(),
        )
        .unwrap();
        let mut server = ServerConnection::new(Arc::new(server_config)).unwrap();
        for _ in 0..10 {
            let mut buf = Vec::new();
            client.write_tls(&mut buf).unwrap();
            server.read_tls(&mut buf.as_slice()).unwrap();
            server.process_new_packets()?;
            let mut buf = Vec::new();
            server.write_tls(&mut buf).unwrap();
            client.read_tls(&mut buf.as_slice()).unwrap();
            client.process_new_packets()?;
            if !client.is_handshaking() && !server.is_handshaking() {
                return Ok(());
            }
        }
        Err(Error::General("handshake did not finish".into()))
    }

    fn pin_of(g: &GeneratedCertificate) -> [u8; 32] {
        sha2::Sha256::digest(&g.cert_der).into()
    }

    fn client_check(v: &TenantClientVerifier, der: &[u8]) -> Result<(), Error> {
        v.verify_client_cert(&CertificateDer::from(der.to_vec()), &[], UnixTime::now())
            .map(|_| ())
    }

    fn dated(days_ago: i64, valid_days: u32) -> Vec<u8> {
        generate_self_signed(&SelfSignedRequest {
            key_type: KeyType::EcdsaP256,
            subject: SubjectName::parse("CN=machine").unwrap(),
            sans: vec![],
            valid_days,
            now: OffsetDateTime::now_utc() - time::Duration::days(days_ago),
        })
        .unwrap()
        .cert_der
        .to_vec()
    }

    #[test]
    fn the_client_check_refuses_the_same_way_every_time_it_sees_a_certificate() {
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        let v = TenantClientVerifier::new(&provider);
        let good = dated(0, 30);
        let expired = dated(30, 1);
        let future = dated(-30, 60);
        for _ in 0..3 {
            client_check(&v, &good).unwrap();
            assert_eq!(
                client_check(&v, &expired),
                Err(Error::InvalidCertificate(CertificateError::Expired))
            );
            assert_eq!(
                client_check(&v, &future),
                Err(Error::InvalidCertificate(CertificateError::NotValidYet))
            );
            assert_eq!(
                client_check(&v, &good[..good.len() - 1]),
                Err(Error::InvalidCertificate(CertificateError::BadEncoding))
            );
        }
    }

    #[test]
    fn a_remembered_certificate_is_still_checked_against_the_clock() {
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        let v = TenantClientVerifier::new(&provider);
        let der = dated(0, 30);
        client_check(&v, &der).unwrap();
        // What the cache holds for it now says it ended a second ago (as a remembered
        // certificate does once its last day is over): the next handshake is refused.
        let now = OffsetDateTime::now_utc();
        let key: [u8; 32] = sha2::Sha256::digest(&der).into();
        let ended = crate::Usage {
            is_ca: false,
            not_before: now - time::Duration::days(2),
            not_after: now - time::Duration::seconds(1),
        };
        v.usages.remember(key, ended);
        assert_eq!(
            client_check(&v, &der),
            Err(Error::InvalidCertificate(CertificateError::Expired))
        );
        v.usages.remember(
            key,
            crate::Usage {
                is_ca: true,
                not_after: now + time::Duration::days(1),
                ..ended
            },
        );
        assert_eq!(
            client_check(&v, &der),
            Err(Error::InvalidCertificate(CertificateError::InvalidPurpose))
        );
    }

    #[test]
    fn the_pinned_certificate_with_its_key_passes() {
        let sp = identity("sp");
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        handshake(
            &sp,
            &sp,
            PinnedServerVerifier::pinned(&provider, vec![pin_of(&sp)]),
        )
        .unwrap();
    }

    #[test]
    fn another_certificate_is_a_pin_mismatch() {
        let sp = identity("sp");
        let other = identity("other");
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        let err = handshake(
            &other,
            &other,
            PinnedServerVerifier::pinned(&provider, vec![pin_of(&sp)]),
        )
        .unwrap_err();
        let mismatch = pin_mismatch(&err).expect("a pin mismatch");
        assert_eq!(mismatch.presented, colon_hex(&pin_of(&other)));
        assert_eq!(mismatch.expected, colon_hex(&pin_of(&sp)));
    }

    #[test]
    fn the_pinned_certificate_without_its_key_is_refused() {
        // The impostor copies the public SP certificate but signs the handshake with its own key.
        let sp = identity("sp");
        let impostor = identity("impostor");
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        let err = handshake(
            &sp,
            &impostor,
            PinnedServerVerifier::pinned(&provider, vec![pin_of(&sp)]),
        )
        .unwrap_err();
        assert!(pin_mismatch(&err).is_none());
        assert!(
            matches!(
                err,
                Error::InvalidCertificate(CertificateError::BadSignature)
            ),
            "{err:?}"
        );
        // In capture mode too: possession is always proven.
        let capture = PinnedServerVerifier::capture(&provider);
        assert!(handshake(&sp, &impostor, capture.clone()).is_err());
        assert_eq!(
            capture.presented_chain().unwrap()[0],
            sp.cert_der,
            "what was presented is recorded"
        );
    }

    /// A CA and, issued by it for `sp.example`, two leaves with different keys.
    fn ca_and_two_leaves() -> (Vec<u8>, GeneratedCertificate, GeneratedCertificate) {
        let ca_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Test CA");
        let ca_der = params.self_signed(&ca_key).unwrap().der().to_vec();
        let issuer = rcgen::Issuer::new(params, &ca_key);
        let leaf = || {
            let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
            let params = rcgen::CertificateParams::new(vec!["sp.example".into()]).unwrap();
            GeneratedCertificate {
                cert_der: params.signed_by(&key, &issuer).unwrap().der().to_vec(),
                key_pkcs8_der: zeroize::Zeroizing::new(key.serialize_der()),
            }
        };
        (ca_der, leaf(), leaf())
    }

    fn ca_and_keys(ca_der: &[u8], keys: &[&GeneratedCertificate]) -> Arc<PinnedServerVerifier> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from(ca_der.to_vec())).unwrap();
        let spkis = keys.iter().map(|g| key_of(&g.cert_der).unwrap()).collect();
        PinnedServerVerifier::ca_and_keys(
            Arc::new(rustls::crypto::aws_lc_rs::default_provider()),
            roots,
            spkis,
        )
        .unwrap()
    }

    #[test]
    fn ca_and_pin_wants_a_valid_chain_and_the_pinned_key() {
        let (ca, pinned, other) = ca_and_two_leaves();
        handshake(&pinned, &pinned, ca_and_keys(&ca, &[&pinned])).unwrap();
        // A valid chain with another key: a pin mismatch, which only a proof can resolve.
        let err = handshake(&other, &other, ca_and_keys(&ca, &[&pinned])).unwrap_err();
        assert!(pin_mismatch(&err).is_some(), "{err:?}");
        // The pinned key in a certificate no root vouches for: untrusted, not a mismatch.
        let self_signed = identity("sp.example");
        let err = handshake(
            &self_signed,
            &self_signed,
            ca_and_keys(&ca, &[&self_signed]),
        )
        .unwrap_err();
        assert!(pin_mismatch(&err).is_none(), "{err:?}");
        assert!(matches!(err, Error::InvalidCertificate(_)), "{err:?}");
        // The pinned certificate presented without its private key.
        let err = handshake(&pinned, &other, ca_and_keys(&ca, &[&pinned])).unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidCertificate(CertificateError::BadSignature)
            ),
            "{err:?}"
        );
    }
}
