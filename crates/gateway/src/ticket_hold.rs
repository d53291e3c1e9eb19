//! The gateway's side of a TCP connection, which sends TLS 1.3 session tickets together with
//! the first answer instead of on their own.
//!
//! Why: a TLS 1.3 server writes its session tickets as soon as the client's `Finished` arrives,
//! a `writev` of their own, and then the answer to the request that follows, another one. On
//! loopback each write costs about 11 µs of the server's CPU (mostly waking the reader), a
//! tenth of a new tunnel's (issue 31's profile). Held back until the first answer, they leave
//! in the same segment, and the client, which never waits for them, loses nothing.
//!
//! What is held, and only during the handshake: a write made only of whole encrypted records
//! (type 23), after the handshake's first flight was written in full. In TLS 1.3 that is the
//! tickets, or an alert after a failed handshake; TLS 1.2 writes nothing of that type before
//! the handshake ends. After [`HoldTickets::handshake_done`] nothing more is held. Held bytes
//! leave with the next write, before a shutdown, or, at the latest, when the connection is
//! dropped (a failed handshake's alert still reaches the client).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// TLS record content type of encrypted records (TLS 1.3) and application data.
const APPLICATION_DATA: u8 = 23;
/// TLS record content type of handshake messages.
const HANDSHAKE: u8 = 22;
/// Bytes of a TLS record's header: type, version, length.
const RECORD_HEADER: usize = 5;

/// A TCP stream that holds a TLS 1.3 server's session tickets back until its first answer.
pub(crate) struct HoldTickets {
    inner: TcpStream,
    phase: Phase,
    /// Every write so far went out whole, so the next one starts at a record boundary.
    aligned: bool,
    held: Vec<u8>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Nothing of the handshake written yet.
    Start,
    /// The first flight (starting with a handshake record) is out: encrypted records may be held.
    AfterFirstFlight,
    /// The handshake is over: nothing more is held.
    Done,
}

impl HoldTickets {
    /// Wraps a freshly accepted connection.
    pub(crate) fn new(inner: TcpStream) -> Self {
        HoldTickets {
            inner,
            phase: Phase::Start,
            aligned: true,
            held: Vec::new(),
        }
    }

    /// Says the handshake is over: later writes go out as they come (the held tickets first).
    pub(crate) fn handshake_done(&mut self) {
        self.phase = Phase::Done;
    }

