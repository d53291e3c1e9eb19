//! Lease warnings: 30, 7 and 1 days before a tenant's lease ends, and when it has ended, the
//! audit says so once (claimed in the database, so that one gateway of a fleet gives each).

use std::time::Duration;

use cloudgate_db::SharedRepository;
use serde_json::json;

/// How often the leases are looked at.
pub const CHECK_EVERY: Duration = Duration::from_secs(60);

/// Audits the lease warnings due now; how many.
pub async fn warn_due(
    db: &SharedRepository,
    journal: &cloudgate_sp::audit::Journal,
    gateway: &str,
) -> usize {
    let due = match db.lease_warnings_due(time::OffsetDateTime::now_utc()).await {
        Ok(d) => d,
        Err(e) => {
            tracing::debug!(error = %e, "cannot look at the tenants' leases");
            return 0;
        }
    };
    for w in &due {
        let ends = cloudgate_pki::format_rfc3339(w.expires_at);
        let (event, message) = if w.days == 0 {
            (
                "tenant.lease_expired",
                "tenant's lease ended: it is refused until extended".to_string(),
            )
        } else {
            (
                "tenant.lease_expiring",
                format!(
                    "tenant's lease ends in {} day{}",
                    w.days,
                    if w.days == 1 { "" } else { "s" }
                ),
            )
        };
        tracing::warn!(tenant = %w.tenant, ends = %ends, "{message}");
        journal.record(
            &cloudgate_sp::Actor::Gateway(gateway.to_string()),
            event,
            &message,
            json!({ "tenant": w.tenant, "expires_at": ends, "days_left": w.days }),
        );
    }
    due.len()
}

/// Looks at the leases at once, every [`CHECK_EVERY`], after a reload (a lease just set near
/// its end is warned of at once), and as a lease ends.
pub async fn lease_loop(state: std::sync::Arc<crate::state::SharedState>, gateway: String) {
    let mut swaps = state.subscribe();
    loop {
        warn_due(state.db(), state.journal(), &gateway).await;
        let now = time::OffsetDateTime::now_utc();
        let next_end = state
            .current()
            .db
            .next_lease_end(now)
            .and_then(|end| Duration::try_from(end - now).ok());
        let wait = next_end.map_or(CHECK_EVERY, |d| {
            d.min(CHECK_EVERY) + Duration::from_millis(50)
        });
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            changed = swaps.changed() => {
                if changed.is_err() {
                    tokio::time::sleep(CHECK_EVERY).await;
                }
            }
        }
    }
}
