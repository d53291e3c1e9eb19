//! cloudgate's SQL state. On the SP side: tenants, the services each may reach, the client
//! certificates they enrolled and join tokens, behind the [`SpRepository`] traits. On the tenant
//! side: the providers it added and the pins it holds ([`TenantDb`]).
//!
//! SQLite in the data directory is the embedded default (no server to run); each database has
//! its migrations in `migrations/<database>/`, applied with `sqlx::migrate!`.
//!
//! This crate stores and fetches; rules (who may enroll, what a valid name is) live in
//! `cloudgate-sp` and the gateway.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod audit;
mod error;
mod gateway_state;
#[cfg(feature = "postgres")]
mod postgres;
mod provider;
mod records;
mod repo;
mod shared;
mod sqlite;
mod stamp;
mod url;
pub mod usage;
mod whose;

pub use audit::{AuditQuery, AuditRecord, ChainBreak, ChainCheck, NewAuditRecord};
pub use error::DbError;
pub use gateway_state::{CertDigest, GatewayState, GatewayTenant, StateDelta, TenantSlice};
#[cfg(feature = "postgres")]
pub use postgres::{PgSpRepository, pg_schema_status};
pub use provider::{PinUpdate, PinnedProvider, TenantDb, TrustMode};
pub use records::{
    AdminRecord, ApiTokenRecord, ClientCertDump, ClientCertRecord, GatewayRecord, JoinTokenRecord,
    LeaseWarning, Migration, PublishedCertificate, SchemaStatus, ServiceDump, ServiceRecord,
    SpDump, TenantDump, TenantRecord, TokenRefusal,
};
pub use repo::{
    ACCOUNT_FAILURES_PREFIX, AdminRepository, AuditRepository, CertificateRepository, ChangeFeed,
    EnrollmentRepository, FleetRepository, JoinTokenRepository, MaintenanceRepository,
    ServiceRepository, SharedRepository, SpRepository, StateRepository, TenantRepository,
    TransferRepository, UsageRepository,
};
pub use sqlite::{SqliteSpRepository, sqlite_schema_status};
pub use url::redact_url;
pub use usage::{OpenTunnelCount, UsageCount, UsageQuery};

/// The repository traits, for `use cloudgate_db::prelude::*` where their methods are called.
pub mod prelude {
    pub use crate::repo::{
        AdminRepository, AuditRepository, CertificateRepository, EnrollmentRepository,
        FleetRepository, JoinTokenRepository, MaintenanceRepository, ServiceRepository,
        SpRepository, StateRepository, TenantRepository, TransferRepository, UsageRepository,
    };
}
