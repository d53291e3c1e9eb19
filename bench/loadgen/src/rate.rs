//! New or resumed tunnels per second: connect, TLS handshake with the client certificate, the
//! tunnel request (against the gateway), one echo round trip, close; many clients at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::bail;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::conn::{Tls, open_tunnel, open_tunnel_with, source, tls};
use crate::stats::percentile_ms;
use crate::tls::TICKETS;

/// What one run of the rate test is.
pub struct RateTest {
    /// The server.
    pub target: std::net::SocketAddr,
    /// TLS client settings (full handshakes or resumption).
    pub config: Arc<rustls::ClientConfig>,
    /// The tunnel's service, or `None` for a peer that relays raw TLS (stunnel, nginx, bare).
    pub service: Option<String>,
    /// Clients at once.
    pub concurrency: usize,
    /// How long.
    pub duration: Duration,
    /// Echoed bytes per connection.
    pub payload: usize,
    /// Loopback source addresses to spread over.
    pub sources: usize,
    /// The echo's bytes sent with the tunnel request, before its answer.
    pub pipeline: bool,
}

async fn one(t: &RateTest, n: usize) -> anyhow::Result<bool> {
    let mut s: Tls = tls(t.target, source(n, t.sources), t.config.clone()).await?;
    let resumed = s.get_ref().1.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
    let data = vec![0x5au8; t.payload];
    match &t.service {
        Some(service) if t.pipeline => open_tunnel_with(&mut s, service, &data).await?,
        Some(service) => {
            open_tunnel(&mut s, service).await?;
            s.write_all(&data).await?;
        }
        None => s.write_all(&data).await?,
    }
    let mut back = vec![0u8; t.payload];
    s.read_exact(&mut back).await?;
    if back != data {
        bail!("echo differs");
    }
    let _ = s.shutdown().await;
    Ok(resumed)
}

/// Runs the test and returns its JSON report.
pub async fn run(t: RateTest) -> serde_json::Value {
    let t = Arc::new(t);
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut workers = Vec::new();
    for w in 0..t.concurrency {
        let (t, stop) = (t.clone(), stop.clone());
        workers.push(tokio::spawn(async move {
            let (mut lat, mut errors, mut resumed) = (Vec::new(), 0u64, 0u64);
            let mut n = w;
            while !stop.load(Ordering::Relaxed) {
                let begin = Instant::now();
                match one(&t, n).await {
                    Ok(r) => {
                        lat.push(begin.elapsed());
                        resumed += u64::from(r);
                    }
                    Err(_) => errors += 1,
                }
                n += t.concurrency;
            }
            (lat, errors, resumed)
        }));
    }
    tokio::time::sleep(t.duration).await;
    stop.store(true, Ordering::Relaxed);
    let (mut lat, mut errors, mut resumed) = (Vec::new(), 0, 0);
    for w in workers {
        if let Ok((l, e, r)) = w.await {
            lat.extend(l);
            errors += e;
            resumed += r;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let ops = lat.len();
    serde_json::json!({
        "ops": ops,
        "seconds": secs,
        "rate": ops as f64 / secs,
        "errors": errors,
        "resumed": resumed,
        "p50_ms": percentile_ms(&mut lat, 50.0),
        "p99_ms": percentile_ms(&mut lat, 99.0),
        "tickets": {
            "received": TICKETS.inserted.load(Ordering::Relaxed),
            "offered": TICKETS.taken.load(Ordering::Relaxed),
            "none_to_offer": TICKETS.missing.load(Ordering::Relaxed),
        },
    })
}
