//! `cloudgate`: the command line. Parses arguments, runs one command, maps its error to the
//! documented exit code. All logic lives in the library crates.

#![forbid(unsafe_code)]

mod cli;
mod clipboard;
mod cmd;
mod context;
mod exit;
mod input;
mod render;

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    init_tracing(args.global.verbose);
    match cmd::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if exit::is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("cloudgate: {err:#}");
            exit::code_for(&err).into()
        }
    }
}

/// Logs go to stderr: warnings by default, more with `-v`/`-vv`; `CLOUDGATE_LOG` overrides.
fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("CLOUDGATE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}
