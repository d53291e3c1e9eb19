//! Gateway settings: limits and timeouts, from defaults, a TOML file and flags.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

use super::SettingsError;

/// The default port, as in the reference product.
pub const DEFAULT_PORT: u16 = 6180;

/// The pool of gateways and tenants that were not put in another.
pub const DEFAULT_POOL: &str = "default";

/// Checks a gateway id or pool name: 1–64 letters, digits, `.`, `_`, `-`, `:` (an id is often
/// `HOST:PORT`), starting with a letter or digit.
pub fn check_fleet_name(kind: &str, name: &str) -> Result<(), SettingsError> {
    crate::credentials::check_name_allowing(kind, name, &[':'])
        .map_err(|e| SettingsError::Config(format!("{e} ({name:?})")))
}

/// How the gateway listens and what it allows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewayConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// The address tenants reach this gateway at (a DNS name, usually), printed in the commands
    /// the SP sends its tenants; `None` until configured.
    pub public_address: Option<cloudgate_addr::HostPort>,
    /// The SP database's URL (`database` in the file), when it is a server rather than the
    /// embedded SQLite file.
    pub database: Option<String>,
    /// This gateway's id in the fleet; `HOST:PORT` of this host and the listen port when unset.
    pub id: Option<String>,
    /// The pool of gateways it belongs to.
    pub pool: String,
    /// Most connections open at once (handshakes, requests and tunnels); more are closed at once.
    pub max_connections: usize,
    /// Most connections open at once from one source address.
    pub max_connections_per_address: usize,
    /// Time a client has to finish the TLS handshake.
    pub handshake_timeout: Duration,
    /// Time a client has to send a request's headers.
    pub header_timeout: Duration,
    /// A tunnel with no byte in either direction for this long is closed.
    pub idle_timeout: Duration,
    /// Time to connect to a backend service.
    pub backend_connect_timeout: Duration,
    /// Largest request body accepted (enrollment).
    pub max_body_bytes: usize,
    /// Failed enrollments one source address may make per `enroll_failure_window` before it is
    /// refused with 429 until the window passes.
    pub enroll_failures_per_window: u32,
    /// See `enroll_failures_per_window`.
    pub enroll_failure_window: Duration,
    /// Wrong passwords for one tenant account, from any address and through any gateway of the
    /// fleet, per `account_lockout_window` before the account is locked for enrollment (429)
    /// until the window passes or its password is set anew.
    pub account_failures_per_window: u32,
    /// See `account_failures_per_window`.
    pub account_lockout_window: Duration,
    /// How often the gateway checks for a new certificate or changed tenants.
    pub reload_interval: Duration,
    /// On SIGTERM/SIGINT, how long open tunnels may take to finish.
    pub drain_timeout: Duration,
    /// Renew the applied certificate (same key) and apply it this many days before it expires.
    pub auto_renew_days: Option<u32>,
    /// Renew the ACME certificate in use by itself (`--acme-renew`).
    pub acme_renew: bool,
    /// Renew it this many days before expiry rather than at two thirds of its lifetime.
    pub acme_renew_before_days: Option<u32>,
    /// Address of the Prometheus metrics endpoint; off when `None`.
    pub metrics: Option<SocketAddr>,
    /// Also export series per tenant (bytes, tunnels): one series per tenant and direction, so
    /// off unless the SP asks (cardinality).
    pub metrics_per_tenant: bool,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            listen: SocketAddr::new(cloudgate_addr::ANY_DUAL_STACK, DEFAULT_PORT),
            public_address: None,
            database: None,
            id: None,
            pool: DEFAULT_POOL.to_string(),
            max_connections: 4096,
            max_connections_per_address: 256,
            handshake_timeout: Duration::from_secs(10),
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(300),
            backend_connect_timeout: Duration::from_secs(10),
            max_body_bytes: 64 * 1024,
            enroll_failures_per_window: 10,
            enroll_failure_window: Duration::from_secs(300),
            account_failures_per_window: 20,
            account_lockout_window: Duration::from_secs(900),
            reload_interval: Duration::from_secs(1),
            drain_timeout: Duration::from_secs(30),
            auto_renew_days: None,
            acme_renew: false,
            acme_renew_before_days: None,
            metrics: None,
            metrics_per_tenant: false,
        }
    }
}

/// The TOML file form; every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    listen: Option<String>,
    public_address: Option<String>,
    database: Option<String>,
    id: Option<String>,
    pool: Option<String>,
    max_connections: Option<usize>,
    max_connections_per_address: Option<usize>,
    handshake_timeout_secs: Option<u64>,
    header_timeout_secs: Option<u64>,
    idle_timeout_secs: Option<u64>,
    backend_connect_timeout_secs: Option<u64>,
    max_body_bytes: Option<usize>,
    enroll_failures_per_window: Option<u32>,
    enroll_failure_window_secs: Option<u64>,
    account_failures_per_window: Option<u32>,
    account_lockout_window_secs: Option<u64>,
    reload_interval_secs: Option<u64>,
    drain_timeout_secs: Option<u64>,
    auto_renew_days: Option<u32>,
    acme_renew: Option<bool>,
    acme_renew_before_days: Option<u32>,
    metrics: Option<String>,
    metrics_per_tenant: Option<bool>,
}

/// Parses a listen address: `ADDR:PORT`, `[IPv6]:PORT`, or a bare port (on every address,
/// IPv6 and IPv4).
pub fn parse_listen(s: &str) -> Result<SocketAddr, SettingsError> {
    cloudgate_addr::parse_listen(s, cloudgate_addr::ANY_DUAL_STACK)
        .map_err(|e| SettingsError::Config(e.to_string()))
}

