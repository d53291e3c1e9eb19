//! TLS settings of the load generator and of the bare rustls server: the same provider, the same
//! pinning and client-certificate verifiers as cloudgate itself.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use std::sync::atomic::{AtomicU64, Ordering};

use rustls::client::{Tls12ClientSessionValue, Tls13ClientSessionValue};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, ServerConfig};
use sha2::Digest as _;

/// A certificate with its PKCS#8 key.
#[derive(Clone)]
pub struct Identity {
    /// DER of the certificate.
    pub cert_der: Vec<u8>,
    /// PKCS#8 DER of the key.
    pub key_der: Vec<u8>,
}

impl Identity {
    /// Reads a PEM certificate and a PEM key.
    pub fn load(cert: &Path, key: &Path) -> anyhow::Result<Self> {
        let cert_pem =
            std::fs::read(cert).with_context(|| format!("reading {}", cert.display()))?;
        let key_pem = std::fs::read(key).with_context(|| format!("reading {}", key.display()))?;
        let cert_der = cloudgate_pki::pem::decode_certificates(&cert_pem)?
            .into_iter()
            .next()
            .context("no certificate")?;
        let key_der = cloudgate_pki::pem::decode_private_key(&key_pem)?.to_vec();
        Ok(Identity { cert_der, key_der })
    }

    /// A fresh ECDSA P-256 client identity, as `tenant provider add` makes.
    pub fn generate(name: &str) -> anyhow::Result<Self> {
        let g = cloudgate_pki::generate_self_signed(&cloudgate_pki::SelfSignedRequest {
            key_type: cloudgate_pki::KeyType::EcdsaP256,
            subject: cloudgate_pki::dn::SubjectName::parse(&format!("CN={name}"))?,
            sans: vec![],
            valid_days: 30,
            now: time::OffsetDateTime::now_utc(),
        })?;
        Ok(Identity {
            cert_der: g.cert_der,
            key_der: g.key_pkcs8_der.to_vec(),
        })
    }

    /// Writes the identity as `<base>.cert.pem` and `<base>.key.pem`.
    pub fn save(&self, base: &Path) -> anyhow::Result<()> {
        std::fs::write(
            base.with_extension("cert.pem"),
            cloudgate_pki::pem::encode_certificate(&self.cert_der),
        )?;
        std::fs::write(
            base.with_extension("key.pem"),
            cloudgate_pki::pem::encode_pkcs8_key(&self.key_der).as_bytes(),
        )?;
        Ok(())
    }

    fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()))
    }
}

/// The SHA-256 of the first certificate in a PEM file: the pin.
pub fn pin_of(cert_pem: &Path) -> anyhow::Result<[u8; 32]> {
    let pem = std::fs::read(cert_pem).with_context(|| format!("reading {}", cert_pem.display()))?;
    let der = cloudgate_pki::pem::decode_certificates(&pem)?
        .into_iter()
        .next()
        .context("no certificate")?;
    Ok(sha2::Sha256::digest(&der).into())
}

/// A client configuration pinned to `pin`, presenting `identity`; `resume` keeps TLS 1.3
/// session tickets in the tenant's own store (what `tenant tunnel` does), otherwise every
/// connection is a full handshake.
pub fn client_config(
    pin: [u8; 32],
    identity: Option<&Identity>,
    resume: bool,
) -> anyhow::Result<Arc<ClientConfig>> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = cloudgate_pki::verify::PinnedServerVerifier::pinned(&provider, vec![pin]);
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match identity {
        Some(id) => builder
            .with_client_auth_cert(vec![CertificateDer::from(id.cert_der.clone())], id.key())?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config.resumption = if resume {
        rustls::client::Resumption::store(Arc::new(CountingStore::new()))
    } else {
        rustls::client::Resumption::disabled()
    };
    Ok(Arc::new(config))
}

/// The bare server: exactly the gateway's TLS settings ([`cloudgate_gateway::tls`]).
pub fn server_config(identity: &Identity) -> anyhow::Result<Arc<ServerConfig>> {
    Ok(Arc::new(cloudgate_gateway::tls::server_config(
        vec![CertificateDer::from(identity.cert_der.clone())],
        identity.key(),
    )?))
}

/// Counts of the client's TLS 1.3 ticket store: tickets received, taken for a resumption
/// attempt, and resumption attempts that found no ticket.
#[derive(Debug, Default)]
pub struct TicketCounts {
    /// Tickets the servers sent.
    pub inserted: AtomicU64,
    /// Tickets offered in a ClientHello.
    pub taken: AtomicU64,
    /// ClientHellos that found no ticket to offer.
    pub missing: AtomicU64,
}

/// The process's ticket counts (one load generator run is one process).
pub static TICKETS: TicketCounts = TicketCounts {
    inserted: AtomicU64::new(0),
    taken: AtomicU64::new(0),
    missing: AtomicU64::new(0),
};

/// The tenant's session store (what `tenant tunnel` uses), counted in [`TICKETS`].
#[derive(Debug)]
pub struct CountingStore {
    inner: Arc<cloudgate_tenant::TicketStore>,
}

impl CountingStore {
    /// An empty store.
    pub fn new() -> Self {
        CountingStore {
            inner: cloudgate_tenant::TicketStore::new(),
        }
    }
}

impl rustls::client::ClientSessionStore for CountingStore {
    fn set_kx_hint(&self, name: ServerName<'static>, group: rustls::NamedGroup) {
        self.inner.set_kx_hint(name, group)
    }
    fn kx_hint(&self, name: &ServerName<'_>) -> Option<rustls::NamedGroup> {
        self.inner.kx_hint(name)
    }
    fn set_tls12_session(&self, name: ServerName<'static>, v: Tls12ClientSessionValue) {
        self.inner.set_tls12_session(name, v)
    }
    fn tls12_session(&self, name: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
        self.inner.tls12_session(name)
    }
    fn remove_tls12_session(&self, name: &ServerName<'static>) {
        self.inner.remove_tls12_session(name)
    }
    fn insert_tls13_ticket(&self, name: ServerName<'static>, v: Tls13ClientSessionValue) {
        TICKETS.inserted.fetch_add(1, Ordering::Relaxed);
        self.inner.insert_tls13_ticket(name, v)
    }
    fn take_tls13_ticket(&self, name: &ServerName<'static>) -> Option<Tls13ClientSessionValue> {
        let t = self.inner.take_tls13_ticket(name);
        let c = if t.is_some() {
            &TICKETS.taken
        } else {
            &TICKETS.missing
        };
        c.fetch_add(1, Ordering::Relaxed);
        t
    }
}
