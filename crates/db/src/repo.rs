//! The SP's storage seam: what the gateway, the CLI and (later) the console ask of the SP
//! database, as traits with one implementation per database. SQLite
//! ([`crate::SqliteSpRepository`]) is the embedded default; a server database implements the
//! same traits. Callers hold an `Arc<dyn SpRepository>` and never see a driver type.
//!
//! Every method that changes what the gateway decides with (tenants, services, enrolled
//! certificates, join tokens) bumps the change counter ([`StateRepository::version`]) in the same
//! transaction; bookkeeping (last seen, confirmations) does not.

use std::sync::Arc;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::audit::{AuditQuery, AuditRecord, NewAuditRecord};
use crate::{
    AdminRecord, ApiTokenRecord, ClientCertRecord, DbError, GatewayRecord, GatewayState,
    JoinTokenRecord, PublishedCertificate, ServiceRecord, SpDump, StateDelta, TenantRecord,
    TokenRefusal,
};

/// Tenant accounts.
#[async_trait]
pub trait TenantRepository: Send + Sync {
    /// Adds a tenant; refuses a name in use.
    async fn add_tenant(
        &self,
        name: &str,
        description: &str,
        password_hash: &str,
    ) -> Result<(), DbError>;
    /// Every tenant, by name.
    async fn tenants(&self) -> Result<Vec<TenantRecord>, DbError>;
    /// One tenant.
    async fn tenant(&self, name: &str) -> Result<TenantRecord, DbError>;
    /// Replaces a tenant's password hash.
    async fn set_password_hash(&self, name: &str, hash: &str) -> Result<(), DbError>;
    /// Enables or disables a tenant.
    async fn set_enabled(&self, name: &str, enabled: bool) -> Result<(), DbError>;
    /// Moves a tenant to a pool of gateways, and says whether its machines may fail over
    /// outside it.
    async fn set_pool(&self, name: &str, pool: &str, outside: bool) -> Result<(), DbError>;
    /// Replaces what the SP allows a tenant; a new lease end starts its warnings over.
    async fn set_policy(
        &self,
        name: &str,
        policy: &cloudgate_policy::TenantPolicy,
    ) -> Result<(), DbError>;
    /// The lease warnings due at `at` that no gateway gave yet, each claimed for the caller in
    /// the database (so that one gateway of a fleet audits it).
    async fn lease_warnings_due(
        &self,
        at: OffsetDateTime,
    ) -> Result<Vec<crate::LeaseWarning>, DbError>;
    /// Removes a tenant with its services, client certificates and join tokens.
    async fn remove_tenant(&self, name: &str) -> Result<(), DbError>;
}

/// Maintenance the SP declares for its gateways: a change every gateway reloads for.
#[async_trait]
pub trait MaintenanceRepository: Send + Sync {
    /// Every maintenance in force, by scope.
    async fn maintenance(&self) -> Result<Vec<cloudgate_policy::Maintenance>, DbError>;
    /// Declares (or replaces) the maintenance of its scope.
    async fn start_maintenance(&self, m: &cloudgate_policy::Maintenance) -> Result<(), DbError>;
    /// Ends the maintenance of `scope`; whether there was one.
    async fn end_maintenance(
        &self,
        scope: &cloudgate_policy::MaintenanceScope,
    ) -> Result<bool, DbError>;
}

/// The backends each tenant may reach.
#[async_trait]
pub trait ServiceRepository: Send + Sync {
    /// Gives a tenant a service; refuses a name the tenant has.
    async fn add_service(&self, tenant: &str, service: &str, target: &str) -> Result<(), DbError>;
    /// A tenant's services, by name.
    async fn services(&self, tenant: &str) -> Result<Vec<ServiceRecord>, DbError>;
    /// Takes a service away from a tenant.
    async fn remove_service(&self, tenant: &str, service: &str) -> Result<(), DbError>;
}

