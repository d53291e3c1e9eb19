//! The SP's audit: every change and every refusal, from any front end, as one entry naming who
//! acted. An entry goes to the SP database (hash-chained, so every gateway's entries are read and
//! verified in one place: [`verify`]) and to the local `audit.log` with its place in the chain.
//!
//! Recording never blocks or fails the work that is audited: [`Journal::record`] queues, and
//! [`Journal::flush`] writes the queue in one transaction. The SP core flushes after each
//! operation; a gateway flushes its refusals in the background, so that no tunnel or enrollment
//! waits on the database for its audit.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use cloudgate_db::{
    AuditQuery, AuditRecord, ChainBreak, ChainCheck, NewAuditRecord, SharedRepository,
};
use cloudgate_store::audit::AuditSink;
use cloudgate_store::fsio::{self, FileSpec};
use cloudgate_store::{FileOwnership, Layout};
use time::OffsetDateTime;

use crate::SpError;

/// Entries a journal holds before it drops new ones (a flood of refusals while the database
/// does not answer must not grow a gateway's memory without bound); the drop is itself audited.
pub const MAX_PENDING: usize = 10_000;

/// Who acted.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Actor {
    /// Someone on the SP host, as the Unix user running the command.
    User(String),
    /// A console administrator, or an API token (`token:NAME:ID`), as the console names them.
    Console(String),
    /// A gateway, for its own work (renewals, switches at their time) and what it decides.
    Gateway(String),
    /// A tenant, for what it did with its credentials (an enrollment).
    Tenant(String),
    /// Someone who did not prove who they are (a refused enrollment, an unknown certificate).
    Anonymous,
}

impl Actor {
    /// The Unix user running this process.
    pub fn current_user() -> Actor {
        Actor::User(cloudgate_store::owner::current_user_name())
    }

    /// As the audit stores it: `user:NAME`, `admin:NAME`, `token:NAME:ID`, `gateway:ID`,
    /// `tenant:NAME` or `anonymous`.
    pub fn label(&self) -> String {
        match self {
            Actor::User(name) => format!("user:{name}"),
            Actor::Console(who) if who.starts_with("token:") => who.clone(),
            Actor::Console(who) => format!("admin:{who}"),
            Actor::Gateway(id) => format!("gateway:{id}"),
            Actor::Tenant(name) => format!("tenant:{name}"),
            Actor::Anonymous => "anonymous".to_string(),
        }
    }
}

impl std::fmt::Display for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.label())
    }
}

/// The audit of one SP install, shared by everything in a process that changes or refuses.
#[derive(Debug)]
pub struct Journal {
    layout: Layout,
    own: FileOwnership,
    /// The SP database, once known: a command line that changes only the store opens it when
    /// the command ends, and only when there is something to write.
    db: std::sync::OnceLock<SharedRepository>,
    pending: Mutex<Pending>,
    dropped: AtomicU64,
    /// One flush at a time, so that entries reach the file in the chain's order.
    flushing: tokio::sync::Mutex<()>,
}

impl Journal {
    /// The journal of the install at `layout`, writing to `db`.
    pub fn new(layout: Layout, own: FileOwnership, db: SharedRepository) -> Arc<Journal> {
        let journal = Journal::deferred(layout, own);
        journal.attach(db);
        journal
    }

    /// A journal whose database is attached later ([`Journal::attach`]); until then entries
    /// wait in memory.
    pub fn deferred(layout: Layout, own: FileOwnership) -> Arc<Journal> {
        Arc::new(Journal {
            layout,
            own,
            db: std::sync::OnceLock::new(),
            pending: Mutex::new(Pending::default()),
            dropped: AtomicU64::new(0),
            flushing: tokio::sync::Mutex::new(()),
        })
    }

    /// Gives a deferred journal its database (the first one given stays).
    pub fn attach(&self, db: SharedRepository) {
        let _ = self.db.set(db);
    }

    /// Whether entries wait to be written.
    pub fn has_pending(&self) -> bool {
        !self
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entries
            .is_empty()
            || self.dropped.load(Ordering::Relaxed) > 0
    }

