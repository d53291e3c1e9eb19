//! `cloudgate-loadgen`: the load generator of cloudgate's benchmarks (`bench/run.sh`) and soak
//! test (`bench/soak.sh`), and the servers they run beside the gateway. Every mode prints one
//! JSON object on stdout.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

mod bulk;
mod conn;
mod idle;
mod passwords;
mod rate;
mod servers;
mod soak;
mod stats;
mod tls;

/// Where to connect and how to authenticate.
#[derive(Debug, clap::Args)]
struct Target {
    /// The server (gateway, stunnel, nginx or the bare server)
    #[arg(long)]
    target: SocketAddr,
    /// The server's certificate (PEM): its SHA-256 is pinned
    #[arg(long)]
    server_cert: PathBuf,
    /// Client certificate (PEM)
    #[arg(long, requires = "client_key")]
    client_cert: Option<PathBuf>,
    /// Client key (PEM)
    #[arg(long)]
    client_key: Option<PathBuf>,
    /// Ask the gateway for a tunnel to this service; without it, the server relays raw TLS
    #[arg(long)]
    service: Option<String>,
    /// Spread connections over this many loopback source addresses (127.1.0.x)
    #[arg(long, default_value_t = 1)]
    sources: usize,
}

impl Target {
    fn config(&self, resume: bool) -> anyhow::Result<std::sync::Arc<rustls::ClientConfig>> {
        let id = match (&self.client_cert, &self.client_key) {
            (Some(c), Some(k)) => Some(tls::Identity::load(c, k)?),
            _ => None,
        };
        tls::client_config(tls::pin_of(&self.server_cert)?, id.as_ref(), resume)
    }
}

