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
/// Time a gateway of several has to accept the TCP connection before the next is tried.
const FAILOVER_AFTER: Duration = Duration::from_millis(1500);
/// How long a gateway that did not answer is tried only after the others.
const REMEMBER_FAILURE: Duration = Duration::from_secs(30);
/// Most gateways a provider's list may hold; more are ignored.
pub const MAX_GATEWAYS: usize = 32;
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

/// The system's trusted root certificates (`SSL_CERT_FILE`/`SSL_CERT_DIR` are honoured).
fn system_roots() -> Result<rustls::RootCertStore, String> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = rustls::RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        return Err("no trusted root certificates found on this system (install ca-certificates, or set SSL_CERT_FILE)".into());
    }
    Ok(roots)
}

impl Reply {
    /// The body read into one of the protocol's types; `None` when it is not that (a peer that
    /// is not a cloudgate gateway, or a refusal where an answer was expected).
    pub fn typed<T: serde::de::DeserializeOwned>(&self) -> Option<T> {
        serde_json::from_value(self.json.clone()).ok()
    }

    /// The refusal's code, when the gateway sent one this version knows.
    pub fn code(&self) -> Option<cloudgate_proto::ErrorCode> {
        self.json
            .get("code")
            .and_then(|c| c.as_str())
            .and_then(cloudgate_proto::ErrorCode::from_name)
    }
}

/// One address a provider's gateway answers at.
struct Endpoint {
    /// `HOST:PORT`.
    address: String,
    server_name: ServerName<'static>,
}

/// A client for one provider's gateways: the address the user gave, and the gateways the
/// provider told of, tried in turn when one does not answer. Every one must present the pinned
/// certificate: a mismatch is a trust failure at once, never a reason to try the next.
pub struct GatewayClient {
    /// In order of preference: the told gateways (least loaded first), then the user's address.
    endpoints: Vec<Endpoint>,
    /// The endpoint that answered last (the user's address until one did).
    answered: std::sync::atomic::AtomicUsize,
    config: Arc<ClientConfig>,
    verifier: Arc<PinnedServerVerifier>,
}

/// Gateways that did not answer lately, by address: tried after the others for a while.
static FAILED: std::sync::LazyLock<
    std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>,
> = std::sync::LazyLock::new(Default::default);

fn failed_lately(address: &str) -> bool {
    let failed = FAILED.lock().unwrap_or_else(|p| p.into_inner());
    failed
        .get(address)
        .is_some_and(|t| t.elapsed() < REMEMBER_FAILURE)
}

fn remember_failure(address: &str, failed: bool) {
    let mut map = FAILED.lock().unwrap_or_else(|p| p.into_inner());
    if failed {
        map.insert(address.to_string(), std::time::Instant::now());
    } else {
        map.remove(address);
    }
}