/// The client certificates tenants' machines enrolled.
#[async_trait]
pub trait EnrollmentRepository: Send + Sync {
    /// Binds a client certificate to a tenant (again, if it was already: enrollment is
    /// repeatable); refuses one bound to another tenant.
    async fn bind_client_cert(
        &self,
        tenant: &str,
        sha256: &str,
        cert_der: &[u8],
        label: Option<&str>,
    ) -> Result<(), DbError>;
    /// A tenant's enrolled client certificates, oldest first.
    async fn client_certs(&self, tenant: &str) -> Result<Vec<ClientCertRecord>, DbError>;
    /// Every enrolled client certificate of every tenant, by tenant.
    async fn all_client_certs(&self) -> Result<Vec<ClientCertRecord>, DbError>;
    /// Records which SP certificate (and staged successor) an enrolled machine confirmed it
    /// trusts; not a change the gateway reloads for.
    async fn confirm_client_cert(
        &self,
        sha256: &str,
        confirmed_sha256: &str,
        successor_sha256: Option<&str>,
    ) -> Result<(), DbError>;
    /// Removes one enrolled client certificate of a tenant.
    async fn revoke_client_cert(&self, tenant: &str, sha256: &str) -> Result<(), DbError>;
    /// Removes a tenant's enrolled client certificates not heard of since `before`; returns the
    /// removed ones.
    async fn prune_client_certs(
        &self,
        tenant: &str,
        before: OffsetDateTime,
    ) -> Result<Vec<ClientCertRecord>, DbError>;
    /// Records that a client certificate was just used (not a change to reload).
    async fn touch_client_cert(&self, sha256: &str) -> Result<(), DbError>;
}

/// Join tokens: created by the SP, redeemed by the gateway in the same transaction that enrolls
/// the machine, so a token is never spent without an enrollment nor used more often than it
/// allows.
#[async_trait]
pub trait JoinTokenRepository: Send + Sync {
    /// Stores a new token (its tenant must exist).
    async fn add_join_token(&self, token: &JoinTokenRecord) -> Result<(), DbError>;
    /// Every token, or a tenant's, newest first.
    async fn join_tokens(&self, tenant: Option<&str>) -> Result<Vec<JoinTokenRecord>, DbError>;
    /// Revokes a token by its id (or a unique prefix of at least 8 hex digits).
    async fn revoke_join_token(&self, id: &str) -> Result<JoinTokenRecord, DbError>;
    /// Redeems a token and enrolls the client certificate in one transaction. Returns the
    /// tenant, or why the token is refused (nothing changes then): also for a tenant whose
    /// lease ended or that may not connect from `source`.
    async fn enroll_with_token(
        &self,
        id: &str,
        secret_sha256: &str,
        client_sha256: &str,
        cert_der: &[u8],
        label: Option<&str>,
        source: std::net::IpAddr,
    ) -> Result<Result<String, TokenRefusal>, DbError>;
}

/// The gateway fleet and what its gateways count together. Bookkeeping: nothing here bumps the
/// change counter.
#[async_trait]
pub trait FleetRepository: Send + Sync {
    /// Records a gateway's heartbeat (and that it runs, if it had stopped).
    async fn heartbeat(&self, gateway: &GatewayRecord) -> Result<(), DbError>;
    /// Records that a gateway stopped gracefully.
    async fn gateway_stopped(&self, id: &str) -> Result<(), DbError>;
    /// Every gateway that ever reported, by id.
    async fn gateways(&self) -> Result<Vec<GatewayRecord>, DbError>;
    /// Forgets a gateway; false when there was none of that id.
    async fn remove_gateway(&self, id: &str) -> Result<bool, DbError>;
    /// Counts a failed enrollment from `source` in its window (which starts anew when it began
    /// before `window_start`); returns the failures counted in the window, this one included.
    async fn record_enroll_failure(
        &self,
        source: &str,
        window_start: OffsetDateTime,
    ) -> Result<i64, DbError>;
    /// Failed enrollments from `source` in a window that began at or after `window_start`.
    async fn enroll_failures(
        &self,
        source: &str,
        window_start: OffsetDateTime,
    ) -> Result<i64, DbError>;
    /// Forgets `source`'s failures (after a success).
    async fn clear_enroll_failures(&self, source: &str) -> Result<(), DbError>;
    /// Forgets windows that began before `window_start`.
    async fn prune_enroll_failures(&self, window_start: OffsetDateTime) -> Result<(), DbError>;
}

