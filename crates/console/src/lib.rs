//! The SP console: the administrator's pages (dashboard, certificates, tenants, gateways, the
//! audit log) and the `/api/v1` REST API, served over HTTPS with the SP's certificate in use.
//!
//! Every operation lives once, in [`ops`], on the SP library (`cloudgate_sp`): the pages
//! ([`pages`]) and the API ([`api`]) are two ways of calling it, and the command line calls the
//! same library. Pages are rendered on the server with `maud` (escaping everything it is given:
//! friendly names, tenant names, subjects and audit text are attacker-controlled), with one
//! stylesheet and one small script of our own, under a Content-Security-Policy that allows
//! nothing inline.

#![forbid(unsafe_code)]

pub mod api;
mod auth;
mod charts;
mod openapi;
pub mod ops;
pub mod pages;
pub mod server;
pub mod session;
mod views;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use cloudgate_db::SharedRepository;
use cloudgate_sp::fleet::FleetKey;
use cloudgate_store::CertStore;

pub use server::{ConsoleServer, CurrentCertificate, Peer, serve};

/// Largest request body: a form, a JSON call, a PFX file.
pub const MAX_BODY: usize = 256 * 1024;

/// Why the console cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// The TLS settings could not be made from the certificate in use.
    #[error("the console's TLS settings: {0}")]
    Tls(String),
}

/// What the console works on, shared by every request.
pub struct Console {
    /// The SP core every change goes through, acting as the process's user until a request
    /// names its administrator.
    pub(crate) sp: cloudgate_sp::Sp,
    pub(crate) store: CertStore,
    /// What the console serves over TLS; refreshed after a change of the certificate in use.
    pub(crate) served: Option<Arc<CurrentCertificate>>,
    pub(crate) db: SharedRepository,
    pub(crate) sessions: session::Sessions,
    /// Open tunnels and relayed bytes over the last hour, sampled from the gateways' heartbeats.
    pub(crate) tunnels: charts::TunnelHistory,
    /// Failed logins per source address, attempts in flight included.
    pub(crate) login_throttle:
        cloudgate_sp::throttle::Throttle<cloudgate_sp::throttle::ConsoleAddress>,
    /// Failed logins per administrator, from anywhere.
    pub(crate) login_lockout:
        cloudgate_sp::throttle::Throttle<cloudgate_sp::throttle::ConsoleAdmin>,
}

impl Console {
    /// A console on `store` and `db`; with `fleet_keys`, a change of the certificate in use is
    /// published to the fleet's gateways as `sp cert` commands do.
    pub fn new(
        store: CertStore,
        db: SharedRepository,
        fleet_keys: Vec<FleetKey>,
        served: Option<Arc<CurrentCertificate>>,
    ) -> Arc<Self> {
        Arc::new(Console {
            sp: cloudgate_sp::Sp::new(store.clone(), db.clone(), fleet_keys),
            store,
            served,
            db,
            sessions: session::Sessions::default(),
            tunnels: charts::TunnelHistory::default(),
            login_throttle: cloudgate_sp::throttle::Throttle::new(
                auth::ADDRESS_FAILURES,
                auth::WINDOW,
            ),
            login_lockout: cloudgate_sp::throttle::Throttle::new(
                auth::ACCOUNT_FAILURES,
                auth::WINDOW,
            ),
        })
    }
}

impl Console {
    /// Samples the gateways' open tunnels every [`charts::SAMPLE_EVERY`], for the dashboard.
    pub(crate) async fn sample_tunnels(self: Arc<Self>) {
        let mut tick = tokio::time::interval(charts::SAMPLE_EVERY);
        loop {
            tick.tick().await;
            if let Ok(gateways) = ops::gateways(&self).await {
                let up = gateways
                    .iter()
                    .filter(|g| g.state == cloudgate_proto::admin::GatewayState::Up);
                let open = up.clone().map(|g| g.open_tunnels).sum();
                let relayed = up.map(|g| g.relayed_bytes).sum();
                self.tunnels
                    .record(time::OffsetDateTime::now_utc(), open, relayed);
            }
        }
    }
}

/// Every page and API route, with the security headers and the body limit.
pub fn router(console: Arc<Console>) -> Router {
    Router::new()
        .route("/login", get(auth::login_page).post(auth::login))
        .route("/logout", post(auth::logout))
        .route("/", get(pages::dashboard))
        .route("/certificates", get(pages::certificates))
        .route("/certificates/generate", post(pages::generate))
        .route("/certificates/import", post(pages::import))
        .route("/certificates/{id}/apply", post(pages::apply))
        .route("/certificates/{id}/stage", post(pages::stage))
        .route("/certificates/{id}/renew", post(pages::renew))
        .route("/certificates/{id}/remove", post(pages::remove))
        .route("/certificates/{id}/pem", get(pages::pem))
        .route("/tenants", get(pages::tenants).post(pages::add_tenant))
        .route("/tenants/{name}", get(pages::tenant))
        .route("/tenants/{name}/enabled", post(pages::set_enabled))
        .route("/tenants/{name}/password", post(pages::set_password))
        .route("/tenants/{name}/services", post(pages::add_service))
        .route("/tenants/{name}/remove", post(pages::remove_from_tenant))
        .route("/tenants/{name}/pool", post(pages::set_pool))
        .route("/tenants/{name}/limits", post(pages::set_limits))
        .route("/tenants/{name}/prune", post(pages::prune))
        .route("/tenants/{name}/tokens", post(pages::create_token))
        .route("/tenants/{name}/tokens/revoke", post(pages::revoke_token))
        .route("/gateways", get(pages::gateways))
        .route("/gateways/forget", post(pages::forget))
        .route("/gateways/address", post(pages::set_address))
        .route("/gateways/publish", post(pages::publish))
        .route("/gateways/maintenance", post(pages::start_maintenance))
        .route("/gateways/maintenance/off", post(pages::end_maintenance))
        .route("/audit", get(pages::audit))
        .route("/static/console.css", get(stylesheet))
        .route("/static/console.js", get(script))
        .route("/static/favicon.svg", get(icon))
        .route("/favicon.ico", get(icon))
        .nest("/api/v1", api::router())
        .fallback(pages::not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(console)
}

/// Headers on every answer: nothing inline may run, nothing may frame the console, nothing is
/// cached or leaked in a referrer.
async fn security_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        // Not `no-referrer`: with it a browser sends `Origin: null` on the console's own forms,
        // which the CSRF check must refuse. `same-origin` tells nothing to other sites.
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static("max-age=31536000"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        include_str!("../assets/console.css"),
    )
}

async fn script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        include_str!("../assets/console.js"),
    )
}

/// The tab's icon (also at `/favicon.ico`, which browsers ask for whatever the page says).
async fn icon() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "max-age=86400"),
        ],
        include_str!("../assets/favicon.svg"),
    )
}
