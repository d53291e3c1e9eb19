//! One certificate for a fleet of gateways. Tenants pin the SP's certificate, so every gateway
//! must present the same one; the SP's certificate commands publish it to the shared database
//! and every gateway reads it from there. The private key is published only sealed
//! (AES-256-GCM) under the **fleet key**, a file each gateway host holds beside its
//! configuration: the database alone never yields a key. The certificate's SHA-256 is the
//! associated data, so a sealed key cannot be moved onto another certificate.
//!
//! A key rotation seals under the old and the new key at once, so that gateways holding either
//! go on serving while the new file is copied to them; finishing it drops the old.

use std::path::Path;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom as _, SystemRandom};
use cloudgate_db::{PublishedCertificate, SpRepository};
use cloudgate_pki::CertificateInfo;
use cloudgate_store::fsio::{self, FileSpec};
use cloudgate_store::license::Licensee;
use cloudgate_store::{CertStore, FileOwnership, RolloverHistory};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::SpError;

/// The first line of a fleet key file.
const HEADER: &str = "cloudgate fleet key v1";

/// Bound into every seal with the certificate's hash.
const AAD_PREFIX: &[u8] = b"cloudgate fleet certificate key v1 ";

/// A fleet key: 32 random bytes, wiped from memory when dropped.
pub struct FleetKey {
    bytes: Zeroizing<[u8; 32]>,
}

/// A private key sealed under one fleet key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedKey {
    /// Which fleet key sealed it ([`FleetKey::id`]).
    pub key_id: String,
    /// The AES-GCM nonce, hex.
    pub nonce: String,
    /// The sealed PKCS#8 key with its tag, hex.
    pub sealed: String,
}

/// What a gateway of the fleet serves, opened with its fleet key.
pub struct FleetCertificate {
    /// The certificate.
    pub info: CertificateInfo,
    /// Intermediates served with it, DER.
    pub chain: Vec<Vec<u8>>,
    /// Its private key, PKCS#8 DER.
    pub key_der: Zeroizing<Vec<u8>>,
    /// Its friendly name.
    pub friendly_name: String,
    /// The SP's name.
    pub provider_name: String,
    /// The staged successor and the switches, as tenants are shown them.
    pub rollover: RolloverHistory,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

impl FleetKey {
    /// A new random key.
    pub fn generate() -> Result<Self, SpError> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        SystemRandom::new()
            .fill(&mut bytes[..])
            .map_err(|_| SpError::Fleet("the system's random generator failed".into()))?;
        Ok(FleetKey { bytes })
    }

    /// Its id, for messages and to find its seal: the start of a hash of it, never the key.
    pub fn id(&self) -> String {
        let digest = aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            &[b"fleet key id ", &self.bytes[..]].concat(),
        );
        hex(&digest.as_ref()[..8])
    }

    /// Reads the key file at `path`; `None` when there is none. A file others may read, or one
    /// that is not a fleet key, is refused.
    pub fn load(path: &Path) -> Result<Option<Self>, SpError> {
        if !path.exists() {
            return Ok(None);
        }
        let text = fsio::read_secret_file(path)?;
        let corrupt = || {
            SpError::Fleet(format!(
                "{} is not a cloudgate fleet key; copy it again from the host where `cloudgate sp fleet init` ran",
                path.display()
            ))
        };
        let text = std::str::from_utf8(&text).map_err(|_| corrupt())?;
        let mut lines = text.lines();
        if lines.next() != Some(HEADER) {
            return Err(corrupt());
        }
        let decoded = Zeroizing::new(
            lines
                .next()
                .and_then(|l| unhex(l.trim()))
                .ok_or_else(corrupt)?,
        );
        let mut bytes = Zeroizing::new([0u8; 32]);
        if decoded.len() != 32 {
            return Err(corrupt());
        }
        bytes.copy_from_slice(&decoded);
        Ok(Some(FleetKey { bytes }))
    }

    /// Writes the key to `path`, created with the store's owner, group and mode (never
    /// readable by others, not even for a moment); `replace` overwrites one there atomically.
    pub fn save(&self, path: &Path, own: &FileOwnership, replace: bool) -> Result<(), SpError> {
        let text = Zeroizing::new(format!("{HEADER}\n{}\n", hex(&self.bytes[..])));
        if replace {
            fsio::replace_file(path, text.as_bytes(), FileSpec::store(own))?;
        } else {
            fsio::write_new_file(path, text.as_bytes(), FileSpec::store(own))?;
        }
        Ok(())
    }

    fn aead(&self) -> Result<LessSafeKey, SpError> {
        UnboundKey::new(&AES_256_GCM, &self.bytes[..])
            .map(LessSafeKey::new)
            .map_err(|_| SpError::Fleet("the fleet key does not load".into()))
    }

    /// Seals `key_der` for the certificate with SHA-256 `cert_sha256`.
    pub fn seal(&self, key_der: &[u8], cert_sha256: &str) -> Result<SealedKey, SpError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| SpError::Fleet("the system's random generator failed".into()))?;
        let mut data = Zeroizing::new(key_der.to_vec());
        let aad = [AAD_PREFIX, cert_sha256.as_bytes()].concat();
        self.aead()?
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(&aad),
                &mut *data,
            )
            .map_err(|_| SpError::Fleet("sealing the key failed".into()))?;
        Ok(SealedKey {
            key_id: self.id(),
            nonce: hex(&nonce),
            sealed: hex(&data),
        })
    }

    /// Opens a key sealed by [`FleetKey::seal`] for the same certificate.
    pub fn unseal(&self, s: &SealedKey, cert_sha256: &str) -> Result<Zeroizing<Vec<u8>>, SpError> {
        let broken = || {
            SpError::Fleet(format!(
                "the certificate's key published in the database does not open with fleet key {}: it was changed, or sealed for another certificate",
                self.id()
            ))
        };
        let nonce: [u8; NONCE_LEN] = unhex(&s.nonce)
            .and_then(|n| n.try_into().ok())
            .ok_or_else(broken)?;
        let mut data = Zeroizing::new(unhex(&s.sealed).ok_or_else(broken)?);
        let aad = [AAD_PREFIX, cert_sha256.as_bytes()].concat();
        let opened = self
            .aead()?
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(&aad),
                &mut data,
            )
            .map_err(|_| broken())?
            .len();
        data.truncate(opened);
        Ok(data)
    }
}

