//! `cloudgate sp cert manage`: the reference product's *Manage Certificates* wizard on a
//! terminal. Certificate Type → the type's step → Summary → Finish. Nothing is written before
//! Finish; Cancel, Esc on the first step, or Ctrl-C anywhere leave the store as it was.

use std::io::IsTerminal as _;

use anyhow::Context as _;
use cloudgate_pki::import::check_serviceable;
use cloudgate_pki::{
    CertificateInfo, KeyType, SelfSignedRequest, check_valid_days, format_summary_date,
};
use cloudgate_store::{CertStore, NewEntry, Source, StoredCertificate};
use inquire::{CustomType, InquireError, Select, Text};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::clipboard;
use crate::cmd::generate::{defaults, generate_with_progress};
use crate::cmd::import::{imported_name, open_key_material};
use crate::context::Context;
use crate::exit::usage;
use crate::render::{summary_lines, warn};

const GENERATE: &str = "Generate a new certificate";
const PICK: &str = "Select an existing certificate from the certificate store";
const IMPORT: &str = "Import certificate from a file";
const KEEP: &str = "Keep the existing certificate";

const FINISH: &str = "Finish";
const COPY: &str = "Copy to clipboard";
const BACK: &str = "Back";
const CANCEL: &str = "Cancel";

/// The certificate the wizard is about to put into use.
enum Candidate {
    /// Made or read in this run, not in the store yet.
    New {
        info: CertificateInfo,
        key: Zeroizing<Vec<u8>>,
        chain: Vec<Vec<u8>>,
        friendly_name: String,
        source: Source,
    },
    /// Already in the store.
    Existing(StoredCertificate),
    /// The one in use, kept.
    Keep(StoredCertificate),
}

impl Candidate {
    fn info(&self) -> &CertificateInfo {
        match self {
            Candidate::New { info, .. } => info,
            Candidate::Existing(e) | Candidate::Keep(e) => &e.info,
        }
    }

    fn friendly_name(&self) -> &str {
        match self {
            Candidate::New { friendly_name, .. } => friendly_name,
            Candidate::Existing(e) | Candidate::Keep(e) => &e.meta.friendly_name,
        }
    }
}

/// How a step ended when it did not produce a value.
enum Flow {
    Back,
    Cancel,
}

/// Maps inquire's Esc to "back" and Ctrl-C to "cancel".
fn answer<T>(result: Result<T, InquireError>) -> anyhow::Result<Result<T, Flow>> {
    match result {
        Ok(v) => Ok(Ok(v)),
        Err(InquireError::OperationCanceled) => Ok(Err(Flow::Back)),
        Err(InquireError::OperationInterrupted) => Ok(Err(Flow::Cancel)),
        Err(e) => Err(anyhow::anyhow!("the wizard cannot ask: {e}")),
    }
}

fn cancelled() -> anyhow::Result<()> {
    Err(anyhow::anyhow!("cancelled; nothing was written"))
}

pub fn run(ctx: &Context) -> anyhow::Result<()> {
    if !(std::io::stdin().is_terminal() && std::io::stdout().is_terminal()) {
        return Err(usage(
            "the Manage Certificates wizard needs a terminal; without one use `cloudgate sp cert generate --apply`, \
             `cloudgate sp cert import FILE --apply` or `cloudgate sp cert apply CERT`",
        ));
    }
    let store = ctx.store_for_write()?;
    loop {
        let current = store.applied().ok().flatten();
        let mut types = vec![GENERATE, PICK, IMPORT];
        if let Some(c) = &current {
            println!(
                "In use: {} (expires {}, thumbprint {}, serial number {})",
                c.meta.friendly_name,
                format_summary_date(c.info.not_after),
                c.info.fingerprints.thumbprint(),
                c.info.serial
            );
            types.push(KEEP);
        }
        let kind = match answer(
            Select::new("Certificate Type:", types)
                .with_help_message("↑↓ to move, enter to choose, esc to cancel")
                .prompt(),
        )? {
            Ok(k) => k,
            Err(_) => return cancelled(),
        };
        let step = match kind {
            GENERATE => step_generate(ctx)?,
            PICK => step_pick(&store)?,
            IMPORT => step_import()?,
            _ => match current {
                Some(c) => Ok(Candidate::Keep(c)),
                None => continue,
            },
        };
        let candidate = match step {
            Ok(c) => c,
            Err(Flow::Back) => continue,
            Err(Flow::Cancel) => return cancelled(),
        };
        match step_summary(&candidate)? {
            Ok(()) => return finish(ctx, &store, candidate),
            Err(Flow::Back) => continue,
            Err(Flow::Cancel) => return cancelled(),
        }
    }
}

