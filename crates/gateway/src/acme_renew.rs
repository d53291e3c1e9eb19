//! `--acme-renew`: the gateway renews its ACME certificate by itself, with the same key (tenants
//! who pinned it notice nothing), at two thirds of its lifetime less a jitter fixed per
//! certificate (so that SPs do not all ask the CA at the same moment, and a restart does not
//! draw again); or, with `--acme-renew-before DAYS`, that many days before expiry. A failure is
//! retried with exponential back-off (after a rate limit, until the CA's `Retry-After`, or an hour
//! when it gave none), logged as a warning,
//! as an error once expiry is a week away, and counted in the metrics. The renewal runs beside
//! the reload loop, never in its way.

use std::sync::Arc;
use std::time::Duration;

use cloudgate_pki::CertificateInfo;
use cloudgate_sp::SpError;
use cloudgate_sp::acme::{AcmeError, AcmeSettings};
use time::OffsetDateTime;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::metrics::Metrics;
use crate::state::SharedState;

/// The first wait after a failure; doubled at each failure after.
const FIRST_BACKOFF: Duration = Duration::from_secs(60);
/// The longest wait between attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(6 * 3600);
/// The least wait after the CA's rate limit.
const RATE_LIMIT_BACKOFF: Duration = Duration::from_secs(3600);
/// From how close to expiry failures are errors rather than warnings.
const URGENT_DAYS: i64 = 7;

/// When `cert` is due for renewal: `before_days` before expiry when given, else at two thirds
/// of its lifetime, earlier by up to a twentieth of it, by an amount fixed by its SHA-256.
pub fn due_at(cert: &CertificateInfo, before_days: Option<u32>) -> OffsetDateTime {
    if let Some(days) = before_days {
        return cert.not_after - time::Duration::days(i64::from(days));
    }
    let lifetime = cert.not_after - cert.not_before;
    let jitter = lifetime / 20 * (f64::from(cert.fingerprints.sha256[0]) / 255.0);
    cert.not_before + lifetime * 2 / 3 - jitter
}

/// The renewal's state across the reload loop's turns.
pub struct AcmeRenewal {
    before_days: Option<u32>,
    metrics: Arc<Metrics>,
    running: Option<JoinHandle<Result<Renewed, SpError>>>,
    failures: u32,
    retry_at: Option<Instant>,
    /// The SHA-256 of the certificate the last renewal made: not renewed again by this gateway
    /// (a `--acme-renew-before` longer than the CA's lifetime would renew at every turn).
    renewed_to: Option<[u8; 32]>,
    /// Said once why it does not renew (no settings, or the renewal is itself due).
    warned: bool,
}

impl AcmeRenewal {
    /// Renews as `--acme-renew` (and `--acme-renew-before`) say.
    pub fn new(before_days: Option<u32>, metrics: Arc<Metrics>) -> Self {
        AcmeRenewal {
            before_days,
            metrics,
            running: None,
            failures: 0,
            retry_at: None,
            renewed_to: None,
            warned: false,
        }
    }

    /// One turn: collects a finished renewal, or starts one when due. Returns whether the
    /// store's certificate in use changed (for a fleet: to publish).
    pub async fn tick(&mut self, state: &Arc<SharedState>) -> bool {
        if let Some(task) = self.running.take_if(|t| t.is_finished()) {
            let outcome = task.await.unwrap_or_else(|e| {
                Err(SpError::Acme(AcmeError::Other(format!(
                    "the renewal stopped: {e}"
                ))))
            });
            return self.finished(state, outcome);
        }
        if self.running.is_some() || self.retry_at.is_some_and(|t| Instant::now() < t) {
            return false;
        }
        let snap = state.current();
        let cert = &snap.cert;
        if OffsetDateTime::now_utc() < due_at(cert, self.before_days) {
            return false;
        }
        if self.renewed_to == Some(cert.fingerprints.sha256) {
            if !std::mem::replace(&mut self.warned, true) {
                tracing::warn!(
                    thumbprint = %cert.fingerprints.thumbprint(),
                    "acme-renew: the certificate just renewed is already due (--acme-renew-before is longer than the CA's lifetime); not renewed again"
                );
            }
            return false;
        }
        match AcmeSettings::load(state.store()) {
            Ok(Some(_)) => {}
            Ok(None) => {
                if !std::mem::replace(&mut self.warned, true) {
                    tracing::warn!(
                        "acme-renew: the certificate in use is due for renewal, but no certificate was issued here over ACME (`cloudgate sp cert acme issue`); nothing to renew with"
                    );
                }
                return false;
            }
            Err(e) => {
                tracing::error!(error = %e, "acme-renew: cannot read the ACME settings");
                return false;
            }
        }
        tracing::info!(
            thumbprint = %cert.fingerprints.thumbprint(),
            "acme-renew: renewing the certificate in use with the same key"
        );
        let state = state.clone();
        self.running = Some(tokio::spawn(async move { renew(&state).await }));
        false
    }

