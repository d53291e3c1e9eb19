//! `cloudgate sp admin`: the console's administrators and the API tokens scripts use.

use clap::{Args, Subcommand};

use super::PasswordArgs;

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Add an administrator of the console (password hashed with argon2id)
    #[command(
        after_help = "Examples:\n  cloudgate sp admin add alice                      # asks for the password twice\n  cloudgate sp admin add alice --password-stdin < pw.txt\n\n\
The name follows the tenant rule (letters, digits, '.', '_', '-'); the password has at least 8 characters. \
Every change an administrator makes in the console is an audit event with their name."
    )]
    Add {
        /// The administrator's name, typed at the console's login page
        name: String,
        #[command(flatten)]
        password: PasswordArgs,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
    /// List the administrators
    List {
        /// Print as JSON
        #[arg(long)]
        json: bool,
    },
    /// Replace an administrator's password
    SetPassword {
        /// The administrator
        name: String,
        #[command(flatten)]
        password: PasswordArgs,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
    /// Remove an administrator (their console sessions end at their next request)
    Remove {
        /// The administrator
        name: String,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
    /// API tokens for scripts (`Authorization: Bearer cgapi_…` on /api/v1)
    #[command(subcommand)]
    Token(ApiTokenCommand),
}

#[derive(Debug, Subcommand)]
pub enum ApiTokenCommand {
    /// Create an API token; it is shown once, only its hash is kept
    #[command(
        after_help = "Examples:\n  cloudgate sp admin token create --name ci --expires 30d\n  cloudgate sp admin token create --name backup-report --expires 7d --json | jq -r .token > /etc/backup/cloudgate.token\n\n\
A script sends it as `Authorization: Bearer cgapi_…` to the console's /api/v1. It is a credential: keep it in a file \
only the script reads, never on a command line."
    )]
    Create {
        /// What the token is for, shown in lists and written in the audit log
        #[arg(long)]
        name: String,
        /// How long it lasts: 30m, 24h, 30d… (at most 366d)
        #[arg(long, default_value = "30d", value_name = "DURATION")]
        expires: String,
        /// Print the result as JSON (with the token)
        #[arg(long)]
        json: bool,
    },
    /// List the API tokens (never their secrets)
    List {
        /// Print as JSON
        #[arg(long)]
        json: bool,
    },
    /// Revoke an API token by its id (or a unique prefix of at least 6 digits)
    Revoke {
        /// The token's id
        id: String,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
}

/// `sp console`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  cloudgate sp admin add alice && cloudgate sp console\n  ssh -L 6181:127.0.0.1:6181 sp-host     # then open https://127.0.0.1:6181/ on your machine\n  cloudgate sp console --listen 10.0.0.2:6181 --public\n\n\
Served over HTTPS with the certificate in use (the one tenants pin), so the browser shows its thumbprint: \
compare it with `cloudgate sp cert current`. Loopback only unless --public: the console changes what tenants \
trust, and a login page on a public address is a target. The REST API is at /api/v1 (OpenAPI at \
/api/v1/openapi.json), for scripts with `cloudgate sp admin token create`."
)]
pub struct ConsoleArgs {
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1:6181", value_name = "ADDR")]
    pub listen: String,
    /// Allow a non-loopback --listen address
    #[arg(long)]
    pub public: bool,
    /// Print the listening line as JSON
    #[arg(long)]
    pub json: bool,
}
