//! `tenant tunnels run`: several tunnels from one configuration file, run for months as a
//! service. Each tunnel is opened like `tenant tunnel` (trust checked before it listens); one
//! that cannot open, or stops, is tried again with exponential back-off, so a gateway that is
//! away for a while is picked up again by itself. A new configuration is applied without
//! touching the tunnels it keeps. The state of every tunnel is kept for health and metrics.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cloudgate_errors::{Classify as _, ErrorKind};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::error::TenantError;
use crate::paths::TenantPaths;
use crate::tunnel::open_tunnel;

/// First wait before a tunnel is tried again; doubled up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// Longest wait between two tries.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// Most tunnels one file may configure.
const MAX_TUNNELS: usize = 256;

/// One configured tunnel.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TunnelSpec {
    /// The provider's name on this tenant (`tenant provider list`).
    pub provider: String,
    /// The service name the SP assigned.
    pub service: String,
    /// The local address: `PORT` (loopback), `ADDR:PORT` or `[IPv6]:PORT`.
    pub listen: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TunnelsFile {
    check_interval_secs: Option<u64>,
    #[serde(default, rename = "tunnel")]
    tunnels: Vec<TunnelSpec>,
}

/// A parsed, checked configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelsConfig {
    /// Each tunnel with its parsed listen address.
    pub tunnels: Vec<(TunnelSpec, SocketAddr)>,
    /// How often each tunnel re-checks its provider.
    pub check_interval: Duration,
}

impl TunnelsConfig {
    /// Reads the TOML form:
    ///
    /// ```toml
    /// check_interval_secs = 300   # optional
    /// [[tunnel]]
    /// provider = "backup.example.com:6180"
    /// service = "repo"
    /// listen = "127.0.0.1:10001"
    /// ```
    pub fn parse(text: &str) -> Result<Self, TenantError> {
        let bad = |m: String| TenantError::BadInput(m);
        let file: TunnelsFile = toml::from_str(text).map_err(|e| bad(e.message().to_string()))?;
        if file.tunnels.len() > MAX_TUNNELS {
            return Err(bad(format!(
                "at most {MAX_TUNNELS} tunnels, not {}",
                file.tunnels.len()
            )));
        }
        let check_interval = match file.check_interval_secs {
            None => Duration::from_secs(300),
            Some(n @ 1..=86_400) => Duration::from_secs(n),
            Some(_) => return Err(bad("check_interval_secs must be 1 to 86400".into())),
        };
        let mut seen: HashMap<SocketAddr, &TunnelSpec> = HashMap::new();
        let mut tunnels = Vec::new();
        for (i, t) in file.tunnels.iter().enumerate() {
            let addr =
                cloudgate_addr::parse_listen(&t.listen, cloudgate_addr::LOOPBACK).map_err(|e| {
                    bad(format!(
                        "tunnel {} ({}/{}): listen: {e}",
                        i + 1,
                        t.provider,
                        t.service
                    ))
                })?;
            if t.provider.trim().is_empty() || t.service.trim().is_empty() {
                return Err(bad(format!(
                    "tunnel {}: provider and service must not be empty",
                    i + 1
                )));
            }
            if addr.port() != 0
                && let Some(other) = seen.insert(addr, t)
            {
                return Err(bad(format!(
                    "tunnels {}/{} and {}/{} both listen on {addr}",
                    other.provider, other.service, t.provider, t.service
                )));
            }
            tunnels.push((t.clone(), addr));
        }
        Ok(TunnelsConfig {
            tunnels,
            check_interval,
        })
    }
}

/// Where a tunnel stands, for health checks and metrics.
#[derive(Debug, Clone, Serialize)]
pub struct TunnelStatus {
    /// The provider's name.
    pub provider: String,
    /// The service.
    pub service: String,
    /// The configured listen address.
    pub listen: String,
    /// `starting`, `up`, `unreachable` (listening, but the gateway does not answer or the last
    /// connection could not be carried: see `problem`), `maintenance` (the SP refused the last
    /// connection for maintenance: `problem` has its message), `limited` (the last connection
    /// waited for a free place under the SP's tunnel limit), `retrying` (the gateway is away or
    /// refused for now) or `refused` (a trust failure: only the administrator can fix it).
    pub state: &'static str,
    /// What keeps a listening tunnel from carrying connections, while it lasts.
    pub problem: Option<String>,
    /// The listening tunnel's live view of its gateway.
    #[serde(skip)]
    pub link: Option<Arc<crate::tunnel::LinkHealth>>,
    /// The address actually listened on while up.
    pub local_addr: Option<String>,
    /// How often it was started again after a failure.
    pub restarts: u64,
    /// The last failure, if any.
    pub last_error: Option<String>,
}

