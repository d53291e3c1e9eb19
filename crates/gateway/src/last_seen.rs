//! When each client certificate was last used, written to the database at most once a minute
//! per certificate and never in the way of a tunnel: a busy tenant opening tunnels all day must
//! not cost a database write each, and a locked database must not delay anyone's tunnel.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often one certificate's `last_seen` is written.
pub const WRITE_EVERY: Duration = Duration::from_secs(60);

/// The last time each certificate's use was written.
#[derive(Default)]
pub struct LastSeen {
    written: Mutex<HashMap<String, Instant>>,
}

impl LastSeen {
    /// Whether a use of `sha256` now should be written; if so, it counts as written.
    pub fn due(&self, sha256: &str, now: Instant) -> bool {
        let mut written = self.written.lock().unwrap_or_else(|p| p.into_inner());
        match written.get(sha256) {
            Some(t) if now.duration_since(*t) < WRITE_EVERY => false,
            _ => {
                // Entries of revoked certificates would pile up; keep only the recent ones.
                if written.len() >= 100_000 {
                    written.retain(|_, t| now.duration_since(*t) < WRITE_EVERY);
                }
                written.insert(sha256.to_string(), now);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn once_a_minute_per_certificate() {
        let seen = LastSeen::default();
        let t0 = Instant::now();
        assert!(seen.due("A", t0));
        assert!(!seen.due("A", t0 + Duration::from_secs(59)));
        assert!(seen.due("B", t0 + Duration::from_secs(1)));
        assert!(seen.due("A", t0 + WRITE_EVERY));
    }
}
