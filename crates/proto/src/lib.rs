//! The cloudgate wire protocol, written once for both sides: every request body, answer and
//! error of the gateway's HTTP API and the names of the tunnel handshake. The gateway builds its
//! answers from these types and the tenant reads them into the same types, so a renamed field is
//! a compile error, not a silent default. No I/O.
//!
//! | request | answer |
//! | --- | --- |
//! | `GET /v1/provider` | [`ProviderInfo`] |
//! | `GET /v1/tenant` (client certificate) | [`TenantInfo`] |
//! | `POST /v1/enroll` with [`EnrollRequest`] | [`EnrollReply`] |
//! | `GET /v1/tunnel/SERVICE` with `Upgrade: cloudgate-tunnel` | `101`, then raw bytes |
//!
//! Refusals are an [`ErrorBody`] whose `code` is an [`ErrorCode`].

#![forbid(unsafe_code)]

pub mod admin;
mod error;
pub mod trust;
/// The one sanitizer for foreign text, where the protocol's text is rendered.
pub use cloudgate_pki::text;

pub use cloudgate_pki::rollover::ChainLink;
pub use error::{ErrorBody, ErrorCode};
use serde::{Deserialize, Serialize};

/// The `Upgrade` protocol name of a tunnel.
pub const TUNNEL_PROTOCOL: &str = "cloudgate-tunnel";

/// Request header with which a tenant tells the gateway (on `GET /v1/tenant`) the SHA-256 (hex)
/// of the SP certificate it trusts now, so the SP can see adoption.
pub const CONFIRMED_HEADER: &str = "cloudgate-confirmed-sha256";

/// Request header with the SHA-256 (hex) of the staged successor the tenant has learned.
pub const SUCCESSOR_HEADER: &str = "cloudgate-successor-sha256";

/// The software answering.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Software {
    /// Always `cloudgate`.
    pub name: String,
    /// Its version.
    pub version: String,
}

/// The certificate in use, as `GET /v1/provider` describes it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateSummary {
    /// The SP's friendly name for it.
    pub friendly_name: String,
    /// Subject, RFC 4514.
    pub subject: String,
    /// Issuer, RFC 4514.
    pub issuer: String,
    /// Serial, uppercase hex.
    pub serial: String,
    /// SHA-1 of the DER, uppercase hex.
    pub thumbprint: String,
    /// SHA-256 of the DER, uppercase hex.
    pub sha256: String,
    /// The public key pin, `sha256//…`.
    pub spki_sha256: String,
    /// RFC 3339.
    pub not_after: String,
}

/// What the gateway publishes about the SP's keys: the staged successor and the chain of key
/// changes, which a tenant walks from the key it pinned.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedTrust {
    /// The staged successor, handed over by the key in use.
    #[serde(default)]
    pub successor: Option<ChainLink>,
    /// The switches, oldest first.
    #[serde(default)]
    pub chain: Vec<ChainLink>,
}

/// `GET /v1/provider`: public, asked before anything is trusted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderInfo {
    /// The SP's name (its licensee).
    pub name: String,
    /// The software answering.
    pub software: Software,
    /// The certificate in use.
    pub certificate: CertificateSummary,
    /// The successor and the chain of key changes.
    #[serde(flatten)]
    pub trust: PublishedTrust,
    /// The live gateways a tenant should use, least loaded first: those of its pool (of this
    /// gateway's, before enrollment), then, if it may fail over outside it, the others. Empty
    /// when the gateway runs alone.
    #[serde(default)]
    pub gateways: Vec<GatewayEndpoint>,
    /// Whether the gateway reaches the SP database: `degraded` while it serves from its last
    /// state (tunnels work, enrollments are refused with 503).
    #[serde(default)]
    pub health: Health,
}

/// One gateway of the SP's fleet, as tenants are told of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayEndpoint {
    /// `HOST:PORT` tenants connect to.
    pub address: String,
    /// The pool it serves.
    pub pool: String,
    /// Tunnels open through it at its last heartbeat: the load hint.
    pub open_tunnels: i64,
}

/// A gateway's health, as `GET /v1/provider` reports it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// It reaches the SP database.
    #[default]
    Ok,
    /// It does not, and serves from its last state.
    Degraded,
}

/// `GET /v1/tenant`: who this client certificate is enrolled as.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantInfo {
    /// The tenant.
    pub tenant: String,
    /// Whether it is enabled (a disabled one is refused, so this is true).
    pub enabled: bool,
    /// The services it may reach, sorted.
    pub services: Vec<String>,
}

/// `POST /v1/enroll`: the client certificate presented in this handshake, repeated, and a label
/// for the machine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    /// The client certificate, PEM.
    pub client_cert_pem: String,
    /// The machine's host name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// A successful enrollment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollReply {
    /// The tenant the machine is now enrolled for.
    pub tenant: String,
    /// SHA-256 of the enrolled client certificate, uppercase hex.
    pub client_sha256: String,
    /// The services it may reach.
    pub services: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_info_is_flat_on_the_wire() {
        let info = ProviderInfo {
            name: "Acme".into(),
            software: Software {
                name: "cloudgate".into(),
                version: "0.1.0".into(),
            },
            certificate: CertificateSummary::default(),
            trust: PublishedTrust::default(),
            gateways: vec![GatewayEndpoint {
                address: "gw1.example:6180".into(),
                pool: "eu".into(),
                open_tunnels: 3,
            }],
            health: Health::Degraded,
        };
        let v = serde_json::to_value(&info).unwrap();
        for key in [
            "name",
            "software",
            "certificate",
            "successor",
            "chain",
            "gateways",
            "health",
        ] {
            assert!(v.get(key).is_some(), "{key} in {v}");
        }
        assert_eq!(v["health"], "degraded");
        let back: ProviderInfo = serde_json::from_value(v).unwrap();
        assert_eq!(back, info);
        // A gateway of before the fleet: no list, healthy.
        let mut old = serde_json::to_value(&info).unwrap();
        old.as_object_mut().unwrap().remove("gateways");
        old.as_object_mut().unwrap().remove("health");
        let read: ProviderInfo = serde_json::from_value(old).unwrap();
        assert_eq!((read.gateways.len(), read.health), (0, Health::Ok));
    }

    #[test]
    fn enrollment_bodies_refuse_unknown_fields_and_omit_a_missing_label() {
        let r = EnrollRequest {
            client_cert_pem: "x".into(),
            label: None,
        };
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"client_cert_pem":"x"}"#
        );
        assert!(
            serde_json::from_str::<EnrollRequest>(r#"{"client_cert_pem":"x","more":1}"#).is_err()
        );
    }
}
