//! The servers the benchmark runs beside the gateway: an echo backend and the bare rustls server
//! (handshake with the gateway's client-certificate verifier, then echo), which shows what
//! rustls alone costs.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpListener;

use crate::tls::{Identity, server_config};

/// Echoes every connection until the peer closes its side.
pub async fn echo(listen: SocketAddr) -> anyhow::Result<()> {
    let listener = TcpListener::bind(listen).await?;
    println!("echo listening on {}", listener.local_addr()?);
    loop {
        let (mut s, _) = listener.accept().await?;
        let _ = s.set_nodelay(true);
        tokio::spawn(async move {
            let (mut r, mut w) = s.split();
            let _ = tokio::io::copy(&mut r, &mut w).await;
            let _ = w.shutdown().await;
        });
    }
}

/// TLS with the gateway's settings, then echo in-process, or, with `backend`, a relay to it
/// (what the gateway, stunnel and nginx do, without the tunnel request and routing).
pub async fn bare(
    listen: SocketAddr,
    identity: Identity,
    backend: Option<SocketAddr>,
) -> anyhow::Result<()> {
    let acceptor = tokio_rustls::TlsAcceptor::from(server_config(&identity)?);
    let listener = TcpListener::bind(listen).await?;
    println!("bare rustls listening on {}", listener.local_addr()?);
    let acceptor = Arc::new(acceptor);
    loop {
        let (s, _) = listener.accept().await?;
        let _ = s.set_nodelay(true);
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let Ok(mut tls) = acceptor.accept(s).await else {
                return;
            };
            match backend {
                None => {
                    let (mut r, mut w) = tokio::io::split(tls);
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                    let _ = w.shutdown().await;
                }
                Some(addr) => {
                    if let Ok(mut b) = tokio::net::TcpStream::connect(addr).await {
                        let _ = b.set_nodelay(true);
                        let _ = tokio::io::copy_bidirectional(&mut tls, &mut b).await;
                    }
                }
            }
        });
    }
}
