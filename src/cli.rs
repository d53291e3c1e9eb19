//! The command-line grammar. Values are parsed and validated here, before any file is touched.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use cloudgate_pki::dn::SubjectName;
use cloudgate_pki::san::SubjectAltName;
use cloudgate_pki::{KeyType, MAX_VALID_DAYS};

use crate::exit::EXIT_CODES_HELP;

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
  -v, --verbose        More log output on stderr (-v info, -vv debug); CLOUDGATE_LOG overrides
  --log-format FORMAT  Log format on stderr: text or json [env: CLOUDGATE_LOG_FORMAT]";

/// The one line each subcommand's `--help` has instead of the global options.
const GLOBAL_OPTIONS_POINTER: &str =
    "Global options (--data-dir, --admin-group, -v, --log-format): see `cloudgate --help`.";

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
    #[command(subcommand)]
    Sp(SpCommand),
    /// Tenant side: add service providers, check them, tunnel to their services
    #[command(subcommand)]
    Tenant(TenantSideCommand),
    /// Run the whole story on loopback: SP certificate, gateway, tenant, tunnel, an impostor refused
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
    },
}

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
}

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
    /// The SP-side services a tenant may reach
    #[command(subcommand)]
    Service(ServiceCommand),
    /// Join tokens: one string that carries the SP's address, its key pin and a one-time credential
    #[command(subcommand)]
    Token(TokenCommand),
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

#[derive(Debug, Subcommand)]
pub enum GatewayCommand {
    /// Run the gateway in the foreground (SIGTERM/SIGINT stop it gracefully, SIGHUP reloads)
    #[command(
        after_help = "Settings come from the defaults, then --config FILE or DATA_DIR/gateway.toml (TOML; see \
dist/gateway.toml), then the flags. With no certificate applied, the first start generates and applies one and logs its thumbprint."
    )]
    Run(GatewayRunArgs),
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
    /// Seconds between checks for a new certificate or changed tenants [default: 2]
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub reload_interval: Option<u64>,
    /// Renew the applied certificate (same key) and apply it this many days before it expires
    #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..=365))]
    pub auto_renew: Option<u32>,
    /// Serve Prometheus metrics at http://ADDR:PORT/metrics (off by default; keep it private)
    #[arg(long, value_name = "ADDR:PORT")]
    pub metrics: Option<String>,
    /// Seconds open tunnels get to finish after SIGTERM [default: 30]
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub drain_timeout: Option<u64>,
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

/// How a certificate is named on the command line.
const CERT_ARG_HELP: &str = "Thumbprint (SHA-1), SHA-256, public key pin (sha256//...), or a unique prefix of at \
least 8 hex digits; case, spaces, colons and invisible marks are ignored";

