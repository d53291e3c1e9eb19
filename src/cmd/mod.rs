//! One module per command group; each command gathers its data and hands it to the renderer.

/// Items of the SP side, compiled only with the `sp` feature (the tenant-only build has none).
macro_rules! sp_side {
    ($($item:item)*) => { $( #[cfg(feature = "sp")] $item )* };
}

sp_side! {
    mod acme;
    mod admin;
    mod audit;
    mod cert;
    mod console;
    mod db;
    mod demo;
    mod export;
    mod fleet;
    mod fleet_key;
    mod gateway;
    pub mod generate;
    pub mod import;
    mod license;
    mod maintenance;
    mod manage;
    mod switch;
    mod tenant;
    pub mod token;
    mod usage;
    use crate::cli::{CertCommand, GatewayCommand, SpCommand};
}
pub mod provider;
mod tunnels;
mod verify;

use crate::cli::{Cli, Command};
use crate::context::Context;

/// Runs the parsed command.
pub fn run(args: Cli) -> anyhow::Result<()> {
    match args.command {
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut crate::cli::command_for_completion(),
                "cloudgate",
                &mut std::io::stdout(),
            );
            Ok(())
        }
        Command::Man { markdown: true, .. } => {
            use std::io::Write as _;
            let text = crate::manual::markdown::reference(crate::cli::command());
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())?;
            out.flush()?;
            Ok(())
        }
        Command::Man { dir: None, .. } => {
            let pages = crate::manual::pages(crate::cli::command())?;
            crate::render::print_text(&String::from_utf8_lossy(&pages[0].1))
        }
        Command::Man { dir: Some(dir), .. } => {
            let written = crate::manual::write_all(crate::cli::command(), &dir)?;
            eprintln!("Wrote {} manual pages to {}.", written.len(), dir.display());
            Ok(())
        }
        Command::Tenant(cmd) => {
            let ctx = Context::for_side(&args.global, crate::context::Side::Tenant)?;
            runtime()?.block_on(provider::run(&ctx, cmd))
        }
        #[cfg(feature = "sp")]
        Command::Demo => runtime()?.block_on(demo::run()),
        #[cfg(feature = "sp")]
        Command::Sp(sp) => {
            let ctx = Context::new(&args.global)?;
            let done = run_sp(&ctx, sp);
            // What the command changed is audited whether it then succeeded or not.
            let audited = runtime()?.block_on(ctx.finish_audit());
            done.and(audited)
        }
    }
}

/// Runs an `sp` command.
#[cfg(feature = "sp")]
fn run_sp(ctx: &Context, sp: SpCommand) -> anyhow::Result<()> {
    match sp {
        SpCommand::License(cmd) => runtime()?.block_on(license::run(ctx, cmd)),
        SpCommand::Tenant(cmd) => runtime()?.block_on(tenant::run(ctx, cmd)),
        SpCommand::Db(cmd) => runtime()?.block_on(db::run(ctx, cmd)),
        SpCommand::Gateway(GatewayCommand::Run(run_args)) => {
            gateway_runtime()?.block_on(gateway::run(ctx, run_args))
        }
        SpCommand::Gateway(GatewayCommand::List { json }) => {
            runtime()?.block_on(fleet::list(ctx, json))
        }
        SpCommand::Gateway(GatewayCommand::Forget { id, json }) => {
            runtime()?.block_on(fleet::forget(ctx, &id, json))
        }
        SpCommand::Gateway(GatewayCommand::Address { address, json }) => {
            runtime()?.block_on(gateway::address(ctx, address, json))
        }
        SpCommand::Fleet(cmd) => runtime()?.block_on(fleet_key::run(ctx, cmd)),
        SpCommand::Admin(cmd) => runtime()?.block_on(admin::run(ctx, cmd)),
        SpCommand::Audit(cmd) => runtime()?.block_on(audit::run(ctx, cmd)),
        SpCommand::Maintenance(cmd) => runtime()?.block_on(maintenance::run(ctx, cmd)),
        SpCommand::Console(args) => runtime()?.block_on(console::run(ctx, args)),
        SpCommand::Cert(cmd) => {
            let changes = fleet_key::changes_certificate(&cmd);
            match cmd {
                CertCommand::Generate(gen_args) => generate::run(ctx, gen_args),
                CertCommand::Manage => manage::run(ctx),
                CertCommand::Import(import_args) => import::run(ctx, import_args),
                CertCommand::Acme(acme_cmd) => runtime()?.block_on(acme::run(ctx, acme_cmd)),
                cmd => cert::run(ctx, cmd),
            }?;
            if changes {
                runtime()?.block_on(fleet_key::publish_after(ctx))?;
            }
            Ok(())
        }
    }
}

/// The async runtime for the commands that talk to the database or the network.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// The gateway daemon's runtime: one thread when the process may use one CPU only (a one-CPU
/// machine, or a CPU set such as `taskset -c 0` or a container's limit), where a work-stealing
/// scheduler would run one worker and only add its bookkeeping to every task; the
/// multi-threaded one otherwise. Blocking work (password hashes, the store) goes to the
/// blocking pool either way.
#[cfg(feature = "sp")]
fn gateway_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    if cpus > 1 {
        return runtime();
    }
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}
