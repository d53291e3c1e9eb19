//! Reading what a stranger sends in a request: the route, HTTP Basic credentials, the
//! enrollment body and the tunnel upgrade. Pure functions of bytes, so the fuzz targets in
//! `fuzz/` reach exactly the code the gateway runs.

use base64::Engine as _;
use zeroize::Zeroizing;

use crate::TUNNEL_PROTOCOL;

/// The most bytes of request line and headers the gateway buffers (hyper's smallest setting
/// is 8 KiB); a longer head is answered `431` and the connection closed.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;

/// The HTTP/1.1 settings of every gateway connection: one request per connection (tenants open
/// a connection per request or tunnel anyway, and an idle keep-alive connection would let a
/// stranger hold a slot with no timeout), a deadline for the request head, a bounded head.
pub fn http1_builder(header_timeout: std::time::Duration) -> hyper::server::conn::http1::Builder {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(hyper_util::rt::TokioTimer::new())
        .keep_alive(false)
        .max_buf_size(MAX_HEAD_BYTES)
        .header_read_timeout(header_timeout);
    builder
}

/// The longest service name a tunnel request may carry (service names are short identifiers).
pub const MAX_SERVICE_NAME: usize = 128;

/// What a request asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Route<'a> {
    /// `GET /v1/provider`.
    Provider,
    /// `POST /v1/enroll`.
    Enroll,
    /// `GET /v1/tenant`.
    Tenant,
    /// `GET /v1/tunnel/{service}`.
    Tunnel(&'a str),
    /// Anything else.
    NotFound,
}

/// Maps a method and path to a route. A tunnel's service name must be non-empty, at most
/// [`MAX_SERVICE_NAME`] bytes and contain no `/`.
pub fn route<'a>(method: &str, path: &'a str) -> Route<'a> {
    match (method, path) {
        ("GET", "/v1/provider") => Route::Provider,
        ("POST", "/v1/enroll") => Route::Enroll,
        ("GET", "/v1/tenant") => Route::Tenant,
        ("GET", p) => match p.strip_prefix("/v1/tunnel/") {
            Some(s) if !s.is_empty() && s.len() <= MAX_SERVICE_NAME && !s.contains('/') => {
                Route::Tunnel(s)
            }
            _ => Route::NotFound,
        },
        _ => Route::NotFound,
    }
}

/// Tenant credentials from an `Authorization: Basic base64(user:password)` header value.
/// The password (and the decoded header, which contains it) are zeroized when dropped.
pub fn basic_credentials(value: &[u8]) -> Option<(String, Zeroizing<String>)> {
    let value = std::str::from_utf8(value).ok()?;
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))?;
    let decoded = Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()?,
    );
    let text = std::str::from_utf8(&decoded).ok()?;
    let (user, pass) = text.split_once(':')?;
    Some((user.to_string(), Zeroizing::new(pass.to_string())))
}

/// Longest machine label kept.
pub const MAX_LABEL: usize = 64;

/// What an enrollment body asks.
#[derive(Debug, PartialEq, Eq)]
pub struct EnrollRequest {
    /// The client certificate, DER.
    pub cert_der: Vec<u8>,
    /// The machine's label (its host name), when it sent a usable one: at most
    /// [`MAX_LABEL`] characters, no control characters; anything else is dropped, not refused.
    pub label: Option<String>,
}

/// Why an enrollment body was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum EnrollBodyError {
    /// Not the JSON object `{"client_cert_pem": "..."}`.
    NotJson,
    /// The JSON carried no PEM certificate.
    NoCertificate,
}

/// The first certificate and the label of an enrollment body
/// `{"client_cert_pem": "...", "label": "..."}`.
pub fn enroll_request(body: &[u8]) -> Result<EnrollRequest, EnrollBodyError> {
    let parsed: cloudgate_proto::EnrollRequest =
        serde_json::from_slice(body).map_err(|_| EnrollBodyError::NotJson)?;
    let cert_der = cloudgate_pki::pem::decode_certificates(parsed.client_cert_pem.as_bytes())
        .ok()
        .and_then(|c| c.into_iter().next())
        .ok_or(EnrollBodyError::NoCertificate)?;
    let label = parsed.label.map(|l| l.trim().to_string()).filter(|l| {
        !l.is_empty() && l.chars().count() <= MAX_LABEL && !l.chars().any(char::is_control)
    });
    Ok(EnrollRequest { cert_der, label })
}

