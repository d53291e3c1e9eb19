//! `cloudgate tenant`: providers, tunnels and the tenant's side of enrollment.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

use super::PasswordArgs;

#[derive(Debug, Subcommand)]
pub enum TenantSideCommand {
    /// Add, list, show, refresh and remove service providers
    #[command(subcommand)]
    Provider(ProviderCommand),
    /// Connect to a provider with the pin and the client certificate and report (for monitoring)
    Check {
        /// The provider's name
        name: String,
        /// Print the report as JSON
        #[arg(long)]
        json: bool,
    },
    /// Several tunnels from a configuration file, as a long-running service
    #[command(subcommand)]
    Tunnels(TunnelsCommand),
    /// Add a provider with a join token from the SP: no thumbprint to compare, no password
    #[command(
        after_help = "The token is read from --token-file FILE, from CLOUDGATE_JOIN_TOKEN, or from the argument (which \
other users of this machine may see in the process list). It is checked for typos first (exit 2). The gateway must \
present a key the token pins, or nothing is sent (exit 3); an expired, used, revoked or unknown token is exit 4 \
and nothing is saved."
    )]
    Join {
        /// The join token (cgt1.…); prefer --token-file or CLOUDGATE_JOIN_TOKEN
        token: Option<String>,
        /// Read the token from FILE
        #[arg(long, value_name = "FILE", conflicts_with = "token")]
        token_file: Option<PathBuf>,
        /// Name for this provider [default: HOST:PORT of the gateway]
        #[arg(long)]
        name: Option<String>,
        /// Free-text description
        #[arg(long, default_value = "")]
        description: String,
        /// Print the saved provider as JSON
        #[arg(long)]
        json: bool,
    },
    /// Carry local TCP connections to a provider's service through the pinned, mutual-TLS gateway
    Tunnel {
        /// The provider's name
        name: String,
        /// The service name the SP assigned
        service: String,
        /// Local address to accept connections on
        #[arg(long, value_name = "ADDR:PORT")]
        listen: String,
        /// How often the running tunnel re-checks the provider (learns announced successors,
        /// follows renewals, confirms to the SP which certificate it trusts)
        #[arg(long, value_name = "SECONDS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=86400))]
        check_interval: u64,
        /// Print the startup line on stdout as JSON
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum TunnelsCommand {
    /// Run every tunnel of a configuration file as a service: back-off reconnects, SIGHUP reloads
    #[command(
        after_help = "The file (TOML) lists the tunnels:\n\n  check_interval_secs = 300   # optional\n  \
[[tunnel]]\n  provider = \"backup.example.com:6180\"   # a name from `cloudgate tenant provider list`\n  \
service = \"repo\"\n  listen = \"127.0.0.1:10001\"\n\nA tunnel that cannot open (the gateway is away) is tried again \
after 1, 2, 4 ... 60 seconds; one refused for trust or credentials every 60 seconds until fixed. SIGHUP re-reads the \
file: new tunnels start, removed ones stop, the others keep their connections. SIGTERM and SIGINT stop."
    )]
    Run {
        /// The configuration file [default: DATA_DIR/tunnels.toml]
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Serve GET /health (200 when every tunnel is up, else 503) and GET /metrics (Prometheus)
        /// at ADDR:PORT (off by default)
        #[arg(long, value_name = "ADDR:PORT")]
        metrics: Option<String>,
        /// Print the startup line on stdout as JSON
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ProviderCommand {
    /// Fetch the SP certificate, verify and pin it, enroll with the tenant credentials, save
    #[command(
        after_help = "The password is sent only after the certificate is verified: with --thumbprint (SHA-1, SHA-256 or \
sha256//... pin, pasted in any formatting), with --accept-new, or by answering the prompt on a terminal. A wrong \
thumbprint exits 3 and a refused password exits 4; neither saves anything."
    )]
    Add(AddProviderArgs),
    /// List providers
    List {
        /// Print as JSON
        #[arg(long)]
        json: bool,
    },
    /// Show a provider, its pin and its services
    Show {
        name: String,
        /// Print as JSON
        #[arg(long)]
        json: bool,
    },
    /// Re-fetch the certificate; a changed one is pinned only after the same verification as add
    Refresh {
        name: String,
        /// The new thumbprint the SP sent you
        #[arg(long, value_name = "THUMBPRINT", env = "CLOUDGATE_THUMBPRINT")]
        thumbprint: Option<String>,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
    /// Forget a provider and its client key
    Remove {
        name: String,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TrustMode {
    /// Pin the certificate after out-of-band verification; a changed certificate is refused
    Pinned,
    /// Trust the system's root certificates and check the host name (no pin, no thumbprint)
    Ca,
    /// Both: the chain must validate to a system root and match the host name, and the key must
    /// be the pinned one (or one it handed over to with a rollover proof)
    #[value(name = "ca+pin")]
    CaPin,
}

impl From<TrustMode> for cloudgate_db::TrustMode {
    fn from(t: TrustMode) -> Self {
        match t {
            TrustMode::Pinned => cloudgate_db::TrustMode::Pinned,
            TrustMode::Ca => cloudgate_db::TrustMode::Ca,
            TrustMode::CaPin => cloudgate_db::TrustMode::CaPin,
        }
    }
}

/// `tenant provider add`.
#[derive(Debug, Args)]
pub struct AddProviderArgs {
    /// The gateway: HOST, HOST:PORT or [IPv6]:PORT (port 6180 by default)
    pub address: String,
    /// Tenant user name
    #[arg(long)]
    pub username: String,
    #[command(flatten)]
    pub password: PasswordArgs,
    /// Name for this provider [default: HOST:PORT]
    #[arg(long)]
    pub name: Option<String>,
    /// Free-text description
    #[arg(long, default_value = "")]
    pub description: String,
    /// The thumbprint the SP sent you (SHA-1, SHA-256 or sha256//... public key pin; a line
    /// copied from the Summary, with its label and quotes, is fine)
    #[arg(
        long,
        value_name = "THUMBPRINT",
        env = "CLOUDGATE_THUMBPRINT",
        conflicts_with = "accept_new"
    )]
    pub thumbprint: Option<String>,
    /// Pin whatever certificate is presented, without verification (logged; not recommended)
    #[arg(long)]
    pub accept_new: bool,
    /// How to trust the provider: pin its certificate (default); for a certificate from a
    /// public CA, the system's trusted roots and the host name like a browser (`ca`), or both
    /// (`ca+pin`: the chain must validate and the key stay the pinned one or be reached by a
    /// rollover proof)
    #[arg(long, value_enum, default_value_t = TrustMode::Pinned)]
    pub trust: TrustMode,
    /// Print the saved provider as JSON
    #[arg(long)]
    pub json: bool,
}
