//! `cloudgate sp gateway run`.

use std::time::Duration;

use anyhow::Context as _;
use cloudgate_gateway::{Gateway, GatewayConfig, SharedState};
use cloudgate_sp::fleet::FleetKey;
use cloudgate_sp::settings::config::{check_fleet_name, parse_listen, parse_public_address};

use crate::cli::GatewayRunArgs;
use crate::context::Context;
use crate::exit::usage;

fn config(ctx: &Context, args: &GatewayRunArgs) -> anyhow::Result<GatewayConfig> {
    let mut config = GatewayConfig::default();
    let default_file = ctx.layout.gateway_config();
    let file = args
        .config
        .clone()
        .or_else(|| default_file.exists().then_some(default_file));
    if let Some(path) = &file {
        let text = cloudgate_sp::settings::public_address::read_config(path)
            .map_err(|e| usage(e.to_string()))?;
        config = config
            .merge_toml(&text)
            .map_err(|e| usage(format!("{}: {e}", path.display())))?;
    }
    if let Some(l) = &args.listen {
        config.listen = parse_listen(l).map_err(|e| usage(e.to_string()))?;
    }
    if let Some(a) = &args.public_address {
        config.public_address =
            Some(parse_public_address(a).map_err(|e| usage(format!("--public-address: {e}")))?);
    }
    if let Some(id) = &args.id {
        check_fleet_name("id", id).map_err(|e| usage(format!("--id: {e}")))?;
        config.id = Some(id.clone());
    }
    if let Some(pool) = &args.pool {
        check_fleet_name("pool", pool).map_err(|e| usage(format!("--pool: {e}")))?;
        config.pool = pool.clone();
    }
    if let Some(n) = args.max_connections {
        config.max_connections = n as usize;
    }
    if let Some(n) = args.max_connections_per_address {
        config.max_connections_per_address = n as usize;
    }
    if let Some(s) = args.handshake_timeout {
        config.handshake_timeout = Duration::from_secs(s);
    }
    if let Some(s) = args.idle_timeout {
        config.idle_timeout = Duration::from_secs(s);
    }
    if let Some(s) = args.reload_interval {
        config.reload_interval = Duration::from_secs(s);
    }
    if let Some(m) = &args.metrics {
        config.metrics = Some(parse_listen(m).map_err(|e| usage(e.to_string()))?);
    }
    if args.metrics_per_tenant {
        config.metrics_per_tenant = true;
    }
    if let Some(d) = args.auto_renew {
        config.auto_renew_days = Some(d);
    }
    if args.acme_renew {
        config.acme_renew = true;
    }
    if let Some(d) = args.acme_renew_before {
        config.acme_renew_before_days = Some(d);
    }
    if let Some(s) = args.drain_timeout {
        config.drain_timeout = Duration::from_secs(s);
    }
    Ok(config)
}

/// Refuses a data directory that others may write (or enter and list, when it is open to
/// everyone): what it holds decides whom the gateway trusts.
fn refuse_open_data_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let Ok(meta) = std::fs::metadata(dir) else {
        return Ok(());
    };
    let mode = meta.permissions().mode() & 0o7777;
    if let Some(writers) = cloudgate_store::owner::other_writers(mode) {
        return Err(usage(format!(
            "the data directory {} is writable by {writers} (mode {mode:04o}); make it the owner's: chmod 0750 {}",
            dir.display(),
            dir.display()
        )));
    }
    Ok(())
}