/// The DER of the first certificate in an enrollment body.
pub fn enroll_certificate(body: &[u8]) -> Result<Vec<u8>, EnrollBodyError> {
    enroll_request(body).map(|r| r.cert_der)
}

/// Whether an `Upgrade` header value asks for a cloudgate tunnel.
pub fn is_tunnel_upgrade(value: &[u8]) -> bool {
    value.eq_ignore_ascii_case(TUNNEL_PROTOCOL.as_bytes())
}

/// What the first bytes of a connection hold, as far as a tunnel request goes.
#[derive(Debug, PartialEq, Eq)]
pub enum TunnelHead<'a> {
    /// A complete, plain tunnel request: `GET /v1/tunnel/{service} HTTP/1.1` with
    /// `Connection: upgrade` and `Upgrade: cloudgate-tunnel`, no body, no query; its head is
    /// the first `head_len` bytes (what follows is already the tunnel's).
    Tunnel {
        /// The service asked for (a valid [`Route::Tunnel`] name).
        service: &'a str,
        /// Bytes of request line and headers, blank line included.
        head_len: usize,
    },
    /// Not a complete head yet.
    Incomplete,
    /// Anything else (another route, a malformed or unusual request): for the full HTTP
    /// server, which answers it as it always did.
    Other,
}

/// Headers a plain tunnel request carries at most; one with more goes to the full server.
const MAX_TUNNEL_HEADERS: usize = 24;

