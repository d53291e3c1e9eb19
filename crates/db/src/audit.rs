//! The audit as the SP database keeps it: entries chained by SHA-256, so that one removed, edited
//! or moved is found by walking the chain ([`ChainCheck`]).

use sha2::{Digest as _, Sha256};

/// The hash the first entry is chained to.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// An entry to append: everything but its place in the chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewAuditRecord {
    /// When it happened, RFC 3339 in UTC.
    pub time: String,
    /// A stable event name (`tenant.added`, `enroll.refused`, …).
    pub event: String,
    /// Who did it: `user:NAME`, `admin:NAME`, `token:ID`, `gateway:ID`, or `anonymous`.
    pub actor: String,
    /// What happened, for people.
    pub message: String,
    /// Event-specific fields, a JSON object as text (never a secret).
    pub details: String,
}

/// A stored entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRecord {
    /// Its place in the chain, from 1 without gaps.
    pub seq: i64,
    /// The entry.
    pub entry: NewAuditRecord,
    /// SHA-256 (lower-case hex) over the previous entry's hash and this entry's columns.
    pub hash: String,
}

/// Which entries to list, newest first.
#[derive(Clone, Debug, Default)]
pub struct AuditQuery {
    /// Entries at or after this time (RFC 3339, UTC).
    pub since: Option<String>,
    /// Entries before this time.
    pub until: Option<String>,
    /// Entries whose event starts with this (`enroll.` or `tenant.added`).
    pub event: Option<String>,
    /// Entries whose event, actor, message or details contain this, without regard to case.
    pub text: Option<String>,
    /// Entries skipped (for pages).
    pub offset: i64,
    /// At most this many.
    pub limit: i64,
}

/// The hash of the entry at `seq` after the entry hashed `previous`.
pub fn link(previous: &str, seq: i64, e: &NewAuditRecord) -> String {
    // A JSON array of strings: unambiguous where the fields start and end.
    let fields = serde_json::json!([
        previous,
        seq.to_string(),
        e.time,
        e.event,
        e.actor,
        e.message,
        e.details
    ]);
    let digest = Sha256::digest(fields.to_string().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Walks the chain a page at a time: feed it the entries in order of `seq`.
#[derive(Debug)]
pub struct ChainCheck {
    previous: String,
    next_seq: i64,
    checked: u64,
}

/// Where the chain breaks.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    /// An entry is missing (removed) or out of place.
    #[error("entry {expected} is missing: the next entry is {found} (an entry was removed)")]
    Gap {
        /// The place expected.
        expected: i64,
        /// The place found.
        found: i64,
    },
    /// An entry's hash does not follow from its columns and the entry before it.
    #[error(
        "entry {seq} ({event} at {time}) does not match its hash: it or the entry before it was edited or moved"
    )]
    Mismatch {
        /// The entry.
        seq: i64,
        /// Its event, as stored.
        event: String,
        /// Its time, as stored.
        time: String,
    },
}

impl Default for ChainCheck {
    fn default() -> Self {
        ChainCheck {
            previous: GENESIS.to_string(),
            next_seq: 1,
            checked: 0,
        }
    }
}

impl ChainCheck {
    /// Checks the next entry.
    pub fn next(&mut self, r: &AuditRecord) -> Result<(), ChainBreak> {
        if r.seq != self.next_seq {
            return Err(ChainBreak::Gap {
                expected: self.next_seq,
                found: r.seq,
            });
        }
        if link(&self.previous, r.seq, &r.entry) != r.hash {
            return Err(ChainBreak::Mismatch {
                seq: r.seq,
                event: r.entry.event.clone(),
                time: r.entry.time.clone(),
            });
        }
        self.previous.clone_from(&r.hash);
        self.next_seq += 1;
        self.checked += 1;
        Ok(())
    }

    /// How many entries were checked.
    pub fn checked(&self) -> u64 {
        self.checked
    }

    /// The hash of the last entry checked.
    pub fn head(&self) -> &str {
        &self.previous
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(event: &str) -> NewAuditRecord {
        NewAuditRecord {
            time: "2026-12-05T12:00:00Z".into(),
            event: event.into(),
            actor: "user:root".into(),
            message: "m".into(),
            details: "{}".into(),
        }
    }

    fn chain(events: &[&str]) -> Vec<AuditRecord> {
        let mut previous = GENESIS.to_string();
        events
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let seq = i as i64 + 1;
                let hash = link(&previous, seq, &entry(e));
                previous.clone_from(&hash);
                AuditRecord {
                    seq,
                    entry: entry(e),
                    hash,
                }
            })
            .collect()
    }

    fn check(records: &[AuditRecord]) -> Result<u64, ChainBreak> {
        let mut c = ChainCheck::default();
        for r in records {
            c.next(r)?;
        }
        Ok(c.checked())
    }

    #[test]
    fn an_untouched_chain_passes_and_any_removal_edit_or_swap_breaks_it() {
        let good = chain(&["a", "b", "c", "d"]);
        assert_eq!(check(&good), Ok(4));

        let mut removed = good.clone();
        removed.remove(1);
        assert!(matches!(
            check(&removed),
            Err(ChainBreak::Gap {
                expected: 2,
                found: 3
            })
        ));

        let mut edited = good.clone();
        edited[2].entry.actor = "user:someone-else".into();
        assert!(matches!(
            check(&edited),
            Err(ChainBreak::Mismatch { seq: 3, .. })
        ));

        // Swapping two entries' contents (keeping the places) is an edit of both.
        let mut swapped = good.clone();
        let (a, b) = (swapped[1].entry.clone(), swapped[2].entry.clone());
        swapped[1].entry = b;
        swapped[2].entry = a;
        assert!(matches!(
            check(&swapped),
            Err(ChainBreak::Mismatch { seq: 2, .. })
        ));

        // Re-hashing an edited entry does not help: the next one no longer follows.
        let mut rehashed = good.clone();
        rehashed[1].entry.message = "nothing happened".into();
        rehashed[1].hash = link(&good[0].hash, 2, &rehashed[1].entry);
        assert!(matches!(
            check(&rehashed),
            Err(ChainBreak::Mismatch { seq: 3, .. })
        ));
    }
}
