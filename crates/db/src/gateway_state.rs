//! What a gateway decides with, kept in persistent maps (`imbl`): a copy shares everything
//! with the original, so applying one tenant's change to a copy costs the same at ten tenants
//! as at a hundred thousand, and connections holding the old state keep it intact.
//!
//! Kept small, because a gateway holds every tenant: a tenant's name is stored once and shared
//! by both maps, pool names once for all tenants, certificate digests as 32 bytes rather than 64
//! hex digits, and a tenant's few services in a sorted boxed slice rather than a map.

use std::sync::Arc;

/// The SHA-256 of an enrolled client certificate.
pub type CertDigest = [u8; 32];

/// What a gateway keeps of a tenant: whether it may connect, and which gateways it is told.
/// Never its password hash: enrollment reads the account fresh.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewayTenant {
    /// Whether it may enroll and open tunnels.
    pub enabled: bool,
    /// Its pool of gateways.
    pub pool: Arc<str>,
    /// Whether it is told other pools' gateways too.
    pub failover_outside_pool: bool,
    /// What the SP allows it; `None` when nothing is limited (most tenants: nothing kept).
    pub policy: Option<Arc<cloudgate_policy::TenantPolicy>>,
}

impl GatewayTenant {
    /// A tenant's entry from its stored columns; a stored policy that does not read limits
    /// nothing rather than losing the tenant (the SP's tools refuse to write one).
    pub fn from_columns(
        enabled: bool,
        pool: String,
        failover_outside_pool: bool,
        policy: &str,
    ) -> Self {
        let policy = cloudgate_policy::TenantPolicy::from_stored(policy)
            .ok()
            .filter(|p| !p.is_empty())
            .map(Arc::new);
        GatewayTenant {
            enabled,
            pool: pool.into(),
            failover_outside_pool,
            policy,
        }
    }
}

/// One tenant's whole part of the gateway state, as read again after it changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantSlice {
    /// The tenant's name.
    pub name: String,
    /// The tenant; `None` when it is gone.
    pub tenant: Option<GatewayTenant>,
    /// Its services: (name, target).
    pub services: Vec<(String, String)>,
    /// SHA-256 (uppercase hex) of its enrolled client certificates.
    pub client_certs: Vec<String>,
}

/// What changed since a version of the gateway state: the tenants to read again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateDelta {
    /// The change counter now.
    pub version: i64,
    /// Every tenant changed since, as it is now.
    pub tenants: Vec<TenantSlice>,
    /// Whether the published certificate changed since.
    pub certificate: bool,
}

/// One tenant as the state holds it.
#[derive(Debug, PartialEq, Eq)]
struct TenantEntry {
    tenant: GatewayTenant,
    /// (name, target), sorted by name.
    services: Box<[(Box<str>, Box<str>)]>,
    /// Its enrolled certificates, to drop them from the digest map when it changes.
    certs: Box<[CertDigest]>,
}

/// Everything the gateway needs to decide who may do what.
#[derive(Clone, Debug, Default)]
pub struct GatewayState {
    /// Tenants by name.
    tenants: imbl::OrdMap<Arc<str>, Arc<TenantEntry>>,
    /// Enrolled client certificates: digest → tenant (the same `Arc` as the tenant's key).
    client_certs: imbl::OrdMap<CertDigest, Arc<str>>,
    /// Every pool name seen, so that tenants share one copy of it (an SP has a few pools).
    pools: Arc<Vec<Arc<str>>>,
    /// Maintenance declared by the SP (read whole with every full read).
    pub maintenance: Arc<[cloudgate_policy::Maintenance]>,
    /// The change counter this state was read at.
    pub version: i64,
}

/// Two states are equal when they decide the same: the pool names kept for sharing do not count.
impl PartialEq for GatewayState {
    fn eq(&self, other: &Self) -> bool {
        self.version == other.version
            && self.tenants == other.tenants
            && self.client_certs == other.client_certs
            && self.maintenance == other.maintenance
    }
}

impl Eq for GatewayState {}

impl GatewayState {
    /// A state of `version` holding `tenants` (a full read of the database).
    pub fn from_tenants(version: i64, tenants: impl IntoIterator<Item = TenantSlice>) -> Self {
        let mut state = Self {
            version,
            ..Self::default()
        };
        for slice in tenants {
            state.set_tenant(slice);
        }
        state
    }

