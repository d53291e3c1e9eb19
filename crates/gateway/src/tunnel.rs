//! `GET /v1/tunnel/SERVICE`: an enrolled machine's tunnel to one of its tenant's services, a raw
//! byte relay after `101 Switching Protocols`, cut when a reload withdraws what granted it.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONNECTION, UPGRADE};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

use crate::authz::{Denial, Origin, authorize, grant_deadline, maintenance_for};
use crate::http::{ConnInfo, Ctx, Resp, error, error_retry};
use crate::limits::TenantBuckets;
use crate::metrics::Metrics;
use crate::relay::relay;
use crate::request::is_tunnel_upgrade;
use crate::state::SharedState;
use crate::usage::{Caps, OpenTunnel, OverLimit};
use cloudgate_proto::{ErrorCode, TUNNEL_PROTOCOL};

/// The target of the lines an access log would have (a tunnel closed, a tunnel refused): the
/// daemon writes information lines of a target ending in `::access` in batches.
const ACCESS: &str = "cloudgate_gateway::access";

/// Answers a tunnel request that came through hyper: the checks of [`open`], then the relay on
/// a task of its own once hyper hands the connection over.
pub(crate) async fn tunnel<G: Send + Sync + 'static>(
    mut req: Request<Incoming>,
    service: String,
    conn: &ConnInfo,
    ctx: &Ctx,
    guard: Arc<G>,
) -> Resp {
    let wants_upgrade = req
        .headers()
        .get(UPGRADE)
        .is_some_and(|v| is_tunnel_upgrade(v.as_bytes()));
    let admitted = match open(&service, conn, ctx, wants_upgrade).await {
        Ok(a) => a,
        Err(refused) => return refused,
    };
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let _guard = guard;
        match on_upgrade.await {
            Ok(upgraded) => admitted.relay(TokioIo::new(upgraded)).await,
            Err(e) => tracing::warn!(peer = %admitted.peer, error = %e, "tunnel upgrade failed"),
        }
    });
    switching_protocols()
}

/// A tunnel the gateway agreed to: every check passed, counted against the tenant's limits,
/// its backend connected. Dropping it before [`Admitted::relay`] gives the count back.
pub(crate) struct Admitted {
    backend: tokio::net::TcpStream,
    usage: OpenTunnel,
    rates: Arc<TenantBuckets>,
    /// Wakes the limits' refresh when a limited tenant's tunnel opens or closes.
    nudge: Option<Arc<tokio::sync::Notify>>,
    client_sha256: String,
    tenant: String,
    service: String,
    peer: std::net::SocketAddr,
    /// This gateway's id and pool, for the maintenance that may end the grant.
    gateway: (String, String),
    idle: std::time::Duration,
    metrics: Arc<Metrics>,
    state: Arc<SharedState>,
}

