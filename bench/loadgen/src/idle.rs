//! Many open, idle tunnels: open them all (each with one echo, so the backend connection is
//! there too), report the time it took, then hold them until stdin closes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::conn::{Tls, open_tunnel, source, tls};

async fn open_one(
    target: std::net::SocketAddr,
    config: Arc<rustls::ClientConfig>,
    service: Option<&str>,
    n: usize,
    sources: usize,
) -> anyhow::Result<Tls> {
    let mut s = tls(target, source(n, sources), config).await?;
    if let Some(service) = service {
        open_tunnel(&mut s, service).await?;
    }
    s.write_all(b"ping").await?;
    let mut back = [0u8; 4];
    s.read_exact(&mut back).await?;
    if &back != b"ping" {
        bail!("echo differs");
    }
    Ok(s)
}

/// Opens `count` tunnels, `parallel` at a time.
pub async fn run(
    target: std::net::SocketAddr,
    config: Arc<rustls::ClientConfig>,
    service: Option<String>,
    count: usize,
    parallel: usize,
    sources: usize,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let sem = Arc::new(tokio::sync::Semaphore::new(parallel));
    let mut tasks = Vec::with_capacity(count);
    for n in 0..count {
        let (config, service, sem) = (config.clone(), service.clone(), sem.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = sem.acquire().await.ok();
            // A server out of descriptors leaves a connection in its backlog forever.
            tokio::time::timeout(
                Duration::from_secs(30),
                open_one(target, config, service.as_deref(), n, sources),
            )
            .await
            .unwrap_or_else(|_| Err(anyhow::anyhow!("timed out")))
        }));
    }
    let mut open = Vec::with_capacity(count);
    let mut errors = 0;
    for t in tasks {
        match t.await? {
            Ok(s) => open.push(s),
            Err(_) => errors += 1,
        }
    }
    let report = serde_json::json!({
        "open": open.len(),
        "errors": errors,
        "seconds_to_open": started.elapsed().as_secs_f64(),
    });
    println!("{report}");
    // Hold until the script closes our stdin (after reading the server's memory).
    let mut stdin = tokio::io::stdin();
    let mut b = [0u8; 1];
    let _ = tokio::time::timeout(Duration::from_secs(3600), stdin.read(&mut b)).await;
    drop(open);
    Ok(())
}