/// The applied certificate and rollover record of `store`, with its key sealed under `keys`.
fn publication(store: &CertStore, keys: &[&FleetKey]) -> Result<PublishedCertificate, SpError> {
    let entry = store.applied()?.ok_or(SpError::NoCertificate)?;
    let key_der = store.load_private_key(&entry)?;
    let sha256 = entry.info.fingerprints.sha256_hex();
    let sealed: Vec<SealedKey> = keys
        .iter()
        .map(|k| k.seal(&key_der, &sha256))
        .collect::<Result<_, _>>()?;
    let rollover = store.rollover_history()?;
    Ok(PublishedCertificate {
        chain_pem: entry
            .chain
            .iter()
            .map(|c| cloudgate_pki::pem::encode_certificate(c))
            .collect(),
        cert_der: entry.info.der.clone(),
        sha256,
        friendly_name: entry.meta.friendly_name.clone(),
        provider_name: Licensee::resolve(store.layout())?.name().to_string(),
        rollover: serde_json::to_string(&rollover)
            .map_err(|e| SpError::Fleet(format!("cannot encode the rollover record: {e}")))?,
        sealed_keys: serde_json::to_string(&sealed)
            .map_err(|e| SpError::Fleet(format!("cannot encode the sealed key: {e}")))?,
        published_at: time::OffsetDateTime::now_utc(),
    })
}

/// The keys a publication is sealed under: `key` (this one), and the old one while a rotation
/// is under way. The one rule, for the command line, the console and the gateways.
pub fn sealing_keys(
    layout: &cloudgate_store::Layout,
    key: FleetKey,
) -> Result<Vec<FleetKey>, SpError> {
    let mut keys = vec![key];
    if let Some(old) = FleetKey::load(&layout.fleet_key_old())? {
        keys.push(old);
    }
    Ok(keys)
}

/// The keys to seal under on this host: its fleet key and the old one; none without a key.
pub fn local_sealing_keys(layout: &cloudgate_store::Layout) -> Result<Vec<FleetKey>, SpError> {
    match FleetKey::load(&layout.fleet_key())? {
        Some(key) => sealing_keys(layout, key),
        None => Ok(Vec::new()),
    }
}

/// Publishes the store's applied certificate to the fleet, sealed under `keys`, unless the
/// database holds it already (same certificate, chain, names and rollover record, sealed under
/// the same keys). Returns whether it published.
pub async fn publish(
    store: &CertStore,
    db: &dyn SpRepository,
    keys: &[&FleetKey],
) -> Result<bool, SpError> {
    let new = publication(store, keys)?;
    if let Some(old) = db.published_certificate().await? {
        let ids = |json: &str| -> Vec<String> {
            serde_json::from_str::<Vec<SealedKey>>(json)
                .map(|v| v.into_iter().map(|s| s.key_id).collect())
                .unwrap_or_default()
        };
        let same = old.sha256 == new.sha256
            && old.chain_pem == new.chain_pem
            && old.friendly_name == new.friendly_name
            && old.provider_name == new.provider_name
            && old.rollover == new.rollover
            && ids(&old.sealed_keys) == ids(&new.sealed_keys);
        if same {
            return Ok(false);
        }
    }
    db.publish_certificate(&new).await?;
    Ok(true)
}

