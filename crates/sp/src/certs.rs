//! Where certificates come from, and the paths from a source into use, written once. A
//! [`CertificateSource`] issues and renews; [`SelfSigned`] is the one there is today (an ACME
//! source will be the second). An issued certificate is saved with [`save_issued`] and put into
//! use with [`apply`]; a fresh install gets its first certificate from [`issue_default`] (the
//! demo and the gateway's first start). The command line and the gateway's auto-renewal both
//! renew through [`renew`], differing only in the [`Lifetime`] they ask for.

use cloudgate_pki::{CertificateInfo, GeneratedCertificate, KeyType, PkiError, SelfSignedRequest};
use cloudgate_store::license::DefaultIdentity;
use cloudgate_store::{CertStore, NewEntry, Source, StoredCertificate};
use time::OffsetDateTime;

use crate::SpError;

/// Issues certificates and renews them with the same key.
pub trait CertificateSource {
    /// What the store records as the entry's source for an issued certificate.
    fn source(&self) -> Source;
    /// A new certificate and key.
    fn issue(&self, request: &SelfSignedRequest) -> Result<GeneratedCertificate, PkiError>;
    /// A new certificate for `current`'s key, subject and names, valid `valid_days` from `now`.
    fn renew(
        &self,
        current: &CertificateInfo,
        key_pkcs8_der: &[u8],
        valid_days: u32,
        now: OffsetDateTime,
    ) -> Result<GeneratedCertificate, PkiError>;
}

/// Self-signed certificates, made here.
#[derive(Clone, Copy, Debug, Default)]
pub struct SelfSigned;

impl CertificateSource for SelfSigned {
    fn source(&self) -> Source {
        Source::Generated
    }

    fn issue(&self, request: &SelfSignedRequest) -> Result<GeneratedCertificate, PkiError> {
        cloudgate_pki::generate_self_signed(request)
    }

    fn renew(
        &self,
        current: &CertificateInfo,
        key_pkcs8_der: &[u8],
        valid_days: u32,
        now: OffsetDateTime,
    ) -> Result<GeneratedCertificate, PkiError> {
        cloudgate_pki::renew_self_signed(current, key_pkcs8_der, valid_days, now)
    }
}

/// How long a renewed certificate is valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lifetime {
    /// This many days (the command line's `--valid-days`).
    Days(u32),
    /// As long as the certificate it renews was (the gateway's auto-renewal).
    SameAsBefore,
}

impl Lifetime {
    fn days_for(self, old: &CertificateInfo) -> u32 {
        match self {
            Lifetime::Days(d) => d,
            Lifetime::SameAsBefore => (old.not_after - old.not_before)
                .whole_days()
                .clamp(1, i64::from(cloudgate_pki::MAX_VALID_DAYS))
                as u32,
        }
    }
}

/// Renews `old` with the same key, subject, names and friendly name, saves the new entry, and
/// applies it when asked. Tenants accept the result without asking (same key).
pub fn renew(
    store: &CertStore,
    source: &dyn CertificateSource,
    old: &StoredCertificate,
    lifetime: Lifetime,
    apply: bool,
) -> Result<StoredCertificate, SpError> {
    let key = store.load_private_key(old)?;
    let renewed = source.renew(
        &old.info,
        &key,
        lifetime.days_for(&old.info),
        OffsetDateTime::now_utc(),
    )?;
    let mut entry = store.add(NewEntry {
        cert_der: &renewed.cert_der,
        key_pkcs8_der: &renewed.key_pkcs8_der,
        chain: Vec::new(),
        friendly_name: old.meta.friendly_name.clone(),
        source: Source::Renewed,
    })?;
    if apply {
        self::apply(store, &mut entry)?;
    }
    Ok(entry)
}

/// The key type of a certificate nobody chose (first start, demo): RSA 2048, which every tenant
/// and every tool reads, as the reference product does.
pub const DEFAULT_KEY_TYPE: KeyType = KeyType::Rsa2048;

/// The validity of a certificate nobody chose, in days.
pub const DEFAULT_VALID_DAYS: u32 = 365;

