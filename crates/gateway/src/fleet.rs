//! The gateway as one of a fleet sharing an SP database: it records itself and heartbeats,
//! keeps the list of its peers for `GET /v1/provider`, and knows whether it reaches the
//! database (degraded when it does not: tunnels go on from the last state, enrollments get 503).

use cloudgate_proto::admin::GatewayState;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use cloudgate_db::{GatewayRecord, SharedRepository};
use cloudgate_proto::{GatewayEndpoint, Health};
use time::OffsetDateTime;

/// How often a gateway heartbeats.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(2);

/// A gateway not heard from for this long is down: the one rule of the administration model.
pub const UP_WITHIN: Duration = cloudgate_proto::admin::GATEWAY_UP_WITHIN;

/// Who this gateway is in the fleet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// Unique in the fleet.
    pub id: String,
    /// `HOST:PORT` tenants reach it at; empty when none is configured (it is then not told to
    /// tenants).
    pub public_address: String,
    /// The pool it serves.
    pub pool: String,
}

/// This gateway's view of the fleet.
pub struct Fleet {
    me: Identity,
    started_at: OffsetDateTime,
    members: RwLock<Arc<Vec<GatewayRecord>>>,
    database_up: AtomicBool,
    /// What each member's public address presented when this gateway last looked.
    peers: crate::peers::PeerCheck,
}

impl Fleet {
    /// A gateway starting now.
    pub fn new(me: Identity) -> Self {
        Fleet {
            me,
            started_at: OffsetDateTime::now_utc(),
            members: RwLock::new(Arc::new(Vec::new())),
            database_up: AtomicBool::new(true),
            peers: Default::default(),
        }
    }

    /// This gateway.
    pub fn identity(&self) -> &Identity {
        &self.me
    }

    /// Whether the last database operation succeeded.
    pub fn health(&self) -> Health {
        if self.database_up.load(Ordering::Relaxed) {
            Health::Ok
        } else {
            Health::Degraded
        }
    }

    /// Records whether the database answered, logging each change once.
    pub fn database_answered(&self, up: bool, error: Option<&dyn std::fmt::Display>) {
        let was = self.database_up.swap(up, Ordering::Relaxed);
        match (was, up) {
            (true, false) => tracing::error!(
                error = %error.map(|e| e.to_string()).unwrap_or_default(),
                "degraded: the SP database does not answer; serving tenants and tunnels from the last state, refusing enrollments with 503"
            ),
            (false, true) => tracing::warn!("recovered: the SP database answers again"),
            _ => {}
        }
    }

    /// The gateways as last read from the database.
    pub fn members(&self) -> Arc<Vec<GatewayRecord>> {
        self.members
            .read()
            .map(|m| m.clone())
            .unwrap_or_else(|poisoned| poisoned.into_inner().clone())
    }

    /// The live gateways a tenant of `pool` should use, least loaded first; then, when it may
    /// fail over outside its pool, the live others, least loaded first. Only addresses this
    /// gateway saw present `serving_sha256` (the certificate it serves itself) are told.
    pub fn endpoints(
        &self,
        pool: &str,
        outside: bool,
        serving_sha256: &str,
    ) -> Vec<GatewayEndpoint> {
        let now = OffsetDateTime::now_utc();
        let members = self.members();
        let mut live: Vec<&GatewayRecord> = members
            .iter()
            .filter(|g| {
                cloudgate_sp::views::gateway_state(g, now) == GatewayState::Up
                    && !g.public_address.is_empty()
            })
            .filter(|g| self.peers.presents(&g.public_address, serving_sha256))
            .collect();
        live.sort_by_key(|g| (g.pool != pool, g.open_tunnels, g.id.clone()));
        live.into_iter()
            .filter(|g| outside || g.pool == pool)
            .map(|g| GatewayEndpoint {
                address: g.public_address.clone(),
                pool: g.pool.clone(),
                open_tunnels: g.open_tunnels,
            })
            .collect()
    }