/// Why one endpoint did not do.
enum Attempt {
    /// It did not answer (or broke off): the next may.
    NoAnswer(String),
    /// A trust failure: no other endpoint is tried.
    Refused(ConnectError),
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
            endpoints: vec![Endpoint {
                address: cloudgate_addr::endpoint(address, port),
                server_name: server_name(address),
            }],
            answered: std::sync::atomic::AtomicUsize::new(0),
            config: Arc::new(config),
            verifier,
        })
    }

    /// Adds the gateways the provider told of (`HOST:PORT`, least loaded first), to be tried
    /// before the user's address; ones that do not parse, and more than [`MAX_GATEWAYS`], are
    /// left out.
    pub fn with_gateways(mut self, gateways: &[String]) -> Self {
        let mut told: Vec<Endpoint> = Vec::new();
        for g in gateways.iter().take(MAX_GATEWAYS) {
            let Ok(hp) = cloudgate_addr::HostPort::parse(g, Some(cloudgate_addr::GATEWAY_PORT))
            else {
                continue;
            };
            let address = cloudgate_addr::endpoint(&hp.host, hp.port);
            if told.iter().any(|e| e.address == address) {
                continue;
            }
            told.push(Endpoint {
                server_name: server_name(&hp.host),
                address,
            });
        }
        let typed = self.endpoints.remove(0);
        told.retain(|e| e.address != typed.address);
        told.push(typed);
        self.endpoints = told;
        let last = self.endpoints.len() - 1;
        self.answered
            .store(last, std::sync::atomic::Ordering::Relaxed);
        self
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
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let verifier =
            PinnedServerVerifier::ca(provider, system_roots()?).map_err(|e| e.to_string())?;
        Self::build(address, port, verifier, identity)
    }

    /// Both the system's roots with the host name and the pinned key (`--trust ca+pin`): a
    /// chain no root vouches for is untrusted, a valid chain with another key a pin mismatch.
    pub fn ca_pinned_key(
        address: &str,
        port: u16,
        spki_sha256: [u8; 32],
        identity: Option<&ClientIdentity>,
    ) -> Result<Self, String> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let verifier =
            PinnedServerVerifier::ca_and_keys(provider, system_roots()?, vec![spki_sha256])
                .map_err(|e| e.to_string())?;
        Self::build(address, port, verifier, identity)
    }

    /// `address:port` of the gateway that answered last (the user's address until one did).
    pub fn endpoint(&self) -> &str {
        let i = self.answered.load(std::sync::atomic::Ordering::Relaxed);
        &self.endpoints[i.min(self.endpoints.len() - 1)].address
    }

    /// Every address this client may connect to, in order of preference.
    pub fn endpoints(&self) -> Vec<&str> {
        self.endpoints.iter().map(|e| e.address.as_str()).collect()
    }

    /// The chain the gateway presented on the last handshake (leaf first).
    pub fn presented_chain(&self) -> Option<Vec<Vec<u8>>> {
        self.verifier.presented_chain()
    }

    /// Connects and completes the TLS handshake with the first gateway that answers: those that
    /// did not lately come last, and with several each has [`FAILOVER_AFTER`] to accept the
    /// connection. A certificate that is not the pinned one ends the attempt at once.
    pub async fn connect(
        &self,
    ) -> Result<tokio_rustls::client::TlsStream<TcpStream>, ConnectError> {
        let several = self.endpoints.len() > 1;
        let mut order: Vec<usize> = (0..self.endpoints.len()).collect();
        // Stable: among the fresh, and among those that failed, the preference stays.
        order.sort_by_key(|&i| several && failed_lately(&self.endpoints[i].address));
        let mut last = String::new();
        for i in order {
            let endpoint = &self.endpoints[i];
            match self.connect_to(endpoint, several).await {
                Ok(tls) => {
                    self.answered.store(i, std::sync::atomic::Ordering::Relaxed);
                    if several {
                        remember_failure(&endpoint.address, false);
                    }
                    return Ok(tls);
                }
                Err(Attempt::Refused(e)) => {
                    self.answered.store(i, std::sync::atomic::Ordering::Relaxed);
                    return Err(e);
                }
                Err(Attempt::NoAnswer(reason)) => {
                    if several {
                        tracing::warn!(gateway = %endpoint.address, "{reason}; trying the next gateway");
                        remember_failure(&endpoint.address, true);
                    }
                    last = reason;
                }
            }
        }
        Err(ConnectError::Other(if several {
            format!(
                "none of the provider's {} gateways answers ({}); the last said: {last}",
                self.endpoints.len(),
                self.endpoints().join(", ")
            )
        } else {
            last
        }))
    }

    async fn connect_to(
        &self,
        endpoint: &Endpoint,
        several: bool,
    ) -> Result<tokio_rustls::client::TlsStream<TcpStream>, Attempt> {
        let started = std::time::Instant::now();
        let tcp_limit = if several {
            FAILOVER_AFTER
        } else {
            CONNECT_TIMEOUT
        };
        let port = endpoint.address.rsplit(':').next().unwrap_or("6180");
        let no_answer = || {
            Attempt::NoAnswer(format!(
                "no answer from {} within {} seconds; is the address right, and does a firewall let port {port} through?",
                endpoint.address,
                tcp_limit.as_secs_f32()
            ))
        };
        let tcp = match tokio::time::timeout(tcp_limit, TcpStream::connect(&endpoint.address)).await
        {
            Ok(Ok(tcp)) => tcp,
            Ok(Err(e)) => {
                return Err(Attempt::NoAnswer(format!(
                    "{}: {}",
                    endpoint.address,
                    tcp_failure(&e)
                )));
            }
            Err(_) => return Err(no_answer()),
        };
        let _ = tcp.set_nodelay(true);
        let handshake = tokio_rustls::TlsConnector::from(self.config.clone())
            .connect(endpoint.server_name.clone(), tcp);
        let left = CONNECT_TIMEOUT.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, handshake).await {
            Ok(Ok(tls)) => Ok(tls),
            Ok(Err(e)) => {
                let rustls_error = e
                    .get_ref()
                    .and_then(|inner| inner.downcast_ref::<rustls::Error>());
                let pin = rustls_error.and_then(pin_mismatch).cloned();
                let bad_cert =
                    rustls_error.is_some_and(|r| matches!(r, rustls::Error::InvalidCertificate(_)));
                Err(match pin {
                    Some(p) => Attempt::Refused(ConnectError::Pin(Box::new(p))),
                    None if bad_cert => Attempt::Refused(ConnectError::Untrusted(e.to_string())),
                    None => Attempt::NoAnswer(handshake_failure(&e, &endpoint.address)),
                })
            }
            Err(_) => Err(no_answer()),
        }
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
            .header("host", self.endpoint());
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
    /// A gateway under maintenance is passed over for the next one the provider told of (its
    /// own pool's, then others' where the tenant may fail over), and remembered as failed for
    /// a while; the last refusal when every one is.
    pub async fn open_tunnel(
        &self,
        service: &str,
    ) -> Result<Result<TokioIo<hyper::upgrade::Upgraded>, Reply>, ConnectError> {
        let mut tries = self.endpoints.len();
        loop {
            let opened = self.open_tunnel_within(service, REQUEST_TIMEOUT).await;
            let maintenance = matches!(&opened, Ok(Err(r)) if r.code() == Some(cloudgate_proto::ErrorCode::Maintenance));
            tries = tries.saturating_sub(1);
            if !maintenance || tries == 0 {
                return opened;
            }
            let i = self.answered.load(std::sync::atomic::Ordering::Relaxed);
            if let Some(endpoint) = self.endpoints.get(i) {
                tracing::warn!(gateway = %endpoint.address, "the gateway is under maintenance; trying the next gateway");
                remember_failure(&endpoint.address, true);
            }
        }
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
            .header("host", self.endpoint())
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
