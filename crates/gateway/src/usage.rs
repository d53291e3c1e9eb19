//! What each tenant's machines use through this gateway, counted as it happens and written to
//! the SP database in one transaction every [`FLUSH_EVERY`] (never a write per byte or per
//! tunnel): bytes each way, tunnels opened, the time they were open, and the tunnels open now.
//! A gateway killed with `-9` loses what it counted since its last flush, at most
//! [`FLUSH_EVERY`].
//!
//! Tunnel time is exact without a timer per tunnel: a tunnel subtracts its opening time from
//! its machine's `span_ms` and adds its closing time, so over a flush interval `[t0, t1]` the time
//! open is `span_ms + open(t1)·t1 − open(t0)·t0` (each tunnel contributes its overlap with the
//! interval).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use cloudgate_db::{OpenTunnelCount, SharedRepository, UsageCount};
use time::OffsetDateTime;

/// How often the counts go to the SP database.
pub const FLUSH_EVERY: Duration = Duration::from_secs(5);

/// Bytes a tunnel's relay adds as they pass.
#[derive(Debug, Default)]
pub struct TunnelBytes {
    /// Tenant → service.
    pub up: AtomicU64,
    /// Service → tenant.
    pub down: AtomicU64,
}

/// One machine's counters since the last flush, shared by its open tunnels and the flusher.
#[derive(Debug, Default)]
pub struct MachineUsage {
    /// Bytes relayed.
    pub bytes: TunnelBytes,
    opened: AtomicU64,
    open: AtomicI64,
    span_ms: AtomicI64,
    /// Tunnels open at the last flush (only the flusher touches it).
    open_at_flush: AtomicI64,
}

/// A machine's key in the book: its tenant and its certificate's SHA-256.
type MachineKey = (Arc<str>, Arc<str>);

/// Usage by tenant and machine.
pub struct UsageBook {
    epoch: Instant,
    /// Also the admission lock: a tunnel is counted against its limits and counted open under
    /// it, so that concurrent opens cannot all pass a limit only one fits under.
    machines: Mutex<HashMap<MachineKey, Arc<MachineUsage>>>,
    /// Tunnels open per tenant (locked after `machines`, never before).
    tenants: Mutex<HashMap<Arc<str>, Arc<AtomicI64>>>,
    last_flush_ms: AtomicI64,
    /// Whether the last write said no tunnel is open (so an idle gateway need not write).
    none_open_written: AtomicBool,
}

impl Default for UsageBook {
    fn default() -> Self {
        Self {
            epoch: Instant::now(),
            machines: Mutex::default(),
            tenants: Mutex::default(),
            last_flush_ms: AtomicI64::new(0),
            none_open_written: AtomicBool::new(true),
        }
    }
}

/// An open tunnel's place in the book: counts it open until dropped (closed, cut or failed).
pub struct OpenTunnel {
    usage: Arc<MachineUsage>,
    tenant_open: Arc<AtomicI64>,
    epoch: Instant,
}

/// The most tunnels a tenant may have open, and what other gateways have open of it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Caps {
    /// Most tunnels of the tenant, over all gateways.
    pub tenant: Option<u32>,
    /// Most tunnels of one machine, over all gateways.
    pub machine: Option<u32>,
    /// The tenant's tunnels open on other gateways.
    pub elsewhere_tenant: i64,
    /// The machine's tunnels open on other gateways.
    pub elsewhere_machine: i64,
}

/// Why a tunnel was not let open: the limit reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OverLimit {
    /// The tenant's.
    Tenant(u32),
    /// The machine's.
    Machine(u32),
}

impl OpenTunnel {
    /// The counters its relay adds bytes to.
    pub fn bytes(&self) -> &TunnelBytes {
        &self.usage.bytes
    }
}

impl Drop for OpenTunnel {
    fn drop(&mut self) {
        self.usage
            .span_ms
            .fetch_add(ms_since(self.epoch), Ordering::Relaxed);
        self.usage.open.fetch_sub(1, Ordering::Relaxed);
        self.tenant_open.fetch_sub(1, Ordering::Relaxed);
    }
}

