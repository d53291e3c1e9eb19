//! The daemons' log lines written in batches, as an access log with a buffer is.
//!
//! A gateway writes one information line per tunnel. Written one `write(2)` each, that line
//! was a measurable part of a new tunnel's CPU (issue 31; BENCHMARKS.md). Such access lines
//! (information of a target ending in [`ACCESS_SUFFIX`]) now wait up to [`BATCH_DELAY`] and
//! leave together in one write; every other line (an enrollment, a reload, a warning) is
//! written at once, after whatever waited before it, so the order of lines never changes and a
//! rare event is never late. A daemon killed outright loses at most the last batch of access
//! lines, as a web server's buffered access log does; the audit journal is not a log line.
//! Memory is bounded: past [`BATCH_LIMIT`] bytes waiting, the writer of a line writes the batch
//! itself. [`FlushOnDrop`] writes what waits when the daemon ends.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// How long an access line may wait for its batch, unless [`DELAY_VAR`] says otherwise.
pub const BATCH_DELAY: Duration = Duration::from_millis(100);

/// The environment variable that sets the delay in milliseconds; 0 writes every line at once.
pub const DELAY_VAR: &str = "CLOUDGATE_LOG_BATCH_MS";

/// The longest delay [`DELAY_VAR`] may ask for.
pub const MAX_DELAY_MS: u64 = 60_000;

/// The delay [`DELAY_VAR`] asks for (`None` when unset), or why its value is refused.
pub fn delay_from_env() -> Result<Option<Duration>, String> {
    let Some(raw) = std::env::var_os(DELAY_VAR) else {
        return Ok(None);
    };
    parse_delay(&raw.to_string_lossy()).map(Some)
}

fn parse_delay(raw: &str) -> Result<Duration, String> {
    match raw.trim().parse::<u64>() {
        Ok(ms) if ms <= MAX_DELAY_MS => Ok(Duration::from_millis(ms)),
        _ => Err(format!(
            "{DELAY_VAR}={raw:?} is not a number of milliseconds from 0 to {MAX_DELAY_MS}; unset it for the default ({} ms), or 0 to write every log line at once",
            BATCH_DELAY.as_millis()
        )),
    }
}

/// Past this many bytes waiting, a line's writer writes the batch itself.
pub const BATCH_LIMIT: usize = 64 * 1024;

/// How the targets of access lines end (`cloudgate_gateway::access`, `cloudgate_tenant::access`).
pub const ACCESS_SUFFIX: &str = "::access";

/// Lines not yet written, and whether the daemon is ending.
#[derive(Default)]
struct Waiting {
    bytes: Vec<u8>,
    closed: bool,
}

struct Shared<W> {
    /// How long a batch's first line waits.
    delay: Duration,
    waiting: Mutex<Waiting>,
    /// Signalled when the first line of a batch arrives, and at the end.
    arrived: Condvar,
    /// The destination. Whoever writes holds it and takes everything waiting while holding it,
    /// so a batch and a line written at once never overtake each other. Lock order: `out`,
    /// then `waiting`.
    out: Mutex<W>,
}

