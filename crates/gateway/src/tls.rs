//! The gateway's TLS settings, in one place so that the benchmark's bare rustls server uses
//! exactly the same ones.

use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::ServerSessionMemoryCache;
use rustls::{CipherSuite, ServerConfig};

/// TLS 1.2 sessions remembered for resumption (TLS 1.3 uses tickets).
const SESSION_CACHE_SIZE: usize = 16 * 1024;

/// AWS-LC with the TLS 1.3 suites in the gateway's order: AES-128-GCM with SHA-256 first. The
/// key exchange (X25519, P-256) and the certificates (P-256, RSA-2048) give 128-bit security, so
/// AES-256 and SHA-384 add no strength, while SHA-384, which has no CPU instructions of its own,
/// was the largest single cost of a handshake in the profile (see BENCHMARKS.md). Every suite
/// offered is an AEAD with forward secrecy; clients that want only AES-256 still get it.
pub fn crypto_provider() -> CryptoProvider {
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    provider.cipher_suites.sort_by_key(|s| match s.suite() {
        CipherSuite::TLS13_AES_128_GCM_SHA256 => 0,
        CipherSuite::TLS13_AES_256_GCM_SHA384 => 1,
        CipherSuite::TLS13_CHACHA20_POLY1305_SHA256 => 2,
        _ => 3,
    });
    provider
}

/// The server configuration for a certificate chain and its key: TLS 1.3 and 1.2, client
/// certificates requested and checked by [`cloudgate_pki::verify::TenantClientVerifier`], ALPN
/// `http/1.1`, our suite order, resumption by tickets (1.3) and a session cache (1.2).
pub fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<ServerConfig, rustls::Error> {
    let provider = std::sync::Arc::new(crypto_provider());
    let mut tls = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_client_cert_verifier(cloudgate_pki::verify::TenantClientVerifier::new(&provider))
        .with_single_cert(chain, key)?;
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    // Our order of suites, not the client's: a client cannot talk the gateway down to its
    // weakest offer.
    tls.ignore_client_order = true;
    tls.session_storage = ServerSessionMemoryCache::new(SESSION_CACHE_SIZE);
    tls.ticketer = rustls::crypto::aws_lc_rs::Ticketer::new()?;
    Ok(tls)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aes_128_gcm_first_and_every_suite_aead() {
        let p = crypto_provider();
        assert_eq!(
            p.cipher_suites[0].suite(),
            CipherSuite::TLS13_AES_128_GCM_SHA256
        );
        for s in &p.cipher_suites {
            let name = format!("{:?}", s.suite());
            assert!(
                name.contains("GCM") || name.contains("CHACHA20_POLY1305"),
                "{name}"
            );
        }
    }
}