#[derive(Debug, Subcommand)]
pub enum CertCommand {
    /// Generate a self-signed certificate and private key and save them in the store
    #[command(
        after_help = "Keys are RSA 2048 by default, as in the reference product; RSA 3072/4096 take a few \
seconds (a spinner shows on a terminal). The certificate is X.509 v3 with a random 127-bit serial, SHA-256 \
signatures (SHA-384 for P-384), CA:FALSE, serverAuth+clientAuth, and a subject key identifier."
    )]
    Generate(GenerateArgs),
    /// Import a certificate with its private key (PKCS#12, PEM or DER) into the store
    #[command(
        after_help = "Reads PKCS#12 (.pfx/.p12) as Windows and OpenSSL write it today (AES-256, SHA-256 MAC) \
and as older tools write it (3DES/RC2-40, SHA-1 MAC), with or without a password; PEM with the certificate and key \
in one file or the key in --key (PKCS#1, PKCS#8 or SEC1); DER with --key. A chain in the file is kept and served \
with the certificate. Without --password-file/--password-stdin, a password-protected file asks for the password \
on a terminal."
    )]
    Import(ImportArgs),
    /// The Manage Certificates wizard: generate, pick, import or keep, review, finish
    #[command(
        after_help = "Steps: Certificate Type, then Generate / Pick Certificate / Import, then Summary \
(Finish, Copy to clipboard, Back, Cancel). Nothing is written before Finish. Needs a terminal."
    )]
    Manage,
    /// Mark a certificate as the successor of the one in use: the current key signs a rollover proof
    #[command(
        after_help = "The gateway announces the successor and the proof in GET /v1/provider; tenants learn it on \
every connection, check the proof with the key they pinned, and accept the successor without asking once it is applied \
with `cloudgate sp cert apply`. Tenants offline during the whole overlap still follow, with the proof."
    )]
    Stage {
        #[arg(help = CERT_ARG_HELP)]
        cert: String,
        /// Let the running gateway put the successor into use by itself at this time (RFC 3339,
        /// e.g. 2027-01-15T02:00:00Z)
        #[arg(long, value_name = "TIME", value_parser = parse_time)]
        at: Option<time::OffsetDateTime>,
        /// Print the rollover record as JSON
        #[arg(long)]
        json: bool,
    },
    /// Issue a new certificate for the same key, subject and names (new serial and validity)
    #[command(
        after_help = "Tenants that pinned the old certificate accept the renewed one on their next connection without \
asking, because its public key and subject are the ones they pinned. Only self-signed certificates can be renewed here; \
renew a CA-issued one with its CA and import it."
    )]
    Renew {
        /// The certificate to renew [default: the one in use]
        #[arg(help = CERT_ARG_HELP)]
        cert: Option<String>,
        /// Days of validity, 1 to 3650
        #[arg(long, value_name = "N", default_value_t = 365, value_parser = parse_valid_days)]
        valid_days: u32,
        /// Also put the renewed certificate into use
        #[arg(long)]
        apply: bool,
        /// Print the new entry as JSON
        #[arg(long)]
        json: bool,
    },
    /// List the certificates in the store
    List {
        /// Print as JSON
        #[arg(long)]
        json: bool,
    },
    /// Show one certificate: the six Summary lines, then fingerprints and details
    Show {
        #[arg(help = CERT_ARG_HELP)]
        cert: String,
        /// Also copy the six Summary lines to the clipboard (terminal OSC 52 and desktop)
        #[arg(long)]
        copy: bool,
        /// Print as JSON
        #[arg(long)]
        json: bool,
    },
    /// Show the certificate in use
    Current {
        /// Print as JSON
        #[arg(long)]
        json: bool,
    },
    /// Put a certificate into use for the gateway
    #[command(
        after_help = "Applying a staged successor keeps its rollover proof published, so tenants follow the change \
without asking; so does a renewal (same key). A new key that was not staged would make every enrolled tenant verify it \
by hand: apply says how many and refuses without --force (or a yes on a terminal). --compromised switches without a \
proof and marks the old key compromised: every tenant must verify the new certificate by hand, whatever it learned before."
    )]
    Apply {
        #[arg(help = CERT_ARG_HELP)]
        cert: String,
        /// The old key may be in the wrong hands: publish no rollover proof (tenants re-verify by hand)
        #[arg(long)]
        compromised: bool,
        /// Switch to a new key that was not staged even though tenants are enrolled (they will
        /// all have to verify it by hand); without a terminal, needed to go ahead
        #[arg(long)]
        force: bool,
        /// Print the applied certificate as JSON
        #[arg(long)]
        json: bool,
    },
    /// The certificate in use, the staged successor, the history of key changes, and how many
    /// enrolled tenants have confirmed each (so you know when a switch is safe)
    Status {
        /// Print the status as JSON
        #[arg(long)]
        json: bool,
    },
    /// Check a certificate's entry: key readable, not too open, matching; certificate intact and valid
    Check {
        /// The certificate to check [default: the one in use]
        #[arg(help = CERT_ARG_HELP)]
        cert: Option<String>,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
    /// Export a certificate: public (PEM, DER) or with its key (PKCS#12, PEM --with-key)
    #[command(
        after_help = "A file that holds a private key is created owner-only (0600). PKCS#12 files are \
AES-256/SHA-256 as OpenSSL 3 and Windows 10+ write them, or with --legacy 3DES/SHA-1 for older Windows; the \
friendly name is on both the certificate and the key bag. Without --password-file/--password-stdin the PKCS#12 \
password is asked twice on a terminal."
    )]
    Export(ExportArgs),
    /// Remove a certificate and its key from the store
    Remove {
        #[arg(help = CERT_ARG_HELP)]
        cert: String,
        /// Remove it even if it is the one in use (the gateway is then left without one)
        #[arg(long)]
        force: bool,
        /// Print the removed certificate as JSON
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// PEM text (`-----BEGIN CERTIFICATE-----`)
    Pem,
    /// Binary DER
    Der,
    /// PKCS#12 (.pfx/.p12) with the key and chain, password-protected
    Pfx,
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

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The file: .pfx/.p12, .pem/.crt (certificate, and key unless --key), or .der/.cer
    pub file: PathBuf,
    /// The private key in its own file (PEM or DER; PKCS#1, PKCS#8 or SEC1)
    #[arg(long, value_name = "KEYFILE")]
    pub key: Option<PathBuf>,
    #[command(flatten)]
    pub password: PasswordArgs,
    /// Friendly name [default: the file's friendlyName, else the subject's common name]
    #[arg(long, value_name = "NAME", value_parser = parse_friendly_name)]
    pub friendly_name: Option<String>,
    /// For a PKCS#12 file with several keys: the certificate to import (its thumbprint, SHA-256
    /// or public key pin); on a terminal the choice is asked instead
    #[arg(long, value_name = "THUMBPRINT")]
    pub select: Option<String>,
    /// Import a certificate that has expired or is not valid yet (with a warning)
    #[arg(long)]
    pub allow_expired: bool,
    /// Also put the imported certificate into use
    #[arg(long)]
    pub apply: bool,
    /// Switch to a certificate with a new key that was not staged even though tenants are
    /// enrolled (they will all have to verify it by hand)
    #[arg(long, requires = "apply")]
    pub force: bool,
    /// Print the new entry as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[arg(help = CERT_ARG_HELP)]
    pub cert: String,
    /// Output file, or - for stdout
    #[arg(long, short, value_name = "FILE")]
    pub out: PathBuf,
    /// Output format
    #[arg(long, value_enum, default_value_t = ExportFormat::Pem)]
    pub format: ExportFormat,
    /// With --format pem: also write the chain and the private key
    #[arg(long)]
    pub with_key: bool,
    /// With --format pfx: 3DES and a SHA-1 MAC, for Windows Server 2016 and older
    #[arg(long)]
    pub legacy: bool,
    #[command(flatten)]
    pub password: PasswordArgs,
    /// Replace FILE if it exists
    #[arg(long)]
    pub force: bool,
    /// Print what was written as JSON (on stderr with --out -, where stdout is the export)
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Friendly name [default: "<licensee> Cloud Connect Certificate"]
    #[arg(long, value_name = "NAME", value_parser = parse_friendly_name)]
    pub friendly_name: Option<String>,
    /// Key type: rsa-2048, rsa-3072, rsa-4096, ecdsa-p256, ecdsa-p384, ed25519
    #[arg(long, value_name = "TYPE", default_value = "rsa-2048", value_parser = parse_key_type)]
    pub key_type: KeyType,
    /// Days of validity, 1 to 3650
    #[arg(long, value_name = "N", default_value_t = 365, value_parser = parse_valid_days)]
    pub valid_days: u32,
    /// Subject distinguished name, e.g. "CN=Acme, O=Acme, C=US" [default: "CN=<licensee>,
    /// O=<licensee>, OU=<licensee>"]
    #[arg(long, value_name = "DN", value_parser = parse_subject)]
    pub subject: Option<SubjectName>,
    /// Subject alternative name: DNS name, *.wildcard, IPv4 or IPv6 address; repeatable
    /// [default: this host's name]
    #[arg(long = "san", value_name = "NAME", value_parser = parse_san)]
    pub sans: Vec<SubjectAltName>,
    /// Also put the new certificate into use
    #[arg(long)]
    pub apply: bool,
    /// Switch to a certificate with a new key that was not staged even though tenants are
    /// enrolled (they will all have to verify it by hand)
    #[arg(long, requires = "apply")]
    pub force: bool,
    /// Print the new entry as JSON
    #[arg(long)]
    pub json: bool,
}

