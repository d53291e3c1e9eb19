//! Before the SP breaks its tenants, on the command line: the refusal (or the question on a
//! terminal) before a switch that would make enrolled machines verify by hand. What a switch
//! means and how far tenants adopted live in [`cloudgate_sp::switch`].

use cloudgate_db::ClientCertRecord;
pub use cloudgate_sp::switch::{SwitchImpact, impact};
use cloudgate_store::{CertStore, StoredCertificate};

use crate::context::Context;
use crate::exit::usage;
use crate::input::interactive;

/// Every enrolled machine, without creating the SP database when there is none yet.
pub fn enrolled_machines(ctx: &Context) -> anyhow::Result<Vec<ClientCertRecord>> {
    if !ctx.layout.sp_database().exists() {
        return Ok(Vec::new());
    }
    super::runtime()?.block_on(async { Ok(ctx.sp_db().await?.all_client_certs().await?) })
}

fn tenant_count(machines: &[ClientCertRecord]) -> usize {
    let mut tenants: Vec<&str> = machines.iter().map(|m| m.tenant.as_str()).collect();
    tenants.sort_unstable();
    tenants.dedup();
    tenants.len()
}

/// Refuses (exit 2) to put into use a certificate with a new key and no proof while machines
/// are enrolled, unless `force` or the user confirms on a terminal; says how many would have to
/// re-verify and offers the rollover instead. `--compromised` switches are meant to break trust
/// and are not asked about.
pub fn confirm_switch(
    ctx: &Context,
    store: &CertStore,
    entry: &StoredCertificate,
    force: bool,
) -> anyhow::Result<()> {
    if force || impact(store, entry)? != SwitchImpact::ManualReverify {
        return Ok(());
    }
    let machines = enrolled_machines(ctx)?;
    if machines.is_empty() {
        return Ok(());
    }
    let thumb = entry.info.fingerprints.thumbprint();
    let what = format!(
        "certificate {thumb} has a new key and was not staged: {} enrolled machine(s) of {} tenant(s) pinned the key in use and would all have to verify the new certificate by hand",
        machines.len(),
        tenant_count(&machines)
    );
    let instead = format!(
        "to let them follow without asking, stage it first (`cloudgate sp cert stage {thumb}`), wait until `cloudgate sp cert status` shows they have seen it, then apply it"
    );
    if interactive() {
        eprintln!("Warning: {what}.\nInstead, {instead}.");
        let go = inquire::Confirm::new("Put it into use anyway?")
            .with_default(false)
            .prompt()
            .unwrap_or(false);
        if go {
            return Ok(());
        }
        return Err(usage(format!(
            "not applied; {instead}; nothing else was changed"
        )));
    }
    Err(usage(format!(
        "refusing to apply: {what}. Instead, {instead}; or pass --force to switch anyway"
    )))
}

/// Puts `entry` into use through the SP core, once [`confirm_switch`] asked or was told
/// `--force`: the core checks the same rules again, switches, writes the one audit entry (saying
/// when a warning was overridden) and publishes to the fleet, which is said on stderr.
pub async fn apply_through_core(
    ctx: &Context,
    entry: &mut StoredCertificate,
) -> anyhow::Result<Option<cloudgate_store::AppliedRecord>> {
    let sp = ctx.sp().await?;
    let previous = sp.store().applied_record()?;
    let applied = sp
        .apply(&entry.info.fingerprints.sha256_hex(), true)
        .await?;
    said_published(applied.published);
    entry.applied = true;
    Ok(previous)
}

/// [`apply_through_core`] for a command that runs no async runtime of its own.
pub fn apply_through_core_blocking(
    ctx: &Context,
    entry: &mut StoredCertificate,
) -> anyhow::Result<Option<cloudgate_store::AppliedRecord>> {
    super::runtime()?.block_on(apply_through_core(ctx, entry))
}

/// Says on stderr (so JSON on stdout stays one document) that the fleet's gateways got it.
pub fn said_published(published: bool) {
    if published {
        eprintln!("Published to the fleet: every gateway serves it within 2 seconds.");
    }
}
