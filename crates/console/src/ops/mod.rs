//! The console's operations, once, for the pages and the API: each reads or changes the SP
//! through `cloudgate_sp` (the same calls as the command line), and every change is an audit
//! event naming the administrator (or API token) that made it.

use cloudgate_db::DbError;
use cloudgate_errors::{Classify, ErrorKind};
use cloudgate_sp::SpError;
use cloudgate_store::StoreError;

use crate::Console;

mod certificates;
mod site;
mod tenants;

pub use certificates::*;
pub use site::*;
pub use tenants::*;

/// Why an operation was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    /// What was asked is not acceptable.
    #[error("{0}")]
    Invalid(String),
    /// A switch to a new key without a proof while machines are enrolled.
    #[error(
        "certificate {thumbprint} has a new key and was not staged: {machines} enrolled machine(s) of {tenants} tenant(s) would all have to verify it by hand; stage it first and apply it once they have seen it, or apply with force"
    )]
    WouldReverify {
        /// The certificate.
        thumbprint: String,
        /// Enrolled machines.
        machines: usize,
        /// Their tenants.
        tenants: usize,
    },
    /// No such thing (a gateway, a token).
    #[error("{0}")]
    NotFound(String),
    /// The SP library refused or failed.
    #[error(transparent)]
    Sp(#[from] SpError),
}

impl From<DbError> for OpError {
    fn from(e: DbError) -> Self {
        OpError::Sp(e.into())
    }
}

impl From<cloudgate_gateway::GatewayError> for OpError {
    fn from(e: cloudgate_gateway::GatewayError) -> Self {
        match e {
            cloudgate_gateway::GatewayError::Store(e) => e.into(),
            cloudgate_gateway::GatewayError::Sp(e) => e.into(),
            cloudgate_gateway::GatewayError::Db(e) => e.into(),
            cloudgate_gateway::GatewayError::Pki(e) => OpError::Sp(e.into()),
            cloudgate_gateway::GatewayError::Config(m) => OpError::Invalid(m),
            other => OpError::Invalid(other.to_string()),
        }
    }
}

impl From<StoreError> for OpError {
    fn from(e: StoreError) -> Self {
        OpError::Sp(e.into())
    }
}

impl OpError {
    /// The kind, for the HTTP status and the API's code.
    pub fn kind(&self) -> ErrorKind {
        match self {
            OpError::Invalid(_) => ErrorKind::Usage,
            OpError::NotFound(_) => ErrorKind::NotFound,
            OpError::WouldReverify { .. } => ErrorKind::Conflict,
            OpError::Sp(e) => e.kind(),
        }
    }

    /// The API's stable code.
    pub fn code(&self) -> &'static str {
        match self {
            OpError::Invalid(_) => "bad_input",
            OpError::NotFound(_) => "not_found",
            OpError::WouldReverify { .. } => "would_reverify",
            OpError::Sp(e) => e.code(),
        }
    }
}

/// Records a change in the audit log with who made it; a log that cannot be written fails the
/// request after the change (the change is not undone, and the error says so).
fn audit(
    console: &Console,
    who: &str,
    event: &'static str,
    message: &str,
    mut details: serde_json::Value,
) -> Result<(), OpError> {
    if let serde_json::Value::Object(map) = &mut details {
        map.insert("admin".into(), who.into());
    }
    cloudgate_store::audit::record(
        console.store.layout(),
        console.store.ownership(),
        event,
        message,
        details,
    )?;
    Ok(())
}

/// Publishes the certificate in use to a fleet, when this console serves one; whether it
/// published (false when the gateways have it already, or there is no fleet).
async fn publish(console: &Console) -> Result<bool, OpError> {
    if console.fleet_keys.is_empty() {
        return Ok(false);
    }
    let keys: Vec<_> = console.fleet_keys.iter().collect();
    Ok(cloudgate_sp::fleet::publish(&console.store, &*console.db, &keys).await?)
}
