//! The SP administration API (`/api/v1` of the console): what the console's pages, scripts and
//! the command line's `--json` say about certificates, tenants and gateways, and the bodies of
//! the requests that change them. Times are RFC 3339 strings, fingerprints uppercase hex.

use serde::{Deserialize, Serialize};

/// A certificate of the SP's store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Certificate {
    /// SHA-1 thumbprint, as the reference product shows it.
    pub thumbprint: String,
    /// SHA-256 of the certificate.
    pub sha256: String,
    /// `sha256//…` public key pin.
    pub spki_sha256: String,
    /// The friendly name.
    pub friendly_name: String,
    /// Subject, RFC 4514.
    pub subject: String,
    /// Issuer, RFC 4514.
    pub issuer: String,
    /// Serial number, hex.
    pub serial: String,
    /// Valid from.
    pub not_before: String,
    /// Valid until.
    pub not_after: String,
    /// Whole days until it expires (negative once expired).
    pub days_left: i64,
    /// `RSA 2048`, `ECDSA P-256`…
    pub key_type: String,
    /// Subject alternative names.
    pub sans: Vec<String>,
    /// Whether it is the certificate in use.
    pub applied: bool,
    /// `generated`, `imported`, `renewed`, `acme`.
    pub source: String,
    /// Who added it.
    pub created_by: String,
    /// When it was added.
    pub created_at: String,
    /// Certificates of its chain (CA-issued), leaf excluded.
    pub chain_length: usize,
    /// Where the certificate file is.
    pub cert_path: String,
    /// Where the key file is.
    pub key_path: String,
}

/// `POST /api/v1/certificates`: a new self-signed certificate. Every field has the command
/// line's default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewCertificate {
    /// The friendly name [default: the licensee's].
    #[serde(default)]
    pub friendly_name: Option<String>,
    /// `rsa2048`, `rsa3072`, `rsa4096`, `ecdsa-p256`, `ecdsa-p384`, `ed25519` [default: rsa2048].
    #[serde(default)]
    pub key_type: Option<String>,
    /// Days of validity [default: 365].
    #[serde(default)]
    pub valid_days: Option<u32>,
    /// Subject, e.g. `CN=backup.example.com,O=Example` [default: the licensee's].
    #[serde(default)]
    pub subject: Option<String>,
    /// Subject alternative names (DNS names or IP addresses) [default: the host's names].
    #[serde(default)]
    pub sans: Vec<String>,
}

/// `POST /api/v1/certificates/import`: a PKCS#12 (.pfx/.p12) or PEM file, as the command line's
/// `sp cert import` reads it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ImportRequest {
    /// The file's bytes, base64.
    pub file_base64: String,
    /// Its password (empty for none).
    #[serde(default)]
    pub password: String,
    /// The friendly name [default: the file's, else the common name].
    #[serde(default)]
    pub friendly_name: Option<String>,
}

impl std::fmt::Debug for ImportRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportRequest")
            .field(
                "file_base64",
                &format_args!("{} bytes", self.file_base64.len()),
            )
            .field("password", &"<redacted>")
            .field("friendly_name", &self.friendly_name)
            .finish()
    }
}

/// `POST /api/v1/certificates/{id}/apply`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ApplyRequest {
    /// Switch to a new key without a proof even though machines are enrolled (every one must
    /// verify by hand).
    #[serde(default)]
    pub force: bool,
}

/// A tenant account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Tenant {
    /// The name it enrolls with.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Whether it may enroll and open tunnels.
    pub enabled: bool,
    /// When it was added.
    pub created_at: String,
    /// Its gateways' pool.
    pub pool: String,
    /// Whether its machines use other pools when none of its own answers.
    #[serde(default)]
    pub failover_outside_pool: bool,
    /// Services it may reach.
    pub services: Vec<Service>,
    /// Enrolled machines.
    pub machines: Vec<Machine>,
    /// Its join tokens (never their secrets), newest first.
    #[serde(default)]
    pub join_tokens: Vec<JoinTokenInfo>,
    /// What the SP allows it (every limit off when absent).
    #[serde(default)]
    pub limits: TenantLimits,
}

