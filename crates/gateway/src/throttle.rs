//! Per-source-address throttling of failed enrollments: a password guesser from one address is
//! refused with 429 after a few failures, while tenants elsewhere are unaffected. Failures are
//! counted in the SP database, so every gateway of a fleet sees the same count (three gateways
//! do not triple an attacker's guesses), and in memory, which decides alone while the database
//! does not answer.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cloudgate_db::SharedRepository;

/// Addresses remembered at most; the oldest are forgotten first when more fail.
const MAX_TRACKED: usize = 65_536;

/// Failure counts per source address within a sliding window.
pub struct EnrollThrottle {
    limit: u32,
    window: Duration,
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl EnrollThrottle {
    pub fn new(limit: u32, window: Duration) -> Self {
        EnrollThrottle {
            limit,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Where the current window began, as the database counts it.
    fn window_start(&self) -> time::OffsetDateTime {
        time::OffsetDateTime::now_utc() - self.window
    }

    /// Whether this address may try now, by this gateway's count and the fleet's.
    pub async fn allowed(&self, db: &SharedRepository, ip: IpAddr) -> bool {
        if !self.allowed_here(ip) {
            return false;
        }
        match db
            .enroll_failures(&ip.to_string(), self.window_start())
            .await
        {
            Ok(n) => n < i64::from(self.limit),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the fleet's enrollment failures; counting this gateway's alone");
                true
            }
        }
    }

    /// Counts a failed attempt from this address, here and for the fleet.
    pub async fn record_failure(&self, db: &SharedRepository, ip: IpAddr) {
        self.record_failure_here(ip);
        if let Err(e) = db
            .record_enroll_failure(&ip.to_string(), self.window_start())
            .await
        {
            tracing::warn!(error = %e, "cannot count the failed enrollment for the fleet");
        }
    }

    /// Forgets an address's failures (after a success), here and for the fleet.
    pub async fn record_success(&self, db: &SharedRepository, ip: IpAddr) {
        self.record_success_here(ip);
        if let Err(e) = db.clear_enroll_failures(&ip.to_string()).await {
            tracing::warn!(error = %e, "cannot clear the fleet's failed enrollments");
        }
    }

    /// Forgets the fleet's windows that have passed.
    pub async fn prune(&self, db: &SharedRepository) {
        if let Err(e) = db.prune_enroll_failures(self.window_start()).await {
            tracing::debug!(error = %e, "cannot prune the fleet's failed enrollments");
        }
    }

    /// Whether this address may try now, by this gateway's count.
    fn allowed_here(&self, ip: IpAddr) -> bool {
        let Ok(map) = self.failures.lock() else {
            return true;
        };
        match map.get(&ip) {
            Some((count, since)) if since.elapsed() < self.window => *count < self.limit,
            _ => true,
        }
    }

    /// Counts a failed attempt from this address, on this gateway.
    fn record_failure_here(&self, ip: IpAddr) {
        let Ok(mut map) = self.failures.lock() else {
            return;
        };
        if map.len() >= MAX_TRACKED {
            let window = self.window;
            map.retain(|_, (_, since)| since.elapsed() < window);
            if map.len() >= MAX_TRACKED
                && let Some(oldest) = map
                    .iter()
                    .min_by_key(|(_, (_, since))| *since)
                    .map(|(ip, _)| *ip)
            {
                map.remove(&oldest);
            }
        }
        let entry = map.entry(ip).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= self.window {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
    }

    /// Forgets an address's failures on this gateway.
    fn record_success_here(&self, ip: IpAddr) {
        if let Ok(mut map) = self.failures.lock() {
            map.remove(&ip);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_one_address_only() {
        let t = EnrollThrottle::new(3, Duration::from_secs(60));
        let bad: IpAddr = "192.0.2.1".parse().unwrap();
        let good: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..3 {
            assert!(t.allowed_here(bad));
            t.record_failure_here(bad);
        }
        assert!(!t.allowed_here(bad));
        assert!(t.allowed_here(good));
        t.record_success_here(bad);
        assert!(t.allowed_here(bad));
    }
}
