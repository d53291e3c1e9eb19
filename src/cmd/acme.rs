//! `cloudgate sp cert acme issue|renew`.

use anyhow::Context as _;
use cloudgate_sp::acme::{self, AcmeSettings, ChallengeMethod, KeyChoice};
use cloudgate_store::{CertStore, StoredCertificate};

use crate::cli::{AcmeCommand, IssueArgs, RenewArgs};
use crate::context::Context;
use crate::exit::usage;
use crate::render::{certificate_text, print_json, print_text};

pub async fn run(ctx: &Context, cmd: AcmeCommand) -> anyhow::Result<()> {
    match cmd {
        AcmeCommand::Issue(args) => issue(ctx, *args).await,
        AcmeCommand::Renew(args) => renew(ctx, args).await,
        AcmeCommand::Revoke { cert, force, json } => revoke(ctx, &cert, force, json).await,
        AcmeCommand::RotateAccountKey { json } => rotate_account_key(ctx, json).await,
    }
}

/// The external account binding from `--eab-kid` and the key in `file`.
fn external_account(kid: String, file: &std::path::Path) -> anyhow::Result<acme::ExternalAccount> {
    use base64::Engine as _;
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(file)
            .map_err(|e| usage(format!("--eab-hmac-key-file {}: {e}", file.display())))?,
    );
    let trimmed = text.trim().trim_end_matches('=');
    let hmac_key = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(trimmed)
        .map_err(|_| {
            usage(format!(
                "--eab-hmac-key-file {}: not a base64url key as the CA prints it",
                file.display()
            ))
        })?;
    if hmac_key.is_empty() {
        return Err(usage(format!(
            "--eab-hmac-key-file {} is empty",
            file.display()
        )));
    }
    Ok(acme::ExternalAccount {
        kid,
        hmac_key: zeroize::Zeroizing::new(hmac_key),
    })
}

/// The settings of the last issuance, or how to get some.
fn settings(store: &CertStore) -> anyhow::Result<AcmeSettings> {
    AcmeSettings::load(store)?.ok_or_else(|| {
        usage("no certificate was issued here over ACME: run `cloudgate sp cert acme issue` first")
    })
}

async fn revoke(ctx: &Context, cert: &str, force: bool, json: bool) -> anyhow::Result<()> {
    let store = ctx.store_for_write()?;
    let settings = settings(&store)?;
    let entry = store.find(cert)?;
    if entry.applied && !force {
        return Err(usage(format!(
            "{} is the certificate in use: tenants that validate the chain would refuse it once revoked; put another into use first, or pass --force",
            entry.info.fingerprints.thumbprint()
        )));
    }
    acme::revoke(&store, &settings, &entry).await?;
    audit(&store, &entry, "revoked at the CA")?;
    let thumbprint = entry.info.fingerprints.thumbprint();
    if json {
        return print_json(&serde_json::json!({
            "thumbprint": thumbprint,
            "sha256": entry.info.fingerprints.sha256_hex(),
            "revoked": true,
        }));
    }
    print_text(&format!(
        "Revoked {thumbprint} at the CA. It stays in the store; remove it with `cloudgate sp cert remove {thumbprint}`.\n"
    ))
}

async fn rotate_account_key(ctx: &Context, json: bool) -> anyhow::Result<()> {
    let store = ctx.store_for_write()?;
    let settings = settings(&store)?;
    let account = acme::rotate_account_key(&store, &settings).await?;
    store.audit(
        "cert.acme",
        "ACME account key replaced",
        serde_json::json!({ "account": account, "directory": settings.directory }),
    )?;
    if json {
        return print_json(&serde_json::json!({
            "account": account,
            "directory": settings.directory,
            "rotated": true,
        }));
    }
    print_text(&format!(
        "The account {account} at {} has a new key, kept in the store; the old one is gone.\n",
        settings.directory
    ))
}

/// Says each step on stderr when it is a terminal (an issuance takes seconds to minutes), so
/// that stdout keeps the one report and a script's stderr holds only errors.
fn progress(step: &str) {
    use std::io::IsTerminal as _;
    if std::io::stderr().is_terminal() {
        eprintln!("ACME: {step}…");
    }
}