    /// How many tenants it holds.
    pub fn tenant_count(&self) -> usize {
        self.tenants.len()
    }

    /// A tenant, by name.
    pub fn tenant(&self, name: &str) -> Option<&GatewayTenant> {
        self.tenants.get(name).map(|e| &e.tenant)
    }

    /// The tenant a client certificate with this SHA-256 is enrolled for.
    pub fn tenant_of(&self, digest: &CertDigest) -> Option<&str> {
        self.client_certs.get(digest).map(|name| &**name)
    }

    /// [`Self::tenant_of`], for the SHA-256 in hex; `None` when it is not a SHA-256.
    pub fn tenant_of_hex(&self, sha256_hex: &str) -> Option<&str> {
        cloudgate_pki::fingerprint::from_hex(sha256_hex).and_then(|d| self.tenant_of(&d))
    }

    /// The target of a tenant's service.
    pub fn service(&self, tenant: &str, service: &str) -> Option<&str> {
        let services = &self.tenants.get(tenant)?.services;
        services
            .binary_search_by(|(name, _)| (**name).cmp(service))
            .ok()
            .map(|i| &*services[i].1)
    }

    /// A tenant's service names, sorted.
    pub fn services_of(&self, tenant: &str) -> Vec<String> {
        self.tenants
            .get(tenant)
            .map(|e| e.services.iter().map(|(n, _)| n.to_string()).collect())
            .unwrap_or_default()
    }

    /// The first lease end after `after`, over every tenant.
    pub fn next_lease_end(&self, after: time::OffsetDateTime) -> Option<time::OffsetDateTime> {
        self.tenants
            .values()
            .filter_map(|e| e.tenant.policy.as_ref()?.expires_at)
            .filter(|end| *end > after)
            .min()
    }

    /// The shared copy of a pool name.
    fn pool(&mut self, pool: Arc<str>) -> Arc<str> {
        if let Some(shared) = self.pools.iter().find(|p| **p == pool) {
            return shared.clone();
        }
        Arc::make_mut(&mut self.pools).push(pool.clone());
        pool
    }

    /// Replaces everything of one tenant with `slice` (or removes it, when it is gone).
    /// A certificate digest that is not a SHA-256 in hex is not kept: nothing could match it.
    pub fn set_tenant(&mut self, slice: TenantSlice) {
        let TenantSlice {
            name,
            tenant,
            services,
            client_certs,
        } = slice;
        if let Some(old) = self.tenants.remove(name.as_str()) {
            for digest in old.certs.iter() {
                // A certificate since bound to another tenant (revoked, then enrolled there)
                // is that tenant's now.
                if self.client_certs.get(digest).map(|t| &**t) == Some(name.as_str()) {
                    self.client_certs.remove(digest);
                }
            }
        }
        let Some(mut tenant) = tenant else {
            return;
        };
        tenant.pool = self.pool(tenant.pool);
        let name: Arc<str> = name.into();
        let mut certs: Vec<CertDigest> = client_certs
            .iter()
            .filter_map(|hex| cloudgate_pki::fingerprint::from_hex(hex))
            .collect();
        certs.sort_unstable();
        certs.dedup();
        for digest in &certs {
            self.client_certs.insert(*digest, name.clone());
        }
        let mut services: Vec<(Box<str>, Box<str>)> = services
            .into_iter()
            .map(|(n, t)| (n.into_boxed_str(), t.into_boxed_str()))
            .collect();
        services.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        services.dedup_by(|a, b| a.0 == b.0);
        let entry = TenantEntry {
            tenant,
            services: services.into_boxed_slice(),
            certs: certs.into_boxed_slice(),
        };
        self.tenants.insert(name, Arc::new(entry));
    }