/// The identity of a certificate nobody chose: the licensee's names, this host's name and the
/// address tenants are told to reach the SP at (`public_address`, else this host's fully
/// qualified name), so that a tenant's `curl --cacert` or browser accepts the certificate at
/// the address it was given.
pub fn default_identity(layout: &cloudgate_store::Layout) -> Result<DefaultIdentity, SpError> {
    let mut identity = DefaultIdentity::resolve(layout)?;
    let (address, _) = crate::settings::effective_public_address(layout)?;
    let host = crate::settings::public_address::parse(&address)
        .map(|a| a.host)
        .unwrap_or(address);
    identity.also_name(&host);
    Ok(identity)
}

/// The request for a certificate nobody chose: the install's identity (licensee and host
/// name) with the default key type and validity.
pub fn default_request(identity: &DefaultIdentity, now: OffsetDateTime) -> SelfSignedRequest {
    SelfSignedRequest {
        key_type: DEFAULT_KEY_TYPE,
        subject: identity.subject.clone(),
        sans: identity.sans.clone(),
        valid_days: DEFAULT_VALID_DAYS,
        now,
    }
}

/// Saves what `source` issued as a new store entry (not in use yet).
pub fn save_issued(
    store: &CertStore,
    source: &dyn CertificateSource,
    issued: &GeneratedCertificate,
    friendly_name: String,
) -> Result<StoredCertificate, SpError> {
    Ok(store.add(NewEntry {
        cert_der: &issued.cert_der,
        key_pkcs8_der: &issued.key_pkcs8_der,
        chain: Vec::new(),
        friendly_name,
        source: source.source(),
    })?)
}

/// The friendly name of imported material: the file's, else the common name, else the
/// thumbprint.
pub fn imported_name(m: &cloudgate_pki::import::KeyMaterial) -> String {
    m.friendly_name
        .clone()
        .or_else(|| m.cert.common_name.clone())
        .unwrap_or_else(|| m.cert.fingerprints.thumbprint())
}

/// Saves imported key material (a PKCS#12 file, PEM, a key beside a certificate) as a new
/// store entry with its chain, named `friendly_name` or by [`imported_name`].
pub fn save_imported(
    store: &CertStore,
    material: &cloudgate_pki::import::KeyMaterial,
    friendly_name: Option<String>,
) -> Result<StoredCertificate, SpError> {
    Ok(store.add(NewEntry {
        cert_der: &material.cert.der,
        key_pkcs8_der: &material.key_pkcs8_der,
        chain: material.chain.clone(),
        friendly_name: friendly_name.unwrap_or_else(|| imported_name(material)),
        source: Source::Imported,
    })?)
}

/// Puts a stored certificate into use.
pub fn apply(store: &CertStore, entry: &mut StoredCertificate) -> Result<(), SpError> {
    store.apply(entry)?;
    entry.applied = true;
    Ok(())
}

/// Gives an install with no certificate its first one: issued by `source` for the install's
/// identity with the defaults, saved and applied.
pub fn issue_default(
    store: &CertStore,
    source: &dyn CertificateSource,
) -> Result<StoredCertificate, SpError> {
    let identity = default_identity(store.layout())?;
    let issued = source.issue(&default_request(&identity, OffsetDateTime::now_utc()))?;
    let mut entry = save_issued(store, source, &issued, identity.friendly_name)?;
    apply(store, &mut entry)?;
    Ok(entry)
}

/// Checks a store entry: its key is readable, private and belongs to the certificate (an error
/// when not), a self-issued certificate's signature verifies, and it is valid now (problems
/// in the report).
pub fn check(
    store: &CertStore,
    entry: &StoredCertificate,
) -> Result<cloudgate_proto::admin::CheckReport, SpError> {
    // Reading the key checks its mode and that it belongs to the certificate.
    drop(store.load_private_key(entry)?);
    let info = &entry.info;
    let now = OffsetDateTime::now_utc();
    let mut problems = Vec::new();
    let signature_valid = !info.is_self_issued || info.verify_self_signature();
    if !signature_valid {
        problems.push("the self-signature does not verify".to_string());
    }
    let valid_now = info.is_valid_at(now);
    if !valid_now {
        problems.push(
            if now > info.not_after {
                "the certificate has expired"
            } else {
                "the certificate is not valid yet"
            }
            .into(),
        );
    }
    Ok(cloudgate_proto::admin::CheckReport {
        thumbprint: info.fingerprints.thumbprint(),
        friendly_name: entry.meta.friendly_name.clone(),
        key_path: entry.key_path().display().to_string(),
        key_matches: true,
        signature_valid,
        valid_now,
        days_left: info.days_left(now),
        ok: problems.is_empty(),
        problems,
    })
}
