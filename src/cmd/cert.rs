//! `cloudgate sp cert list|show|current|apply|check|export|remove`.

use anyhow::Context as _;
use cloudgate_store::{CertStore, StoredCertificate};
use serde::Serialize;
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
        CertCommand::Stage { cert, at, json } => stage(&ctx.store_for_write()?, &cert, at, json),
        CertCommand::Renew {
            cert,
            valid_days,
            apply,
            json,
        } => renew(
            &ctx.store_for_write()?,
            cert.as_deref(),
            valid_days,
            apply,
            json,
        ),
        CertCommand::Check { cert, json } => check(&ctx.store_for_read(), cert.as_deref(), json),
        CertCommand::Export(args) => {
            let store = ctx.store_for_read();
            let entry = store.find(&args.cert)?;
            super::export::export(&store, &entry, &args)
        }
        CertCommand::Remove { cert, force, json } => {
            remove(&ctx.store_for_write()?, &cert, force, json)
        }
    }
}

/// `sp cert stage`: the successor, with a rollover proof signed by the key in use.
fn stage(
    store: &CertStore,
    cert: &str,
    at: Option<OffsetDateTime>,
    json: bool,
) -> anyhow::Result<()> {
    let successor = store.find(cert)?;
    if store.applied()?.is_none() {
        return Err(usage(
            "no certificate is in use: apply the successor directly with `cloudgate sp cert apply`",
        ));
    }
    if !successor.info.is_valid_at(OffsetDateTime::now_utc()) {
        return Err(usage(
            "the successor is not valid now; tenants would refuse it",
        ));
    }
    if at.is_some_and(|t| t < OffsetDateTime::now_utc()) {
        return Err(usage(
            "--at is in the past; apply the successor now with `cloudgate sp cert apply`",
        ));
    }
    let record = store.stage(&successor, at)?;
    if json {
        return print_json(&record);
    }
    print_text(&format!(
        "Staged {} as the successor, with a rollover proof signed by the key in use.\n\
                 Tenants learn it on their next connection; apply it with: cloudgate sp cert apply {}\n",
        successor.info.fingerprints.thumbprint(),
        successor.info.fingerprints.thumbprint()
    ))
}

