//! A running gateway (the real binary) and a small tenant client for the gateway tests: pinned
//! TLS with the pki verifier, optional client certificate, HTTP/1.1 with upgrades.

use std::net::SocketAddr;
use std::process::{Child, Stdio};
use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::util::Env;

pub const TENANT_PASSWORD: &str = "tenant password 1";

/// The gateway process; SIGTERM and wait on drop.
pub struct GatewayProc {
    pub child: Child,
    pub addr: SocketAddr,
    /// Its stderr.
    pub log: std::path::PathBuf,
}

impl GatewayProc {
    pub fn start(env: &Env, extra: &[&str]) -> Self {
        Self::start_logged(env, "gateway.log", extra)
    }

    /// Like [`GatewayProc::start`], logging to `log` in the test's directory (several gateways
    /// of one data directory each have their own).
    pub fn start_logged(env: &Env, log: &str, extra: &[&str]) -> Self {
        Self::start_with_env(env, log, extra, &[])
    }

    /// Like [`GatewayProc::start_logged`], with more environment variables.
    pub fn start_with_env(env: &Env, log: &str, extra: &[&str], vars: &[(&str, &str)]) -> Self {
        Self::start_through(env, log, extra, vars, &[])
    }

    /// Like [`GatewayProc::start_with_env`], started by `launcher` (a command that runs the one
    /// after it, such as `taskset -c 0`); none when empty.
    pub fn start_through(
        env: &Env,
        log: &str,
        extra: &[&str],
        vars: &[(&str, &str)],
        launcher: &[&str],
    ) -> Self {
        let bin = assert_cmd::cargo::cargo_bin("cloudgate");
        let mut command = match launcher.split_first() {
            Some((program, args)) => {
                let mut c = std::process::Command::new(program);
                c.args(args).arg(bin);
                c
            }
            None => std::process::Command::new(bin),
        };
        let mut child = command
            .args(["sp", "gateway", "run"])
            // Defaults for tests, unless the test sets them itself.
            .args(if extra.contains(&"--listen") {
                &[][..]
            } else {
                &["--listen", "127.0.0.1:0"][..]
            })
            .args(if extra.contains(&"--reload-interval") {
                &[][..]
            } else {
                &["--reload-interval", "1"][..]
            })
            .args(extra)
            .env("CLOUDGATE_HOME", &env.data)
            .env("CLOUDGATE_LOG", "info")
            .envs(vars.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(std::fs::File::create(env.path(log)).unwrap()))
            .spawn()
            .unwrap();
        let line = crate::util::first_stdout_line(&mut child);
        // The text line, or the JSON one with --json.
        let addr = line
            .split(|c: char| c.is_whitespace() || c == '"')
            .find_map(|w| w.parse::<SocketAddr>().ok())
            .unwrap_or_else(|| {
                panic!(
                    "no address in {line:?}; log: {}",
                    std::fs::read_to_string(env.path(log)).unwrap_or_default()
                )
            });
        GatewayProc {
            child,
            addr,
            log: env.path(log),
        }
    }

