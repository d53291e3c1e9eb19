//! Addresses as people type them, parsed in one place: a gateway to reach (`HOST`,
//! `HOST:PORT`, `[IPv6]:PORT`), an address to listen on (`PORT`, `:PORT`, `ADDR:PORT`,
//! `[IPv6]:PORT`, `localhost:PORT`) and an SP service target (`HOST:PORT`). No I/O: names are
//! kept as names and resolved by whoever connects.

pub mod limit;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The gateway port, as in the reference product.
pub const GATEWAY_PORT: u16 = 6180;

/// Longest host name accepted (RFC 1035's 253 plus room for an IPv6 zone).
const MAX_HOST_LEN: usize = 255;

/// Why an address was refused; the text says which forms are accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input:?} is not {expected}: {reason}")]
pub struct AddrError {
    /// What was given.
    pub input: String,
    /// The accepted forms, e.g. `HOST, HOST:PORT or [IPv6]:PORT`.
    pub expected: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

/// A host (name or address) and a port, as a tenant names a gateway or an SP names a backend.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostPort {
    /// A DNS name, an IPv4 address, or an IPv6 address without brackets.
    pub host: String,
    /// The TCP port.
    pub port: u16,
}

impl HostPort {
    /// Reads `HOST`, `HOST:PORT`, `[IPv6]:PORT`, `[IPv6]` or a bare IPv6 address; a missing port
    /// is `default_port`, and without one the port is required.
    pub fn parse(input: &str, default_port: Option<u16>) -> Result<Self, AddrError> {
        let expected = if default_port.is_some() {
            "HOST, HOST:PORT or [IPv6]:PORT"
        } else {
            "HOST:PORT or [IPv6]:PORT"
        };
        let fail = |reason: &str| AddrError {
            input: input.to_string(),
            expected,
            reason: reason.to_string(),
        };
        let s = input.trim();
        if s.is_empty() {
            return Err(fail("it is empty"));
        }
        if s.contains("://") {
            return Err(fail(
                "give the host and port only, without a scheme such as https://",
            ));
        }
        if s.chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '/')
        {
            return Err(fail("it contains a space, a slash or a control character"));
        }
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (host, after) = rest
                .split_once(']')
                .ok_or_else(|| fail("the closing ] of the IPv6 address is missing"))?;
            if host.parse::<Ipv6Addr>().is_err() {
                return Err(fail("the part in brackets is not an IPv6 address"));
            }
            let port = match after.strip_prefix(':') {
                Some(p) => Some(parse_port(p).map_err(|r| fail(&r))?),
                None if after.is_empty() => None,
                None => return Err(fail("only :PORT may follow the ]")),
            };
            (host, port)
        } else if s.parse::<Ipv6Addr>().is_ok() {
            (s, None)
        } else if s.matches(':').count() > 1 {
            return Err(fail(
                "an IPv6 address with a port goes in brackets: [2001:db8::1]:6180",
            ));
        } else {
            match s.split_once(':') {
                Some((h, p)) => (h, Some(parse_port(p).map_err(|r| fail(&r))?)),
                None => (s, None),
            }
        };
        if host.is_empty() {
            return Err(fail("the host is missing"));
        }
        if host.len() > MAX_HOST_LEN {
            return Err(fail("the host name is too long"));
        }
        let port = port
            .or(default_port)
            .ok_or_else(|| fail("the port is missing"))?;
        if port == 0 {
            return Err(fail("port 0 cannot be reached"));
        }
        Ok(HostPort {
            host: host.to_string(),
            port,
        })
    }

    /// The host as a literal IP address, when it is one.
    pub fn ip(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }
}

impl fmt::Display for HostPort {
    /// `host:port`, with an IPv6 address in brackets, so the text parses back and connects.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

fn parse_port(p: &str) -> Result<u16, String> {
    if p.is_empty() {
        return Err("the port after : is missing".into());
    }
    p.parse::<u16>()
        .map_err(|_| format!("{p:?} is not a port (1-65535)"))
}

/// Reads an address to listen on: `PORT` or `:PORT` (on `default_ip`), `ADDR:PORT`,
/// `[IPv6]:PORT`, or `localhost:PORT` (the IPv4 loopback). Port 0 lets the system choose.
pub fn parse_listen(input: &str, default_ip: IpAddr) -> Result<SocketAddr, AddrError> {
    const EXPECTED: &str = "PORT, ADDR:PORT or [IPv6]:PORT";
    let fail = |reason: String| AddrError {
        input: input.to_string(),
        expected: EXPECTED,
        reason,
    };
    let s = input.trim();
    let bare = s.strip_prefix(':').unwrap_or(s);
    if !bare.is_empty() && bare.bytes().all(|b| b.is_ascii_digit()) {
        let port = bare
            .parse::<u16>()
            .map_err(|_| fail(format!("{bare:?} is not a port (0-65535)")))?;
        return Ok(SocketAddr::new(default_ip, port));
    }
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let (host, port) = s
        .rsplit_once(':')
        .ok_or_else(|| fail("the port is missing".into()))?;
    let port = port
        .parse::<u16>()
        .map_err(|_| fail(format!("{port:?} is not a port (0-65535)")))?;
    match host {
        "localhost" => Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)),
        "*" | "" => Ok(SocketAddr::new(default_ip, port)),
        _ if host.matches(':').count() > 1 && !host.starts_with('[') => Err(fail(
            "an IPv6 address with a port goes in brackets: [::1]:7105".into(),
        )),
        _ => Err(fail(format!(
            "{host:?} is not an IP address; listen on an address of this machine such as 127.0.0.1, [::1], 0.0.0.0 or [::]"
        ))),
    }
}

