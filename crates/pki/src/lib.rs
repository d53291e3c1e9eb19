//! Keys, self-signed certificates, certificate inspection and fingerprints for cloudgate.
//!
//! This crate holds every piece of certificate logic and does no I/O: it takes and returns bytes
//! and values. The store, the gateway and the tenant flows all describe a certificate through the
//! one [`CertificateInfo`] parsed here, print its identity through the one set of formatters in
//! [`fingerprint`], and read user-typed thumbprints through the one normaliser,
//! [`FingerprintQuery::parse`].
//!
//! The identity of a certificate has three text forms (see `docs/src/design.md` §4):
//! the *thumbprint* (SHA-1 of the DER, 40 uppercase hex digits, the reference product's form),
//! the *SHA-256* of the DER, and the *public key pin* (`sha256//` + base64 of the SHA-256 of the
//! SubjectPublicKeyInfo, curl's `--pinnedpubkey` form).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod csr;
pub mod dn;
mod error;
pub mod fingerprint;
mod generate;
pub mod import;
mod info;
pub mod join_token;
mod key_type;
pub mod pem;
pub mod pkcs12;
pub mod rollover;
pub mod san;
pub mod text;
mod time_fmt;
mod usage_cache;
pub mod verify;

pub use error::PkiError;
pub use fingerprint::{FingerprintQuery, Fingerprints};
pub use generate::{
    GeneratedCertificate, MAX_VALID_DAYS, SelfSignedRequest, check_valid_days,
    generate_self_signed, renew_self_signed,
};
pub use info::{CertificateInfo, PublicKeyKind, Usage, private_key_matches};
pub use key_type::KeyType;
pub use time_fmt::{format_rfc3339, format_summary_date, summary_lines};
