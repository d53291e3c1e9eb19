//! Watching the applied certificate's expiry: warnings 30, 14, 7 and 1 days before (once per
//! threshold and certificate), an error once expired, and, with `--auto-renew DAYS`, a renewal with
//! the same key that tenants follow without asking.

use time::OffsetDateTime;

use crate::state::SharedState;

/// Days before expiry at which the gateway warns.
pub const WARN_DAYS: [i64; 4] = [30, 14, 7, 1];

/// The warning threshold `days_left` falls under: the smallest of [`WARN_DAYS`] at or above it,
/// `-1` once expired, `None` while far from expiry.
pub fn threshold(days_left: i64) -> Option<i64> {
    if days_left < 0 {
        return Some(-1);
    }
    WARN_DAYS.iter().copied().filter(|t| days_left <= *t).min()
}

/// Remembers which warning was last given for which certificate, so each is logged once.
#[derive(Default)]
pub struct ExpiryWatch {
    last: Option<(String, i64)>,
    /// Whether the last check renewed the certificate (for a fleet: to publish).
    renewed: bool,
    /// The thumbprint of the certificate the last renewal made: it is not renewed again, or a
    /// lifetime shorter than the auto-renew window would renew at every check.
    renewed_to: Option<String>,
    /// Whether that was said for the certificate the last renewal made.
    window_warned: bool,
}

impl ExpiryWatch {
    /// Whether a check renewed the certificate since this was last asked.
    pub fn take_renewed(&mut self) -> bool {
        std::mem::take(&mut self.renewed)
    }

    /// Checks the current certificate; renews it when `auto_renew_days` says so.
    pub fn check(&mut self, state: &SharedState, auto_renew_days: Option<u32>) {
        let snap = state.current();
        let cert = &snap.cert;
        let days = cert.days_left(OffsetDateTime::now_utc());
        let sha = cert.fingerprints.sha256_hex();
        let thumbprint_now = cert.fingerprints.thumbprint();
        let made_by_us = self.renewed_to.as_deref() == Some(thumbprint_now.as_str());
        if let Some(limit) = auto_renew_days
            && days <= i64::from(limit)
            && made_by_us
            && !self.window_warned
        {
            self.window_warned = true;
            tracing::warn!(
                thumbprint = %thumbprint_now, days_left = days, auto_renew_days = limit,
                "auto-renew: the renewed certificate is already within the --auto-renew window (its lifetime is shorter); it is not renewed again until a new one is applied"
            );
        }
        if let Some(limit) = auto_renew_days
            && days <= i64::from(limit)
            && !made_by_us
        {
            match state.renew_applied() {
                Ok(thumbprint) => {
                    self.renewed = true;
                    self.renewed_to = Some(thumbprint.clone());
                    self.window_warned = false;
                    tracing::warn!(
                        old_thumbprint = %cert.fingerprints.thumbprint(),
                        new_thumbprint = %thumbprint,
                        days_left = days,
                        "auto-renew: renewed the applied certificate with the same key and applied it"
                    );
                    return;
                }
                Err(e) => {
                    tracing::error!(error = %e, "auto-renew failed; the certificate still expires")
                }
            }
        }
        let Some(threshold) = threshold(days) else {
            return;
        };
        if self
            .last
            .as_ref()
            .is_some_and(|(s, t)| *s == sha && *t == threshold)
        {
            return;
        }
        self.last = Some((sha, threshold));
        let expires = cloudgate_pki::format_rfc3339(cert.not_after);
        if days < 0 {
            tracing::error!(
                thumbprint = %cert.fingerprints.thumbprint(), expired = %expires,
                "the applied certificate has EXPIRED: tenants refuse it; run `cloudgate sp cert renew --apply`"
            );
        } else {
            tracing::warn!(
                thumbprint = %cert.fingerprints.thumbprint(), days_left = days, expires = %expires,
                "the applied certificate expires in {days} days; run `cloudgate sp cert renew --apply` (tenants follow a same-key renewal)"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::threshold;

    #[test]
    fn thresholds() {
        for (days, expected) in [
            (365, None),
            (31, None),
            (30, Some(30)),
            (15, Some(30)),
            (14, Some(14)),
            (8, Some(14)),
            (7, Some(7)),
            (2, Some(7)),
            (1, Some(1)),
            (0, Some(1)),
            (-1, Some(-1)),
        ] {
            assert_eq!(threshold(days), expected, "{days} days left");
        }
    }
}