/// The fleet key here and the certificate published to the gateways (`sp fleet status`);
/// `published_now` says whether the caller just published it.
pub async fn status(
    store: &CertStore,
    db: &dyn SpRepository,
    published_now: bool,
) -> Result<cloudgate_proto::admin::FleetStatus, SpError> {
    let layout = store.layout();
    let key = FleetKey::load(&layout.fleet_key())?;
    let applied = store.applied_record().ok().flatten();
    let published = match db.published_certificate().await? {
        Some(p) => {
            let info = CertificateInfo::from_der(&p.cert_der)?;
            let sealed: Vec<SealedKey> = serde_json::from_str(&p.sealed_keys).unwrap_or_default();
            Some(cloudgate_proto::admin::PublishedCertificate {
                thumbprint: info.fingerprints.thumbprint(),
                friendly_name: p.friendly_name.clone(),
                published_at: cloudgate_pki::format_rfc3339(p.published_at),
                sealed_under: sealed.into_iter().map(|s| s.key_id).collect(),
                same_as_store: applied.as_ref().map(|a| a.sha256 == p.sha256),
                sha256: p.sha256,
            })
        }
        None => None,
    };
    Ok(cloudgate_proto::admin::FleetStatus {
        key_file: layout.fleet_key().display().to_string(),
        key_id: key.map(|k| k.id()),
        rotating: layout.fleet_key_old().exists(),
        published_now,
        published,
    })
}

/// Opens the published certificate with `key`; `None` when none is published.
pub async fn open_published(
    db: &dyn SpRepository,
    key: &FleetKey,
    key_path: &Path,
) -> Result<Option<FleetCertificate>, SpError> {
    let Some(p) = db.published_certificate().await? else {
        return Ok(None);
    };
    open(&p, key, key_path).map(Some)
}

/// Opens a published certificate with `key`.
pub fn open(
    p: &PublishedCertificate,
    key: &FleetKey,
    key_path: &Path,
) -> Result<FleetCertificate, SpError> {
    let sealed: Vec<SealedKey> = serde_json::from_str(&p.sealed_keys).map_err(|e| {
        SpError::Fleet(format!(
            "the published certificate's sealed key is damaged: {e}"
        ))
    })?;
    let id = key.id();
    let Some(mine) = sealed.iter().find(|s| s.key_id == id) else {
        let have: Vec<&str> = sealed.iter().map(|s| s.key_id.as_str()).collect();
        return Err(SpError::Fleet(format!(
            "{} holds fleet key {id}, but the certificate in the database is sealed under {}: copy the current fleet key from the SP host to {}",
            key_path.display(),
            have.join(" and "),
            key_path.display()
        )));
    };
    let key_der = key.unseal(mine, &p.sha256)?;
    let info = CertificateInfo::from_der(&p.cert_der)?;
    if info.fingerprints.sha256_hex() != p.sha256 {
        return Err(SpError::Fleet(
            "the published certificate does not match its recorded SHA-256".into(),
        ));
    }
    if !cloudgate_pki::private_key_matches(&info, &key_der)? {
        return Err(SpError::Fleet(
            "the published key does not belong to the published certificate".into(),
        ));
    }
    let chain = if p.chain_pem.is_empty() {
        Vec::new()
    } else {
        cloudgate_pki::pem::decode_certificates(p.chain_pem.as_bytes())?
    };
    Ok(FleetCertificate {
        info,
        chain,
        key_der,
        friendly_name: p.friendly_name.clone(),
        provider_name: p.provider_name.clone(),
        rollover: serde_json::from_str(&p.rollover).map_err(|e| {
            SpError::Fleet(format!("the published rollover record is damaged: {e}"))
        })?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_key_opens_with_its_fleet_key_for_its_certificate_only() {
        let key = FleetKey::generate().unwrap();
        let other = FleetKey::generate().unwrap();
        assert_ne!(key.id(), other.id());
        let sealed = key.seal(b"private key bytes", "AA").unwrap();
        assert!(!sealed.sealed.contains(&hex(b"private key bytes")));
        assert_eq!(
            &key.unseal(&sealed, "AA").unwrap()[..],
            b"private key bytes"
        );
        assert!(
            key.unseal(&sealed, "BB").is_err(),
            "bound to the certificate"
        );
        assert!(
            other.unseal(&sealed, "AA").is_err(),
            "only its fleet key opens it"
        );
        let mut bytes = unhex(&sealed.sealed).unwrap();
        bytes[0] ^= 1;
        let tampered = SealedKey {
            sealed: hex(&bytes),
            ..sealed.clone()
        };
        assert!(
            key.unseal(&tampered, "AA").is_err(),
            "a changed byte is refused"
        );
    }

    #[test]
    fn the_key_file_round_trips_private_and_refuses_junk() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fleet.key");
        let own = FileOwnership::owner_only();
        assert!(FleetKey::load(&path).unwrap().is_none());
        let key = FleetKey::generate().unwrap();
        key.save(&path, &own, false).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{mode:o}");
        assert_eq!(FleetKey::load(&path).unwrap().unwrap().id(), key.id());
        assert!(
            key.save(&path, &own, false).is_err(),
            "never overwritten by accident"
        );
        std::fs::write(&path, "cloudgate fleet key v1\nnot hex\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(matches!(FleetKey::load(&path), Err(SpError::Fleet(_))));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(
            FleetKey::load(&path).is_err(),
            "readable by others: refused"
        );
    }
}
