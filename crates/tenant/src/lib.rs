//! The tenant side of cloudgate: first contact with a service provider (fetch and show its
//! certificate, verified only by a completed handshake), pinning after out-of-band verification,
//! enrollment over the pinned channel, and later connections (check, tunnels) that trust only
//! the pinned key and the keys it handed over to with verified rollover proofs. Credentials and
//! data are never sent before the certificate is trusted. The trust policy is one state machine
//! ([`TrustState`]); this crate prints nothing: it returns values and typed errors.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod client;
mod error;
mod flows;
mod paths;
mod session;
mod status_http;
mod supervisor;
#[cfg(test)]
mod test_server;
mod tickets;
mod trust;
mod tunnel;

pub use client::{ClientIdentity, GatewayClient, Reply};
pub use error::{TenantError, TrustFailure};
pub use flows::{
    AddRequest, CheckReport, Credentials, Probe, add_provider, check, join, probe,
    probe_pinned_keys, refresh_pin, remove_provider,
};
pub use paths::TenantPaths;
pub use status_http::serve_status;
pub use supervisor::{
    Statuses, Supervisor, TunnelSpec, TunnelStatus, TunnelsConfig, render_metrics,
};
pub use tickets::{TICKETS_PER_SERVER, TicketStore};
pub use trust::{Refresh, Refusal, TrustState, Verdict};
pub use tunnel::{LinkHealth, PROBE_EVERY, TunnelListener, open_tunnel};
