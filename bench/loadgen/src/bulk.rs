//! Bulk throughput through one tunnel: one way into a sink backend, or both ways at once
//! through an echo backend.

use std::sync::Arc;
use std::time::Instant;

use anyhow::bail;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::conn::{open_tunnel, tls};

const CHUNK: usize = 256 * 1024;

/// Sends `bytes` and, with `duplex`, reads as many back at the same time; the report gives MB/s
/// of the payload in each direction.
pub async fn run(
    target: std::net::SocketAddr,
    config: Arc<rustls::ClientConfig>,
    service: Option<String>,
    bytes: u64,
    duplex: bool,
) -> anyhow::Result<serde_json::Value> {
    let mut s = tls(target, None, config).await?;
    if let Some(service) = &service {
        open_tunnel(&mut s, service).await?;
    }
    let started = Instant::now();
    let (mut r, mut w) = tokio::io::split(s);
    let writer = tokio::spawn(async move {
        if !duplex {
            // The sink reads this many bytes, then answers: no half-close needed, which the
            // peers relay differently (nginx closes both ways unless proxy_half_close is on).
            w.write_all(&bytes.to_be_bytes()).await?;
        }
        let chunk = vec![0xa5u8; CHUNK];
        let mut left = bytes;
        while left > 0 {
            let n = left.min(CHUNK as u64) as usize;
            w.write_all(&chunk[..n]).await?;
            left -= n as u64;
        }
        w.flush().await?;
        anyhow::Ok(w)
    });
    let mut buf = vec![0u8; CHUNK];
    let received = if duplex {
        let mut got = 0u64;
        while got < bytes {
            let n = r.read(&mut buf).await?;
            if n == 0 {
                bail!("closed after {got} of {bytes} bytes");
            }
            if buf[..n].iter().any(|b| *b != 0xa5) {
                bail!("corrupted bytes near offset {got}");
            }
            got += n as u64;
        }
        got
    } else {
        // The sink answers with the count it received.
        let mut count = [0u8; 8];
        r.read_exact(&mut count).await?;
        u64::from_be_bytes(count)
    };
    let mut w = writer.await??;
    let _ = w.shutdown().await;
    let secs = started.elapsed().as_secs_f64();
    if received != bytes {
        bail!("the backend received {received} of {bytes} bytes");
    }
    Ok(serde_json::json!({
        "bytes_each_way": bytes,
        "duplex": duplex,
        "seconds": secs,
        "mb_per_s_each_way": bytes as f64 / secs / 1e6,
    }))
}

/// A backend that reads a length (8 bytes, big-endian), then that many bytes, and answers with
/// the number of bytes it read; again, until the connection closes.
pub async fn sink(listen: std::net::SocketAddr) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!("sink listening on {}", listener.local_addr()?);
    loop {
        let (mut s, _) = listener.accept().await?;
        tokio::spawn(async move {
            let mut buf = vec![0u8; CHUNK];
            let mut len = [0u8; 8];
            while s.read_exact(&mut len).await.is_ok() {
                let want = u64::from_be_bytes(len);
                let mut total = 0u64;
                while total < want {
                    let max = (want - total).min(CHUNK as u64) as usize;
                    match s.read(&mut buf[..max]).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => total += n as u64,
                    }
                }
                if s.write_all(&total.to_be_bytes()).await.is_err() {
                    return;
                }
            }
        });
    }
}
