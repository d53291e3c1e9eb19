//! `cloudgate sp cert list|show|current|apply|check|export|remove`.

use anyhow::Context as _;
use cloudgate_store::{CertStore, StoredCertificate};
use time::OffsetDateTime;

use crate::cli::CertCommand;
use crate::context::Context;
use crate::exit::usage;
use crate::render::{
    CertificateView, certificate_table, certificate_text, print_json, print_text, summary_lines,
};

pub fn run(ctx: &Context, cmd: CertCommand) -> anyhow::Result<()> {
    match cmd {
        CertCommand::Generate(_)
        | CertCommand::Import(_)
        | CertCommand::Manage
        | CertCommand::Acme(_) => Err(anyhow::anyhow!(
            "internal: this command has its own module and is not dispatched here"
        )),
        CertCommand::List { json } => list(&ctx.store_for_read(), json),
        CertCommand::Show { cert, copy, json } => {
            let entry = ctx.store_for_read().find(&cert)?;
            output(&entry, json)?;
            if copy {
                eprintln!(
                    "{}",
                    crate::clipboard::copy(&summary_lines(&entry.meta.friendly_name, &entry.info))
                );
            }
            Ok(())
        }
        CertCommand::Current { json } => {
            let entry = ctx.store_for_read().applied()?.ok_or_else(|| {
                anyhow::anyhow!(
                    "no certificate is in use; create one with `cloudgate sp cert generate --apply`, or apply one with `cloudgate sp cert apply CERT`"
                )
            })?;
            output(&entry, json)
        }
        CertCommand::Apply {
            cert,
            compromised,
            force,
            json,
        } => apply(
            ctx,
            &ctx.store_for_write()?,
            &cert,
            compromised,
            force,
            json,
        ),
        CertCommand::Status { json } => status(ctx, &ctx.store_for_read(), json),
        CertCommand::Stage { cert, at, json } => stage(ctx, &cert, at, json),
        CertCommand::Renew {
            cert,
            valid_days,
            apply,
            json,
        } => renew(ctx, cert.as_deref(), valid_days, apply, json),
        CertCommand::Check { cert, json } => check(&ctx.store_for_read(), cert.as_deref(), json),
        CertCommand::Export(args) => {
            let store = ctx.store_for_read();
            let entry = store.find(&args.cert)?;
            super::export::export(&store, &entry, &args)
        }
        CertCommand::Remove { cert, force, json } => remove(ctx, &cert, force, json),
    }
}

/// `sp cert stage`: the successor, with a rollover proof signed by the key in use.
fn stage(ctx: &Context, cert: &str, at: Option<OffsetDateTime>, json: bool) -> anyhow::Result<()> {
    let staged = super::runtime()?.block_on(async {
        ctx.sp()
            .await?
            .stage(cert, at)
            .await
            .map_err(anyhow::Error::from)
    })?;
    super::switch::said_published(staged.published);
    if json {
        return print_json(&staged.record);
    }
    print_text(&format!(
        "Staged {} as the successor, with a rollover proof signed by the key in use.\n\
                 Tenants learn it on their next connection; apply it with: cloudgate sp cert apply {}\n",
        staged.certificate.thumbprint, staged.certificate.thumbprint
    ))
}

/// `sp cert remove`.
fn remove(ctx: &Context, cert: &str, force: bool, json: bool) -> anyhow::Result<()> {
    let removed = super::runtime()?.block_on(async {
        ctx.sp()
            .await?
            .remove_certificate(cert, force)
            .await
            .map_err(anyhow::Error::from)
    })?;
    if json {
        print_json(&removed)
    } else {
        print_text(&format!(
            "Removed {} ({}) from the store.{}\n",
            removed.thumbprint,
            removed.friendly_name,
            if removed.applied {
                " No certificate is in use now."
            } else {
                ""
            }
        ))
    }
}

fn output(entry: &StoredCertificate, json: bool) -> anyhow::Result<()> {
    if json {
        print_json(&cloudgate_sp::views::certificate(entry))
    } else {
        print_text(&certificate_text(entry))
    }
}

