//! The tenant side of cloudgate: first contact with a service provider (fetch and show its
//! certificate, verified only by a completed handshake), pinning after out-of-band verification,
//! enrollment over the pinned channel, and later connections (check, tunnels) that fail hard on
//! any certificate other than the pinned one. Credentials and data are never sent before the pin
//! is checked. This crate prints nothing: it returns values and typed errors.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod client;
mod error;
mod flows;
#[cfg(test)]
mod test_server;
mod tickets;

pub use client::{ClientIdentity, GatewayClient, Reply};
pub use error::{ErrorKind, TenantError, TrustFailure};
pub use flows::{
    AddRequest, CheckReport, Probe, TenantPaths, add_provider, check, probe, refresh_pin,
    serve_tunnel,
};
pub use tickets::{TICKETS_PER_SERVER, TicketStore};
