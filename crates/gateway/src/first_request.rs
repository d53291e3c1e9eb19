//! The first request on a connection, read by the gateway itself: a plain tunnel request is
//! answered here, on the connection's own task, and everything else is handed to the full HTTP
//! server with the bytes read so far put back.
//!
//! Why: through hyper, a tunnel cost a dispatcher, a second task (hyper answers `101`, then
//! hands the connection over) and a write of its own for the answer; together more than all
//! of the gateway's checks (issue 31). The checks, the counting and the audit are the same
//! calls whichever way the request came ([`crate::tunnel::open`],
//! [`crate::http::tunnel_answered`]).

use std::sync::LazyLock;
use std::time::Duration;

use http_body_util::BodyExt as _;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

use crate::http::{ConnInfo, Ctx, Resp, refusal, tunnel_answered};
use crate::request::{MAX_HEAD_BYTES, TunnelHead, tunnel_head};
use crate::rewind::Rewind;

/// What the first bytes of a connection turned out to be.
pub(crate) enum First {
    /// A plain tunnel request to `service`; `buf[head_len..]` is already the tunnel's.
    Tunnel {
        service: String,
        buf: Vec<u8>,
        head_len: usize,
    },
    /// Anything else, with what was read of it (for the full server to read again).
    Other(Vec<u8>),
}

/// Room for a usual request head; grown, up to [`MAX_HEAD_BYTES`], for a longer one.
const FIRST_READ: usize = 1024;

/// Reads until a request head is complete, the connection ends, or [`MAX_HEAD_BYTES`] were
/// read; `None` if `within` passed first (as the full server, the gateway then just closes).
pub(crate) async fn read_first<IO: AsyncRead + Unpin>(
    io: &mut IO,
    within: Duration,
) -> Option<std::io::Result<First>> {
    let read = async {
        let mut buf = Vec::with_capacity(FIRST_READ);
        loop {
            if buf.len() == buf.capacity() {
                buf.reserve((MAX_HEAD_BYTES - buf.len()).min(buf.len()).max(1));
            }
            if io.read_buf(&mut buf).await? == 0 {
                return Ok(First::Other(buf));
            }
            match tunnel_head(&buf) {
                TunnelHead::Tunnel { service, head_len } => {
                    let service = service.to_string();
                    return Ok(First::Tunnel {
                        service,
                        buf,
                        head_len,
                    });
                }
                TunnelHead::Incomplete if buf.len() < MAX_HEAD_BYTES => {}
                TunnelHead::Incomplete | TunnelHead::Other => return Ok(First::Other(buf)),
            }
        }
    };
    tokio::time::timeout(within, read).await.ok()
}

/// Answers a plain tunnel request: the tunnel, relayed on this task, or the refusal, written
/// as the full server would have written it, and the connection closed.
pub(crate) async fn serve_tunnel<IO>(
    mut io: IO,
    service: &str,
    buf: Vec<u8>,
    head_len: usize,
    conn: &ConnInfo,
    ctx: &Ctx,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send,
{
    let opened = crate::tunnel::open(service, conn, ctx, true).await;
    tunnel_answered(ctx, conn, service, opened.as_ref().err().and_then(refusal));
    // Writing the answer is bounded like reading the request: a client that reads nothing
    // does not hold the connection.
    let within = ctx.config.header_timeout;
    match opened {
        Ok(tunnel) => {
            let answer = async {
                io.write_all(&SWITCHING_PROTOCOLS).await?;
                io.flush().await
            };
            match tokio::time::timeout(within, answer).await {
                Ok(Ok(())) => tunnel.relay(Rewind::new(buf, head_len, io)).await,
                Ok(Err(e)) => {
                    tracing::debug!(peer = %conn.peer, error = %e, "tunnel answer not delivered")
                }
                Err(_) => tracing::debug!(peer = %conn.peer, "tunnel answer not read in time"),
            }
        }
        Err(refused) => {
            drop(buf);
            let bytes = response_bytes(refused).await;
            let _ = tokio::time::timeout(within, async {
                io.write_all(&bytes).await?;
                io.shutdown().await
            })
            .await;
        }
    }
}

/// The `101` answer's bytes, made once from the same response the full server sends.
static SWITCHING_PROTOCOLS: LazyLock<Vec<u8>> =
    LazyLock::new(|| head_bytes(&crate::tunnel::switching_protocols(), None));

/// A whole answer as HTTP/1.1 bytes, as the full server (one request per connection) writes it.
async fn response_bytes(resp: Resp) -> Vec<u8> {
    let body = match resp.body().clone().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(never) => match never {},
    };
    let mut out = head_bytes(&resp, Some(body.len()));
    out.extend_from_slice(&body);
    out
}

