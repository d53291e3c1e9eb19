//! Who may do what, decided from one consistent view of the SP database with no I/O: the same
//! rule for the tenant's info request, for opening a tunnel, and for keeping one open after a
//! reload.

use cloudgate_db::GatewayState;
use cloudgate_proto::ErrorCode;

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
}

impl Denial {
    /// The refusal on the wire.
    pub fn code(self) -> ErrorCode {
        match self {
            Denial::NotEnrolled => ErrorCode::UnknownClientCertificate,
            Denial::TenantDisabled => ErrorCode::TenantDisabled,
            Denial::NoSuchService => ErrorCode::UnknownService,
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
        }
    }

    /// Why an open tunnel is closed, for the log.
    pub fn withdrawn_because(self) -> &'static str {
        match self {
            Denial::NotEnrolled => "the client certificate was revoked or the tenant removed",
            Denial::TenantDisabled => "the tenant was disabled",
            Denial::NoSuchService => "the service was removed from the tenant",
        }
    }
}

/// Decides for the client certificate with SHA-256 `client_sha256` (uppercase hex), and for
/// `service` when one is asked for: the certificate must be enrolled, for an enabled tenant,
/// that has the service.
pub fn authorize<'a>(
    state: &'a GatewayState,
    client_sha256: &str,
    service: Option<&str>,
) -> Result<Authorized<'a>, Denial> {
    let tenant = state
        .tenant_of_hex(client_sha256)
        .ok_or(Denial::NotEnrolled)?;
    let record = state.tenant(tenant).ok_or(Denial::NotEnrolled)?;
    if !record.enabled {
        return Err(Denial::TenantDisabled);
    }
    let target = match service {
        None => None,
        Some(s) => Some(state.service(tenant, s).ok_or(Denial::NoSuchService)?),
    };
    Ok(Authorized { tenant, target })
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloudgate_db::{GatewayTenant, TenantSlice};

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
            authorize(&s, &sha(0xA1), Some("repo")),
            Ok(Authorized {
                tenant: "acme",
                target: Some("10.0.0.1:9000")
            })
        );
        assert_eq!(
            authorize(&s, &sha(0xA1), None),
            Ok(Authorized {
                tenant: "acme",
                target: None
            })
        );
        assert_eq!(
            authorize(&s, &sha(0xA1), Some("other")),
            Err(Denial::NoSuchService)
        );
    }

    #[test]
    fn unknown_disabled_and_removed_tenants_certificates_are_refused_before_any_service() {
        let s = state();
        assert_eq!(authorize(&s, &sha(0xEE), None), Err(Denial::NotEnrolled));
        assert_eq!(
            authorize(&s, &sha(0xA1)[..62], Some("repo")),
            Err(Denial::NotEnrolled),
            "a truncated hash matches nothing"
        );
        assert_eq!(
            authorize(&s, &sha(0xB1), Some("repo")),
            Err(Denial::TenantDisabled),
            "a disabled tenant's services stay closed"
        );
        assert_eq!(
            authorize(&s, &sha(0xC1), None),
            Err(Denial::NotEnrolled),
            "a certificate whose tenant was removed"
        );
    }

    #[test]
    fn every_denial_is_a_refusal_the_tenant_understands() {
        for d in [
            Denial::NotEnrolled,
            Denial::TenantDisabled,
            Denial::NoSuchService,
        ] {
            assert!((400..500).contains(&d.code().status()));
            assert!(!d.withdrawn_because().is_empty() && !d.message().is_empty());
        }
    }
}
