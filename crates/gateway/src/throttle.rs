//! Throttling of failed enrollments, per source address and per tenant account: a password
//! guesser from one address is refused with 429 after a few failures, while tenants elsewhere
//! are unaffected; an account that many addresses guess at is locked for a while (its enrolled
//! machines go on: they authenticate by certificate). Failures are counted in the SP database,
//! so every gateway of a fleet sees the same count (three gateways do not triple an attacker's
//! guesses), and in memory, which decides alone while the database does not answer.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cloudgate_db::SharedRepository;

/// Keys remembered at most; the oldest are forgotten first when more fail.
const MAX_TRACKED: usize = 65_536;

/// What failures are counted by: written into the database's key with its prefix.
pub trait ThrottleKey: Hash + Eq + Clone + std::fmt::Display {
    /// The prefix of its keys in the database (source addresses have none, as before).
    const PREFIX: &'static str;
}

impl ThrottleKey for IpAddr {
    const PREFIX: &'static str = "";
}

/// A tenant account, by name.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Account(pub String);

impl std::fmt::Display for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl ThrottleKey for Account {
    const PREFIX: &'static str = cloudgate_db::ACCOUNT_FAILURES_PREFIX;
}

/// Failures per source address.
pub type EnrollThrottle = Throttle<IpAddr>;
/// Failures per tenant account: the lockout.
pub type AccountLockout = Throttle<Account>;

/// Failure counts per key within a sliding window.
pub struct Throttle<K> {
    limit: u32,
    window: Duration,
    failures: Mutex<HashMap<K, (u32, Instant)>>,
}

impl<K: ThrottleKey> Throttle<K> {
    /// `limit` failures per `window`.
    pub fn new(limit: u32, window: Duration) -> Self {
        Throttle {
            limit,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn db_key(key: &K) -> String {
        format!("{}{key}", K::PREFIX)
    }

    /// Where the current window began, as the database counts it.
    fn window_start(&self) -> time::OffsetDateTime {
        time::OffsetDateTime::now_utc() - self.window
    }

    /// Whether this key may try now, by this gateway's count and the fleet's.
    pub async fn allowed(&self, db: &SharedRepository, key: &K) -> bool {
        if !self.allowed_here(key) {
            return false;
        }
        match db
            .enroll_failures(&Self::db_key(key), self.window_start())
            .await
        {
            Ok(n) => n < i64::from(self.limit),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the fleet's enrollment failures; counting this gateway's alone");
                true
            }
        }
    }

    /// Counts a failed attempt of this key, here and for the fleet.
    pub async fn record_failure(&self, db: &SharedRepository, key: &K) {
        self.record_failure_here(key);
        if let Err(e) = db
            .record_enroll_failure(&Self::db_key(key), self.window_start())
            .await
        {
            tracing::warn!(error = %e, "cannot count the failed enrollment for the fleet");
        }
    }

    /// Forgets a key's failures (after a success), here and for the fleet.
    pub async fn record_success(&self, db: &SharedRepository, key: &K) {
        self.record_success_here(key);
        if let Err(e) = db.clear_enroll_failures(&Self::db_key(key)).await {
            tracing::warn!(error = %e, "cannot clear the fleet's failed enrollments");
        }
    }

    /// Forgets the fleet's windows that have passed.
    pub async fn prune(&self, db: &SharedRepository) {
        if let Err(e) = db.prune_enroll_failures(self.window_start()).await {
            tracing::debug!(error = %e, "cannot prune the fleet's failed enrollments");
        }
    }

    /// Whether this key may try now, by this gateway's count.
    fn allowed_here(&self, key: &K) -> bool {
        let Ok(map) = self.failures.lock() else {
            return true;
        };
        match map.get(key) {
            Some((count, since)) if since.elapsed() < self.window => *count < self.limit,
            _ => true,
        }
    }

    /// Counts a failed attempt of this key, on this gateway.
    fn record_failure_here(&self, key: &K) {
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
                    .map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
        }
        let entry = map.entry(key.clone()).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= self.window {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
    }

    /// Forgets a key's failures on this gateway.
    fn record_success_here(&self, key: &K) {
        if let Ok(mut map) = self.failures.lock() {
            map.remove(key);
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
            assert!(t.allowed_here(&bad));
            t.record_failure_here(&bad);
        }
        assert!(!t.allowed_here(&bad));
        assert!(t.allowed_here(&good));
        t.record_success_here(&bad);
        assert!(t.allowed_here(&bad));
    }

    #[test]
    fn accounts_are_keyed_apart_from_addresses() {
        assert_eq!(
            EnrollThrottle::db_key(&"192.0.2.1".parse().unwrap()),
            "192.0.2.1"
        );
        assert_eq!(
            AccountLockout::db_key(&Account("acme".into())),
            "account:acme"
        );
        let t = AccountLockout::new(2, Duration::from_secs(60));
        let acme = Account("acme".into());
        t.record_failure_here(&acme);
        t.record_failure_here(&acme);
        assert!(!t.allowed_here(&acme));
        assert!(t.allowed_here(&Account("beta".into())));
    }
}