/// Checks a tunnel request for an enrolled client certificate to one of its tenant's services
/// and, when everything allows it, counts it open and connects its backend; the refusal to
/// send otherwise. The same checks whichever way the request was read.
pub(crate) async fn open(
    service: &str,
    conn: &ConnInfo,
    ctx: &Ctx,
    wants_upgrade: bool,
) -> Result<Admitted, Resp> {
    let Some((sha256, _)) = &conn.client_cert else {
        return Err(error(
            ErrorCode::ClientCertificateRequired,
            "tunnels need an enrolled client certificate",
        ));
    };
    let snap = ctx.state.current_knowing(sha256).await;
    let (tenant_name, target) = match authorize(
        &snap.db,
        sha256,
        Some(service),
        Origin::now(conn.peer.ip()),
    ) {
        Ok(granted) => (
            granted.tenant.to_string(),
            granted.target.unwrap_or_default().to_string(),
        ),
        Err(denied) => {
            tracing::warn!(peer = %conn.peer, client_sha256 = %sha256, service = %service, reason = ?denied, "tunnel refused");
            return Err(error(
                denied.code(),
                &denied.message_for(&snap.provider_name),
            ));
        }
    };
    let me = ctx.fleet.identity();
    if let Some(m) = maintenance_for(&snap.db, &me.id, &me.pool) {
        let now = time::OffsetDateTime::now_utc();
        let retry_after = m.ends_at.map(|end| {
            u64::try_from((end - now).whole_seconds())
                .unwrap_or(0)
                .max(1)
        });
        let until = m
            .ends_at
            .map(|end| format!(" until {}", cloudgate_pki::format_rfc3339(end)))
            .unwrap_or_default();
        tracing::info!(target: ACCESS, peer = %conn.peer, tenant = %tenant_name, service = %service, "tunnel refused: maintenance");
        return Err(error_retry(
            ErrorCode::Maintenance,
            &format!("maintenance{until}: {}", m.message),
            retry_after,
        ));
    }
    if !wants_upgrade {
        return Err(error(
            ErrorCode::UpgradeRequired,
            "send Connection: Upgrade and Upgrade: cloudgate-tunnel",
        ));
    }
    let usage = match count_open(ctx, &snap.db, &tenant_name, sha256).await {
        Ok(u) => u,
        Err(over) => {
            let message = match over {
                OverLimit::Tenant(n) => format!(
                    "this tenant has {n} tunnels open, the most its service provider allows; try again when one closes"
                ),
                OverLimit::Machine(n) => format!(
                    "this machine has {n} tunnels open, the most its service provider allows per machine; try again when one closes"
                ),
            };
            tracing::info!(target: ACCESS, peer = %conn.peer, tenant = %tenant_name, service = %service, "tunnel refused: {message}");
            return Err(error(ErrorCode::TenantLimit, &message));
        }
    };
    let backend = connect_backend(ctx, &tenant_name, service, &target).await?;
    let _ = backend.set_nodelay(true);
    if ctx.last_seen.due(sha256, std::time::Instant::now()) {
        let db = ctx.state.db().clone();
        let sha = sha256.clone();
        tokio::spawn(async move {
            if let Err(e) = db.touch_client_cert(&sha).await {
                tracing::warn!(error = %e, "cannot record the client certificate's last use");
            }
        });
    }
    let rates = ctx.limits.buckets(&tenant_name, &snap.db, &ctx.usage);
    let limited = snap
        .db
        .tenant(&tenant_name)
        .is_some_and(|t| t.policy.is_some());
    let nudge = limited.then(|| ctx.limits_nudge.clone());
    if let Some(n) = &nudge {
        n.notify_one();
    }
    Ok(Admitted {
        backend,
        usage,
        rates,
        nudge,
        client_sha256: sha256.clone(),
        tenant: tenant_name,
        service: service.to_string(),
        peer: conn.peer,
        gateway: (me.id.clone(), me.pool.clone()),
        idle: ctx.config.idle_timeout,
        metrics: ctx.metrics.clone(),
        state: ctx.state.clone(),
    })
}

impl Admitted {
    /// Relays between the tenant's connection `io` and the backend until either ends, the
    /// tunnel idles out, or a reload or deadline withdraws the grant.
    pub(crate) async fn relay<IO>(self, io: IO)
    where
        IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send,
    {
        let Admitted {
            backend,
            usage,
            rates,
            nudge,
            client_sha256,
            tenant,
            service,
            peer,
            gateway,
            idle,
            metrics,
            state,
        } = self;
        // One information line per tunnel, at its end (as an access log has): a line at the
        // start too was a second write per tunnel. Open tunnels are counted in the metrics and
        // the status page.
        tracing::debug!(peer = %peer, tenant = %tenant, service = %service, "tunnel opened");
        let opened = std::time::Instant::now();
        metrics.tunnels_open.inc();
        let grant = Grant {
            client_sha256: &client_sha256,
            tenant: &tenant,
            service: &service,
            ip: peer.ip(),
            gateway: &gateway.0,
            pool: &gateway.1,
        };
        let outcome = tokio::select! {
            biased;
            stats = relay(io, backend, idle, &metrics.relayed, usage.bytes(), &rates) => Ok(stats),
            why = grant.withdrawn(&state) => Err(why),
        };
        metrics.tunnels_open.dec();
        drop(usage);
        if let Some(n) = &nudge {
            n.notify_one();
        }
        match outcome {
            Ok(stats) => tracing::info!(
                target: ACCESS,
                peer = %peer, tenant = %tenant, service = %service,
                bytes_up = stats.up, bytes_down = stats.down, idle_timeout = stats.idle_timeout,
                secs = opened.elapsed().as_secs(),
                "tunnel closed"
            ),
            Err(why) => {
                tracing::warn!(peer = %peer, tenant = %tenant, service = %service, "tunnel cut: {why}")
            }
        }
    }
}

