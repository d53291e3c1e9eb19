//! The SP certificate store: entries, the record of the one in use, and the operations on them.

use std::fs;
use std::path::{Path, PathBuf};

use cloudgate_pki::{CertificateInfo, FingerprintQuery, pem, private_key_matches};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::entry::{EntryMeta, Source, StoredCertificate};
use crate::fsio::{self, FileSpec, crash_point};
use crate::layout::entry_files;
use crate::lock::StoreLock;
use crate::owner::current_user_name;
use crate::{FileOwnership, Layout, StoreError, audit};

/// A certificate and key about to be added to the store.
pub struct NewEntry<'a> {
    /// The certificate, DER.
    pub cert_der: &'a [u8],
    /// Its private key, PKCS#8 DER.
    pub key_pkcs8_der: &'a [u8],
    /// Intermediate certificates (DER), issuer of the leaf first.
    pub chain: Vec<Vec<u8>>,
    /// The friendly name.
    pub friendly_name: String,
    /// Generated or imported.
    pub source: Source,
}

/// Which certificate is in use, as recorded in `applied.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedRecord {
    /// SHA-256 of the certificate (uppercase hex).
    pub sha256: String,
    /// Its thumbprint.
    pub thumbprint: String,
    /// When it was put into use.
    #[serde(with = "time::serde::rfc3339")]
    pub applied_at: OffsetDateTime,
    /// Who put it into use.
    pub applied_by: String,
}

/// The certificate store under one data directory.
#[derive(Clone, Debug)]
pub struct CertStore {
    layout: Layout,
    own: FileOwnership,
    /// Who acts through this handle, beside the operating-system user: an administrator of the
    /// console or an API token, named in every audit entry the store writes.
    actor: Option<String>,
    /// Where audit entries go instead of straight to the log file, if somewhere.
    sink: Option<std::sync::Arc<dyn audit::AuditSink>>,
}

impl CertStore {
    /// The store under this layout; files it creates get this ownership.
    pub fn new(layout: Layout, own: FileOwnership) -> Self {
        CertStore {
            layout,
            own,
            actor: None,
            sink: None,
        }
    }

    /// The same store, its audit entries handed to `sink` (which knows who acts).
    pub fn audited_by(&self, sink: std::sync::Arc<dyn audit::AuditSink>) -> CertStore {
        CertStore {
            sink: Some(sink),
            ..self.clone()
        }
    }

    /// The same store, its audit entries naming `actor` as `"admin"` (the console's
    /// administrator or API token), so that one change is one entry with who made it.
    pub fn acting_as(&self, actor: &str) -> CertStore {
        CertStore {
            actor: Some(actor.to_string()),
            ..self.clone()
        }
    }

    /// Writes an audit entry (to the sink when there is one, else the log file), naming the
    /// actor when there is one.
    pub fn audit(
        &self,
        event: &'static str,
        message: &str,
        mut details: serde_json::Value,
    ) -> Result<(), StoreError> {
        if let (Some(actor), serde_json::Value::Object(map)) = (&self.actor, &mut details) {
            map.insert("admin".into(), actor.as_str().into());
        }
        if let Some(sink) = &self.sink {
            sink.record(event, message, details);
            return Ok(());
        }
        audit::record(&self.layout, &self.own, event, message, details)
    }

    /// The layout it lives in.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The ownership new files get.
    pub fn ownership(&self) -> &FileOwnership {
        &self.own
    }