fn step_generate(ctx: &Context) -> anyhow::Result<Result<Candidate, Flow>> {
    let defaults = defaults(ctx, true)?;
    println!(
        "The new certificate is self-signed: it is not issued by a trusted CA. When tenants add this service provider \
         they will be offered its thumbprint to verify."
    );
    let name = match answer(
        Text::new("Friendly name:")
            .with_initial_value(&defaults.friendly_name)
            .with_validator(|s: &str| {
                Ok(match crate::cli::parse_friendly_name(s) {
                    Ok(_) => inquire::validator::Validation::Valid,
                    Err(e) => inquire::validator::Validation::Invalid(e.into()),
                })
            })
            .prompt(),
    )? {
        Ok(n) => n.trim().to_string(),
        Err(f) => return Ok(Err(f)),
    };
    let key_type = match answer(
        Select::new("Key type:", KeyType::ALL.to_vec())
            .with_starting_cursor(0)
            .prompt(),
    )? {
        Ok(k) => k,
        Err(f) => return Ok(Err(f)),
    };
    let days = match answer(
        CustomType::<u32>::new("Validity (days):")
            .with_default(365)
            .with_error_message("Type a whole number of days.")
            .with_validator(|d: &u32| {
                Ok(match check_valid_days(*d) {
                    Ok(()) => inquire::validator::Validation::Valid,
                    Err(e) => inquire::validator::Validation::Invalid(e.to_string().into()),
                })
            })
            .prompt(),
    )? {
        Ok(d) => d,
        Err(f) => return Ok(Err(f)),
    };
    let request = SelfSignedRequest {
        key_type,
        subject: defaults.subject,
        sans: defaults.sans,
        valid_days: days,
        now: OffsetDateTime::now_utc(),
    };
    let generated = generate_with_progress(&request)?;
    let info = CertificateInfo::from_der(&generated.cert_der)?;
    Ok(Ok(Candidate::New {
        info,
        key: generated.key_pkcs8_der,
        chain: Vec::new(),
        friendly_name: name,
        source: Source::Generated,
    }))
}

fn step_pick(store: &CertStore) -> anyhow::Result<Result<Candidate, Flow>> {
    let entries = store.list()?;
    if entries.is_empty() {
        println!("The certificate store is empty: generate or import a certificate instead.");
        return Ok(Err(Flow::Back));
    }
    let labels: Vec<String> = entries
        .iter()
        .map(|e| {
            format!(
                "{} | expires {} | {} | issued by {} | {}",
                e.info.subject_display,
                format_summary_date(e.info.not_after),
                e.meta.friendly_name,
                e.info.issuer_display,
                e.info.fingerprints.thumbprint()
            )
        })
        .collect();
    let chosen = match answer(
        Select::new("Pick Certificate:", labels.clone())
            .with_help_message("type to filter, ↑↓ to move, enter to choose, esc to go back")
            .with_page_size(10)
            .prompt(),
    )? {
        Ok(label) => label,
        Err(f) => return Ok(Err(f)),
    };
    let index = labels
        .iter()
        .position(|l| *l == chosen)
        .context("the chosen certificate vanished")?;
    Ok(Ok(Candidate::Existing(
        entries
            .into_iter()
            .nth(index)
            .context("the chosen certificate vanished")?,
    )))
}

