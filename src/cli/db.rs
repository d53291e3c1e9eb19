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
    /// Move a single-host SQLite SP database into the configured PostgreSQL database
    #[command(
        after_help = "Examples:\n  export CLOUDGATE_DATABASE_URL=postgres://cloudgate:PASSWORD@db.example/cloudgate\n  \
cloudgate sp db import-sqlite /var/lib/cloudgate/sp.db\n\nEverything moves in one transaction: tenants with their password \
hashes and pools, services, enrolled machines with their certificates and adoption records, join tokens. The \
target must hold no tenant and no join token (else exit 2, nothing written); the SQLite file is only read (its \
schema is brought up to date first, as any command would). Tenants notice nothing: their pins and client \
certificates stay valid."
    )]
    ImportSqlite {
        /// The SQLite file (DATA_DIR/sp.db of the single-host install)
        file: std::path::PathBuf,
        /// Print what was moved as JSON
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
