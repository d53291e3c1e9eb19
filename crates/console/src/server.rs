//! The console's HTTPS listener: TLS with the SP's certificate in use, HTTP/1.1, and limits on
//! what a stranger who reaches the port can hold: connections at once, time to finish the
//! handshake and to send the request head, and the body size (set on the router).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::sync::RwLock;

use cloudgate_store::CertStore;
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::ResolvesServerCert;
use rustls::sign::CertifiedKey;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt as _;

use crate::ConsoleError;

/// Connections served at once; more wait in the kernel's backlog.
const MAX_CONNECTIONS: usize = 128;
/// Connections served at once from one source address: one address cannot take every slot
/// (a browser opens six or so).
const MAX_PER_ADDRESS: usize = 16;
/// Time to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Time to send a request's head.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest a connection lives, idle keep-alive included.
const CONNECTION_LIFETIME: Duration = Duration::from_secs(300);

/// The peer's address, in every request's extensions.
#[derive(Clone, Copy, Debug)]
pub struct Peer(pub SocketAddr);

/// How often the console looks whether the certificate in use changed (by `sp cert` or a
/// gateway's renewal); its own changes take effect at once.
pub const CERTIFICATE_CHECK: Duration = Duration::from_secs(5);

/// The certificate the console serves: the one in use, swapped when it changes, so the browser
/// always sees the thumbprint tenants pin.
#[derive(Debug)]
pub struct CurrentCertificate {
    store: CertStore,
    provider: Arc<CryptoProvider>,
    served: RwLock<(String, Arc<CertifiedKey>)>,
}

impl CurrentCertificate {
    /// The certificate in use now; an error when there is none or its key cannot be read.
    pub fn load(store: CertStore) -> Result<Arc<Self>, ConsoleError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let (sha256, key) = certified(&store, &provider)?;
        Ok(Arc::new(CurrentCertificate {
            store,
            provider,
            served: RwLock::new((sha256, key)),
        }))
    }

    /// Serves the certificate in use if it is not the one served; says whether it changed.
    pub fn refresh(&self) -> Result<bool, ConsoleError> {
        let in_use = self
            .store
            .applied_record()
            .map_err(|e| ConsoleError::Tls(e.to_string()))?
            .map(|r| r.sha256);
        let served = self
            .served
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .0
            .clone();
        if in_use.is_none() || in_use.as_deref() == Some(served.as_str()) {
            return Ok(false);
        }
        let next = certified(&self.store, &self.provider)?;
        *self.served.write().unwrap_or_else(|p| p.into_inner()) = next;
        Ok(true)
    }

    /// TLS settings that serve it: TLS 1.3 and 1.2, HTTP/1.1, no client certificates.
    pub fn tls_config(self: &Arc<Self>) -> Result<Arc<ServerConfig>, ConsoleError> {
        let mut config = ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| ConsoleError::Tls(e.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

impl ResolvesServerCert for CurrentCertificate {
    fn resolve(&self, _: rustls::server::ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.served
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .1
                .clone(),
        )
    }
}

/// The certificate in use with its chain and key, for rustls.
fn certified(
    store: &CertStore,
    provider: &CryptoProvider,
) -> Result<(String, Arc<CertifiedKey>), ConsoleError> {
    let tls = |e: String| ConsoleError::Tls(e);
    let current = store
        .applied()
        .map_err(|e| tls(e.to_string()))?
        .ok_or_else(|| tls("no certificate is in use".into()))?;
    let key_der = store
        .load_private_key(&current)
        .map_err(|e| tls(e.to_string()))?;
    let key = provider
        .key_provider
        .load_private_key(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            key_der.to_vec(),
        )))
        .map_err(|e| tls(e.to_string()))?;
    let mut chain = vec![CertificateDer::from(current.info.der.clone())];
    chain.extend(current.chain.iter().cloned().map(CertificateDer::from));
    Ok((
        current.info.fingerprints.sha256_hex(),
        Arc::new(CertifiedKey::new(chain, key)),
    ))
}

/// Serves `app` on `listener` over TLS until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    app: Router,
    shutdown: impl Future<Output = ()>,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let per_address = cloudgate_addr::limit::PerAddressLimit::new(MAX_PER_ADDRESS);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            _ = &mut shutdown => return,
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
        };
        let (tcp, peer) = tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "console: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Some(address_slot) = per_address.try_acquire(peer.ip()) else {
            tracing::warn!(%peer, max = MAX_PER_ADDRESS, "console: connection refused: too many connections from this address");
            drop(tcp);
            continue;
        };
        let acceptor = acceptor.clone();
        let app = app.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let _address_slot = address_slot;
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "console: TLS handshake failed");
                    return;
                }
                Err(_) => return,
            };
            let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                req.extensions_mut().insert(Peer(peer));
                app.clone().oneshot(req)
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(tls), service);
            let _ = tokio::time::timeout(CONNECTION_LIFETIME, conn).await;
        });
    }
}

/// A console bound to its address, serving the certificate in use and following it.
pub struct ConsoleServer {
    listener: TcpListener,
    served: Arc<CurrentCertificate>,
    console: Arc<crate::Console>,
}

impl ConsoleServer {
    /// Binds `addr` for `console`, serving `served`.
    pub async fn bind(
        addr: SocketAddr,
        served: Arc<CurrentCertificate>,
        console: Arc<crate::Console>,
    ) -> std::io::Result<Self> {
        Ok(ConsoleServer {
            listener: TcpListener::bind(addr).await?,
            served,
            console,
        })
    }

    /// Where it listens.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown`, looking every [`CERTIFICATE_CHECK`] whether the certificate in
    /// use changed.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) -> Result<(), ConsoleError> {
        let tls = self.served.tls_config()?;
        let served = self.served.clone();
        let follow = tokio::spawn(async move {
            let mut tick = tokio::time::interval(CERTIFICATE_CHECK);
            loop {
                tick.tick().await;
                match served.refresh() {
                    Ok(true) => tracing::info!("console: serving the new certificate in use"),
                    Ok(false) => {}
                    Err(e) => tracing::warn!(error = %e, "console: certificate not reloaded"),
                }
            }
        });
        let sampler = tokio::spawn(self.console.clone().sample_tunnels());
        let journal = self.console.sp.journal().clone();
        let auditor = journal.flush_every(std::time::Duration::from_secs(1));
        let app = crate::router(self.console);
        serve(self.listener, tls, app, shutdown).await;
        follow.abort();
        sampler.abort();
        auditor.abort();
        if let Err(e) = journal.flush().await {
            tracing::warn!(error = %e, "console: audit entries reached only the local audit.log");
        }
        Ok(())
    }
}
