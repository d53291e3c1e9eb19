//! `cloudgate sp fleet init|publish|status|rotate-key`, and the publication that follows every
//! `sp cert` command changing the certificate in use.

use cloudgate_db::SharedRepository;
use cloudgate_sp::core::FleetKeyChange;
use cloudgate_sp::fleet::{self, FleetKey};
use cloudgate_store::fsio;

use crate::cli::{CertCommand, FleetCommand};
use crate::context::Context;
use crate::exit::usage;
use crate::render::report;

/// The previous key, kept while a rotation is under way.
fn old_key_path(ctx: &Context) -> std::path::PathBuf {
    ctx.layout.fleet_key_old()
}

/// The shared database; a fleet needs a server.
async fn shared_db(ctx: &Context) -> anyhow::Result<SharedRepository> {
    if ctx.database_url()?.is_none() {
        return Err(usage(
            "a fleet of gateways shares a PostgreSQL SP database: name it with --database, CLOUDGATE_DATABASE_URL or `database` in DATA_DIR/gateway.toml",
        ));
    }
    ctx.sp_db().await
}

/// The fleet key here, or how to get one.
fn this_key(ctx: &Context) -> anyhow::Result<FleetKey> {
    let path = ctx.layout.fleet_key();
    FleetKey::load(&path)?.ok_or_else(|| {
        usage(format!(
            "no fleet key at {}: run `cloudgate sp fleet init` on the SP host, or copy its fleet.key here",
            path.display()
        ))
    })
}

/// The keys to seal under: this one, and the old one while a rotation is under way.
pub fn sealing_keys(ctx: &Context, key: FleetKey) -> anyhow::Result<Vec<FleetKey>> {
    Ok(fleet::sealing_keys(&ctx.layout, key)?)
}

type FleetView = cloudgate_proto::admin::FleetStatus;

async fn view(
    ctx: &Context,
    db: &SharedRepository,
    published_now: bool,
) -> anyhow::Result<FleetView> {
    Ok(fleet::status(&ctx.store_for_read(), &**db, published_now).await?)
}

fn text(v: &FleetView) -> String {
    let mut out = match &v.key_id {
        Some(id) => format!(
            "Fleet key: {} (id {id}){}\n",
            v.key_file,
            if v.rotating {
                ", rotation under way"
            } else {
                ""
            }
        ),
        None => format!("Fleet key: none at {}\n", v.key_file),
    };
    match &v.published {
        Some(p) => out.push_str(&format!(
            "Published certificate: {} ({}), thumbprint {}\n  published {}, key sealed under {}{}\n",
            p.friendly_name,
            p.sha256,
            p.thumbprint,
            p.published_at,
            p.sealed_under.join(" and "),
            match p.same_as_store {
                Some(false) => "\n  Warning: this host's store has another certificate in use; `cloudgate sp fleet publish` publishes it",
                _ => "",
            }
        )),
        None => out.push_str("Published certificate: none yet (a certificate in use is published by `sp fleet publish` and every `sp cert` change).\n"),
    }
    if v.published_now {
        out.push_str("Published now: every gateway of the fleet serves it within 2 seconds.\n");
    }
    out
}

/// Publishes the store's certificate in use under `keys`, when there is one.
async fn publish_now(
    ctx: &Context,
    db: &SharedRepository,
    keys: &[FleetKey],
) -> anyhow::Result<bool> {
    let store = ctx.store_for_read();
    if store.applied_record()?.is_none() {
        return Ok(false);
    }
    let refs: Vec<&FleetKey> = keys.iter().collect();
    Ok(fleet::publish(&store, &**db, &refs).await?)
}

pub async fn run(ctx: &Context, cmd: FleetCommand) -> anyhow::Result<()> {
    match cmd {
        FleetCommand::Init { json } => {
            let path = ctx.layout.fleet_key();
            if path.exists() {
                return Err(usage(format!(
                    "{} exists: this SP has a fleet key already; `cloudgate sp fleet status` shows it, `cloudgate sp fleet rotate-key` replaces it",
                    path.display()
                )));
            }
            let db = shared_db(ctx).await?;
            let own = ctx.ownership()?;
            fsio::ensure_private_dir(ctx.layout.data_dir(), &own)?;
            let key = FleetKey::generate()?;
            key.save(&path, &own, false)?;
            let key_id = key.id();
            let published = publish_now(ctx, &db, &[key]).await?;
            ctx.sp()
                .await?
                .fleet_key_changed(FleetKeyChange::Created, &key_id, published)
                .await?;
            let v = view(ctx, &db, published).await?;
            let mut t = text(&v);
            t.push_str(&format!(
                "Copy {} to every gateway host's data directory (owner root, group cloudgate, mode 0640); a gateway on this database without it refuses to start.\n",
                v.key_file
            ));
            report(json, &v, &t)
        }
        FleetCommand::Publish { json } => {
            shared_db(ctx).await?;
            // Said first, with what to copy or run, when there is no key here.
            this_key(ctx)?;
            let v = ctx.sp().await?.fleet_publish().await?;
            let published = v.published_now;
            let mut t = text(&v);
            if !published {
                t.push_str(
                    "Nothing to publish: the gateways serve the certificate in use already.\n",
                );
            }
            report(json, &v, &t)
        }
        FleetCommand::Status { json } => {
            let db = shared_db(ctx).await?;
            let v = view(ctx, &db, false).await?;
            report(json, &v, &text(&v))
        }
        FleetCommand::RotateKey { finish, json } => rotate(ctx, finish, json).await,
    }
}

