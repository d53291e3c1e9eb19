//! The console's calls on the SP core ([`cloudgate_sp::Sp`]), for the pages and the API: each
//! acts as the administrator (or API token) of the request, so the core audits it once with who
//! made it. Nothing here checks, changes or audits by itself.

use cloudgate_sp::{Actor, Sp};

use crate::Console;

mod certificates;
mod site;
mod tenants;

pub use certificates::*;
pub use site::*;
pub use tenants::*;

/// Why an operation was refused or failed: the core's error, whose kind gives the HTTP status
/// and whose code the API's.
pub type OpError = cloudgate_sp::SpError;

/// The SP as the administrator or API token `who` acts on it.
fn as_admin(console: &Console, who: &str) -> Sp {
    console.sp.acting_as(Actor::Console(who.to_string()))
}

/// The served certificate follows the certificate in use after a change.
fn follow_certificate(console: &Console) {
    if let Some(served) = &console.served
        && let Err(e) = served.refresh()
    {
        tracing::warn!(error = %e, "console: still serving the previous certificate");
    }
}
