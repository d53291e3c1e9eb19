//! `cloudgate sp gateway` and `cloudgate sp license`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum GatewayCommand {
    /// Run the gateway in the foreground (SIGTERM/SIGINT stop it gracefully, SIGHUP reloads)
    #[command(
        after_help = "Settings come from the defaults, then --config FILE or DATA_DIR/gateway.toml (TOML; see \
dist/gateway.toml), then the flags. With no certificate applied, the first start generates and applies one and logs its thumbprint."
    )]
    Run(Box<GatewayRunArgs>),
    /// List the gateways of the fleet, up or down by their heartbeat
    #[command(
        after_help = "Every running gateway records itself in the SP database and heartbeats every 2 seconds; one not heard \
from for 10 seconds is down. With one SQLite database that is the gateways of this host; with PostgreSQL \
(--database) the whole fleet."
    )]
    List {
        /// Print as JSON
        #[arg(long)]
        json: bool,
    },
    /// Forget a gateway that is gone for good (one that runs again records itself again)
    Forget {
        /// Its id, as `sp gateway list` shows it
        id: String,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
    /// Show or set the address tenants reach the gateway at (`public_address` in DATA_DIR/gateway.toml)
    #[command(
        after_help = "The address is printed in the `cloudgate tenant provider add` command that the wizard, \
`cert generate --apply`, `cert import --apply` and `cert apply` give you to send to tenants. Without one, this \
host's fully qualified name is used."
    )]
    Address {
        /// The new address: HOST or HOST:PORT (a DNS name tenants resolve, or an IP address)
        address: Option<String>,
        /// Print the address as JSON
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct GatewayRunArgs {
    /// Address to listen on: PORT, ADDR:PORT or [IPv6]:PORT [default: [::]:6180, IPv6 and IPv4]
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<String>,
    /// The address tenants reach this gateway at, HOST[:PORT] (behind NAT it differs from
    /// --listen) [default: public_address in the configuration, else this host's name and the
    /// listen port]
    #[arg(long, value_name = "HOST:PORT")]
    pub public_address: Option<String>,
    /// This gateway's id in the fleet [default: HOSTNAME:PORT]
    #[arg(long, value_name = "ID")]
    pub id: Option<String>,
    /// The pool of gateways it serves (tenants are put in pools with `sp tenant set --pool`)
    /// [default: default]
    #[arg(long, value_name = "POOL")]
    pub pool: Option<String>,
    /// Configuration file (TOML) [default: DATA_DIR/gateway.toml when it exists]
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Most connections open at once [default: 4096]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: Option<u32>,
    /// Most connections open at once from one source address [default: 256]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections_per_address: Option<u32>,
    /// Seconds a client has to finish the TLS handshake [default: 10]
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub handshake_timeout: Option<u64>,
    /// Seconds a tunnel may stay idle [default: 300]
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=86400))]
    pub idle_timeout: Option<u64>,
    /// Seconds between checks for a new certificate or changed tenants [default: 1]
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub reload_interval: Option<u64>,
    /// Renew the applied certificate (same key) and apply it this many days before it expires
    #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..=365))]
    pub auto_renew: Option<u32>,
    /// Renew the ACME certificate in use with its CA (same key) at two thirds of its lifetime,
    /// retrying with back-off (see `sp cert acme issue`)
    #[arg(long)]
    pub acme_renew: bool,
    /// With --acme-renew: renew this many days before expiry instead
    #[arg(long, value_name = "DAYS", requires = "acme_renew", value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub acme_renew_before: Option<u32>,
    /// Serve Prometheus metrics at http://ADDR:PORT/metrics (off by default; keep it private)
    #[arg(long, value_name = "ADDR:PORT")]
    pub metrics: Option<String>,
    /// With --metrics: also export bytes and tunnels per tenant (one series per tenant: mind
    /// the cardinality with many tenants)
    #[arg(long, requires = "metrics")]
    pub metrics_per_tenant: bool,
    /// Seconds open tunnels get to finish after SIGTERM [default: 30]
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub drain_timeout: Option<u64>,
    /// Also serve the SP console and REST API from this process, on ADDR (loopback unless
    /// --console-public; see `cloudgate sp console`)
    #[arg(long, value_name = "ADDR")]
    pub console: Option<String>,
    /// Allow a non-loopback --console address
    #[arg(long, requires = "console")]
    pub console_public: bool,
    /// Print the startup line on stdout as JSON (address, certificate)
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum LicenseCommand {
    /// Validate a license file (TOML) and install it into the data directory
    #[command(
        after_help = "The file holds at least `licensed_to = \"Acme Cloud\"`; optional: `expires = 2027-12-31`, \
`edition = \"...\"`, `license_id = \"...\"`."
    )]
    Install {
        /// The license file
        file: PathBuf,
        /// Print the installed license as JSON
        #[arg(long)]
        json: bool,
    },
    /// Show the installed license (or that the host name stands in for it)
    Show {
        /// Print as JSON
        #[arg(long)]
        json: bool,
    },
}
