//! `cloudgate-state-memory`: what the gateway's state of tenants costs, measured in-process
//! with the gateway's own types and allocator (counted): bytes per tenant, and the time and
//! memory one change takes at 1 tenant and at many. Prints one JSON object.
//!
//! The tenants are shaped like `bench/fleet.py`'s: a name, the default pool, one service and
//! one enrolled certificate each.

use std::time::Instant;

use clap::Parser;
use cloudgate_alloc::{Counting, ZeroOnFree};
use cloudgate_db::{GatewayState, GatewayTenant, TenantSlice};
use sha2::Digest as _;

#[global_allocator]
static ALLOC: Counting<ZeroOnFree> = Counting::new(ZeroOnFree);

#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Tenants in the large state
    #[arg(long, default_value_t = 100_000)]
    tenants: usize,
    /// Changes timed at each size
    #[arg(long, default_value_t = 2_000)]
    changes: usize,
}

fn slice(i: usize, enabled: bool) -> TenantSlice {
    let digest = sha2::Sha256::digest(i.to_le_bytes());
    TenantSlice {
        name: format!("bulk{i}"),
        tenant: Some(GatewayTenant {
            enabled,
            pool: "default".into(),
            failover_outside_pool: false,
            policy: None,
        }),
        services: vec![("repo".into(), "127.0.0.1:9".into())],
        client_certs: vec![cloudgate_pki::fingerprint::upper_hex(&digest)],
    }
}

/// One size: the state's bytes (as malloc's chunks) and, over `changes` changes each applied
/// to a copy while the previous state is still held (as the gateway does), the time per change
/// and the bytes a change's copy adds.
fn measure(tenants: usize, changes: usize) -> (usize, f64, f64) {
    let before = ALLOC.held().1;
    let mut state = GatewayState::from_tenants(0, (0..tenants).map(|i| slice(i, true)));
    let bytes = ALLOC.held().1 - before;
    let work: Vec<TenantSlice> = (0..changes)
        .map(|k| slice(k % tenants, k % 2 == 1))
        .collect();
    let (mut copy_bytes, started) = (0usize, Instant::now());
    for (k, change) in work.into_iter().enumerate() {
        let held = ALLOC.held().1;
        let mut next = state.clone();
        next.set_tenant(change);
        next.version = i64::try_from(k).unwrap_or(i64::MAX);
        copy_bytes += ALLOC.held().1.saturating_sub(held);
        state = next;
    }
    let per_change_us = started.elapsed().as_secs_f64() * 1e6 / changes.max(1) as f64;
    assert_eq!(state.tenant_count(), tenants);
    (
        bytes,
        per_change_us,
        copy_bytes as f64 / changes.max(1) as f64,
    )
}

fn main() {
    let cli = Cli::parse();
    let (one, one_us, one_copy) = measure(1, cli.changes);
    let (many, many_us, many_copy) = measure(cli.tenants.max(2), cli.changes);
    let per_tenant = (many - one) as f64 / (cli.tenants.max(2) - 1) as f64;
    println!(
        "{}",
        serde_json::json!({
            "tenants": cli.tenants,
            "bytes_per_tenant": per_tenant.round(),
            "state_bytes": {"1": one, "many": many},
            "change_us": {"1": one_us, "many": many_us},
            "change_copy_bytes": {"1": one_copy.round(), "many": many_copy.round()},
        })
    );
}
