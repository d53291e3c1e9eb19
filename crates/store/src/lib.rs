//! cloudgate's on-disk state on the SP side: the certificate store, the license and the audit log.
//!
//! The store keeps each certificate with its private key, chain and metadata as one directory
//! that appears atomically (written aside, fsynced, renamed, directory fsynced), so a crash never
//! leaves half an entry. Every file is created owner-only before a single byte is written, and
//! only then handed to the admin group with mode 0640; nothing is ever world-readable, and on load
//! a key file that is group- or world-writable or world-readable is refused. Commands that change
//! the store hold an exclusive lock; readers need none because every change is a rename.
//!
//! [`Layout`] is the one place that knows where files live.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod act_as;
pub mod audit;
pub mod bounded;
mod cert_store;
mod entry;
mod error;
pub mod fsio;
mod layout;
pub mod license;
mod lock;
pub mod owner;
mod rollover;

pub use cert_store::{AppliedRecord, CertStore, NewEntry};
pub use cloudgate_proto::{CONFIRMED_HEADER, PublishedTrust, SUCCESSOR_HEADER};
pub use entry::{EntryMeta, Source, StoredCertificate};
pub use error::StoreError;
pub use layout::Layout;
pub use owner::FileOwnership;
pub use rollover::{RolloverHistory, StagedSuccessor, SwitchRecord};
