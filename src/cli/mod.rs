//! The command-line grammar. Values are parsed and validated here, before any file is touched.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::exit::EXIT_CODES_HELP;

#[cfg(feature = "sp")]
mod acme;
#[cfg(feature = "sp")]
mod admin;
#[cfg(feature = "sp")]
mod audit;
#[cfg(feature = "sp")]
mod cert;
#[cfg(feature = "sp")]
mod db;
#[cfg(feature = "sp")]
mod fleet;
#[cfg(feature = "sp")]
mod gateway;
#[cfg(feature = "sp")]
mod maintenance;
#[cfg(feature = "sp")]
mod tenant;
mod tenant_side;

#[cfg(feature = "sp")]
pub use acme::*;
#[cfg(feature = "sp")]
pub use admin::*;
#[cfg(feature = "sp")]
pub use audit::*;
#[cfg(feature = "sp")]
pub use cert::*;
#[cfg(feature = "sp")]
pub use db::*;
#[cfg(feature = "sp")]
pub use fleet::*;
#[cfg(feature = "sp")]
pub use gateway::*;
#[cfg(feature = "sp")]
pub use maintenance::*;
#[cfg(feature = "sp")]
pub use tenant::*;
pub use tenant_side::*;

/// Certificate trust between a backup service provider and its tenants, without a public CA.
#[derive(Debug, Parser)]
#[command(name = "cloudgate", version, propagate_version = true, after_help = EXIT_CODES_HELP, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes. Hidden from each command's option list (they would repeat in
/// every `--help`); `cloudgate --help` and `cloudgate(1)` list them once, see [`command`].
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Data directory [default: /var/lib/cloudgate for root, else $XDG_DATA_HOME/cloudgate or
    /// ~/.local/share/cloudgate]
    #[arg(
        long,
        global = true,
        hide = true,
        env = "CLOUDGATE_HOME",
        value_name = "DIR"
    )]
    pub data_dir: Option<PathBuf>,
    /// Group whose members may read private keys (the "local administrators") [default: group
    /// `cloudgate` if it exists, else root's group]
    #[arg(
        long,
        global = true,
        hide = true,
        env = "CLOUDGATE_ADMIN_GROUP",
        value_name = "NAME"
    )]
    pub admin_group: Option<String>,
    /// The SP database, when it is a PostgreSQL server rather than DATA_DIR/sp.db:
    /// postgres://USER@HOST/DB (the password in CLOUDGATE_DATABASE_URL, ~/.pgpass or
    /// `database` in DATA_DIR/gateway.toml, never on the command line)
    #[arg(
        long,
        global = true,
        hide = true,
        env = "CLOUDGATE_DATABASE_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub database: Option<String>,
    /// More log output on stderr (-v info, -vv debug); CLOUDGATE_LOG overrides
    #[arg(short, long, global = true, hide = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Log format on stderr
    #[arg(long, global = true, hide = true, value_enum, default_value_t = LogFormat::Text, env = "CLOUDGATE_LOG_FORMAT")]
    pub log_format: LogFormat,
}

