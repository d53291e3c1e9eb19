//! The SP's rate limits on a tenant's traffic as a whole, enforced by this gateway: one token
//! bucket per tenant and direction, shared by all its tunnels, and in a fleet a share of the
//! tenant's rate in proportion to the tunnels this gateway has open of it.
//!
//! The bucket runs on debt: a relay takes what it read and, when that overdraws the bucket,
//! waits the time the rate needs to pay it back before it writes (and reads again). With
//! reads of at most 64 KiB a stream at 20 MB/s pauses ~3 ms at a time: smooth, no
//! stop-and-go. The sender is held back by TCP itself (the relay does not read meanwhile).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use cloudgate_db::{GatewayState, OpenTunnelCount, SharedRepository};
use time::OffsetDateTime;

use crate::usage::UsageBook;

/// How often rates are set again (a window opening, the fleet's tunnels moving) and, while a
/// limited tenant has tunnels here, this gateway's open tunnels told to the others.
pub const REFRESH_EVERY: Duration = Duration::from_secs(1);

/// Rows of another gateway older than this are not counted (it stopped).
pub const ELSEWHERE_FRESH_FOR: Duration = Duration::from_secs(15);

/// How long one read of the other gateways' tunnels serves the admissions of counted tenants:
/// at thousands of new tunnels a second, one read per tunnel was 19% of a tunnel's CPU; this
/// adds at most this much to the fleet's slack.
pub const ADMISSION_READ_FOR: Duration = Duration::from_millis(100);

/// How much a bucket holds when full: this long at its rate, at least one relay read.
const BURST: Duration = Duration::from_millis(50);
const MIN_BURST: f64 = 64.0 * 1024.0;

/// A token bucket in bytes; a rate of 0 lets everything through.
#[derive(Debug)]
pub struct Bucket {
    rate: AtomicU64,
    /// (tokens, when they were counted); tokens below zero are debt.
    state: Mutex<(f64, Instant)>,
}

impl Default for Bucket {
    fn default() -> Self {
        Bucket {
            rate: AtomicU64::new(0),
            state: Mutex::new((0.0, Instant::now())),
        }
    }
}

impl Bucket {
    /// Sets the rate in bytes per second (0: unlimited).
    pub fn set_rate(&self, bytes_per_sec: u64) {
        self.rate.store(bytes_per_sec, Ordering::Relaxed);
    }

    /// The rate in bytes per second (0: unlimited).
    pub fn rate(&self) -> u64 {
        self.rate.load(Ordering::Relaxed)
    }

    /// Takes `n` bytes: how long to wait before sending them, if at all.
    pub fn take(&self, n: usize) -> Option<Duration> {
        let rate = self.rate.load(Ordering::Relaxed);
        if rate == 0 {
            return None;
        }
        let rate = rate as f64;
        let now = Instant::now();
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let (tokens, last) = *state;
        let full = (rate * BURST.as_secs_f64()).max(MIN_BURST);
        let tokens = (tokens + now.duration_since(last).as_secs_f64() * rate).min(full) - n as f64;
        *state = (tokens, now);
        (tokens < 0.0).then(|| Duration::from_secs_f64(-tokens / rate))
    }
}

/// A tenant's buckets, one per direction.
#[derive(Debug, Default)]
pub struct TenantBuckets {
    /// Tenant → services.
    pub up: Bucket,
    /// Services → tenant.
    pub down: Bucket,
}

/// Tunnels of each tenant (and machine) open on the other gateways, as last read.
#[derive(Debug, Default)]
pub struct Elsewhere {
    tenants: HashMap<String, i64>,
    machines: HashMap<(String, String), i64>,
}

impl Elsewhere {
    /// From the other gateways' rows.
    pub fn from_counts(counts: Vec<OpenTunnelCount>) -> Self {
        let mut e = Elsewhere::default();
        for c in counts {
            *e.tenants.entry(c.tenant.clone()).or_default() += c.open;
            *e.machines.entry((c.tenant, c.machine)).or_default() += c.open;
        }
        e
    }

