//! Who may do what, decided from one consistent view of the SP database with no I/O: the same
//! rule for the tenant's info request, for opening a tunnel, and for keeping one open after a
//! reload or when a deadline passes (a lease's end, a maintenance's drain).

use std::net::IpAddr;

use cloudgate_db::GatewayState;
use cloudgate_policy::Maintenance;
use cloudgate_proto::ErrorCode;
use time::OffsetDateTime;

/// Where and when a request comes from: what a tenant's lease and networks are checked against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Origin {
    /// The peer's address.
    pub ip: IpAddr,
    /// Now.
    pub at: OffsetDateTime,
}

impl Origin {
    /// `ip`, now.
    pub fn now(ip: IpAddr) -> Self {
        Origin {
            ip,
            at: OffsetDateTime::now_utc(),
        }
    }
}

/// What a client certificate is allowed, when it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authorized<'a> {
    /// The tenant the certificate is enrolled for.
    pub tenant: &'a str,
    /// The backend of the service asked for (`None` when no service was asked for).
    pub target: Option<&'a str>,
}

/// Why a client certificate is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Denial {
    /// No tenant enrolled this certificate (never, or it was revoked, or the tenant removed).
    NotEnrolled,
    /// The tenant is disabled.
    TenantDisabled,
    /// The tenant has no service of that name.
    NoSuchService,
    /// The tenant's lease has ended.
    LeaseExpired,
    /// The tenant may not connect from this address.
    AddressNotAllowed,
}

impl Denial {
    /// The refusal on the wire.
    pub fn code(self) -> ErrorCode {
        match self {
            Denial::NotEnrolled => ErrorCode::UnknownClientCertificate,
            Denial::TenantDisabled => ErrorCode::TenantDisabled,
            Denial::NoSuchService => ErrorCode::UnknownService,
            Denial::LeaseExpired => ErrorCode::LeaseExpired,
            Denial::AddressNotAllowed => ErrorCode::AddressNotAllowed,
        }
    }

    /// The refusal's message for the tenant.
    pub fn message(self) -> &'static str {
        match self {
            Denial::NotEnrolled => "this client certificate is not enrolled; enroll first",
            Denial::TenantDisabled => {
                "this tenant account is disabled; contact the service provider"
            }
            Denial::NoSuchService => "no such service for this tenant",
            Denial::LeaseExpired => {
                "this tenant account's lease with the service provider has ended; ask the service provider to extend it (nothing was deleted: service resumes without enrolling again)"
            }
            Denial::AddressNotAllowed => {
                "this tenant may not connect from this address; ask the service provider to allow your network"
            }
        }
    }

    /// The refusal's message, naming the service provider to ask where asking is the remedy.
    pub fn message_for(self, provider: &str) -> String {
        match self {
            Denial::LeaseExpired => format!(
                "this tenant account's lease with {provider} has ended; ask {provider} to extend it (nothing was deleted: service resumes without enrolling again)"
            ),
            Denial::AddressNotAllowed => format!(
                "this tenant may not connect from this address; ask {provider} to allow your network"
            ),
            Denial::TenantDisabled => {
                format!("this tenant account is disabled; contact {provider}")
            }
            other => other.message().to_string(),
        }
    }

    /// Why an open tunnel is closed, for the log.
    pub fn withdrawn_because(self) -> &'static str {
        match self {
            Denial::NotEnrolled => "the client certificate was revoked or the tenant removed",
            Denial::TenantDisabled => "the tenant was disabled",
            Denial::NoSuchService => "the service was removed from the tenant",
            Denial::LeaseExpired => "the tenant's lease ended",
            Denial::AddressNotAllowed => "the tenant may no longer connect from this address",
        }
    }
}