    /// Whether `bufs`, to be written now, should wait for the next write.
    fn should_hold(&self, bufs: &[io::IoSlice<'_>]) -> bool {
        self.phase == Phase::AfterFirstFlight && self.aligned && whole_encrypted_records(bufs)
    }

    /// Writes what is held; `Ready(Ok)` once nothing is.
    fn poll_release(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.held.is_empty() {
            match Pin::new(&mut self.inner).poll_write(cx, &self.held) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => {
                    self.held.drain(..n);
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        self.held = Vec::new();
        Poll::Ready(Ok(()))
    }
}

/// Whether `bufs` together are one or more whole TLS records, all encrypted (type 23).
fn whole_encrypted_records(bufs: &[io::IoSlice<'_>]) -> bool {
    let total: usize = bufs.iter().map(|b| b.len()).sum();
    // Header to header: the records' bodies are skipped, not read (a ticket is hundreds of
    // bytes; only its five header bytes say what it is).
    let mut at = 0;
    while at < total {
        if total - at < RECORD_HEADER {
            return false;
        }
        let mut header = [0u8; RECORD_HEADER];
        for (i, slot) in header.iter_mut().enumerate() {
            *slot = byte_at(bufs, at + i);
        }
        if header[0] != APPLICATION_DATA || header[1] != 3 {
            return false;
        }
        at += RECORD_HEADER + usize::from(u16::from_be_bytes([header[3], header[4]]));
        if at > total {
            return false;
        }
    }
    total > 0
}

/// The byte at `index` of `bufs` taken as one run of bytes; `index` must be below their total.
fn byte_at(bufs: &[io::IoSlice<'_>], mut index: usize) -> u8 {
    for b in bufs {
        match b.get(index) {
            Some(&byte) => return byte,
            None => index -= b.len(),
        }
    }
    0
}

impl AsyncRead for HoldTickets {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for HoldTickets {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[io::IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        if this.held.is_empty() && this.phase == Phase::Done {
            return Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        }
        if total > 0 && this.should_hold(bufs) {
            for b in bufs {
                this.held.extend_from_slice(b);
            }
            return Poll::Ready(Ok(total));
        }
        if this.phase == Phase::Start
            && bufs.iter().find(|b| !b.is_empty()).map(|b| b[0]) == Some(HANDSHAKE)
        {
            this.phase = Phase::AfterFirstFlight;
        }
        // What is held goes first, in the same system call as this write when it can.
        while !this.held.is_empty() {
            let mut slices = Vec::with_capacity(bufs.len() + 1);
            slices.push(io::IoSlice::new(&this.held));
            slices.extend_from_slice(bufs);
            let held = this.held.len();
            match Pin::new(&mut this.inner).poll_write_vectored(cx, &slices) {
                Poll::Ready(Ok(0)) if total + held > 0 => {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                Poll::Ready(Ok(n)) if n >= held => {
                    this.held = Vec::new();
                    if n > held {
                        this.aligned = n - held == total;
                        return Poll::Ready(Ok(n - held));
                    }
                }
                Poll::Ready(Ok(n)) => {
                    this.held.drain(..n);
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        let written = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = written {
            this.aligned = n == total;
        }
        written
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // A flush does not release what is held: the handshake flushes after every write.
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match this.poll_release(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut this.inner).poll_shutdown(cx),
            other => other,
        }
    }
}

impl Drop for HoldTickets {
    fn drop(&mut self) {
        if !self.held.is_empty() {
            // Best effort and without waiting: a failed handshake's alert, or tickets nobody
            // answered after (the socket's buffer is empty at this point, so it fits).
            let _ = self.inner.try_write(&self.held);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn record(kind: u8, body: &[u8]) -> Vec<u8> {
        let len = u16::try_from(body.len()).unwrap().to_be_bytes();
        [&[kind, 3, 3, len[0], len[1]][..], body].concat()
    }

    async fn pair() -> (HoldTickets, TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap());
        let (client, accepted) = tokio::join!(client, listener.accept());
        (HoldTickets::new(accepted.unwrap().0), client.unwrap())
    }

    /// Reads what arrives within a moment.
    async fn arrived(client: &mut TcpStream) -> Vec<u8> {
        let mut got = vec![0u8; 4096];
        match tokio::time::timeout(std::time::Duration::from_millis(200), client.read(&mut got))
            .await
        {
            Ok(Ok(n)) => got[..n].to_vec(),
            _ => Vec::new(),
        }
    }

    #[test]
    fn only_whole_encrypted_records_qualify() {
        let whole = [record(23, b"ticket one"), record(23, b"two")].concat();
        assert!(whole_encrypted_records(&[io::IoSlice::new(&whole)]));
        // Split anywhere, in a header or a body, into two or three slices.
        for cut in 0..=whole.len() {
            let (a, b) = whole.split_at(cut);
            assert!(
                whole_encrypted_records(&[io::IoSlice::new(a), io::IoSlice::new(b)]),
                "cut at {cut}"
            );
            let (b1, b2) = b.split_at(b.len() / 2);
            let three = [
                io::IoSlice::new(a),
                io::IoSlice::new(b1),
                io::IoSlice::new(b2),
            ];
            assert!(whole_encrypted_records(&three), "cuts at {cut}");
            if cut < whole.len() {
                let short = [io::IoSlice::new(a), io::IoSlice::new(&b[..b.len() - 1])];
                assert!(!whole_encrypted_records(&short), "short, cut at {cut}");
            }
        }
        // A record that claims more than is there.
        let mut long = record(23, b"abc");
        long[4] += 1;
        assert!(!whole_encrypted_records(&[io::IoSlice::new(&long)]));
        // A header only.
        assert!(!whole_encrypted_records(&[io::IoSlice::new(&whole[..3])]));
        assert!(!whole_encrypted_records(&[io::IoSlice::new(
            &whole[..whole.len() - 1]
        )]));
        assert!(!whole_encrypted_records(&[io::IoSlice::new(&record(
            22, b"hs"
        ))]));
        let mixed = [record(23, b"x"), record(21, b"alert")].concat();
        assert!(!whole_encrypted_records(&[io::IoSlice::new(&mixed)]));
        assert!(!whole_encrypted_records(&[io::IoSlice::new(&[])]));
    }

    #[tokio::test]
    async fn tickets_leave_with_the_first_answer() {
        let (mut server, mut client) = pair().await;
        let flight = [record(22, b"server hello"), record(23, b"finished")].concat();
        server.write_all(&flight).await.unwrap();
        assert_eq!(
            arrived(&mut client).await,
            flight,
            "the first flight is never held"
        );
        let tickets = record(23, b"tickets");
        server.write_all(&tickets).await.unwrap();
        server.flush().await.unwrap();
        assert!(
            arrived(&mut client).await.is_empty(),
            "tickets wait for the answer"
        );
        server.handshake_done();
        let answer = record(23, b"HTTP/1.1 101");
        server.write_all(&answer).await.unwrap();
        let mut both = vec![0u8; tickets.len() + answer.len()];
        client.read_exact(&mut both).await.unwrap();
        assert_eq!(both, [tickets, answer].concat());
    }

    #[tokio::test]
    async fn nothing_is_held_before_the_first_flight_after_a_partial_write_or_after_the_handshake()
    {
        let (mut server, mut client) = pair().await;
        let early = record(23, b"not after a flight");
        server.write_all(&early).await.unwrap();
        assert_eq!(arrived(&mut client).await, early);

        let (mut server, mut client) = pair().await;
        server.write_all(&record(22, b"hello")).await.unwrap();
        server.aligned = false;
        let rest = record(23, b"rest of a flight");
        server.write_all(&rest).await.unwrap();
        let got = arrived(&mut client).await;
        assert!(got.ends_with(&rest), "the rest of a flight is never held");

        let (mut server, mut client) = pair().await;
        server.write_all(&record(22, b"hello")).await.unwrap();
        let _ = arrived(&mut client).await;
        server.handshake_done();
        let answer = record(23, b"answer");
        server.write_all(&answer).await.unwrap();
        assert_eq!(arrived(&mut client).await, answer);
    }

    #[tokio::test]
    async fn held_bytes_leave_on_shutdown_and_on_drop() {
        let (mut server, mut client) = pair().await;
        server.write_all(&record(22, b"hello")).await.unwrap();
        let _ = arrived(&mut client).await;
        let alert = record(23, b"alert");
        server.write_all(&alert).await.unwrap();
        server.shutdown().await.unwrap();
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).await.unwrap();
        assert_eq!(rest, alert);

        let (mut server, mut client) = pair().await;
        server.write_all(&record(22, b"hello")).await.unwrap();
        let _ = arrived(&mut client).await;
        server.write_all(&alert).await.unwrap();
        drop(server);
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).await.unwrap();
        assert_eq!(rest, alert);
    }
}