    /// Applies what changed since this state's version.
    pub fn apply(&mut self, delta: StateDelta) {
        for slice in delta.tenants {
            self.set_tenant(slice);
        }
        self.version = delta.version;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A SHA-256 in hex made of one repeated byte.
    fn sha(b: u8) -> String {
        cloudgate_pki::fingerprint::upper_hex(&[b; 32])
    }

    fn slice(name: &str, enabled: bool, services: &[(&str, &str)], certs: &[u8]) -> TenantSlice {
        TenantSlice {
            name: name.into(),
            tenant: Some(GatewayTenant {
                enabled,
                pool: "default".into(),
                failover_outside_pool: false,
                policy: None,
            }),
            services: services
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            client_certs: certs.iter().map(|&c| sha(c)).collect(),
        }
    }

    #[test]
    fn a_tenant_is_replaced_whole_and_a_copy_keeps_the_old() {
        let mut s = GatewayState::default();
        s.set_tenant(slice(
            "acme",
            true,
            &[("repo", "10.0.0.1:1"), ("b", "h:2")],
            &[0xA1, 0xA2],
        ));
        s.set_tenant(slice("beta", true, &[], &[0xB1]));
        let before = s.clone();
        s.apply(StateDelta {
            version: 7,
            tenants: vec![
                slice("acme", false, &[("repo", "10.0.0.9:1")], &[0xA2]),
                TenantSlice {
                    name: "beta".into(),
                    tenant: None,
                    services: vec![],
                    client_certs: vec![],
                },
            ],
            certificate: false,
        });
        assert_eq!(s.version, 7);
        assert_eq!(s.service("acme", "repo"), Some("10.0.0.9:1"));
        assert_eq!(s.service("acme", "b"), None);
        assert_eq!(s.services_of("acme"), ["repo"]);
        assert!(!s.tenant("acme").unwrap().enabled);
        assert_eq!(s.tenant_of_hex(&sha(0xA1)), None);
        assert_eq!(s.tenant_of_hex(&sha(0xA2)), Some("acme"));
        assert_eq!(s.tenant_of_hex(&sha(0xB1)), None);
        assert!(s.tenant("beta").is_none());
        assert_eq!(s.tenant_count(), 1);
        assert_eq!(
            before.services_of("acme"),
            ["b", "repo"],
            "the copy is untouched"
        );
        assert_eq!(before.tenant_of_hex(&sha(0xB1)), Some("beta"));
    }

    #[test]
    fn a_certificate_moved_to_another_tenant_stays_with_it_whatever_the_order() {
        let mut s = GatewayState::default();
        s.set_tenant(slice("a", true, &[], &[1]));
        s.set_tenant(slice("b", true, &[], &[]));
        // Revoked from a, enrolled for b: b's slice happens to be applied first.
        s.set_tenant(slice("b", true, &[], &[1]));
        s.set_tenant(slice("a", true, &[], &[]));
        assert_eq!(s.tenant_of_hex(&sha(1)), Some("b"));
    }

    #[test]
    fn lookups_find_what_was_stored_and_reject_what_is_not_a_digest() {
        let mut s = GatewayState::default();
        let mut t = slice(
            "acme",
            true,
            &[("z", "h:3"), ("a", "h:1"), ("m", "h:2")],
            &[7],
        );
        t.client_certs.push("not a digest".into());
        t.client_certs.push(sha(7).to_lowercase());
        s.set_tenant(t);
        assert_eq!(s.services_of("acme"), ["a", "m", "z"]);
        for (name, target) in [("a", "h:1"), ("m", "h:2"), ("z", "h:3")] {
            assert_eq!(s.service("acme", name), Some(target));
        }
        assert_eq!(s.service("acme", "b"), None);
        assert_eq!(s.service("nobody", "a"), None);
        assert_eq!(s.tenant_of(&[7; 32]), Some("acme"));
        assert_eq!(s.tenant_of_hex("not a digest"), None);
        assert_eq!(s.tenant_of_hex(""), None);
    }

    #[test]
    fn tenants_share_one_copy_of_their_pool_name_and_equality_ignores_it() {
        let mut s = GatewayState::default();
        s.set_tenant(slice("a", true, &[], &[]));
        s.set_tenant(slice("b", true, &[], &[]));
        assert!(Arc::ptr_eq(
            &s.tenant("a").unwrap().pool,
            &s.tenant("b").unwrap().pool
        ));
        let fresh = GatewayState::from_tenants(0, [slice("b", true, &[], &[])]);
        s.set_tenant(TenantSlice {
            name: "a".into(),
            tenant: None,
            services: vec![],
            client_certs: vec![],
        });
        assert_eq!(s, fresh);
    }
}
