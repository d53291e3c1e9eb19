//! What a gateway tells tenants about its peers is what it saw, not what the database says: an
//! address goes into `GET /v1/provider`'s list only after this gateway connected to it and was
//! presented the certificate it serves itself, in a completed (signature-checked) handshake. A
//! record a thief wrote with his own address, an address that leads to another TLS server, or a
//! gateway still serving a key the SP has since replaced is never told; an address that stops
//! presenting the fleet's certificate is dropped at the next round.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cloudgate_pki::verify::PinnedServerVerifier;
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;

/// Time to connect to a peer and complete the handshake.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// A verification older than this no longer counts.
pub const VERIFIED_FOR: Duration = Duration::from_secs(30);
/// How often an address is probed again.
pub const PROBE_EVERY: Duration = Duration::from_secs(8);
/// Most addresses probed per round (a fleet larger than this is probed over several rounds).
const MAX_PROBES_PER_ROUND: usize = 64;

/// One address as last seen.
#[derive(Clone, Debug)]
struct Seen {
    /// SHA-256 (uppercase hex) of the certificate it presented; empty when it did not answer.
    sha256: String,
    at: Instant,
}

/// The addresses this gateway probed and what each presented.
#[derive(Default)]
pub struct PeerCheck {
    seen: Mutex<HashMap<String, Seen>>,
}

impl PeerCheck {
    /// Whether `address` presented the certificate `sha256` within [`VERIFIED_FOR`].
    pub fn presents(&self, address: &str, sha256: &str) -> bool {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.get(address)
            .is_some_and(|s| s.sha256 == sha256 && s.at.elapsed() < VERIFIED_FOR)
    }

    /// Records what an address presented (for tests and for the probe).
    pub fn record(&self, address: &str, sha256: String) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        // Addresses no longer in the fleet are forgotten after a while.
        seen.retain(|_, s| s.at.elapsed() < VERIFIED_FOR * 4);
        seen.insert(
            address.to_string(),
            Seen {
                sha256,
                at: Instant::now(),
            },
        );
    }

    /// The addresses due for a probe: never probed, or not for [`PROBE_EVERY`].
    fn due<'a>(&self, addresses: impl Iterator<Item = &'a str>) -> Vec<String> {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let mut due: Vec<String> = addresses
            .filter(|a| seen.get(*a).is_none_or(|s| s.at.elapsed() >= PROBE_EVERY))
            .map(str::to_string)
            .collect();
        due.sort();
        due.dedup();
        due.truncate(MAX_PROBES_PER_ROUND);
        due
    }

    /// Probes the addresses that are due, all at once, each within [`PROBE_TIMEOUT`].
    pub async fn probe_due<'a>(&self, addresses: impl Iterator<Item = &'a str>) {
        let due = self.due(addresses);
        if due.is_empty() {
            return;
        }
        let mut probes = tokio::task::JoinSet::new();
        for address in due {
            probes.spawn(async move {
                let presented = presented_sha256(&address).await;
                (address, presented)
            });
        }
        while let Some(done) = probes.join_next().await {
            if let Ok((address, presented)) = done {
                match &presented {
                    Ok(_) => {}
                    Err(why) => tracing::debug!(peer = %address, "{why}"),
                }
                self.record(&address, presented.unwrap_or_default());
            }
        }
    }
}

/// Connects to `address` (`HOST:PORT`) and returns the SHA-256 of the certificate it presents
/// in a completed handshake. Nothing is sent but the handshake.
pub async fn presented_sha256(address: &str) -> Result<String, String> {
    let hp = cloudgate_addr::HostPort::parse(address, Some(cloudgate_addr::GATEWAY_PORT))
        .map_err(|e| format!("{address}: {e}"))?;
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let verifier = PinnedServerVerifier::capture(&provider);
    let config = ClientConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(verifier.clone())
        .with_no_client_auth();
    let name = ServerName::try_from(hp.host.clone())
        .map_err(|_| format!("{address}: not a host name or address"))?;
    let attempt = async {
        let tcp = TcpStream::connect(cloudgate_addr::endpoint(&hp.host, hp.port))
            .await
            .map_err(|e| format!("{address}: {e}"))?;
        tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .map_err(|e| format!("{address}: TLS handshake failed: {e}"))
    };
    let _tls = tokio::time::timeout(PROBE_TIMEOUT, attempt)
        .await
        .map_err(|_| format!("{address}: no answer within {PROBE_TIMEOUT:?}"))??;
    let chain = verifier
        .presented_chain()
        .ok_or_else(|| format!("{address}: presented no certificate"))?;
    let leaf = chain
        .first()
        .ok_or_else(|| format!("{address}: presented no certificate"))?;
    cloudgate_pki::CertificateInfo::from_der(leaf)
        .map(|c| c.fingerprints.sha256_hex())
        .map_err(|e| format!("{address}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_fresh_match_counts() {
        let check = PeerCheck::default();
        assert!(!check.presents("a:6180", "AA"));
        check.record("a:6180", "AA".into());
        assert!(check.presents("a:6180", "AA"));
        assert!(!check.presents("a:6180", "BB"));
        check.record("a:6180", String::new());
        assert!(!check.presents("a:6180", "AA"));
        assert!(check.due(["a:6180", "b:6180"].into_iter()) == vec!["b:6180".to_string()]);
    }
}