fn parse_time(s: &str) -> Result<time::OffsetDateTime, String> {
    time::OffsetDateTime::parse(s.trim(), &time::format_description::well_known::Rfc3339)
        .map_err(|e| format!("{s:?} is not an RFC 3339 time such as 2027-01-15T02:00:00Z ({e})"))
}

fn parse_key_type(s: &str) -> Result<KeyType, String> {
    s.parse()
        .map_err(|e: cloudgate_pki::PkiError| e.to_string())
}

fn parse_valid_days(s: &str) -> Result<u32, String> {
    let days: u32 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a whole number of days (1 to {MAX_VALID_DAYS})"))?;
    cloudgate_pki::check_valid_days(days).map_err(|e| e.to_string())?;
    Ok(days)
}

fn parse_subject(s: &str) -> Result<SubjectName, String> {
    SubjectName::parse(s).map_err(|e| e.to_string())
}

fn parse_san(s: &str) -> Result<SubjectAltName, String> {
    SubjectAltName::parse(s).map_err(|e| e.to_string())
}

/// Longest friendly name accepted.
pub const MAX_FRIENDLY_NAME: usize = 256;

pub fn parse_friendly_name(s: &str) -> Result<String, String> {
    let name = s.trim();
    if name.is_empty() {
        return Err("the friendly name is empty".into());
    }
    if name.chars().count() > MAX_FRIENDLY_NAME {
        return Err(format!(
            "the friendly name is longer than {MAX_FRIENDLY_NAME} characters"
        ));
    }
    if name.chars().any(char::is_control) {
        return Err("the friendly name contains a control character".into());
    }
    Ok(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn grammar_is_consistent() {
        Cli::command().debug_assert();
        command().debug_assert();
    }

    #[test]
    fn value_parsers() {
        assert!(parse_valid_days("0").is_err());
        assert!(parse_valid_days("-1").is_err());
        assert!(parse_valid_days("3651").is_err());
        assert_eq!(parse_valid_days("30").unwrap(), 30);
        assert!(parse_friendly_name("  ").is_err());
        assert!(parse_friendly_name("a\tb").is_err());
        assert_eq!(parse_friendly_name(" x ").unwrap(), "x");
    }
}

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
    Add {
        /// The gateway: HOST, HOST:PORT or [IPv6]:PORT (port 6180 by default)
        address: String,
        /// Tenant user name
        #[arg(long)]
        username: String,
        #[command(flatten)]
        password: PasswordArgs,
        /// Name for this provider [default: HOST:PORT]
        #[arg(long)]
        name: Option<String>,
        /// Free-text description
        #[arg(long, default_value = "")]
        description: String,
        /// The thumbprint the SP sent you (SHA-1, SHA-256 or sha256//... public key pin; a line
        /// copied from the Summary, with its label and quotes, is fine)
        #[arg(
            long,
            value_name = "THUMBPRINT",
            env = "CLOUDGATE_THUMBPRINT",
            conflicts_with = "accept_new"
        )]
        thumbprint: Option<String>,
        /// Pin whatever certificate is presented, without verification (logged; not recommended)
        #[arg(long)]
        accept_new: bool,
        /// How to trust the provider: pin its certificate (default), or, for a certificate from a
        /// public CA, the system's trusted roots and the host name like a browser
        #[arg(long, value_enum, default_value_t = TrustMode::Pinned)]
        trust: TrustMode,
        /// Print the saved provider as JSON
        #[arg(long)]
        json: bool,
    },
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
