//! What the client certificates a gateway has seen say about their use, by their SHA-256.
//!
//! A tenant's machine presents the same certificate for every tunnel it opens, and reading it
//! whole with the one certificate parser (every extension, both names) was about 2% of a new
//! tunnel's CPU in the profile (issue 31, BENCHMARKS.md). The cache keeps what the parse found
//! — CA or not, valid from, valid until — never a verdict: the caller compares the dates with
//! the clock on every handshake, so a cached certificate still expires on time. A certificate
//! that does not parse is not kept (it is refused each time, as before). Bounded: a stranger
//! presenting ever new certificates only empties it now and then.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use crate::{CertificateInfo, PkiError, Usage};

/// Certificates remembered at most: far more machines than one gateway serves at once, and a
/// few hundred KiB when full (a key and a [`Usage`] each).
pub(crate) const CAPACITY: usize = 4096;

/// The cache; see the module documentation.
#[derive(Debug, Default)]
pub(crate) struct UsageCache {
    by_sha256: Mutex<HashMap<[u8; 32], Usage>>,
}

impl UsageCache {
    /// What `der` says about its use: from the cache, or parsed and remembered.
    pub(crate) fn usage_of(&self, der: &[u8]) -> Result<Usage, PkiError> {
        let key = crate::fingerprint::certificate_sha256(der);
        if let Some(usage) = self.lock().get(&key) {
            return Ok(*usage);
        }
        // Parsed outside the lock: handshakes of other machines need not wait for it.
        let usage = CertificateInfo::usage_of(der)?;
        self.remember(key, usage);
        Ok(usage)
    }

    /// Keeps `usage` for the certificate whose SHA-256 is `key`.
    pub(crate) fn remember(&self, key: [u8; 32], usage: Usage) {
        let mut entries = self.lock();
        if entries.len() >= CAPACITY && !entries.contains_key(&key) {
            // The simplest bound that cannot be gamed into growth: start over. The machines in
            // use are parsed again once each.
            entries.clear();
        }
        entries.insert(key, usage);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Usage>> {
        // Each operation is one lookup or one insert: a panic cannot leave the map half done.
        self.by_sha256
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dn::SubjectName;
    use crate::{KeyType, SelfSignedRequest, generate_self_signed};
    use time::OffsetDateTime;

    fn cert(valid_days: u32) -> Vec<u8> {
        generate_self_signed(&SelfSignedRequest {
            key_type: KeyType::EcdsaP256,
            subject: SubjectName::parse("CN=machine").unwrap(),
            sans: vec![],
            valid_days,
            now: OffsetDateTime::now_utc(),
        })
        .unwrap()
        .cert_der
        .to_vec()
    }

    #[test]
    fn a_certificate_is_parsed_once_and_then_served_as_parsed() {
        let cache = UsageCache::default();
        let der = cert(30);
        let fresh = CertificateInfo::usage_of(&der).unwrap();
        assert_eq!(cache.usage_of(&der).unwrap(), fresh);
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.usage_of(&der).unwrap(), fresh);
        assert_eq!(cache.len(), 1, "the second use parsed again");
        let other = cert(60);
        assert_ne!(cache.usage_of(&other).unwrap(), fresh);
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn what_does_not_parse_is_refused_every_time_and_not_kept() {
        let cache = UsageCache::default();
        let der = cert(30);
        for cut in [0, 1, der.len() / 2, der.len() - 1] {
            assert!(cache.usage_of(&der[..cut]).is_err());
            assert!(cache.usage_of(&der[..cut]).is_err());
        }
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn the_cache_never_holds_more_than_its_capacity() {
        let cache = UsageCache::default();
        let usage = CertificateInfo::usage_of(&cert(30)).unwrap();
        for i in 0..CAPACITY as u32 * 2 + 7 {
            let mut key = [0u8; 32];
            key[..4].copy_from_slice(&i.to_le_bytes());
            cache.remember(key, usage);
            assert!(cache.len() <= CAPACITY);
        }
        // A key already held is replaced, not a reason to start over.
        let full = UsageCache::default();
        for i in 0..CAPACITY as u32 {
            let mut key = [0u8; 32];
            key[..4].copy_from_slice(&i.to_le_bytes());
            full.remember(key, usage);
        }
        full.remember([0u8; 32], usage);
        assert_eq!(full.len(), CAPACITY);
    }
}
