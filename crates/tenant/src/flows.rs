//! The tenant flows: probe, add (enroll over the pinned channel, then save), check, refresh and
//! remove. Trust decisions are the state machine's (`trust.rs`), persisted by the session.

use cloudgate_db::{PinUpdate, PinnedProvider, TrustMode};
use cloudgate_pki::CertificateInfo;
use cloudgate_proto::{
    CONFIRMED_HEADER, EnrollReply, EnrollRequest, ProviderInfo, SUCCESSOR_HEADER, TenantInfo,
};
use cloudgate_store::FileOwnership;
use cloudgate_store::fsio::{self, FileSpec};

use crate::client::{ClientIdentity, ConnectError, GatewayClient};
use crate::error::TenantError;
use crate::paths::TenantPaths;
use crate::session::{Session, refusal_error};
use crate::trust::TrustState;

/// What the first contact learned.
#[derive(Debug, Clone)]
pub struct Probe {
    /// The presented certificate, parsed.
    pub cert: CertificateInfo,
    /// The presented chain (leaf first).
    pub chain: Vec<Vec<u8>>,
    /// `GET /v1/provider`, when the peer answered it with what a gateway answers.
    pub provider: Option<ProviderInfo>,
}

pub(crate) fn unreachable(endpoint: &str, reason: String) -> TenantError {
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
        Ok(reply) if reply.status == 200 => reply.typed::<ProviderInfo>(),
        Ok(_) => None,
        Err(ConnectError::Untrusted(reason)) => {
            return Err(TenantError::Untrusted {
                endpoint: client.endpoint().to_string(),
                reason,
            });
        }
        Err(ConnectError::Other(reason)) if client.presented_chain().is_none() => {
            return Err(unreachable(client.endpoint(), reason));
        }
        Err(_) => None,
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

/// How this machine proves it may enroll for a tenant.
pub enum Credentials<'a> {
    /// The tenant's user name and password.
    Password {
        /// Tenant user name.
        username: &'a str,
        /// Tenant password (sent only over the pinned channel).
        password: &'a str,
    },
    /// A join token (its id and secret are sent only over the pinned channel); the tenant's
    /// name comes back in the answer.
    JoinToken(&'a cloudgate_pki::join_token::JoinToken),
}

/// A gateway that presented a certificate other than the one verified (or pinned by a token).
fn presented_other(endpoint: &str, p: cloudgate_pki::verify::PinMismatch) -> TenantError {
    TenantError::ThumbprintMismatch {
        endpoint: endpoint.to_string(),
        thumbprint: p
            .presented_fingerprints
            .map(|f| f.thumbprint())
            .unwrap_or_default(),
        sha256: p.presented,
    }
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
    /// How to enroll.
    pub credentials: Credentials<'a>,
    /// How the provider is to be trusted from now on; the probe was made accordingly (a
    /// chain checked against the roots for `ca` and `ca+pin`).
    pub trust: TrustMode,
}

/// First contact through a join token: only a gateway presenting one of the token's keys
/// completes the handshake, so an impostor learns nothing, not even the request.
pub async fn probe_pinned_keys(
    address: &str,
    port: u16,
    pins: &[[u8; 32]],
) -> Result<Probe, TenantError> {
    let client =
        GatewayClient::pinned_keys(address, port, pins.to_vec()).map_err(TenantError::BadInput)?;
    let provider = match client.request("GET", "/v1/provider", None, None).await {
        Ok(reply) if reply.status == 200 => reply.typed::<ProviderInfo>(),
        Ok(_) => None,
        Err(ConnectError::Pin(p)) => return Err(presented_other(client.endpoint(), *p)),
        Err(ConnectError::Untrusted(reason)) | Err(ConnectError::Other(reason)) => {
            return Err(unreachable(client.endpoint(), reason));
        }
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

/// `tenant join`: tries the token's addresses in turn; the first gateway that answers must
/// present a pinned key (else: a trust failure, and nothing was sent), and this machine
/// enrolls with the token over a connection pinned to that certificate.
pub async fn join(
    paths: &TenantPaths,
    token: &cloudgate_pki::join_token::JoinToken,
    name: Option<&str>,
    description: &str,
) -> Result<PinnedProvider, TenantError> {
    let mut last = None;
    for address in &token.addresses {
        let hp = cloudgate_addr::HostPort::parse(address, Some(cloudgate_addr::GATEWAY_PORT))
            .map_err(|e| TenantError::BadInput(format!("the join token's address {e}")))?;
        match probe_pinned_keys(&hp.host, hp.port, &token.pins).await {
            Ok(probe) => {
                let default_name = hp.to_string();
                return add_provider(
                    paths,
                    AddRequest {
                        name: name.unwrap_or(&default_name),
                        address: &hp.host,
                        port: hp.port,
                        description,
                        credentials: Credentials::JoinToken(token),
                        trust: TrustMode::Pinned,
                    },
                    &probe,
                )
                .await;
            }
            Err(e @ TenantError::Unreachable { .. }) => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| TenantError::BadInput("the join token names no address".into())))
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
    let identity = new_client_identity(&req.credentials)?;
    let pin = verified.cert.fingerprints.sha256;
    let client = GatewayClient::pinned(req.address, req.port, vec![pin], Some(&identity))
        .map_err(TenantError::BadInput)?;
    // The host name labels this machine in the SP's list of enrolled machines.
    let enrolled = send_enrollment(&client, &req.credentials, &identity).await?;
    let services = enrolled.services;
    let username = match &req.credentials {
        Credentials::Password { username, .. } => username.to_string(),
        Credentials::JoinToken(_) => enrolled.tenant,
    };
    let key_path = paths.key_path(req.name);
    fsio::ensure_private_dir(&paths.keys_dir(), &FileOwnership::owner_only())?;
    let key_pem = cloudgate_pki::pem::encode_pkcs8_key(&identity.key_der);
    fsio::write_new_file(&key_path, key_pem.as_bytes(), FileSpec::owner_only())?;
    let now = time::OffsetDateTime::now_utc();
    let f = &verified.cert.fingerprints;
    let provider = PinnedProvider {
        name: req.name.to_string(),
        address: req.address.to_string(),
        port: req.port,
        description: req.description.to_string(),
        trust: req.trust,
        cert_der: verified.cert.der.clone(),
        thumbprint: f.thumbprint(),
        sha256: f.sha256_hex(),
        spki_sha256: f.spki_pin(),
        first_seen: now,
        last_seen: now,
        username,
        client_cert_der: identity.cert_der.clone(),
        services,
        learned_chain: Vec::new(),
        compromised: false,
        // The gateways the verified gateway told of, so tunnels can fail over from the start.
        gateways: told_gateways(verified.provider.as_ref()),
    };
    if let Err(e) = db.add(&provider).await {
        let _ = std::fs::remove_file(&key_path);
        return Err(e.into());
    }
    paths.audit(
        "provider.added",
        "provider added; certificate verified by the user and pinned",
        serde_json::json!({ "provider": provider.name, "endpoint": cloudgate_addr::endpoint(&provider.address, provider.port),
            "trust": provider.trust.as_str(), "sha256": provider.sha256, "username": provider.username }),
    );
    Ok(provider)
}

/// The addresses a provider's answer tells of, as the tenant keeps them: only what parses as
/// `HOST:PORT` (no spaces or control characters a later listing would print), in its one form.
fn told_gateways(info: Option<&ProviderInfo>) -> Vec<String> {
    info.map(|i| {
        i.gateways
            .iter()
            .filter_map(|g| {
                cloudgate_addr::HostPort::parse(&g.address, Some(cloudgate_addr::GATEWAY_PORT))
                    .ok()
                    .map(|hp| cloudgate_addr::endpoint(&hp.host, hp.port))
            })
            .take(crate::client::MAX_GATEWAYS)
            .collect()
    })
    .unwrap_or_default()
}

/// This machine's client certificate and key for a provider, named after the user (or token)
/// and the host: ECDSA P-256, ten years (revoked by the SP, not by expiry).
fn new_client_identity(credentials: &Credentials<'_>) -> Result<ClientIdentity, TenantError> {
    let host = cloudgate_store::license::host_name();
    let who = match credentials {
        Credentials::Password { username, .. } => username.to_string(),
        Credentials::JoinToken(t) => format!("token-{}", &t.id_hex()[..8]),
    };
    let generated = cloudgate_pki::generate_self_signed(&cloudgate_pki::SelfSignedRequest {
        key_type: cloudgate_pki::KeyType::EcdsaP256,
        subject: cloudgate_pki::dn::SubjectName::parse(&format!(
            "CN={}@{}",
            who.replace(',', "_"),
            host.replace(',', "_")
        ))
        .unwrap_or_else(|_| cloudgate_pki::dn::SubjectName::for_licensee("cloudgate tenant")),
        sans: vec![],
        valid_days: 3650,
        now: time::OffsetDateTime::now_utc(),
    })?;
    Ok(ClientIdentity {
        cert_der: generated.cert_der.clone(),
        key_der: generated.key_pkcs8_der.clone(),
    })
}

/// Sends the enrollment over the pinned client and returns the gateway's typed answer.
async fn send_enrollment(
    client: &GatewayClient,
    credentials: &Credentials<'_>,
    identity: &ClientIdentity,
) -> Result<EnrollReply, TenantError> {
    let body = EnrollRequest {
        client_cert_pem: cloudgate_pki::pem::encode_certificate(&identity.cert_der),
        label: Some(cloudgate_store::license::host_name()),
    };
    let body = serde_json::to_value(&body).ok();
    let sent = match credentials {
        Credentials::Password { username, password } => {
            client
                .request("POST", "/v1/enroll", Some((username, password)), body)
                .await
        }
        Credentials::JoinToken(t) => {
            let bearer = t.bearer();
            client
                .request_with(
                    "POST",
                    "/v1/enroll",
                    None,
                    body,
                    &[("authorization", bearer.to_string())],
                )
                .await
        }
    };
    let reply = match sent {
        Ok(r) => r,
        Err(ConnectError::Pin(p)) => return Err(presented_other(client.endpoint(), *p)),
        Err(ConnectError::Untrusted(reason)) => {
            return Err(TenantError::Untrusted {
                endpoint: client.endpoint().to_string(),
                reason,
            });
        }
        Err(ConnectError::Other(reason)) => return Err(unreachable(client.endpoint(), reason)),
    };
    if reply.status != 200 {
        return Err(refusal_error(&reply));
    }
    reply.typed::<EnrollReply>().ok_or_else(|| {
        unreachable(
            client.endpoint(),
            "the gateway's answer to the enrollment is not what a cloudgate gateway sends".into(),
        )
    })
}

/// What `check` found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CheckReport {
    /// Provider name.
    pub name: String,
    /// The gateway's host (the same key as in `provider show`).
    pub address: String,
    /// The gateway's port.
    pub port: u16,
    /// `HOST:PORT` of the gateway that answered (the address above unless it did not answer
    /// and a gateway the provider told of did).
    pub gateway: String,
    /// Whether the address the user gave answered (the trust state was heard there).
    pub first_contact_answered: bool,
    /// The pinned (and presented) thumbprint.
    pub thumbprint: String,
    /// The tenant this machine is enrolled as (`username`, as in `provider show`).
    pub username: String,
    /// Services offered now.
    pub services: Vec<String>,
    /// Days until the pinned certificate expires.
    pub days_left: i64,
    /// The thumbprint of a successor the provider announced with a valid proof, if any.
    pub successor_thumbprint: Option<String>,
}

/// Connects over a trusted channel, learns an announced successor, and asks who we are,
/// telling the gateway which certificate this machine trusts. A certificate with another key is
/// followed only along verified rollover proofs from the pinned key; anything else is a trust
/// failure (exit 3), audited. A disabled account is an authentication failure (exit 4).
pub async fn check(paths: &TenantPaths, name: &str) -> Result<CheckReport, TenantError> {
    let session = Session::open(paths, name).await?;
    check_session(&session).await
}

pub(crate) async fn check_session(session: &Session) -> Result<CheckReport, TenantError> {
    // The trust state is heard at the address the user gave, whatever the told list says.
    let (p, doc, heard_at) = session.request("GET", "/v1/provider", &[]).await?;
    let info = doc.typed::<ProviderInfo>().filter(|_| doc.status == 200);
    // The live gateways of this tenant's pool, as the provider tells them now.
    let told: Option<Vec<String>> = info.as_ref().map(|i| told_gateways(Some(i)));
    let p = match info {
        Some(info) => session.learn(&p, &info.trust).await?,
        None => p,
    };
    let state = TrustState::of(&p)?;
    let successor = state.successor();
    let mut headers = vec![(CONFIRMED_HEADER, p.sha256.clone())];
    if let Some(s) = &successor {
        headers.push((SUCCESSOR_HEADER, s.fingerprints.sha256_hex()));
    }
    let (p, reply, gateway) = session.request("GET", "/v1/tenant", &headers).await?;
    if reply.status != 200 {
        return Err(refusal_error(&reply));
    }
    let info = reply.typed::<TenantInfo>().ok_or_else(|| {
        unreachable(
            &cloudgate_addr::endpoint(&p.address, p.port),
            "the gateway's answer is not what a cloudgate gateway sends".into(),
        )
    })?;
    let services = info.services;
    let db = session.db();
    db.seen(&p.name, &services, told.as_deref()).await?;
    let days_left =
        CertificateInfo::from_der(&p.cert_der)?.days_left(time::OffsetDateTime::now_utc());
    let first_contact = cloudgate_addr::endpoint(&p.address, p.port);
    Ok(CheckReport {
        name: p.name.clone(),
        first_contact_answered: heard_at == first_contact,
        address: p.address.clone(),
        port: p.port,
        gateway,
        thumbprint: p.thumbprint.clone(),
        username: info.tenant,
        services,
        days_left,
        successor_thumbprint: successor.map(|s| s.fingerprints.thumbprint()),
    })
}

/// Moves a provider's pin to a certificate the user verified by hand (`refresh`): first-seen
/// starts again, every successor and proof learned before is dropped, as are the gateways told
/// before, and a compromise flag is cleared. Audited with both fingerprints.
pub async fn refresh_pin(
    paths: &TenantPaths,
    name: &str,
    verified: &Probe,
) -> Result<(), TenantError> {
    let db = paths.db().await?;
    let old = db.get(name).await?;
    let sha256 = verified.cert.fingerprints.sha256_hex();
    db.save_trust(
        name,
        Some(PinUpdate {
            cert_der: &verified.cert.der,
            keep_first_seen: false,
        }),
        &[],
        false,
    )
    .await?;
    // The gateways told under the old trust are forgotten too: whoever held that key may have
    // told them. The next check learns the list anew from a gateway with the verified key.
    db.seen(name, &old.services, Some(&[])).await?;
    paths.audit(
        "provider.refreshed",
        "pin moved to a certificate the user verified by hand; learned successors dropped",
        serde_json::json!({ "provider": name, "old_sha256": old.sha256, "new_sha256": sha256,
            "was_compromised": old.compromised }),
    );
    Ok(())
}

/// Forgets a provider and this machine's client key for it. Audited.
pub async fn remove_provider(
    paths: &TenantPaths,
    name: &str,
) -> Result<PinnedProvider, TenantError> {
    let db = paths.db().await?;
    let p = db.get(name).await?;
    db.remove(name).await?;
    let _ = std::fs::remove_file(paths.key_path(name));
    paths.audit(
        "provider.removed",
        "provider removed with its pin and this machine's client key",
        serde_json::json!({ "provider": name, "sha256": p.sha256 }),
    );
    Ok(p)
}