/// Status line and headers; for a final answer (`body_len` given) also its length, the
/// connection's close and the date, which an informational one must not or need not carry.
fn head_bytes(resp: &Resp, body_len: Option<usize>) -> Vec<u8> {
    let status = resp.status();
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    let mut header = |name: &[u8], value: &[u8]| {
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    };
    for (name, value) in resp.headers() {
        header(name.as_str().as_bytes(), value.as_bytes());
    }
    if let Some(len) = body_len {
        header(b"content-length", len.to_string().as_bytes());
        header(b"connection", b"close");
        header(
            b"date",
            httpdate::fmt_http_date(std::time::SystemTime::now()).as_bytes(),
        );
    }
    out.extend_from_slice(b"\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloudgate_proto::ErrorCode;

    #[test]
    fn the_switching_answer_is_a_bare_head() {
        let text = String::from_utf8(SWITCHING_PROTOCOLS.clone()).unwrap();
        assert!(
            text.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
            "{text}"
        );
        assert!(text.contains("\r\nupgrade: cloudgate-tunnel\r\n"), "{text}");
        assert!(text.contains("\r\nconnection: upgrade\r\n"), "{text}");
        assert!(!text.contains("content-length"), "{text}");
        assert!(text.ends_with("\r\n\r\n"), "{text}");
    }

    #[tokio::test]
    async fn a_refusal_is_written_whole_with_its_length_and_close() {
        let resp = crate::http::error(ErrorCode::NotFound, "no such service");
        let bytes = response_bytes(resp).await;
        let text = String::from_utf8(bytes).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 404 Not Found\r\n"), "{head}");
        assert!(
            head.contains(&format!("\r\ncontent-length: {}", body.len())),
            "{head}"
        );
        assert!(head.contains("\r\nconnection: close"), "{head}");
        assert!(
            head.contains("\r\ncontent-type: application/json"),
            "{head}"
        );
        assert!(head.contains("\r\nx-frame-options: DENY"), "{head}");
        assert!(head.contains("\r\ndate: "), "{head}");
        let parsed: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(parsed["code"], "not_found");
    }

    #[tokio::test]
    async fn reading_stops_at_a_complete_head_and_keeps_what_followed() {
        let (mut near, mut far) = tokio::io::duplex(64 * 1024);
        far.write_all(b"GET /v1/tunnel/db HTTP/1.1\r\nConnection: upgrade\r\nUpgrade: cloudgate-tunnel\r\n\r\nhello")
            .await
            .unwrap();
        match read_first(&mut near, Duration::from_secs(5)).await {
            Some(Ok(First::Tunnel {
                service,
                buf,
                head_len,
            })) => {
                assert_eq!(service, "db");
                assert_eq!(&buf[head_len..], b"hello");
            }
            _ => panic!("expected a tunnel request"),
        }
    }

    #[tokio::test]
    async fn anything_else_goes_on_with_its_bytes_and_a_silent_client_times_out() {
        let (mut near, mut far) = tokio::io::duplex(64 * 1024);
        far.write_all(b"GET /v1/provider HTTP/1.1\r\n\r\n")
            .await
            .unwrap();
        match read_first(&mut near, Duration::from_secs(5)).await {
            Some(Ok(First::Other(buf))) => assert_eq!(buf, b"GET /v1/provider HTTP/1.1\r\n\r\n"),
            _ => panic!("expected another request"),
        }
        let (mut near, mut far) = tokio::io::duplex(64 * 1024);
        let long = format!(
            "GET /v1/tunnel/db HTTP/1.1\r\nX: {}",
            "a".repeat(MAX_HEAD_BYTES)
        );
        far.write_all(long.as_bytes()).await.unwrap();
        match read_first(&mut near, Duration::from_secs(5)).await {
            Some(Ok(First::Other(buf))) => {
                assert!(buf.len() >= MAX_HEAD_BYTES && buf.len() < 2 * MAX_HEAD_BYTES)
            }
            _ => panic!("an endless head goes to the full server, which refuses it"),
        }
        let (mut near, _far) = tokio::io::duplex(64);
        assert!(
            read_first(&mut near, Duration::from_millis(100))
                .await
                .is_none()
        );
    }
}
