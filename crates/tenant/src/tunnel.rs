//! `tenant tunnel`: a local listener whose connections are each carried through a new pinned,
//! mutually authenticated tunnel to one SP service. The trust is checked (and the service
//! looked up) before anything listens; while it runs, the tunnel follows renewals and proven
//! rollovers exactly like `check` (the stored pin moves with it), re-checks on a timer so it
//! learns announced successors and confirms them to the SP, and stops with the trust failure
//! on anything it cannot follow.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use cloudgate_db::PinnedProvider;
use tokio::net::{TcpListener, TcpStream};

use crate::client::{ConnectError, GatewayClient};
use crate::error::TenantError;
use crate::flows::{CheckReport, check_session};
use crate::paths::TenantPaths;
use crate::session::{Session, refusal_error};

/// The client in use and the pin and gateway list it was built for.
struct Current {
    client: Arc<GatewayClient>,
    pinned_sha256: String,
    gateways: Vec<String>,
}

struct Shared {
    session: Session,
    service: String,
    current: RwLock<Current>,
}

/// A tunnel whose trust was checked and whose listener is bound; [`TunnelListener::serve`]
/// runs it.
pub struct TunnelListener {
    shared: Arc<Shared>,
    listener: TcpListener,
    local: SocketAddr,
    check_every: Duration,
}

/// Checks the provider (exit 3 on a trust failure, 4 for a disabled account), refuses a service
/// the provider does not offer this tenant, and only then listens on `listen`.
pub async fn open_tunnel(
    paths: &TenantPaths,
    name: &str,
    service: &str,
    listen: SocketAddr,
    check_every: Duration,
) -> Result<(TunnelListener, CheckReport), TenantError> {
    let session = Session::open(paths, name).await?;
    let report = check_session(&session).await?;
    if !report.services.iter().any(|s| s == service) {
        return Err(TenantError::BadInput(format!(
            "provider {name} offers this tenant no service named {service:?}; it offers: {}",
            if report.services.is_empty() {
                "none".to_string()
            } else {
                report.services.join(", ")
            }
        )));
    }
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|e| TenantError::Listen {
            address: listen.to_string(),
            reason: format!("{e}{}", cloudgate_addr::listen_hint(e.kind(), listen)),
        })?;
    let local = listener.local_addr().map_err(|e| TenantError::Listen {
        address: listen.to_string(),
        reason: e.to_string(),
    })?;
    let p = session.provider().await?;
    let client = Arc::new(session.client(&p)?);
    let shared = Arc::new(Shared {
        session,
        service: service.to_string(),
        current: RwLock::new(Current {
            client,
            pinned_sha256: p.sha256,
            gateways: p.gateways,
        }),
    });
    Ok((
        TunnelListener {
            shared,
            listener,
            local,
            check_every,
        },
        report,
    ))
}

impl Shared {
    fn client(&self) -> (Arc<GatewayClient>, String) {
        match self.current.read() {
            Ok(c) => (c.client.clone(), c.pinned_sha256.clone()),
            Err(poisoned) => {
                let c = poisoned.into_inner();
                (c.client.clone(), c.pinned_sha256.clone())
            }
        }
    }

    /// Builds a client for a moved pin (the old one's TLS tickets belong to the old key) or a
    /// changed list of gateways.
    fn replace(&self, p: &PinnedProvider) -> Result<Arc<GatewayClient>, TenantError> {
        let client = Arc::new(self.session.client(p)?);
        if let Ok(mut c) = self.current.write() {
            if c.pinned_sha256 != p.sha256 || c.gateways != p.gateways {
                *c = Current {
                    client: client.clone(),
                    pinned_sha256: p.sha256.clone(),
                    gateways: p.gateways.clone(),
                };
            } else {
                return Ok(c.client.clone());
            }
        }
        Ok(client)
    }