/// Decides for the client certificate with SHA-256 `client_sha256` (uppercase hex), and for
/// `service` when one is asked for: the certificate must be enrolled, for an enabled tenant
/// whose lease has not ended and that may connect from `from`, that has the service.
pub fn authorize<'a>(
    state: &'a GatewayState,
    client_sha256: &str,
    service: Option<&str>,
    from: Origin,
) -> Result<Authorized<'a>, Denial> {
    let tenant = state
        .tenant_of_hex(client_sha256)
        .ok_or(Denial::NotEnrolled)?;
    let record = state.tenant(tenant).ok_or(Denial::NotEnrolled)?;
    if !record.enabled {
        return Err(Denial::TenantDisabled);
    }
    if let Some(policy) = &record.policy {
        if policy.lease_ended(from.at) {
            return Err(Denial::LeaseExpired);
        }
        if !policy.allows(from.ip) {
            return Err(Denial::AddressNotAllowed);
        }
    }
    let target = match service {
        None => None,
        Some(s) => Some(state.service(tenant, s).ok_or(Denial::NoSuchService)?),
    };
    Ok(Authorized { tenant, target })
}

/// When a grant given now ends by itself: the tenant's lease end, if it has one.
pub fn grant_deadline(state: &GatewayState, tenant: &str) -> Option<OffsetDateTime> {
    state.tenant(tenant)?.policy.as_ref()?.expires_at
}

