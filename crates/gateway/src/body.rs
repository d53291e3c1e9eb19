//! Reading a request body with a size cap and a deadline. When the body is too large, a little
//! more of it is read and thrown away before the answer (a lingering close), so that an honest
//! client still writing its body sees the 413 instead of a connection reset.

use std::time::Duration;

use bytes::Buf as _;
use http_body_util::BodyExt as _;
use tokio::time::Instant;

/// At most this much of a too-large body is read and discarded.
const DRAIN_BYTES: usize = 1024 * 1024;
/// For at most this long.
const DRAIN_TIME: Duration = Duration::from_secs(1);

/// Why a body was not read.
#[derive(Debug, PartialEq, Eq)]
pub enum BodyError {
    /// Longer than the cap (or declared so).
    TooLarge,
    /// Not complete by the deadline.
    Timeout,
    /// The connection failed or the framing was invalid.
    Broken,
}

/// Reads `body` whole, at most `max` bytes, by `deadline` from now. A `declared` length over
/// `max` is refused without reading more than the drain.
pub async fn read_capped<B>(
    mut body: B,
    declared: Option<u64>,
    max: usize,
    deadline: Duration,
) -> Result<Vec<u8>, BodyError>
where
    B: hyper::body::Body + Unpin,
{
    if declared.is_some_and(|n| n > max as u64) {
        drain(body, 0).await;
        return Err(BodyError::TooLarge);
    }
    let until = Instant::now() + deadline;
    let mut out = Vec::new();
    loop {
        let frame = match tokio::time::timeout_at(until, body.frame()).await {
            Err(_) => return Err(BodyError::Timeout),
            Ok(None) => return Ok(out),
            Ok(Some(Err(_))) => return Err(BodyError::Broken),
            Ok(Some(Ok(frame))) => frame,
        };
        if let Ok(mut data) = frame.into_data() {
            if out.len() + data.remaining() > max {
                drain(body, out.len() + data.remaining()).await;
                return Err(BodyError::TooLarge);
            }
            while data.has_remaining() {
                let chunk = data.chunk();
                out.extend_from_slice(chunk);
                let n = chunk.len();
                data.advance(n);
            }
        }
    }
}

async fn drain<B>(mut body: B, mut seen: usize)
where
    B: hyper::body::Body + Unpin,
{
    let until = Instant::now() + DRAIN_TIME;
    while seen < DRAIN_BYTES {
        match tokio::time::timeout_at(until, body.frame()).await {
            Ok(Some(Ok(frame))) => {
                seen += frame.data_ref().map_or(0, |d| d.remaining());
            }
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http_body_util::Full;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    /// A body whose bytes never come.
    struct Never;

    impl hyper::body::Body for Never {
        type Data = Bytes;
        type Error = std::io::Error;

        fn poll_frame(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, std::io::Error>>> {
            Poll::Pending
        }
    }

    #[tokio::test]
    async fn caps_and_deadlines() {
        let second = Duration::from_secs(1);
        let ok = read_capped(Full::new(Bytes::from_static(b"{}")), None, 10, second).await;
        assert_eq!(ok.unwrap(), b"{}");
        let big = read_capped(Full::new(Bytes::from(vec![0u8; 11])), None, 10, second).await;
        assert_eq!(big, Err(BodyError::TooLarge));
        let declared = read_capped(Full::new(Bytes::new()), Some(11), 10, second).await;
        assert_eq!(declared, Err(BodyError::TooLarge));
        let slow = read_capped(Never, None, 10, Duration::from_millis(100)).await;
        assert_eq!(slow, Err(BodyError::Timeout));
    }
}