    /// The tenant's tunnels elsewhere.
    pub fn tenant(&self, tenant: &str) -> i64 {
        self.tenants.get(tenant).copied().unwrap_or(0)
    }

    /// The machine's tunnels elsewhere.
    pub fn machine(&self, tenant: &str, machine: &str) -> i64 {
        self.machines
            .get(&(tenant.to_string(), machine.to_string()))
            .copied()
            .unwrap_or(0)
    }
}

/// The buckets of the tenants with tunnels open here, and what the other gateways have open.
#[derive(Debug, Default)]
pub struct Limits {
    buckets: Mutex<HashMap<Arc<str>, Weak<TenantBuckets>>>,
    elsewhere: Mutex<Arc<Elsewhere>>,
    /// The last read made for an admission, and when: reused for [`ADMISSION_READ_FOR`].
    admission_read: tokio::sync::Mutex<Option<(Instant, Arc<Elsewhere>)>>,
}

impl Limits {
    /// The buckets of `tenant`, shared with its other tunnels here; rates set at once from
    /// `state` (so a tunnel opened in a window is limited from its first byte).
    pub fn buckets(
        &self,
        tenant: &str,
        state: &GatewayState,
        book: &UsageBook,
    ) -> Arc<TenantBuckets> {
        let mut map = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(b) = map.get(tenant).and_then(Weak::upgrade) {
            return b;
        }
        let b = Arc::new(TenantBuckets::default());
        self.set_rates(tenant, &b, state, book, OffsetDateTime::now_utc());
        map.insert(Arc::from(tenant), Arc::downgrade(&b));
        b
    }