fn ms_since(epoch: Instant) -> i64 {
    i64::try_from(epoch.elapsed().as_millis()).unwrap_or(i64::MAX)
}

/// What one flush found: the counts to add and the tunnels open now.
pub struct Taken {
    /// Per machine, what was counted since the last flush (machines that did nothing left out).
    pub counted: Vec<UsageCount>,
    /// Per machine, tunnels open now.
    pub open: Vec<OpenTunnelCount>,
}

impl UsageBook {
    /// Counts a tunnel of `tenant`'s machine `machine` opened now.
    pub fn open(&self, tenant: &str, machine: &str) -> OpenTunnel {
        let Ok(t) = self.admit(tenant, machine, |_, _| {
            Ok::<(), std::convert::Infallible>(())
        });
        t
    }

    /// Counts a tunnel of `tenant`'s machine `machine` opened now, if it fits under `caps`
    /// (checked and counted under one lock).
    pub fn try_open(
        &self,
        tenant: &str,
        machine: &str,
        caps: &Caps,
    ) -> Result<OpenTunnel, OverLimit> {
        self.admit(tenant, machine, |tenant_open, machine_open| {
            if let Some(max) = caps.tenant
                && tenant_open + caps.elsewhere_tenant >= i64::from(max)
            {
                return Err(OverLimit::Tenant(max));
            }
            if let Some(max) = caps.machine
                && machine_open + caps.elsewhere_machine >= i64::from(max)
            {
                return Err(OverLimit::Machine(max));
            }
            Ok(())
        })
    }

    /// Counts a tunnel open if `check` (given the tenant's and the machine's tunnels open
    /// here) lets it, under the admission lock.
    fn admit<E>(
        &self,
        tenant: &str,
        machine: &str,
        check: impl FnOnce(i64, i64) -> Result<(), E>,
    ) -> Result<OpenTunnel, E> {
        let (usage, tenant_open) = {
            let mut machines = self.machines.lock().unwrap_or_else(PoisonError::into_inner);
            let mut tenants = self.tenants.lock().unwrap_or_else(PoisonError::into_inner);
            let tenant_key = match tenants.get_key_value(tenant) {
                Some((k, _)) => k.clone(),
                None => Arc::<str>::from(tenant),
            };
            let tenant_open = tenants.entry(tenant_key.clone()).or_default().clone();
            let key = (tenant_key, Arc::<str>::from(machine));
            let usage = machines.entry(key).or_default().clone();
            check(
                tenant_open.load(Ordering::Relaxed),
                usage.open.load(Ordering::Relaxed),
            )?;
            usage.open.fetch_add(1, Ordering::Relaxed);
            tenant_open.fetch_add(1, Ordering::Relaxed);
            (usage, tenant_open)
        };
        usage.opened.fetch_add(1, Ordering::Relaxed);
        usage
            .span_ms
            .fetch_sub(ms_since(self.epoch), Ordering::Relaxed);
        Ok(OpenTunnel {
            usage,
            tenant_open,
            epoch: self.epoch,
        })
    }

    /// Tunnels of `tenant` open on this gateway now.
    pub fn tenant_open(&self, tenant: &str) -> i64 {
        let tenants = self.tenants.lock().unwrap_or_else(PoisonError::into_inner);
        tenants
            .get(tenant)
            .map_or(0, |n| n.load(Ordering::Relaxed).max(0))
    }

    /// Tunnels open now, per machine (nothing taken).
    pub fn open_counts(&self) -> Vec<OpenTunnelCount> {
        let machines = self.machines.lock().unwrap_or_else(PoisonError::into_inner);
        machines
            .iter()
            .filter_map(|((tenant, machine), u)| {
                let open = u.open.load(Ordering::Relaxed);
                (open > 0).then(|| OpenTunnelCount {
                    tenant: tenant.to_string(),
                    machine: machine.to_string(),
                    open,
                })
            })
            .collect()
    }

