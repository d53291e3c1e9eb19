//! `cloudgate sp console`, and the console inside `sp gateway run --console ADDR`: the web
//! console and REST API over HTTPS with the certificate in use.

use std::net::SocketAddr;

use anyhow::Context as _;
use cloudgate_console::CurrentCertificate;

use crate::cli::ConsoleArgs;
use crate::context::Context;
use crate::exit::usage;

/// A console bound to its address, ready to serve.
pub struct Prepared {
    /// The server.
    pub server: cloudgate_console::ConsoleServer,
    /// Where it listens.
    pub addr: SocketAddr,
    /// The thumbprint of the certificate it serves.
    pub thumbprint: String,
}

/// Checks the address (loopback unless `public`), loads the certificate in use and binds.
pub async fn prepare(ctx: &Context, listen: &str, public: bool) -> anyhow::Result<Prepared> {
    let listen: SocketAddr = listen.parse().map_err(|_| {
        usage(format!(
            "--listen {listen:?} is not an address such as 127.0.0.1:6181 or [::1]:6181"
        ))
    })?;
    if !listen.ip().is_loopback() && !public {
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
    let served = CurrentCertificate::load(store.clone())?;
    let db = ctx.sp_db().await?;
    let fleet_keys = if ctx.database_url()?.is_some() {
        cloudgate_sp::fleet::local_sealing_keys(&ctx.layout)?
    } else {
        Vec::new()
    };
    let console =
        cloudgate_console::Console::new(store, db.clone(), fleet_keys, Some(served.clone()));
    let server = cloudgate_console::ConsoleServer::bind(listen, served, console)
        .await
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AddrInUse {
                anyhow::anyhow!(
                    "{listen} is in use by another program; choose another with --listen"
                )
            } else {
                anyhow::anyhow!(
                    "cannot listen on {listen}: {e}; choose another address with --listen"
                )
            }
        })?;
    let addr = server
        .local_addr()
        .context("reading the console's address")?;
    if db.admins().await?.is_empty() {
        crate::render::warn(
            "there is no administrator yet: add one with `cloudgate sp admin add NAME` to log in",
        );
    }
    Ok(Prepared {
        server,
        addr,
        thumbprint: current.info.fingerprints.thumbprint(),
    })
}

/// Runs the console until SIGINT or SIGTERM.
pub async fn run(ctx: &Context, args: ConsoleArgs) -> anyhow::Result<()> {
    let console = prepare(ctx, &args.listen, args.public).await?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let shutdown = async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    };
    let (addr, thumbprint) = (console.addr, console.thumbprint.clone());
    crate::render::report_line(
        args.json,
        &serde_json::json!({ "event": "listening", "listen": addr.to_string(), "url": format!("https://{addr}/"), "thumbprint": thumbprint }),
        &format!(
            "cloudgate console on https://{addr}/ (certificate {thumbprint}: the browser shows this thumbprint)\n"
        ),
    )?;
    console.server.serve(shutdown).await?;
    Ok(())
}
