//! Throttling of failed enrollments, per source address and per tenant account: a password
//! guesser from one address is refused with 429 after a few failures, while tenants elsewhere
//! are unaffected; an account that many addresses guess at is locked for a while (its enrolled
//! machines go on: they authenticate by certificate). Failures are counted in the SP database,
//! so every gateway of a fleet sees the same count (three gateways do not triple an attacker's
//! guesses), and in memory, which decides alone while the database does not answer.
//!
//! An attempt is counted *before* it is verified ([`Throttle::begin`]): the attempts in flight
//! count against the limit, so a burst of concurrent guesses cannot all be evaluated before the
//! first failure is recorded. A success does not clear anything: an account of one's own must
//! not wash an address's failed guesses at another. Used by the gateway's enrollment and the
//! console's login alike.

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

/// A source address logging in to the console (counted apart from its enrollments).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ConsoleAddress(pub IpAddr);

impl std::fmt::Display for ConsoleAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl ThrottleKey for ConsoleAddress {
    const PREFIX: &'static str = "console:";
}

/// A console administrator, by name.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ConsoleAdmin(pub String);

impl std::fmt::Display for ConsoleAdmin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl ThrottleKey for ConsoleAdmin {
    const PREFIX: &'static str = "console-admin:";
}

/// Failures per source address.
pub type EnrollThrottle = Throttle<IpAddr>;
/// Failures per tenant account: the lockout.
pub type AccountLockout = Throttle<Account>;

/// Failure counts per key within a sliding window, and the attempts in flight.
pub struct Throttle<K> {
    limit: u32,
    window: Duration,
    failures: Mutex<HashMap<K, (u32, Instant)>>,
    in_flight: Mutex<HashMap<K, u32>>,
}

/// An attempt counted against its key's limit until it is finished (dropped): a failure is
/// recorded with [`Throttle::record_failure`] before the attempt is dropped.
#[must_use = "the attempt counts against the limit until dropped"]
pub struct Attempt<'a, K: ThrottleKey> {
    throttle: &'a Throttle<K>,
    key: K,
}

impl<K: ThrottleKey> Drop for Attempt<'_, K> {
    fn drop(&mut self) {
        let mut map = self
            .throttle
            .in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(n) = map.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&self.key);
            }
        }
    }
}

impl<K: ThrottleKey> Throttle<K> {
    /// `limit` failures per `window`.
    pub fn new(limit: u32, window: Duration) -> Self {
        Throttle {
            limit,
            window,
            failures: Mutex::new(HashMap::new()),
            in_flight: Mutex::new(HashMap::new()),
        }
    }

    fn db_key(key: &K) -> String {
        format!("{}{key}", K::PREFIX)
    }

    /// Where the current window began, as the database counts it.
    fn window_start(&self) -> time::OffsetDateTime {
        time::OffsetDateTime::now_utc() - self.window
    }

    /// Starts an attempt of this key when its failures and the attempts already in flight, on
    /// this gateway and in the fleet's count, leave room; `None` when they do not.
    pub async fn begin(&self, db: &SharedRepository, key: &K) -> Option<Attempt<'_, K>> {
        let attempt = self.begin_here(key)?;
        let in_flight = self.in_flight_of(key);
        match db
            .enroll_failures(&Self::db_key(key), self.window_start())
            .await
        {
            // The in-flight count includes this attempt.
            Ok(n) if n + i64::from(in_flight) > i64::from(self.limit) => None,
            Ok(_) => Some(attempt),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the fleet's failures; counting this process's alone");
                Some(attempt)
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

    /// Forgets the fleet's windows that have passed.
    pub async fn prune(&self, db: &SharedRepository) {
        if let Err(e) = db.prune_enroll_failures(self.window_start()).await {
            tracing::debug!(error = %e, "cannot prune the fleet's failed enrollments");
        }
    }

    fn in_flight_of(&self, key: &K) -> u32 {
        let map = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        map.get(key).copied().unwrap_or(0)
    }

    /// Starts an attempt when this process's count leaves room (checked and counted under one
    /// lock, so concurrent attempts cannot all pass).
    fn begin_here(&self, key: &K) -> Option<Attempt<'_, K>> {
        let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let failed = match failures.get(key) {
            Some((count, since)) if since.elapsed() < self.window => *count,
            _ => 0,
        };
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        let n = in_flight.get(key).copied().unwrap_or(0);
        if failed + n >= self.limit || in_flight.len() >= MAX_TRACKED {
            return None;
        }
        in_flight.insert(key.clone(), n + 1);
        Some(Attempt {
            throttle: self,
            key: key.clone(),
        })
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_one_address_only_and_a_success_clears_nothing() {
        let t = EnrollThrottle::new(3, Duration::from_secs(60));
        let bad: IpAddr = "192.0.2.1".parse().unwrap();
        let good: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..3 {
            let attempt = t.begin_here(&bad).expect("room for an attempt");
            t.record_failure_here(&bad);
            drop(attempt);
        }
        assert!(t.begin_here(&bad).is_none());
        assert!(t.begin_here(&good).is_some());
    }

    #[test]
    fn attempts_in_flight_count_before_they_fail() {
        let t = EnrollThrottle::new(3, Duration::from_secs(60));
        let ip: IpAddr = "192.0.2.9".parse().unwrap();
        let held: Vec<_> = (0..3).map(|_| t.begin_here(&ip).expect("room")).collect();
        // A fourth concurrent guess is refused before any of the three is judged.
        assert!(t.begin_here(&ip).is_none());
        drop(held);
        // Finished without failing (right passwords): room again.
        assert!(t.begin_here(&ip).is_some());
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
        assert!(t.begin_here(&acme).is_none());
        assert!(t.begin_here(&Account("beta".into())).is_some());
    }
}
