//! The HTTPS client an ACME account talks through: instant-acme's own stack (hyper and rustls,
//! the system's roots or the private CA's certificate), built here so that the `Retry-After` a
//! CA puts on a refusal (a rate limit, a busy server) is seen. instant-acme honours it only while
//! polling an order; on an error answer it would be lost with the response.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::RETRY_AFTER;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use instant_acme::{BodyWrapper, BytesResponse, HttpClient};

/// Longest wait a CA's `Retry-After` is believed for: a larger value (or a date years ahead) is
/// a mistake, and a renewal must not sleep through the certificate's expiry because of it.
const LONGEST_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// The latest `Retry-After` of a refusal, shared by the client and whoever reports the error.
#[derive(Clone, Debug, Default)]
pub(crate) struct RetryAfter(Arc<Mutex<Option<SystemTime>>>);

impl RetryAfter {
    /// The time the CA asked to wait until, if a refusal said one; forgets it.
    pub(crate) fn take(&self) -> Option<SystemTime> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    fn set(&self, at: SystemTime) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(at);
    }
}

/// instant-acme's HTTP client, watching refusals for `Retry-After`.
pub(crate) struct WatchingClient {
    inner: HyperClient<HttpsConnector<HttpConnector>, BodyWrapper<Bytes>>,
    retry_after: RetryAfter,
}

impl WatchingClient {
    /// Trusting `roots` only (a private CA's certificate), or the system's verifier when `None`.
    pub(crate) fn new(
        roots: Option<rustls::RootCertStore>,
        retry_after: RetryAfter,
    ) -> Result<Self, String> {
        let builder = match roots {
            Some(roots) => HttpsConnectorBuilder::new().with_tls_config(
                rustls::ClientConfig::builder()
                    .with_root_certificates(roots)
                    .with_no_client_auth(),
            ),
            None => HttpsConnectorBuilder::new()
                .try_with_platform_verifier()
                .map_err(|e| e.to_string())?,
        };
        let connector = builder.https_only().enable_http1().enable_http2().build();
        Ok(WatchingClient {
            inner: HyperClient::builder(TokioExecutor::new()).build(connector),
            retry_after,
        })
    }
}

impl HttpClient for WatchingClient {
    fn request(
        &self,
        req: http::Request<BodyWrapper<Bytes>>,
    ) -> Pin<Box<dyn Future<Output = Result<BytesResponse, instant_acme::Error>> + Send>> {
        let answer = self.inner.request(req);
        let retry_after = self.retry_after.clone();
        Box::pin(async move {
            let response = answer
                .await
                .map_err(|e| instant_acme::Error::Other(Box::new(e)))?;
            let status = response.status();
            if status.is_client_error() || status.is_server_error() {
                let value = response
                    .headers()
                    .get(RETRY_AFTER)
                    .and_then(|v| v.to_str().ok());
                if let Some(at) = value.and_then(|v| parse_retry_after(v, SystemTime::now())) {
                    retry_after.set(at);
                }
            }
            Ok(BytesResponse::from(response))
        })
    }
}

/// A `Retry-After` value (RFC 9110: seconds, or an HTTP date) as a time, at most
/// [`LONGEST_RETRY_AFTER`] after `now`; `None` when it is neither.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<SystemTime> {
    let value = value.trim();
    let at = match value.parse::<u64>() {
        Ok(seconds) => now.checked_add(Duration::from_secs(
            seconds.min(LONGEST_RETRY_AFTER.as_secs()),
        ))?,
        Err(_) => httpdate::parse_http_date(value).ok()?,
    };
    Some(at.min(now + LONGEST_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_and_dates_are_read_and_bounded() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        assert_eq!(
            parse_retry_after(" 120 ", now),
            Some(now + Duration::from_secs(120))
        );
        let date = httpdate::fmt_http_date(now + Duration::from_secs(3600));
        assert_eq!(
            parse_retry_after(&date, now),
            Some(now + Duration::from_secs(3600))
        );
        // A CA's mistake does not stop renewals for a year.
        assert_eq!(
            parse_retry_after("31536000", now),
            Some(now + LONGEST_RETRY_AFTER)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
        assert_eq!(
            parse_retry_after(&u64::MAX.to_string(), now),
            Some(now + LONGEST_RETRY_AFTER)
        );
    }

    #[test]
    fn a_refusal_keeps_its_time_until_taken() {
        let watch = RetryAfter::default();
        assert_eq!(watch.take(), None);
        let at = SystemTime::now();
        watch.clone().set(at);
        assert_eq!(watch.take(), Some(at));
        assert_eq!(watch.take(), None, "taken once");
    }
}