/// Parses the address tenants reach the gateway at: `HOST` or `HOST:PORT` (6180 by default).
pub fn parse_public_address(s: &str) -> Result<cloudgate_addr::HostPort, SettingsError> {
    cloudgate_addr::HostPort::parse(s, Some(DEFAULT_PORT))
        .map_err(|e| SettingsError::Config(format!("public_address: {e}")))
}

impl GatewayConfig {
    /// Applies the settings of a TOML configuration file on top of `self`.
    pub fn merge_toml(mut self, text: &str) -> Result<Self, SettingsError> {
        let f: ConfigFile =
            toml::from_str(text).map_err(|e| SettingsError::Config(e.message().to_string()))?;
        let secs = |name: &str, v: Option<u64>, d: Duration| -> Result<Duration, SettingsError> {
            match v {
                None => Ok(d),
                Some(0) => Err(SettingsError::Config(format!("{name} must be at least 1"))),
                Some(n) if n > 86_400 => Err(SettingsError::Config(format!(
                    "{name} must be at most 86400"
                ))),
                Some(n) => Ok(Duration::from_secs(n)),
            }
        };
        if let Some(l) = f.listen {
            self.listen = parse_listen(&l)?;
        }
        if let Some(a) = f.public_address {
            self.public_address = Some(parse_public_address(&a)?);
        }
        if let Some(d) = f.database {
            self.database = Some(d);
        }
        if let Some(id) = f.id {
            check_fleet_name("id", &id)?;
            self.id = Some(id);
        }
        if let Some(pool) = f.pool {
            check_fleet_name("pool", &pool)?;
            self.pool = pool;
        }
        if let Some(n) = f.max_connections {
            if n == 0 {
                return Err(SettingsError::Config(
                    "max_connections must be at least 1".into(),
                ));
            }
            self.max_connections = n;
        }
        if let Some(n) = f.max_connections_per_address {
            if n == 0 {
                return Err(SettingsError::Config(
                    "max_connections_per_address must be at least 1".into(),
                ));
            }
            self.max_connections_per_address = n;
        }
        self.handshake_timeout = secs(
            "handshake_timeout_secs",
            f.handshake_timeout_secs,
            self.handshake_timeout,
        )?;
        self.header_timeout = secs(
            "header_timeout_secs",
            f.header_timeout_secs,
            self.header_timeout,
        )?;
        self.idle_timeout = secs("idle_timeout_secs", f.idle_timeout_secs, self.idle_timeout)?;
        self.backend_connect_timeout = secs(
            "backend_connect_timeout_secs",
            f.backend_connect_timeout_secs,
            self.backend_connect_timeout,
        )?;
        if let Some(b) = f.max_body_bytes {
            if !(1024..=16 * 1024 * 1024).contains(&b) {
                return Err(SettingsError::Config(
                    "max_body_bytes must be between 1024 and 16777216".into(),
                ));
            }
            self.max_body_bytes = b;
        }
        if let Some(n) = f.enroll_failures_per_window {
            self.enroll_failures_per_window = n.max(1);
        }
        self.enroll_failure_window = secs(
            "enroll_failure_window_secs",
            f.enroll_failure_window_secs,
            self.enroll_failure_window,
        )?;
        if let Some(n) = f.account_failures_per_window {
            self.account_failures_per_window = n.max(1);
        }
        self.account_lockout_window = secs(
            "account_lockout_window_secs",
            f.account_lockout_window_secs,
            self.account_lockout_window,
        )?;
        self.reload_interval = secs(
            "reload_interval_secs",
            f.reload_interval_secs,
            self.reload_interval,
        )?;
        self.drain_timeout = secs(
            "drain_timeout_secs",
            f.drain_timeout_secs,
            self.drain_timeout,
        )?;
        if let Some(m) = f.metrics {
            self.metrics = Some(parse_listen(&m)?);
        }
        if let Some(on) = f.metrics_per_tenant {
            self.metrics_per_tenant = on;
        }
        if let Some(on) = f.acme_renew {
            self.acme_renew = on;
        }
        if let Some(d) = f.acme_renew_before_days {
            if !(1..=3650).contains(&d) {
                return Err(SettingsError::Config(
                    "acme_renew_before_days must be between 1 and 3650".into(),
                ));
            }
            self.acme_renew_before_days = Some(d);
        }
        if let Some(d) = f.auto_renew_days {
            if !(1..=365).contains(&d) {
                return Err(SettingsError::Config(
                    "auto_renew_days must be between 1 and 365".into(),
                ));
            }
            self.auto_renew_days = Some(d);
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_overrides_and_refusals() {
        let c = GatewayConfig::default()
            .merge_toml("listen = \"127.0.0.1:7000\"\nidle_timeout_secs = 60\n")
            .unwrap();
        assert_eq!(c.listen, "127.0.0.1:7000".parse().unwrap());
        assert_eq!(c.idle_timeout, Duration::from_secs(60));
        assert!(
            GatewayConfig::default()
                .merge_toml("idle_timeout_secs = 0")
                .is_err()
        );
        assert!(
            GatewayConfig::default()
                .merge_toml("listne = \"x\"")
                .is_err()
        );
        assert!(
            GatewayConfig::default()
                .merge_toml("listen = \"nowhere\"")
                .is_err()
        );
        assert_eq!(parse_listen("6180").unwrap().port(), 6180);
        let c = GatewayConfig::default()
            .merge_toml("id = \"gw-1\"\npool = \"eu\"\n")
            .unwrap();
        assert_eq!((c.id.as_deref(), c.pool.as_str()), (Some("gw-1"), "eu"));
        assert!(
            GatewayConfig::default()
                .merge_toml("pool = \"e u\"")
                .is_err()
        );
        assert!(GatewayConfig::default().merge_toml("id = \"\"").is_err());
        assert!(parse_listen("[::1]:6180").is_ok());
    }
}