fn step_import() -> anyhow::Result<Result<Candidate, Flow>> {
    loop {
        let path = match answer(
            Text::new("Certificate file:")
                .with_help_message("a .pfx/.p12 file, or PEM with the certificate and its key")
                .with_validator(|s: &str| {
                    Ok(if std::path::Path::new(s.trim()).is_file() {
                        inquire::validator::Validation::Valid
                    } else {
                        inquire::validator::Validation::Invalid("No such file.".into())
                    })
                })
                .prompt(),
        )? {
            Ok(p) => std::path::PathBuf::from(p.trim()),
            Err(f) => return Ok(Err(f)),
        };
        let password = match answer(
            inquire::Password::new("Password:")
                .with_help_message("required only if the file is password-protected")
                .with_display_mode(inquire::PasswordDisplayMode::Hidden)
                .without_confirmation()
                .prompt(),
        )? {
            Ok(p) => Zeroizing::new(p),
            Err(f) => return Ok(Err(f)),
        };
        let opened = open_key_material(&path, None, Some(&password), false, None).and_then(|m| {
            check_serviceable(&m.cert, OffsetDateTime::now_utc(), false)?;
            Ok(m)
        });
        match opened {
            Ok(m) => {
                let friendly_name = imported_name(&m);
                return Ok(Ok(Candidate::New {
                    info: m.cert,
                    key: m.key_pkcs8_der,
                    chain: m.chain,
                    friendly_name,
                    source: Source::Imported,
                }));
            }
            Err(e) => println!("Cannot import: {e:#}. Try again, or press esc to go back."),
        }
    }
}

/// The address a tenant would use: the first DNS name in the certificate, else the host name.
fn tenant_address(info: &CertificateInfo) -> String {
    info.sans
        .iter()
        .find(|s| !s.starts_with('*') && s.parse::<std::net::IpAddr>().is_err() && s.contains('.'))
        .cloned()
        .unwrap_or_else(cloudgate_store::license::host_name)
}

fn step_summary(candidate: &Candidate) -> anyhow::Result<Result<(), Flow>> {
    let info = candidate.info();
    let summary = summary_lines(candidate.friendly_name(), info);
    println!(
        "\nSummary\n\n{summary}SHA-256: {}\n",
        info.fingerprints.sha256_colons()
    );
    println!(
        "A tenant adds this service provider with:\n  cloudgate tenant provider add {}:6180 --thumbprint {}\n",
        tenant_address(info),
        info.fingerprints.sha256_hex()
    );
    loop {
        let action =
            match answer(Select::new("Summary:", vec![FINISH, COPY, BACK, CANCEL]).prompt())? {
                Ok(a) => a,
                Err(Flow::Back) => return Ok(Err(Flow::Back)),
                Err(Flow::Cancel) => return Ok(Err(Flow::Cancel)),
            };
        match action {
            FINISH => return Ok(Ok(())),
            BACK => return Ok(Err(Flow::Back)),
            CANCEL => return Ok(Err(Flow::Cancel)),
            _ => match clipboard::copy(&summary) {
                Ok(targets) => println!("Copied the Summary to {}.", targets.join(" and ")),
                Err(e) => warn(&format!("{e:#}")),
            },
        }
    }
}

fn finish(ctx: &Context, store: &CertStore, candidate: Candidate) -> anyhow::Result<()> {
    let entry = match candidate {
        Candidate::Keep(e) => {
            println!(
                "The existing certificate {} stays in use; nothing changed.",
                e.info.fingerprints.thumbprint()
            );
            return Ok(());
        }
        Candidate::Existing(e) => e,
        Candidate::New {
            info,
            key,
            chain,
            friendly_name,
            source,
        } => store
            .add(NewEntry {
                cert_der: &info.der,
                key_pkcs8_der: &key,
                chain,
                friendly_name,
                source,
            })
            .context("saving the certificate in the store")?,
    };
    super::switch::confirm_switch(ctx, store, &entry, false).with_context(|| {
        format!(
            "{} is in the store but not in use",
            entry.info.fingerprints.thumbprint()
        )
    })?;
    store
        .apply(&entry)
        .context("putting the certificate into use")?;
    println!(
        "Cloud Connect certificate is being updated: {} ({}) is now in use.",
        entry.info.fingerprints.thumbprint(),
        entry.meta.friendly_name
    );
    Ok(())
}
