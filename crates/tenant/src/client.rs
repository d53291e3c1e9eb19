//! TLS and HTTP to a gateway: pinned (or capturing, for first contact), with the tenant's client
//! certificate when it has one, one rustls configuration per provider so TLS 1.3 resumption
//! spares a busy tunnel a full handshake per connection.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tokio::net::TcpStream;
use zeroize::Zeroizing;

use cloudgate_pki::verify::{PinMismatch, PinnedServerVerifier, pin_mismatch};

use crate::tickets::TicketStore;

/// Time to connect and finish the TLS handshake.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Time for a request's answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The tenant's own client certificate and key for one provider.
pub struct ClientIdentity {
    /// Certificate, DER.
    pub cert_der: Vec<u8>,
    /// PKCS#8 key, DER; wiped when dropped.
    pub key_der: Zeroizing<Vec<u8>>,
}

/// How a connection attempt failed.
#[derive(Debug)]
pub enum ConnectError {
    /// The presented certificate is not pinned.
    Pin(Box<PinMismatch>),
    /// The certificate did not verify against the system roots or the host name (`--trust ca`),
    /// or was otherwise refused.
    Untrusted(String),
    /// Anything else, described.
    Other(String),
}

/// A gateway's answer.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// The JSON body (null when there was none).
    pub json: serde_json::Value,
}

/// A failed TCP connection, worded for someone who can act on it.
fn tcp_failure(e: &std::io::Error) -> String {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::ConnectionRefused => {
            "connection refused; is the gateway running (`cloudgate sp gateway run`) and is this its port?".into()
        }
        ErrorKind::HostUnreachable | ErrorKind::NetworkUnreachable => {
            format!("{e}; check the address and this machine's network")
        }
        ErrorKind::TimedOut => format!("{e}; is a firewall dropping the connection?"),
        // Name resolution failures arrive as uncategorised errors whose text says so.
        _ if e.to_string().contains("failed to lookup address") || e.to_string().contains("Name or service not known") => {
            "the host name does not resolve; check its spelling, or give an IP address".into()
        }
        _ => e.to_string(),
    }
}

/// A failed TLS handshake that is no certificate question: most often something other than
/// a cloudgate gateway answers on that port.
fn handshake_failure(e: &std::io::Error, endpoint: &str) -> String {
    let rustls_error = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match rustls_error {
        Some(rustls::Error::InvalidMessage(_))
        | Some(rustls::Error::InappropriateMessage { .. }) => {
            format!("{endpoint} does not speak TLS; is this the cloudgate gateway (port 6180)?")
        }
        Some(rustls::Error::AlertReceived(alert)) => {
            format!(
                "the server ended the TLS handshake with the alert {alert:?}; is this the cloudgate gateway?"
            )
        }
        _ if e.kind() == std::io::ErrorKind::UnexpectedEof => format!(
            "{endpoint} closed the connection during the TLS handshake; is this the cloudgate gateway (port 6180), and is it overloaded?"
        ),
        _ => format!("TLS handshake failed: {e}"),
    }
}

impl Reply {
    /// The body read into one of the protocol's types; `None` when it is not that (a peer that
    /// is not a cloudgate gateway, or a refusal where an answer was expected).
    pub fn typed<T: serde::de::DeserializeOwned>(&self) -> Option<T> {
        serde_json::from_value(self.json.clone()).ok()
    }
}

/// A client for one gateway endpoint.
pub struct GatewayClient {
    endpoint: String,
    server_name: ServerName<'static>,
    config: Arc<ClientConfig>,
    verifier: Arc<PinnedServerVerifier>,
}

fn server_name(address: &str) -> ServerName<'static> {
    ServerName::try_from(address.to_string())
        .unwrap_or_else(|_| ServerName::try_from("cloudgate").expect("a valid name"))
}

