//! The listener: connection limit, TLS handshake timeout, HTTP/1.1 with header timeout and
//! upgrades, periodic and on-demand reload, and graceful shutdown with a bounded drain.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore};

use crate::acme_renew::AcmeRenewal;
use crate::first_request::{First, read_first, serve_tunnel};
use crate::fleet::{Fleet, HEARTBEAT_EVERY, Identity};
use crate::http::{ConnInfo, Ctx, handle};
use crate::metrics::Metrics;
use crate::rewind::Rewind;
use crate::state::SharedState;
use crate::ticket_hold::HoldTickets;
use crate::{GatewayConfig, GatewayError};
use cloudgate_addr::limit::{AddressSlot, PerAddressLimit};
use cloudgate_sp::throttle::{AccountLockout, EnrollThrottle};

/// How often the refusals and the gateway's own changes are written to the audit: at most one
/// database transaction this often, whatever a stranger sends.
pub const AUDIT_FLUSH_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Resolves when the gateway should stop accepting and drain.
pub type ShutdownSignal = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

/// A bound, not yet running gateway.
pub struct Gateway {
    config: GatewayConfig,
    state: Arc<SharedState>,
    listener: TcpListener,
    reload: Arc<Notify>,
}

impl Gateway {
    /// Binds the listen address.
    pub async fn bind(
        config: GatewayConfig,
        state: Arc<SharedState>,
    ) -> Result<Self, GatewayError> {
        let listener = crate::listen::bind(config.listen)?;
        Ok(Gateway {
            config,
            state,
            listener,
            reload: Arc::new(Notify::new()),
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> Result<SocketAddr, GatewayError> {
        self.listener
            .local_addr()
            .map_err(|e| GatewayError::Listen {
                addr: self.config.listen,
                source: e,
            })
    }

    /// Wakes the reloader now (SIGHUP).
    pub fn reload_handle(&self) -> Arc<Notify> {
        self.reload.clone()
    }

    /// Serves until `shutdown` resolves, then stops accepting and waits for open connections
    /// and tunnels to finish, at most `drain_timeout`.
    pub async fn run(self, shutdown: ShutdownSignal) -> Result<(), GatewayError> {
        // The accept loop is a task of its own so that it runs on a runtime worker beside the
        // connections it spawns. Awaited straight from `block_on` it ran on the main thread,
        // and every accepted connection cost a cross-thread wake-up (1.4 context switches per
        // tunnel on the benchmark, 0.2 now).
        match tokio::spawn(self.serve(shutdown)).await {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // Cancelled: only when the runtime itself is shutting down.
            Err(_) => Ok(()),
        }
    }

    async fn serve(self, shutdown: ShutdownSignal) -> Result<(), GatewayError> {
        let Gateway {
            config,
            state,
            listener,
            reload,
        } = self;
        let limit = Arc::new(Semaphore::new(config.max_connections));
        let per_address = PerAddressLimit::new(config.max_connections_per_address);
        let listen = listener.local_addr().map_err(|e| GatewayError::Listen {
            addr: config.listen,
            source: e,
        })?;
        let fleet = Arc::new(Fleet::new(identity(&config, listen)));
        let ctx = Arc::new(Ctx {
            fleet: fleet.clone(),
            state: state.clone(),
            config: config.clone(),
            throttle: EnrollThrottle::new(
                config.enroll_failures_per_window,
                config.enroll_failure_window,
            ),
            lockout: AccountLockout::new(
                config.account_failures_per_window,
                config.account_lockout_window,
            ),
            metrics: Metrics::new(config.metrics_per_tenant),
            last_seen: Default::default(),
            usage: Default::default(),
            limits: Default::default(),
            limits_nudge: Default::default(),
        });
        let metrics_task = match config.metrics {
            Some(addr) => {
                Some(crate::metrics::serve(addr, ctx.metrics.clone(), state.clone()).await?)
            }
            None => None,
        };
        let changed = Arc::new(Notify::new());
        let reloader = tokio::spawn(reload_loop(
            state.clone(),
            fleet.clone(),
            config.reload_interval,
            Wakers {
                requested: reload,
                changed: changed.clone(),
            },
            config.auto_renew_days,
            config
                .acme_renew
                .then(|| AcmeRenewal::new(config.acme_renew_before_days, ctx.metrics.clone())),
        ));
        // The view of the peers is current before anyone is told of them: one heartbeat (which
        // reads the fleet back) and a look at the peers' addresses, bounded in time.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(4), async {
            beat(&ctx).await;
            fleet.check_peers(false).await;
        })
        .await;
        let heartbeat = tokio::spawn(heartbeat_loop(ctx.clone()));
        let peer_check = tokio::spawn(peer_loop(fleet.clone()));
        let watcher = tokio::spawn(watch_changes(state.clone(), changed.clone()));
        let auditor = state.journal().flush_every(AUDIT_FLUSH_EVERY);
        let accountant = tokio::spawn(crate::usage::flush_loop(
            ctx.usage.clone(),
            state.db().clone(),
            fleet.identity().id.clone(),
            (config.metrics.is_some() && config.metrics_per_tenant).then(|| ctx.metrics.clone()),
        ));
        let limiter = tokio::spawn(crate::limits::refresh_loop(
            ctx.limits.clone(),
            ctx.usage.clone(),
            state.clone(),
            state.db().clone(),
            fleet.identity().id.clone(),
            ctx.limits_nudge.clone(),
        ));
        let leases = tokio::spawn(crate::lease::lease_loop(
            state.clone(),
            fleet.identity().id.clone(),
        ));
        // The signals are waited for on a task of their own: polled beside every accept, the
        // signal streams cost each new connection more than the accept itself (issue 31).
        // First in a fixed order, so that no flood of connections can hold off a shutdown.
        let mut shutdown = tokio::spawn(shutdown);
        loop {
            tokio::select! {
                biased;
                _ = &mut shutdown => break,
                accepted = listener.accept() => {
                    let (stream, peer) = match accepted {
                        Ok(a) => a,
                        Err(e) => {
                            tracing::warn!(error = %e, "accept failed");
                            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    let Ok(permit) = limit.clone().try_acquire_owned() else {
                        ctx.metrics.connections_refused.inc();
                        tracing::warn!(peer = %peer, max = config.max_connections, "connection refused: connection limit reached");
                        drop(stream);
                        continue;
                    };
                    let Some(address_slot) = per_address.try_acquire(peer.ip()) else {
                        ctx.metrics.connections_refused.inc();
                        tracing::warn!(peer = %peer, max = config.max_connections_per_address, "connection refused: too many connections from this address");
                        drop(stream);
                        continue;
                    };
                    let ctx = ctx.clone();
                    let slot = ConnectionSlot { _permit: permit, _address: address_slot, closed: ctx.metrics.connections_closed.clone() };
                    tokio::spawn(async move {
                        serve_connection(stream, peer, ctx, slot).await;
                    });
                }
            }
        }
        drop(listener);
        reloader.abort();
        heartbeat.abort();
        peer_check.abort();
        watcher.abort();
        fleet.stopped(state.db()).await;
        if let Some(task) = metrics_task {
            task.abort();
        }
        tracing::info!("stopped accepting; waiting for open connections to finish");
        let all = u32::try_from(config.max_connections).unwrap_or(u32::MAX);
        let drained = tokio::time::timeout(config.drain_timeout, limit.acquire_many(all)).await;
        match drained {
            Ok(_) => tracing::info!("all connections finished"),
            Err(_) => tracing::warn!(
                left = config.max_connections - limit.available_permits(),
                "drain timeout: closing the rest"
            ),
        }
        auditor.abort();
        accountant.abort();
        limiter.abort();
        leases.abort();
        let _ = ctx.usage.flush(state.db(), &fleet.identity().id).await;
        if let Err(e) = state.journal().flush().await {
            tracing::warn!(error = %e, "audit entries reached only the local audit.log");
        }
        Ok(())
    }
}

/// The expiry check (which may renew, writing the store under its lock) on the blocking pool.
/// After this gateway renewed or switched the store's certificate: in a fleet, publish it, so
/// that every gateway serves it (and this one, once the change comes back).
async fn publish_to_fleet(state: &SharedState) {
    if let Err(e) = state.publish_from_store().await {
        tracing::error!(error = %e, "publishing the certificate to the fleet failed; run `cloudgate sp fleet publish` where the store is");
    }
}

async fn check_expiry(
    mut expiry: crate::expiry::ExpiryWatch,
    state: &Arc<SharedState>,
    auto_renew: Option<u32>,
) -> crate::expiry::ExpiryWatch {
    let state = state.clone();
    tokio::task::spawn_blocking(move || {
        expiry.check(&state, auto_renew);
        expiry
    })
    .await
    .unwrap_or_default()
}

/// Who this gateway is in the fleet: its configured id, else this host's name with the port it
/// listens on. Only a configured public address is told to tenants: a guessed one (this host's
/// name) may not resolve for them, or resolve to another machine.
fn identity(config: &GatewayConfig, listen: SocketAddr) -> Identity {
    Identity {
        id: config.id.clone().unwrap_or_else(|| {
            format!(
                "{}:{}",
                cloudgate_store::license::host_name(),
                listen.port()
            )
        }),
        public_address: config
            .public_address
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        pool: config.pool.clone(),
    }
}

/// One heartbeat with what this gateway serves and carries now.
async fn beat(ctx: &Ctx) {
    let serving = ctx.state.current().cert.fingerprints.sha256_hex();
    ctx.fleet
        .beat(
            ctx.state.db(),
            &serving,
            ctx.metrics.tunnels_open.get(),
            ctx.metrics.relayed_bytes(),
        )
        .await;
}

/// Looks at the peers' public addresses, this gateway's own included, as they fall due.
async fn peer_loop(fleet: Arc<Fleet>) {
    loop {
        fleet.check_peers(true).await;
        tokio::time::sleep(HEARTBEAT_EVERY).await;
    }
}

/// Heartbeats, and forgets enrollment failures whose window has passed.
async fn heartbeat_loop(ctx: Arc<Ctx>) {
    let mut beats: u64 = 0;
    let (mut closed_at_trim, mut closed_before, mut beats_since_trim) = (0u64, 0u64, 0u64);
    loop {
        beat(&ctx).await;
        ctx.metrics
            .database_up
            .set(i64::from(ctx.fleet.health() == cloudgate_proto::Health::Ok));
        beats += 1;
        beats_since_trim += 1;
        // After connections closed (tunnels, enrollments with their password checks), the
        // memory they took goes back to the system rather than staying in malloc's per-thread
        // arenas (issue 31: 113 KB kept per closed tunnel): on the first beat without new
        // closes (a burst is over), or every fifth beat while connections keep closing.
        // Counting closes, not sampling the open-tunnel gauge, sees a burst that opened and
        // closed between two beats.
        let closed = ctx.metrics.connections_closed.get();
        if closed != closed_at_trim && (closed == closed_before || beats_since_trim >= 5) {
            closed_at_trim = closed;
            beats_since_trim = 0;
            let _ = tokio::task::spawn_blocking(cloudgate_alloc::release_free_memory).await;
        }
        closed_before = closed;
        if beats.is_multiple_of(30) {
            ctx.throttle.prune(ctx.state.db()).await;
            ctx.lockout.prune(ctx.state.db()).await;
        }
        tokio::time::sleep(HEARTBEAT_EVERY).await;
    }
}

/// What wakes the reloader before its next poll.
struct Wakers {
    /// A reload asked for (SIGHUP); said in the log when done.
    requested: Arc<Notify>,
    /// A change the database told of.
    changed: Arc<Notify>,
}

/// Wakes the reloader whenever the database tells of a committed change (PostgreSQL), so a
/// change reaches every gateway in well under the poll interval. Polling stays the fallback:
/// while the feed is down, changes arrive at the next poll.
async fn watch_changes(state: Arc<SharedState>, changed: Arc<Notify>) {
    let mut feed = loop {
        match state.db().change_feed().await {
            Ok(Some(feed)) => break feed,
            Ok(None) => return,
            Err(e) => {
                tracing::debug!(error = %e, "cannot listen for database changes; polling");
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            }
        }
    };
    loop {
        match feed.changed().await {
            Ok(()) => changed.notify_one(),
            Err(e) => {
                tracing::debug!(error = %e, "database change feed interrupted; polling meanwhile");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        }
    }
}

async fn reload_loop(
    state: Arc<SharedState>,
    fleet: Arc<Fleet>,
    every: std::time::Duration,
    wakers: Wakers,
    auto_renew: Option<u32>,
    mut acme: Option<AcmeRenewal>,
) {
    let mut expiry = crate::expiry::ExpiryWatch::default();
    expiry = check_expiry(expiry, &state, auto_renew).await;
    if expiry.take_renewed() {
        publish_to_fleet(&state).await;
    }
    loop {
        let requested = tokio::select! {
            () = tokio::time::sleep(every) => false,
            () = wakers.changed.notified() => false,
            () = wakers.requested.notified() => {
                tracing::info!("reload requested");
                true
            }
        };
        match state.refresh().await {
            Ok(true) => tracing::info!("reloaded certificate and tenant state"),
            Ok(false) => {}
            // Said by the fleet, once, rather than at every attempt.
            Err(GatewayError::Db(e)) => fleet.database_answered(false, Some(&e)),
            Err(e) => {
                tracing::error!(error = %e, "reload failed; still serving the previous state")
            }
        }
        if requested {
            // Said once the state is in place, so whoever asked (systemctl reload, a test)
            // knows every change made before the request is now served.
            tracing::info!("requested reload done");
        }
        expiry = check_expiry(expiry, &state, auto_renew).await;
        let mut changed_store = expiry.take_renewed();
        // Switching writes the store under its lock, which may wait: off the async workers.
        let due = {
            let state = state.clone();
            tokio::task::spawn_blocking(move || state.switch_if_due())
                .await
                .unwrap_or(Ok(None))
        };
        match due {
            Ok(Some(thumbprint)) => {
                changed_store = true;
                tracing::warn!(thumbprint = %thumbprint, "stage --at: the staged successor is now in use")
            }
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "stage --at: switching to the successor failed"),
        }
        if let Some(acme) = acme.as_mut() {
            changed_store |= acme.tick(&state).await;
        }
        if changed_store {
            publish_to_fleet(&state).await;
        }
    }
}

/// What an open connection (and a tunnel that outlives its request) holds: its share of the
/// gateway-wide limit and of its source address's.
struct ConnectionSlot {
    _permit: tokio::sync::OwnedSemaphorePermit,
    _address: AddressSlot,
    /// Counts the connection closed when the slot goes (the heartbeat's cue to hand memory
    /// back).
    closed: prometheus_client::metrics::counter::Counter,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.closed.inc();
    }
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    ctx: Arc<Ctx>,
    slot: ConnectionSlot,
) {
    let _ = stream.set_nodelay(true);
    let acceptor = tokio_rustls::TlsAcceptor::from(ctx.state.current().tls.clone());
    let stream = HoldTickets::new(stream);
    // The handshake's state and then the TLS stream live on the heap: this task's future is
    // as large as its largest state, and it lasts as long as the tunnel (issue 31: inline, the
    // stream and its moved copies made an idle tunnel 7.6 KB larger).
    let handshake = Box::pin(tokio::time::timeout(
        ctx.config.handshake_timeout,
        acceptor.accept(stream),
    ));
    let mut tls = match handshake.await {
        Ok(Ok(tls)) => {
            ctx.metrics.handshakes_ok.inc();
            Box::new(tls)
        }
        // A connection closed before its handshake is a reachability probe (a tenant's
        // tunnel service checking that the gateway answers, a load balancer's TCP check):
        // counted apart and not logged at information level, where it would drown the
        // handshakes that did fail.
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            Metrics::count(&ctx.metrics.handshakes, "outcome", "closed");
            tracing::debug!(peer = %peer, "connection closed before the TLS handshake");
            return;
        }
        Ok(Err(e)) => {
            Metrics::count(&ctx.metrics.handshakes, "outcome", "failed");
            tracing::info!(peer = %peer, error = %e, "TLS handshake failed");
            return;
        }
        Err(_) => {
            Metrics::count(&ctx.metrics.handshakes, "outcome", "timeout");
            tracing::info!(peer = %peer, "TLS handshake timed out");
            return;
        }
    };
    tls.get_mut().0.handshake_done();
    let client_cert = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| {
            (
                cloudgate_pki::fingerprint::upper_hex(
                    &cloudgate_pki::fingerprint::certificate_sha256(c.as_ref()),
                ),
                c.to_vec(),
            )
        });
    // Looked up for this line only when it is written: a tunnel looks its tenant up anyway.
    if tracing::enabled!(tracing::Level::DEBUG) {
        let snap = ctx.state.current();
        let tenant = client_cert
            .as_ref()
            .and_then(|(sha, _)| snap.db.tenant_of_hex(sha));
        tracing::debug!(peer = %peer, tenant = tenant.unwrap_or("-"), "connection");
    }
    let info = ConnInfo { peer, client_cert };
    let header_timeout = ctx.config.header_timeout;
    let buf = match read_first(&mut tls, header_timeout).await {
        Some(Ok(First::Tunnel {
            service,
            buf,
            head_len,
        })) => {
            serve_tunnel(tls, &service, buf, head_len, &info, &ctx).await;
            drop(slot);
            return;
        }
        Some(Ok(First::Other(buf))) => buf,
        Some(Err(e)) => {
            tracing::debug!(peer = %peer, error = %e, "connection ended with an error");
            return;
        }
        None => {
            tracing::debug!(peer = %peer, "no request in time");
            return;
        }
    };
    let info = Arc::new(info);
    let guard = Arc::new(slot);
    let service = service_fn(move |req| handle(req, info.clone(), ctx.clone(), guard.clone()));
    // On the heap too: hyper's connection state is not to weigh on every tunnel's task.
    let result = Box::pin(
        crate::request::http1_builder(header_timeout)
            .serve_connection(TokioIo::new(Rewind::new(buf, 0, tls)), service)
            .with_upgrades(),
    )
    .await;
    if let Err(e) = result {
        tracing::debug!(peer = %peer, error = %e, "connection ended with an error");
    }
}

#[cfg(test)]
mod tests {
    /// The size of what `f` returns, without calling it.
    fn returned_size<A, B, C, D, R>(_: impl FnOnce(A, B, C, D) -> R) -> usize {
        std::mem::size_of::<R>()
    }

    #[test]
    fn a_connections_task_stays_small_for_as_long_as_its_tunnel() {
        // The future is allocated whole when the connection's task starts and lives as long
        // as the tunnel: the TLS stream (1.2 KB), the handshake and hyper's state belong on the
        // heap, not inline (10 KB then, 3.9 KB now, in debug and release builds alike).
        let size = returned_size(super::serve_connection);
        assert!(
            size <= 5 * 1024,
            "serve_connection's future is {size} bytes"
        );
    }
}
