//! The gateway's error type.

use std::net::SocketAddr;

use cloudgate_errors::{Classify, ErrorKind};

/// Errors that stop the gateway from starting or reloading.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    /// The store could not be read or has no usable certificate.
    #[error(transparent)]
    Store(#[from] cloudgate_store::StoreError),
    /// The database could not be read.
    #[error(transparent)]
    Db(#[from] cloudgate_db::DbError),
    /// A certificate problem.
    #[error(transparent)]
    Pki(#[from] cloudgate_pki::PkiError),
    /// An SP operation (renewal) failed.
    #[error(transparent)]
    Sp(#[from] cloudgate_sp::SpError),
    /// TLS configuration failed (for instance, a key the TLS library does not accept).
    #[error("TLS configuration failed: {0}")]
    Tls(#[from] rustls::Error),
    /// The listen address is in use or not ours.
    #[error("cannot listen on {addr}: {source}{}", cloudgate_addr::listen_hint(source.kind(), *addr))]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A configuration file or value that cannot be used.
    #[error("invalid gateway configuration: {0}")]
    Config(String),
}

impl Classify for GatewayError {
    fn kind(&self) -> ErrorKind {
        match self {
            GatewayError::Store(e) => e.kind(),
            GatewayError::Db(e) => e.kind(),
            GatewayError::Pki(e) => e.kind(),
            GatewayError::Sp(e) => e.kind(),
            // A key the TLS library refuses came from the store: the operator must replace it.
            GatewayError::Tls(_) => ErrorKind::Usage,
            GatewayError::Listen { .. } => ErrorKind::Unavailable,
            GatewayError::Config(_) => ErrorKind::Usage,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            GatewayError::Store(e) => e.code(),
            GatewayError::Db(e) => e.code(),
            GatewayError::Pki(e) => e.code(),
            GatewayError::Sp(e) => e.code(),
            GatewayError::Listen { .. } => "listen",
            _ => self.kind().name(),
        }
    }
}

impl From<cloudgate_sp::settings::SettingsError> for GatewayError {
    fn from(e: cloudgate_sp::settings::SettingsError) -> Self {
        match e {
            cloudgate_sp::settings::SettingsError::Config(m) => GatewayError::Config(m),
            cloudgate_sp::settings::SettingsError::Store(e) => GatewayError::Store(e),
            other => GatewayError::Config(other.to_string()),
        }
    }
}
