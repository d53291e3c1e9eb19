//! `cloudgate`: the command line. Parses arguments, runs one command, maps its error to the
//! documented exit code. All logic lives in the library crates.

#![forbid(unsafe_code)]
// The tenant-only build (without the `sp` feature) leaves the SP side's helpers unused.
#![cfg_attr(not(feature = "sp"), allow(dead_code, unused_imports))]

mod cli;
mod clipboard;
mod cmd;
mod context;
mod exit;
mod input;
mod line_edit;
mod log_batch;
mod manual;
#[cfg(feature = "sp")]
mod public_address;
mod render;

use std::process::ExitCode;

/// Every freed block is wiped: secrets in buffers that hyper and rustls own and free (a
/// tenant's `Authorization` header, decrypted records) do not linger in memory.
#[global_allocator]
static ALLOCATOR: cloudgate_alloc::ZeroOnFree = cloudgate_alloc::ZeroOnFree;

fn main() -> ExitCode {
    // Large blocks (argon2's work area, state loads) go back to the system when freed.
    cloudgate_alloc::return_large_blocks();
    // With --json anywhere, errors are JSON too (on stdout, where the script reads), besides
    // the line for people on stderr.
    let json = std::env::args_os().any(|a| a == "--json");
    let parsed = cli::command()
        .try_get_matches()
        .and_then(|m| <cli::Cli as clap::FromArgMatches>::from_arg_matches(&m));
    let args = match parsed {
        Ok(args) => args,
        Err(e) if json && e.use_stderr() => {
            let rendered = e.render().to_string();
            let message = rendered
                .trim_start_matches("error: ")
                .split("\n\n")
                .next()
                .unwrap_or_default()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            print_json_error("usage", &message, exit::USAGE);
            let _ = e.print();
            return ExitCode::from(exit::USAGE);
        }
        Err(e) => e.exit(),
    };
    let daemon = match &args.command {
        #[cfg(feature = "sp")]
        cli::Command::Sp(cli::SpCommand::Gateway(cli::GatewayCommand::Run(_))) => true,
        cli::Command::Tenant(cli::TenantSideCommand::Tunnels(_)) => true,
        _ => false,
    };
    let log = match init_tracing(args.global.verbose, args.global.log_format, daemon) {
        Ok(log) => log,
        Err(message) => {
            if json {
                print_json_error("usage", &message, exit::USAGE);
            }
            eprintln!("cloudgate: {}", render::terminal_safe(&message));
            return ExitCode::from(exit::USAGE);
        }
    };
    let outcome = cmd::run(args);
    // The daemon's last log lines are written before its last word.
    drop(log);
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if exit::is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            let message = exit::message(&err);
            let code = exit::code_for(&err);
            if json {
                print_json_error(exit::code_name(&err), &message, code);
            }
            eprintln!("cloudgate: {}", render::terminal_safe(&message));
            code.into()
        }
    }
}

/// `{"error": {"code", "message", "exit_code"}}` on stdout, one line.
fn print_json_error(code: &str, message: &str, exit_code: u8) {
    let value = serde_json::json!({
        "error": { "code": code, "message": message, "exit_code": exit_code }
    });
    println!("{}", render::json_safe(&value.to_string()));
}

/// Logs go to stderr: warnings by default (information for the daemons), more with `-v`/`-vv`;
/// `CLOUDGATE_LOG` overrides; `--log-format json` for one object per line. A daemon's
/// access lines are written in batches ([`log_batch`]); the guard returned writes what waits
/// when dropped. An unusable `CLOUDGATE_LOG_BATCH_MS` is refused before anything runs.
fn init_tracing(
    verbose: u8,
    format: cli::LogFormat,
    daemon: bool,
) -> Result<Option<log_batch::FlushOnDrop<std::io::Stderr>>, String> {
    let delay = if daemon {
        log_batch::delay_from_env()?.unwrap_or(log_batch::BATCH_DELAY)
    } else {
        std::time::Duration::ZERO
    };
    // Libraries (rustls, hyper) speak only of errors by default, and only in the daemon: their
    // warnings are about a peer's behaviour, and a command reports the failure itself, in the
    // user's terms (a second, lower-level line would only confuse; `-v` shows them).
    let default = match (verbose, daemon) {
        (0, false) => "off,cloudgate=warn",
        (0, true) => "error,cloudgate=info",
        (1, _) => "warn,cloudgate=info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("CLOUDGATE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(ansi);
    if delay.is_zero() {
        let builder = builder.with_writer(std::io::stderr);
        match format {
            cli::LogFormat::Text => builder.init(),
            cli::LogFormat::Json => builder.json().init(),
        }
        return Ok(None);
    }
    let (writer, guard) = log_batch::batched_every(std::io::stderr(), delay);
    let builder = builder.with_writer(writer);
    match format {
        cli::LogFormat::Text => builder.init(),
        cli::LogFormat::Json => builder.json().init(),
    }
    Ok(Some(guard))
}