async fn rotate(ctx: &Context, finish: bool, json: bool) -> anyhow::Result<()> {
    let db = shared_db(ctx).await?;
    let current = this_key(ctx)?;
    let own = ctx.ownership()?;
    let old_path = old_key_path(ctx);
    if finish {
        if !old_path.exists() {
            return Err(usage(
                "no rotation is under way: `cloudgate sp fleet rotate-key` starts one",
            ));
        }
        let key_id = current.id();
        let published = publish_now(ctx, &db, &[current]).await?;
        std::fs::remove_file(&old_path)
            .map_err(|e| anyhow::anyhow!("removing {}: {e}", old_path.display()))?;
        ctx.sp()
            .await?
            .fleet_key_changed(FleetKeyChange::RotationFinished, &key_id, published)
            .await?;
        let v = view(ctx, &db, published).await?;
        let mut t = text(&v);
        t.push_str(
            "Rotation finished: the certificate's key is sealed under the new fleet key only.\n",
        );
        return report(json, &v, &t);
    }
    if old_path.exists() {
        return Err(usage(format!(
            "a rotation is under way ({} exists): copy the new fleet.key to every gateway host, then run `cloudgate sp fleet rotate-key --finish`",
            old_path.display()
        )));
    }
    let keys = vec![FleetKey::generate()?, current];
    // The old key is kept first, so that nothing is lost whatever step fails.
    keys[1].save(&old_path, &own, false)?;
    let published = match publish_now(ctx, &db, &keys).await {
        Ok(p) => p,
        Err(e) => {
            let _ = std::fs::remove_file(&old_path);
            return Err(e);
        }
    };
    // Sealed under both now: the new key takes the old one's place.
    keys[0].save(&ctx.layout.fleet_key(), &own, true)?;
    ctx.sp()
        .await?
        .fleet_key_changed(FleetKeyChange::RotationStarted, &keys[0].id(), published)
        .await?;
    let v = view(ctx, &db, published).await?;
    let mut t = text(&v);
    t.push_str(&format!(
        "New fleet key written to {}; the old one is kept as {} until the rotation is finished.\nCopy the new key to every gateway host, then run `cloudgate sp fleet rotate-key --finish`.\n",
        v.key_file,
        old_path.display()
    ));
    report(json, &v, &t)
}

/// Whether an `sp cert` command may change the certificate in use or the rollover record.
pub fn changes_certificate(cmd: &CertCommand) -> bool {
    matches!(
        cmd,
        CertCommand::Generate(_)
            | CertCommand::Import(_)
            | CertCommand::Manage
            | CertCommand::Acme(_)
            | CertCommand::Stage { .. }
            | CertCommand::Renew { .. }
            | CertCommand::Apply { .. }
    )
}

/// After an `sp cert` command that may have changed the certificate in use: with a fleet (a
/// server database and a fleet key here), publish it. Said on stderr, so JSON on stdout stays
/// one document.
pub async fn publish_after(ctx: &Context) -> anyhow::Result<()> {
    if ctx.database_url()?.is_none() {
        return Ok(());
    }
    let Some(key) = FleetKey::load(&ctx.layout.fleet_key())? else {
        eprintln!(
            "Note: the SP database is shared, but there is no fleet key here ({}): the gateways keep serving what was published before; `cloudgate sp fleet init` creates the key and publishes.",
            ctx.layout.fleet_key().display()
        );
        return Ok(());
    };
    let db = ctx.sp_db().await?;
    let keys = sealing_keys(ctx, key)?;
    if publish_now(ctx, &db, &keys).await? {
        eprintln!("Published to the fleet: every gateway serves it within 2 seconds.");
    }
    Ok(())
}
