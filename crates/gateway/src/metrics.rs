//! Prometheus metrics, served on their own address (`--metrics`), never on the tenant-facing port.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::GatewayError;
use crate::state::SharedState;

/// Labels of counters split by outcome: one pair, in an array so that counting allocates nothing.
pub type Outcome = [(&'static str, &'static str); 1];

/// The gateway's metrics.
pub struct Metrics {
    registry: Registry,
    /// Seconds until the applied certificate expires (set at each scrape).
    pub certificate_expiry: Gauge<f64, std::sync::atomic::AtomicU64>,
    /// Tunnels open now.
    pub tunnels_open: Gauge,
    /// Connections closed since the start, tunnels included (not exported: the heartbeat
    /// hands memory back after connections closed).
    pub connections_closed: Counter,
    /// Tunnel requests by outcome.
    pub tunnels: Family<Outcome, Counter>,
    /// TLS handshakes by outcome.
    pub handshakes: Family<Outcome, Counter>,
    /// Enrollments by outcome.
    pub enrollments: Family<Outcome, Counter>,
    /// Bytes relayed by direction.
    pub bytes: Family<Outcome, Counter>,
    /// The two series of `bytes`, looked up once: every tunnel adds to them.
    pub relayed: crate::relay::LiveBytes,
    /// `handshakes{outcome="ok"}` and `tunnels{outcome="opened"}`, looked up once for the
    /// same reason (a lookup hashes the label and takes the family's lock).
    pub handshakes_ok: Counter,
    /// See [`Metrics::handshakes_ok`].
    pub tunnels_opened: Counter,
    /// Connections closed at once because the limit was reached.
    pub connections_refused: Counter,
    /// 1 while the SP database answers, 0 while the gateway is degraded.
    pub database_up: Gauge,
    /// ACME renewals by outcome (`--acme-renew`).
    pub acme_renewals: Family<Outcome, Counter>,
    /// ACME renewals failed in a row; 0 after a success.
    pub acme_renewal_failures: Gauge,
    /// Bytes per tenant and direction, added at each usage flush (only with
    /// `--metrics-per-tenant`).
    pub tenant_bytes: Family<Vec<(String, String)>, Counter>,
    /// Tunnels opened per tenant, likewise.
    pub tenant_tunnels: Family<Vec<(String, String)>, Counter>,
}

impl Metrics {
    /// Registers every series; the per-tenant ones only when `per_tenant`.
    pub fn new(per_tenant: bool) -> Arc<Self> {
        let mut registry = Registry::with_prefix("cloudgate");
        let bytes: Family<Outcome, Counter> = Family::default();
        // One lookup at a time: `get_or_create` returns a guard on the family's lock.
        let up = bytes.get_or_create(&[("direction", "up")]).clone();
        let down = bytes.get_or_create(&[("direction", "down")]).clone();
        let relayed = crate::relay::LiveBytes { up, down };
        let handshakes: Family<Outcome, Counter> = Family::default();
        let handshakes_ok = handshakes.get_or_create(&[("outcome", "ok")]).clone();
        let tunnels: Family<Outcome, Counter> = Family::default();
        let tunnels_opened = tunnels.get_or_create(&[("outcome", "opened")]).clone();
        let m = Metrics {
            certificate_expiry: Gauge::default(),
            tunnels_open: Gauge::default(),
            connections_closed: Counter::default(),
            tunnels,
            handshakes,
            handshakes_ok,
            tunnels_opened,
            enrollments: Family::default(),
            bytes,
            relayed,
            connections_refused: Counter::default(),
            database_up: Gauge::default(),
            acme_renewals: Family::default(),
            acme_renewal_failures: Gauge::default(),
            tenant_bytes: Family::default(),
            tenant_tunnels: Family::default(),
            registry: Registry::default(),
        };
        registry.register(
            "certificate_expiry_seconds",
            "Seconds until the applied certificate expires",
            m.certificate_expiry.clone(),
        );
        registry.register("tunnels_open", "Tunnels open now", m.tunnels_open.clone());
        registry.register("tunnels", "Tunnel requests by outcome", m.tunnels.clone());
        registry.register(
            "handshakes",
            "TLS handshakes by outcome",
            m.handshakes.clone(),
        );
        registry.register(
            "enrollments",
            "Enrollments by outcome",
            m.enrollments.clone(),
        );
        registry.register(
            "relayed_bytes",
            "Bytes relayed through tunnels by direction",
            m.bytes.clone(),
        );
        registry.register(
            "connections_refused",
            "Connections closed at once because the connection limit was reached",
            m.connections_refused.clone(),
        );
        registry.register(
            "database_up",
            "1 while the SP database answers, 0 while the gateway serves from its last state",
            m.database_up.clone(),
        );
        registry.register(
            "acme_renewals",
            "ACME renewals by the gateway (--acme-renew) by outcome",
            m.acme_renewals.clone(),
        );
        registry.register(
            "acme_renewal_failures",
            "ACME renewals failed in a row (0 after a success): alert when it grows as expiry nears",
            m.acme_renewal_failures.clone(),
        );
        if per_tenant {
            registry.register(
                "tenant_relayed_bytes",
                "Bytes relayed through a tenant's tunnels by direction (--metrics-per-tenant; added every 5 s)",
                m.tenant_bytes.clone(),
            );
            registry.register(
                "tenant_tunnels",
                "Tunnels a tenant opened (--metrics-per-tenant; added every 5 s)",
                m.tenant_tunnels.clone(),
            );
        }
        m.database_up.set(1);
        Arc::new(Metrics { registry, ..m })
    }

