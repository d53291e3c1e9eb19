//! One module per command group; each command gathers its data and hands it to the renderer.

mod cert;
mod demo;
mod gateway;
pub mod generate;
pub mod import;
mod license;
mod manage;
pub mod provider;
mod switch;
mod tenant;

use clap::CommandFactory as _;

use crate::cli::{CertCommand, Cli, Command, GatewayCommand, SpCommand};
use crate::context::Context;

/// Runs the parsed command.
pub fn run(args: Cli) -> anyhow::Result<()> {
    match args.command {
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "cloudgate",
                &mut std::io::stdout(),
            );
            Ok(())
        }
        Command::Man => {
            clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout())?;
            Ok(())
        }
        Command::Tenant(cmd) => {
            let ctx = Context::new(&args.global)?;
            runtime()?.block_on(provider::run(&ctx, cmd))
        }
        Command::Demo => runtime()?.block_on(demo::run()),
        Command::Sp(sp) => {
            let ctx = Context::new(&args.global)?;
            match sp {
                SpCommand::License(cmd) => license::run(&ctx, cmd),
                SpCommand::Tenant(cmd) => runtime()?.block_on(tenant::run(&ctx, cmd)),
                SpCommand::Gateway(GatewayCommand::Run(run_args)) => {
                    runtime()?.block_on(gateway::run(&ctx, run_args))
                }
                SpCommand::Gateway(GatewayCommand::Address { address, json }) => {
                    gateway::address(&ctx, address, json)
                }
                SpCommand::Cert(CertCommand::Generate(gen_args)) => generate::run(&ctx, gen_args),
                SpCommand::Cert(CertCommand::Manage) => manage::run(&ctx),
                SpCommand::Cert(CertCommand::Import(import_args)) => import::run(&ctx, import_args),
                SpCommand::Cert(cmd) => cert::run(&ctx, cmd),
            }
        }
    }
}

/// The async runtime for the commands that talk to the database or the network.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
