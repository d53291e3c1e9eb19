//! The audit log: one JSON object per line in `DATA_DIR/audit.log`, each also emitted as a
//! tracing event. Events never carry secrets: fingerprints and names only.

use serde::Serialize;
use time::OffsetDateTime;

use crate::fsio::{self, FileSpec};
use crate::owner::current_user_name;
use crate::{FileOwnership, Layout, StoreError};

/// The message the reference product logs when the certificate in use changes.
pub const CERTIFICATE_UPDATED: &str = "Cloud Connect certificate is being updated";

/// One audit record.
#[derive(Debug, Serialize)]
pub struct AuditEvent {
    /// When it happened (RFC 3339).
    pub time: String,
    /// A stable event name (`cert.applied`, `cert.generated`, …).
    pub event: &'static str,
    /// What happened, for people.
    pub message: String,
    /// Who did it.
    pub user: String,
    /// Event-specific fields (thumbprints, names).
    #[serde(flatten)]
    pub details: serde_json::Map<String, serde_json::Value>,
}

/// Where a store's audit entries go when another part keeps the audit (the SP's journal, which
/// writes each entry to the SP database and to this log, naming who acted). Recording never
/// fails the change: a journal keeps what it could not write yet.
pub trait AuditSink: Send + Sync + std::fmt::Debug {
    /// Records one entry.
    fn record(&self, event: &'static str, message: &str, details: serde_json::Value);
}

/// The most recent events, oldest first, as they were written: read from the last `max_bytes` of
/// the log (a longer log is rotated by logrotate; its older part is not the console's to page
/// through). Lines that are not JSON objects are skipped; no log yet is no events.
pub fn read_recent(
    layout: &Layout,
    max_bytes: u64,
) -> Result<Vec<serde_json::Map<String, serde_json::Value>>, StoreError> {
    use std::io::{Read as _, Seek as _, SeekFrom};
    let path = layout.audit_log();
    // With the store's reader rules: a FIFO is never waited on, a link never followed, and
    // either is an error that names the file rather than an empty or a foreign log.
    let (mut file, len) = match crate::bounded::open_regular(&path, crate::bounded::Links::Refuse) {
        Ok(opened) => opened,
        Err(StoreError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Vec::new());
        }
        Err(e) => return Err(e),
    };
    let start = len.saturating_sub(max_bytes);
    file.seek(SeekFrom::Start(start))
        .map_err(|e| StoreError::io("reading", &path, e))?;
    let mut bytes = Vec::new();
    file.take(max_bytes)
        .read_to_end(&mut bytes)
        .map_err(|e| StoreError::io("reading", &path, e))?;
    let text = String::from_utf8_lossy(&bytes);
    // Reading from the middle of the file: the first line is a tail of a longer one.
    let skip = usize::from(start > 0);
    Ok(text
        .lines()
        .skip(skip)
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| match v {
            serde_json::Value::Object(m) => Some(m),
            _ => None,
        })
        .collect())
}

/// Appends an event to the audit log and emits it as a tracing event.
pub fn record(
    layout: &Layout,
    own: &FileOwnership,
    event: &'static str,
    message: &str,
    details: serde_json::Value,
) -> Result<(), StoreError> {
    let details = match details {
        serde_json::Value::Object(map) => map,
        _ => serde_json::Map::new(),
    };
    let entry = AuditEvent {
        time: cloudgate_pki::format_rfc3339(OffsetDateTime::now_utc()),
        event,
        message: message.to_string(),
        user: current_user_name(),
        details,
    };
    let line = serde_json::to_string(&entry).map_err(|e| StoreError::Corrupt {
        path: layout.audit_log(),
        reason: format!("cannot encode audit event: {e}"),
    })?;
    tracing::info!(target: "cloudgate::audit", event, details = %serde_json::Value::Object(entry.details.clone()), "{message}");
    fsio::append_line(&layout.audit_log(), &line, FileSpec::store(own))
}