    /// Makes the gateway reload now (SIGHUP) and returns once it says the reload is done, so
    /// every change made before is served: no fixed wait for the reload poll.
    pub async fn reload(&self) {
        let done = || {
            std::fs::read_to_string(&self.log)
                .unwrap_or_default()
                .matches("requested reload done")
                .count()
        };
        let before = done();
        let _ = std::process::Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        while done() == before {
            assert!(
                std::time::Instant::now() < deadline,
                "the gateway did not finish a requested reload: {}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    pub fn stop(&mut self) -> std::process::ExitStatus {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait().unwrap()
    }
}

impl Drop for GatewayProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A tenant's client identity: an ECDSA P-256 certificate and key made by cloudgate-pki.
pub struct ClientIdentity {
    pub cert_der: Vec<u8>,
    pub key_der: Vec<u8>,
}

impl ClientIdentity {
    pub fn new(name: &str) -> Self {
        let g = cloudgate_pki::generate_self_signed(&cloudgate_pki::SelfSignedRequest {
            key_type: cloudgate_pki::KeyType::EcdsaP256,
            subject: cloudgate_pki::dn::SubjectName::parse(&format!("CN={name}")).unwrap(),
            sans: vec![],
            valid_days: 30,
            now: time::OffsetDateTime::now_utc(),
        })
        .unwrap();
        ClientIdentity {
            cert_der: g.cert_der,
            key_der: g.key_pkcs8_der.to_vec(),
        }
    }

    pub fn pem(&self) -> String {
        cloudgate_pki::pem::encode_certificate(&self.cert_der)
    }
}

/// The SHA-256 pin of the applied certificate, from `sp cert current --json`.
pub fn applied_pin(env: &Env) -> [u8; 32] {
    let c: crate::util::CertJson =
        serde_json::from_str(&env.ok(&["sp", "cert", "current", "--json"])).unwrap();
    let bytes: Vec<u8> = (0..32)
        .map(|i| u8::from_str_radix(&c.sha256[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    bytes.try_into().unwrap()
}

pub type Tls = tokio_rustls::client::TlsStream<TcpStream>;

/// Connects with TLS, pinned to `pin` (or capturing whatever is presented when `pin` is None).
pub async fn connect(
    addr: SocketAddr,
    pin: Option<[u8; 32]>,
    identity: Option<&ClientIdentity>,
) -> Result<(Tls, Arc<cloudgate_pki::verify::PinnedServerVerifier>), std::io::Error> {
    connect_from(None, addr, pin, identity).await
}

/// Like [`connect`], from a chosen loopback source address (127.0.0.2, say).
pub async fn connect_from(
    source: Option<&str>,
    addr: SocketAddr,
    pin: Option<[u8; 32]>,
    identity: Option<&ClientIdentity>,
) -> Result<(Tls, Arc<cloudgate_pki::verify::PinnedServerVerifier>), std::io::Error> {
    let presented = identity.map(|id| FixedClientCert::new(&id.cert_der, &id.key_der));
    connect_presenting(source, addr, pin, presented).await
}

/// Presents a given certificate with a given key, matching or not: what a client that copied a
/// tenant's certificate but not its key would do.
#[derive(Debug)]
pub struct FixedClientCert(Arc<rustls::sign::CertifiedKey>);

impl FixedClientCert {
    pub fn new(cert_der: &[u8], key_der: &[u8]) -> Arc<Self> {
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        let key = provider
            .key_provider
            .load_private_key(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
                key_der.to_vec(),
            )))
            .unwrap();
        Arc::new(FixedClientCert(Arc::new(rustls::sign::CertifiedKey::new(
            vec![CertificateDer::from(cert_der.to_vec())],
            key,
        ))))
    }
}

impl rustls::client::ResolvesClientCert for FixedClientCert {
    fn resolve(
        &self,
        _hints: &[&[u8]],
        _schemes: &[rustls::SignatureScheme],
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// Connects with TLS from `source`, pinned to `pin` (or capturing), presenting `client_cert`.
pub async fn connect_presenting(
    source: Option<&str>,
    addr: SocketAddr,
    pin: Option<[u8; 32]>,
    client_cert: Option<Arc<FixedClientCert>>,
) -> Result<(Tls, Arc<cloudgate_pki::verify::PinnedServerVerifier>), std::io::Error> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = match pin {
        Some(p) => cloudgate_pki::verify::PinnedServerVerifier::pinned(&provider, vec![p]),
        None => cloudgate_pki::verify::PinnedServerVerifier::capture(&provider),
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(verifier.clone());
    let mut config = match client_cert {
        Some(resolver) => builder.with_client_cert_resolver(resolver),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tcp = match source {
        None => TcpStream::connect(addr).await?,
        Some(ip) => {
            let socket = tokio::net::TcpSocket::new_v4()?;
            socket.bind(format!("{ip}:0").parse().expect("a loopback address"))?;
            socket.connect(addr).await?
        }
    };
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("cloudgate").unwrap(), tcp)
        .await?;
    Ok((tls, verifier))
}

/// A response: status, and the body as JSON when it is JSON.
pub struct Reply {
    pub status: u16,
    pub json: serde_json::Value,
}

/// Sends one request on a fresh pinned connection.
pub async fn request(
    addr: SocketAddr,
    pin: [u8; 32],
    identity: Option<&ClientIdentity>,
    method: &str,
    path: &str,
    basic: Option<(&str, &str)>,
    body: Option<serde_json::Value>,
) -> Reply {
    request_from(None, addr, pin, identity, method, path, basic, body).await
}

/// Like [`request`], from a chosen loopback source address.
#[allow(clippy::too_many_arguments)]
pub async fn request_from(
    source: Option<&str>,
    addr: SocketAddr,
    pin: [u8; 32],
    identity: Option<&ClientIdentity>,
    method: &str,
    path: &str,
    basic: Option<(&str, &str)>,
    body: Option<serde_json::Value>,
) -> Reply {
    let (tls, _) = connect_from(source, addr, Some(pin), identity)
        .await
        .expect("TLS connect");
    let (mut sender, conn) = http1::handshake(TokioIo::new(tls)).await.unwrap();
    tokio::spawn(conn);
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "cloudgate");
    if let Some((u, p)) = basic {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
        req = req.header("authorization", format!("Basic {token}"));
    }
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let resp = sender
        .send_request(req.body(Full::new(Bytes::from(body))).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        json: serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    }
}

/// Enrolls `identity` as `tenant`.
pub async fn enroll(
    addr: SocketAddr,
    pin: [u8; 32],
    identity: &ClientIdentity,
    tenant: &str,
    password: &str,
) -> Reply {
    request(
        addr,
        pin,
        Some(identity),
        "POST",
        "/v1/enroll",
        Some((tenant, password)),
        Some(serde_json::json!({ "client_cert_pem": identity.pem() })),
    )
    .await
}

/// Opens a tunnel; returns the raw stream after `101`, or the refusal.
pub async fn tunnel(
    addr: SocketAddr,
    pin: [u8; 32],
    identity: Option<&ClientIdentity>,
    service: &str,
) -> Result<TokioIo<hyper::upgrade::Upgraded>, Reply> {
    let (tls, _) = connect(addr, Some(pin), identity)
        .await
        .expect("TLS connect");
    tunnel_over(tls, service).await
}

/// Asks for a tunnel on an open TLS connection.
pub async fn tunnel_over(
    tls: Tls,
    service: &str,
) -> Result<TokioIo<hyper::upgrade::Upgraded>, Reply> {
    let (mut sender, conn) = http1::handshake(TokioIo::new(tls)).await.unwrap();
    tokio::spawn(conn.with_upgrades());
    let req = hyper::Request::builder()
        .method("GET")
        .uri(format!("/v1/tunnel/{service}"))
        .header("host", "cloudgate")
        .header("connection", "upgrade")
        .header("upgrade", "cloudgate-tunnel")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    if resp.status() != hyper::StatusCode::SWITCHING_PROTOCOLS {
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        return Err(Reply {
            status,
            json: serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        });
    }
    Ok(TokioIo::new(hyper::upgrade::on(resp).await.unwrap()))
}

/// An echo server on loopback; returns its address.
pub async fn echo_backend() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
                let _ = w.shutdown().await;
            });
        }
    });
    addr
}

