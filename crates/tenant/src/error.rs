//! The tenant side's error type; its [`Classify`] kind tells the binary which exit code it is.

use cloudgate_errors::{Classify, ErrorKind};
use cloudgate_pki::Fingerprints;

use crate::trust::Refusal;

/// The presented SP certificate is not the pinned one: a hard failure, never re-pinned silently.
#[derive(Debug, Clone)]
pub struct TrustFailure {
    /// The provider's name.
    pub provider: String,
    /// `address:port`.
    pub endpoint: String,
    /// The pinned certificate's thumbprint and SHA-256 (colon hex).
    pub expected_thumbprint: String,
    /// See above.
    pub expected_sha256: String,
    /// What was presented, when it could be parsed.
    pub presented: Option<Fingerprints>,
    /// The presented SHA-256 (colon hex), always known.
    pub presented_sha256: String,
    /// When the pin was first seen (RFC 3339).
    pub first_seen: String,
    /// Why the presented certificate could not be followed.
    pub reason: Refusal,
}

/// Everything that can go wrong on the tenant side.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TenantError {
    /// Certificate not verified or pin mismatch (exit 3).
    #[error("the service provider's certificate is not the pinned one")]
    PinMismatch(Box<TrustFailure>),
    /// The thumbprint given does not match the certificate presented (exit 3).
    #[error(
        "the certificate presented by {endpoint} does not match the thumbprint you gave: presented thumbprint {thumbprint}, SHA-256 {sha256}; nothing was saved and no credentials were sent"
    )]
    ThumbprintMismatch {
        /// `address:port`.
        endpoint: String,
        /// Presented thumbprint.
        thumbprint: String,
        /// Presented SHA-256 (colon hex).
        sha256: String,
    },
    /// A `--trust ca` provider whose certificate does not chain to the system roots or does not
    /// match its host name (exit 3).
    #[error("the certificate of {endpoint} is not trusted: {reason}")]
    Untrusted {
        /// `address:port`.
        endpoint: String,
        /// Why.
        reason: String,
    },
    /// Tenant credentials refused (exit 4).
    #[error("the service provider refused the tenant credentials: {0}")]
    Authentication(String),
    /// The tenant account is refused whatever the credentials: disabled, its lease ended, or
    /// not allowed from this address (exit 4).
    #[error("the service provider refused this tenant account: {0}")]
    AccountRefused(String),
    /// The gateway refused a request for another reason.
    #[error("the service provider refused: {message} ({code})")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The stable error code.
        code: String,
        /// The gateway's message.
        message: String,
    },
    /// The gateway could not be reached or the connection broke.
    #[error("cannot reach {endpoint}: {reason}")]
    Unreachable {
        /// `address:port`.
        endpoint: String,
        /// Why.
        reason: String,
    },
    /// Bad input (exit 2).
    #[error("{0}")]
    BadInput(String),
    /// The local tunnel listener could not be opened.
    #[error("cannot listen on {address}: {reason}")]
    Listen {
        /// The address asked for.
        address: String,
        /// Why.
        reason: String,
    },
    /// Database error.
    #[error(transparent)]
    Db(#[from] cloudgate_db::DbError),
    /// Store or file error.
    #[error(transparent)]
    Store(#[from] cloudgate_store::StoreError),
    /// Certificate error.
    #[error(transparent)]
    Pki(#[from] cloudgate_pki::PkiError),
}

impl Classify for TenantError {
    fn kind(&self) -> ErrorKind {
        match self {
            TenantError::PinMismatch(_)
            | TenantError::ThumbprintMismatch { .. }
            | TenantError::Untrusted { .. } => ErrorKind::Trust,
            TenantError::Authentication(_) | TenantError::AccountRefused(_) => ErrorKind::Auth,
            TenantError::BadInput(_) => ErrorKind::Usage,
            TenantError::Refused { .. } => ErrorKind::Internal,
            TenantError::Unreachable { .. } | TenantError::Listen { .. } => ErrorKind::Unavailable,
            TenantError::Db(e) => e.kind(),
            TenantError::Store(e) => e.kind(),
            TenantError::Pki(e) => e.kind(),
        }
    }

    fn code(&self) -> &'static str {
        match self {
            TenantError::PinMismatch(_) => "pin_mismatch",
            TenantError::ThumbprintMismatch { .. } => "thumbprint_mismatch",
            TenantError::Untrusted { .. } => "untrusted",
            TenantError::Unreachable { .. } => "unreachable",
            TenantError::Listen { .. } => "runtime",
            TenantError::Refused { .. } => "runtime",
            TenantError::Db(e) => e.code(),
            TenantError::Store(e) => e.code(),
            TenantError::Pki(e) => e.code(),
            _ => self.kind().name(),
        }
    }
}