/// Moving a whole SP database: read it all, or write it all into an empty one.
#[async_trait]
pub trait TransferRepository: Send + Sync {
    /// Everything the SP keeps, read in one consistent view.
    async fn dump(&self) -> Result<SpDump, DbError>;
    /// Writes `dump` in one transaction; refuses ([`DbError::NotEmpty`]) a database that holds
    /// tenants or join tokens already, writing nothing.
    async fn import(&self, dump: &SpDump) -> Result<(), DbError>;
}

/// The certificate a fleet of gateways serves, published by the SP's certificate commands.
#[async_trait]
pub trait CertificateRepository: Send + Sync {
    /// Replaces the published certificate; a change every gateway reloads for.
    async fn publish_certificate(&self, c: &PublishedCertificate) -> Result<(), DbError>;
    /// The published certificate, if one was.
    async fn published_certificate(&self) -> Result<Option<PublishedCertificate>, DbError>;
}

/// What the gateway loads and reloads.
#[async_trait]
pub trait StateRepository: Send + Sync {
    /// The change counter.
    async fn version(&self) -> Result<i64, DbError>;
    /// Everything the gateway decides with, read in one consistent view.
    async fn gateway_state(&self) -> Result<GatewayState, DbError>;
    /// What changed since `version`, as the tenants to read again and whether the published
    /// certificate changed, in one consistent view; `None` when the change log does not reach
    /// back that far or a change touched more than that (the gateway then reads the whole state).
    async fn state_delta(&self, version: i64) -> Result<Option<StateDelta>, DbError>;
}

/// Wakes a gateway when a change is committed, where the database can say so.
#[async_trait]
pub trait ChangeFeed: Send {
    /// Waits for the next committed change (several may be told as one).
    async fn changed(&mut self) -> Result<(), DbError>;
}

/// The console's administrators and the API tokens scripts use. Bookkeeping for the gateways:
/// nothing here bumps the change counter.
#[async_trait]
pub trait AdminRepository: Send + Sync {
    /// Adds an administrator; refuses a name in use.
    async fn add_admin(&self, admin: &AdminRecord) -> Result<(), DbError>;
    /// Every administrator, by name.
    async fn admins(&self) -> Result<Vec<AdminRecord>, DbError>;
    /// One administrator.
    async fn admin(&self, name: &str) -> Result<AdminRecord, DbError>;
    /// Replaces an administrator's password hash.
    async fn set_admin_password_hash(&self, name: &str, hash: &str) -> Result<(), DbError>;
    /// Removes an administrator.
    async fn remove_admin(&self, name: &str) -> Result<(), DbError>;
    /// Stores a new API token.
    async fn add_api_token(&self, token: &ApiTokenRecord) -> Result<(), DbError>;
    /// Every API token, newest first.
    async fn api_tokens(&self) -> Result<Vec<ApiTokenRecord>, DbError>;
    /// One API token by its full id, if there is one.
    async fn api_token(&self, id: &str) -> Result<Option<ApiTokenRecord>, DbError>;
    /// Revokes an API token by its id (or a unique prefix of at least 6 hex digits).
    async fn revoke_api_token(&self, id: &str) -> Result<ApiTokenRecord, DbError>;
    /// Records that a request carried the token.
    async fn touch_api_token(&self, id: &str, at: OffsetDateTime) -> Result<(), DbError>;
}

/// The audit, append-only and hash-chained ([`crate::audit`]). Appending is bookkeeping: it
/// takes the write lock (so the chain has one order across gateways) but bumps no change counter.
#[async_trait]
pub trait AuditRepository: Send + Sync {
    /// Appends entries in order, chained to the last one stored, in one transaction; returns
    /// them as stored.
    async fn append_audit(&self, entries: &[NewAuditRecord]) -> Result<Vec<AuditRecord>, DbError>;
    /// Entries after `after_seq`, oldest first, at most `limit` (for walking the chain).
    async fn audit_after(&self, after_seq: i64, limit: i64) -> Result<Vec<AuditRecord>, DbError>;
    /// Entries that match `query`, newest first, and how many match in all.
    async fn audit_search(&self, query: &AuditQuery) -> Result<(Vec<AuditRecord>, i64), DbError>;
}

