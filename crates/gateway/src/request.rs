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
    fn upgrade() {
        assert!(is_tunnel_upgrade(b"Cloudgate-Tunnel"));
        assert!(!is_tunnel_upgrade(b"websocket"));
    }
}
