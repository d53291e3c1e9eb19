//! Maintenance: the SP takes gateways (all, a pool's, or one) out of service for new tunnels,
//! with a message for tenants, a drain deadline for open tunnels and an announced end.

use cloudgate_policy::{Maintenance, MaintenanceScope};
use cloudgate_proto::admin::{MaintenanceInfo, MaintenanceOrder};
use serde_json::json;
use time::OffsetDateTime;

use super::Sp;
use crate::SpError;

/// The longest message tenants are shown.
const MAX_MESSAGE: usize = 300;

/// The scope an order names: a pool, a gateway, or (neither) every gateway.
pub fn scope_of(pool: Option<&str>, gateway: Option<&str>) -> Result<MaintenanceScope, SpError> {
    match (pool.map(str::trim), gateway.map(str::trim)) {
        (Some(_), Some(_)) => Err(SpError::Invalid(
            "give --pool or --gateway, not both (or neither, for every gateway)".into(),
        )),
        (Some(p), None) => {
            crate::settings::check_fleet_name("pool", p)?;
            Ok(MaintenanceScope::Pool(p.into()))
        }
        (None, Some(g)) => {
            crate::settings::check_fleet_name("gateway", g)?;
            Ok(MaintenanceScope::Gateway(g.into()))
        }
        (None, None) => Ok(MaintenanceScope::All),
    }
}

/// A maintenance as shown.
pub fn maintenance_view(m: &Maintenance) -> MaintenanceInfo {
    let (scope, name) = match &m.scope {
        MaintenanceScope::All => ("all", None),
        MaintenanceScope::Pool(p) => ("pool", Some(p.clone())),
        MaintenanceScope::Gateway(g) => ("gateway", Some(g.clone())),
    };
    MaintenanceInfo {
        scope: scope.into(),
        name,
        message: m.message.clone(),
        started_at: cloudgate_pki::format_rfc3339(m.started_at),
        drain_until: m.drain_until.map(cloudgate_pki::format_rfc3339),
        ends_at: m.ends_at.map(cloudgate_pki::format_rfc3339),
    }
}

/// What an order asks for, checked, as of `now`.
pub fn maintenance_of(
    order: &MaintenanceOrder,
    now: OffsetDateTime,
) -> Result<Maintenance, SpError> {
    let scope = scope_of(order.pool.as_deref(), order.gateway.as_deref())?;
    let message = cloudgate_pki::text::one_line(order.message.trim()).into_owned();
    if message.chars().count() > MAX_MESSAGE {
        return Err(SpError::Invalid(format!(
            "the message is longer than {MAX_MESSAGE} characters; tenants see it in one line"
        )));
    }
    let now = OffsetDateTime::from_unix_timestamp(now.unix_timestamp()).unwrap_or(now);
    let drain_until = match order.drain.as_deref().map(str::trim) {
        None | Some("") => None,
        Some("0" | "0s" | "now") => Some(now),
        Some(d) => Some(
            now + crate::join_tokens::parse_lifetime(d)
                .map_err(|e| SpError::Invalid(format!("--drain: {e}")))?,
        ),
    };
    let ends_at = match order.until.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(u) => {
            // An age means "from now" here: the announced end is ahead.
            let at = match crate::join_tokens::parse_lifetime(u) {
                Ok(d) => now + d,
                Err(_) => super::parse_when(u, now)
                    .map_err(|e| SpError::Invalid(format!("--until: {e}")))?,
            };
            if at <= now {
                return Err(SpError::Invalid(format!(
                    "--until: {u:?} is not ahead; give when the maintenance is to end"
                )));
            }
            Some(at)
        }
    };
    Ok(Maintenance {
        scope,
        message: if message.is_empty() {
            "the service provider is doing maintenance".into()
        } else {
            message
        },
        started_at: now,
        drain_until,
        ends_at,
    })
}

impl Sp {
    /// Maintenance in force.
    pub async fn maintenance(&self) -> Result<Vec<MaintenanceInfo>, SpError> {
        Ok(self
            .db
            .maintenance()
            .await?
            .iter()
            .map(maintenance_view)
            .collect())
    }

    /// Starts (or replaces) the maintenance of a scope: gateways in it refuse new tunnels
    /// with its message at their next reload; open tunnels go on until the drain deadline.
    pub async fn start_maintenance(
        &self,
        order: &MaintenanceOrder,
    ) -> Result<MaintenanceInfo, SpError> {
        let outcome = async {
            let m = maintenance_of(order, OffsetDateTime::now_utc())?;
            self.db.start_maintenance(&m).await?;
            let view = maintenance_view(&m);
            self.audit(
                "maintenance.started",
                "maintenance started: new tunnels refused",
                json!({ "scope": view.scope, "name": view.name, "message": view.message,
                    "drain_until": view.drain_until, "ends_at": view.ends_at }),
            );
            Ok(view)
        };
        self.done(outcome.await).await
    }

    /// Ends the maintenance of a scope.
    pub async fn end_maintenance(
        &self,
        pool: Option<&str>,
        gateway: Option<&str>,
    ) -> Result<MaintenanceInfo, SpError> {
        let outcome = async {
            let scope = scope_of(pool, gateway)?;
            let current = self.db.maintenance().await?;
            let Some(m) = current.into_iter().find(|m| m.scope == scope) else {
                return Err(SpError::NotFound(format!(
                    "no maintenance for {}; `cloudgate sp maintenance status` shows what is in force",
                    scope.key()
                )));
            };
            self.db.end_maintenance(&scope).await?;
            let view = maintenance_view(&m);
            self.audit(
                "maintenance.ended",
                "maintenance ended: tunnels accepted again",
                json!({ "scope": view.scope, "name": view.name }),
            );
            Ok(view)
        };
        self.done(outcome.await).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_are_checked_and_times_made_absolute() {
        let now = time::macros::datetime!(2026-12-06 10:00 UTC);
        let m = maintenance_of(
            &MaintenanceOrder {
                pool: Some("eu".into()),
                message: "disk swap".into(),
                drain: Some("30m".into()),
                until: Some("2h".into()),
                ..Default::default()
            },
            now,
        )
        .unwrap();
        assert_eq!(m.scope, MaintenanceScope::Pool("eu".into()));
        assert_eq!(m.drain_until, Some(now + time::Duration::minutes(30)));
        assert_eq!(m.ends_at, Some(now + time::Duration::hours(2)));
        let both = MaintenanceOrder {
            pool: Some("eu".into()),
            gateway: Some("gw".into()),
            ..Default::default()
        };
        assert!(maintenance_of(&both, now).is_err());
        let past = MaintenanceOrder {
            until: Some("2020-01-01".into()),
            ..Default::default()
        };
        assert!(
            maintenance_of(&past, now)
                .unwrap_err()
                .to_string()
                .contains("not ahead")
        );
        let bad = MaintenanceOrder {
            drain: Some("soon".into()),
            ..Default::default()
        };
        assert!(
            maintenance_of(&bad, now)
                .unwrap_err()
                .to_string()
                .contains("--drain")
        );
    }
}