#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Debug, Subcommand)]
enum Mode {
    /// New (or, with --resume, resumed) tunnels per second
    Rate {
        #[command(flatten)]
        target: Target,
        /// Clients at once
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// Seconds
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Echoed bytes per tunnel
        #[arg(long, default_value_t = 16)]
        payload: usize,
        /// Resume TLS 1.3 sessions, as `tenant tunnel` does
        #[arg(long)]
        resume: bool,
        /// Send the echo's bytes right behind the tunnel request, without waiting for its
        /// answer (the gateway relays them once the tunnel is open)
        #[arg(long)]
        pipeline: bool,
    },
    /// Throughput through one tunnel
    Bulk {
        #[command(flatten)]
        target: Target,
        /// Bytes each way
        #[arg(long, default_value_t = 1 << 30)]
        bytes: u64,
        /// Both ways at once (echo backend); otherwise one way into a sink backend
        #[arg(long)]
        duplex: bool,
    },
    /// Open many idle tunnels and hold them until stdin closes
    Idle {
        #[command(flatten)]
        target: Target,
        /// Tunnels
        #[arg(long, default_value_t = 10_000)]
        count: usize,
        /// Opened at once
        #[arg(long, default_value_t = 64)]
        parallel: usize,
    },
    /// Enroll generated client identities as tenants PREFIX0, PREFIX1, …
    Enroll {
        #[command(flatten)]
        target: Target,
        /// Tenant name prefix
        #[arg(long, default_value = "t")]
        prefix: String,
        /// File holding the tenants' password
        #[arg(long)]
        password_file: PathBuf,
        /// How many
        #[arg(long)]
        count: usize,
        /// Where to save the identities
        #[arg(long)]
        out: PathBuf,
    },
    /// Password checks, several at once: enrollments of new identities into one tenant, some
    /// with a wrong password (the gateway's throttle must allow them all)
    PasswordChecks {
        #[command(flatten)]
        target: Target,
        /// The tenant enrolled into
        #[arg(long)]
        tenant: String,
        /// File holding the tenant's password
        #[arg(long)]
        password_file: PathBuf,
        /// Checks in all
        #[arg(long, default_value_t = 50)]
        count: usize,
        /// How many of them with a wrong password
        #[arg(long, default_value_t = 25)]
        wrong: usize,
        /// At once
        #[arg(long, default_value_t = 8)]
        parallel: usize,
    },
    /// Many tenants moving checked random transfers through their tunnels
    Soak {
        #[command(flatten)]
        target: Target,
        /// Directory of enrolled identities (from `enroll`)
        #[arg(long)]
        identities: PathBuf,
        /// Tenants
        #[arg(long, default_value_t = 1000)]
        count: usize,
        /// Seconds
        #[arg(long, default_value_t = 60)]
        seconds: u64,
    },
    /// An echo backend
    Echo {
        #[arg(long)]
        listen: SocketAddr,
    },
    /// A backend that discards what it reads and answers with the count
    Sink {
        #[arg(long)]
        listen: SocketAddr,
    },
    /// The bare rustls server: the gateway's TLS settings and verifier, then echo
    Bare {
        #[arg(long)]
        listen: SocketAddr,
        /// Certificate (PEM)
        #[arg(long)]
        cert: PathBuf,
        /// Key (PEM)
        #[arg(long)]
        key: PathBuf,
        /// Relay to this backend instead of echoing in-process
        #[arg(long)]
        backend: Option<SocketAddr>,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // The servers are measured on one core: one thread. The load uses every core it is given.
    let runtime = match cli.mode {
        Mode::Echo { .. } | Mode::Sink { .. } | Mode::Bare { .. } => {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
        }
        _ => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?,
    };
    runtime.block_on(run(cli.mode))
}

async fn run(mode: Mode) -> anyhow::Result<()> {
    let report = match mode {
        Mode::Rate {
            target,
            concurrency,
            seconds,
            payload,
            resume,
            pipeline,
        } => {
            rate::run(rate::RateTest {
                target: target.target,
                config: target.config(resume)?,
                service: target.service.clone(),
                concurrency,
                duration: Duration::from_secs(seconds),
                payload,
                sources: target.sources,
                pipeline,
            })
            .await
        }
        Mode::Bulk {
            target,
            bytes,
            duplex,
        } => {
            bulk::run(
                target.target,
                target.config(false)?,
                target.service.clone(),
                bytes,
                duplex,
            )
            .await?
        }
        Mode::Idle {
            target,
            count,
            parallel,
        } => {
            let config = target.config(false)?;
            return idle::run(
                target.target,
                config,
                target.service,
                count,
                parallel,
                target.sources,
            )
            .await;
        }
        Mode::Enroll {
            target,
            prefix,
            password_file,
            count,
            out,
        } => {
            let password = std::fs::read_to_string(&password_file)?;
            soak::enroll(
                target.target,
                tls::pin_of(&target.server_cert)?,
                &prefix,
                password.trim_end_matches(['\n', '\r']),
                count,
                &out,
                target.sources,
            )
            .await?;
            serde_json::json!({ "enrolled": count })
        }
        Mode::PasswordChecks {
            target,
            tenant,
            password_file,
            count,
            wrong,
            parallel,
        } => {
            let password = std::fs::read_to_string(&password_file)?;
            let report = passwords::run(
                target.target,
                tls::pin_of(&target.server_cert)?,
                &tenant,
                password.trim_end_matches(['\n', '\r']),
                passwords::Plan {
                    count,
                    wrong,
                    parallel,
                    sources: target.sources,
                },
            )
            .await?;
            serde_json::json!({ "enrolled": report.enrolled, "refused": report.refused, "busy": report.busy })
        }
        Mode::Soak {
            target,
            identities,
            count,
            seconds,
        } => {
            soak::run(
                target.target,
                tls::pin_of(&target.server_cert)?,
                &identities,
                count,
                target.service.unwrap_or_else(|| "echo".into()),
                Duration::from_secs(seconds),
                target.sources,
            )
            .await?
        }
        Mode::Echo { listen } => return servers::echo(listen).await,
        Mode::Sink { listen } => return bulk::sink(listen).await,
        Mode::Bare {
            listen,
            cert,
            key,
            backend,
        } => {
            return servers::bare(listen, tls::Identity::load(&cert, &key)?, backend).await;
        }
    };
    println!("{report}");
    Ok(())
}
