//! Raw bytes sent to the gateway after the TLS handshake: the gateway's own reading of a plain
//! tunnel request, then hyper reads the request with the gateway's own HTTP/1.1 settings, then the gateway's own routing, credential and body parsing
//! run on what it read.
#![no_main]

use std::convert::Infallible;
use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use cloudgate_gateway::body::read_capped;
use cloudgate_gateway::request::{
    Route, TunnelHead, basic_credentials, enroll_certificate, http1_builder, is_tunnel_upgrade,
    route, tunnel_head,
};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use libfuzzer_sys::fuzz_target;
use tokio::io::AsyncWriteExt as _;

async fn handle(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_string();
    let method = req.method().as_str().to_string();
    let r = route(&method, &path);
    if let Some(v) = req.headers().get(hyper::header::AUTHORIZATION) {
        let _ = basic_credentials(v.as_bytes());
    }
    if let Some(v) = req.headers().get(hyper::header::UPGRADE) {
        let _ = is_tunnel_upgrade(v.as_bytes());
    }
    if r == Route::Enroll {
        let declared = req
            .headers()
            .get(hyper::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if let Ok(body) =
            read_capped(req.into_body(), declared, 64 * 1024, Duration::from_secs(1)).await
        {
            let _ = enroll_certificate(&body);
        }
    }
    Ok(Response::new(Full::new(Bytes::from_static(b"{}"))))
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime")
    })
}

fuzz_target!(|data: &[u8]| {
    if let TunnelHead::Tunnel { service, head_len } = tunnel_head(data) {
        assert!(head_len <= data.len() && route("GET", &format!("/v1/tunnel/{service}")) == Route::Tunnel(service));
    }
    runtime().block_on(async {
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        let input = data.to_vec();
        let writer = tokio::spawn(async move {
            let _ = client.write_all(&input).await;
            let _ = client.shutdown().await;
            // Drain the response so the server never blocks on a full pipe.
            let mut sink = Vec::new();
            let _ = tokio::io::AsyncReadExt::read_to_end(&mut client, &mut sink).await;
        });
        let conn = http1_builder(Duration::from_secs(1))
            .serve_connection(TokioIo::new(server), service_fn(handle))
            .with_upgrades();
        let _ = tokio::time::timeout(Duration::from_secs(2), conn).await;
        writer.abort();
        // Reap the aborted task inside this run: left in the runtime, its buffers were
        // reported as a leak (the first finding of this target, in the harness itself).
        let _ = writer.await;
    });
});
