//! Opening the gateway's listening sockets: the default `[::]` listens on IPv6 and IPv4 at once
//! (dual-stack, whatever `net.ipv6.bindv6only` says), and falls back to IPv4 alone on a
//! machine where IPv6 is off.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use socket2::{Domain, Socket, Type};
use tokio::net::TcpListener;

use crate::GatewayError;

/// Pending connections the kernel queues before the accept loop takes them.
const BACKLOG: i32 = 1024;

/// Binds `addr`; an unspecified IPv6 address also accepts IPv4, or becomes `0.0.0.0` where the
/// system has no IPv6.
pub fn bind(addr: SocketAddr) -> Result<TcpListener, GatewayError> {
    match bind_once(addr) {
        Err(e) if addr.ip() == IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED) && no_ipv6(&e) => {
            let v4 = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), addr.port());
            tracing::info!(listen = %v4, "IPv6 is not available here: listening on IPv4 only");
            bind_once(v4).map_err(|source| GatewayError::Listen { addr: v4, source })
        }
        result => result.map_err(|source| GatewayError::Listen { addr, source }),
    }
}

fn no_ipv6(e: &std::io::Error) -> bool {
    const EAFNOSUPPORT: i32 = 97;
    e.raw_os_error() == Some(EAFNOSUPPORT)
        || matches!(
            e.kind(),
            std::io::ErrorKind::AddrNotAvailable | std::io::ErrorKind::Unsupported
        )
}

fn bind_once(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    if addr.is_ipv6() && addr.ip().is_unspecified() {
        socket.set_only_v6(false)?;
    }
    // As tokio's own bind does: a restarted gateway gets its port back while old connections
    // of the previous one are still in TIME_WAIT.
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    TcpListener::from_std(socket.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_default_address_takes_ipv4_and_ipv6() {
        let listener = bind("[::]:0".parse().unwrap()).unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("IPv4 reaches the dual-stack listener");
        if std::net::TcpListener::bind("[::1]:0").is_ok() {
            tokio::net::TcpStream::connect(("::1", port))
                .await
                .expect("IPv6 reaches it too");
        }
    }

    #[tokio::test]
    async fn a_port_in_use_says_so() {
        let first = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = first.local_addr().unwrap();
        let err = bind(addr).unwrap_err().to_string();
        assert!(err.contains("another process uses this port"), "{err}");
    }
}