    /// Carries one local connection. `Err` only for what must stop the listener.
    async fn carry(&self, mut local: TcpStream, peer: SocketAddr) -> Result<(), TenantError> {
        let (client, pinned) = self.client();
        let mut client = client;
        let mut pinned = pinned;
        let mut moved = false;
        // A told gateway that presents an untrusted certificate is dropped and the next tried;
        // the bound only guards the loop.
        let mut tries = crate::client::MAX_GATEWAYS + 2;
        let opened = loop {
            tries -= 1;
            match client.open_tunnel(&self.service).await {
                Err(ConnectError::Pin(m)) => {
                    let p = self.session.provider().await?;
                    let first_contact = crate::session::is_first_contact(&p, client.endpoint());
                    if tries == 0 || (moved && first_contact) {
                        return Err(self.session.refuse(
                            &p,
                            client.endpoint(),
                            m.presented_fingerprints.as_ref().map(|f| (f, &m.presented)),
                            crate::trust::Refusal::NoProof,
                            "the certificate changed again after the pin moved",
                        ));
                    }
                    moved |= first_contact;
                    let p = self
                        .session
                        .resolve_mismatch(&p, client.endpoint(), &m)
                        .await?;
                    client = self.replace(&p)?;
                    pinned = p.sha256.clone();
                }
                other => {
                    if other.is_ok() {
                        self.follow_renewal(&client, &pinned).await?;
                    }
                    break other;
                }
            }
        };
        match opened {
            Ok(Ok(mut upstream)) => {
                match tokio::io::copy_bidirectional(&mut local, &mut upstream).await {
                    Ok((up, down)) => {
                        tracing::info!(peer = %peer, service = %self.service, bytes_up = up, bytes_down = down, "tunnel connection closed")
                    }
                    Err(e) => {
                        tracing::info!(peer = %peer, service = %self.service, error = %e, "tunnel connection ended")
                    }
                }
                Ok(())
            }
            Ok(Err(reply)) => {
                let e = refusal_error(&reply);
                tracing::warn!(service = %self.service, "the service provider refused the tunnel: {e}");
                Ok(())
            }
            Err(ConnectError::Pin(_)) => Ok(()),
            Err(ConnectError::Untrusted(reason)) => Err(TenantError::Untrusted {
                endpoint: client.endpoint().to_string(),
                reason,
            }),
            Err(ConnectError::Other(reason)) => {
                tracing::warn!(endpoint = %client.endpoint(), "cannot reach the service provider ({reason}); the next connection tries again");
                Ok(())
            }
        }
    }

    /// A connection the pinned-key verifier accepted may have presented a renewal: move the pin.
    async fn follow_renewal(
        &self,
        client: &GatewayClient,
        pinned: &str,
    ) -> Result<(), TenantError> {
        let presented = client
            .presented_chain()
            .and_then(|c| cloudgate_pki::CertificateInfo::from_der(&c[0]).ok());
        if presented.is_some_and(|c| c.fingerprints.sha256_hex() != pinned) {
            let p = self.session.provider().await?;
            let p = self.session.after_handshake(&p, client).await?;
            self.replace(&p)?;
        }
        Ok(())
    }
}

impl TunnelListener {
    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Accepts local connections until `shutdown` resolves, or until a trust failure stops it.
    pub async fn serve(
        self,
        shutdown: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
    ) -> Result<(), TenantError> {
        let (fail_tx, mut fail_rx) = tokio::sync::mpsc::channel::<TenantError>(1);
        let mut recheck = tokio::time::interval(self.check_every);
        recheck.reset();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => return Ok(()),
                Some(e) = fail_rx.recv() => return Err(e),
                _ = recheck.tick() => {
                    match check_session(&self.shared.session).await {
                        Ok(_) => {
                            let p = self.shared.session.provider().await?;
                            self.shared.replace(&p)?;
                        }
                        Err(e @ (TenantError::PinMismatch(_) | TenantError::Untrusted { .. })) => return Err(e),
                        Err(e) => tracing::warn!("periodic check of the provider failed: {e}; the tunnel keeps listening"),
                    }
                }
                accepted = self.listener.accept() => {
                    let Ok((local, peer)) = accepted else { continue };
                    let _ = local.set_nodelay(true);
                    let shared = self.shared.clone();
                    let fail = fail_tx.clone();
                    tokio::spawn(async move {
                        if let Err(e) = shared.carry(local, peer).await {
                            let _ = fail.send(e).await;
                        }
                    });
                }
            }
        }
    }
}
