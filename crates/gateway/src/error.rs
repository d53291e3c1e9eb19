//! The gateway's error type.

use std::net::SocketAddr;

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
