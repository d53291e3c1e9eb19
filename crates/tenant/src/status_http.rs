//! The tunnel service's own health and metrics endpoint: `GET /health` (200 when every tunnel
//! is up and its gateway answers, else 503 with the reason, with the statuses as JSON) and `GET /metrics` (Prometheus text). A small
//! HTTP/1.0 responder with limits, meant for loopback or a monitoring network.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::error::TenantError;
use crate::supervisor::{Statuses, render_metrics};

/// Largest request head read.
const MAX_REQUEST: usize = 8 * 1024;
/// Time a client has to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Requests served at once; more wait.
const MAX_CONCURRENT: usize = 32;

/// Listens on `addr` and serves health and metrics until the task is dropped; returns the
/// bound address and the task.
pub async fn serve_status(
    addr: SocketAddr,
    statuses: Statuses,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>), TenantError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| TenantError::Listen {
            address: addr.to_string(),
            reason: format!("{e}{}", cloudgate_addr::listen_hint(e.kind(), addr)),
        })?;
    let local = listener.local_addr().map_err(|e| TenantError::Listen {
        address: addr.to_string(),
        reason: e.to_string(),
    })?;
    let slots = Arc::new(Semaphore::new(MAX_CONCURRENT));
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let Ok(permit) = slots.clone().acquire_owned().await else {
                return;
            };
            let statuses = statuses.clone();
            tokio::spawn(async move {
                let _ = tokio::time::timeout(REQUEST_TIMEOUT, answer(stream, &statuses)).await;
                drop(permit);
            });
        }
    });
    Ok((local, task))
}

async fn answer(mut stream: TcpStream, statuses: &Statuses) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && !head.windows(2).any(|w| w == b"\n\n") {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
        if head.len() > MAX_REQUEST {
            return respond(&mut stream, 431, "text/plain", "request too large\n").await;
        }
    }
    let line = String::from_utf8_lossy(&head);
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if method != "GET" {
        return respond(&mut stream, 405, "text/plain", "only GET\n").await;
    }
    let all: Vec<_> = statuses
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .values()
        .map(crate::supervisor::TunnelStatus::observed)
        .collect();
    match path {
        "/health" => {
            let healthy = all.iter().all(|s| s.is_up());
            let body = serde_json::json!({ "healthy": healthy, "tunnels": all }).to_string() + "\n";
            respond(
                &mut stream,
                if healthy { 200 } else { 503 },
                "application/json",
                &body,
            )
            .await
        }
        "/metrics" => {
            respond(
                &mut stream,
                200,
                "text/plain; version=0.0.4",
                &render_metrics(&all),
            )
            .await
        }
        _ => {
            respond(
                &mut stream,
                404,
                "text/plain",
                "not found; try /health or /metrics\n",
            )
            .await
        }
    }
}

async fn respond(
    stream: &mut TcpStream,
    status: u16,
    kind: &str,
    body: &str,
) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        _ => "Service Unavailable",
    };
    let head = format!(
        "HTTP/1.0 {status} {reason}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}