    /// One heartbeat: records this gateway (serving `cert_sha256` with `open_tunnels` open)
    /// and reads the fleet back.
    pub async fn beat(
        &self,
        db: &SharedRepository,
        cert_sha256: &str,
        open_tunnels: i64,
        relayed_bytes: i64,
    ) {
        let record = GatewayRecord {
            id: self.me.id.clone(),
            public_address: self.me.public_address.clone(),
            pool: self.me.pool.clone(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            cert_sha256: cert_sha256.to_string(),
            open_tunnels,
            relayed_bytes,
            started_at: self.started_at,
            heartbeat_at: OffsetDateTime::now_utc(),
            stopped_at: None,
        };
        let result = match db.heartbeat(&record).await {
            Ok(()) => db.gateways().await,
            Err(e) => Err(e),
        };
        match result {
            Ok(members) => {
                if let Ok(mut slot) = self.members.write() {
                    *slot = Arc::new(members);
                }
                self.database_answered(true, None);
            }
            Err(e) => self.database_answered(false, Some(&e)),
        }
    }

    /// Looks at the public addresses of the live members that are due (see `peers.rs`).
    /// `include_self` is false before this gateway accepts connections: its own address could
    /// not answer yet.
    pub async fn check_peers(&self, include_self: bool) {
        let now = OffsetDateTime::now_utc();
        let members = self.members();
        let addresses = members
            .iter()
            .filter(|g| {
                cloudgate_sp::views::gateway_state(g, now) == GatewayState::Up
                    && !g.public_address.is_empty()
            })
            .filter(|g| include_self || g.id != self.me.id)
            .map(|g| g.public_address.as_str());
        self.peers.probe_due(addresses).await;
    }

    /// Records what an address presented, as a probe would (tests).
    #[cfg(test)]
    fn saw(&self, address: &str, sha256: &str) {
        self.peers.record(address, sha256.to_string());
    }

    /// Records that this gateway stopped, if the database answers in time.
    pub async fn stopped(&self, db: &SharedRepository) {
        match tokio::time::timeout(Duration::from_secs(2), db.gateway_stopped(&self.me.id)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot record that this gateway stopped"),
            Err(_) => tracing::warn!(
                "cannot record that this gateway stopped: the database did not answer"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str, pool: &str, tunnels: i64, age_secs: i64) -> GatewayRecord {
        let now = OffsetDateTime::now_utc();
        GatewayRecord {
            id: id.into(),
            public_address: format!("{id}:6180"),
            pool: pool.into(),
            version: "1".into(),
            cert_sha256: String::new(),
            open_tunnels: tunnels,
            relayed_bytes: 0,
            started_at: now,
            heartbeat_at: now - time::Duration::seconds(age_secs),
            stopped_at: None,
        }
    }

    #[test]
    fn endpoints_are_the_pools_live_gateways_least_loaded_first() {
        let fleet = Fleet::new(Identity {
            id: "a".into(),
            public_address: "a:6180".into(),
            pool: "eu".into(),
        });
        let mut stopped = member("s", "eu", 0, 0);
        stopped.stopped_at = Some(OffsetDateTime::now_utc());
        let mut unadvertised = member("quiet", "eu", 0, 0);
        unadvertised.public_address.clear();
        *fleet.members.write().unwrap() = Arc::new(vec![
            unadvertised,
            member("a", "eu", 5, 0),
            member("b", "eu", 1, 1),
            member("dead", "eu", 0, 60),
            stopped,
            member("us1", "us", 0, 0),
        ]);
        let addresses =
            |v: Vec<GatewayEndpoint>| -> Vec<String> { v.into_iter().map(|e| e.address).collect() };
        // Nothing is told before it was seen presenting the certificate served here.
        assert!(fleet.endpoints("eu", true, "CERT").is_empty());
        for seen in ["a:6180", "b:6180", "us1:6180", "s:6180", "dead:6180"] {
            fleet.saw(seen, "CERT");
        }
        assert_eq!(
            addresses(fleet.endpoints("eu", false, "CERT")),
            ["b:6180", "a:6180"]
        );
        assert_eq!(
            addresses(fleet.endpoints("eu", true, "CERT")),
            ["b:6180", "a:6180", "us1:6180"]
        );
        assert_eq!(
            addresses(fleet.endpoints("us", false, "CERT")),
            ["us1:6180"]
        );
        // An address that presents another certificate (a thief's, another server's, a key the
        // SP replaced) is not told.
        fleet.saw("b:6180", "OTHER");
        assert_eq!(addresses(fleet.endpoints("eu", false, "CERT")), ["a:6180"]);
        assert!(fleet.endpoints("eu", false, "NEW").is_empty());
    }

    #[test]
    fn health_follows_the_database() {
        let fleet = Fleet::new(Identity {
            id: "a".into(),
            public_address: "a:6180".into(),
            pool: "default".into(),
        });
        assert_eq!(fleet.health(), Health::Ok);
        fleet.database_answered(false, Some(&"refused"));
        assert_eq!(fleet.health(), Health::Degraded);
        fleet.database_answered(true, None);
        assert_eq!(fleet.health(), Health::Ok);
    }
}