/// `sp cert remove`.
fn remove(store: &CertStore, cert: &str, force: bool, json: bool) -> anyhow::Result<()> {
    let entry = store.find(cert)?;
    store.remove(&entry, force)?;
    if json {
        print_json(&cloudgate_sp::views::certificate(&entry))
    } else {
        print_text(&format!(
            "Removed {} ({}) from the store.{}\n",
            entry.info.fingerprints.thumbprint(),
            entry.meta.friendly_name,
            if entry.applied {
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
    if !entry.info.is_valid_at(now) {
        return Err(usage(format!(
            "certificate {} is not valid now (valid {} to {}); tenants would refuse it",
            entry.info.fingerprints.thumbprint(),
            cloudgate_pki::format_rfc3339(entry.info.not_before),
            cloudgate_pki::format_rfc3339(entry.info.not_after)
        )));
    }
    if !compromised {
        super::switch::confirm_switch(ctx, store, &entry, force)?;
    }
    let previous = if compromised {
        store.apply_compromised(&entry)
    } else {
        store.apply(&entry)
    }
    .with_context(|| {
        format!(
            "applying certificate {}",
            entry.info.fingerprints.thumbprint()
        )
    })?;
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

fn renew(
    store: &CertStore,
    cert: Option<&str>,
    valid_days: u32,
    apply: bool,
    json: bool,
) -> anyhow::Result<()> {
    let old = match cert {
        Some(c) => store.find(c)?,
        None => store
            .applied()?
            .ok_or_else(|| usage("no certificate is in use; name the certificate to renew"))?,
    };
    let entry = cloudgate_sp::certs::renew(
        store,
        &cloudgate_sp::certs::SelfSigned,
        &old,
        cloudgate_sp::certs::Lifetime::Days(valid_days),
        apply,
    )
    .with_context(|| format!("renewing {}", old.info.fingerprints.thumbprint()))?;
    if json {
        return print_json(&cloudgate_sp::views::certificate(&entry));
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

#[derive(Serialize)]
struct CheckReport {
    thumbprint: String,
    friendly_name: String,
    key_path: String,
    key_matches: bool,
    signature_valid: bool,
    valid_now: bool,
    days_left: i64,
    ok: bool,
    problems: Vec<String>,
}

fn check(store: &CertStore, cert: Option<&str>, json: bool) -> anyhow::Result<()> {
    let entry = match cert {
        Some(c) => store.find(c)?,
        None => store
            .applied()?
            .ok_or_else(|| usage("no certificate is in use; name the certificate to check"))?,
    };
    // Reading the key checks its mode and that it belongs to the certificate.
    drop(store.load_private_key(&entry)?);
    let info = &entry.info;
    let now = OffsetDateTime::now_utc();
    let mut problems = Vec::new();
    let signature_valid = !info.is_self_issued || info.verify_self_signature();
    if !signature_valid {
        problems.push("the self-signature does not verify".to_string());
    }
    let valid_now = info.is_valid_at(now);
    if !valid_now {
        problems.push(
            if now > info.not_after {
                "the certificate has expired"
            } else {
                "the certificate is not valid yet"
            }
            .into(),
        );
    }
    let report = CheckReport {
        thumbprint: info.fingerprints.thumbprint(),
        friendly_name: entry.meta.friendly_name.clone(),
        key_path: entry.key_path().display().to_string(),
        key_matches: true,
        signature_valid,
        valid_now,
        days_left: info.days_left(now),
        ok: problems.is_empty(),
        problems,
    };
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

#[derive(Serialize)]
struct StatusView {
    current: Option<CertificateView>,
    days_left: Option<i64>,
    staged: Option<StagedView>,
    key_changes: Vec<SwitchView>,
    adoption: super::switch::Adoption,
}

#[derive(Serialize)]
struct StagedView {
    thumbprint: String,
    sha256: String,
    #[serde(with = "time::serde::rfc3339::option")]
    switch_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    staged_at: OffsetDateTime,
}

#[derive(Serialize)]
struct SwitchView {
    from_sha256: String,
    to_sha256: String,
    proof: bool,
    compromised: bool,
    #[serde(with = "time::serde::rfc3339")]
    at: OffsetDateTime,
}

/// `sp cert status`: what is in use, what is staged, the published key changes, and adoption.
fn status(ctx: &Context, store: &CertStore, json: bool) -> anyhow::Result<()> {
    let current = store.applied()?;
    let history = store.rollover_history()?;
    let machines = super::switch::enrolled_machines(ctx)?;
    let current_sha = current.as_ref().map(|c| c.info.fingerprints.sha256_hex());
    let staged = history.staged.as_ref();
    let adoption = super::switch::adoption(
        &machines,
        current_sha.as_deref(),
        staged.map(|s| s.to_sha256.as_str()),
    );
    let view = StatusView {
        days_left: current
            .as_ref()
            .map(|c| c.info.days_left(OffsetDateTime::now_utc())),
        current: current.as_ref().map(cloudgate_sp::views::certificate),
        staged: staged.map(|s| StagedView {
            thumbprint: s.to_thumbprint.clone(),
            sha256: s.to_sha256.clone(),
            switch_at: s.switch_at,
            staged_at: s.staged_at,
        }),
        key_changes: history
            .switches
            .iter()
            .map(|s| SwitchView {
                from_sha256: s.from_sha256.clone(),
                to_sha256: s.to_sha256.clone(),
                proof: s.proof.is_some(),
                compromised: s.compromised,
                at: s.at,
            })
            .collect(),
        adoption,
    };
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
                .map(|t| format!(", switches at {}", cloudgate_pki::format_rfc3339(t)))
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
            cloudgate_pki::format_rfc3339(k.at),
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
