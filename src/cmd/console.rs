//! `cloudgate sp console`: the web console and REST API, over HTTPS with the certificate in use.

use std::net::SocketAddr;

use anyhow::Context as _;
use cloudgate_sp::fleet::FleetKey;

use crate::cli::ConsoleArgs;
use crate::context::Context;
use crate::exit::usage;

/// Runs the console until SIGINT or SIGTERM.
pub async fn run(ctx: &Context, args: ConsoleArgs) -> anyhow::Result<()> {
    let listen: SocketAddr = args.listen.parse().map_err(|_| {
        usage(format!(
            "--listen {:?} is not an address such as 127.0.0.1:6181 or [::1]:6181",
            args.listen
        ))
    })?;
    if !listen.ip().is_loopback() && !args.public {
        return Err(usage(format!(
            "refusing to serve the console on {listen}, which is not a loopback address: the console changes what every tenant trusts, and its login page should not face the internet. Reach it through an SSH tunnel (ssh -L 6181:127.0.0.1:6181 THIS_HOST), or pass --public to listen there anyway"
        )));
    }
    let store = ctx.store_for_write()?;
    let Some(current) = store.applied()? else {
        return Err(usage(
            "no certificate is in use, and the console serves HTTPS with it: create one first (`cloudgate sp cert generate --apply` or `cloudgate sp cert manage`)",
        ));
    };
    let key = store.load_private_key(&current)?;
    let mut chain = vec![current.info.der.clone()];
    chain.extend(current.chain.iter().cloned());
    let tls = cloudgate_console::tls_config(chain, &key)?;
    drop(key);
    let db = ctx.sp_db().await?;
    let fleet_keys = if ctx.database_url()?.is_some() {
        match FleetKey::load(&ctx.layout.fleet_key())? {
            Some(k) => super::fleet_key::sealing_keys(ctx, k)?,
            None => Vec::new(),
        }
    } else {
        Vec::new()
    };
    let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            anyhow::anyhow!("{listen} is in use by another program; choose another with --listen")
        } else {
            anyhow::anyhow!("cannot listen on {listen}: {e}; choose another address with --listen")
        }
    })?;
    let addr = listener
        .local_addr()
        .context("reading the console's address")?;
    let console = cloudgate_console::Console::new(store, db, fleet_keys);
    let app = cloudgate_console::router(console);
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let shutdown = async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    };
    let thumbprint = current.info.fingerprints.thumbprint();
    crate::render::report_line(
        args.json,
        &serde_json::json!({ "event": "listening", "listen": addr.to_string(), "url": format!("https://{addr}/"), "thumbprint": thumbprint }),
        &format!(
            "cloudgate console on https://{addr}/ (certificate {thumbprint}: the browser shows this thumbprint)\n"
        ),
    )?;
    cloudgate_console::serve(listener, tls, app, shutdown).await;
    Ok(())
}