/// What the SP allows a tenant, as shown: each limit as it is typed, rates also in bytes per
/// second; absent when off.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TenantLimits {
    /// Upload limit (tenant → services), e.g. `20MB/s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_upload: Option<String>,
    /// The same in bytes per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_upload_bytes_per_sec: Option<u64>,
    /// Download limit (services → tenant).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_download: Option<String>,
    /// The same in bytes per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_download_bytes_per_sec: Option<u64>,
    /// When the rates apply (UTC), e.g. `mon,tue,wed,thu,fri 08:00-18:00`; always when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_window: Option<String>,
    /// Most tunnels open at once over all its machines and gateways.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tunnels: Option<u32>,
    /// Most tunnels open at once from one machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tunnels_per_machine: Option<u32>,
    /// When its lease ends (RFC 3339); never when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// Whether the lease has ended.
    #[serde(default)]
    pub lease_ended: bool,
    /// Networks it may connect from; anywhere when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_from: Vec<String>,
}

/// `PATCH /api/v1/tenants/{name}/limits`, and the limits of `POST /api/v1/tenants`: each field
/// as on the command line (`20MB/s`, `mon-fri 08:00-18:00`, `8`, `2027-03-31`,
/// `10.0.0.0/8,192.0.2.7`), `unlimited` (or `never`, `always`, `any`) to lift it; an absent
/// field is left as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LimitsChange {
    /// Upload limit, e.g. `20MB/s` or `100Mbit/s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_upload: Option<String>,
    /// Download limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_download: Option<String>,
    /// When the rates apply (UTC), e.g. `mon-fri 08:00-18:00`; `always`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_window: Option<String>,
    /// Most tunnels open at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tunnels: Option<String>,
    /// Most tunnels open at once from one machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tunnels_per_machine: Option<String>,
    /// When the lease ends: `YYYY-MM-DD` (as that day ends, UTC), an RFC 3339 time, or `never`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// Networks it may connect from, comma-separated; `any`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_from: Option<String>,
}

impl LimitsChange {
    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        *self == LimitsChange::default()
    }
}

/// A maintenance in force.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MaintenanceInfo {
    /// `all`, `pool` or `gateway`.
    pub scope: String,
    /// The pool's name or the gateway's id (absent for `all`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What tenants are told.
    pub message: String,
    /// When it began (RFC 3339).
    pub started_at: String,
    /// When open tunnels are cut (RFC 3339); never when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drain_until: Option<String>,
    /// When it is announced to end (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<String>,
}

/// `POST /api/v1/maintenance`: starts (or replaces) a maintenance; `DELETE` with `pool` or
/// `gateway` (or neither, for all) ends it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MaintenanceOrder {
    /// Only the gateways of this pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
    /// Only this gateway (its id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    /// What tenants are told (one line).
    #[serde(default)]
    pub message: String,
    /// How long open tunnels may go on (`30m`, `2h`, `0s` to cut them now); they finish by
    /// themselves when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drain: Option<String>,
    /// When it is announced to end (a time as `--since` takes it, e.g. `2026-12-07T06:00:00Z`
    /// or `2h` from now); tenants try again then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
}

/// `POST /api/v1/tenants`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewTenant {
    /// The name.
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// The tenant's password (at least 8 characters).
    pub password: String,
    /// Its limits, if any (as `PATCH /tenants/{name}/limits` takes them).
    #[serde(default)]
    pub limits: LimitsChange,
}

impl std::fmt::Debug for NewTenant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewTenant")
            .field("name", &self.name)
            .field("description", &self.description)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// `PUT /api/v1/tenants/{name}/password`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewPassword {
    /// The new password (at least 8 characters).
    pub password: String,
}

impl std::fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewPassword { password: <redacted> }")
    }
}

/// A service a tenant may reach.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// The name the tenant asks for.
    pub name: String,
    /// `HOST:PORT` on the SP side.
    pub target: String,
}