    /// What the other gateways have open, as last read.
    pub fn elsewhere(&self) -> Arc<Elsewhere> {
        self.elsewhere
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// What the other gateways have open, read from the database for an admission (at most
    /// [`ADMISSION_READ_FOR`] old, one read at a time); the last known when the database does
    /// not answer within a second.
    pub async fn elsewhere_now(&self, db: &SharedRepository, me: &str) -> Arc<Elsewhere> {
        let mut last = self.admission_read.lock().await;
        if let Some((at, e)) = last.as_ref()
            && at.elapsed() < ADMISSION_READ_FOR
        {
            return e.clone();
        }
        let since = OffsetDateTime::now_utc() - ELSEWHERE_FRESH_FOR;
        let read = db.open_tunnel_counts(since, Some(me));
        match tokio::time::timeout(Duration::from_secs(1), read).await {
            Ok(Ok(counts)) => {
                let e = Arc::new(Elsewhere::from_counts(counts));
                *last = Some((Instant::now(), e.clone()));
                e
            }
            _ => self.elsewhere(),
        }
    }

    fn set_elsewhere(&self, e: Elsewhere) {
        *self
            .elsewhere
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(e);
    }

    /// Sets a tenant's rates: its policy's, in force now, times this gateway's share of its
    /// tunnels in the fleet.
    fn set_rates(
        &self,
        tenant: &str,
        b: &TenantBuckets,
        state: &GatewayState,
        book: &UsageBook,
        now: OffsetDateTime,
    ) {
        let policy = state.tenant(tenant).and_then(|t| t.policy.clone());
        let (up, down) = policy.as_ref().map_or((None, None), |p| p.rates_at(now));
        let here = book.tenant_open(tenant).max(1);
        let there = self.elsewhere().tenant(tenant).max(0);
        let share = |rate: Option<cloudgate_policy::Rate>| {
            rate.map_or(0, |r| {
                let shared = u128::from(r.bytes_per_sec()) * here as u128 / (here + there) as u128;
                u64::try_from(shared).unwrap_or(u64::MAX).max(1)
            })
        };
        b.up.set_rate(share(up));
        b.down.set_rate(share(down));
    }

    /// Sets every live tenant's rates again; forgets the tenants whose tunnels all closed.
    /// Whether a tenant with limits of any kind has tunnels here.
    pub fn refresh(&self, state: &GatewayState, book: &UsageBook) -> bool {
        let now = OffsetDateTime::now_utc();
        let live: Vec<(Arc<str>, Arc<TenantBuckets>)> = {
            let mut map = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
            map.retain(|_, w| w.strong_count() > 0);
            map.iter()
                .filter_map(|(t, w)| w.upgrade().map(|b| (t.clone(), b)))
                .collect()
        };
        let mut limited = false;
        for (tenant, b) in &live {
            self.set_rates(tenant, b, state, book, now);
            limited |= state.tenant(tenant).is_some_and(|t| t.policy.is_some());
        }
        limited
    }
}

/// Keeps rates current and, while a limited tenant has tunnels here, tells the other gateways
/// what this one has open and reads what they have, every [`REFRESH_EVERY`] (or soon after a
/// limited tenant's tunnel opens or closes, when `nudge` is notified).
pub async fn refresh_loop(
    limits: Arc<Limits>,
    book: Arc<UsageBook>,
    state: Arc<crate::state::SharedState>,
    db: SharedRepository,
    gateway_id: String,
    nudge: Arc<tokio::sync::Notify>,
) {
    let mut told_none = true;
    loop {
        tokio::select! {
            () = tokio::time::sleep(REFRESH_EVERY) => {}
            () = nudge.notified() => {
                // Opens come in bursts: one write for the burst.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        let snap = state.current();
        let limited = limits.refresh(&snap.db, &book);
        if !limited && told_none {
            continue;
        }
        let open = book.open_counts();
        let at = OffsetDateTime::now_utc();
        if let Err(e) = db.record_usage(&gateway_id, at, &[], &open).await {
            tracing::debug!(error = %e, "cannot tell the fleet this gateway's open tunnels");
            continue;
        }
        // Told once more when the last limited tenant's tunnels closed; then the usage flush
        // keeps the rows current.
        told_none = !limited || open.is_empty();
        match db
            .open_tunnel_counts(at - ELSEWHERE_FRESH_FOR, Some(&gateway_id))
            .await
        {
            Ok(counts) => limits.set_elsewhere(Elsewhere::from_counts(counts)),
            Err(e) => tracing::debug!(error = %e, "cannot read the fleet's open tunnels"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_lets_its_rate_through_and_no_more() {
        let b = Bucket::default();
        assert_eq!(b.take(1 << 30), None, "unlimited");
        b.set_rate(1_000_000);
        // A bucket starts empty (no burst on a new limit): every byte is paid for at the rate.
        let mut waited = Duration::ZERO;
        for _ in 0..16 {
            waited = b.take(64 * 1024).unwrap_or_default();
        }
        let expected = 16.0 * 65536.0 / 1e6;
        assert!(
            (waited.as_secs_f64() - expected).abs() < 0.05,
            "{waited:?} vs {expected}"
        );
    }

    #[test]
    fn the_fleet_shares_a_rate_by_open_tunnels() {
        use cloudgate_db::{GatewayTenant, TenantSlice};
        let mut state = GatewayState::default();
        state.set_tenant(TenantSlice {
            name: "acme".into(),
            tenant: Some(GatewayTenant {
                enabled: true,
                pool: "default".into(),
                failover_outside_pool: false,
                policy: Some(Arc::new(cloudgate_policy::TenantPolicy {
                    max_upload: Some(cloudgate_policy::Rate(20_000_000)),
                    ..Default::default()
                })),
            }),
            services: vec![],
            client_certs: vec![],
        });
        let book = UsageBook::default();
        let limits = Limits::default();
        let _t = book.open("acme", "M1");
        let b = limits.buckets("acme", &state, &book);
        assert_eq!((b.up.rate(), b.down.rate()), (20_000_000, 0));
        limits.set_elsewhere(Elsewhere::from_counts(vec![OpenTunnelCount {
            tenant: "acme".into(),
            machine: "M2".into(),
            open: 3,
        }]));
        assert!(limits.refresh(&state, &book));
        assert_eq!(b.up.rate(), 5_000_000, "one tunnel here, three elsewhere");
        assert!(
            Arc::ptr_eq(&b, &limits.buckets("acme", &state, &book)),
            "shared"
        );
    }
}