/// Sets up a data directory with an applied certificate, a tenant and an echo service.
pub async fn provider_with_tenant(env: &Env, tenant: &str) -> SocketAddr {
    env.ok(&[
        "sp",
        "cert",
        "generate",
        "--key-type",
        "ecdsa-p256",
        "--apply",
    ]);
    add_tenant(env, tenant);
    let echo = echo_backend().await;
    env.ok(&[
        "sp",
        "tenant",
        "service",
        "add",
        tenant,
        "echo",
        &echo.to_string(),
    ]);
    echo
}

pub fn add_tenant(env: &Env, tenant: &str) {
    let out = env
        .cmd()
        .args(["sp", "tenant", "add", tenant, "--password-stdin"])
        .write_stdin(format!("{TENANT_PASSWORD}\n"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Writes `data` and reads the echo at the same time; returns what came back.
pub async fn echo_roundtrip<
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
>(
    stream: S,
    data: Vec<u8>,
) -> Vec<u8> {
    let (mut r, mut w) = tokio::io::split(stream);
    let writer = tokio::spawn(async move {
        for chunk in data.chunks(256 * 1024) {
            w.write_all(chunk).await.unwrap();
        }
        w.shutdown().await.unwrap();
    });
    let mut back = Vec::new();
    r.read_to_end(&mut back).await.unwrap();
    writer.await.unwrap();
    back
}

/// The refusal of a request that should have been refused.
pub fn refused<T>(result: Result<T, Reply>) -> Reply {
    match result {
        Ok(_) => panic!("expected a refusal, got a tunnel"),
        Err(reply) => reply,
    }
}

/// A gateway with an enrolled tenant `acme` and its echo service; returns the gateway, the pin
/// and the tenant's identity.
pub async fn gateway_with_enrolled_tenant(
    env: &Env,
    extra: &[&str],
) -> (GatewayProc, [u8; 32], ClientIdentity) {
    provider_with_tenant(env, "acme").await;
    let gw = GatewayProc::start(env, extra);
    let pin = applied_pin(env);
    let id = ClientIdentity::new("acme");
    let r = enroll(gw.addr, pin, &id, "acme", TENANT_PASSWORD).await;
    assert_eq!(r.status, 200, "{}", r.json);
    (gw, pin, id)
}

/// A tenant machine that added `sp`'s gateway at `address` as provider `sp`, as tenant `acme`
/// (`tenant provider add` with the thumbprint and the password in a file).
pub fn tenant_of(sp: &Env, address: &str) -> Env {
    let tenant = Env::new();
    std::fs::write(tenant.path("pw"), format!("{TENANT_PASSWORD}\n")).unwrap();
    let thumb: crate::util::CertJson =
        serde_json::from_str(&sp.ok(&["sp", "cert", "current", "--json"])).unwrap();
    tenant.ok(&[
        "tenant",
        "provider",
        "add",
        address,
        "--username",
        "acme",
        "--password-file",
        tenant.path("pw").to_str().unwrap(),
        "--name",
        "sp",
        "--thumbprint",
        &thumb.thumbprint,
    ]);
    tenant
}

/// Starts `cloudgate tenant tunnel sp echo` for `tenant` on a free local port and returns the
/// process and the address it listens on. `stderr_piped`: keep stderr for the caller to read
/// (shown if the tunnel fails to start); otherwise it is discarded, for tests that run long
/// enough that an unread pipe would fill up.
pub fn start_tenant_tunnel(tenant: &Env, stderr_piped: bool) -> (Child, SocketAddr) {
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("cloudgate"))
        .args(["tenant", "tunnel", "sp", "echo", "--listen", "127.0.0.1:0"])
        .env("CLOUDGATE_HOME", &tenant.data)
        .stdout(Stdio::piped())
        .stderr(if stderr_piped {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .spawn()
        .unwrap();
    let line = crate::util::first_stdout_line(&mut child);
    match line
        .split_whitespace()
        .find_map(|w| w.parse::<SocketAddr>().ok())
    {
        Some(addr) => (child, addr),
        None => {
            let out = child.wait_with_output().unwrap();
            panic!(
                "no tunnel address: {line:?} {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}