pub async fn run(ctx: &Context, args: Box<GatewayRunArgs>) -> anyhow::Result<()> {
    let mut config = config(ctx, &args)?;
    let store = ctx.store_for_write()?;
    let db = ctx.sp_db().await?;
    let state = if ctx.database_url()?.is_some() {
        // A gateway of a fleet serves the certificate published to the shared database.
        let path = ctx.layout.fleet_key();
        // A fleet host may have no store, whose loading checks the data directory; the fleet
        // key and gateway.toml live here, so the same rule holds without one.
        refuse_open_data_dir(ctx.layout.data_dir())?;
        let key = FleetKey::load(&path)?.ok_or_else(|| {
            usage(format!(
                "this gateway uses the shared SP database at {}, where the certificate every gateway serves is published with its key sealed under the fleet key, and there is no fleet key at {}: copy fleet.key from the host where `cloudgate sp fleet init` ran (owner root, group cloudgate, mode 0640)",
                db.location(),
                path.display()
            ))
        })?;
        if (config.auto_renew_days.is_some() || config.acme_renew)
            && store.applied_record()?.is_none()
        {
            config.auto_renew_days = None;
            config.acme_renew = false;
            tracing::warn!(
                "auto-renew is off for this gateway of a fleet: it has no SP store; run the gateway where the store is with --auto-renew (it renews and publishes for every gateway), or renew there with `cloudgate sp cert renew --apply`"
            );
        }
        SharedState::load_fleet(store, db, key, path).await
    } else {
        SharedState::load(store, db).await
    }
    .context("loading the gateway state")?;
    let console = match &args.console {
        Some(listen) => Some(
            super::console::prepare(ctx, listen, args.console_public)
                .await
                .map_err(|e| e.context("--console"))?,
        ),
        None => None,
    };
    let gateway = Gateway::bind(config, state.clone()).await?;
    let addr = gateway.local_addr()?;
    let cert = &state.current().cert;
    // Which scheduler serves the tunnels (one thread when the process may use one CPU): an
    // operator who pinned the gateway to a CPU sees that it noticed.
    let runtime = tokio::runtime::Handle::current();
    let scheduler = match runtime.runtime_flavor() {
        tokio::runtime::RuntimeFlavor::CurrentThread => "one thread",
        _ => "multi-thread",
    };
    tracing::info!(
        listen = %addr,
        thumbprint = %cert.fingerprints.thumbprint(),
        sha256 = %cert.fingerprints.sha256_colons(),
        scheduler,
        workers = runtime.metrics().num_workers(),
        "gateway listening"
    );
    let reload = gateway.reload_handle();
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            reload.notify_one();
        }
    });
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let shutdown = Box::pin(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
        }
    });
    // Signal handlers are in place before the address is announced, so a SIGHUP right after
    // start reloads instead of killing. One line on stdout so scripts (and tests using port 0) learn the address.
    let console_addr = console.as_ref().map(|c| c.addr.to_string());
    let started = serde_json::json!({
        "event": "listening",
        "listen": addr.to_string(),
        "thumbprint": cert.fingerprints.thumbprint(),
        "sha256": cert.fingerprints.sha256_hex(),
        "console": console_addr,
    });
    crate::render::report_line(
        args.json,
        &started,
        &format!(
            "cloudgate gateway listening on {addr} with certificate {}\n{}",
            cert.fingerprints.thumbprint(),
            console_addr
                .as_ref()
                .map(|a| format!("console on https://{a}/\n"))
                .unwrap_or_default()
        ),
    )?;
    let console = console.map(|c| {
        tracing::info!(listen = %c.addr, "console listening");
        tokio::spawn(c.server.serve(std::future::pending()))
    });
    let ran = gateway.run(shutdown).await;
    if let Some(c) = console {
        c.abort();
    }
    ran?;
    Ok(())
}

/// `cloudgate sp gateway address [ADDRESS]`.
pub async fn address(ctx: &Context, new: Option<String>, json: bool) -> anyhow::Result<()> {
    let value = match new {
        Some(a) => ctx.sp().await?.set_public_address(&a).await?,
        None => {
            let (public_address, configured) =
                cloudgate_sp::settings::effective_public_address(&ctx.layout)?;
            cloudgate_proto::admin::PublicAddress {
                public_address,
                source: if configured {
                    "configured"
                } else {
                    "host name"
                }
                .to_string(),
                config: ctx.layout.gateway_config().display().to_string(),
            }
        }
    };
    let address = &value.public_address;
    let text = if value.source == "configured" {
        format!("Tenants reach this gateway at {address}.\n")
    } else {
        format!(
            "No public address is set; tenants are told this host's name, {address}. Set it with `cloudgate sp gateway address HOST[:PORT]`.\n"
        )
    };
    crate::render::report(json, &value, &text)
}