fn list(store: &CertStore, json: bool) -> anyhow::Result<()> {
    let entries = store.list()?;
    if json {
        let views: Vec<CertificateView> = entries
            .iter()
            .map(cloudgate_sp::views::certificate)
            .collect();
        return print_json(&views);
    }
    if entries.is_empty() {
        return print_text(
            "The certificate store is empty. Create a certificate with `cloudgate sp cert generate --apply`.\n",
        );
    }
    let mut text = certificate_table(&entries);
    if !entries.iter().any(|e| e.applied) {
        text.push_str(
            "\nNo certificate is in use; apply one with `cloudgate sp cert apply CERT`.\n",
        );
    }
    print_text(&text)
}

fn apply(
    ctx: &Context,
    store: &CertStore,
    cert: &str,
    compromised: bool,
    force: bool,
    json: bool,
) -> anyhow::Result<()> {
    let mut entry = store.find(cert)?;
    let now = OffsetDateTime::now_utc();
    let previous = if compromised {
        // Meant to break trust: nothing to ask. The store refuses the same key.
        if !entry.info.is_valid_at(now) {
            return Err(usage(format!(
                "certificate {} is not valid now (valid {} to {}); tenants would refuse it",
                entry.info.fingerprints.thumbprint(),
                cloudgate_pki::format_rfc3339(entry.info.not_before),
                cloudgate_pki::format_rfc3339(entry.info.not_after)
            )));
        }
        let previous = store.apply_compromised(&entry).with_context(|| {
            format!(
                "applying certificate {}",
                entry.info.fingerprints.thumbprint()
            )
        })?;
        if ctx.layout.sp_database().exists() {
            super::runtime()?.block_on(revoke_tokens_after_compromise(ctx))?;
        }
        previous
    } else {
        // The question (or the refusal naming --force) comes first; the core then checks the
        // same rules again, switches, audits once (saying when a warning was overridden) and
        // publishes.
        if entry.info.is_valid_at(now) {
            super::switch::confirm_switch(ctx, store, &entry, force)?;
        }
        super::switch::apply_through_core_blocking(ctx, &mut entry)?
    };
    entry.applied = true;
    if json {
        return print_json(&cloudgate_sp::views::certificate(&entry));
    }
    let mut out = format!(
        "Cloud Connect certificate is being updated: {} ({}) is now in use.\n",
        entry.info.fingerprints.thumbprint(),
        entry.meta.friendly_name
    );
    if let Some(prev) = previous.filter(|p| p.sha256 != entry.info.fingerprints.sha256_hex()) {
        out.push_str(&format!("It replaces {}.\n", prev.thumbprint));
    }
    out.push('\n');
    out.push_str(&crate::public_address::tenant_instructions(
        ctx,
        &entry.info.fingerprints.sha256_hex(),
    ));
    print_text(&out)
}

/// After `apply --compromised`: every join token still usable pins the stolen key, so each is
/// revoked and audited (the gateways also refuse one made before the switch, should this fail).
async fn revoke_tokens_after_compromise(ctx: &Context) -> anyhow::Result<()> {
    let revoked = ctx
        .sp()
        .await?
        .revoke_tokens_pinning_compromised_key()
        .await
        .context("revoking the join tokens that pin the compromised key")?;
    if revoked.is_empty() {
        return Ok(());
    }
    crate::render::warn(&format!(
        "{} join token(s) made before this switch pinned the compromised key and were revoked; make new ones with `cloudgate sp tenant token create TENANT`",
        revoked.len()
    ));
    Ok(())
}

