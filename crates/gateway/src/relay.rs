//! The tunnel relay: a full-duplex byte copy between the tenant's upgraded connection and the
//! backend, with backpressure (each direction writes before it reads again), half-close (EOF on
//! one side shuts down writing on the other, the other direction goes on), and an idle timeout
//! over both directions together. Bytes are counted as they pass (the metrics' counters move
//! during a long backup, not only at its end).
//!
//! One future drives both directions and the idle watchdog, on both connections without
//! splitting them: split halves, a join of the directions and a select with the watchdog were
//! each a layer of wakers, locks and allocations on every tunnel (issue 31).
//!
//! Memory: a direction holds its 64 KiB buffer only while a stream moves. An idle direction
//! waits for its next bytes with a small buffer on the poll's stack (wiped after use); a short
//! message is written from a block of its own size, freed at once, so a tunnel that carries a
//! request and its answer, or nothing, holds no relay buffer; a read that fills the stack buffer
//! takes the large one, handed back once the tunnel has been quiet for [`RELEASE_AFTER`].
//! Buffers are [`WipedBuffer`]s: what they held is wiped, and only that (zeroing two untouched
//! 64 KiB blocks per tunnel was 3.7% of a new tunnel's CPU).

use std::future::{Future, poll_fn};
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use cloudgate_alloc::WipedBuffer;
use prometheus_client::metrics::counter::Counter;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};
use zeroize::Zeroize as _;

use crate::limits::{Bucket, TenantBuckets};
use crate::usage::TunnelBytes;

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

/// A moving direction's buffer: large writes for bulk transfers.
const BUF: usize = 64 * 1024;

/// What an idle direction reads its first bytes into, on the stack: a tunnel request's answer or
/// a protocol greeting fits; more moves on in the allocated buffer.
const FIRST_READ: usize = 2 * 1024;

/// A direction's buffer goes back to the allocator after the tunnel was quiet this long.
pub const RELEASE_AFTER: Duration = Duration::from_secs(1);

/// Counters a relay adds its bytes to as they pass.
#[derive(Clone, Debug, Default)]
pub struct LiveBytes {
    /// Tenant → backend.
    pub up: Counter,
    /// Backend → tenant.
    pub down: Counter,
}

/// Relays until both directions have ended or the tunnel has been idle for `idle`, adding the
/// bytes to `live` (the gateway's) and `tenant` (the machine's usage) as they pass, at most at
/// the tenant's `rates`.
pub async fn relay<A, B>(
    mut a: A,
    mut b: B,
    idle: Duration,
    live: &LiveBytes,
    tenant: &TunnelBytes,
    rates: &TenantBuckets,
) -> RelayStats
where
    A: AsyncRead + AsyncWrite + Unpin + Send,
    B: AsyncRead + AsyncWrite + Unpin + Send,
{
    let mut up = Direction::new(&live.up, &tenant.up, &rates.up);
    let mut down = Direction::new(&live.down, &tenant.down, &rates.down);
    let check_every = idle.min(RELEASE_AFTER);
    let mut last_move = Instant::now();
    let mut watchdog = Box::pin(tokio::time::sleep(check_every));
    let idle_timeout = poll_fn(|cx| {
        // The directions first, in a fixed order: neither can starve the other (each yields
        // when its reader or writer waits), and the watchdog only looks at a tunnel that waits.
        let up_done = up.poll(&mut a, &mut b, &mut last_move, cx).is_ready();
        let down_done = down.poll(&mut b, &mut a, &mut last_move, cx).is_ready();
        if up_done && down_done {
            return Poll::Ready(false);
        }
        loop {
            ready!(watchdog.as_mut().poll(cx));
            let quiet = last_move.elapsed();
            if quiet >= idle {
                return Poll::Ready(true);
            }
            if quiet >= RELEASE_AFTER {
                // Only a buffer waiting for the next read goes: one holding bytes not yet
                // written is the writing direction's.
                up.spare = None;
                down.spare = None;
            }
            let next = Instant::now() + check_every;
            watchdog.as_mut().reset(next);
        }
    })
    .await;
    RelayStats {
        up: up.total,
        down: down.total,
        idle_timeout,
    }
}

/// Where a direction is.
enum Step {
    /// Waiting for bytes from its reader.
    Reading,
    /// Waiting for the tenant's rate to allow the bytes it read.
    Pacing(Pin<Box<Sleep>>),
    /// Writing `bytes[..len]` from `written` on.
    Writing,
    /// Flushing what it wrote: a TLS writer may keep the end of what it was given in its own
    /// buffer when the socket is full, and without a flush those bytes would wait for the next
    /// write, which may never come (the soak test found tunnels stalled this way).
    Flushing,
    /// Its reader ended (or either side failed): telling the writer's peer no more bytes come.
    ShuttingDown,
    /// Over.
    Done,
}

