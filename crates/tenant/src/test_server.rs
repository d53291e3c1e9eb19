//! A TLS 1.3 server on loopback for the unit tests of the client side.

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha2::Digest as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Serves every connection with a fresh P-256 certificate (returned as its SHA-256 pin), sends
/// rustls' default two session tickets per connection, writes `answer` (if any) once the
/// handshake is done, then reads until the client closes. With `None` the server completes
/// handshakes and then says nothing.
pub async fn tls_server(answer: Option<&'static [u8]>) -> (u16, [u8; 32]) {
    let g = cloudgate_pki::generate_self_signed(&cloudgate_pki::SelfSignedRequest {
        key_type: cloudgate_pki::KeyType::EcdsaP256,
        subject: cloudgate_pki::dn::SubjectName::parse("CN=test server").unwrap(),
        sans: vec![],
        valid_days: 1,
        now: time::OffsetDateTime::now_utc(),
    })
    .unwrap();
    let pin: [u8; 32] = sha2::Sha256::digest(&g.cert_der).into();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(g.cert_der.clone())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(g.key_pkcs8_der.to_vec())),
        )
        .unwrap();
    config.ticketer = rustls::crypto::aws_lc_rs::Ticketer::new().unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(tcp).await {
                    if let Some(answer) = answer {
                        let _ = tls.write_all(answer).await;
                        let _ = tls.flush().await;
                    }
                    let mut rest = Vec::new();
                    let _ = tls.read_to_end(&mut rest).await;
                }
            });
        }
    });
    (port, pin)
}