/// An enrolled machine of a tenant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Machine {
    /// SHA-256 of its client certificate.
    pub sha256: String,
    /// Its host name, as it said at enrollment.
    pub label: Option<String>,
    /// When it enrolled.
    pub enrolled_at: String,
    /// When a tunnel last used it.
    pub last_seen: Option<String>,
    /// SHA-256 of the SP certificate it last confirmed it trusts.
    pub confirmed_sha256: Option<String>,
    /// When it confirmed.
    #[serde(default)]
    pub confirmed_at: Option<String>,
    /// Whether that is the certificate in use.
    pub confirmed_current: bool,
    /// SHA-256 of the staged successor it had learned then, if any.
    #[serde(default)]
    pub successor_sha256: Option<String>,
}

/// A gateway of the fleet (or the one gateway).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Gateway {
    /// Its id.
    pub id: String,
    /// The address tenants reach it at.
    pub public_address: String,
    /// Its pool.
    pub pool: String,
    /// cloudgate version it runs.
    pub version: String,
    /// Tunnels open at the last heartbeat.
    pub open_tunnels: i64,
    /// Bytes its tunnels relayed since it started (counted as they pass), at the last heartbeat.
    pub relayed_bytes: i64,
    /// Last heartbeat.
    pub heartbeat_at: String,
    /// Seconds since the last heartbeat.
    #[serde(default)]
    pub silent_secs: i64,
    /// When it started.
    #[serde(default)]
    pub started_at: String,
    /// When it stopped gracefully, if it did.
    #[serde(default)]
    pub stopped_at: Option<String>,
    /// SHA-256 of the certificate it serves.
    #[serde(default)]
    pub cert_sha256: String,
    /// Up, down or stopped, by the one rule ([`GatewayState::of`]).
    pub state: GatewayState,
}

/// A gateway heard from within this long is up; the one cut-off for the command line, the
/// console, the API, join tokens and the addresses gateways tell tenants.
pub const GATEWAY_UP_WITHIN: std::time::Duration = std::time::Duration::from_secs(10);

/// Whether a gateway runs, as the fleet's heartbeats say.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum GatewayState {
    /// A heartbeat within [`GATEWAY_UP_WITHIN`].
    Up,
    /// Silent for longer: crashed, cut off, or its host is down.
    Down,
    /// Stopped gracefully.
    Stopped,
}

impl GatewayState {
    /// The state of a gateway silent for `silence` (negative: a clock ahead), stopped or not.
    pub fn of(stopped: bool, silence: std::time::Duration) -> GatewayState {
        if stopped {
            GatewayState::Stopped
        } else if silence <= GATEWAY_UP_WITHIN {
            GatewayState::Up
        } else {
            GatewayState::Down
        }
    }

    /// As the JSON says it.
    pub fn as_str(self) -> &'static str {
        match self {
            GatewayState::Up => "up",
            GatewayState::Down => "down",
            GatewayState::Stopped => "stopped",
        }
    }
}

impl std::fmt::Display for GatewayState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry of the SP's audit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    /// Its place in the hash chain, from 1.
    pub seq: i64,
    /// When.
    pub time: String,
    /// The stable event name (`cert.applied`, `enroll.refused`…).
    pub event: String,
    /// What happened.
    pub message: String,
    /// Who did it: `user:NAME` (a Unix user), `admin:NAME`, `token:NAME:ID`, `gateway:ID`,
    /// `tenant:NAME` or `anonymous`.
    pub actor: String,
    /// SHA-256 over the previous entry's hash and this entry.
    pub hash: String,
    /// The event's other fields (names, fingerprints; never a secret).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub details: serde_json::Map<String, serde_json::Value>,
}

/// A refusal of the administration API.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiError {
    /// Stable, for scripts (`unauthorized`, `csrf`, `bad_input`, `not_found`, `would_reverify`…).
    pub code: String,
    /// What was wrong and how to fix it.
    pub message: String,
}

/// A join token as lists show it (never its secret).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JoinTokenInfo {
    /// Its id (the public half of the token).
    pub id: String,
    /// The tenant it enrolls.
    pub tenant: String,
    /// What the SP noted about it.
    pub label: String,
    /// Who created it.
    pub created_by: String,
    /// When.
    pub created_at: String,
    /// When it stops working.
    pub expires_at: String,
    /// Enrollments it may still make.
    pub uses_left: i64,
    /// When it was revoked, if it was.
    pub revoked_at: Option<String>,
    /// `valid`, `used`, `expired` or `revoked`.
    pub state: String,
}

