//! What the SP database holds, as the repository hands it out.

use time::OffsetDateTime;

/// A tenant account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantRecord {
    /// Unique name, the user name a tenant enrolls with.
    pub name: String,
    /// Free text.
    pub description: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Whether the tenant may enroll and open tunnels.
    pub enabled: bool,
    /// When it was added.
    pub created_at: OffsetDateTime,
    /// The pool of gateways its machines connect to (`default` unless set).
    pub pool: String,
    /// Whether its machines may fail over to gateways of other pools when none of its own
    /// answers.
    pub failover_outside_pool: bool,
    /// What the SP allows it (limits, lease, networks).
    pub policy: cloudgate_policy::TenantPolicy,
}

/// A lease warning due: the tenant, the days left (0 once ended) and the end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseWarning {
    /// The tenant.
    pub tenant: String,
    /// 30, 7 or 1 days left, or 0 once ended.
    pub days: u32,
    /// When the lease ends.
    pub expires_at: OffsetDateTime,
}

/// A backend a tenant may reach by name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceRecord {
    /// The tenant.
    pub tenant: String,
    /// The service name the tenant asks for.
    pub name: String,
    /// `HOST:PORT` on the SP side.
    pub target: String,
}

/// An enrolled tenant client certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientCertRecord {
    /// SHA-256 of the certificate DER, uppercase hex.
    pub sha256: String,
    /// The tenant it belongs to.
    pub tenant: String,
    /// When it was enrolled.
    pub enrolled_at: OffsetDateTime,
    /// When a tunnel last used it.
    pub last_seen: Option<OffsetDateTime>,
    /// SHA-256 (uppercase hex) of the SP certificate the machine last confirmed it trusts.
    pub confirmed_sha256: Option<String>,
    /// SHA-256 of the staged successor it had learned then, if any.
    pub successor_sha256: Option<String>,
    /// When it last confirmed.
    pub confirmed_at: Option<OffsetDateTime>,
    /// The machine's host name, as the tenant sent it at enrollment.
    pub label: Option<String>,
}

impl ClientCertRecord {
    /// When the machine was last heard of: its last use, or its enrollment if never used.
    pub fn last_activity(&self) -> OffsetDateTime {
        self.last_seen.unwrap_or(self.enrolled_at)
    }
}

/// An administrator of the console.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminRecord {
    /// Unique name, the one typed at the login page and written in the audit log.
    pub name: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// When it was added.
    pub created_at: OffsetDateTime,
    /// When its password last changed.
    pub updated_at: OffsetDateTime,
}

impl std::fmt::Debug for AdminRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminRecord")
            .field("name", &self.name)
            .field("password_hash", &"<redacted>")
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .finish()
    }
}

/// An API token for scripts, as the SP database keeps it (never the secret itself).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiTokenRecord {
    /// Public id, 16 lowercase hex digits.
    pub id: String,
    /// What it is for (`ci`), shown in lists and written in the audit log.
    pub name: String,
    /// SHA-256 of the secret, lowercase hex.
    pub secret_sha256: String,
    /// Who created it.
    pub created_by: String,
    /// When it was created.
    pub created_at: OffsetDateTime,
    /// Refused from then on.
    pub expires_at: OffsetDateTime,
    /// When a request last carried it.
    pub last_used_at: Option<OffsetDateTime>,
    /// When it was revoked.
    pub revoked_at: Option<OffsetDateTime>,
}

/// A join token as the SP database keeps it (never the secret itself).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinTokenRecord {
    /// Public id, 32 lowercase hex digits.
    pub id: String,
    /// The tenant it enrolls machines for.
    pub tenant: String,
    /// SHA-256 of the secret, lowercase hex.
    pub secret_sha256: String,
    /// Free text.
    pub label: String,
    /// Who created it.
    pub created_by: String,
    /// When it was created.
    pub created_at: OffsetDateTime,
    /// The token is refused from then on.
    pub expires_at: OffsetDateTime,
    /// Enrollments it may still make.
    pub uses_left: i64,
    /// When it was revoked.
    pub revoked_at: Option<OffsetDateTime>,
}

/// Why a presented token was refused (the tenant exits 4 with the reason).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenRefusal {
    /// No such token, or the secret does not match (the two are not told apart).
    Unknown,
    /// Past its expiry.
    Expired,
    /// No uses left.
    UsedUp,
    /// Revoked by the SP.
    Revoked,
    /// Its tenant is disabled.
    TenantDisabled,
    /// Its tenant's lease has ended.
    LeaseExpired,
    /// Its tenant may not connect from the address it came from.
    AddressNotAllowed,
}

impl TokenRefusal {
    /// The explanation for the tenant.
    pub fn message(self) -> &'static str {
        match self {
            TokenRefusal::Unknown => "the service provider does not know this join token",
            TokenRefusal::Expired => {
                "this join token has expired; ask the service provider for a new one"
            }
            TokenRefusal::UsedUp => {
                "this join token has been used already; ask the service provider for a new one"
            }
            TokenRefusal::Revoked => "this join token was revoked by the service provider",
            TokenRefusal::TenantDisabled => {
                "the tenant account of this join token is disabled; contact the service provider"
            }
            TokenRefusal::LeaseExpired => {
                "the lease of this join token's tenant account has ended; ask the service provider to extend it"
            }
            TokenRefusal::AddressNotAllowed => {
                "this join token's tenant may not connect from this address; ask the service provider to allow it"
            }
        }
    }
}