    /// Adds a usage flush's counts to the per-tenant series.
    pub fn add_usage(&self, counted: &[cloudgate_db::UsageCount]) {
        for c in counted {
            let label = |direction: &str| {
                vec![
                    ("tenant".to_string(), c.tenant.clone()),
                    ("direction".to_string(), direction.to_string()),
                ]
            };
            let add = |n: i64| u64::try_from(n).unwrap_or(0);
            self.tenant_bytes
                .get_or_create(&label("up"))
                .inc_by(add(c.bytes_up));
            self.tenant_bytes
                .get_or_create(&label("down"))
                .inc_by(add(c.bytes_down));
            self.tenant_tunnels
                .get_or_create(&vec![("tenant".to_string(), c.tenant.clone())])
                .inc_by(add(c.tunnels));
        }
    }

    /// Bytes relayed both ways so far (counted as they pass).
    pub fn relayed_bytes(&self) -> i64 {
        let up = self.bytes.get_or_create(&[("direction", "up")]).get();
        let down = self.bytes.get_or_create(&[("direction", "down")]).get();
        i64::try_from(up.saturating_add(down)).unwrap_or(i64::MAX)
    }

    /// Counts one event of a family by outcome.
    pub fn count(family: &Family<Outcome, Counter>, key: &'static str, value: &'static str) {
        family.get_or_create(&[(key, value)]).inc();
    }

    fn render(&self, state: &SharedState) -> String {
        let cert = &state.current().cert;
        let seconds = (cert.not_after - time::OffsetDateTime::now_utc()).as_seconds_f64();
        self.certificate_expiry.set(seconds);
        let mut out = String::new();
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// Serves `GET /metrics` on `addr` until the task is dropped.
pub async fn serve(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    state: Arc<SharedState>,
) -> Result<tokio::task::JoinHandle<()>, GatewayError> {
    let listener = crate::listen::bind(addr)?;
    tracing::info!(listen = %addr, "metrics endpoint listening");
    Ok(tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let metrics = metrics.clone();
            let state = state.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let body = if req.uri().path() == "/metrics" {
                        Some(metrics.render(&state))
                    } else {
                        None
                    };
                    async move {
                        let mut r = Response::new(Full::new(Bytes::from(
                            body.clone().unwrap_or_else(|| "not found\n".into()),
                        )));
                        if body.is_none() {
                            *r.status_mut() = StatusCode::NOT_FOUND;
                        }
                        r.headers_mut().insert(
                            hyper::header::CONTENT_TYPE,
                            hyper::header::HeaderValue::from_static("text/plain; version=0.0.4"),
                        );
                        Ok::<_, std::convert::Infallible>(r)
                    }
                });
                let _ = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(std::time::Duration::from_secs(10))
                    .keep_alive(false)
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    }))
}