async fn issue(ctx: &Context, args: IssueArgs) -> anyhow::Result<()> {
    let store = ctx.store_for_write()?;
    let challenge = match args.dns_hook {
        Some(command) => ChallengeMethod::DnsHook { command },
        None => ChallengeMethod::Http01 {
            listen: args.http_01_listen,
        },
    };
    let settings = AcmeSettings {
        directory: args.directory,
        directory_ca: args.directory_ca,
        email: args.email,
        domains: args.domains,
        challenge,
    };
    let friendly_name = args
        .friendly_name
        .unwrap_or_else(|| settings.domains.first().cloned().unwrap_or_default());
    let external = match (args.eab_kid, args.eab_hmac_key_file) {
        (Some(kid), Some(file)) => Some(external_account(kid, &file)?),
        _ => None,
    };
    let mut entry = acme::issue_bound(
        &store,
        &settings,
        KeyChoice::New(args.key_type),
        friendly_name,
        external.as_ref(),
        &progress,
    )
    .await?;
    audit(&store, &entry, "issued by the CA")?;
    if args.apply {
        super::switch::confirm_switch(ctx, &store, &entry, args.force).with_context(|| {
            format!(
                "{} was added to the store but not put into use",
                entry.info.fingerprints.thumbprint()
            )
        })?;
        super::switch::apply_through_core(ctx, &mut entry)
            .await
            .context("putting the new certificate into use")?;
    }
    report(
        &entry,
        args.json,
        "Issued by the CA and saved in the store.",
        if args.apply {
            "The certificate is now in use: Cloud Connect certificate is being updated.\n"
        } else {
            "Put it into use with `cloudgate sp cert apply` and its thumbprint (or stage it first with `cloudgate sp cert stage` so that tenants follow without asking).\n"
        },
    )
}

async fn renew(ctx: &Context, args: RenewArgs) -> anyhow::Result<()> {
    let store = ctx.store_for_write()?;
    let acme::Renewal {
        previous,
        mut entry,
        new_key,
    } = acme::renew(&store, args.new_key, &progress)
        .await
        .map_err(|e| match e {
            cloudgate_sp::SpError::Invalid(m) => usage(m),
            other => other.into(),
        })?;
    if new_key {
        return report(
            &entry,
            args.json,
            "Renewed by the CA with a new key, and staged as the successor with a rollover proof signed by the key in use.",
            &format!(
                "Tenants learn it on their next connection and follow it with the proof; apply it once `cloudgate sp cert status` shows they have: cloudgate sp cert apply {}\n",
                entry.info.fingerprints.thumbprint()
            ),
        );
    }
    if args.apply {
        super::switch::apply_through_core(ctx, &mut entry)
            .await
            .context("putting the renewed certificate into use")?;
    }
    report(
        &entry,
        args.json,
        &format!(
            "Renewed {} by the CA with the same key.",
            previous.info.fingerprints.thumbprint()
        ),
        if args.apply {
            "The renewed certificate is now in use. Tenants that pinned the key accept it without asking (same key).\n"
        } else {
            "Put it into use with `cloudgate sp cert apply` and its thumbprint; tenants accept it without asking (same key).\n"
        },
    )
}

fn audit(store: &CertStore, entry: &StoredCertificate, what: &str) -> anyhow::Result<()> {
    store.audit(
        "cert.acme",
        &format!("ACME certificate {what}"),
        serde_json::json!({
            "thumbprint": entry.info.fingerprints.thumbprint(),
            "sha256": entry.info.fingerprints.sha256_hex(),
            "issuer": entry.info.issuer_display,
        }),
    )?;
    Ok(())
}

fn report(entry: &StoredCertificate, json: bool, head: &str, tail: &str) -> anyhow::Result<()> {
    if json {
        return print_json(&cloudgate_sp::views::certificate(entry));
    }
    let mut out = format!("{head}\n\n");
    out.push_str(&certificate_text(entry));
    out.push('\n');
    out.push_str(tail);
    print_text(&out)
}
