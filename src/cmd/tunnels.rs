//! `cloudgate tenant tunnels run`: the tenant side as a service.

use std::path::{Path, PathBuf};

use cloudgate_tenant::{Supervisor, TenantPaths, TunnelsConfig};

use crate::context::Context;
use crate::exit::usage;
use crate::input::read_input_file;

fn load(path: &Path) -> anyhow::Result<TunnelsConfig> {
    let bytes = read_input_file(path, "tunnels configuration")?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| usage(format!("{} is not UTF-8 text", path.display())))?;
    TunnelsConfig::parse(text).map_err(|e| usage(format!("{}: {e}", path.display())))
}

pub async fn run(
    ctx: &Context,
    config: Option<PathBuf>,
    metrics: Option<String>,
    json: bool,
) -> anyhow::Result<()> {
    let path = config.unwrap_or_else(|| ctx.layout.tunnels_config());
    if !path.exists() {
        return Err(usage(format!(
            "{} does not exist; write the tunnels there (see `cloudgate tenant tunnels run --help`) or pass --config FILE",
            path.display()
        )));
    }
    let first = load(&path)?;
    let metrics_addr = metrics
        .map(|m| {
            cloudgate_addr::parse_listen(&m, cloudgate_addr::LOOPBACK)
                .map_err(|e| usage(format!("--metrics: {e}")))
        })
        .transpose()?;
    for (spec, addr) in &first.tunnels {
        if !addr.ip().is_loopback() {
            crate::render::warn(&format!(
                "tunnel {}/{} listens on {addr}, not on a loopback address: anyone who reaches this machine on that network reaches it as your tenant",
                spec.provider, spec.service
            ));
        }
    }
    let mut supervisor = Supervisor::new(TenantPaths::new(ctx.layout.clone()));
    let status = match metrics_addr {
        Some(a) => Some(cloudgate_tenant::serve_status(a, supervisor.statuses()).await?),
        None => None,
    };
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    supervisor.apply(&first).await;
    let started = serde_json::json!({
        "event": "running",
        "config": path.display().to_string(),
        "tunnels": first.tunnels.len(),
        "metrics": status.as_ref().map(|(a, _)| a.to_string()),
    });
    crate::render::report_line(
        json,
        &started,
        &format!(
            "cloudgate tunnels running: {} tunnel(s) from {}{}\n",
            first.tunnels.len(),
            path.display(),
            status
                .as_ref()
                .map(|(a, _)| format!("; health and metrics on http://{a}/"))
                .unwrap_or_default()
        ),
    )?;
    loop {
        tokio::select! {
            _ = hup.recv() => match load(&path) {
                Ok(next) => {
                    let (started, stopped) = supervisor.apply(&next).await;
                    tracing::info!(started, stopped, "SIGHUP: configuration reloaded");
                }
                Err(e) => tracing::error!("SIGHUP: {e:#}; the running tunnels are kept"),
            },
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    tracing::info!("stopping the tunnels");
    supervisor.shutdown().await;
    Ok(())
}