/// One direction of the relay: what it read and has yet to write, its spare buffer, its count.
struct Direction<'a> {
    step: Step,
    /// The large buffer while the stream moves and the direction is between reads; the
    /// watchdog drops it when the tunnel goes quiet.
    spare: Option<WipedBuffer>,
    /// Bytes read and not yet written: the buffer, how many it holds, how many are written.
    bytes: Option<WipedBuffer>,
    len: usize,
    written: usize,
    total: u64,
    live: &'a Counter,
    tenant: &'a AtomicU64,
    /// The tenant's rate in this direction.
    rate: &'a Bucket,
}

impl<'a> Direction<'a> {
    fn new(live: &'a Counter, tenant: &'a AtomicU64, rate: &'a Bucket) -> Self {
        Direction {
            step: Step::Reading,
            spare: None,
            bytes: None,
            len: 0,
            written: 0,
            total: 0,
            live,
            tenant,
            rate,
        }
    }

    /// Moves bytes from `r` to `w` until one of them waits (`Pending`) or the direction is over
    /// (`Ready`).
    fn poll<R, W>(
        &mut self,
        r: &mut R,
        w: &mut W,
        last_move: &mut Instant,
        cx: &mut Context<'_>,
    ) -> Poll<()>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        loop {
            match &mut self.step {
                Step::Reading => match ready!(poll_read_some(r, &mut self.spare, cx)) {
                    Ok(Some((buffer, n))) => {
                        *last_move = Instant::now();
                        self.bytes = Some(buffer);
                        (self.len, self.written) = (n, 0);
                        self.step = match self.rate.take(n) {
                            Some(wait) => Step::Pacing(Box::pin(tokio::time::sleep(wait))),
                            None => Step::Writing,
                        };
                    }
                    Ok(None) | Err(_) => self.step = Step::ShuttingDown,
                },
                Step::Pacing(wait) => {
                    ready!(wait.as_mut().poll(cx));
                    self.step = Step::Writing;
                }
                Step::Writing => {
                    let Some(buffer) = &self.bytes else {
                        self.step = Step::Reading;
                        continue;
                    };
                    let rest = &buffer.bytes(self.len)[self.written..];
                    match ready!(Pin::new(&mut *w).poll_write(cx, rest)) {
                        Ok(0) | Err(_) => self.step = Step::ShuttingDown,
                        Ok(n) => {
                            self.written += n;
                            if self.written == self.len {
                                self.step = Step::Flushing;
                            }
                        }
                    }
                }
                Step::Flushing => match ready!(Pin::new(&mut *w).poll_flush(cx)) {
                    Ok(()) => {
                        let n = self.len as u64;
                        if let Some(buffer) = self.bytes.take().filter(|b| b.capacity() == BUF) {
                            self.spare = Some(buffer);
                        }
                        self.total += n;
                        self.live.inc_by(n);
                        self.tenant.fetch_add(n, Ordering::Relaxed);
                        self.step = Step::Reading;
                    }
                    Err(_) => self.step = Step::ShuttingDown,
                },
                Step::ShuttingDown => {
                    // What was not written is dropped (and wiped) now, not with the tunnel.
                    self.bytes = None;
                    let _ = ready!(Pin::new(&mut *w).poll_shutdown(cx));
                    self.step = Step::Done;
                }
                Step::Done => return Poll::Ready(()),
            }
        }
    }
}

