//! The soak test: many tenants, each with its own enrolled client certificate, each opening
//! tunnels one after another for the whole run and moving random small and large transfers
//! through them, every byte checked. Also the enrollment of those tenants.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::conn::{enroll_once, open_tunnel, source, tls};
use crate::stats::percentile_ms;
use crate::tls::{Identity, client_config};

/// A small, fast, seeded generator (xorshift64*): the transfers need variety, not secrecy.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// Enrolls `count` identities as tenants `{prefix}{i}` with `password`; saves them in `out`.
pub async fn enroll(
    target: std::net::SocketAddr,
    pin: [u8; 32],
    prefix: &str,
    password: &str,
    count: usize,
    out: &Path,
    sources: usize,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(out)?;
    for i in 0..count {
        let id = Identity::generate(&format!("{prefix}{i}"))?;
        let user = format!("{prefix}{i}");
        let answer = enroll_once(target, source(i, sources), pin, &id, &user, password).await?;
        if !answer.starts_with(b"HTTP/1.1 200") {
            bail!(
                "enrolling {prefix}{i}: {}",
                String::from_utf8_lossy(&answer)
                    .lines()
                    .next()
                    .unwrap_or("no answer")
            );
        }
        id.save(&out.join(i.to_string()))?;
    }
    Ok(())
}

#[derive(Default)]
struct TenantReport {
    tunnels: u64,
    bytes: u64,
    corrupted: u64,
    lost: u64,
    setup: Vec<Duration>,
    first_error: Option<String>,
}

async fn one_transfer(
    s: &mut crate::conn::Tls,
    rng: &mut Rng,
    report: &mut TenantReport,
) -> anyhow::Result<()> {
    let size = if rng.next().is_multiple_of(10) {
        (1 << 20) + (rng.next() % (7 << 20)) as usize
    } else {
        1 + (rng.next() % (16 << 10)) as usize
    };
    let mut data = vec![0u8; size];
    rng.fill(&mut data);
    let (mut r, mut w) = tokio::io::split(s);
    let send = async {
        for c in data.chunks(64 * 1024) {
            w.write_all(c).await?;
        }
        w.flush().await
    };
    let mut back = vec![0u8; size];
    let recv = r.read_exact(&mut back);
    let (sent, got) = tokio::join!(send, recv);
    sent.context("sending")?;
    got.context("receiving")?;
    report.corrupted += data.iter().zip(&back).filter(|(a, b)| a != b).count() as u64;
    report.bytes += size as u64;
    Ok(())
}

async fn tenant(
    target: std::net::SocketAddr,
    pin: [u8; 32],
    id: Identity,
    service: String,
    until: Instant,
    n: usize,
    sources: usize,
) -> TenantReport {
    let mut report = TenantReport::default();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (n as u64 + 1).wrapping_mul(0xBF58_476D_1CE4_E5B9));
    let config = match client_config(pin, Some(&id), true) {
        Ok(c) => c,
        Err(e) => {
            report.lost += 1;
            report.first_error = Some(e.to_string());
            return report;
        }
    };
    while Instant::now() < until {
        let begin = Instant::now();
        let opened = async {
            let mut s = tls(target, source(n, sources), config.clone()).await?;
            open_tunnel(&mut s, &service).await?;
            anyhow::Ok(s)
        }
        .await;
        let mut s = match opened {
            Ok(s) => s,
            Err(e) => {
                report.lost += 1;
                report.first_error.get_or_insert(format!("{e:#}"));
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        report.setup.push(begin.elapsed());
        report.tunnels += 1;
        // A few transfers per tunnel, then close it and open the next.
        for _ in 0..(1 + rng.next() % 4) {
            if let Err(e) = one_transfer(&mut s, &mut rng, &mut report).await {
                report.lost += 1;
                report.first_error.get_or_insert(format!("{e:#}"));
                break;
            }
        }
        let _ = s.shutdown().await;
    }
    report
}

/// Runs `count` tenants (identities `0..count` in `dir`) for `duration`.
pub async fn run(
    target: std::net::SocketAddr,
    pin: [u8; 32],
    dir: &Path,
    count: usize,
    service: String,
    duration: Duration,
    sources: usize,
) -> anyhow::Result<serde_json::Value> {
    let mut ids = Vec::with_capacity(count);
    for i in 0..count {
        let base = dir.join(i.to_string());
        ids.push(Identity::load(
            &base.with_extension("cert.pem"),
            &base.with_extension("key.pem"),
        )?);
    }
    let started = Instant::now();
    let until = started + duration;
    let tasks: Vec<_> = ids
        .into_iter()
        .enumerate()
        .map(|(n, id)| tokio::spawn(tenant(target, pin, id, service.clone(), until, n, sources)))
        .collect();
    let mut total = TenantReport::default();
    for t in tasks {
        let r = t.await?;
        total.tunnels += r.tunnels;
        total.bytes += r.bytes;
        total.corrupted += r.corrupted;
        total.lost += r.lost;
        total.setup.extend(r.setup);
        if total.first_error.is_none() {
            total.first_error = r.first_error;
        }
    }
    Ok(serde_json::json!({
        "tenants": count,
        "seconds": started.elapsed().as_secs_f64(),
        "tunnels": total.tunnels,
        "bytes_each_way": total.bytes,
        "corrupted_bytes": total.corrupted,
        "lost_connections": total.lost,
        "first_error": total.first_error,
        "setup_p50_ms": percentile_ms(&mut total.setup, 50.0),
        "setup_p99_ms": percentile_ms(&mut total.setup, 99.0),
        "setup_max_ms": percentile_ms(&mut total.setup, 100.0),
    }))
}