    /// Takes what was counted since the last take, as of `at`, and forgets machines with
    /// nothing open and nothing counted (the book holds only what is active).
    pub fn take(&self, at: OffsetDateTime) -> Taken {
        let t1 = ms_since(self.epoch);
        let t0 = self.last_flush_ms.swap(t1, Ordering::Relaxed);
        let mut taken = Taken {
            counted: Vec::new(),
            open: Vec::new(),
        };
        let mut machines = self.machines.lock().unwrap_or_else(PoisonError::into_inner);
        machines.retain(|(tenant, machine), u| {
            let up = u.bytes.up.swap(0, Ordering::Relaxed);
            let down = u.bytes.down.swap(0, Ordering::Relaxed);
            let opened = u.opened.swap(0, Ordering::Relaxed);
            let span = u.span_ms.swap(0, Ordering::Relaxed);
            let open = u.open.load(Ordering::Relaxed).max(0);
            let before = u.open_at_flush.swap(open, Ordering::Relaxed);
            let tunnel_ms = (span + open * t1 - before * t0).max(0);
            if up > 0 || down > 0 || opened > 0 || tunnel_ms > 0 {
                taken.counted.push(UsageCount {
                    tenant: tenant.to_string(),
                    machine: machine.to_string(),
                    hour: at,
                    bytes_up: i64::try_from(up).unwrap_or(i64::MAX),
                    bytes_down: i64::try_from(down).unwrap_or(i64::MAX),
                    tunnels: i64::try_from(opened).unwrap_or(i64::MAX),
                    tunnel_ms,
                });
            }
            if open > 0 {
                taken.open.push(OpenTunnelCount {
                    tenant: tenant.to_string(),
                    machine: machine.to_string(),
                    open,
                });
            }
            // Kept while a tunnel holds it (it counts into it) or it had tunnels open.
            open > 0 || Arc::strong_count(u) > 1
        });
        let mut tenants = self.tenants.lock().unwrap_or_else(PoisonError::into_inner);
        tenants.retain(|_, n| Arc::strong_count(n) > 1);
        taken
    }

    /// Writes what was counted since the last flush. On a database error the counts are put
    /// back, so they go with the next flush; an idle gateway writes nothing.
    /// Returns the counts written.
    pub async fn flush(&self, db: &SharedRepository, gateway_id: &str) -> Vec<UsageCount> {
        let at = OffsetDateTime::now_utc();
        let taken = self.take(at);
        let idle = taken.counted.is_empty() && taken.open.is_empty();
        if idle && self.none_open_written.load(Ordering::Relaxed) {
            return Vec::new();
        }
        match db
            .record_usage(gateway_id, at, &taken.counted, &taken.open)
            .await
        {
            Ok(()) => {
                self.none_open_written
                    .store(taken.open.is_empty(), Ordering::Relaxed);
                taken.counted
            }
            Err(e) => {
                tracing::warn!(error = %e, "usage not recorded yet: it goes with the next flush");
                self.put_back(&taken.counted);
                Vec::new()
            }
        }
    }

    /// Adds counts that could not be written back into the book.
    fn put_back(&self, counted: &[UsageCount]) {
        let mut machines = self.machines.lock().unwrap_or_else(PoisonError::into_inner);
        for c in counted {
            let key = (
                Arc::<str>::from(c.tenant.as_str()),
                Arc::<str>::from(c.machine.as_str()),
            );
            let u = machines.entry(key).or_default();
            let add = |a: &AtomicU64, n: i64| {
                a.fetch_add(u64::try_from(n).unwrap_or(0), Ordering::Relaxed)
            };
            add(&u.bytes.up, c.bytes_up);
            add(&u.bytes.down, c.bytes_down);
            add(&u.opened, c.tunnels);
            u.span_ms.fetch_add(c.tunnel_ms, Ordering::Relaxed);
        }
    }
}

