//! What a gateway decides with, kept in persistent maps (`imbl`): a copy shares everything
//! with the original, so applying one tenant's change to a copy costs the same at ten tenants
//! as at a hundred thousand, and connections holding the old state keep it intact.

use std::collections::BTreeMap;
use std::sync::Arc;

/// What a gateway keeps of a tenant: whether it may connect, and which gateways it is told.
/// Never its password hash: enrollment reads the account fresh.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewayTenant {
    /// Whether it may enroll and open tunnels.
    pub enabled: bool,
    /// Its pool of gateways.
    pub pool: String,
    /// Whether it is told other pools' gateways too.
    pub failover_outside_pool: bool,
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
}

/// Everything the gateway needs to decide who may do what.
#[derive(Clone, Debug, Default)]
pub struct GatewayState {
    /// Tenants by name.
    pub tenants: imbl::HashMap<String, GatewayTenant>,
    /// Each tenant's services: name → target.
    services: imbl::HashMap<String, Arc<BTreeMap<String, String>>>,
    /// Enrolled client certificates: SHA-256 → tenant.
    pub client_certs: imbl::HashMap<String, String>,
    /// Each tenant's enrolled client certificates, to drop them when it changes.
    certs_of: imbl::HashMap<String, Arc<Vec<String>>>,
    /// The change counter this state was read at.
    pub version: i64,
}

impl GatewayState {
    /// The target of a tenant's service.
    pub fn service(&self, tenant: &str, service: &str) -> Option<&str> {
        self.services
            .get(tenant)
            .and_then(|s| s.get(service))
            .map(String::as_str)
    }

    /// A tenant's service names, sorted.
    pub fn services_of(&self, tenant: &str) -> Vec<String> {
        self.services
            .get(tenant)
            .map(|s| s.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Replaces everything of one tenant with `slice` (or removes it, when it is gone).
    pub fn set_tenant(&mut self, slice: TenantSlice) {
        let TenantSlice {
            name,
            tenant,
            services,
            client_certs,
        } = slice;
        if let Some(old) = self.certs_of.remove(&name) {
            for sha in old.iter() {
                // A certificate since bound to another tenant (revoked, then enrolled there)
                // is that tenant's now.
                if self.client_certs.get(sha) == Some(&name) {
                    self.client_certs.remove(sha);
                }
            }
        }
        self.services.remove(&name);
        self.tenants.remove(&name);
        let Some(tenant) = tenant else {
            return;
        };
        for sha in &client_certs {
            self.client_certs.insert(sha.clone(), name.clone());
        }
        if !client_certs.is_empty() {
            self.certs_of.insert(name.clone(), Arc::new(client_certs));
        }
        if !services.is_empty() {
            self.services
                .insert(name.clone(), Arc::new(services.into_iter().collect()));
        }
        self.tenants.insert(name, tenant);
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

    fn slice(name: &str, enabled: bool, services: &[(&str, &str)], certs: &[&str]) -> TenantSlice {
        TenantSlice {
            name: name.into(),
            tenant: Some(GatewayTenant {
                enabled,
                pool: "default".into(),
                failover_outside_pool: false,
            }),
            services: services
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            client_certs: certs.iter().map(|c| c.to_string()).collect(),
        }
    }

    #[test]
    fn a_tenant_is_replaced_whole_and_a_copy_keeps_the_old() {
        let mut s = GatewayState::default();
        s.set_tenant(slice(
            "acme",
            true,
            &[("repo", "10.0.0.1:1"), ("b", "h:2")],
            &["A1", "A2"],
        ));
        s.set_tenant(slice("beta", true, &[], &["B1"]));
        let before = s.clone();
        s.apply(StateDelta {
            version: 7,
            tenants: vec![
                slice("acme", false, &[("repo", "10.0.0.9:1")], &["A2"]),
                TenantSlice {
                    name: "beta".into(),
                    tenant: None,
                    services: vec![],
                    client_certs: vec![],
                },
            ],
        });
        assert_eq!(s.version, 7);
        assert_eq!(s.service("acme", "repo"), Some("10.0.0.9:1"));
        assert_eq!(s.services_of("acme"), ["repo"]);
        assert!(!s.tenants["acme"].enabled);
        assert_eq!(s.client_certs.get("A1"), None);
        assert_eq!(s.client_certs.get("B1"), None);
        assert!(s.tenants.get("beta").is_none());
        assert_eq!(
            before.services_of("acme"),
            ["b", "repo"],
            "the copy is untouched"
        );
        assert_eq!(
            before.client_certs.get("B1").map(String::as_str),
            Some("beta")
        );
    }

    #[test]
    fn a_certificate_moved_to_another_tenant_stays_with_it_whatever_the_order() {
        let mut s = GatewayState::default();
        s.set_tenant(slice("a", true, &[], &["X"]));
        s.set_tenant(slice("b", true, &[], &[]));
        // Revoked from a, enrolled for b: b's slice happens to be applied first.
        s.set_tenant(slice("b", true, &[], &["X"]));
        s.set_tenant(slice("a", true, &[], &[]));
        assert_eq!(s.client_certs.get("X").map(String::as_str), Some("b"));
    }
}
