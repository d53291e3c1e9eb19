//! `cloudgate sp db`: the SP database's schema.

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Show where the SP database is and which schema migrations it has, without changing it
    #[command(
        after_help = "Exit 0 when the schema is current or only needs migrations this version applies; exit 1 \
when the database was written by a newer cloudgate (upgrade cloudgate)."
    )]
    Status {
        /// Print as JSON
        #[arg(long)]
        json: bool,
    },
    /// Apply the migrations the SP database lacks (every command that opens it does this too)
    Migrate {
        /// Print as JSON
        #[arg(long)]
        json: bool,
    },
}