/// Flushes the book every [`FLUSH_EVERY`] until aborted, adding what was written to the
/// per-tenant metrics when there are some.
pub async fn flush_loop(
    book: Arc<UsageBook>,
    db: SharedRepository,
    gateway_id: String,
    per_tenant: Option<Arc<crate::metrics::Metrics>>,
) {
    loop {
        tokio::time::sleep(FLUSH_EVERY).await;
        let written = book.flush(&db, &gateway_id).await;
        if let Some(m) = &per_tenant {
            m.add_usage(&written);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find<'a>(t: &'a Taken, machine: &str) -> &'a UsageCount {
        t.counted.iter().find(|c| c.machine == machine).unwrap()
    }

    #[test]
    fn bytes_tunnels_and_open_time_are_counted_per_machine_and_taken_once() {
        let book = UsageBook::default();
        let now = OffsetDateTime::now_utc();
        let a = book.open("acme", "M1");
        a.bytes().up.fetch_add(100, Ordering::Relaxed);
        a.bytes().down.fetch_add(7, Ordering::Relaxed);
        let b = book.open("acme", "M2");
        std::thread::sleep(Duration::from_millis(120));
        drop(b);
        let first = book.take(now);
        let m1 = find(&first, "M1");
        assert_eq!((m1.bytes_up, m1.bytes_down, m1.tunnels), (100, 7, 1));
        assert!(m1.tunnel_ms >= 100, "{m1:?}");
        let m2 = find(&first, "M2");
        assert!(m2.tunnel_ms >= 100 && m2.tunnel_ms < 1000, "{m2:?}");
        assert_eq!(first.open.len(), 1, "M1 is open, M2 closed");
        std::thread::sleep(Duration::from_millis(60));
        drop(a);
        let second = book.take(now);
        let m1 = find(&second, "M1");
        assert_eq!((m1.bytes_up, m1.tunnels), (0, 0), "taken once");
        assert!(m1.tunnel_ms >= 50 && m1.tunnel_ms < 1000, "{m1:?}");
        assert!(second.open.is_empty());
        let third = book.take(now);
        assert!(third.counted.is_empty() && third.open.is_empty());
        assert!(
            book.machines.lock().unwrap().is_empty(),
            "nothing is kept for machines that are done"
        );
    }

    #[test]
    fn limits_count_this_gateway_and_the_others_and_a_close_frees_a_place() {
        let book = UsageBook::default();
        let caps = Caps {
            tenant: Some(4),
            machine: Some(2),
            elsewhere_tenant: 1,
            elsewhere_machine: 0,
        };
        let a = book.try_open("acme", "M1", &caps).unwrap();
        let b = book.try_open("acme", "M1", &caps).unwrap();
        assert_eq!(
            book.try_open("acme", "M1", &caps).err(),
            Some(OverLimit::Machine(2))
        );
        let c = book.try_open("acme", "M2", &caps).unwrap();
        assert_eq!(
            book.try_open("acme", "M2", &caps).err(),
            Some(OverLimit::Tenant(4)),
            "three here and one elsewhere"
        );
        assert!(
            book.try_open("globex", "M9", &caps).is_ok(),
            "another tenant's count"
        );
        assert_eq!(book.tenant_open("acme"), 3);
        drop(a);
        let d = book.try_open("acme", "M2", &caps).unwrap();
        assert_eq!(book.open_counts().iter().map(|o| o.open).sum::<i64>(), 3);
        drop((b, c, d));
        book.take(OffsetDateTime::now_utc());
        assert!(
            book.tenants.lock().unwrap().is_empty(),
            "nothing kept for tenants that are done"
        );
    }

    #[test]
    fn concurrent_opens_never_pass_a_limit_together() {
        let book = Arc::new(UsageBook::default());
        let caps = Caps {
            tenant: Some(5),
            ..Caps::default()
        };
        let held: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..32)
                .map(|i| {
                    let book = book.clone();
                    s.spawn(move || book.try_open("acme", &format!("M{i}"), &caps).ok())
                })
                .collect();
            handles
                .into_iter()
                .filter_map(|h| h.join().unwrap())
                .collect()
        });
        assert_eq!(held.len(), 5);
    }

    #[test]
    fn counts_put_back_after_a_failed_write_go_with_the_next_take() {
        let book = UsageBook::default();
        let now = OffsetDateTime::now_utc();
        let t = book.open("acme", "M1");
        t.bytes().up.fetch_add(5, Ordering::Relaxed);
        drop(t);
        let first = book.take(now);
        book.put_back(&first.counted);
        let again = book.take(now);
        assert_eq!(find(&again, "M1").bytes_up, 5);
        assert_eq!(find(&again, "M1").tunnels, 1);
    }
}