impl TunnelStatus {
    /// Whether it carries connections now.
    pub fn is_up(&self) -> bool {
        self.state == "up"
    }

    /// The status as it stands now: a listening tunnel whose gateway does not answer (or whose
    /// last connection failed) is `unreachable`, with the reason.
    pub fn observed(&self) -> TunnelStatus {
        let mut now = self.clone();
        if now.state == "up"
            && let Some(link) = now.link.clone()
            && let Some(problem) = link.problem()
        {
            now.state = link.problem_state();
            now.problem = Some(problem);
        }
        now
    }
}

/// Shared state of every tunnel, keyed by its spec.
pub type Statuses = Arc<Mutex<BTreeMap<TunnelSpec, TunnelStatus>>>;

fn set(statuses: &Statuses, spec: &TunnelSpec, f: impl FnOnce(&mut TunnelStatus)) {
    let mut all = statuses.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(s) = all.get_mut(spec) {
        f(s);
    }
}

/// Runs the configured tunnels.
pub struct Supervisor {
    paths: TenantPaths,
    statuses: Statuses,
    running: HashMap<TunnelSpec, (JoinHandle<()>, watch::Sender<bool>)>,
}

impl Supervisor {
    /// A supervisor with no tunnels yet.
    pub fn new(paths: TenantPaths) -> Self {
        Supervisor {
            paths,
            statuses: Arc::new(Mutex::new(BTreeMap::new())),
            running: HashMap::new(),
        }
    }

    /// The shared status map (for the metrics endpoint).
    pub fn statuses(&self) -> Statuses {
        self.statuses.clone()
    }

    /// Every tunnel's status, as it stands now.
    pub fn status(&self) -> Vec<TunnelStatus> {
        let all = self.statuses.lock().unwrap_or_else(|p| p.into_inner());
        all.values().map(TunnelStatus::observed).collect()
    }

    /// Makes the running set match `config`: stops tunnels no longer configured, starts new
    /// ones, leaves the others (and their connections) alone. Returns (started, stopped).
    pub async fn apply(&mut self, config: &TunnelsConfig) -> (usize, usize) {
        let wanted: HashMap<&TunnelSpec, SocketAddr> =
            config.tunnels.iter().map(|(s, a)| (s, *a)).collect();
        let gone: Vec<TunnelSpec> = self
            .running
            .keys()
            .filter(|s| !wanted.contains_key(s))
            .cloned()
            .collect();
        for spec in &gone {
            if let Some((task, stop)) = self.running.remove(spec) {
                let _ = stop.send(true);
                let _ = task.await;
            }
            self.statuses
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(spec);
        }
        let mut started = 0;
        for (spec, addr) in &config.tunnels {
            if self.running.contains_key(spec) {
                continue;
            }
            self.statuses
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(
                    spec.clone(),
                    TunnelStatus {
                        provider: spec.provider.clone(),
                        service: spec.service.clone(),
                        listen: spec.listen.clone(),
                        state: "starting",
                        problem: None,
                        link: None,
                        local_addr: None,
                        restarts: 0,
                        last_error: None,
                    },
                );
            let (stop_tx, stop_rx) = watch::channel(false);
            let task = tokio::spawn(run_one(
                self.paths.clone(),
                spec.clone(),
                *addr,
                config.check_interval,
                stop_rx,
                self.statuses.clone(),
            ));
            self.running.insert(spec.clone(), (task, stop_tx));
            started += 1;
        }
        (started, gone.len())
    }

    /// Stops every tunnel and waits for them.
    pub async fn shutdown(mut self) {
        for (_, (task, stop)) in self.running.drain() {
            let _ = stop.send(true);
            let _ = task.await;
        }
    }
}

async fn stopped(mut stop: watch::Receiver<bool>) {
    while !*stop.borrow() {
        if stop.changed().await.is_err() {
            return;
        }
    }
}

