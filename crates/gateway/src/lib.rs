//! The cloudgate SP gateway: a TLS endpoint (port 6180 by default) that serves the applied SP
//! certificate, enrolls tenants, and relays each tenant's authenticated tunnels to the SP-side
//! services assigned to it.
//!
//! Protocol (HTTP/1.1 over TLS, ALPN `http/1.1`):
//! - `GET /v1/provider`: public; the SP's name and the certificate in use.
//! - `POST /v1/enroll`: `Authorization: Basic` tenant credentials; binds the client certificate
//!   presented in this TLS handshake (and repeated, PEM, in the JSON body) to the tenant.
//! - `GET /v1/tunnel/{service}` with `Connection: Upgrade`, `Upgrade: cloudgate-tunnel`: for an
//!   enrolled client certificate of an enabled tenant and a service assigned to it, answers
//!   `101 Switching Protocols` and relays raw bytes to the backend.
//!
//! Errors are JSON `{"code": "...", "message": "..."}` with a stable `code`. State (certificate,
//! tenants, services, enrolled certificates) is reloaded without a restart when it changes.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod acme_renew;
pub mod authz;
pub mod body;
pub use cloudgate_sp::settings::config;
mod error;
mod expiry;
mod first_request;
pub mod fleet;
mod http;
mod last_seen;
mod lease;
pub mod limits;
mod listen;
pub mod metrics;
mod peers;
pub use cloudgate_sp::settings::public_address;
mod relay;
pub mod request;
mod rewind;
mod server;
mod state;
mod ticket_hold;
pub mod tls;
mod tunnel;
mod usage;

pub use config::GatewayConfig;
pub use error::GatewayError;
pub use server::{Gateway, ShutdownSignal};
pub use state::{MISS_READ_EVERY, SharedState};

pub use cloudgate_proto::TUNNEL_PROTOCOL;