/// Reads what `r` has into the direction's buffer, taking it out of `spare` (a new one if the
/// direction had none): `None` at the end of the stream.
fn poll_read_some<R: AsyncRead + Unpin>(
    r: &mut R,
    spare: &mut Option<WipedBuffer>,
    cx: &mut Context<'_>,
) -> Poll<std::io::Result<Option<(WipedBuffer, usize)>>> {
    if let Some(buffer) = spare.as_mut() {
        let mut into = ReadBuf::uninit(buffer.space());
        ready!(Pin::new(&mut *r).poll_read(cx, &mut into))?;
        let n = into.filled().len();
        buffer.filled(n);
        return Poll::Ready(Ok(spare.take().filter(|_| n > 0).map(|b| (b, n))));
    }
    // No buffer: wait on the stack, so that an idle direction holds none.
    let mut first = [MaybeUninit::<u8>::uninit(); FIRST_READ];
    let mut into = ReadBuf::uninit(&mut first);
    ready!(Pin::new(&mut *r).poll_read(cx, &mut into))?;
    let n = into.filled().len();
    if n == 0 {
        return Poll::Ready(Ok(None));
    }
    // A short message (a request, an answer, a prompt) is copied into a block of its own size
    // and freed once written; only a read that filled the stack buffer, a stream that is moving,
    // takes the large buffer, which then stays until the tunnel goes quiet.
    let mut buffer = WipedBuffer::new(if n < FIRST_READ { n } else { BUF });
    for (slot, byte) in buffer.space().iter_mut().zip(into.filled()) {
        slot.write(*byte);
    }
    buffer.filled(n);
    into.filled_mut().zeroize();
    Poll::Ready(Ok(Some((buffer, n))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    /// A relay on a task of its own between two in-memory pipes of `capacity` bytes: the
    /// tenant's end, the backend's end and the task.
    fn relay_between(
        capacity: usize,
        idle: Duration,
        live: LiveBytes,
        rates: std::sync::Arc<TenantBuckets>,
    ) -> (
        tokio::io::DuplexStream,
        tokio::io::DuplexStream,
        tokio::task::JoinHandle<RelayStats>,
    ) {
        let (client, gw_a) = tokio::io::duplex(capacity);
        let (gw_b, backend) = tokio::io::duplex(capacity);
        let task = tokio::spawn(async move {
            relay(gw_a, gw_b, idle, &live, &TunnelBytes::default(), &rates).await
        });
        (client, backend, task)
    }

    #[tokio::test]
    async fn a_stream_goes_on_after_its_buffers_were_released_while_quiet() {
        let live = LiveBytes::default();
        let (client, backend, _task) = relay_between(
            16 * 1024,
            Duration::from_secs(30),
            live.clone(),
            Default::default(),
        );
        let (_cr, mut cw) = tokio::io::split(client);
        let (mut br, _bw) = tokio::io::split(backend);
        let payload: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        for round in 0..2 {
            // Large (through the 64 KiB buffer), then small (a block of its own size).
            let w = payload.clone();
            let mut writer = cw;
            let writer_task = tokio::spawn(async move {
                writer.write_all(&w).await.unwrap();
                writer.write_all(b"tail").await.unwrap();
                writer
            });
            let mut got = vec![0u8; payload.len() + 4];
            br.read_exact(&mut got).await.unwrap();
            assert_eq!(&got[..payload.len()], &payload[..], "round {round}");
            assert_eq!(&got[payload.len()..], b"tail");
            cw = writer_task.await.unwrap();
            // Quiet past the release: the next round allocates again.
            tokio::time::sleep(RELEASE_AFTER + Duration::from_millis(1200)).await;
        }
        assert_eq!(live.up.get(), 2 * (300_000 + 4));
    }

    #[tokio::test]
    async fn copies_both_ways_and_half_closes() {
        let (client, backend, task) = relay_between(
            1024,
            Duration::from_secs(5),
            Default::default(),
            Default::default(),
        );
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
        let live = LiveBytes::default();
        let (client, backend, _task) = relay_between(
            64 * 1024,
            Duration::from_secs(30),
            live.clone(),
            Default::default(),
        );
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
                &TunnelBytes::default(),
                &TenantBuckets::default(),
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
    async fn a_tenants_rate_paces_the_bytes_and_the_other_direction_goes_on() {
        let rates = std::sync::Arc::new(TenantBuckets::default());
        // 1 MB/s up: 64 KiB pass at once (the bucket's burst), the rest at the rate.
        rates.up.set_rate(1_000_000);
        let (client, backend, task) = relay_between(
            64 * 1024,
            Duration::from_secs(30),
            Default::default(),
            rates,
        );
        let (mut cr, mut cw) = tokio::io::split(client);
        let (mut br, mut bw) = tokio::io::split(backend);
        let started = Instant::now();
        let writer = tokio::spawn(async move {
            cw.write_all(&[1u8; 400_000]).await.unwrap();
            cw.shutdown().await.unwrap();
        });
        // While the upload waits for its rate, the unlimited direction is not held up.
        bw.write_all(b"answer").await.unwrap();
        let mut answer = [0u8; 6];
        cr.read_exact(&mut answer).await.unwrap();
        assert_eq!(&answer, b"answer");
        let mut got = Vec::new();
        br.read_to_end(&mut got).await.unwrap();
        assert_eq!(got.len(), 400_000);
        // (400,000 - 65,536) bytes at 1,000,000 per second: at least a third of a second.
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(330), "{took:?}");
        writer.await.unwrap();
        // The backend closes: the relay ends (not by the idle timeout).
        drop((br, bw));
        let stats = task.await.unwrap();
        assert!(!stats.idle_timeout);
        assert_eq!((stats.up, stats.down), (400_000, 6));
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
            &TunnelBytes::default(),
            &TenantBuckets::default(),
        )
        .await;
        assert!(stats.idle_timeout);
    }
}
