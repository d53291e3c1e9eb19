//! The tenant flows: probe, add (enroll over the pinned channel, then save), check, refresh and
//! serve a local tunnel listener.

use std::path::PathBuf;
use std::sync::Arc;

use cloudgate_db::{PinnedProvider, TenantDb};
use cloudgate_pki::CertificateInfo;
use cloudgate_pki::fingerprint::upper_hex;
use cloudgate_store::fsio::{self, FileSpec};
use cloudgate_store::{FileOwnership, Layout, StoreError};
use sha2::Digest as _;
use tokio::net::TcpListener;

use crate::client::{ClientIdentity, ConnectError, GatewayClient, Reply};
use crate::error::{TenantError, TrustFailure};

/// Where the tenant's state lives: `DATA_DIR/tenant.db`, and one owner-only client key per
/// provider under `DATA_DIR/tenant-keys/`.
pub struct TenantPaths {
    layout: Layout,
}

impl TenantPaths {
    /// The tenant paths under a data directory.
    pub fn new(layout: Layout) -> Self {
        TenantPaths { layout }
    }

    fn db_path(&self) -> PathBuf {
        self.layout.data_dir().join("tenant.db")
    }

    fn keys_dir(&self) -> PathBuf {
        self.layout.data_dir().join("tenant-keys")
    }

    /// The client key file of a provider.
    pub fn key_path(&self, provider: &str) -> PathBuf {
        let safe: String = provider
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let digest =
            upper_hex(&sha2::Sha256::digest(provider.as_bytes()))[..12].to_ascii_lowercase();
        self.keys_dir().join(format!("{safe}-{digest}.key"))
    }