/// Usage accounting ([`crate::usage`]): bookkeeping, nothing here bumps the change counter.
#[async_trait]
pub trait UsageRepository: Send + Sync {
    /// Adds what gateway `gateway_id` counted since its last flush, and replaces the tunnels
    /// it has open now with `open` (as of `at`), in one transaction.
    async fn record_usage(
        &self,
        gateway_id: &str,
        at: OffsetDateTime,
        counted: &[crate::UsageCount],
        open: &[crate::OpenTunnelCount],
    ) -> Result<(), DbError>;
    /// Usage per tenant, machine and hour, summed over the gateways, oldest hour first.
    async fn usage(&self, query: &crate::UsageQuery) -> Result<Vec<crate::UsageCount>, DbError>;
    /// Tunnels open now per tenant and machine, summed over the gateways that reported since
    /// `fresh_since` (a gateway that stopped reporting is not counted), leaving out
    /// `except_gateway` (a gateway asking what the others have open).
    async fn open_tunnel_counts(
        &self,
        fresh_since: OffsetDateTime,
        except_gateway: Option<&str>,
    ) -> Result<Vec<crate::OpenTunnelCount>, DbError>;
}

/// The whole SP database.
#[async_trait]
pub trait SpRepository:
    TenantRepository
    + AdminRepository
    + ServiceRepository
    + EnrollmentRepository
    + JoinTokenRepository
    + StateRepository
    + FleetRepository
    + TransferRepository
    + CertificateRepository
    + AuditRepository
    + UsageRepository
    + MaintenanceRepository
    + std::fmt::Debug
{
    /// Where the data lives (a file, a server), for messages.
    fn location(&self) -> &str;

    /// A feed of committed changes (PostgreSQL's LISTEN/NOTIFY), so that gateways apply a
    /// change at once rather than at their next poll; `None` where they poll only (SQLite).
    async fn change_feed(&self) -> Result<Option<Box<dyn ChangeFeed>>, DbError> {
        Ok(None)
    }
}

/// What a committed change touched, as the change log records it for the gateways.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Change<'a> {
    /// One tenant (its account, services, machines or tokens): read again that tenant alone.
    Tenant(&'a str),
    /// The published certificate: read it again, and no tenant.
    Certificate,
    /// More than that (an import): read everything.
    Everything,
}

impl Change<'_> {
    /// The tenant column: the tenant touched, if one.
    pub(crate) fn tenant(self) -> Option<String> {
        match self {
            Change::Tenant(name) => Some(name.to_string()),
            Change::Certificate | Change::Everything => None,
        }
    }

    /// The certificate column.
    pub(crate) fn is_certificate(self) -> bool {
        self == Change::Certificate
    }
}

/// Logs what a change touched, under the version the change counter was just bumped to; run by
/// every repository's commit ([`record_change`](crate::shared::record_change)).
pub(crate) const LOG_CHANGE: &str = "INSERT INTO state_changes (version, tenant, certificate) SELECT version, $1, $2 FROM state_version WHERE id = 1";

/// Forgets changes older than the last [`CHANGES_KEPT`]: a gateway further behind reads the
/// whole state.
pub(crate) const PRUNE_CHANGES: &str = "DELETE FROM state_changes WHERE version <= (SELECT version FROM state_version WHERE id = 1) - $1";

/// The failure counts of a tenant account (its lockout) are kept beside those of source
/// addresses, under this prefix and the tenant's name.
pub const ACCOUNT_FAILURES_PREFIX: &str = "account:";

/// How many changes the log keeps.
pub(crate) const CHANGES_KEPT: i64 = 10_000;

/// The handle callers share.
pub type SharedRepository = Arc<dyn SpRepository>;

/// Equal lengths compared without an early exit, for the secrets' hashes.
pub(crate) fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Why a token is refused at `now`, or `None` when it may enroll.
pub(crate) fn token_refusal(
    token: &JoinTokenRecord,
    secret_sha256: &str,
    now: OffsetDateTime,
) -> Option<TokenRefusal> {
    if !same_secret(&token.secret_sha256, secret_sha256) {
        Some(TokenRefusal::Unknown)
    } else if token.revoked_at.is_some() {
        Some(TokenRefusal::Revoked)
    } else if token.expires_at <= now {
        Some(TokenRefusal::Expired)
    } else if token.uses_left <= 0 {
        Some(TokenRefusal::UsedUp)
    } else {
        None
    }
}
