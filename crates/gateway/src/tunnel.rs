//! `GET /v1/tunnel/SERVICE`: an enrolled machine's tunnel to one of its tenant's services, a raw
//! byte relay after `101 Switching Protocols`, cut when a reload withdraws what granted it.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONNECTION, UPGRADE};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

use crate::authz::{Denial, authorize};
use crate::http::{ConnInfo, Ctx, Resp, error};
use crate::relay::relay;
use crate::request::is_tunnel_upgrade;
use crate::state::SharedState;
use cloudgate_proto::{ErrorCode, TUNNEL_PROTOCOL};

/// Opens a tunnel for an enrolled client certificate to a service its tenant has.
pub(crate) async fn tunnel<G: Send + Sync + 'static>(
    mut req: Request<Incoming>,
    service: String,
    conn: &ConnInfo,
    ctx: &Ctx,
    guard: Arc<G>,
) -> Resp {
    let Some((sha256, _)) = &conn.client_cert else {
        return error(
            ErrorCode::ClientCertificateRequired,
            "tunnels need an enrolled client certificate",
        );
    };
    let snap = ctx.state.current_knowing(sha256).await;
    let (tenant_name, target) = match authorize(&snap.db, sha256, Some(&service)) {
        Ok(granted) => (
            granted.tenant.to_string(),
            granted.target.unwrap_or_default().to_string(),
        ),
        Err(denied) => {
            tracing::warn!(peer = %conn.peer, client_sha256 = %sha256, service = %service, reason = ?denied, "tunnel refused");
            return error(denied.code(), denied.message());
        }
    };
    let wants_upgrade = req
        .headers()
        .get(UPGRADE)
        .is_some_and(|v| is_tunnel_upgrade(v.as_bytes()));
    if !wants_upgrade {
        return error(
            ErrorCode::UpgradeRequired,
            "send Connection: Upgrade and Upgrade: cloudgate-tunnel",
        );
    }
    let backend = match connect_backend(ctx, &tenant_name, &service, &target).await {
        Ok(b) => b,
        Err(refused) => return refused,
    };
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
    let on_upgrade = hyper::upgrade::on(&mut req);
    let idle = ctx.config.idle_timeout;
    let peer = conn.peer;
    let metrics = ctx.metrics.clone();
    let state = ctx.state.clone();
    let client_sha256 = sha256.clone();
    let book = ctx.usage.clone();
    tokio::spawn(async move {
        let _guard = guard;
        match on_upgrade.await {
            Ok(upgraded) => {
                // One information line per tunnel, at its end (as an access log has): a line
                // at the start too was a second write per tunnel. Open tunnels are counted in
                // the metrics and the status page.
                tracing::debug!(peer = %peer, tenant = %tenant_name, service = %service, "tunnel opened");
                let opened = std::time::Instant::now();
                metrics.tunnels_open.inc();
                let usage = book.open(&tenant_name, &client_sha256);
                let grant = Grant {
                    client_sha256: &client_sha256,
                    tenant: &tenant_name,
                    service: &service,
                };
                let stats = tokio::select! {
                    stats = relay(TokioIo::new(upgraded), backend, idle, &metrics.relayed, usage.bytes()) => stats,
                    why = grant.withdrawn(&state) => {
                        tracing::warn!(peer = %peer, tenant = %tenant_name, service = %service, "tunnel cut: {why}");
                        metrics.tunnels_open.dec();
                        return;
                    }
                };
                metrics.tunnels_open.dec();
                tracing::info!(
                    peer = %peer, tenant = %tenant_name, service = %service,
                    bytes_up = stats.up, bytes_down = stats.down, idle_timeout = stats.idle_timeout,
                    secs = opened.elapsed().as_secs(),
                    "tunnel closed"
                );
            }
            Err(e) => tracing::warn!(peer = %peer, error = %e, "tunnel upgrade failed"),
        }
    });
    switching_protocols()
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
fn switching_protocols() -> Resp {
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
/// enabled tenant that keeps the service.
struct Grant<'a> {
    client_sha256: &'a str,
    tenant: &'a str,
    service: &'a str,
}

impl Grant<'_> {
    /// Why the grant no longer holds in `snap`, if it does not.
    fn check(&self, snap: &crate::state::Snapshot) -> Option<&'static str> {
        match authorize(&snap.db, self.client_sha256, Some(self.service)) {
            // Enrolled again for another tenant counts as revoked for this one.
            Ok(granted) if granted.tenant != self.tenant => {
                Some(Denial::NotEnrolled.withdrawn_because())
            }
            Ok(_) => None,
            Err(denied) => Some(denied.withdrawn_because()),
        }
    }

    /// Resolves when a reload withdraws the grant; never, while it holds.
    async fn withdrawn(&self, state: &SharedState) -> &'static str {
        let mut swaps = state.subscribe();
        loop {
            if let Some(why) = self.check(&state.current()) {
                return why;
            }
            if swaps.changed().await.is_err() {
                return std::future::pending().await;
            }
        }
    }
}