/// A request for a join token.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewJoinToken {
    /// How long it works: `30m`, `24h`, `7d` (default `24h`).
    #[serde(default)]
    pub expires: Option<String>,
    /// Enrollments it may make (default 1).
    #[serde(default)]
    pub uses: Option<u32>,
    /// A note for the SP (who it was sent to).
    #[serde(default)]
    pub label: String,
    /// Addresses the tenant tries, `HOST[:PORT]` (default: the gateway's public address).
    #[serde(default)]
    pub addresses: Vec<String>,
}

/// A join token just created: the only time its secret is shown.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedJoinToken {
    /// The token, to send to the tenant by a channel only they read.
    pub token: String,
    /// The stored token.
    #[serde(flatten)]
    pub info: JoinTokenInfo,
    /// The enrollments it was made for.
    pub uses: u32,
    /// The addresses it carries.
    pub addresses: Vec<String>,
    /// The key pins it carries (SHA-256 of the public key, hex).
    pub pins: Vec<String>,
}

impl std::fmt::Debug for CreatedJoinToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedJoinToken")
            .field("token", &"<redacted>")
            .field("info", &self.info)
            .finish()
    }
}

impl Drop for CreatedJoinToken {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.token);
    }
}

/// How far the enrolled machines have adopted the certificate in use and the staged successor.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Adoption {
    /// Enrolled machines.
    pub machines: usize,
    /// Tenants with at least one enrolled machine.
    pub tenants: usize,
    /// Machines whose last confirmation named the certificate in use.
    pub machines_confirmed_current: usize,
    /// The staged successor's SHA-256, if one is staged.
    pub successor_sha256: Option<String>,
    /// Machines that reported the staged successor.
    pub machines_seen_successor: usize,
    /// Tenants all of whose machines reported the staged successor.
    pub tenants_seen_successor: usize,
}

/// The staged successor of the certificate in use.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StagedSuccessor {
    /// Its thumbprint.
    pub thumbprint: String,
    /// Its SHA-256.
    pub sha256: String,
    /// When the gateway switches to it by itself (`stage --at`), if set.
    pub switch_at: Option<String>,
    /// When it was staged.
    pub staged_at: String,
}

/// A key change published to tenants.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeyChange {
    /// The certificate before.
    pub from_sha256: String,
    /// The certificate after.
    pub to_sha256: String,
    /// Whether a rollover proof signed by the old key vouches for it.
    pub proof: bool,
    /// Whether the old key was declared compromised.
    pub compromised: bool,
    /// When.
    pub at: String,
}

/// The certificate in use, the staged successor, the key changes and their adoption
/// (`sp cert status`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CertificateStatus {
    /// The certificate in use.
    pub current: Option<Certificate>,
    /// Its days to expiry.
    pub days_left: Option<i64>,
    /// The staged successor.
    pub staged: Option<StagedSuccessor>,
    /// Key changes published to tenants, oldest first.
    pub key_changes: Vec<KeyChange>,
    /// How far the machines followed.
    pub adoption: Adoption,
}

/// A certificate entry's check (`sp cert check`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CheckReport {
    /// The certificate.
    pub thumbprint: String,
    /// Its friendly name.
    pub friendly_name: String,
    /// Where its key is.
    pub key_path: String,
    /// Whether the key is readable, private and belongs to the certificate.
    pub key_matches: bool,
    /// Whether a self-issued certificate's signature verifies.
    pub signature_valid: bool,
    /// Whether it is valid now.
    pub valid_now: bool,
    /// Days to expiry.
    pub days_left: i64,
    /// No problem found.
    pub ok: bool,
    /// What is wrong.
    pub problems: Vec<String>,
}

