//! The SP core: one handle ([`Sp`]) through which every front end changes the SP. The command
//! line, the console's pages and API, the demo and the gateway's own work call its methods; each
//! method checks (one set of rules), changes, writes exactly one audit entry naming the actor,
//! publishes to the fleet when the certificate in use changed, and returns the administration
//! model's types ([`cloudgate_proto::admin`]). A risky change comes back as a typed refusal
//! ([`SpError::WouldReverify`]) that each front end presents its own way.
//!
//! Reading goes through the handle too, so that a front end never needs the repository or the
//! store itself.

use std::sync::Arc;

use cloudgate_db::SharedRepository;
use cloudgate_store::CertStore;

use crate::SpError;
use crate::audit::{Actor, Journal};
use crate::fleet::FleetKey;

mod access;
mod certificates;
pub mod limits;
pub mod maintenance;
mod site;
mod tenants;
mod usage;

pub use certificates::{Applied, Staged};
pub use site::FleetKeyChange;
pub use tenants::TokenOrder;
pub use usage::{Period, UsageRequest, parse_when};

/// The SP, as one actor acts on it.
#[derive(Clone)]
pub struct Sp {
    /// The store, its audit entries going to the journal as the actor's.
    store: CertStore,
    db: SharedRepository,
    fleet_keys: Arc<Vec<FleetKey>>,
    journal: Arc<Journal>,
    actor: Actor,
}

impl std::fmt::Debug for Sp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the fleet keys: they open the published private key.
        f.debug_struct("Sp")
            .field("data_dir", &self.store.layout().data_dir())
            .field("db", &self.db.location())
            .field("fleet_keys", &self.fleet_keys.len())
            .field("actor", &self.actor)
            .finish()
    }
}

impl Sp {
    /// The SP of `store` and `db`, acted on by the Unix user running this process; with
    /// `fleet_keys`, a change of the certificate in use is published to the fleet's gateways.
    pub fn new(store: CertStore, db: SharedRepository, fleet_keys: Vec<FleetKey>) -> Sp {
        let journal = Journal::deferred(store.layout().clone(), store.ownership().clone());
        Sp::with_journal(store, db, fleet_keys, journal)
    }

    /// The same, recording in `journal` (which the process shares, so that what it changed
    /// outside the core is in the same order).
    pub fn with_journal(
        store: CertStore,
        db: SharedRepository,
        fleet_keys: Vec<FleetKey>,
        journal: Arc<Journal>,
    ) -> Sp {
        journal.attach(db.clone());
        let actor = Actor::current_user();
        Sp {
            store: store.audited_by(journal.sink(actor.clone())),
            db,
            fleet_keys: Arc::new(fleet_keys),
            journal,
            actor,
        }
    }

    /// The same SP, acted on by `actor`.
    pub fn acting_as(&self, actor: Actor) -> Sp {
        Sp {
            store: self.store.audited_by(self.journal.sink(actor.clone())),
            actor,
            ..self.clone()
        }
    }

    /// Who acts.
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// The journal every entry goes through (a gateway records its refusals in it).
    pub fn journal(&self) -> &Arc<Journal> {
        &self.journal
    }

    /// The store, for reading.
    pub fn store(&self) -> &CertStore {
        &self.store
    }

    /// The database, for reading.
    pub fn db(&self) -> &SharedRepository {
        &self.db
    }

    /// Whether a change of the certificate in use is published to a fleet.
    pub fn serves_a_fleet(&self) -> bool {
        !self.fleet_keys.is_empty()
    }

    /// Records one entry as the actor's.
    fn audit(&self, event: &str, message: &str, details: serde_json::Value) {
        self.journal.record(&self.actor, event, message, details);
    }

    /// Ends an operation: what it queued is written (whether it succeeded or not: a refusal
    /// can be worth an entry too). A change whose entry could not be written everywhere is an
    /// error that says so ([`SpError::Unaudited`]); the change is not undone, and an entry the
    /// database refused is in the local audit.log, marked unchained, where `sp audit verify`
    /// counts it.
    async fn done<T>(&self, outcome: Result<T, SpError>) -> Result<T, SpError> {
        let flushed = self.journal.flush().await;
        let value = outcome?;
        flushed.map_err(|e| {
            SpError::Unaudited(format!(
                "the change was made, but its audit entry could not be written everywhere: {e}"
            ))
        })?;
        Ok(value)
    }

    /// Publishes the certificate in use to the fleet, when there is one; whether it published
    /// (false when the gateways have it already, or there is no fleet).
    async fn publish(&self) -> Result<bool, SpError> {
        if self.fleet_keys.is_empty() {
            return Ok(false);
        }
        let keys: Vec<&FleetKey> = self.fleet_keys.iter().collect();
        crate::fleet::publish(&self.store, &*self.db, &keys).await
    }
}