/// The global options, listed once in `cloudgate --help`.
const GLOBAL_OPTIONS_HELP: &str = "\
Global options (every command takes them):
  --data-dir DIR       Data directory [env: CLOUDGATE_HOME] [default: /var/lib/cloudgate for root,
                       else $XDG_DATA_HOME/cloudgate or ~/.local/share/cloudgate]
  --admin-group NAME   Group whose members may read private keys [env: CLOUDGATE_ADMIN_GROUP]
                       [default: group `cloudgate` if it exists, else root's group]
  --database URL       The SP database on a PostgreSQL server, postgres://USER@HOST/DB
                       [env: CLOUDGATE_DATABASE_URL] [default: `database` in DATA_DIR/gateway.toml,
                       else SQLite in DATA_DIR/sp.db]; a password goes in the environment variable,
                       ~/.pgpass or the file, never on the command line
  -v, --verbose        More log output on stderr (-v info, -vv debug); CLOUDGATE_LOG overrides
  --log-format FORMAT  Log format on stderr: text or json [env: CLOUDGATE_LOG_FORMAT]";

/// The one line each subcommand's `--help` has instead of the global options.
const GLOBAL_OPTIONS_POINTER: &str = "Global options (--data-dir, --admin-group, --database, -v, --log-format): see `cloudgate --help`.";

/// The grammar as parsed and shown: the global options listed once at the top and pointed to
/// from every subcommand.
pub fn command() -> clap::Command {
    fn point(cmd: clap::Command) -> clap::Command {
        let names: Vec<String> = cmd
            .get_subcommands()
            .map(|s| s.get_name().to_string())
            .collect();
        let mut cmd = cmd;
        for name in names {
            cmd = cmd.mut_subcommand(name, |sub| {
                let after = match sub.get_after_help() {
                    Some(a) => format!("{a}\n\n{GLOBAL_OPTIONS_POINTER}"),
                    None => GLOBAL_OPTIONS_POINTER.to_string(),
                };
                point(sub.after_help(after))
            });
        }
        cmd
    }
    let root = <Cli as clap::CommandFactory>::command()
        .after_help(format!("{GLOBAL_OPTIONS_HELP}\n\n{EXIT_CODES_HELP}"));
    point(root)
}

/// The grammar for shell completion: the global options visible, so they complete.
pub fn command_for_completion() -> clap::Command {
    let mut cmd = <Cli as clap::CommandFactory>::command();
    for id in ["data_dir", "admin_group", "verbose", "log_format"] {
        cmd = cmd.mut_arg(id, |a| a.hide(false));
    }
    cmd
}

/// Where a password comes from; never from the command line itself.
#[derive(Debug, Args)]
#[group(multiple = false)]
pub struct PasswordArgs {
    /// Read the password from the first line of FILE
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// Read the password from the first line of standard input
    #[arg(long)]
    pub password_stdin: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines
    Text,
    /// One JSON object per line
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Service provider side: license, certificates
    #[cfg(feature = "sp")]
    #[command(subcommand)]
    Sp(SpCommand),
    /// Tenant side: add service providers, check them, tunnel to their services
    #[command(subcommand)]
    Tenant(TenantSideCommand),
    /// Run the whole story on loopback: SP certificate, gateway, tenant, tunnel, an impostor refused
    #[cfg(feature = "sp")]
    Demo,
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    Completions {
        /// The shell
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) to stdout, or write every page into a directory
    Man {
        /// Write one page per command (cloudgate.1, cloudgate-sp-cert-generate.1, ...) into DIR
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Print the command reference of the book (Markdown, every command) instead
        #[arg(long, conflicts_with = "dir")]
        markdown: bool,
    },
}

#[cfg(feature = "sp")]
#[derive(Debug, Subcommand)]
pub enum SpCommand {
    /// Install or show the license, which names the default certificate subject
    #[command(subcommand)]
    License(LicenseCommand),
    /// Generate, inspect, apply, export and remove SP certificates
    #[command(subcommand)]
    Cert(CertCommand),
    /// Tenant accounts, the services each may reach, and their enrolled client certificates
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// The gateway daemon that tenants connect to (port 6180)
    #[command(subcommand)]
    Gateway(GatewayCommand),
    /// The SP database: where it is and its schema version
    #[command(subcommand)]
    Db(DbCommand),
    /// The fleet key, and the certificate published to every gateway of a fleet
    #[command(subcommand)]
    Fleet(FleetCommand),
    /// The console's administrators and API tokens
    #[command(subcommand)]
    Admin(AdminCommand),
    /// The web console and REST API for administrators (HTTPS, loopback by default)
    Console(ConsoleArgs),
    /// The audit of every change and refusal, from the SP database: list and verify
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Take gateways out of service for new tunnels (all, a pool's, one) with a message, and back
    #[command(subcommand)]
    Maintenance(MaintenanceCommand),
}

#[cfg(test)]
mod json_everywhere {
    use super::Cli;
    use clap::CommandFactory;

    /// Commands that report nothing a script could read: they print a script, a manual page,
    /// an interactive dialogue or a story.
    const NO_REPORT: &[&str] = &[
        "cloudgate completions",
        "cloudgate man",
        "cloudgate demo",
        "cloudgate sp cert manage",
    ];

    fn leaves(cmd: &clap::Command, path: String, out: &mut Vec<(String, bool)>) {
        let path = format!("{path} {}", cmd.get_name()).trim().to_string();
        if cmd.get_subcommands().next().is_none() {
            let json = cmd.get_arguments().any(|a| a.get_long() == Some("json"));
            out.push((path, json));
            return;
        }
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            leaves(sub, path.clone(), out);
        }
    }

    #[test]
    fn every_command_that_reports_takes_json() {
        let mut all = Vec::new();
        leaves(&Cli::command(), String::new(), &mut all);
        let missing: Vec<&String> = all
            .iter()
            .filter(|(p, json)| !json && !NO_REPORT.contains(&p.as_str()))
            .map(|(p, _)| p)
            .collect();
        assert!(missing.is_empty(), "without --json: {missing:?}");
        assert!(all.len() > 30, "{all:?}");
    }
}