/// A poisoned lock here only means a write panicked; the bytes are still bytes.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<W: Write> Shared<W> {
    /// Writes what waits, then `line`.
    fn write_out(&self, line: &[u8]) {
        let mut out = lock(&self.out);
        let batch = std::mem::take(&mut lock(&self.waiting).bytes);
        // Where the log goes is the operator's; if it cannot be written there is nowhere
        // better to say so.
        if !batch.is_empty() {
            let _ = out.write_all(&batch);
        }
        if !line.is_empty() {
            let _ = out.write_all(line);
        }
        let _ = out.flush();
    }

    /// Adds an access line to the batch; after the end (or without a flusher), writes it.
    fn append(&self, line: &[u8]) {
        let (first, full) = {
            let mut waiting = lock(&self.waiting);
            // Checked under the same lock as the append: a line added after the flusher's last
            // write would wait forever.
            if waiting.closed {
                drop(waiting);
                self.write_out(line);
                return;
            }
            let first = waiting.bytes.is_empty();
            waiting.bytes.extend_from_slice(line);
            (first, waiting.bytes.len() >= BATCH_LIMIT)
        };
        if full {
            self.write_out(&[]);
        } else if first {
            self.arrived.notify_all();
        }
    }

    /// The flusher thread: waits for a batch's first line, lets the batch fill (or the end
    /// come), writes it.
    fn flush_batches(&self) {
        loop {
            let closed = {
                let mut waiting = lock(&self.waiting);
                while waiting.bytes.is_empty() && !waiting.closed {
                    waiting = self
                        .arrived
                        .wait(waiting)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                let (waiting, _) = self
                    .arrived
                    .wait_timeout_while(waiting, self.delay, |w| !w.closed)
                    .unwrap_or_else(PoisonError::into_inner);
                waiting.closed
            };
            self.write_out(&[]);
            if closed {
                return;
            }
        }
    }
}

/// The `MakeWriter` for the daemons' log: batches access lines, writes the rest at once.
pub struct BatchedLog<W> {
    shared: Arc<Shared<W>>,
}

/// Writes what still waits and stops the flusher, when dropped (the daemon's end).
pub struct FlushOnDrop<W: Write> {
    shared: Arc<Shared<W>>,
    flusher: Option<JoinHandle<()>>,
}

/// A log that batches into `out`, batches `delay` apart, and the guard that flushes it at the
/// end.
pub fn batched_every<W: Write + Send + 'static>(
    out: W,
    delay: Duration,
) -> (BatchedLog<W>, FlushOnDrop<W>) {
    let shared = Arc::new(Shared {
        delay,
        waiting: Mutex::new(Waiting::default()),
        arrived: Condvar::new(),
        out: Mutex::new(out),
    });
    let flusher = {
        let shared = shared.clone();
        std::thread::Builder::new()
            .name("log-flush".into())
            .spawn(move || shared.flush_batches())
            .ok()
    };
    // Without a flusher thread nothing may wait: every line is written at once.
    if flusher.is_none() {
        lock(&shared.waiting).closed = true;
    }
    let log = BatchedLog {
        shared: shared.clone(),
    };
    (log, FlushOnDrop { shared, flusher })
}

impl<W: Write> Drop for FlushOnDrop<W> {
    fn drop(&mut self) {
        lock(&self.shared.waiting).closed = true;
        self.shared.arrived.notify_all();
        match self.flusher.take() {
            Some(thread) => {
                let _ = thread.join();
            }
            None => self.shared.write_out(&[]),
        }
    }
}

/// One event's writer: tracing formats the whole line and writes it in one call.
pub struct LineWriter<'a, W> {
    shared: &'a Shared<W>,
    at_once: bool,
}

