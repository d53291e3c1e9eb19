//! `cloudgate sp audit`: the SP's audit, read and verified from the SP database.

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// List audit entries, newest first: every change and refusal of every gateway and front end
    #[command(after_help = "Examples:\n  cloudgate sp audit list --since 24h\n  \
cloudgate sp audit list --event enroll. --json\n  cloudgate sp audit list --grep 192.0.2.7\n\n\
Entries come from the SP database, so a fleet's entries are all here, whichever gateway, console or \
command wrote them. WHO is user:NAME (a Unix user), admin:NAME or token:NAME:ID (the console), \
gateway:ID, tenant:NAME (an enrollment) or anonymous (a refused stranger).")]
    List {
        /// Entries at or after this time: RFC 3339 (2026-12-01T08:00:00Z), a date (2026-12-01) or an age (30m, 24h, 7d)
        #[arg(long, value_name = "WHEN")]
        since: Option<String>,
        /// Entries before this time (same forms as --since)
        #[arg(long, value_name = "WHEN")]
        until: Option<String>,
        /// Entries whose event starts with this (`enroll.`, `tenant.added`)
        #[arg(long, value_name = "PREFIX")]
        event: Option<String>,
        /// Entries whose event, actor, message or details contain this text (any case)
        #[arg(long, value_name = "TEXT")]
        grep: Option<String>,
        /// At most this many entries
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        limit: u32,
        /// Print as JSON
        #[arg(long)]
        json: bool,
    },
    /// Check that no audit entry was removed, edited or moved since it was written
    #[command(
        after_help = "Walks the hash chain of the SP database's audit (each entry hashes the one \
before it), then checks that every entry this host's audit.log says it wrote is still in the database \
with the same hash (which finds a removed tail). Exit 0 when it verifies; exit 1 when it does not, \
naming the first entry that breaks the chain."
    )]
    Verify {
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
}
