//! What a tenant holds of a provider it trusts: the trust mode and the pinned provider. Domain
//! types of the trust state machine, kept here (not with their storage) so that the state
//! machine depends on no database.

use cloudgate_pki::rollover::ChainLink;
use time::OffsetDateTime;

/// How a tenant trusts a provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrustMode {
    /// The pinned key (and the keys it handed over to with a proof); the default.
    Pinned,
    /// The system's root certificates and the host name, like a browser (`--trust ca`).
    Ca,
    /// Both (`--trust ca+pin`): the chain must validate to a system root and match the host
    /// name, *and* the key must be the pinned one or one it handed over to with a proof.
    CaPin,
}

impl TrustMode {
    /// The stored and displayed form.
    pub fn as_str(self) -> &'static str {
        match self {
            TrustMode::Pinned => "pinned",
            TrustMode::Ca => "ca",
            TrustMode::CaPin => "ca+pin",
        }
    }

    /// Whether the presented chain must validate to a system root and match the host name.
    pub fn checks_chain(self) -> bool {
        matches!(self, TrustMode::Ca | TrustMode::CaPin)
    }

    /// Whether a pinned key (and the proofs that move it) is held and checked.
    pub fn pins_key(self) -> bool {
        matches!(self, TrustMode::Pinned | TrustMode::CaPin)
    }

    /// The mode of a stored or typed name.
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "pinned" => Some(TrustMode::Pinned),
            "ca" => Some(TrustMode::Ca),
            "ca+pin" => Some(TrustMode::CaPin),
            _ => None,
        }
    }
}

/// A move of the pin to another certificate.
#[derive(Clone, Copy, Debug)]
pub struct PinUpdate<'a> {
    /// The certificate, DER (its fingerprints are derived from it).
    pub cert_der: &'a [u8],
    /// Whether the trust is continuous (a renewal or a proven rollover keeps first-seen); a
    /// manual verification starts it again.
    pub keep_first_seen: bool,
}

/// A provider the tenant added, with its pinned certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PinnedProvider {
    /// The tenant's name for it (`ADDRESS:PORT` by default).
    pub name: String,
    /// Host name or address of the gateway.
    pub address: String,
    /// Gateway port.
    pub port: u16,
    /// Free text.
    pub description: String,
    /// How the provider is trusted.
    pub trust: TrustMode,
    /// The pinned SP certificate, DER, as fetched.
    pub cert_der: Vec<u8>,
    /// Its thumbprint (SHA-1), derived from `cert_der` when read.
    pub thumbprint: String,
    /// Its SHA-256, uppercase hex, derived from `cert_der` when read.
    pub sha256: String,
    /// Its public key pin, derived from `cert_der` when read.
    pub spki_sha256: String,
    /// When the pin was first verified.
    pub first_seen: OffsetDateTime,
    /// When the provider was last reached with this pin.
    pub last_seen: OffsetDateTime,
    /// The tenant user name it enrolled with.
    pub username: String,
    /// This tenant's client certificate for the provider, DER.
    pub client_cert_der: Vec<u8>,
    /// The services the SP offered at the last contact.
    pub services: Vec<String>,
    /// Chain links learned from the provider, each verified from the pinned key when learned.
    pub learned_chain: Vec<ChainLink>,
    /// The provider marked the pinned key compromised: nothing is accepted until the user
    /// verifies a certificate by hand.
    pub compromised: bool,
    /// The provider's gateways (`HOST:PORT`), least loaded first, as they last told this
    /// machine; `check` and `tunnel` connect to them, the address above coming last.
    pub gateways: Vec<String>,
}