/// Counts the tunnel open if the tenant's limits let it: over this gateway's tunnels and, for
/// a tenant with a count limit, those the other gateways reported (read now, so a fleet's
/// count is as current as their last report; the cached count when the database is slow).
async fn count_open(
    ctx: &Ctx,
    state: &cloudgate_db::GatewayState,
    tenant: &str,
    machine: &str,
) -> Result<OpenTunnel, OverLimit> {
    let policy = state.tenant(tenant).and_then(|t| t.policy.clone());
    let Some(policy) =
        policy.filter(|p| p.max_tunnels.is_some() || p.max_tunnels_per_machine.is_some())
    else {
        return Ok(ctx.usage.open(tenant, machine));
    };
    let elsewhere = ctx
        .limits
        .elsewhere_now(ctx.state.db(), &ctx.fleet.identity().id)
        .await;
    ctx.usage.try_open(
        tenant,
        machine,
        &Caps {
            tenant: policy.max_tunnels,
            machine: policy.max_tunnels_per_machine,
            elsewhere_tenant: elsewhere.tenant(tenant),
            elsewhere_machine: elsewhere.machine(tenant, machine),
        },
    )
}

/// Connects to a tunnel's backend within the configured time; the refusal otherwise.
async fn connect_backend(
    ctx: &Ctx,
    tenant: &str,
    service: &str,
    target: &str,
) -> Result<tokio::net::TcpStream, Resp> {
    match tokio::time::timeout(
        ctx.config.backend_connect_timeout,
        tokio::net::TcpStream::connect(&target),
    )
    .await
    {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => {
            tracing::warn!(tenant = %tenant, service = %service, target = %target, error = %e, "backend unreachable");
            Err(error(
                ErrorCode::BackendUnreachable,
                "the service is not reachable at the service provider",
            ))
        }
        Err(_) => {
            tracing::warn!(tenant = %tenant, service = %service, target = %target, "backend connect timed out");
            Err(error(
                ErrorCode::BackendTimeout,
                "the service did not answer in time",
            ))
        }
    }
}

/// The answer that turns the connection into a tunnel.
pub(crate) fn switching_protocols() -> Resp {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    r.headers_mut().insert(
        CONNECTION,
        hyper::header::HeaderValue::from_static("upgrade"),
    );
    r.headers_mut().insert(
        UPGRADE,
        hyper::header::HeaderValue::from_static(TUNNEL_PROTOCOL),
    );
    r
}

/// What an open tunnel was granted: it lasts while the client certificate stays enrolled for an
/// enabled tenant that keeps the service, whose lease has not ended and that may connect from
/// the tunnel's address, and while no maintenance of this gateway has passed its drain deadline.
struct Grant<'a> {
    client_sha256: &'a str,
    tenant: &'a str,
    service: &'a str,
    ip: std::net::IpAddr,
    gateway: &'a str,
    pool: &'a str,
}

/// Past a deadline by this much before the grant is checked again (clocks are not exact).
const DEADLINE_SLACK: std::time::Duration = std::time::Duration::from_millis(20);

impl Grant<'_> {
    /// Why the grant no longer holds in `snap` at `now`, if it does not.
    fn check(
        &self,
        snap: &crate::state::Snapshot,
        now: time::OffsetDateTime,
    ) -> Option<&'static str> {
        let from = Origin {
            ip: self.ip,
            at: now,
        };
        match authorize(&snap.db, self.client_sha256, Some(self.service), from) {
            // Enrolled again for another tenant counts as revoked for this one.
            Ok(granted) if granted.tenant != self.tenant => {
                return Some(Denial::NotEnrolled.withdrawn_because());
            }
            Ok(_) => {}
            Err(denied) => return Some(denied.withdrawn_because()),
        }
        let drained = maintenance_for(&snap.db, self.gateway, self.pool)
            .and_then(|m| m.drain_until)
            .is_some_and(|d| now >= d);
        drained.then_some("the maintenance's drain deadline passed")
    }

    /// When the grant ends by itself in `snap`: the lease's end or a drain deadline.
    fn deadline(&self, snap: &crate::state::Snapshot) -> Option<time::OffsetDateTime> {
        let drain = maintenance_for(&snap.db, self.gateway, self.pool).and_then(|m| m.drain_until);
        [grant_deadline(&snap.db, self.tenant), drain]
            .into_iter()
            .flatten()
            .min()
    }

    /// Resolves when a reload or a deadline withdraws the grant; never, while it holds.
    async fn withdrawn(&self, state: &SharedState) -> &'static str {
        let mut swaps = state.subscribe();
        loop {
            let snap = state.current();
            let now = time::OffsetDateTime::now_utc();
            if let Some(why) = self.check(&snap, now) {
                return why;
            }
            let wait = self.deadline(&snap).map(|d| {
                std::time::Duration::try_from(d - now).unwrap_or_default() + DEADLINE_SLACK
            });
            drop(snap);
            let passed = async {
                match wait {
                    Some(w) => tokio::time::sleep(w).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                changed = swaps.changed() => {
                    if changed.is_err() {
                        return std::future::pending().await;
                    }
                }
                () = passed => {}
            }
        }
    }
}