    fn finished(&mut self, state: &SharedState, outcome: Result<Renewed, SpError>) -> bool {
        let snap = state.current();
        let cert = &snap.cert;
        match outcome {
            Ok(Renewed { thumbprint, sha256 }) => {
                self.failures = 0;
                self.retry_at = None;
                self.renewed_to = Some(sha256);
                self.warned = false;
                self.metrics.acme_renewal_failures.set(0);
                Metrics::count(&self.metrics.acme_renewals, "outcome", "ok");
                tracing::warn!(
                    old_thumbprint = %cert.fingerprints.thumbprint(),
                    new_thumbprint = %thumbprint,
                    "acme-renew: renewed (same key) and applied; tenants follow without asking"
                );
                true
            }
            Err(e) => {
                self.failures += 1;
                let wait = retry_wait(self.failures, &e, std::time::SystemTime::now());
                self.retry_at = Some(Instant::now() + wait);
                self.metrics
                    .acme_renewal_failures
                    .set(i64::from(self.failures));
                Metrics::count(&self.metrics.acme_renewals, "outcome", "failed");
                let days_left = cert.days_left(OffsetDateTime::now_utc());
                if days_left <= URGENT_DAYS {
                    tracing::error!(
                        error = %e, failures = self.failures, days_left, retry_in_secs = wait.as_secs(),
                        "acme-renew failed and the certificate expires soon; renew by hand with `cloudgate sp cert acme renew --apply`"
                    );
                } else {
                    tracing::warn!(
                        error = %e, failures = self.failures, days_left, retry_in_secs = wait.as_secs(),
                        "acme-renew failed; trying again later"
                    );
                }
                false
            }
        }
    }
}

/// How long to wait after the `failures`th failure in a row, `e`: back-off doubling from
/// [`FIRST_BACKOFF`] to [`MAX_BACKOFF`]; after a rate limit at least until the CA's
/// `Retry-After`, or [`RATE_LIMIT_BACKOFF`] when it gave none.
fn retry_wait(failures: u32, e: &SpError, now: std::time::SystemTime) -> Duration {
    let backoff = FIRST_BACKOFF
        .saturating_mul(1 << failures.saturating_sub(1).min(16))
        .min(MAX_BACKOFF);
    match e {
        SpError::Acme(e @ AcmeError::RateLimited { .. }) => match e.retry_after() {
            Some(at) => backoff.max(at.duration_since(now).unwrap_or_default()),
            None => backoff.max(RATE_LIMIT_BACKOFF),
        },
        _ => backoff,
    }
}

/// What a renewal made.
struct Renewed {
    thumbprint: String,
    sha256: [u8; 32],
}

/// Asks the CA for the same names with the key in use, and applies the result.
async fn renew(state: &SharedState) -> Result<Renewed, SpError> {
    let store = state.store();
    let mut renewal =
        cloudgate_sp::acme::renew(store, false, &|step| tracing::debug!(step, "acme-renew"))
            .await?;
    cloudgate_sp::certs::apply(store, &mut renewal.entry)?;
    Ok(Renewed {
        thumbprint: renewal.entry.info.fingerprints.thumbprint(),
        sha256: renewal.entry.info.fingerprints.sha256,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_at_two_thirds_less_a_fixed_jitter_or_days_before_expiry() {
        let generated = cloudgate_pki::generate_self_signed(&cloudgate_pki::SelfSignedRequest {
            key_type: cloudgate_pki::KeyType::EcdsaP256,
            subject: cloudgate_pki::dn::SubjectName::parse("CN=a").unwrap(),
            sans: vec![],
            valid_days: 90,
            now: OffsetDateTime::now_utc(),
        })
        .unwrap();
        let cert = CertificateInfo::from_der(&generated.cert_der).unwrap();
        let lifetime = cert.not_after - cert.not_before;
        let at = due_at(&cert, None);
        assert!(at <= cert.not_before + lifetime * 2 / 3);
        assert!(at >= cert.not_before + lifetime * 2 / 3 - lifetime / 20);
        assert_eq!(due_at(&cert, None), at, "the same every time");
        assert_eq!(
            due_at(&cert, Some(10)),
            cert.not_after - time::Duration::days(10)
        );
    }

    #[test]
    fn back_off_doubles_and_a_rate_limit_waits_for_the_ca() {
        let now = std::time::SystemTime::now();
        let other = SpError::Acme(AcmeError::Timeout("slow".into()));
        assert_eq!(retry_wait(1, &other, now), FIRST_BACKOFF);
        assert_eq!(retry_wait(3, &other, now), FIRST_BACKOFF * 4);
        assert_eq!(retry_wait(40, &other, now), MAX_BACKOFF);
        let limited = |after: Option<Duration>| {
            SpError::Acme(AcmeError::RateLimited {
                detail: "too many".into(),
                retry_after: after.map(|d| now + d),
            })
        };
        assert_eq!(retry_wait(1, &limited(None), now), RATE_LIMIT_BACKOFF);
        let asked = Duration::from_secs(5 * 60);
        assert_eq!(
            retry_wait(1, &limited(Some(asked)), now),
            asked,
            "the CA's word, not an hour"
        );
        let long = Duration::from_secs(3 * 3600);
        assert_eq!(retry_wait(1, &limited(Some(long)), now), long);
        assert_eq!(
            retry_wait(5, &limited(Some(Duration::from_secs(1))), now),
            FIRST_BACKOFF * 16,
            "never sooner than the back-off"
        );
    }
}
