//! Opening connections: from a spread of loopback source addresses (the gateway limits
//! connections per address, as it should), TLS, and the tunnel request.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use anyhow::{Context as _, bail};
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};

/// A TLS client stream.
pub type Tls = tokio_rustls::client::TlsStream<TcpStream>;

/// The `n`-th of `spread` loopback source addresses (127.1.0.1, 127.1.0.2, …); `None` when not
/// spreading.
pub fn source(n: usize, spread: usize) -> Option<IpAddr> {
    if spread <= 1 {
        return None;
    }
    let i = (n % spread) as u32 + 1;
    Some(IpAddr::V4(Ipv4Addr::from(
        u32::from(Ipv4Addr::new(127, 1, 0, 0)) + i,
    )))
}

/// TCP from `from` (or any address) to `to`, with Nagle off.
pub async fn tcp(to: SocketAddr, from: Option<IpAddr>) -> anyhow::Result<TcpStream> {
    let stream = match from {
        None => TcpStream::connect(to).await?,
        Some(ip) => {
            let socket = TcpSocket::new_v4()?;
            socket.bind(SocketAddr::new(ip, 0))?;
            socket.connect(to).await?
        }
    };
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// TCP and a TLS handshake.
pub async fn tls(
    to: SocketAddr,
    from: Option<IpAddr>,
    config: Arc<ClientConfig>,
) -> anyhow::Result<Tls> {
    let tcp = tcp(to, from).await?;
    let name = ServerName::try_from("cloudgate").expect("a valid name");
    tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .context("TLS handshake")
}

/// Asks the gateway for a tunnel to `service` on an open connection; after `Ok` the stream is
/// the raw tunnel.
pub async fn open_tunnel(stream: &mut Tls, service: &str) -> anyhow::Result<()> {
    open_tunnel_with(stream, service, &[]).await
}

/// [`open_tunnel`], with the tunnel's `first` bytes written together with the request.
pub async fn open_tunnel_with(stream: &mut Tls, service: &str, first: &[u8]) -> anyhow::Result<()> {
    let mut request = format!(
        "GET /v1/tunnel/{service} HTTP/1.1\r\nHost: cloudgate\r\nConnection: Upgrade\r\nUpgrade: cloudgate-tunnel\r\n\r\n"
    )
    .into_bytes();
    request.extend_from_slice(first);
    stream.write_all(&request).await?;
    // Read the answer head byte by byte: the tunnel's first bytes must stay in the stream.
    let mut head = Vec::with_capacity(256);
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 8192 {
            bail!("answer head too long");
        }
        if stream.read(&mut byte).await? == 0 {
            bail!("closed before answering the tunnel request");
        }
        head.push(byte[0]);
    }
    if !head.starts_with(b"HTTP/1.1 101") {
        bail!(
            "tunnel refused: {}",
            String::from_utf8_lossy(&head).lines().next().unwrap_or("")
        );
    }
    Ok(())
}

/// Enrolls `id`'s certificate as `user` with `password` over a fresh connection from `from`;
/// the gateway's whole answer (status line first).
pub async fn enroll_once(
    to: SocketAddr,
    from: Option<IpAddr>,
    pin: [u8; 32],
    id: &crate::tls::Identity,
    user: &str,
    password: &str,
) -> anyhow::Result<Vec<u8>> {
    use base64::Engine as _;
    let config = crate::tls::client_config(pin, Some(id), false)?;
    let mut s = tls(to, from, config).await?;
    let body = serde_json::json!({
        "client_cert_pem": cloudgate_pki::pem::encode_certificate(&id.cert_der)
    })
    .to_string();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let req = format!(
        "POST /v1/enroll HTTP/1.1\r\nHost: cloudgate\r\nAuthorization: Basic {auth}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await?;
    let mut answer = Vec::new();
    // The gateway closes after its answer, with or without a TLS close_notify.
    let _ = s.read_to_end(&mut answer).await;
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_spread_over_loopback_addresses_and_wrap() {
        assert_eq!(source(5, 1), None);
        assert_eq!(source(0, 64), Some(IpAddr::V4(Ipv4Addr::new(127, 1, 0, 1))));
        assert_eq!(
            source(63, 64),
            Some(IpAddr::V4(Ipv4Addr::new(127, 1, 0, 64)))
        );
        assert_eq!(source(64, 64), source(0, 64));
        // Past 255 the address carries into the third octet rather than wrapping to .0.
        assert_eq!(
            source(299, 300),
            Some(IpAddr::V4(Ipv4Addr::new(127, 1, 1, 44)))
        );
    }
}
