//! `cloudgate sp maintenance`: take gateways out of service for new tunnels, and back.

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum MaintenanceCommand {
    /// Refuse new tunnels (503 `maintenance` with your message) on every gateway, a pool's or one
    #[command(
        after_help = "Examples:\n  cloudgate sp maintenance on --message 'storage upgrade' --until 2h\n  \
cloudgate sp maintenance on --pool eu --drain 30m --message 'moving racks'\n  \
cloudgate sp maintenance on --gateway gw-2 --drain 0s\n\n\
Gateways apply it at their next reload (within seconds). New tunnels are refused with the message, \
which tenants print; `tunnels run` shows the state `maintenance` and tries again (after the announced \
end, when --until is given). Tenants in a pool under maintenance fail over to the other gateways they \
were told of (other pools' when they may: `sp tenant set NAME --failover-outside-pool true`). Open \
tunnels go on until the --drain deadline, then are cut; without --drain they finish by themselves. \
Enrollment and the tenants' checks keep working. Running it again for the same scope replaces it."
    )]
    On {
        /// Only the gateways of this pool
        #[arg(long, value_name = "POOL", conflicts_with = "gateway")]
        pool: Option<String>,
        /// Only this gateway (its id, as `sp gateway list` shows)
        #[arg(long, value_name = "ID")]
        gateway: Option<String>,
        /// What tenants are told (one line, at most 300 characters)
        #[arg(long, value_name = "TEXT", default_value = "")]
        message: String,
        /// How long open tunnels may go on before they are cut (e.g. 30m, 2h; 0s cuts them now)
        #[arg(long, value_name = "DURATION")]
        drain: Option<String>,
        /// When it is to end: an age from now (2h), a date or an RFC 3339 time; tenants try again then
        #[arg(long, value_name = "WHEN")]
        until: Option<String>,
        /// Print the maintenance as JSON
        #[arg(long)]
        json: bool,
    },
    /// End a maintenance (of every gateway, or of the pool or gateway given)
    Off {
        /// The pool's maintenance
        #[arg(long, value_name = "POOL", conflicts_with = "gateway")]
        pool: Option<String>,
        /// The gateway's maintenance
        #[arg(long, value_name = "ID")]
        gateway: Option<String>,
        /// Print the ended maintenance as JSON
        #[arg(long)]
        json: bool,
    },
    /// Show the maintenance in force
    Status {
        /// Print as JSON
        #[arg(long)]
        json: bool,
    },
}
