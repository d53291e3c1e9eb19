//! `cloudgate sp tenant`: accounts, their services, join tokens and enrolled machines.

use clap::{Args, Subcommand};

use super::PasswordArgs;

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant account (needs a certificate in use first)
    Add {
        /// Tenant name: the user name the tenant enrolls with (letters, digits, . _ -)
        name: String,
        #[command(flatten)]
        password: PasswordArgs,
        /// Free-text description
        #[arg(long, default_value = "")]
        description: String,
        #[command(flatten)]
        limits: LimitArgs,
        /// Print the tenant as JSON
        #[arg(long)]
        json: bool,
    },
    /// List tenant accounts
    List {
        /// Print as JSON
        #[arg(long)]
        json: bool,
    },
    /// Show a tenant with its services and enrolled client certificates
    Show {
        name: String,
        /// Print as JSON
        #[arg(long)]
        json: bool,
    },
    /// Replace a tenant's password
    SetPassword {
        name: String,
        #[command(flatten)]
        password: PasswordArgs,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
    /// Stop a tenant from enrolling and opening tunnels
    Disable {
        name: String,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
    /// Allow a disabled tenant again
    Enable {
        name: String,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
    /// Change a tenant's settings: its pool of gateways, its limits, its lease, where it may connect from
    #[command(
        after_help = "Examples:\n  cloudgate sp tenant set acme --pool eu\n  cloudgate sp tenant set acme --failover-outside-pool true\n  cloudgate sp tenant set acme --max-upload 20MB/s --max-download 100Mbit/s\n  cloudgate sp tenant set acme --max-upload 20MB/s --limit-window 'mon-fri 08:00-18:00'\n  cloudgate sp tenant set acme --max-tunnels 8 --max-tunnels-per-machine 2\n  cloudgate sp tenant set acme --expires 2027-03-31\n  cloudgate sp tenant set acme --allow-from 203.0.113.0/24,2001:db8::/32\n  cloudgate sp tenant set acme --max-upload unlimited --expires never --allow-from any\n\nA tenant's machines are told the live gateways of its pool (`sp gateway run --pool`) and fail over among them; with --failover-outside-pool true, also to other pools' gateways when none of its own answers.\n\nLimits are enforced by the gateways on the tenant as a whole (all its machines and tunnels; in a fleet, gateways share a rate by the tunnels each has open), from their next reload. `unlimited` (or `never`, `always`, `any`) lifts one. A tunnel over a count is refused with `tenant_limit`; at the lease's end the tenant is refused with `lease_expired` and its open tunnels are cut within 2 seconds (nothing is deleted; a later --expires restores it); an address outside --allow-from is refused with `address_not_allowed`, at enrollment and for every tunnel."
    )]
    Set {
        name: String,
        /// The pool of gateways (`default` until set)
        #[arg(long, value_name = "POOL")]
        pool: Option<String>,
        /// Whether its machines may fail over to gateways of other pools
        #[arg(long, value_name = "BOOL", action = clap::ArgAction::Set)]
        failover_outside_pool: Option<bool>,
        #[command(flatten)]
        limits: LimitArgs,
        /// Print the tenant as JSON
        #[arg(long)]
        json: bool,
    },
    /// Delete a tenant with its services and client certificates
    Remove {
        name: String,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
    /// Remove one enrolled client certificate of a tenant (by its SHA-256)
    Revoke {
        name: String,
        sha256: String,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
    /// Remove a tenant's enrolled machines not seen (no tunnel, no check) for DAYS days
    Prune {
        name: String,
        /// Machines unused for at least this many days are removed (they enroll again with the
        /// tenant's password if they come back)
        #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..=3650))]
        unseen_days: u32,
        /// Print the removed machines as JSON
        #[arg(long)]
        json: bool,
    },
    /// What tenants used: bytes each way, tunnels and tunnel time, per day, hour or in total
    #[command(after_help = "Examples:\n  cloudgate sp tenant usage\n  \
cloudgate sp tenant usage acme --since 2026-11-01 --until 2026-12-01 --per total --csv\n  \
cloudgate sp tenant usage acme --since 24h --per hour --by-machine --json\n\n\
Every gateway counts what each machine of each tenant relays and adds it to the SP database every 5 \
seconds, per hour; this sums the gateways. A gateway killed with -9 loses at most its last 5 seconds. \
Without --since, the report starts at the first day of this month (UTC). Times are UTC; a period is \
[FROM, UNTIL).")]
    Usage(UsageArgs),
    /// The SP-side services a tenant may reach
    #[command(subcommand)]
    Service(ServiceCommand),
    /// Join tokens: one string that carries the SP's address, its key pin and a one-time credential
    #[command(subcommand)]
    Token(TokenCommand),
}

/// What the SP allows a tenant, as `sp tenant add` and `sp tenant set` take it.
#[derive(Debug, Args, Default)]
pub struct LimitArgs {
    /// Most bytes per second from the tenant to its services, over all its tunnels (e.g. 20MB/s, 100Mbit/s; unlimited)
    #[arg(long, value_name = "RATE")]
    pub max_upload: Option<String>,
    /// Most bytes per second from its services to the tenant (e.g. 50MB/s; unlimited)
    #[arg(long, value_name = "RATE")]
    pub max_download: Option<String>,
    /// When the rates apply, UTC (e.g. 'mon-fri 08:00-18:00', 'daily 22:00-06:00'; always)
    #[arg(long, value_name = "WINDOW")]
    pub limit_window: Option<String>,
    /// Most tunnels open at once over all its machines and gateways (unlimited)
    #[arg(long, value_name = "N")]
    pub max_tunnels: Option<String>,
    /// Most tunnels open at once from one machine (unlimited)
    #[arg(long, value_name = "N")]
    pub max_tunnels_per_machine: Option<String>,
    /// When its lease ends: YYYY-MM-DD (as that day ends, UTC), an RFC 3339 time, or never
    #[arg(long, value_name = "DATE")]
    pub expires: Option<String>,
    /// Networks it may enroll and open tunnels from, comma-separated (e.g. 203.0.113.0/24,2001:db8::/32; any)
    #[arg(long, value_name = "CIDR,…")]
    pub allow_from: Option<String>,
}

impl LimitArgs {
    /// The change, in the SP core's terms.
    pub fn change(self) -> cloudgate_proto::admin::LimitsChange {
        cloudgate_proto::admin::LimitsChange {
            max_upload: self.max_upload,
            max_download: self.max_download,
            limit_window: self.limit_window,
            max_tunnels: self.max_tunnels,
            max_tunnels_per_machine: self.max_tunnels_per_machine,
            expires: self.expires,
            allow_from: self.allow_from,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a join token for a tenant and print it (only its hash is kept)
    #[command(
        after_help = "The token carries the gateway's public address (`sp gateway address`, or --address), the \
public key pin of the certificate in use (and of a staged successor), a token id and a 256-bit secret, with a \
checksum. The tenant runs `cloudgate tenant join --token-file FILE`: it checks the gateway's key against the pin \
before sending anything, then enrolls with the token instead of a password."
    )]
    Create {
        /// The tenant the token enrolls machines for
        tenant: String,
        /// How long the token may be used: 30m, 24h, 7d …
        #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = crate::cmd::token::parse_duration)]
        expires: std::time::Duration,
        /// How many machines may enroll with it
        #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
        uses: u32,
        /// Free text, shown in lists (e.g. the machine it is for)
        #[arg(long, value_name = "TEXT", default_value = "")]
        label: String,
        /// Gateway address to put in the token, HOST[:PORT]; repeatable [default: the public address]
        #[arg(long = "address", value_name = "HOST[:PORT]")]
        addresses: Vec<String>,
        /// Print the token and its details as JSON
        #[arg(long)]
        json: bool,
    },
    /// List join tokens (all, or a tenant's) with their state: valid, used, expired, revoked
    List {
        tenant: Option<String>,
        /// Print as JSON
        #[arg(long)]
        json: bool,
    },
    /// Revoke a join token by its id (or a unique prefix of at least 8 hex digits)
    Revoke {
        id: String,
        /// Print the revoked token as JSON
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ServiceCommand {
    /// Let a tenant reach HOST:PORT under a service name
    Add {
        tenant: String,
        service: String,
        /// The backend, HOST:PORT or [IPv6]:PORT (an address or a name the gateway host resolves)
        target: String,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
    /// List a tenant's services
    List {
        tenant: String,
        /// Print as JSON
        #[arg(long)]
        json: bool,
    },
    /// Take a service away from a tenant
    Remove {
        tenant: String,
        service: String,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
}

/// What `sp tenant usage` reports.
#[derive(Debug, Args)]
pub struct UsageArgs {
    /// One tenant (every tenant without it)
    pub name: Option<String>,
    /// From this time: RFC 3339, a date (2026-12-01, midnight UTC) or an age (24h, 7d) [default: the first of this month]
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Until this time, excluded (same forms as --since) [default: now]
    #[arg(long, value_name = "WHEN")]
    pub until: Option<String>,
    /// One row per hour, per day, or one for the whole range
    #[arg(long, value_name = "PERIOD", default_value = "day", value_parser = ["hour", "day", "total"])]
    pub per: String,
    /// One row per machine rather than per tenant
    #[arg(long)]
    pub by_machine: bool,
    /// Print as JSON
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// Print as CSV (exact bytes and seconds), for billing
    #[arg(long)]
    pub csv: bool,
}