/// Every address of every interface, IPv6 and (dual-stack) IPv4: the gateway's default.
pub const ANY_DUAL_STACK: IpAddr = IpAddr::V6(Ipv6Addr::UNSPECIFIED);

/// The IPv4 loopback: the default for a tenant's local tunnel ends.
pub const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// What to do about a failure to listen on `addr`, for the message that reports it: a port in
/// use, a privileged port, an address this machine does not have.
pub fn listen_hint(kind: std::io::ErrorKind, addr: SocketAddr) -> &'static str {
    use std::io::ErrorKind;
    match kind {
        ErrorKind::AddrInUse => {
            " (another process uses this port; stop it or choose another port with --listen)"
        }
        ErrorKind::PermissionDenied if addr.port() < 1024 => {
            " (ports below 1024 need root or the CAP_NET_BIND_SERVICE capability; use a port of 1024 or more, or grant it: setcap cap_net_bind_service=+ep $(command -v cloudgate))"
        }
        ErrorKind::AddrNotAvailable => {
            " (this machine has no such address; listen on one of its own addresses, 0.0.0.0 or [::])"
        }
        _ => "",
    }
}

/// `host:port` for a connection or a message, an IPv6 address in brackets.
pub fn endpoint(host: &str, port: u16) -> String {
    HostPort {
        host: host.to_string(),
        port,
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hp(s: &str) -> Result<HostPort, AddrError> {
        HostPort::parse(s, Some(GATEWAY_PORT))
    }

    #[test]
    fn gateway_forms() {
        assert_eq!(hp("sp.example").unwrap().to_string(), "sp.example:6180");
        assert_eq!(hp(" sp.example:7000 ").unwrap().port, 7000);
        assert_eq!(hp("10.0.0.1").unwrap().to_string(), "10.0.0.1:6180");
        assert_eq!(
            hp("[2001:db8::1]:6181").unwrap().to_string(),
            "[2001:db8::1]:6181"
        );
        assert_eq!(hp("[2001:db8::1]").unwrap().port, 6180);
        assert_eq!(hp("2001:db8::1").unwrap().host, "2001:db8::1");
        assert_eq!(hp("::1").unwrap().to_string(), "[::1]:6180");
    }

    #[test]
    fn gateway_refusals_say_why() {
        for bad in [
            "",
            "https://sp:6180",
            "sp:",
            "sp:x",
            "sp:70000",
            ":6180",
            "[::1",
            "[nope]:1",
            "[::1]x",
            "sp 1",
            "sp:0",
            "2001:db8::1:99999x",
        ] {
            let e = hp(bad).unwrap_err();
            assert!(e.to_string().contains("is not HOST"), "{bad:?}: {e}");
        }
        assert!(
            HostPort::parse("backend", None)
                .unwrap_err()
                .reason
                .contains("port is missing")
        );
    }

    #[test]
    fn listen_forms() {
        let l = |s| parse_listen(s, LOOPBACK);
        assert_eq!(l("7105").unwrap(), "127.0.0.1:7105".parse().unwrap());
        assert_eq!(l(":7105").unwrap(), "127.0.0.1:7105".parse().unwrap());
        assert_eq!(l("0.0.0.0:7105").unwrap(), "0.0.0.0:7105".parse().unwrap());
        assert_eq!(l("[::]:6180").unwrap(), "[::]:6180".parse().unwrap());
        assert_eq!(l("localhost:0").unwrap(), "127.0.0.1:0".parse().unwrap());
        assert_eq!(
            parse_listen("6180", ANY_DUAL_STACK).unwrap(),
            "[::]:6180".parse().unwrap()
        );
        for bad in [
            "",
            "nowhere",
            "99999",
            "example.com:80",
            "::1:80",
            "1.2.3.4:x",
        ] {
            assert!(l(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn listen_hints() {
        use std::io::ErrorKind;
        let low: SocketAddr = "127.0.0.1:80".parse().unwrap();
        let high: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        assert!(listen_hint(ErrorKind::PermissionDenied, low).contains("CAP_NET_BIND_SERVICE"));
        assert_eq!(listen_hint(ErrorKind::PermissionDenied, high), "");
        assert!(listen_hint(ErrorKind::AddrInUse, high).contains("another process"));
        assert_eq!(endpoint("::1", 6180), "[::1]:6180");
    }
}