async fn run_one(
    paths: TenantPaths,
    spec: TunnelSpec,
    addr: SocketAddr,
    check_every: Duration,
    stop: watch::Receiver<bool>,
    statuses: Statuses,
) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        let opened = tokio::select! {
            () = stopped(stop.clone()) => return,
            r = open_tunnel(&paths, &spec.provider, &spec.service, addr, check_every) => r,
        };
        let failure = match opened {
            Ok((listener, _)) => {
                let local = listener.local_addr();
                tracing::info!(provider = %spec.provider, service = %spec.service, listen = %local, "tunnel up");
                let link = listener.health();
                set(&statuses, &spec, |s| {
                    s.state = "up";
                    s.link = Some(link);
                    s.local_addr = Some(local.to_string());
                });
                backoff = FIRST_BACKOFF;
                match listener.serve(Box::pin(stopped(stop.clone()))).await {
                    Ok(()) => return,
                    Err(e) => e,
                }
            }
            Err(e) => e,
        };
        // Trying again changes nothing for a refusal; it may for an outage.
        let refused = matches!(
            failure.kind(),
            ErrorKind::Trust
                | ErrorKind::Auth
                | ErrorKind::Usage
                | ErrorKind::NotFound
                | ErrorKind::Conflict
        );
        let wait = if refused { MAX_BACKOFF } else { backoff };
        tracing::warn!(provider = %spec.provider, service = %spec.service, "tunnel down: {failure}; trying again in {} s", wait.as_secs());
        set(&statuses, &spec, |s| {
            s.state = if refused { "refused" } else { "retrying" };
            s.link = None;
            s.local_addr = None;
            s.restarts += 1;
            s.last_error = Some(failure.to_string());
        });
        tokio::select! {
            () = stopped(stop.clone()) => return,
            () = tokio::time::sleep(wait) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// The Prometheus text for the tunnels' states.
pub fn render_metrics(statuses: &[TunnelStatus]) -> String {
    let label = |s: &str| {
        s.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n")
    };
    let mut out = String::from(
        "# HELP cloudgate_tunnel_up Whether the tunnel listens and its provider is trusted (1) or not (0).\n\
         # TYPE cloudgate_tunnel_up gauge\n",
    );
    for s in statuses {
        out.push_str(&format!(
            "cloudgate_tunnel_up{{provider=\"{}\",service=\"{}\",listen=\"{}\"}} {}\n",
            label(&s.provider),
            label(&s.service),
            label(&s.listen),
            u8::from(s.is_up())
        ));
    }
    out.push_str(
        "# HELP cloudgate_tunnel_restarts_total Times the tunnel was started again after a failure.\n\
         # TYPE cloudgate_tunnel_restarts_total counter\n",
    );
    for s in statuses {
        out.push_str(&format!(
            "cloudgate_tunnel_restarts_total{{provider=\"{}\",service=\"{}\",listen=\"{}\"}} {}\n",
            label(&s.provider),
            label(&s.service),
            label(&s.listen),
            s.restarts
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration_is_checked() {
        let c = TunnelsConfig::parse(
            "[[tunnel]]\nprovider = \"sp\"\nservice = \"repo\"\nlisten = \"10001\"\n\
             [[tunnel]]\nprovider = \"sp\"\nservice = \"db\"\nlisten = \"[::1]:10002\"\n",
        )
        .unwrap();
        assert_eq!(c.tunnels.len(), 2);
        assert_eq!(c.tunnels[0].1, "127.0.0.1:10001".parse().unwrap());
        assert_eq!(c.check_interval, Duration::from_secs(300));
        for bad in [
            "[[tunnel]]\nprovider = \"sp\"\nservice = \"repo\"\nlisten = \"nowhere\"\n",
            "[[tunnel]]\nprovider = \"sp\"\nservice = \"repo\"\n",
            "[[tunnel]]\nprovider = \"sp\"\nservice = \"repo\"\nlisten = \"1\"\nextra = 1\n",
            "[[tunnel]]\nprovider = \"sp\"\nservice = \"a\"\nlisten = \"1\"\n[[tunnel]]\nprovider = \"sp\"\nservice = \"b\"\nlisten = \"127.0.0.1:1\"\n",
            "check_interval_secs = 0\n",
        ] {
            assert!(TunnelsConfig::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn metrics_escape_labels() {
        let s = TunnelStatus {
            provider: "a\"b".into(),
            service: "s".into(),
            listen: "1".into(),
            state: "up",
            problem: None,
            link: None,
            local_addr: None,
            restarts: 2,
            last_error: None,
        };
        let m = render_metrics(&[s]);
        assert!(
            m.contains("cloudgate_tunnel_up{provider=\"a\\\"b\",service=\"s\",listen=\"1\"} 1"),
            "{m}"
        );
        assert!(m.contains(
            "cloudgate_tunnel_restarts_total{provider=\"a\\\"b\",service=\"s\",listen=\"1\"} 2"
        ));
    }
}
