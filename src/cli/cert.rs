//! `cloudgate sp cert`: generate, import, inspect, apply, stage, renew and export.

use std::path::PathBuf;

use super::PasswordArgs;
use clap::{Args, Subcommand, ValueEnum};
use cloudgate_pki::dn::SubjectName;
use cloudgate_pki::san::SubjectAltName;
use cloudgate_pki::{KeyType, MAX_VALID_DAYS};

/// How a certificate is named on the command line.
pub(super) const CERT_ARG_HELP: &str = "Thumbprint (SHA-1), SHA-256, public key pin (sha256//...), or a unique prefix of at \
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
    /// Certificates from a CA over ACME (Let's Encrypt, a private step-ca…), renewed with the same key
    #[command(subcommand)]
    Acme(super::acme::AcmeCommand),
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
    /// [default: this host's name and the public address tenants are given]
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

pub(super) fn parse_key_type(s: &str) -> Result<KeyType, String> {
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
    use crate::cli::{Cli, command};
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