impl<W: Write> Write for LineWriter<'_, W> {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        if self.at_once {
            self.shared.write_out(line);
        } else {
            self.shared.append(line);
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a, W: Write + 'a> MakeWriter<'a> for BatchedLog<W> {
    type Writer = LineWriter<'a, W>;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter {
            shared: &self.shared,
            at_once: true,
        }
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        // Warnings and errors are what an operator watches for: never late, whatever their
        // target.
        let access = meta.target().ends_with(ACCESS_SUFFIX) && *meta.level() > tracing::Level::WARN;
        LineWriter {
            shared: &self.shared,
            at_once: !access,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// A destination the test can read while the log holds it.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            lock(&self.0).extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Sink {
        fn text(&self) -> String {
            String::from_utf8(lock(&self.0).clone()).expect("utf-8")
        }
    }

    fn line<W: Write>(log: &BatchedLog<W>, at_once: bool, text: &str) {
        let mut w = LineWriter {
            shared: &log.shared,
            at_once,
        };
        w.write_all(text.as_bytes()).expect("written");
    }

    /// Long enough that no batch leaves by itself while a test looks.
    const NEVER: Duration = Duration::from_secs(3600);

    #[test]
    fn the_delay_variable_takes_milliseconds_within_bounds() {
        assert_eq!(parse_delay("0"), Ok(Duration::ZERO));
        assert_eq!(parse_delay(" 250 "), Ok(Duration::from_millis(250)));
        assert_eq!(parse_delay("60000"), Ok(Duration::from_secs(60)));
        for bad in ["", "-1", "0.5", "1s", "60001", "99999999999999999999"] {
            let e = parse_delay(bad).expect_err(bad);
            assert!(e.contains(DELAY_VAR) && e.contains("0 to 60000"), "{e}");
        }
    }

    #[test]
    fn information_waits_for_its_batch_then_leaves_within_the_delay() {
        let sink = Sink::default();
        let (log, _guard) = batched_every(sink.clone(), BATCH_DELAY);
        let start = Instant::now();
        line(&log, false, "one\n");
        line(&log, false, "two\n");
        while sink.text().is_empty() {
            assert!(start.elapsed() < BATCH_DELAY * 50, "the batch never left");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(sink.text(), "one\ntwo\n", "one batch, in order");
    }

    #[test]
    fn a_warning_leaves_at_once_after_what_waited_before_it() {
        let sink = Sink::default();
        let (log, _guard) = batched_every(sink.clone(), NEVER);
        line(&log, false, "info 1\n");
        assert_eq!(sink.text(), "", "an information line waits");
        line(&log, true, "warn 2\n");
        assert_eq!(sink.text(), "info 1\nwarn 2\n");
        line(&log, false, "info 3\n");
        assert_eq!(sink.text(), "info 1\nwarn 2\n");
    }

    #[test]
    fn the_end_writes_what_waits() {
        let sink = Sink::default();
        let (log, guard) = batched_every(sink.clone(), NEVER);
        line(&log, false, "last words\n");
        drop(guard);
        assert_eq!(sink.text(), "last words\n");
        // After the end nothing waits any more.
        line(&log, false, "after\n");
        assert_eq!(sink.text(), "last words\nafter\n");
    }

    #[test]
    fn a_full_batch_is_written_by_the_line_that_filled_it() {
        let sink = Sink::default();
        let (log, _guard) = batched_every(sink.clone(), NEVER);
        let long = "x".repeat(1023) + "\n";
        for _ in 0..BATCH_LIMIT / long.len() {
            line(&log, false, &long);
        }
        assert_eq!(sink.text().len(), BATCH_LIMIT, "written at the limit");
    }

    #[test]
    fn through_tracing_access_lines_wait_and_every_other_line_is_written_at_once() {
        let sink = Sink::default();
        let (log, guard) = batched_every(sink.clone(), NEVER);
        let subscriber = tracing_subscriber::fmt()
            .with_writer(log)
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(target: "cloudgate_gateway::access", tunnel = 1, "tunnel closed");
            assert_eq!(sink.text(), "", "an access line waits");
            tracing::info!("tenant enrolled");
            let text = sink.text();
            let (closed, enrolled) = (text.find("tunnel closed"), text.find("tenant enrolled"));
            assert!(closed.is_some() && enrolled.is_some(), "{text}");
            assert!(closed < enrolled, "in order: {text}");
            tracing::info!(target: "cloudgate_tenant::access", "tunnel connection closed");
            tracing::warn!(target: "cloudgate_gateway::access", "tunnel cut");
            let text = sink.text();
            assert!(
                text.contains("connection closed") && text.contains("tunnel cut"),
                "{text}"
            );
            tracing::info!(target: "cloudgate_gateway::access", "the last line");
            assert!(!sink.text().contains("the last line"));
        });
        drop(guard);
        assert!(sink.text().ends_with("the last line\n"), "{}", sink.text());
    }
}
