//! A trusted conversation with one provider: the client that trusts exactly what the trust
//! state trusts, and every transition of that state — a renewal or proven rollover followed, a
//! successor learned, a mismatch refused (and a compromise flagged) — persisted and audited here
//! and nowhere else.

use cloudgate_db::{PinUpdate, PinnedProvider, TenantDb, TrustMode};
use cloudgate_pki::CertificateInfo;
use cloudgate_pki::verify::PinMismatch;
use cloudgate_store::PublishedTrust;

use cloudgate_proto::{ErrorBody, ErrorCode};

use crate::client::{ClientIdentity, ConnectError, GatewayClient, Reply};
use crate::error::{TenantError, TrustFailure};
use crate::flows::{probe, unreachable};
use crate::paths::TenantPaths;
use crate::trust::{Refusal, TrustState, Verdict};

/// One provider's trust, loaded once per command or tunnel.
pub(crate) struct Session {
    paths: TenantPaths,
    db: TenantDb,
    name: String,
    identity: ClientIdentity,
    /// Serialises the resolution of mismatches, so a burst of tunnel connections that meet a
    /// rollover follows it once.
    resolving: tokio::sync::Mutex<()>,
}

/// The error a gateway's refusal stands for: 401/403 are the tenant's credentials or account.
pub(crate) fn refusal_error(reply: &Reply) -> TenantError {
    let body = reply.typed::<ErrorBody>().unwrap_or(ErrorBody {
        code: "unknown".into(),
        message: "no reason given".into(),
        retry_after: None,
    });
    let (code, message) = (body.code, body.message);
    let authentication = match ErrorCode::from_name(&code) {
        Some(c) => c.is_authentication(),
        None => reply.status == 401 || reply.status == 403,
    };
    let standing = matches!(
        ErrorCode::from_name(&code),
        Some(ErrorCode::TenantDisabled | ErrorCode::LeaseExpired | ErrorCode::AddressNotAllowed)
    );
    if standing {
        TenantError::AccountRefused(format!("{message} ({code})"))
    } else if authentication {
        TenantError::Authentication(format!("{message} ({code})"))
    } else {
        TenantError::Refused {
            status: reply.status,
            code,
            message,
        }
    }
}

impl Session {
    /// Loads the provider's state and this machine's client identity for it.
    pub async fn open(paths: &TenantPaths, name: &str) -> Result<Self, TenantError> {
        let db = paths.db().await?;
        let p = db.get(name).await?;
        let identity = paths.load_identity(&p)?;
        Ok(Session {
            paths: paths.clone(),
            db,
            name: name.to_string(),
            identity,
            resolving: tokio::sync::Mutex::new(()),
        })
    }

    /// The tenant database.
    pub fn db(&self) -> &TenantDb {
        &self.db
    }

    /// The provider as stored now.
    pub async fn provider(&self) -> Result<PinnedProvider, TenantError> {
        Ok(self.db.get(&self.name).await?)
    }

    /// A client that trusts what the state trusts. With the compromise flag set nothing is
    /// trusted, and nothing is attempted.
    pub fn client(&self, p: &PinnedProvider) -> Result<GatewayClient, TenantError> {
        if p.compromised {
            let endpoint = cloudgate_addr::endpoint(&p.address, p.port);
            return Err(self.refuse(p, &endpoint, None, Refusal::KeyCompromised, "flagged"));
        }
        match p.trust {
            TrustMode::Ca => GatewayClient::ca(&p.address, p.port, Some(&self.identity)),
            TrustMode::Pinned => {
                let pinned = CertificateInfo::from_der(&p.cert_der)?;
                GatewayClient::pinned_key(
                    &p.address,
                    p.port,
                    pinned.fingerprints.spki_sha256,
                    Some(&self.identity),
                )
            }
            TrustMode::CaPin => {
                let pinned = CertificateInfo::from_der(&p.cert_der)?;
                GatewayClient::ca_pinned_key(
                    &p.address,
                    p.port,
                    pinned.fingerprints.spki_sha256,
                    Some(&self.identity),
                )
            }
        }
        .map(|c| c.with_gateways(&p.gateways))
        .map_err(TenantError::BadInput)
    }

    /// A client for the address the user gave only (the first-contact address, which may be a
    /// name that resolves to several gateways): where the provider's trust state is heard.
    pub fn first_contact_client(&self, p: &PinnedProvider) -> Result<GatewayClient, TenantError> {
        let mut alone = p.clone();
        alone.gateways.clear();
        self.client(&alone)
    }