    /// Queues an entry; never waits on a disk or the database. `details` must be a JSON object
    /// without secrets (names, thumbprints, addresses).
    pub fn record(&self, actor: &Actor, event: &str, message: &str, details: serde_json::Value) {
        self.queue(actor, event, message, details, false);
    }

    /// Queues an entry a stranger can cause at will (a refusal): one the same as an entry
    /// still waiting is counted on it (`"repeated": N`) instead of queued again, so that a
    /// flood from one source costs one row per flush, not one per request.
    pub fn record_repeatable(
        &self,
        actor: &Actor,
        event: &str,
        message: &str,
        details: serde_json::Value,
    ) {
        self.queue(actor, event, message, details, true);
    }

    fn queue(
        &self,
        actor: &Actor,
        event: &str,
        message: &str,
        details: serde_json::Value,
        repeatable: bool,
    ) {
        let mut details = match details {
            serde_json::Value::Object(map) => map,
            _ => serde_json::Map::new(),
        };
        // The console's entries always named their administrator here; readers rely on it.
        if let Actor::Console(who) = actor {
            details
                .entry("admin")
                .or_insert_with(|| who.as_str().into());
        }
        let details = serde_json::Value::Object(details);
        tracing::info!(target: "cloudgate::audit", event, actor = %actor, details = %details, "{message}");
        let entry = NewAuditRecord {
            time: cloudgate_pki::format_rfc3339(OffsetDateTime::now_utc()),
            event: event.to_string(),
            actor: actor.label(),
            message: message.to_string(),
            details: details.to_string(),
        };
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        if repeatable {
            let key = (
                entry.event.clone(),
                entry.actor.clone(),
                entry.message.clone(),
                entry.details.clone(),
            );
            if let Some(&at) = pending.repeatable.get(&key) {
                pending.entries[at].1 += 1;
                return;
            }
            if pending.entries.len() < MAX_PENDING {
                let at = pending.entries.len();
                pending.repeatable.insert(key, at);
            }
        }
        if pending.entries.len() >= MAX_PENDING {
            // The newest is dropped, so that what is queued keeps its order; the drop is
            // audited at the next flush.
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        pending.entries.push((entry, 1));
    }

    /// A sink for a certificate store acting as `actor`: the store's entries join this journal.
    pub fn sink(self: &Arc<Self>, actor: Actor) -> Arc<dyn AuditSink> {
        self.sink_noting(actor, serde_json::Value::Null)
    }

    /// A sink as [`Journal::sink`] whose entries carry `note`'s fields too (that a warning was
    /// overridden, say), so that one change stays one entry.
    pub fn sink_noting(
        self: &Arc<Self>,
        actor: Actor,
        note: serde_json::Value,
    ) -> Arc<dyn AuditSink> {
        let note = match note {
            serde_json::Value::Object(map) => map,
            _ => serde_json::Map::new(),
        };
        Arc::new(StoreSink {
            journal: self.clone(),
            actor,
            note,
        })
    }

    /// Writes what is queued: to the database in one transaction (chained), then to the local
    /// log with each entry's place and hash. When the database refuses, the entries still go to
    /// the local log (marked `"chained": false`) and the error is returned: nothing is lost.
    pub async fn flush(&self) -> Result<usize, SpError> {
        let _one = self.flushing.lock().await;
        let mut batch: Vec<NewAuditRecord> = {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            pending.repeatable.clear();
            pending
                .entries
                .drain(..)
                .map(|(mut entry, times)| {
                    if times > 1
                        && let Ok(serde_json::Value::Object(mut details)) =
                            serde_json::from_str(&entry.details)
                    {
                        details.insert("repeated".into(), times.into());
                        entry.details = serde_json::Value::Object(details).to_string();
                    }
                    entry
                })
                .collect()
        };
        let dropped = self.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            batch.push(NewAuditRecord {
                time: cloudgate_pki::format_rfc3339(OffsetDateTime::now_utc()),
                event: "audit.dropped".into(),
                actor: "anonymous".into(),
                message: format!("{dropped} audit entries were dropped: more than {MAX_PENDING} waited for the database"),
                details: serde_json::json!({ "dropped": dropped }).to_string(),
            });
        }
        if batch.is_empty() {
            return Ok(0);
        }
        let Some(db) = self.db.get() else {
            for entry in &batch {
                self.write_line(entry, None)?;
            }
            return Err(SpError::Unaudited(
                "no SP database was attached to the audit".into(),
            ));
        };
        match db.append_audit(&batch).await {
            Ok(stored) => {
                for r in &stored {
                    self.write_line(&r.entry, Some((r.seq, &r.hash)))?;
                }
                Ok(stored.len())
            }
            Err(e) => {
                for entry in &batch {
                    self.write_line(entry, None)?;
                }
                Err(e.into())
            }
        }
    }

