//! `cloudgate sp fleet`: the fleet key and the certificate published to every gateway.

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum FleetCommand {
    /// Create the fleet key (DATA_DIR/fleet.key) and publish the certificate in use to the SP database
    #[command(
        after_help = "Examples:\n  cloudgate sp fleet init\n  scp /var/lib/cloudgate/fleet.key gw2:/var/lib/cloudgate/fleet.key   # then chown root:cloudgate, chmod 0640\n\n\
The gateways of a fleet share a PostgreSQL SP database (--database, CLOUDGATE_DATABASE_URL or `database` in \
gateway.toml) and all serve the certificate published there. Its private key is published only sealed \
(AES-256-GCM) under the fleet key, which every gateway host needs in its DATA_DIR/fleet.key: the database alone \
never yields the key. From then on every `sp cert` command that changes the certificate in use (apply, renew \
--apply, stage, generate --apply, import --apply, the wizard) publishes it, and every gateway serves it within 2 seconds."
    )]
    Init {
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
    /// Publish the certificate in use now (the `sp cert` commands do this by themselves)
    Publish {
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
    /// Show the fleet key here and the certificate published to the gateways
    Status {
        /// Print as JSON
        #[arg(long)]
        json: bool,
    },
    /// Replace the fleet key: seal under the old and the new key, then (--finish) the new only
    #[command(
        after_help = "A rotation in two steps, so no gateway stops serving:\n  \
1. `cloudgate sp fleet rotate-key` writes a new DATA_DIR/fleet.key (the old one is kept as fleet.key.old) and \
publishes the key sealed under both.\n  \
2. Copy the new fleet.key to every gateway host; gateways holding either key keep serving.\n  \
3. `cloudgate sp fleet rotate-key --finish` publishes under the new key only and deletes fleet.key.old; a \
gateway still holding the old key then refuses the next change and says so."
    )]
    RotateKey {
        /// Finish a rotation: seal under the new key only
        #[arg(long)]
        finish: bool,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
}
