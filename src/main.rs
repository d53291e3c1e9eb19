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

/// Every freed block is wiped: secrets in buffers that hyper and rustls own and free (a
/// tenant's `Authorization` header, decrypted records) do not linger in memory.
#[global_allocator]
static ALLOCATOR: cloudgate_alloc::ZeroOnFree = cloudgate_alloc::ZeroOnFree;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    let daemon = matches!(args.command, cli::Command::Sp(cli::SpCommand::Gateway(_)));
    init_tracing(args.global.verbose, args.global.log_format, daemon);
    match cmd::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if exit::is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("cloudgate: {}", exit::message(&err));
            exit::code_for(&err).into()
        }
    }
}

/// Logs go to stderr: warnings by default (information for the gateway daemon), more with
/// `-v`/`-vv`; `CLOUDGATE_LOG` overrides; `--log-format json` for one object per line.
fn init_tracing(verbose: u8, format: cli::LogFormat, daemon: bool) {
    // Libraries (rustls, hyper) speak only of errors by default: their warnings are about a
    // peer's behaviour, which our own messages already explain in the user's terms.
    let default = match (verbose, daemon) {
        (0, false) => "error,cloudgate=warn",
        (0, true) => "error,cloudgate=info",
        (1, _) => "warn,cloudgate=info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("CLOUDGATE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(ansi);
    match format {
        cli::LogFormat::Text => builder.init(),
        cli::LogFormat::Json => builder.json().init(),
    }
}
