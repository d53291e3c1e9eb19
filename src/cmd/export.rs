//! `cloudgate sp cert export`: a certificate (and, asked for, its chain and key) as PEM, DER or
//! PKCS#12, to a file created with the right mode or to a redirected stdout.

use std::io::{IsTerminal as _, Write as _};
use std::path::Path;

use anyhow::Context as _;
use cloudgate_pki::pem;
use cloudgate_pki::pkcs12::{Pkcs12Profile, encode_pkcs12};
use cloudgate_store::fsio::{self, FileSpec};
use cloudgate_store::{CertStore, StoredCertificate};
use serde::Serialize;
use zeroize::Zeroizing;

use crate::cli::{ExportArgs, ExportFormat};
use crate::exit::usage;
use crate::input::{given_password, interactive, prompt_password};
use crate::render::{print_json, warn};

pub fn export(
    store: &CertStore,
    entry: &StoredCertificate,
    args: &ExportArgs,
) -> anyhow::Result<()> {
    check_export_args(args)?;
    let to_stdout = args.out == Path::new("-");
    let holds_key = args.with_key || args.format == ExportFormat::Pfx;
    let binary = args.format != ExportFormat::Pem;
    if to_stdout && std::io::stdout().is_terminal() && (binary || holds_key) {
        return Err(usage(
            "refusing to write a binary file or a private key to a terminal; pass --out FILE or redirect stdout",
        ));
    }
    let bytes = export_bytes(store, entry, args)?;
    let exported = |out: &str| Exported {
        thumbprint: entry.info.fingerprints.thumbprint(),
        sha256: entry.info.fingerprints.sha256_hex(),
        format: match args.format {
            ExportFormat::Pem => "pem",
            ExportFormat::Der => "der",
            ExportFormat::Pfx => "pfx",
        },
        with_key: holds_key,
        chain_length: if holds_key { entry.chain.len() } else { 0 },
        out: out.to_string(),
        bytes: bytes.len(),
    };
    if to_stdout {
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(&bytes)?;
        stdout.flush()?;
        if args.json {
            // stdout is the export itself: the report goes to stderr.
            eprintln!("{}", serde_json::to_string_pretty(&exported("-"))?);
        }
        return Ok(());
    }
    let spec = if holds_key {
        FileSpec::owner_only()
    } else {
        FileSpec::public()
    };
    fsio::replace_file(&args.out, &bytes, spec)
        .with_context(|| format!("exporting to {}", args.out.display()))?;
    if args.json {
        return print_json(&exported(&args.out.display().to_string()));
    }
    let what = match (args.format, holds_key) {
        (ExportFormat::Pfx, _) => "certificate, chain and private key (PKCS#12)",
        (_, true) => "certificate, chain and private key (PEM)",
        _ => "certificate",
    };
    eprintln!(
        "Exported the {what} of {} to {}",
        entry.info.fingerprints.thumbprint(),
        args.out.display()
    );
    if !holds_key && !entry.chain.is_empty() {
        warn("only the certificate was exported, not its chain");
    }
    Ok(())
}

/// What `export --json` reports.
#[derive(Serialize)]
struct Exported {
    thumbprint: String,
    sha256: String,
    format: &'static str,
    with_key: bool,
    chain_length: usize,
    out: String,
    bytes: usize,
}

/// The flag combinations an export refuses, and an output file it would not replace.
fn check_export_args(args: &ExportArgs) -> anyhow::Result<()> {
    if args.with_key && args.format != ExportFormat::Pem {
        return Err(usage(
            "--with-key goes with --format pem (a PKCS#12 file always holds the key)",
        ));
    }
    if args.legacy && args.format != ExportFormat::Pfx {
        return Err(usage("--legacy goes with --format pfx"));
    }
    let has_password = args.password.password_file.is_some() || args.password.password_stdin;
    if has_password && args.format != ExportFormat::Pfx {
        return Err(usage("a password goes with --format pfx only"));
    }
    let to_stdout = args.out == Path::new("-");
    if !to_stdout {
        if args.out.is_dir() {
            return Err(usage(format!(
                "{} is a directory; give a file name",
                args.out.display()
            )));
        }
        if let Ok(meta) = std::fs::symlink_metadata(&args.out) {
            use std::os::unix::fs::MetadataExt as _;
            // --force replaces a regular file of one's own, nothing else: not a device node
            // such as /dev/null, not a link, not another user's file (root included).
            if !meta.file_type().is_file() {
                return Err(usage(format!(
                    "{} exists and is not a regular file (a link, a device, a FIFO or a socket); export to a new file name",
                    args.out.display()
                )));
            }
            if meta.uid() != cloudgate_store::owner::effective_uid() {
                return Err(usage(format!(
                    "{} belongs to another user; export to a new file name",
                    args.out.display()
                )));
            }
            if !args.force {
                return Err(usage(format!(
                    "{} already exists; pass --force to replace it",
                    args.out.display()
                )));
            }
        }
    }
    Ok(())
}

/// The exported file's bytes, in the format asked for (wiped when dropped: it may hold the key).
fn export_bytes(
    store: &CertStore,
    entry: &StoredCertificate,
    args: &ExportArgs,
) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    Ok(match args.format {
        ExportFormat::Der => Zeroizing::new(entry.info.der.clone()),
        ExportFormat::Pem if !args.with_key => {
            Zeroizing::new(pem::encode_certificate(&entry.info.der).into_bytes())
        }
        ExportFormat::Pem => {
            let key = store.load_private_key(entry)?;
            let mut text = pem::encode_certificate(&entry.info.der);
            for c in &entry.chain {
                text.push_str(&pem::encode_certificate(c));
            }
            let mut out = Zeroizing::new(text.into_bytes());
            out.extend_from_slice(pem::encode_pkcs8_key(&key).as_bytes());
            out
        }
        ExportFormat::Pfx => {
            let key = store.load_private_key(entry)?;
            let password = match given_password(&args.password)? {
                Some(p) => p,
                None if interactive() => prompt_password(
                    "Password to protect the PKCS#12 file:",
                    "the importer will need it; an empty password leaves the key unprotected",
                    true,
                )?,
                None => {
                    return Err(usage(
                        "a PKCS#12 export needs a password: pass --password-file FILE or --password-stdin",
                    ));
                }
            };
            if password.is_empty() {
                warn(
                    "the PKCS#12 file is protected by an empty password: anyone who gets the file gets the key",
                );
            }
            let profile = if args.legacy {
                Pkcs12Profile::Legacy
            } else {
                Pkcs12Profile::Modern
            };
            Zeroizing::new(
                encode_pkcs12(
                    &entry.info.der,
                    &entry.chain,
                    &key,
                    &entry.meta.friendly_name,
                    &password,
                    profile,
                )
                .context("encoding the PKCS#12 file")?,
            )
        }
    })
}