/// The maintenance that covers gateway `id` of `pool`, if one does: a gateway's own comes
/// first, then its pool's, then every gateway's.
pub fn maintenance_for<'a>(
    state: &'a GatewayState,
    id: &str,
    pool: &str,
) -> Option<&'a Maintenance> {
    use cloudgate_policy::MaintenanceScope as S;
    let rank = |m: &Maintenance| match m.scope {
        S::Gateway(_) => 0,
        S::Pool(_) => 1,
        S::All => 2,
    };
    state
        .maintenance
        .iter()
        .filter(|m| m.scope.covers(id, pool))
        .min_by_key(|m| rank(m))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloudgate_db::{GatewayTenant, TenantSlice};

    fn here() -> Origin {
        Origin::now(IpAddr::from([10, 1, 2, 3]))
    }

    /// A client certificate's SHA-256 in hex, made of one repeated byte.
    fn sha(b: u8) -> String {
        cloudgate_pki::fingerprint::upper_hex(&[b; 32])
    }

    fn state() -> GatewayState {
        let mut s = GatewayState::default();
        for (name, enabled, cert, target) in [
            ("acme", true, 0xA1, "10.0.0.1:9000"),
            ("off", false, 0xB1, "10.0.0.2:9000"),
            ("gone", true, 0xC1, "10.0.0.3:9000"),
        ] {
            s.set_tenant(TenantSlice {
                name: name.into(),
                tenant: Some(GatewayTenant {
                    enabled,
                    pool: "default".into(),
                    failover_outside_pool: false,
                    policy: None,
                }),
                services: vec![("repo".into(), target.into())],
                client_certs: vec![sha(cert)],
            });
        }
        s.set_tenant(TenantSlice {
            name: "gone".into(),
            tenant: None,
            services: vec![],
            client_certs: vec![],
        });
        s
    }

    #[test]
    fn an_enrolled_certificate_of_an_enabled_tenant_reaches_its_own_services_only() {
        let s = state();
        assert_eq!(
            authorize(&s, &sha(0xA1), Some("repo"), here()),
            Ok(Authorized {
                tenant: "acme",
                target: Some("10.0.0.1:9000")
            })
        );
        assert_eq!(
            authorize(&s, &sha(0xA1), None, here()),
            Ok(Authorized {
                tenant: "acme",
                target: None
            })
        );
        assert_eq!(
            authorize(&s, &sha(0xA1), Some("other"), here()),
            Err(Denial::NoSuchService)
        );
    }

    #[test]
    fn unknown_disabled_and_removed_tenants_certificates_are_refused_before_any_service() {
        let s = state();
        assert_eq!(
            authorize(&s, &sha(0xEE), None, here()),
            Err(Denial::NotEnrolled)
        );
        assert_eq!(
            authorize(&s, &sha(0xA1)[..62], Some("repo"), here()),
            Err(Denial::NotEnrolled),
            "a truncated hash matches nothing"
        );
        assert_eq!(
            authorize(&s, &sha(0xB1), Some("repo"), here()),
            Err(Denial::TenantDisabled),
            "a disabled tenant's services stay closed"
        );
        assert_eq!(
            authorize(&s, &sha(0xC1), None, here()),
            Err(Denial::NotEnrolled),
            "a certificate whose tenant was removed"
        );
    }

    #[test]
    fn a_tenant_past_its_lease_or_outside_its_networks_is_refused() {
        use cloudgate_policy::{Cidr, TenantPolicy};
        use std::sync::Arc;
        let mut s = state();
        let policy = TenantPolicy {
            expires_at: Some(time::macros::datetime!(2030-01-01 00:00 UTC)),
            allow_from: Cidr::parse_list("10.0.0.0/8").unwrap(),
            ..Default::default()
        };
        s.set_tenant(TenantSlice {
            name: "leased".into(),
            tenant: Some(GatewayTenant {
                enabled: true,
                pool: "default".into(),
                failover_outside_pool: false,
                policy: Some(Arc::new(policy)),
            }),
            services: vec![("repo".into(), "10.0.0.9:9000".into())],
            client_certs: vec![sha(0xD1)],
        });
        let at = |ip: [u8; 4], t: OffsetDateTime| Origin {
            ip: IpAddr::from(ip),
            at: t,
        };
        let before = time::macros::datetime!(2029-12-31 23:59 UTC);
        let after = time::macros::datetime!(2030-01-01 00:00 UTC);
        assert!(authorize(&s, &sha(0xD1), Some("repo"), at([10, 0, 0, 1], before)).is_ok());
        assert_eq!(
            authorize(&s, &sha(0xD1), Some("repo"), at([10, 0, 0, 1], after)),
            Err(Denial::LeaseExpired)
        );
        assert_eq!(
            authorize(&s, &sha(0xD1), None, at([192, 0, 2, 1], before)),
            Err(Denial::AddressNotAllowed)
        );
        assert_eq!(grant_deadline(&s, "leased"), Some(after));
        assert_eq!(grant_deadline(&s, "acme"), None);
    }

    #[test]
    fn a_gateway_is_covered_by_its_own_maintenance_first() {
        use cloudgate_policy::{Maintenance, MaintenanceScope};
        let mut s = state();
        let m = |scope, message: &str| Maintenance {
            scope,
            message: message.into(),
            started_at: OffsetDateTime::UNIX_EPOCH,
            drain_until: None,
            ends_at: None,
        };
        s.maintenance = vec![
            m(MaintenanceScope::All, "all"),
            m(MaintenanceScope::Pool("eu".into()), "eu"),
            m(MaintenanceScope::Gateway("gw-1".into()), "gw-1"),
        ]
        .into();
        let said = |id, pool| maintenance_for(&s, id, pool).map(|m| m.message.clone());
        assert_eq!(said("gw-1", "eu").as_deref(), Some("gw-1"));
        assert_eq!(said("gw-2", "eu").as_deref(), Some("eu"));
        assert_eq!(said("gw-2", "us").as_deref(), Some("all"));
        s.maintenance = vec![m(MaintenanceScope::Pool("eu".into()), "eu")].into();
        assert_eq!(maintenance_for(&s, "gw-2", "us"), None);
    }

    #[test]
    fn every_denial_is_a_refusal_the_tenant_understands() {
        for d in [
            Denial::NotEnrolled,
            Denial::TenantDisabled,
            Denial::NoSuchService,
            Denial::LeaseExpired,
            Denial::AddressNotAllowed,
        ] {
            assert!((400..500).contains(&d.code().status()));
            assert!(!d.withdrawn_because().is_empty() && !d.message().is_empty());
        }
    }
}