/// Reads the head of the first request on a connection, to answer the common tunnel request
/// without the full HTTP server (issue 31: its dispatcher, a second task per tunnel and a
/// separate write for the answer cost more than the gateway's own checks). Only the plain form
/// qualifies; everything else is [`TunnelHead::Other`], never a refusal of its own.
pub fn tunnel_head(buf: &[u8]) -> TunnelHead<'_> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_TUNNEL_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return TunnelHead::Incomplete,
        Err(_) => return TunnelHead::Other,
    };
    if req.method != Some("GET") || req.version != Some(1) {
        return TunnelHead::Other;
    }
    // A query is the full server's to split off (its path is what routes there).
    let path = req.path.filter(|p| !p.contains('?'));
    let Some(Route::Tunnel(service)) = path.map(|p| route("GET", p)) else {
        return TunnelHead::Other;
    };
    let (mut upgrade, mut connection_upgrade) = (0, false);
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("upgrade") {
            upgrade += 1;
            if !is_tunnel_upgrade(h.value) {
                return TunnelHead::Other;
            }
        } else if h.name.eq_ignore_ascii_case("connection") {
            connection_upgrade |= h
                .value
                .split(|&b| b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"upgrade"));
        } else if h.name.eq_ignore_ascii_case("content-length")
            || h.name.eq_ignore_ascii_case("transfer-encoding")
            || h.name.eq_ignore_ascii_case("expect")
        {
            return TunnelHead::Other;
        }
    }
    if upgrade != 1 || !connection_upgrade {
        return TunnelHead::Other;
    }
    TunnelHead::Tunnel { service, head_len }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(route("GET", "/v1/provider"), Route::Provider);
        assert_eq!(route("POST", "/v1/enroll"), Route::Enroll);
        assert_eq!(route("GET", "/v1/enroll"), Route::NotFound);
        assert_eq!(route("GET", "/v1/tenant"), Route::Tenant);
        assert_eq!(route("GET", "/v1/tunnel/backup"), Route::Tunnel("backup"));
        assert_eq!(route("POST", "/v1/tunnel/backup"), Route::NotFound);
        assert_eq!(route("GET", "/v1/tunnel/"), Route::NotFound);
        assert_eq!(route("GET", "/v1/tunnel/a/b"), Route::NotFound);
        let long = format!("/v1/tunnel/{}", "x".repeat(MAX_SERVICE_NAME + 1));
        assert_eq!(route("GET", &long), Route::NotFound);
    }

    #[test]
    fn basic() {
        let (u, p) = basic_credentials(b"Basic YWNtZTpzM2NyZXQ6Og==").unwrap();
        assert_eq!((u.as_str(), p.as_str()), ("acme", "s3cret::"));
        assert!(basic_credentials(b"Bearer YWNtZTpz").is_none());
        assert!(basic_credentials(b"Basic !!!").is_none());
        assert!(basic_credentials(b"Basic YWNtZQ==").is_none(), "no colon");
        assert!(basic_credentials(b"Basic \xff\xfe").is_none());
    }

    #[test]
    fn enroll_body() {
        assert_eq!(enroll_certificate(b"{}"), Err(EnrollBodyError::NotJson));
        assert_eq!(
            enroll_certificate(br#"{"client_cert_pem":"x","more":1}"#),
            Err(EnrollBodyError::NotJson)
        );
        assert_eq!(
            enroll_certificate(br#"{"client_cert_pem":"no pem here"}"#),
            Err(EnrollBodyError::NoCertificate)
        );
    }

    #[test]
    fn plain_tunnel_requests_are_recognised_and_nothing_else() {
        let plain = b"GET /v1/tunnel/backup HTTP/1.1\r\nHost: sp\r\nConnection: Upgrade\r\nUpgrade: cloudgate-tunnel\r\n\r\nDATA";
        assert_eq!(
            tunnel_head(plain),
            TunnelHead::Tunnel {
                service: "backup",
                head_len: plain.len() - 4
            }
        );
        assert_eq!(tunnel_head(&plain[..40]), TunnelHead::Incomplete);
        assert_eq!(tunnel_head(b""), TunnelHead::Incomplete);
        fn other(head: &str) -> TunnelHead<'_> {
            tunnel_head(head.as_bytes())
        }
        for head in [
            "GET /v1/provider HTTP/1.1\r\n\r\n",
            "POST /v1/tunnel/backup HTTP/1.1\r\nConnection: upgrade\r\nUpgrade: cloudgate-tunnel\r\n\r\n",
            "GET /v1/tunnel/backup HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: cloudgate-tunnel\r\n\r\n",
            "GET /v1/tunnel/backup?x=1 HTTP/1.1\r\nConnection: upgrade\r\nUpgrade: cloudgate-tunnel\r\n\r\n",
            "GET /v1/tunnel/a/b HTTP/1.1\r\nConnection: upgrade\r\nUpgrade: cloudgate-tunnel\r\n\r\n",
            "GET /v1/tunnel/backup HTTP/1.1\r\nUpgrade: cloudgate-tunnel\r\n\r\n",
            "GET /v1/tunnel/backup HTTP/1.1\r\nConnection: upgrade\r\n\r\n",
            "GET /v1/tunnel/backup HTTP/1.1\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
            "GET /v1/tunnel/backup HTTP/1.1\r\nConnection: upgrade\r\nUpgrade: cloudgate-tunnel\r\nUpgrade: cloudgate-tunnel\r\n\r\n",
            "GET /v1/tunnel/backup HTTP/1.1\r\nConnection: upgrade\r\nUpgrade: cloudgate-tunnel\r\nContent-Length: 3\r\n\r\nabc",
            "GET /v1/tunnel/backup HTTP/1.1\r\nConnection: upgrade\r\nUpgrade: cloudgate-tunnel\r\nTransfer-Encoding: chunked\r\n\r\n",
            "GET /v1/tunnel/backup HTTP/1.1\r\nConnection: upgrade\r\nUpgrade: cloudgate-tunnel\r\nExpect: 100-continue\r\n\r\n",
            "GET /v1/tunnel/back\x01up HTTP/1.1\r\n\r\n",
            "\x16\x03\x01\x00\x05hello",
        ] {
            assert_eq!(other(head), TunnelHead::Other, "{head:?}");
        }
        let many = format!(
            "GET /v1/tunnel/backup HTTP/1.1\r\nConnection: upgrade\r\nUpgrade: cloudgate-tunnel\r\n{}\r\n",
            "X-A: b\r\n".repeat(MAX_TUNNEL_HEADERS)
        );
        assert_eq!(other(&many), TunnelHead::Other);
        let listed = "GET /v1/tunnel/backup HTTP/1.1\r\nConnection: keep-alive, Upgrade\r\nUpgrade: Cloudgate-Tunnel\r\n\r\n";
        assert!(matches!(
            other(listed),
            TunnelHead::Tunnel {
                service: "backup",
                ..
            }
        ));
    }

    #[test]
    fn upgrade() {
        assert!(is_tunnel_upgrade(b"Cloudgate-Tunnel"));
        assert!(!is_tunnel_upgrade(b"websocket"));
    }
}