    /// Flushes every `every` until the journal is dropped everywhere else: for entries
    /// recorded where nobody should wait for the database (refusals, logins).
    pub fn flush_every(
        self: &Arc<Self>,
        every: std::time::Duration,
    ) -> tokio::task::JoinHandle<()> {
        let journal = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(journal) = journal.upgrade() else {
                    return;
                };
                if let Err(e) = journal.flush().await {
                    tracing::warn!(error = %e, "audit entries reached only the local audit.log");
                }
            }
        })
    }

    /// Appends one entry to `audit.log`, in the shape the log always had (time, event, message,
    /// the Unix user, the details at the top level) with the actor and its place in the chain.
    fn write_line(&self, e: &NewAuditRecord, chained: Option<(i64, &str)>) -> Result<(), SpError> {
        let mut line = serde_json::Map::new();
        line.insert("time".into(), e.time.clone().into());
        line.insert("event".into(), e.event.clone().into());
        line.insert("message".into(), e.message.clone().into());
        line.insert(
            "user".into(),
            cloudgate_store::owner::current_user_name().into(),
        );
        line.insert("actor".into(), e.actor.clone().into());
        if let Ok(serde_json::Value::Object(details)) = serde_json::from_str(&e.details) {
            for (k, v) in details {
                line.entry(k).or_insert(v);
            }
        }
        match chained {
            Some((seq, hash)) => {
                line.insert("seq".into(), seq.into());
                line.insert("hash".into(), hash.into());
            }
            None => {
                line.insert("chained".into(), false.into());
            }
        }
        let text = serde_json::Value::Object(line).to_string();
        fsio::append_line(&self.layout.audit_log(), &text, FileSpec::store(&self.own))?;
        Ok(())
    }
}

/// What waits for the next flush: entries in order with how many times each came, and where
/// each repeatable one is (by event, actor, message and details).
#[derive(Debug, Default)]
struct Pending {
    entries: Vec<(NewAuditRecord, u64)>,
    repeatable: HashMap<(String, String, String, String), usize>,
}

/// A store's entries, recorded in the journal as one actor's.
#[derive(Debug)]
struct StoreSink {
    journal: Arc<Journal>,
    actor: Actor,
    note: serde_json::Map<String, serde_json::Value>,
}

impl AuditSink for StoreSink {
    fn record(&self, event: &'static str, message: &str, mut details: serde_json::Value) {
        if let serde_json::Value::Object(map) = &mut details {
            for (k, v) in &self.note {
                map.insert(k.clone(), v.clone());
            }
        }
        self.journal.record(&self.actor, event, message, details);
    }
}

/// What `sp audit verify` found.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Verification {
    /// Entries whose chain was checked.
    pub entries: u64,
    /// The last entry's hash.
    pub head: String,
    /// Entries of this host's `audit.log` that the database no longer holds as written (a
    /// removed tail, or an edit), by place.
    pub missing_from_database: Vec<i64>,
    /// Where the chain breaks, if it does.
    pub broken: Option<String>,
    /// Entries of this host's `audit.log` that never reached the database (it did not answer
    /// when they were written).
    pub unchained_local: u64,
}

impl Verification {
    /// Whether nothing was removed, edited or moved.
    pub fn ok(&self) -> bool {
        self.broken.is_none() && self.missing_from_database.is_empty()
    }
}

