//! Per-source-address throttling of failed enrollments: a password guesser from one address is
//! refused with 429 after a few failures, while tenants elsewhere are unaffected.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

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

    /// Whether this address may try now.
    pub fn allowed(&self, ip: IpAddr) -> bool {
        let Ok(map) = self.failures.lock() else {
            return true;
        };
        match map.get(&ip) {
            Some((count, since)) if since.elapsed() < self.window => *count < self.limit,
            _ => true,
        }
    }

    /// Records a failed attempt from this address.
    pub fn record_failure(&self, ip: IpAddr) {
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

    /// Forgets an address's failures (after a success).
    pub fn record_success(&self, ip: IpAddr) {
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
            assert!(t.allowed(bad));
            t.record_failure(bad);
        }
        assert!(!t.allowed(bad));
        assert!(t.allowed(good));
        t.record_success(bad);
        assert!(t.allowed(bad));
    }
}