    /// Every entry, oldest first. A store that does not exist yet is empty.
    pub fn list(&self) -> Result<Vec<StoredCertificate>, StoreError> {
        let store_dir = self.layout.store_dir();
        if !store_dir.exists() {
            if let Err(e) = fs::metadata(&store_dir)
                && e.kind() == std::io::ErrorKind::PermissionDenied
            {
                return Err(self.io("reading", &store_dir, e));
            }
            return Ok(Vec::new());
        }
        let applied = self.applied_record()?;
        let certs_dir = self.layout.certs_dir();
        let read = match fs::read_dir(&certs_dir) {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.io("reading", &certs_dir, e)),
        };
        let mut entries = Vec::new();
        for dirent in read {
            let dirent = dirent.map_err(|e| self.io("reading", &certs_dir, e))?;
            if dirent.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let mut entry = self.load_entry(&dirent.path())?;
            entry.applied = applied
                .as_ref()
                .is_some_and(|a| a.sha256 == entry.info.fingerprints.sha256_hex());
            entries.push(entry);
        }
        entries.sort_by(|a, b| {
            (a.meta.created_at, a.info.fingerprints.sha256)
                .cmp(&(b.meta.created_at, b.info.fingerprints.sha256))
        });
        Ok(entries)
    }

    /// The one entry that matches a thumbprint, SHA-256, public key pin, or unique prefix of at
    /// least 8 hex digits. Pasted separators and invisible marks are ignored.
    pub fn find(&self, query: &str) -> Result<StoredCertificate, StoreError> {
        select_unique(query, self.list()?)
    }

    /// Adds a certificate with its key as one unit: the entry directory is assembled aside and
    /// appears by one rename. Refuses a key that does not match the certificate.
    pub fn add(&self, new: NewEntry<'_>) -> Result<StoredCertificate, StoreError> {
        let info = CertificateInfo::from_der(new.cert_der)?;
        if !private_key_matches(&info, new.key_pkcs8_der)? {
            return Err(StoreError::Pki(cloudgate_pki::PkiError::InvalidPrivateKey(
                "the private key does not belong to the certificate".into(),
            )));
        }
        let meta = EntryMeta {
            version: EntryMeta::VERSION,
            friendly_name: new.friendly_name,
            source: new.source,
            created_by: current_user_name(),
            created_at: OffsetDateTime::now_utc(),
        };
        let meta_json = serde_json::to_vec_pretty(&meta).map_err(|e| StoreError::Corrupt {
            path: self.layout.certs_dir(),
            reason: format!("cannot encode metadata: {e}"),
        })?;
        let key_pem = pem::encode_pkcs8_key(new.key_pkcs8_der);
        let cert_pem = pem::encode_certificate(new.cert_der);
        let chain_pem: String = new
            .chain
            .iter()
            .map(|c| pem::encode_certificate(c))
            .collect();

        self.prepare_dirs()?;
        let _lock = StoreLock::acquire(&self.layout.lock_file(), &self.own)
            .map_err(|e| self.name_group(e))?;
        self.clean_tmp()?;
        let final_dir = self.layout.entry_dir(&info.fingerprints.sha256_hex());
        if final_dir.exists() {
            return Err(StoreError::AlreadyExists {
                thumbprint: info.fingerprints.thumbprint(),
            });
        }
        let tmp_dir = self.layout.tmp_dir().join(fsio::temp_name("entry"));
        fs::DirBuilder::new()
            .create(&tmp_dir)
            .map_err(|e| self.io("creating", &tmp_dir, e))?;
        let spec = FileSpec::store(&self.own);
        let written = (|| {
            fsio::write_new_file(&tmp_dir.join(entry_files::KEY), key_pem.as_bytes(), spec)?;
            crash_point("entry-key-written");
            fsio::write_new_file(&tmp_dir.join(entry_files::CERT), cert_pem.as_bytes(), spec)?;
            if !chain_pem.is_empty() {
                fsio::write_new_file(
                    &tmp_dir.join(entry_files::CHAIN),
                    chain_pem.as_bytes(),
                    spec,
                )?;
            }
            fsio::write_new_file(&tmp_dir.join(entry_files::META), &meta_json, spec)?;
            fsio::fsync_dir(&tmp_dir)?;
            if let Some(gid) = self.own.gid() {
                std::os::unix::fs::chown(&tmp_dir, None, Some(gid))
                    .map_err(|e| self.io("setting the group of", &tmp_dir, e))?;
            }
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&tmp_dir, fs::Permissions::from_mode(self.own.dir_mode()))
                .map_err(|e| self.io("setting the mode of", &tmp_dir, e))?;
            crash_point("entry-files-written");
            fs::rename(&tmp_dir, &final_dir)
                .map_err(|e| self.io("moving into place", &final_dir, e))?;
            crash_point("entry-renamed");
            fsio::fsync_dir(&self.layout.certs_dir())
        })();
        if let Err(e) = written {
            let _ = fs::remove_dir_all(&tmp_dir);
            return Err(e);
        }
        let mut entry = self.load_entry(&final_dir)?;
        entry.applied = false;
        self.audit(
            "cert.added",
            &format!("certificate added to the store ({})", meta.source.as_str()),
            serde_json::json!({
                "thumbprint": entry.info.fingerprints.thumbprint(),
                "sha256": entry.info.fingerprints.sha256_hex(),
                "friendly_name": entry.meta.friendly_name,
            }),
        )?;
        Ok(entry)
    }

    /// Checks every level above the entries — data directory, store, certificates — with the one
    /// directory check: a real directory, not open to others, not changeable by the group.
    /// Levels that do not exist yet are fine.
    fn check_levels(&self) -> Result<(), StoreError> {
        // The data directory itself may be a link (to another disk, say); nothing inside it may.
        let data = self.layout.data_dir();
        if let Ok(meta) = fs::metadata(data) {
            fsio::check_private_dir_meta(data, &meta).map_err(|e| self.name_group(e))?;
        }
        for dir in [self.layout.store_dir(), self.layout.certs_dir()] {
            match fs::symlink_metadata(&dir) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                _ => fsio::check_private_dir(&dir).map_err(|e| self.name_group(e))?,
            }
        }
        Ok(())
    }

    /// The record of the certificate in use, if any.
    pub fn applied_record(&self) -> Result<Option<AppliedRecord>, StoreError> {
        self.check_levels()?;
        let path = self.layout.applied_file();
        let bytes =
            match crate::bounded::read_regular_if_exists(&path, crate::bounded::STORE_FILE_CAP)
                .map_err(|e| self.name_group(e))?
            {
                Some(b) => b,
                None => return Ok(None),
            };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StoreError::Corrupt {
                path,
                reason: format!("unreadable record of the applied certificate: {e}"),
            })
    }

    /// The certificate in use, if any. A record that points to a missing entry is an error.
    pub fn applied(&self) -> Result<Option<StoredCertificate>, StoreError> {
        let Some(record) = self.applied_record()? else {
            return Ok(None);
        };
        let dir = self.layout.entry_dir(&record.sha256);
        if !dir.exists() {
            return Err(StoreError::Corrupt {
                path: self.layout.applied_file(),
                reason: format!(
                    "it names certificate {} which is not in the store; apply another one with `cloudgate sp cert apply`",
                    record.thumbprint
                ),
            });
        }
        let mut entry = self.load_entry(&dir)?;
        entry.applied = true;
        Ok(Some(entry))
    }

    /// Puts a certificate into use after checking that its key loads and matches, records the
    /// switch in the rollover history, and records the audit event. Returns the record of the
    /// certificate that was in use before, if any.
    pub fn apply(&self, cert: &StoredCertificate) -> Result<Option<AppliedRecord>, StoreError> {
        self.apply_switch(cert, false)
    }

    pub(crate) fn apply_switch(
        &self,
        cert: &StoredCertificate,
        compromised: bool,
    ) -> Result<Option<AppliedRecord>, StoreError> {
        let _lock = StoreLock::acquire(&self.layout.lock_file(), &self.own)
            .map_err(|e| self.name_group(e))?;
        let current = self.load_entry(cert.dir())?;
        drop(self.load_private_key(&current)?);
        let previous = self.applied_record().ok().flatten();
        let previous_info = self.applied().ok().flatten().map(|e| e.info);
        if compromised
            && previous_info.as_ref().is_some_and(|p| {
                p.fingerprints.spki_sha256 == current.info.fingerprints.spki_sha256
            })
        {
            return Err(StoreError::SameKey {
                thumbprint: current.info.fingerprints.thumbprint(),
            });
        }
        self.record_switch(previous_info.as_ref(), &current.info, compromised)?;
        let record = AppliedRecord {
            sha256: current.info.fingerprints.sha256_hex(),
            thumbprint: current.info.fingerprints.thumbprint(),
            applied_at: OffsetDateTime::now_utc(),
            applied_by: current_user_name(),
        };
        let json = serde_json::to_vec_pretty(&record).map_err(|e| StoreError::Corrupt {
            path: self.layout.applied_file(),
            reason: format!("cannot encode: {e}"),
        })?;
        self.replace_store_file(&self.layout.applied_file(), &json)?;
        self.audit(
            "cert.applied",
            audit::CERTIFICATE_UPDATED,
            serde_json::json!({
                "thumbprint": record.thumbprint,
                "sha256": record.sha256,
                "friendly_name": current.meta.friendly_name,
                "previous_thumbprint": previous.as_ref().map(|p| p.thumbprint.clone()),
            }),
        )?;
        Ok(previous)
    }

    /// Removes an entry. The certificate in use is refused unless `force`, which also clears the
    /// record of it. The entry disappears by one rename before its files are deleted.
    pub fn remove(&self, cert: &StoredCertificate, force: bool) -> Result<(), StoreError> {
        let _lock = StoreLock::acquire(&self.layout.lock_file(), &self.own)
            .map_err(|e| self.name_group(e))?;
        let sha256 = cert.info.fingerprints.sha256_hex();
        let is_applied = self.applied_record()?.is_some_and(|a| a.sha256 == sha256);
        if is_applied && !force {
            return Err(StoreError::CertificateInUse {
                thumbprint: cert.info.fingerprints.thumbprint(),
            });
        }
        if is_applied {
            let path = self.layout.applied_file();
            fs::remove_file(&path).map_err(|e| self.io("removing", &path, e))?;
        }
        self.clean_tmp()?;
        let doomed = self.layout.tmp_dir().join(fsio::temp_name("removed"));
        fs::rename(cert.dir(), &doomed).map_err(|e| self.io("removing", cert.dir(), e))?;
        fsio::fsync_dir(&self.layout.certs_dir())?;
        fs::remove_dir_all(&doomed).map_err(|e| self.io("removing", &doomed, e))?;
        self.audit(
            "cert.removed",
            "certificate removed from the store",
            serde_json::json!({
                "thumbprint": cert.info.fingerprints.thumbprint(),
                "sha256": sha256,
                "friendly_name": cert.meta.friendly_name,
                "was_applied": is_applied,
            }),
        )
    }

    /// Reads an entry's private key (PKCS#8/PKCS#1/SEC1 DER), after checking the key file's
    /// mode and that the key belongs to the certificate. Wiped from memory when dropped.
    pub fn load_private_key(
        &self,
        cert: &StoredCertificate,
    ) -> Result<Zeroizing<Vec<u8>>, StoreError> {
        let path = cert.key_path();
        let pem_bytes = fsio::read_secret_file(&path).map_err(|e| self.name_group(e))?;
        let der = pem::decode_private_key(&pem_bytes).map_err(|e| StoreError::Corrupt {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let matches = private_key_matches(&cert.info, &der).map_err(|e| StoreError::Corrupt {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        if !matches {
            return Err(StoreError::Corrupt {
                path,
                reason: "the private key does not belong to the certificate".into(),
            });
        }
        Ok(der)
    }

    fn load_entry(&self, dir: &Path) -> Result<StoredCertificate, StoreError> {
        fsio::check_private_dir(dir).map_err(|e| self.name_group(e))?;
        let cert_path = dir.join(entry_files::CERT);
        let cert_pem = fsio::read_file(&cert_path).map_err(|e| self.name_group(e))?;
        let corrupt = |reason: String| StoreError::Corrupt {
            path: cert_path.clone(),
            reason,
        };
        let der = pem::decode_certificates(&cert_pem)
            .map_err(|e| corrupt(e.to_string()))?
            .remove(0);
        let info = CertificateInfo::from_der(&der).map_err(|e| corrupt(e.to_string()))?;
        let expected_name = info.fingerprints.sha256_hex().to_ascii_lowercase();
        if dir.file_name().map(|n| n.to_string_lossy().into_owned()) != Some(expected_name) {
            return Err(StoreError::Corrupt {
                path: dir.to_path_buf(),
                reason: "the directory name is not the SHA-256 of the certificate inside".into(),
            });
        }
        let chain_path = dir.join(entry_files::CHAIN);
        let chain = if chain_path.exists() {
            let bytes = fsio::read_file(&chain_path)?;
            pem::decode_certificates(&bytes).map_err(|e| StoreError::Corrupt {
                path: chain_path.clone(),
                reason: e.to_string(),
            })?
        } else {
            Vec::new()
        };
        let meta_path = dir.join(entry_files::META);
        let meta: EntryMeta =
            serde_json::from_slice(&fsio::read_file(&meta_path)?).map_err(|e| {
                StoreError::Corrupt {
                    path: meta_path.clone(),
                    reason: e.to_string(),
                }
            })?;
        fsio::check_secret_file(&dir.join(entry_files::KEY)).map_err(|e| self.name_group(e))?;
        Ok(StoredCertificate {
            info,
            chain,
            meta,
            applied: false,
            dir: dir.to_path_buf(),
        })
    }

    /// The directory of the ACME account and settings, made (with the store's) if need be.
    pub fn acme_dir(&self) -> Result<PathBuf, StoreError> {
        self.prepare_dirs()?;
        let dir = self.layout.acme_dir();
        fsio::ensure_private_dir(&dir, &self.own).map_err(|e| self.name_group(e))?;
        Ok(dir)
    }

    fn prepare_dirs(&self) -> Result<(), StoreError> {
        let own = &self.own;
        for dir in [
            self.layout.data_dir().to_path_buf(),
            self.layout.store_dir(),
            self.layout.certs_dir(),
        ] {
            if dir == self.layout.data_dir() && dir.exists() {
                continue;
            }
            fsio::ensure_private_dir(&dir, own).map_err(|e| self.name_group(e))?;
        }
        fsio::ensure_private_dir(&self.layout.tmp_dir(), &FileOwnership::owner_only())
            .map_err(|e| self.name_group(e))
    }

    /// Replaces one of the store's own files (under the lock): the temporary file is written in
    /// `tmp/`, after what a killed writer left there (or, before this version, beside the store's
    /// files) is removed.
    pub(crate) fn replace_store_file(&self, path: &Path, data: &[u8]) -> Result<(), StoreError> {
        fsio::ensure_private_dir(&self.layout.tmp_dir(), &FileOwnership::owner_only())
            .map_err(|e| self.name_group(e))?;
        self.clean_tmp()?;
        if let Ok(read) = fs::read_dir(self.layout.store_dir()) {
            for dirent in read.flatten() {
                let name = dirent.file_name().to_string_lossy().into_owned();
                if name.starts_with('.') && name.ends_with(".tmp") {
                    let _ = fs::remove_file(dirent.path());
                }
            }
        }
        fsio::replace_file_via(
            path,
            data,
            FileSpec::store(&self.own),
            &self.layout.tmp_dir(),
        )
    }

    /// Removes what an interrupted command left in `tmp/`. Only called under the lock, and `tmp/`
    /// is only written under the lock, so nothing in it belongs to a live command.
    fn clean_tmp(&self) -> Result<(), StoreError> {
        let tmp = self.layout.tmp_dir();
        let Ok(read) = fs::read_dir(&tmp) else {
            return Ok(());
        };
        for dirent in read.flatten() {
            let path = dirent.path();
            let result = if fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir()) {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
            result.map_err(|e| self.io("cleaning up", &path, e))?;
        }
        Ok(())
    }

    pub(crate) fn io(&self, action: &'static str, path: &Path, e: std::io::Error) -> StoreError {
        self.name_group(StoreError::io(action, path, e))
    }

    pub(crate) fn name_group(&self, e: StoreError) -> StoreError {
        match self.own.group_name() {
            Some(name) => e.with_group(name),
            None => e,
        }
    }
}

/// The one candidate that matches `query`, or why there is not exactly one.
fn select_unique(
    query: &str,
    candidates: Vec<StoredCertificate>,
) -> Result<StoredCertificate, StoreError> {
    let parsed = FingerprintQuery::parse(query)?;
    let mut matches: Vec<StoredCertificate> = candidates
        .into_iter()
        .filter(|e| parsed.matches(&e.info.fingerprints))
        .collect();
    match matches.len() {
        0 => Err(StoreError::NotFound {
            query: query.trim().to_string(),
        }),
        1 => Ok(matches.remove(0)),
        _ => Err(StoreError::Ambiguous {
            query: query.trim().to_string(),
            matches: matches
                .iter()
                .map(|m| {
                    (
                        m.info.fingerprints.thumbprint(),
                        m.meta.friendly_name.clone(),
                    )
                })
                .collect(),
        }),
    }
}

#[cfg(test)]
mod tests;
