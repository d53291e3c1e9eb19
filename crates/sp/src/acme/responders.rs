//! Answering the CA's challenges: an HTTP-01 responder of our own (a few lines of HTTP/1.1 on a
//! socket, bounded in size, time and connections, since anyone can reach it while it runs), and
//! DNS-01 through the SP's hook command.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::AcmeError;

/// The path prefix the CA asks under.
const CHALLENGE_PATH: &str = "/.well-known/acme-challenge/";
/// The most a request may be before it is answered.
const MAX_REQUEST: usize = 8 * 1024;
/// How long a connection may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections answered at once.
const MAX_CONNECTIONS: usize = 64;
/// How long a DNS hook may run.
const HOOK_TIMEOUT: Duration = Duration::from_secs(300);

/// The HTTP-01 responder, listening until dropped.
pub struct Http01 {
    tokens: Arc<Mutex<HashMap<String, String>>>,
    task: tokio::task::JoinHandle<()>,
    address: SocketAddr,
}

impl Drop for Http01 {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Http01 {
    /// Listens on `address`.
    pub async fn bind(address: SocketAddr) -> Result<Self, AcmeError> {
        let listener =
            tokio::net::TcpListener::bind(address)
                .await
                .map_err(|e| AcmeError::Listen {
                    address: address.to_string(),
                    detail: e.to_string(),
                })?;
        let address = listener.local_addr().unwrap_or(address);
        let tokens: Arc<Mutex<HashMap<String, String>>> = Arc::default();
        let served = tokens.clone();
        let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    // Out of file descriptors, say: wait rather than spin on the error.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                };
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    continue;
                };
                let tokens = served.clone();
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(REQUEST_TIMEOUT, answer(stream, &tokens)).await;
                    drop(slot);
                });
            }
        });
        Ok(Http01 {
            tokens,
            task,
            address,
        })
    }

    /// Where it listens.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Answers `token` with `key_authorization` from now on.
    pub fn serve(&self, token: &str, key_authorization: &str) {
        if let Ok(mut t) = self.tokens.lock() {
            t.insert(token.to_string(), key_authorization.to_string());
        }
    }
}

async fn answer(
    mut stream: tokio::net::TcpStream,
    tokens: &Mutex<HashMap<String, String>>,
) -> std::io::Result<()> {
    let mut request = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await?;
        if n == 0 || request.len() + n > MAX_REQUEST {
            return Ok(());
        }
        request.extend_from_slice(&buf[..n]);
    }
    let line = request
        .split(|&b| b == b'\r')
        .next()
        .and_then(|l| std::str::from_utf8(l).ok())
        .unwrap_or("");
    let mut words = line.split(' ');
    let body = match (words.next(), words.next()) {
        (Some("GET"), Some(path)) => path
            .strip_prefix(CHALLENGE_PATH)
            .and_then(|token| tokens.lock().ok()?.get(token).cloned()),
        _ => None,
    };
    let response = match body {
        Some(body) => format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
        None => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".into(),
    };
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

/// Runs the DNS hook: `HOOK add|remove RECORD VALUE`, e.g. `HOOK add
/// _acme-challenge.sp.example.com 3q2-…`. It must return once the record is in place (or gone);
/// a non-zero exit is a failure, with what it wrote to stderr.
pub async fn dns_hook(
    hook: &Path,
    action: &'static str,
    record: &str,
    value: &str,
) -> Result<(), AcmeError> {
    let failed = |detail: String| AcmeError::Hook {
        hook: hook.display().to_string(),
        action,
        record: record.to_string(),
        detail,
    };
    let child = tokio::process::Command::new(hook)
        .args([action, record, value])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| failed(format!("cannot run it: {e}")))?;
    let out = tokio::time::timeout(HOOK_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| failed(format!("still running after {} s", HOOK_TIMEOUT.as_secs())))?
        .map_err(|e| failed(e.to_string()))?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let said: String = stderr.trim().chars().take(500).collect();
    Err(failed(format!(
        "{}{}",
        out.status,
        if said.is_empty() {
            String::new()
        } else {
            format!(": {said}")
        }
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn get(addr: SocketAddr, request: &[u8]) -> String {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let _ = s.write_all(request).await;
        let mut out = String::new();
        // A refused request may end in a reset rather than a close: either says nothing.
        let _ = s.read_to_string(&mut out).await;
        out
    }

    #[tokio::test]
    async fn the_responder_answers_known_tokens_only() {
        let r = Http01::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        r.serve("tok", "tok.thumb");
        let ok = get(
            r.address(),
            b"GET /.well-known/acme-challenge/tok HTTP/1.1\r\nHost: a.test\r\n\r\n",
        )
        .await;
        assert!(
            ok.starts_with("HTTP/1.1 200") && ok.ends_with("\r\n\r\ntok.thumb"),
            "{ok}"
        );
        for other in [
            &b"GET /.well-known/acme-challenge/nope HTTP/1.1\r\n\r\n"[..],
            b"GET /tok HTTP/1.1\r\n\r\n",
            b"POST /.well-known/acme-challenge/tok HTTP/1.1\r\n\r\n",
        ] {
            assert!(get(r.address(), other).await.starts_with("HTTP/1.1 404"));
        }
        let huge = [b'a'; MAX_REQUEST + 10];
        assert_eq!(
            get(r.address(), &huge).await,
            "",
            "too long: closed unanswered"
        );
    }

    #[tokio::test]
    async fn a_port_in_use_is_said() {
        let held = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = held.local_addr().unwrap();
        let e = Http01::bind(addr).await.err().unwrap();
        assert!(e.to_string().contains(&addr.to_string()), "{e}");
    }
}