/// The installed license (`sp license show`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LicenseInfo {
    /// Whether a license is installed.
    pub installed: bool,
    /// The name certificates are issued to (the license's, else the host name).
    pub licensee: String,
    /// The license's licensee.
    pub licensed_to: Option<String>,
    /// Its expiry date.
    pub expires: Option<String>,
    /// Whether it has expired.
    pub expired: bool,
    /// Its edition.
    pub edition: Option<String>,
    /// Its id.
    pub license_id: Option<String>,
    /// The installed file.
    pub path: String,
}

/// A license to install: the file's TOML text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LicenseFile {
    /// The license file, as text.
    pub toml: String,
}

/// Where tenants reach the gateway (`sp gateway address`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PublicAddress {
    /// `HOST` or `HOST:PORT`.
    pub public_address: String,
    /// `configured`, or `host name` when none is set.
    pub source: String,
    /// The configuration file it is kept in.
    pub config: String,
}

/// A new public address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewPublicAddress {
    /// `HOST`, `HOST:PORT` or `[IPv6]:PORT`.
    pub public_address: String,
}

/// A tenant's pool of gateways (`sp tenant set`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PoolSetting {
    /// The pool its machines use.
    #[serde(default)]
    pub pool: Option<String>,
    /// Whether they may use other pools when none of their own answers.
    #[serde(default)]
    pub failover_outside_pool: Option<bool>,
}

/// Which machines to prune (`sp tenant prune`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PruneRequest {
    /// Machines not seen for this many days are removed.
    pub unseen_days: u32,
}

/// Machines removed from a tenant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Pruned {
    /// The tenant.
    pub tenant: String,
    /// The machines removed.
    pub removed: Vec<Machine>,
}

/// The fleet: the key here and the certificate published to the gateways (`sp fleet status`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FleetStatus {
    /// Where the fleet key is kept.
    pub key_file: String,
    /// The id of the fleet key here (a hash of it, never the key).
    pub key_id: Option<String>,
    /// Whether a rotation is under way.
    pub rotating: bool,
    /// Whether this call published the certificate.
    pub published_now: bool,
    /// The certificate published to the gateways.
    pub published: Option<PublishedCertificate>,
}

/// The certificate published to a fleet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PublishedCertificate {
    /// Its SHA-256.
    pub sha256: String,
    /// Its thumbprint.
    pub thumbprint: String,
    /// Its friendly name.
    pub friendly_name: String,
    /// When it was published.
    pub published_at: String,
    /// The ids of the fleet keys its private key is sealed under.
    pub sealed_under: Vec<String>,
    /// Whether it is the certificate in use in this host's store.
    pub same_as_store: Option<bool>,
}

/// An ACME renewal (`sp cert acme renew`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AcmeRenewRequest {
    /// A new key, staged with a rollover proof (default: the same key).
    #[serde(default)]
    pub new_key: bool,
    /// Put a same-key renewal into use at once.
    #[serde(default)]
    pub apply: bool,
}

/// A certificate with the Summary's six lines, as the reference product shows them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CertificateDetail {
    /// The certificate.
    #[serde(flatten)]
    pub certificate: Certificate,
    /// The six Summary lines.
    pub summary: String,
}

/// What a tenant is doing now and did lately, as its gateways reported it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TenantActivity {
    /// The tenant.
    pub tenant: String,
    /// Tunnels open now, over the gateways that reported in the last 15 seconds.
    pub open_tunnels: i64,
    /// Bytes both ways over the last 24 hours (whole hours: up to 25 hours).
    pub bytes_24h: i64,
}

/// Usage over one period (an hour, a day, or the whole range asked), of a tenant or of one of
/// its machines, summed over the gateways.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UsageRow {
    /// The tenant.
    pub tenant: String,
    /// SHA-256 of the machine's client certificate, when usage is per machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine: Option<String>,
    /// The period's first second (RFC 3339, UTC).
    pub from: String,
    /// The second after the period (RFC 3339, UTC).
    pub until: String,
    /// Bytes from the tenant to the SP's services.
    pub bytes_up: i64,
    /// Bytes from the SP's services to the tenant.
    pub bytes_down: i64,
    /// Tunnels opened.
    pub tunnels: i64,
    /// Seconds tunnels were open, summed over the tunnels.
    pub tunnel_seconds: i64,
}