fn renew(
    ctx: &Context,
    cert: Option<&str>,
    valid_days: u32,
    apply: bool,
    json: bool,
) -> anyhow::Result<()> {
    let old = match cert {
        Some(c) => ctx.store_for_read().find(c)?,
        None => ctx
            .store_for_read()
            .applied()?
            .ok_or_else(|| usage("no certificate is in use; name the certificate to renew"))?,
    };
    let sha256 = old.info.fingerprints.sha256_hex();
    let renewed = super::runtime()?
        .block_on(async {
            ctx.sp()
                .await?
                .renew(Some(&sha256), valid_days, apply)
                .await
                .map_err(anyhow::Error::from)
        })
        .with_context(|| format!("renewing {}", old.info.fingerprints.thumbprint()))?;
    super::switch::said_published(renewed.published);
    let entry = ctx.store_for_read().find(&renewed.certificate.sha256)?;
    if json {
        return print_json(&renewed.certificate);
    }
    let mut out = format!(
        "Renewed {} with the same key, subject and names.\n\n",
        old.info.fingerprints.thumbprint()
    );
    out.push_str(&certificate_text(&entry));
    out.push_str(if apply {
        "\nThe renewed certificate is now in use. Tenants that pinned the old one accept it without asking (same key).\n"
    } else {
        "\nPut it into use with `cloudgate sp cert apply` and its thumbprint; tenants accept it without asking (same key).\n"
    });
    print_text(&out)
}

fn check(store: &CertStore, cert: Option<&str>, json: bool) -> anyhow::Result<()> {
    let entry = match cert {
        Some(c) => store.find(c)?,
        None => store
            .applied()?
            .ok_or_else(|| usage("no certificate is in use; name the certificate to check"))?,
    };
    let report = cloudgate_sp::certs::check(store, &entry)?;
    if json {
        print_json(&report)?;
    } else if report.ok {
        print_text(&format!(
            "OK: {} ({}): key readable, private and matching; certificate intact and valid for {} more days.\n",
            report.thumbprint, report.friendly_name, report.days_left
        ))?;
    }
    if report.ok {
        Ok(())
    } else {
        Err(anyhow::anyhow!(
            "certificate {} has problems: {}",
            report.thumbprint,
            report.problems.join("; ")
        ))
    }
}

/// `sp cert status`: what is in use, what is staged, the published key changes, and adoption.
fn status(ctx: &Context, store: &CertStore, json: bool) -> anyhow::Result<()> {
    let current = store.applied()?;
    let machines = super::switch::enrolled_machines(ctx)?;
    let view = cloudgate_sp::switch::status(store, &machines)?;
    if json {
        return print_json(&view);
    }
    let mut out = String::new();
    match &current {
        Some(c) => out.push_str(&format!(
            "In use: {} ({}), expires {} ({} days)\n",
            c.info.fingerprints.thumbprint(),
            c.meta.friendly_name,
            cloudgate_pki::format_summary_date(c.info.not_after),
            view.days_left.unwrap_or_default()
        )),
        None => out.push_str(
            "In use: nothing; create a certificate with `cloudgate sp cert generate --apply`\n",
        ),
    }
    match &view.staged {
        Some(s) => out.push_str(&format!(
            "Staged successor: {} (rollover proof signed by the key in use){}\n",
            s.thumbprint,
            s.switch_at
                .as_ref()
                .map(|t| format!(", switches at {t}"))
                .unwrap_or_else(|| ", applied by hand".into())
        )),
        None => out.push_str("Staged successor: none\n"),
    }
    out.push_str(&format!(
        "Key changes published to tenants: {}\n",
        view.key_changes.len()
    ));
    for k in &view.key_changes {
        out.push_str(&format!(
            "  {}  {} -> {}  {}\n",
            k.at,
            &k.from_sha256[..16],
            &k.to_sha256[..16],
            if k.compromised {
                "compromised (tenants verify by hand)"
            } else if k.proof {
                "with rollover proof"
            } else {
                "without proof (tenants verify by hand)"
            }
        ));
    }
    let a = &view.adoption;
    out.push_str(&format!(
        "Enrolled: {} machine(s) of {} tenant(s); {} confirmed the certificate in use\n",
        a.machines, a.tenants, a.machines_confirmed_current
    ));
    if view.staged.is_some() {
        out.push_str(&format!(
            "{} of {} tenants have seen the successor ({} of {} machines); apply it once all have\n",
            a.tenants_seen_successor, a.tenants, a.machines_seen_successor, a.machines
        ));
    }
    print_text(&out)
}
