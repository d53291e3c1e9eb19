//! The tunnel relay: a full-duplex byte copy between the tenant's upgraded connection and the
//! backend, with backpressure (each direction writes before it reads again), half-close (EOF on
//! one side shuts down writing on the other, the other direction goes on), and an idle timeout
//! over both directions together. Bytes are counted as they pass (the metrics' counters move
//! during a long backup, not only at its end).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Bytes carried each way.
#[derive(Debug, Default, Clone, Copy)]
pub struct RelayStats {
    /// Tenant → backend.
    pub up: u64,
    /// Backend → tenant.
    pub down: u64,
    /// Whether the relay ended because nothing moved for the idle timeout.
    pub idle_timeout: bool,
}

const BUF: usize = 64 * 1024;

/// Counters a relay adds its bytes to as they pass.
#[derive(Clone, Debug, Default)]
pub struct LiveBytes {
    /// Tenant → backend.
    pub up: Counter,
    /// Backend → tenant.
    pub down: Counter,
}

/// Relays until both directions have ended or the tunnel has been idle for `idle`, adding the
/// bytes to `live` as they pass.
pub async fn relay<A, B>(a: A, b: B, idle: Duration, live: &LiveBytes) -> RelayStats
where
    A: AsyncRead + AsyncWrite + Unpin + Send,
    B: AsyncRead + AsyncWrite + Unpin + Send,
{
    let start = Instant::now();
    let last = Arc::new(AtomicU64::new(0));
    let (mut ar, mut aw) = tokio::io::split(a);
    let (mut br, mut bw) = tokio::io::split(b);
    let up_bytes = Arc::new(AtomicU64::new(0));
    let down_bytes = Arc::new(AtomicU64::new(0));
    let up = copy_half(
        &mut ar,
        &mut bw,
        last.clone(),
        start,
        (up_bytes.clone(), &live.up),
    );
    let down = copy_half(
        &mut br,
        &mut aw,
        last.clone(),
        start,
        (down_bytes.clone(), &live.down),
    );
    let watchdog = async {
        loop {
            tokio::time::sleep(idle.min(Duration::from_secs(1))).await;
            let quiet = start
                .elapsed()
                .saturating_sub(Duration::from_millis(last.load(Ordering::Relaxed)));
            if quiet >= idle {
                return;
            }
        }
    };
    let both = async { tokio::join!(up, down) };
    tokio::select! {
        _ = both => RelayStats {
            up: up_bytes.load(Ordering::Relaxed),
            down: down_bytes.load(Ordering::Relaxed),
            idle_timeout: false,
        },
        () = watchdog => RelayStats {
            up: up_bytes.load(Ordering::Relaxed),
            down: down_bytes.load(Ordering::Relaxed),
            idle_timeout: true,
        },
    }
}

async fn copy_half<R, W>(
    r: &mut R,
    w: &mut W,
    last: Arc<AtomicU64>,
    start: Instant,
    (total, live): (Arc<AtomicU64>, &Counter),
) where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    // Read into spare capacity: no zeroing per tunnel, and an idle tunnel touches no page of it.
    let mut buf: Vec<u8> = Vec::with_capacity(BUF);
    loop {
        buf.clear();
        let n = match r.read_buf(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        last.store(start.elapsed().as_millis() as u64, Ordering::Relaxed);
        // The flush matters: a TLS writer may keep the end of what it was given in its own
        // buffer when the socket is full, and without a flush those bytes would wait for the
        // next write, which may never come (the soak test found tunnels stalled this way).
        if w.write_all(&buf[..n]).await.is_err() || w.flush().await.is_err() {
            break;
        }
        total.fetch_add(n as u64, Ordering::Relaxed);
        live.inc_by(n as u64);
    }
    // Half-close: tell the other side no more bytes come this way.
    let _ = w.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn copies_both_ways_and_half_closes() {
        let (client, gw_a) = tokio::io::duplex(1024);
        let (gw_b, backend) = tokio::io::duplex(1024);
        let task = tokio::spawn(async move {
            relay(gw_a, gw_b, Duration::from_secs(5), &LiveBytes::default()).await
        });
        let (mut cr, mut cw) = tokio::io::split(client);
        let (mut br, mut bw) = tokio::io::split(backend);
        let payload: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
        let p2 = payload.clone();
        let writer = tokio::spawn(async move {
            cw.write_all(&p2).await.unwrap();
            cw.shutdown().await.unwrap();
        });
        let mut got = Vec::new();
        br.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, payload);
        bw.write_all(b"reply after half-close").await.unwrap();
        bw.shutdown().await.unwrap();
        let mut back = Vec::new();
        cr.read_to_end(&mut back).await.unwrap();
        assert_eq!(back, b"reply after half-close");
        writer.await.unwrap();
        let stats = task.await.unwrap();
        assert_eq!(stats.up, 200_000);
        assert_eq!(stats.down, 22);
    }

    #[tokio::test]
    async fn bytes_are_counted_while_the_tunnel_is_still_open() {
        let (client, gw_a) = tokio::io::duplex(64 * 1024);
        let (gw_b, backend) = tokio::io::duplex(64 * 1024);
        let live = LiveBytes::default();
        let counted = live.clone();
        let _task =
            tokio::spawn(async move { relay(gw_a, gw_b, Duration::from_secs(30), &counted).await });
        let (_cr, mut cw) = tokio::io::split(client);
        let (mut br, _bw) = tokio::io::split(backend);
        cw.write_all(&[7u8; 5000]).await.unwrap();
        let mut got = vec![0u8; 5000];
        br.read_exact(&mut got).await.unwrap();
        // Both ends are still open: the counter already holds what passed.
        let deadline = Instant::now() + Duration::from_secs(5);
        while live.up.get() < 5000 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(live.up.get(), 5000);
        assert_eq!(live.down.get(), 0);
    }

    #[tokio::test]
    async fn bytes_held_in_a_writers_buffer_are_flushed_at_once() {
        // A buffering writer on the tenant side, as TLS is when its socket is full: the reply
        // must reach the tenant although the backend then stays silent and open.
        let (client, gw_a) = tokio::io::duplex(1024);
        let (gw_b, backend) = tokio::io::duplex(1024);
        let _task = tokio::spawn(async move {
            relay(
                tokio::io::BufStream::new(gw_a),
                gw_b,
                Duration::from_secs(30),
                &LiveBytes::default(),
            )
            .await
        });
        let (mut cr, _cw) = tokio::io::split(client);
        let (_br, mut bw) = tokio::io::split(backend);
        bw.write_all(b"short reply").await.unwrap();
        let mut got = [0u8; 11];
        tokio::time::timeout(Duration::from_secs(5), cr.read_exact(&mut got))
            .await
            .expect("the reply arrives without waiting for more")
            .unwrap();
        assert_eq!(&got, b"short reply");
    }

    #[tokio::test]
    async fn idle_tunnels_are_closed() {
        let (_client, gw_a) = tokio::io::duplex(1024);
        let (gw_b, _backend) = tokio::io::duplex(1024);
        let stats = relay(
            gw_a,
            gw_b,
            Duration::from_millis(300),
            &LiveBytes::default(),
        )
        .await;
        assert!(stats.idle_timeout);
    }
}