/// What an SP database holds that is the SP's own (the fleet's bookkeeping aside): what
/// `sp db import-sqlite` moves from one database to another, every column of it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SpDump {
    /// Tenants with their password hashes, by name.
    pub tenants: Vec<TenantDump>,
    /// Services, by tenant and name.
    pub services: Vec<ServiceDump>,
    /// Enrolled machines with their certificates and adoption records, by SHA-256.
    pub client_certs: Vec<ClientCertDump>,
    /// Join tokens (their secrets' hashes), by id.
    pub join_tokens: Vec<JoinTokenRecord>,
    /// Console administrators (their password hashes), by name.
    pub admins: Vec<AdminRecord>,
    /// API tokens (their secrets' hashes), by id.
    pub api_tokens: Vec<ApiTokenRecord>,
}

/// A tenant as dumped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantDump {
    /// The account.
    pub tenant: TenantRecord,
    /// When it last changed.
    pub updated_at: OffsetDateTime,
}

/// A service as dumped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceDump {
    /// The service.
    pub service: ServiceRecord,
    /// When it was given.
    pub created_at: OffsetDateTime,
}

/// An enrolled machine as dumped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientCertDump {
    /// The record.
    pub cert: ClientCertRecord,
    /// The client certificate, DER.
    pub cert_der: Vec<u8>,
}

/// The certificate every gateway of a fleet serves, as published to the SP database. The
/// database keeps what it is given: the sealing of the key is `cloudgate-sp`'s.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishedCertificate {
    /// SHA-256 of the certificate, uppercase hex.
    pub sha256: String,
    /// The certificate, DER.
    pub cert_der: Vec<u8>,
    /// The intermediates served with it, PEM (empty for none).
    pub chain_pem: String,
    /// Its friendly name.
    pub friendly_name: String,
    /// The SP's name, as its license says.
    pub provider_name: String,
    /// The rollover record (staged successor, switches), JSON.
    pub rollover: String,
    /// The private key sealed under one or more fleet keys, JSON.
    pub sealed_keys: String,
    /// When it was published.
    pub published_at: OffsetDateTime,
}

/// A gateway of the fleet, as it last reported itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewayRecord {
    /// Its id, unique in the fleet (`--id`, else HOST:PORT of its listen address).
    pub id: String,
    /// The address tenants reach it at, `HOST:PORT`; empty when it has none configured (it
    /// is then not told to tenants).
    pub public_address: String,
    /// The pool it serves.
    pub pool: String,
    /// The cloudgate version it runs.
    pub version: String,
    /// SHA-256 (uppercase hex) of the certificate it serves.
    pub cert_sha256: String,
    /// Tunnels open through it at its last heartbeat.
    pub open_tunnels: i64,
    /// Bytes its closed tunnels relayed since it started, at its last heartbeat.
    pub relayed_bytes: i64,
    /// When it started.
    pub started_at: OffsetDateTime,
    /// Its last heartbeat.
    pub heartbeat_at: OffsetDateTime,
    /// When it stopped gracefully; `None` while it runs (or if it died).
    pub stopped_at: Option<OffsetDateTime>,
}

/// One schema migration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Migration {
    /// Its number; migrations apply in this order.
    pub version: i64,
    /// What it does.
    pub description: String,
}

/// Where a database's schema stands against the migrations this cloudgate knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemaStatus {
    /// The database (a file, a server).
    pub location: String,
    /// `sqlite` (a server database later).
    pub backend: &'static str,
    /// Applied, oldest first.
    pub applied: Vec<Migration>,
    /// Known to this cloudgate and not applied yet (the next open applies them).
    pub pending: Vec<Migration>,
    /// Applied but unknown to this cloudgate: the database was written by a newer version.
    pub unknown: Vec<i64>,
}

impl SchemaStatus {
    /// Compares applied `(version, description)` pairs with the known ones.
    pub fn new(
        location: String,
        backend: &'static str,
        applied: Vec<(i64, String)>,
        known: Vec<(i64, String)>,
    ) -> Self {
        let is_applied = |v: i64| applied.iter().any(|(a, _)| *a == v);
        let is_known = |v: i64| known.iter().any(|(k, _)| *k == v);
        let describe = |v: i64, d: &str| Migration {
            version: v,
            description: if d.is_empty() {
                known
                    .iter()
                    .find(|(k, _)| *k == v)
                    .map(|(_, d)| d.clone())
                    .unwrap_or_default()
            } else {
                d.to_string()
            },
        };
        SchemaStatus {
            location,
            backend,
            unknown: applied
                .iter()
                .map(|(v, _)| *v)
                .filter(|v| !is_known(*v))
                .collect(),
            pending: known
                .iter()
                .filter(|(v, _)| !is_applied(*v))
                .map(|(v, d)| describe(*v, d))
                .collect(),
            applied: applied.iter().map(|(v, d)| describe(*v, d)).collect(),
        }
    }

    /// The newest applied version (0 for an empty database).
    pub fn version(&self) -> i64 {
        self.applied.iter().map(|m| m.version).max().unwrap_or(0)
    }
}