/// Walks the whole chain in the database, and checks that every chained entry of the local log
/// is still there with the same hash (which finds a removed tail the chain alone cannot).
pub async fn verify(db: &SharedRepository, layout: &Layout) -> Result<Verification, SpError> {
    const PAGE: i64 = 2_000;
    let mut check = ChainCheck::default();
    let mut hashes = std::collections::HashMap::new();
    let mut after = 0;
    let mut broken: Option<ChainBreak> = None;
    'walk: loop {
        let page = db.audit_after(after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for r in &page {
            hashes.insert(r.seq, r.hash.clone());
            if let Err(b) = check.next(r) {
                broken = Some(b);
                break 'walk;
            }
        }
    }
    let mut missing = Vec::new();
    let mut unchained_local = 0;
    if broken.is_none() {
        for line in cloudgate_store::audit::read_recent(layout, 64 * 1024 * 1024)? {
            if line.get("chained") == Some(&serde_json::Value::Bool(false)) {
                unchained_local += 1;
            }
            let (Some(seq), Some(hash)) = (
                line.get("seq").and_then(serde_json::Value::as_i64),
                line.get("hash").and_then(serde_json::Value::as_str),
            ) else {
                continue;
            };
            if hashes.get(&seq).map(String::as_str) != Some(hash) {
                missing.push(seq);
            }
        }
    }
    Ok(Verification {
        entries: check.checked(),
        head: check.head().to_string(),
        missing_from_database: missing,
        broken: broken.map(|b| b.to_string()),
        unchained_local,
    })
}

/// Entries matching `query`, newest first, with how many match in all.
pub async fn search(
    db: &SharedRepository,
    query: &AuditQuery,
) -> Result<(Vec<AuditRecord>, i64), SpError> {
    Ok(db.audit_search(query).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_flood_of_one_refusal_is_one_row_counted_and_changes_are_never_merged() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path().join("data"));
        let own = FileOwnership::resolve(None).unwrap();
        let db = crate::repository::open(&layout, &own, None).await.unwrap();
        let journal = Journal::new(layout.clone(), own, db.clone());
        let refused =
            |source: &str| serde_json::json!({ "reason": "bad_credentials", "source": source });
        for _ in 0..1_000 {
            journal.record_repeatable(
                &Actor::Anonymous,
                "enroll.refused",
                "refused",
                refused("192.0.2.7"),
            );
        }
        journal.record_repeatable(
            &Actor::Anonymous,
            "enroll.refused",
            "refused",
            refused("192.0.2.8"),
        );
        let change = serde_json::json!({ "tenant": "acme" });
        journal.record(
            &Actor::User("root".into()),
            "tenant.enabled",
            "enabled",
            change.clone(),
        );
        journal.record(
            &Actor::User("root".into()),
            "tenant.enabled",
            "enabled",
            change,
        );
        assert_eq!(journal.flush().await.unwrap(), 4);
        let rows = db.audit_after(0, 10).await.unwrap();
        let details: Vec<serde_json::Value> = rows
            .iter()
            .map(|r| serde_json::from_str(&r.entry.details).unwrap())
            .collect();
        assert_eq!(details[0]["repeated"], 1_000);
        assert_eq!(details[1]["source"], "192.0.2.8");
        assert!(details[1].get("repeated").is_none());
        assert_eq!(rows[2].entry.event, "tenant.enabled");
        assert_eq!(
            rows[3].entry.event, "tenant.enabled",
            "two changes are two entries"
        );

        // Past the bound, new entries are dropped and the drop is audited.
        for i in 0..MAX_PENDING + 5 {
            journal.record_repeatable(
                &Actor::Anonymous,
                "tunnel.refused",
                "refused",
                refused(&format!("10.0.{}.{}", i / 256, i % 256)),
            );
        }
        assert_eq!(journal.flush().await.unwrap(), MAX_PENDING + 1);
        let last = db
            .audit_search(&AuditQuery {
                limit: 1,
                ..AuditQuery::default()
            })
            .await
            .unwrap()
            .0;
        assert_eq!(last[0].entry.event, "audit.dropped");
        assert!(
            last[0].entry.details.contains("\"dropped\":5"),
            "{}",
            last[0].entry.details
        );
    }
}