impl GatewayClient {
    fn build(
        address: &str,
        port: u16,
        verifier: Arc<PinnedServerVerifier>,
        identity: Option<&ClientIdentity>,
    ) -> Result<Self, String> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .dangerous()
            .with_custom_certificate_verifier(verifier.clone());
        let mut config = match identity {
            Some(id) => builder
                .with_client_auth_cert(
                    vec![CertificateDer::from(id.cert_der.clone())],
                    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(id.key_der.to_vec())),
                )
                .map_err(|e| format!("the client key does not load: {e}"))?,
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        config.resumption = rustls::client::Resumption::store(TicketStore::new());
        Ok(GatewayClient {
            endpoint: cloudgate_addr::endpoint(address, port),
            server_name: server_name(address),
            config: Arc::new(config),
            verifier,
        })
    }

    /// First contact: accepts any certificate (after a verified handshake) and records it.
    pub fn capture(address: &str, port: u16) -> Result<Self, String> {
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        Self::build(
            address,
            port,
            PinnedServerVerifier::capture(&provider),
            None,
        )
    }

    /// Every later contact: only the pinned certificate(s).
    pub fn pinned(
        address: &str,
        port: u16,
        pins: Vec<[u8; 32]>,
        identity: Option<&ClientIdentity>,
    ) -> Result<Self, String> {
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        Self::build(
            address,
            port,
            PinnedServerVerifier::pinned(&provider, pins),
            identity,
        )
    }

    /// Every later contact: any certificate with the pinned key (the pinned certificate and its
    /// renewals), identified by its SubjectPublicKeyInfo SHA-256.
    pub fn pinned_key(
        address: &str,
        port: u16,
        spki_sha256: [u8; 32],
        identity: Option<&ClientIdentity>,
    ) -> Result<Self, String> {
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        Self::build(
            address,
            port,
            PinnedServerVerifier::pinned_key(&provider, spki_sha256),
            identity,
        )
    }

    /// A join token's first contact: any certificate whose key is one of the token's pins,
    /// so an impostor fails in the handshake, before a byte of the request is sent.
    pub fn pinned_keys(
        address: &str,
        port: u16,
        spki_sha256s: Vec<[u8; 32]>,
    ) -> Result<Self, String> {
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        Self::build(
            address,
            port,
            PinnedServerVerifier::pinned_keys(&provider, spki_sha256s),
            None,
        )
    }

    /// Trusts the system's root certificates (`SSL_CERT_FILE`/`SSL_CERT_DIR` are honoured) and
    /// checks the host name, like a browser; for providers added with `--trust ca`.
    pub fn ca(address: &str, port: u16, identity: Option<&ClientIdentity>) -> Result<Self, String> {
        let found = rustls_native_certs::load_native_certs();
        let mut roots = rustls::RootCertStore::empty();
        let (added, _) = roots.add_parsable_certificates(found.certs);
        if added == 0 {
            return Err("no trusted root certificates found on this system (install ca-certificates, or set SSL_CERT_FILE)".into());
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let verifier = PinnedServerVerifier::ca(provider, roots).map_err(|e| e.to_string())?;
        Self::build(address, port, verifier, identity)
    }

    /// `address:port`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The chain the gateway presented on the last handshake (leaf first).
    pub fn presented_chain(&self) -> Option<Vec<Vec<u8>>> {
        self.verifier.presented_chain()
    }

    /// Connects and completes the TLS handshake.
    pub async fn connect(
        &self,
    ) -> Result<tokio_rustls::client::TlsStream<TcpStream>, ConnectError> {
        let attempt = async {
            let tcp = TcpStream::connect(&self.endpoint)
                .await
                .map_err(|e| ConnectError::Other(tcp_failure(&e)))?;
            let _ = tcp.set_nodelay(true);
            tokio_rustls::TlsConnector::from(self.config.clone())
                .connect(self.server_name.clone(), tcp)
                .await
                .map_err(|e| {
                    let pin = e
                        .get_ref()
                        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
                        .and_then(pin_mismatch)
                        .cloned();
                    let bad_cert = e
                        .get_ref()
                        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
                        .is_some_and(|r| matches!(r, rustls::Error::InvalidCertificate(_)));
                    match pin {
                        Some(p) => ConnectError::Pin(Box::new(p)),
                        None if bad_cert => ConnectError::Untrusted(e.to_string()),
                        None => ConnectError::Other(handshake_failure(&e, &self.endpoint)),
                    }
                })
        };
        tokio::time::timeout(CONNECT_TIMEOUT, attempt)
            .await
            .unwrap_or_else(|_| {
                Err(ConnectError::Other(format!(
                    "no answer within {} seconds; is the address right, and does a firewall let port {} through?",
                    CONNECT_TIMEOUT.as_secs(),
                    self.endpoint.rsplit(':').next().unwrap_or("6180")
                )))
            })
    }

    /// Sends one request on a new connection and reads the JSON answer.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        basic: Option<(&str, &str)>,
        body: Option<serde_json::Value>,
    ) -> Result<Reply, ConnectError> {
        self.request_with(method, path, basic, body, &[]).await
    }

    /// [`Self::request`] with extra request headers.
    pub async fn request_with(
        &self,
        method: &str,
        path: &str,
        basic: Option<(&str, &str)>,
        body: Option<serde_json::Value>,
        headers: &[(&str, String)],
    ) -> Result<Reply, ConnectError> {
        let tls = self.connect().await?;
        let other = |e: hyper::Error| ConnectError::Other(e.to_string());
        let (mut sender, conn) = http1::handshake(TokioIo::new(tls)).await.map_err(other)?;
        tokio::spawn(conn);
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", &self.endpoint);
        for (name, value) in headers {
            req = req.header(*name, value.as_str());
        }
        let token;
        if let Some((user, pass)) = basic {
            token = Zeroizing::new(
                base64::engine::general_purpose::STANDARD
                    .encode(Zeroizing::new(format!("{user}:{pass}")).as_bytes()),
            );
            req = req.header("authorization", format!("Basic {}", token.as_str()));
        }
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let req = req
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| ConnectError::Other(e.to_string()))?;
        let answer = async {
            let resp = sender.send_request(req).await.map_err(other)?;
            let status = resp.status().as_u16();
            let bytes = resp.into_body().collect().await.map_err(other)?.to_bytes();
            Ok(Reply {
                status,
                json: serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
            })
        };
        tokio::time::timeout(REQUEST_TIMEOUT, answer)
            .await
            .unwrap_or_else(|_| {
                Err(ConnectError::Other(
                    "the gateway did not answer in time".into(),
                ))
            })
    }

    /// Opens a tunnel to a service; the stream after `101` or the gateway's refusal.
    pub async fn open_tunnel(
        &self,
        service: &str,
    ) -> Result<Result<TokioIo<hyper::upgrade::Upgraded>, Reply>, ConnectError> {
        self.open_tunnel_within(service, REQUEST_TIMEOUT).await
    }

    /// [`Self::open_tunnel`], with `limit` for the gateway's answer: a gateway that completes
    /// the handshake and then says nothing must not hold the tenant's connection forever.
    async fn open_tunnel_within(
        &self,
        service: &str,
        limit: Duration,
    ) -> Result<Result<TokioIo<hyper::upgrade::Upgraded>, Reply>, ConnectError> {
        let tls = self.connect().await?;
        tokio::time::timeout(limit, self.tunnel_request(tls, service))
            .await
            .unwrap_or_else(|_| {
                Err(ConnectError::Other(
                    "the gateway did not answer the tunnel request in time".into(),
                ))
            })
    }

    async fn tunnel_request(
        &self,
        tls: tokio_rustls::client::TlsStream<TcpStream>,
        service: &str,
    ) -> Result<Result<TokioIo<hyper::upgrade::Upgraded>, Reply>, ConnectError> {
        let other = |e: hyper::Error| ConnectError::Other(e.to_string());
        let (mut sender, conn) = http1::handshake(TokioIo::new(tls)).await.map_err(other)?;
        tokio::spawn(conn.with_upgrades());
        let req = hyper::Request::builder()
            .method("GET")
            .uri(format!("/v1/tunnel/{service}"))
            .header("host", &self.endpoint)
            .header("connection", "upgrade")
            .header("upgrade", cloudgate_proto::TUNNEL_PROTOCOL)
            .body(Full::new(Bytes::new()))
            .map_err(|e| ConnectError::Other(e.to_string()))?;
        let resp = sender.send_request(req).await.map_err(other)?;
        if resp.status() != hyper::StatusCode::SWITCHING_PROTOCOLS {
            let status = resp.status().as_u16();
            let bytes = resp.into_body().collect().await.map_err(other)?.to_bytes();
            return Ok(Err(Reply {
                status,
                json: serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
            }));
        }
        let upgraded = hyper::upgrade::on(resp).await.map_err(other)?;
        Ok(Ok(TokioIo::new(upgraded)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_server::tls_server;

    #[tokio::test]
    async fn a_gateway_that_never_answers_a_tunnel_request_is_given_up_on() {
        let (port, pin) = tls_server(None).await;
        let client = GatewayClient::pinned("127.0.0.1", port, vec![pin], None).unwrap();
        // The outer bound only turns a hang (the defect) into a failure.
        let outcome = tokio::time::timeout(
            Duration::from_secs(10),
            client.open_tunnel_within("backup", Duration::from_millis(300)),
        )
        .await
        .expect("open_tunnel gave up by itself");
        match outcome {
            Err(ConnectError::Other(reason)) => assert!(reason.contains("in time"), "{reason}"),
            Err(_) => panic!("expected a timeout, got another connection error"),
            Ok(Ok(_)) => panic!("expected a timeout, got a tunnel"),
            Ok(Err(reply)) => panic!("expected a timeout, got an answer {}", reply.status),
        }
    }
}
