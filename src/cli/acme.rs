//! `cloudgate sp cert acme`: certificates from a CA over ACME.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use cloudgate_pki::KeyType;

/// Let's Encrypt's production directory.
pub const DEFAULT_DIRECTORY: &str = "https://acme-v02.api.letsencrypt.org/directory";

#[derive(Debug, Subcommand)]
pub enum AcmeCommand {
    /// Ask a CA for a certificate for these names and save it in the store (source `acme`)
    #[command(
        after_help = "The account is created at the first issuance and kept in the store (store/acme/, with \
the store's permissions); how the certificate was issued is kept beside it for `acme renew`. HTTP-01: the CA \
fetches a token from port 80 of each name, answered by a responder that runs only during the issuance \
(--http-01-listen when a proxy or port forward brings port 80 elsewhere). DNS-01: the hook runs as \
`HOOK add|remove _acme-challenge.NAME VALUE` and must return once the record is in place or gone; wildcards \
need DNS-01. The certificate is ready to `sp cert apply` or `sp cert stage` (or applied at once with --apply)."
    )]
    Issue(Box<IssueArgs>),
    /// Renew the ACME certificate in use with the same CA, names and, by default, the same key
    #[command(
        after_help = "With the same key (the default), tenants that pinned the certificate in use accept the \
renewed one without asking. With --new-key, the new certificate is staged as the successor with a rollover \
proof signed by the key in use, so tenants follow it even when they were offline; apply it with `sp cert apply` \
once they have seen it (`sp cert status` counts them)."
    )]
    Renew(RenewArgs),
    /// Ask the CA that issued a certificate to revoke it (the entry stays in the store)
    #[command(
        after_help = "Revoke a certificate whose key may be known to others, or that is no longer used. The \
certificate in use is refused without --force: tenants that validate the chain (`--trust ca`) would refuse it. \
Uses the account kept in the store for the CA of the last issuance."
    )]
    Revoke {
        #[arg(help = super::cert::CERT_ARG_HELP)]
        cert: String,
        /// Revoke it even if it is the certificate in use
        #[arg(long)]
        force: bool,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
    /// Replace the ACME account's key, at the CA and in the store
    #[command(
        after_help = "The CA is told the new key, signed by the old one (RFC 8555 account key rollover); only \
then is the account file in the store replaced, atomically, with the store's permissions."
    )]
    RotateAccountKey {
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
}

/// `sp cert acme issue`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("challenge").required(true).args(["http_01", "dns_hook"])))]
pub struct IssueArgs {
    /// A DNS name for the certificate (repeat for more; the first is also the common name)
    #[arg(long = "domain", value_name = "NAME", required = true)]
    pub domains: Vec<String>,
    /// The account's contact address
    #[arg(long, value_name = "ADDR")]
    pub email: Option<String>,
    /// The CA's ACME directory URL
    #[arg(long, value_name = "URL", default_value = DEFAULT_DIRECTORY)]
    pub directory: String,
    /// Trust the directory's HTTPS certificate through this CA certificate (PEM), for a private CA
    #[arg(long, value_name = "FILE")]
    pub directory_ca: Option<PathBuf>,
    /// External account binding: the key id the CA gave (with --eab-hmac-key-file)
    #[arg(long, value_name = "ID", requires = "eab_hmac_key_file")]
    pub eab_kid: Option<String>,
    /// External account binding: a file holding the HMAC key the CA gave (base64url, as CAs
    /// print it)
    #[arg(long, value_name = "FILE", requires = "eab_kid")]
    pub eab_hmac_key_file: Option<PathBuf>,
    /// Answer HTTP-01 challenges with the built-in responder
    #[arg(long = "http-01")]
    pub http_01: bool,
    /// Where the HTTP-01 responder listens
    #[arg(
        long = "http-01-listen",
        value_name = "ADDR",
        default_value = "0.0.0.0:80",
        requires = "http_01"
    )]
    pub http_01_listen: SocketAddr,
    /// Answer DNS-01 challenges with this command (`HOOK add|remove RECORD VALUE`)
    #[arg(long, value_name = "HOOK")]
    pub dns_hook: Option<PathBuf>,
    /// Key type: rsa-2048, rsa-3072, rsa-4096, ecdsa-p256, ecdsa-p384 (what public CAs sign)
    #[arg(long, value_name = "TYPE", default_value = "ecdsa-p256", value_parser = super::cert::parse_key_type)]
    pub key_type: KeyType,
    /// The friendly name shown as "Name" [default: the first --domain]
    #[arg(long, value_name = "NAME", value_parser = super::cert::parse_friendly_name)]
    pub friendly_name: Option<String>,
    /// Also put the new certificate into use
    #[arg(long)]
    pub apply: bool,
    /// Apply even though tenants will have to verify the new certificate again
    #[arg(long, requires = "apply")]
    pub force: bool,
    /// Print the new entry as JSON
    #[arg(long)]
    pub json: bool,
}

/// `sp cert acme renew`.
#[derive(Debug, Args)]
pub struct RenewArgs {
    /// A new key: the certificate is staged as the successor with a rollover proof
    #[arg(long, conflicts_with = "apply")]
    pub new_key: bool,
    /// Also put the renewed certificate into use (same key only)
    #[arg(long)]
    pub apply: bool,
    /// Print the new entry as JSON
    #[arg(long)]
    pub json: bool,
}
