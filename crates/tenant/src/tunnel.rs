//! `tenant tunnel`: a local listener whose connections are each carried through a new pinned,
//! mutually authenticated tunnel to one SP service. The trust is checked (and the service
//! looked up) before anything listens; while it runs, the tunnel follows renewals and proven
//! rollovers exactly like `check` (the stored pin moves with it), re-checks on a timer so it
//! learns announced successors and confirms them to the SP, and stops with the trust failure
//! on anything it cannot follow.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use cloudgate_db::PinnedProvider;
use tokio::net::{TcpListener, TcpStream};

use crate::client::{ConnectError, GatewayClient};
use crate::error::TenantError;
use crate::flows::{CheckReport, check_session};
use crate::paths::TenantPaths;
use crate::session::{Session, refusal_error};

/// The target of the per-connection lines (an access log's): the daemon writes information
/// lines of a target ending in `::access` in batches.
const ACCESS: &str = "cloudgate_tenant::access";

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
    health: Arc<LinkHealth>,
}

/// The first wait of a connection refused for the SP's tunnel limit; it doubles up to
/// [`LIMIT_MAX_BACKOFF`], and the connection is given up after [`LIMIT_PATIENCE`].
pub const LIMIT_FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// The longest wait between two tries under the tunnel limit.
pub const LIMIT_MAX_BACKOFF: Duration = Duration::from_secs(8);
/// How long a connection waits for a place under the tunnel limit.
pub const LIMIT_PATIENCE: Duration = Duration::from_secs(30);

/// How often a listening tunnel checks that its provider's gateway answers, and how long it
/// waits: a stopped gateway shows in the health within `PROBE_EVERY + PROBE_TIMEOUT`.
pub const PROBE_EVERY: Duration = Duration::from_secs(2);
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// Whether a listening tunnel can carry connections now: its gateway answers (a TCP connection
/// every [`PROBE_EVERY`]) and the last connection it carried was opened (a refused or
/// unreachable tunnel counts until the next one opens). For `/health`: listening is not enough,
/// a backup client would meet "connection reset by peer".
#[derive(Debug, Default)]
pub struct LinkHealth {
    /// Why the gateway did not answer the last probe.
    unreachable: Mutex<Option<String>>,
    /// Why the last connection could not be carried.
    refused: Mutex<Option<String>>,
    /// The refusal's code, when the gateway refused it.
    refused_code: Mutex<Option<cloudgate_proto::ErrorCode>>,
}

impl LinkHealth {
    /// What keeps the tunnel from carrying connections, if anything.
    pub fn problem(&self) -> Option<String> {
        let unreachable = self
            .unreachable
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        unreachable.or_else(|| {
            self.refused
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone()
        })
    }

    fn set<T>(slot: &Mutex<Option<T>>, value: Option<T>) {
        *slot.lock().unwrap_or_else(PoisonError::into_inner) = value;
    }

    /// The state word for the problem: `maintenance` or `limited` for those refusals (the
    /// tunnel waits them out), `unreachable` otherwise.
    pub fn problem_state(&self) -> &'static str {
        let unreachable = self
            .unreachable
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some();
        let code = *self
            .refused_code
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match code {
            Some(cloudgate_proto::ErrorCode::Maintenance) if !unreachable => "maintenance",
            Some(cloudgate_proto::ErrorCode::TenantLimit) if !unreachable => "limited",
            _ => "unreachable",
        }
    }
}

/// Probes the gateway every [`PROBE_EVERY`] and records the answer.
async fn probe_loop(shared: Arc<Shared>) {
    let mut probes = tokio::time::interval(PROBE_EVERY);
    probes.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        probes.tick().await;
        let (client, _) = shared.client();
        let answered = probe(client.endpoint()).await;
        let health = &shared.health;
        let was_down = health
            .unreachable
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some();
        if answered.is_ok() && was_down {
            // The gateway is back: the next connection shows whether it carries.
            LinkHealth::set(&health.refused, None);
        }
        LinkHealth::set(&health.unreachable, answered.err());
    }
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Connects to `endpoint` (host:port) and closes at once: whether the gateway answers.
async fn probe(endpoint: &str) -> Result<(), String> {
    match tokio::time::timeout(PROBE_TIMEOUT, TcpStream::connect(endpoint)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!(
            "cannot reach the service provider at {endpoint}: {e}"
        )),
        Err(_) => Err(format!(
            "the service provider at {endpoint} did not answer within {} s",
            PROBE_TIMEOUT.as_secs()
        )),
    }
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
        health: Arc::new(LinkHealth::default()),
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
        // Over the SP's tunnel limit, the connection waits for a place, backing off, rather
        // than hammering the gateway; given up after LIMIT_PATIENCE.
        let mut backoff = LIMIT_FIRST_BACKOFF;
        let waiting_since = std::time::Instant::now();
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
                Ok(Err(reply))
                    if reply.code() == Some(cloudgate_proto::ErrorCode::TenantLimit)
                        && waiting_since.elapsed() + backoff < LIMIT_PATIENCE =>
                {
                    tracing::info!(service = %self.service, "the service provider's tunnel limit is reached; trying again in {} ms", backoff.as_millis());
                    LinkHealth::set(
                        &self.health.refused,
                        Some(format!(
                            "waiting for a free place: {}",
                            refusal_error(&reply)
                        )),
                    );
                    LinkHealth::set(&self.health.refused_code, reply.code());
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(LIMIT_MAX_BACKOFF);
                    tries += 1;
                }
                other => {
                    if other.is_ok() {
                        self.follow_renewal(&client, &pinned).await?;
                    }
                    break other;
                }
            }
        };
        match &opened {
            Ok(Ok(_)) => {
                LinkHealth::set(&self.health.refused, None);
                LinkHealth::set(&self.health.refused_code, None);
            }
            Ok(Err(reply)) => {
                LinkHealth::set(
                    &self.health.refused,
                    Some(format!(
                        "the service provider refused the last connection: {}",
                        refusal_error(reply)
                    )),
                );
                LinkHealth::set(&self.health.refused_code, reply.code());
            }
            Err(ConnectError::Other(reason)) => LinkHealth::set(
                &self.health.refused,
                Some(format!(
                    "the last connection could not reach the service provider: {reason}"
                )),
            ),
            Err(_) => {}
        }
        match opened {
            Ok(Ok(mut upstream)) => {
                match tokio::io::copy_bidirectional(&mut local, &mut upstream).await {
                    Ok((up, down)) => {
                        tracing::info!(target: ACCESS, peer = %peer, service = %self.service, bytes_up = up, bytes_down = down, "tunnel connection closed")
                    }
                    Err(e) => {
                        tracing::info!(target: ACCESS, peer = %peer, service = %self.service, error = %e, "tunnel connection ended")
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

    /// Whether it can carry connections now (for health checks).
    pub fn health(&self) -> Arc<LinkHealth> {
        self.shared.health.clone()
    }

    /// Accepts local connections until `shutdown` resolves, or until a trust failure stops it.
    pub async fn serve(
        self,
        shutdown: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
    ) -> Result<(), TenantError> {
        let (fail_tx, mut fail_rx) = tokio::sync::mpsc::channel::<TenantError>(1);
        let mut recheck = tokio::time::interval(self.check_every);
        recheck.reset();
        // Probes run beside the accept loop (a slow probe must not hold up connections) and
        // stop with it.
        let _prober = AbortOnDrop(tokio::spawn(probe_loop(self.shared.clone())));
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