    /// Opens the tenant database, creating it owner-only first.
    pub async fn db(&self) -> Result<TenantDb, TenantError> {
        let own = FileOwnership::owner_only();
        fsio::ensure_private_dir(self.layout.data_dir(), &own)?;
        let path = self.db_path();
        if !path.exists() {
            match fsio::write_new_file(&path, b"", FileSpec::owner_only()) {
                Ok(()) => {}
                Err(StoreError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(TenantDb::open(&path).await?)
    }

    /// Records a trust decision in the tenant's audit log (`DATA_DIR/audit.log`, JSON lines).
    fn audit(&self, event: &'static str, message: &str, details: serde_json::Value) {
        if let Err(e) = cloudgate_store::audit::record(
            &self.layout,
            &FileOwnership::owner_only(),
            event,
            message,
            details,
        ) {
            tracing::error!(error = %e, "cannot write the audit log");
        }
    }

    fn load_identity(&self, p: &PinnedProvider) -> Result<ClientIdentity, TenantError> {
        let pem = fsio::read_secret_file(&self.key_path(&p.name))?;
        let key = cloudgate_pki::pem::decode_private_key(&pem)?;
        Ok(ClientIdentity {
            cert_der: p.client_cert_der.clone(),
            key_der: key,
        })
    }
}

/// What the first contact learned.
#[derive(Debug, Clone)]
pub struct Probe {
    /// The presented certificate, parsed.
    pub cert: CertificateInfo,
    /// The presented chain (leaf first).
    pub chain: Vec<Vec<u8>>,
    /// `GET /v1/provider`, when the peer answered it.
    pub provider: serde_json::Value,
}

fn unreachable(endpoint: &str, reason: String) -> TenantError {
    TenantError::Unreachable {
        endpoint: endpoint.to_string(),
        reason,
    }
}

/// Connects without trusting anything yet, completes a verified handshake, and returns the
/// certificate the gateway proved it holds. Sends nothing but `GET /v1/provider`.
pub async fn probe(address: &str, port: u16, ca: bool) -> Result<Probe, TenantError> {
    let client = if ca {
        GatewayClient::ca(address, port, None)
    } else {
        GatewayClient::capture(address, port)
    }
    .map_err(TenantError::BadInput)?;
    let provider = match client.request("GET", "/v1/provider", None, None).await {
        Ok(reply) if reply.status == 200 => reply.json,
        Ok(_) => serde_json::Value::Null,
        Err(ConnectError::Untrusted(reason)) => {
            return Err(TenantError::Untrusted {
                endpoint: client.endpoint().to_string(),
                reason,
            });
        }
        Err(ConnectError::Other(reason)) if client.presented_chain().is_none() => {
            return Err(unreachable(client.endpoint(), reason));
        }
        Err(_) => serde_json::Value::Null,
    };
    let chain = client
        .presented_chain()
        .ok_or_else(|| unreachable(client.endpoint(), "no certificate was presented".into()))?;
    let cert = CertificateInfo::from_der(&chain[0])?;
    Ok(Probe {
        cert,
        chain,
        provider,
    })
}

/// What `add` needs beyond the probe.
pub struct AddRequest<'a> {
    /// The tenant's name for the provider.
    pub name: &'a str,
    /// Gateway host.
    pub address: &'a str,
    /// Gateway port.
    pub port: u16,
    /// Free text.
    pub description: &'a str,
    /// Tenant user name.
    pub username: &'a str,
    /// Tenant password (sent only over the pinned channel).
    pub password: &'a str,
    /// Trust the system roots and host name instead of a pin (`--trust ca`).
    pub ca: bool,
}

fn refusal(reply: &Reply) -> (String, String) {
    (
        reply.json["code"].as_str().unwrap_or("unknown").to_string(),
        reply.json["message"]
            .as_str()
            .unwrap_or("no reason given")
            .to_string(),
    )
}

/// Enrolls over a channel pinned to the verified probe certificate, then saves the provider and
/// the client key. Nothing is saved if anything fails.
pub async fn add_provider(
    paths: &TenantPaths,
    req: AddRequest<'_>,
    verified: &Probe,
) -> Result<PinnedProvider, TenantError> {
    let db = paths.db().await?;
    match db.get(req.name).await {
        Ok(_) => return Err(cloudgate_db::DbError::ProviderExists(req.name.to_string()).into()),
        Err(cloudgate_db::DbError::NoSuchProvider(_)) => {}
        Err(e) => return Err(e.into()),
    }
    let host = cloudgate_store::license::host_name();
    let generated = cloudgate_pki::generate_self_signed(&cloudgate_pki::SelfSignedRequest {
        key_type: cloudgate_pki::KeyType::EcdsaP256,
        subject: cloudgate_pki::dn::SubjectName::parse(&format!(
            "CN={}@{}",
            req.username,
            host.replace(',', "_")
        ))
        .unwrap_or_else(|_| cloudgate_pki::dn::SubjectName::for_licensee("cloudgate tenant")),
        sans: vec![],
        valid_days: 3650,
        now: time::OffsetDateTime::now_utc(),
    })?;
    let identity = ClientIdentity {
        cert_der: generated.cert_der.clone(),
        key_der: generated.key_pkcs8_der.clone(),
    };
    let pin = verified.cert.fingerprints.sha256;
    let client = GatewayClient::pinned(req.address, req.port, vec![pin], Some(&identity))
        .map_err(TenantError::BadInput)?;
    let body = serde_json::json!({ "client_cert_pem": cloudgate_pki::pem::encode_certificate(&identity.cert_der) });
    let reply = match client
        .request(
            "POST",
            "/v1/enroll",
            Some((req.username, req.password)),
            Some(body),
        )
        .await
    {
        Ok(r) => r,
        Err(ConnectError::Pin(p)) => {
            return Err(TenantError::ThumbprintMismatch {
                endpoint: client.endpoint().to_string(),
                thumbprint: p
                    .presented_fingerprints
                    .map(|f| f.thumbprint())
                    .unwrap_or_default(),
                sha256: p.presented,
            });
        }
        Err(ConnectError::Untrusted(reason)) => {
            return Err(TenantError::Untrusted {
                endpoint: client.endpoint().to_string(),
                reason,
            });
        }
        Err(ConnectError::Other(reason)) => return Err(unreachable(client.endpoint(), reason)),
    };
    match reply.status {
        200 => {}
        401 | 403 => {
            let (code, message) = refusal(&reply);
            return Err(TenantError::Authentication(format!("{message} ({code})")));
        }
        status => {
            let (code, message) = refusal(&reply);
            return Err(TenantError::Refused {
                status,
                code,
                message,
            });
        }
    }
    let services: Vec<String> = reply.json["services"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let key_path = paths.key_path(req.name);
    fsio::ensure_private_dir(&paths.keys_dir(), &FileOwnership::owner_only())?;
    let key_pem = cloudgate_pki::pem::encode_pkcs8_key(&identity.key_der);
    fsio::write_new_file(&key_path, key_pem.as_bytes(), FileSpec::owner_only())?;
    let now = cloudgate_pki::format_rfc3339(time::OffsetDateTime::now_utc());
    let f = &verified.cert.fingerprints;
    let provider = PinnedProvider {
        name: req.name.to_string(),
        address: req.address.to_string(),
        port: req.port,
        description: req.description.to_string(),
        trust: if req.ca { "ca".into() } else { "pinned".into() },
        cert_der: verified.cert.der.clone(),
        thumbprint: f.thumbprint(),
        sha256: f.sha256_hex(),
        spki_sha256: f.spki_pin(),
        first_seen: now.clone(),
        last_seen: now,
        username: req.username.to_string(),
        client_cert_der: identity.cert_der.clone(),
        services,
        successor_der: None,
    };
    if let Err(e) = db.add(&provider).await {
        let _ = std::fs::remove_file(&key_path);
        return Err(e.into());
    }
    Ok(provider)
}

fn pinned_client(paths: &TenantPaths, p: &PinnedProvider) -> Result<GatewayClient, TenantError> {
    let identity = paths.load_identity(p)?;
    if p.trust == "ca" {
        return GatewayClient::ca(&p.address, p.port, Some(&identity))
            .map_err(TenantError::BadInput);
    }
    let pinned = CertificateInfo::from_der(&p.cert_der)?;
    let renewal = cloudgate_pki::verify::RenewalRule {
        spki_sha256: pinned.fingerprints.spki_sha256,
        subject: pinned.subject.clone(),
    };
    let mut pins = vec![pinned.fingerprints.sha256];
    if let Some(successor) = p
        .successor_der
        .as_deref()
        .and_then(|d| CertificateInfo::from_der(d).ok())
    {
        pins.push(successor.fingerprints.sha256);
    }
    GatewayClient::pinned_or_renewed(&p.address, p.port, pins, renewal, Some(&identity))
        .map_err(TenantError::BadInput)
}

fn trust_failure(
    p: &PinnedProvider,
    endpoint: &str,
    mismatch: cloudgate_pki::verify::PinMismatch,
) -> TenantError {
    let expected = CertificateInfo::from_der(&p.cert_der).ok();
    TenantError::PinMismatch(Box::new(TrustFailure {
        provider: p.name.clone(),
        endpoint: endpoint.to_string(),
        expected_thumbprint: p.thumbprint.clone(),
        expected_sha256: expected
            .map(|c| c.fingerprints.sha256_colons())
            .unwrap_or_else(|| p.sha256.clone()),
        presented: mismatch.presented_fingerprints,
        presented_sha256: mismatch.presented,
        first_seen: p.first_seen.clone(),
        compromised: false,
    }))
}

/// What `check` found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CheckReport {
    /// Provider name.
    pub name: String,
    /// `address:port`.
    pub endpoint: String,
    /// The pinned (and presented) thumbprint.
    pub thumbprint: String,
    /// The tenant this machine is enrolled as.
    pub tenant: String,
    /// Services offered now.
    pub services: Vec<String>,
    /// Days until the pinned certificate expires.
    pub days_left: i64,
}

/// Connects with the pin and the client certificate and asks who we are. A certificate that is not
/// pinned is accepted only as a renewal (same key and subject), as an announced successor, or with
/// a rollover proof signed by the pinned key; otherwise it is a trust failure.
pub async fn check(paths: &TenantPaths, name: &str) -> Result<CheckReport, TenantError> {
    let mut failure = match check_once(paths, name).await {
        Err(TenantError::PinMismatch(f)) => f,
        other => return other,
    };
    let outcome = follow_rollover_proof(paths, name).await?;
    if !matches!(outcome, ProofOutcome::Followed) {
        paths.audit(
            "provider.refused",
            "the provider presented a certificate that is not pinned",
            serde_json::json!({
                "provider": failure.provider,
                "pinned_thumbprint": failure.expected_thumbprint,
                "presented_sha256": failure.presented_sha256,
            }),
        );
    }
    match outcome {
        ProofOutcome::Followed => check_once(paths, name).await,
        ProofOutcome::Compromised => {
            failure.compromised = true;
            Err(TenantError::PinMismatch(failure))
        }
        ProofOutcome::None => Err(TenantError::PinMismatch(failure)),
    }
}

enum ProofOutcome {
    Followed,
    Compromised,
    None,
}

/// After a pin mismatch: asks the gateway now at the address (its handshake proves it holds the
/// presented certificate's key) for a rollover proof signed by the pinned key, and follows it.
async fn follow_rollover_proof(
    paths: &TenantPaths,
    name: &str,
) -> Result<ProofOutcome, TenantError> {
    let db = paths.db().await?;
    let p = db.get(name).await?;
    if p.trust == "ca" {
        return Ok(ProofOutcome::None);
    }
    let probe = probe(&p.address, p.port, false).await?;
    let rollover = &probe.provider["rollover"];
    if rollover["compromised"].as_bool() == Some(true) {
        paths.audit(
            "provider.rollover_refused",
            "the provider switched certificates without a proof (previous key marked compromised)",
            serde_json::json!({ "provider": p.name, "pinned_sha256": p.sha256, "presented_sha256": probe.cert.fingerprints.sha256_hex() }),
        );
        return Ok(ProofOutcome::Compromised);
    }
    let Some(proof) = cloudgate_pki::rollover::RolloverProof::from_json(&rollover["proof"]) else {
        return Ok(ProofOutcome::None);
    };
    let pinned = CertificateInfo::from_der(&p.cert_der)?;
    let f = &probe.cert.fingerprints;
    if !proof.verifies(&pinned, &f.sha256) {
        tracing::warn!(provider = %p.name, presented_sha256 = %f.sha256_hex(), "rollover proof does not verify against the pinned key: refused");
        paths.audit(
            "provider.rollover_refused",
            "rollover proof does not verify against the pinned key",
            serde_json::json!({ "provider": p.name, "pinned_sha256": p.sha256, "presented_sha256": f.sha256_hex() }),
        );
        return Ok(ProofOutcome::None);
    }
    move_pin(
        paths,
        &db,
        &p,
        &probe.cert,
        PinMove {
            event: "provider.rollover",
            log: "rollover (proof verified): the pinned key signed the handover to the new certificate; pin moved",
            audit: "rollover (proof verified)",
            clear_successor: true,
        },
    )
    .await?;
    Ok(ProofOutcome::Followed)
}

/// Learns a successor the gateway announces, if its proof verifies against the pinned key.
async fn learn_successor(
    db: &TenantDb,
    name: &str,
    client: &GatewayClient,
) -> Result<(), TenantError> {
    let p = db.get(name).await?;
    let Ok(reply) = client.request("GET", "/v1/provider", None, None).await else {
        return Ok(());
    };
    let announced = &reply.json["successor"];
    if announced.is_null() {
        return Ok(());
    }
    let der = announced["certificate_pem"]
        .as_str()
        .and_then(|pem| cloudgate_pki::pem::decode_certificates(pem.as_bytes()).ok())
        .and_then(|c| c.into_iter().next());
    let proof = cloudgate_pki::rollover::RolloverProof::from_json(&announced["proof"]);
    let (Some(der), Some(proof)) = (der, proof) else {
        return Ok(());
    };
    let successor = CertificateInfo::from_der(&der)?;
    let pinned = CertificateInfo::from_der(&p.cert_der)?;
    if !proof.verifies(&pinned, &successor.fingerprints.sha256) {
        tracing::warn!(provider = %name, "the provider announced a successor whose rollover proof does not verify; ignored");
        return Ok(());
    }
    if p.successor_der.as_deref() != Some(der.as_slice()) {
        db.set_successor(name, Some(&der)).await?;
        tracing::warn!(
            provider = %name,
            successor_thumbprint = %successor.fingerprints.thumbprint(),
            successor_sha256 = %successor.fingerprints.sha256_hex(),
            "successor announced with a valid rollover proof; it will be accepted when the provider switches"
        );
    }
    Ok(())
}

async fn check_once(paths: &TenantPaths, name: &str) -> Result<CheckReport, TenantError> {
    let db = paths.db().await?;
    let p = db.get(name).await?;
    let client = pinned_client(paths, &p)?;
    let reply = match client.request("GET", "/v1/tenant", None, None).await {
        Ok(r) => r,
        Err(ConnectError::Pin(m)) => return Err(trust_failure(&p, client.endpoint(), *m)),
        Err(ConnectError::Untrusted(reason)) => {
            return Err(TenantError::Untrusted {
                endpoint: client.endpoint().to_string(),
                reason,
            });
        }
        Err(ConnectError::Other(reason)) => return Err(unreachable(client.endpoint(), reason)),
    };
    if reply.status != 200 {
        let (code, message) = refusal(&reply);
        return Err(if reply.status == 401 || reply.status == 403 {
            TenantError::Authentication(format!("{message} ({code})"))
        } else {
            TenantError::Refused {
                status: reply.status,
                code,
                message,
            }
        });
    }
    let services: Vec<String> = reply.json["services"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    db.seen(name, &services).await?;
    let mut thumbprint = p.thumbprint.clone();
    if let Some(renewed) = follow_moved_pin(paths, &db, &p, &client).await? {
        thumbprint = renewed;
    }
    learn_successor(&db, name, &client).await?;
    let days_left =
        CertificateInfo::from_der(&p.cert_der)?.days_left(time::OffsetDateTime::now_utc());
    Ok(CheckReport {
        name: p.name.clone(),
        endpoint: client.endpoint().to_string(),
        thumbprint,
        tenant: reply.json["tenant"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        services,
        days_left,
    })
}

/// Why a pin moves without asking, for the log line and the audit event.
struct PinMove {
    event: &'static str,
    log: &'static str,
    audit: &'static str,
    clear_successor: bool,
}

/// Moves a provider's pin to `presented` (first-seen kept: the trust is continuous), and logs and
/// audits the move with both fingerprints.
async fn move_pin(
    paths: &TenantPaths,
    db: &TenantDb,
    p: &PinnedProvider,
    presented: &CertificateInfo,
    how: PinMove,
) -> Result<(), TenantError> {
    let f = &presented.fingerprints;
    db.repin(
        &p.name,
        &presented.der,
        &f.thumbprint(),
        &f.sha256_hex(),
        &f.spki_pin(),
        true,
    )
    .await?;
    if how.clear_successor {
        db.set_successor(&p.name, None).await?;
    }
    tracing::warn!(
        provider = %p.name,
        old_thumbprint = %p.thumbprint,
        old_sha256 = %p.sha256,
        new_thumbprint = %f.thumbprint(),
        new_sha256 = %f.sha256_hex(),
        "{}",
        how.log
    );
    paths.audit(
        how.event,
        how.audit,
        serde_json::json!({ "provider": p.name, "old_sha256": p.sha256, "new_sha256": f.sha256_hex() }),
    );
    Ok(())
}

/// When the gateway presented a renewal of the pinned certificate (same key and subject, which the
/// verifier checked) or the announced successor, moves the pin to it. Returns the new thumbprint.
async fn follow_moved_pin(
    paths: &TenantPaths,
    db: &TenantDb,
    p: &PinnedProvider,
    client: &GatewayClient,
) -> Result<Option<String>, TenantError> {
    let Some(chain) = client.presented_chain() else {
        return Ok(None);
    };
    let presented = CertificateInfo::from_der(&chain[0])?;
    let f = &presented.fingerprints;
    if f.sha256_hex() == p.sha256 {
        return Ok(None);
    }
    let was_successor = p.successor_der.as_deref() == Some(presented.der.as_slice());
    let how = if was_successor {
        PinMove {
            event: "provider.rollover",
            log: "rollover (proof verified): the provider switched to the announced successor; pin moved",
            audit: "rollover to the announced successor (proof verified)",
            clear_successor: true,
        }
    } else {
        PinMove {
            event: "provider.renewed",
            log: "renewed (same key): the service provider renewed its certificate; pin moved",
            audit: "renewed (same key)",
            clear_successor: false,
        }
    };
    move_pin(paths, db, p, &presented, how).await?;
    Ok(Some(f.thumbprint()))
}

/// Moves a provider's pin to a certificate the user verified (after `refresh`).
pub async fn refresh_pin(
    paths: &TenantPaths,
    name: &str,
    verified: &Probe,
) -> Result<(), TenantError> {
    let db = paths.db().await?;
    let f = &verified.cert.fingerprints;
    db.repin(
        name,
        &verified.cert.der,
        &f.thumbprint(),
        &f.sha256_hex(),
        &f.spki_pin(),
        false,
    )
    .await?;
    Ok(())
}

/// Accepts local connections on `listener` and carries each through a new pinned, mutually
/// authenticated tunnel to `service`. Checks the pin once before accepting anything; a pin
/// mismatch later stops the listener with the trust failure. Runs until `shutdown` resolves.
pub async fn serve_tunnel(
    paths: &TenantPaths,
    name: &str,
    service: &str,
    listener: TcpListener,
    shutdown: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
) -> Result<(), TenantError> {
    check(paths, name).await?;
    let db = paths.db().await?;
    let p = db.get(name).await?;
    let client = Arc::new(pinned_client(paths, &p)?);
    let (fail_tx, mut fail_rx) = tokio::sync::mpsc::channel::<TenantError>(1);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => return Ok(()),
            Some(e) = fail_rx.recv() => return Err(e),
            accepted = listener.accept() => {
                let Ok((mut local, peer)) = accepted else { continue };
                let _ = local.set_nodelay(true);
                let client = client.clone();
                let service = service.to_string();
                let provider = p.clone();
                let fail = fail_tx.clone();
                tokio::spawn(async move {
                    match client.open_tunnel(&service).await {
                        Ok(Ok(mut upstream)) => {
                            match tokio::io::copy_bidirectional(&mut local, &mut upstream).await {
                                Ok((up, down)) => tracing::info!(peer = %peer, service = %service, bytes_up = up, bytes_down = down, "tunnel connection closed"),
                                Err(e) => tracing::info!(peer = %peer, service = %service, error = %e, "tunnel connection ended"),
                            }
                        }
                        Ok(Err(reply)) => {
                            let (code, message) = refusal(&reply);
                            tracing::warn!(service = %service, code = %code, "the service provider refused the tunnel: {message}");
                        }
                        Err(ConnectError::Pin(m)) => {
                            let _ = fail.send(trust_failure(&provider, client.endpoint(), *m)).await;
                        }
                        Err(ConnectError::Untrusted(reason)) => {
                            let _ = fail.send(TenantError::Untrusted { endpoint: client.endpoint().to_string(), reason }).await;
                        }
                        Err(ConnectError::Other(reason)) => {
                            tracing::warn!(endpoint = %client.endpoint(), "cannot reach the service provider ({reason}); the next connection tries again");
                        }
                    }
                });
            }
        }
    }
}