    /// One request over a trusted connection to the first-contact address (the gateways the
    /// provider told of only when it does not answer). A pin mismatch is
    /// resolved at the gateway that presented it (followed, refused for good, or — at a told
    /// gateway — that gateway dropped) and the request tried again. Returns the gateway used.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
    ) -> Result<(PinnedProvider, Reply, String), TenantError> {
        let mut p = self.provider().await?;
        let mut moved = false;
        let mut told = false;
        // Each told gateway can be dropped once; the bound only guards the loop.
        let mut tries = crate::client::MAX_GATEWAYS + 2;
        loop {
            tries -= 1;
            let client = if told {
                self.client(&p)?
            } else {
                self.first_contact_client(&p)?
            };
            match client.request_with(method, path, None, None, headers).await {
                Ok(reply) => {
                    let used = client.endpoint().to_string();
                    let p = self.after_handshake(&p, &client).await?;
                    return Ok((p, reply, used));
                }
                Err(ConnectError::Pin(m))
                    if tries > 0 && (!moved || !is_first_contact(&p, client.endpoint())) =>
                {
                    if is_first_contact(&p, client.endpoint()) {
                        moved = true;
                    }
                    p = self.resolve_mismatch(&p, client.endpoint(), &m).await?;
                }
                Err(ConnectError::Pin(m)) => {
                    return Err(self.refuse(
                        &p,
                        client.endpoint(),
                        m.presented_fingerprints.as_ref().map(|f| (f, &m.presented)),
                        Refusal::NoProof,
                        "the certificate changed again after the pin moved",
                    ));
                }
                Err(ConnectError::Untrusted(reason)) => {
                    return Err(TenantError::Untrusted {
                        endpoint: client.endpoint().to_string(),
                        reason,
                    });
                }
                Err(ConnectError::Other(reason)) => {
                    if !told && !p.gateways.is_empty() {
                        tracing::warn!(provider = %p.name, endpoint = %client.endpoint(), "{reason}; asking the gateways the provider told of instead");
                        told = true;
                        continue;
                    }
                    return Err(unreachable(client.endpoint(), reason));
                }
            }
        }
    }

    /// After a handshake the pinned-key verifier accepted: when the certificate differs from
    /// the pinned one it is a renewal (same key), and the pin moves to it.
    pub async fn after_handshake(
        &self,
        p: &PinnedProvider,
        client: &GatewayClient,
    ) -> Result<PinnedProvider, TenantError> {
        if !p.trust.pins_key() {
            return Ok(p.clone());
        }
        let Some(chain) = client.presented_chain() else {
            return Ok(p.clone());
        };
        let presented = CertificateInfo::from_der(&chain[0])?;
        if presented.fingerprints.sha256_hex() == p.sha256 {
            return Ok(p.clone());
        }
        let state = TrustState::of(p)?;
        let verdict = state.judge(&presented, None);
        self.follow(p, client.endpoint(), &state, &verdict).await
    }

    /// After a pin mismatch: asks whoever answers at the address now for its public data (its
    /// handshake proves it holds the presented key; nothing else is sent), judges the presented
    /// certificate, and follows it or refuses for good. A second connection that fails, or
    /// presents yet another certificate, leaves the mismatch standing: exit 3 and an audit
    /// event, never "unreachable".
    pub async fn resolve_mismatch(
        &self,
        stale: &PinnedProvider,
        endpoint: &str,
        mismatch: &PinMismatch,
    ) -> Result<PinnedProvider, TenantError> {
        let _one_at_a_time = self.resolving.lock().await;
        let presented_fp = mismatch.presented_fingerprints.as_ref();
        let presented = presented_fp.map(|f| (f, &mismatch.presented));
        let p = self.provider().await?;
        // Another connection may have followed the same change meanwhile.
        if p.sha256 != stale.sha256
            && presented_fp.is_some_and(|f| {
                cloudgate_pki::fingerprint::upper_hex(&f.spki_sha256)
                    == spki_hex(&p).unwrap_or_default()
            })
        {
            return Ok(p);
        }
        if !is_first_contact(&p, endpoint) {
            return self.resolve_at_told(&p, endpoint, mismatch).await;
        }
        let state = TrustState::of(&p)?;
        // With `ca+pin` the successor must chain to a root as well as be reached by a proof.
        let probe = match probe(&p.address, p.port, p.trust.checks_chain()).await {
            Ok(probe) => probe,
            Err(e) => {
                let note = format!("the provider's rollover chain could not be fetched: {e}");
                return Err(self.refuse(&p, endpoint, presented, Refusal::NoProof, &note));
            }
        };
        if presented_fp.is_none_or(|f| f.sha256 != probe.cert.fingerprints.sha256) {
            return Err(self.refuse(
                &p,
                endpoint,
                presented,
                Refusal::NoProof,
                "a second connection presented another certificate",
            ));
        }
        let published: Option<PublishedTrust> = probe.provider.map(|info| info.trust);
        let verdict = state.judge(&probe.cert, published.as_ref());
        match &verdict {
            Verdict::Refused(reason) => {
                if let Some(flagged) = state.after(&verdict) {
                    self.save(&p, &flagged, false).await?;
                    self.paths.audit(
                        "provider.compromised",
                        "the provider marked the pinned key compromised; verify by hand",
                        serde_json::json!({ "provider": p.name, "pinned_sha256": p.sha256,
                            "presented_sha256": probe.cert.fingerprints.sha256_hex() }),
                    );
                }
                Err(self.refuse(&p, endpoint, presented, *reason, "judged"))
            }
            _ => self.follow(&p, endpoint, &state, &verdict).await,
        }
    }

    /// A told gateway presented another certificate. It is followed when the gateway that
    /// presented it proves a renewal or a rollover from the pinned key; anything else drops that
    /// gateway from the list (audited) and never raises the alarm: told gateways are places to
    /// open tunnels, and the provider's trust state is heard at the first-contact address.
    async fn resolve_at_told(
        &self,
        p: &PinnedProvider,
        endpoint: &str,
        mismatch: &PinMismatch,
    ) -> Result<PinnedProvider, TenantError> {
        let presented_fp = mismatch.presented_fingerprints.as_ref();
        let state = TrustState::of(p)?;
        let probed = match cloudgate_addr::HostPort::parse(endpoint, Some(p.port)) {
            Ok(hp) => probe(&hp.host, hp.port, p.trust.checks_chain()).await.ok(),
            Err(_) => None,
        };
        let why = match probed {
            Some(probe)
                if presented_fp.is_some_and(|f| f.sha256 == probe.cert.fingerprints.sha256) =>
            {
                let published: Option<PublishedTrust> = probe.provider.map(|info| info.trust);
                let verdict = state.judge(&probe.cert, published.as_ref());
                match (&verdict, state.after_told(&verdict)) {
                    (_, Some(_)) => return self.follow(p, endpoint, &state, &verdict).await,
                    (Verdict::Refused(reason), None) => reason.as_str(),
                    (_, None) => "it presented two certificates",
                }
            }
            Some(_) => "a second connection presented another certificate",
            None => "its rollover chain could not be fetched",
        };
        let kept: Vec<String> = p
            .gateways
            .iter()
            .filter(|g| !same_endpoint(g, endpoint))
            .cloned()
            .collect();
        self.db.seen(&p.name, &p.services, Some(&kept)).await?;
        let presented_sha256 = mismatch.presented.clone();
        tracing::warn!(provider = %p.name, gateway = %endpoint, presented_sha256 = %presented_sha256, "a gateway the provider told of presented an untrusted certificate ({why}); it is no longer used");
        self.paths.audit(
            "provider.gateway_dropped",
            "a told gateway presented a certificate that is not trusted; dropped from the list",
            serde_json::json!({ "provider": p.name, "gateway": endpoint, "reason": why,
                "pinned_sha256": p.sha256, "presented_sha256": presented_sha256 }),
        );
        self.provider().await
    }

    /// Learns the successor a trusted connection announced, if its proof verifies from the
    /// pinned key.
    pub async fn learn(
        &self,
        p: &PinnedProvider,
        published: &PublishedTrust,
    ) -> Result<PinnedProvider, TenantError> {
        if !p.trust.pins_key() {
            return Ok(p.clone());
        }
        let state = TrustState::of(p)?;
        let Some(next) = state.learn(published) else {
            return Ok(p.clone());
        };
        self.save(p, &next, false).await?;
        if let Some(successor) = next.successor() {
            let f = &successor.fingerprints;
            tracing::warn!(
                provider = %p.name,
                successor_thumbprint = %f.thumbprint(),
                successor_sha256 = %f.sha256_hex(),
                "successor announced with a valid rollover proof; it will be accepted when the provider switches"
            );
            self.paths.audit(
                "provider.successor_learned",
                "successor announced with a valid rollover proof",
                serde_json::json!({ "provider": p.name, "pinned_sha256": p.sha256,
                    "successor_sha256": f.sha256_hex() }),
            );
        }
        self.provider().await
    }

    /// Persists a renewal or rollover and logs and audits it with both fingerprints.
    async fn follow(
        &self,
        p: &PinnedProvider,
        endpoint: &str,
        state: &TrustState,
        verdict: &Verdict,
    ) -> Result<PinnedProvider, TenantError> {
        let (event, log, audit) = match verdict {
            Verdict::Pinned => return Ok(p.clone()),
            Verdict::Renewed(_) => (
                "provider.renewed",
                "renewed (same key): the service provider renewed its certificate; pin moved",
                "renewed (same key)",
            ),
            Verdict::RolledOver(_) => (
                "provider.rollover",
                "rollover (proof verified): the pinned key handed over to the new certificate; pin moved",
                "rollover (proof verified)",
            ),
            Verdict::Refused(reason) => {
                return Err(self.refuse(p, endpoint, None, *reason, "judged"));
            }
        };
        let Some(next) = state.after(verdict) else {
            return Ok(p.clone());
        };
        self.save(p, &next, true).await?;
        let f = &next.pinned.fingerprints;
        let steps = match verdict {
            Verdict::RolledOver(path) => path.len(),
            _ => 0,
        };
        tracing::warn!(
            provider = %p.name,
            old_thumbprint = %p.thumbprint,
            old_sha256 = %p.sha256,
            new_thumbprint = %f.thumbprint(),
            new_sha256 = %f.sha256_hex(),
            "{log}"
        );
        self.paths.audit(
            event,
            audit,
            serde_json::json!({ "provider": p.name, "old_sha256": p.sha256,
                "new_sha256": f.sha256_hex(), "links": steps }),
        );
        self.provider().await
    }

    /// Writes a state; `moved` when the pin changed (continuously: first-seen kept).
    async fn save(
        &self,
        p: &PinnedProvider,
        state: &TrustState,
        moved: bool,
    ) -> Result<(), TenantError> {
        let pin = moved.then_some(PinUpdate {
            cert_der: &state.pinned.der,
            keep_first_seen: true,
        });
        self.db
            .save_trust(&p.name, pin, &state.learned, state.compromised)
            .await?;
        Ok(())
    }

    /// The trust failure for a refused certificate, after logging and auditing it.
    pub fn refuse(
        &self,
        p: &PinnedProvider,
        endpoint: &str,
        presented: Option<(&cloudgate_pki::Fingerprints, &String)>,
        reason: Refusal,
        note: &str,
    ) -> TenantError {
        let expected_sha256 = CertificateInfo::from_der(&p.cert_der)
            .map(|c| c.fingerprints.sha256_colons())
            .unwrap_or_else(|_| p.sha256.clone());
        let presented_sha256 = presented.map(|(_, s)| s.clone()).unwrap_or_default();
        tracing::debug!(provider = %p.name, endpoint, reason = reason.as_str(), presented_sha256 = %presented_sha256, "{note}: the certificate is not trusted");
        self.paths.audit(
            "provider.refused",
            "the provider presented a certificate that is not trusted",
            serde_json::json!({
                "provider": p.name,
                "endpoint": endpoint,
                "reason": reason.as_str(),
                "pinned_thumbprint": p.thumbprint,
                "presented_sha256": presented_sha256,
                "note": note,
            }),
        );
        TenantError::PinMismatch(Box::new(TrustFailure {
            provider: p.name.clone(),
            endpoint: endpoint.to_string(),
            expected_thumbprint: p.thumbprint.clone(),
            expected_sha256,
            presented: presented.map(|(f, _)| f.clone()),
            presented_sha256,
            first_seen: cloudgate_pki::format_rfc3339(p.first_seen),
            reason,
        }))
    }
}

/// Whether `endpoint` (`HOST:PORT`, as a client names it) is the address the user gave.
pub(crate) fn is_first_contact(p: &PinnedProvider, endpoint: &str) -> bool {
    endpoint == cloudgate_addr::endpoint(&p.address, p.port)
}

/// Whether a told gateway (`HOST[:PORT]`) is `endpoint`.
fn same_endpoint(told: &str, endpoint: &str) -> bool {
    cloudgate_addr::HostPort::parse(told, Some(cloudgate_addr::GATEWAY_PORT))
        .map(|hp| cloudgate_addr::endpoint(&hp.host, hp.port) == endpoint)
        .unwrap_or(false)
}

fn spki_hex(p: &PinnedProvider) -> Option<String> {
    CertificateInfo::from_der(&p.cert_der)
        .ok()
        .map(|c| cloudgate_pki::fingerprint::upper_hex(&c.fingerprints.spki_sha256))
}
