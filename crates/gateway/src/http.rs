//! The three routes: provider data, enrollment, tunnels. Every refusal is JSON with a stable
//! `code`; nothing a tenant sends (password, body) is ever logged.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use cloudgate_errors::Classify;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, WWW_AUTHENTICATE};
use hyper::{Request, Response, StatusCode};
use zeroize::Zeroizing;

use crate::authz::{Origin, authorize};
use crate::body::{BodyError, read_capped};
use crate::config::GatewayConfig;
use crate::last_seen::LastSeen;
use crate::metrics::Metrics;
use crate::request::{EnrollBodyError, Route, basic_credentials, enroll_request, route};
use crate::state::SharedState;
use cloudgate_proto::{
    CertificateSummary, EnrollReply, ErrorBody, ErrorCode, ProviderInfo, Software, TenantInfo,
};
use cloudgate_sp::throttle::{Account, AccountLockout, EnrollThrottle};

/// What the TLS layer learned about a connection.
pub struct ConnInfo {
    /// The client's address.
    pub peer: SocketAddr,
    /// SHA-256 (uppercase hex) and DER of the client certificate, if one was presented.
    pub client_cert: Option<(String, Vec<u8>)>,
}

/// Everything a request handler needs.
pub struct Ctx {
    pub state: Arc<SharedState>,
    pub fleet: Arc<crate::fleet::Fleet>,
    pub config: GatewayConfig,
    pub throttle: EnrollThrottle,
    /// Wrong passwords per tenant account, across the fleet.
    pub lockout: AccountLockout,
    pub metrics: Arc<Metrics>,
    pub last_seen: LastSeen,
    /// What tenants use, flushed to the SP database.
    pub usage: Arc<crate::usage::UsageBook>,
    /// Tenants' rates, and what other gateways have open.
    pub limits: Arc<crate::limits::Limits>,
    /// Wakes the limits' refresh when a limited tenant's tunnel opens or closes.
    pub limits_nudge: Arc<tokio::sync::Notify>,
}

pub(crate) type Resp = Response<Full<Bytes>>;

fn json<T: serde::Serialize>(status: StatusCode, value: &T) -> Resp {
    // Our own types always serialise; an empty object is the impossible fallback.
    let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    // An API, never a page: nothing to cache, frame, sniff or refer, and HTTPS only.
    for (name, value) in SECURITY_HEADERS {
        h.insert(name.clone(), hyper::header::HeaderValue::from_static(value));
    }
    r
}

/// Sent with every answer (found missing by testssl.sh; see `security/testssl.sh`).
const SECURITY_HEADERS: &[(hyper::header::HeaderName, &str)] = &[
    (hyper::header::STRICT_TRANSPORT_SECURITY, "max-age=31536000"),
    (hyper::header::CACHE_CONTROL, "no-store"),
    (hyper::header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (hyper::header::X_FRAME_OPTIONS, "DENY"),
    (
        hyper::header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; frame-ancestors 'none'",
    ),
    (hyper::header::REFERRER_POLICY, "no-referrer"),
];

pub(crate) fn error(code: ErrorCode, message: &str) -> Resp {
    error_retry(code, message, None)
}

/// A refusal that says when trying again makes sense (also as `Retry-After`).
pub(crate) fn error_retry(code: ErrorCode, message: &str, retry_after: Option<u64>) -> Resp {
    let status = StatusCode::from_u16(code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = json(
        status,
        &ErrorBody {
            code: code.name().to_string(),
            message: message.to_string(),
            retry_after,
        },
    );
    if let Some(secs) = retry_after {
        r.headers_mut().insert(
            hyper::header::RETRY_AFTER,
            hyper::header::HeaderValue::from(secs),
        );
    }
    // Kept on the response for the metrics, which count by code rather than by status.
    r.extensions_mut().insert(code);
    r
}

/// The refusal an answer carries, if it is one.
pub(crate) fn refusal(r: &Resp) -> Option<ErrorCode> {
    r.extensions().get::<ErrorCode>().copied()
}

/// The answer to a library error the request cannot go on after: its status follows its kind
/// (503 for a busy database, so the tenant tries again), and the message says what failed
/// without the error's own text, which is for the log.
fn library_error(e: &dyn Classify, what: &str) -> Resp {
    error(ErrorCode::for_kind(e.kind()), what)
}

/// Audits a refusal: queued for the journal's next flush, so that no request waits on the
/// database for it (and a flood of refusals costs one write a second).
fn audit_refusal(
    ctx: &Ctx,
    conn: &ConnInfo,
    event: &str,
    message: &str,
    code: ErrorCode,
    service: Option<&str>,
) {
    // A refusal the gateway gives for its own state (busy, degraded) is not the caller's doing.
    if matches!(code, ErrorCode::Unavailable | ErrorCode::Internal) {
        return;
    }
    let mut details = serde_json::json!({
        "reason": code.name(),
        "source": conn.peer.ip().to_string(),
        "gateway": ctx.fleet.identity().id,
    });
    if let Some((sha256, _)) = &conn.client_cert {
        details["client_sha256"] = sha256.as_str().into();
    }
    if let Some(service) = service {
        details["service"] = service.into();
    }
    ctx.state
        .journal()
        .record_repeatable(&cloudgate_sp::Actor::Anonymous, event, message, details);
}

/// Counts and, when refused, audits a tunnel request's answer, whichever way it was read.
pub(crate) fn tunnel_answered(
    ctx: &Ctx,
    conn: &ConnInfo,
    service: &str,
    refused: Option<ErrorCode>,
) {
    match refused {
        Some(code) => {
            audit_refusal(
                ctx,
                conn,
                "tunnel.refused",
                "tunnel refused",
                code,
                Some(service),
            );
            Metrics::count(&ctx.metrics.tunnels, "outcome", "refused");
        }
        None => {
            ctx.metrics.tunnels_opened.inc();
        }
    }
}

/// Handles one request. `guard` keeps the connection counted while a tunnel outlives it.
pub async fn handle<G: Send + Sync + 'static>(
    req: Request<Incoming>,
    conn: Arc<ConnInfo>,
    ctx: Arc<Ctx>,
    guard: Arc<G>,
) -> Result<Resp, Infallible> {
    let path = req.uri().path().to_string();
    let response = match route(req.method().as_str(), &path) {
        Route::Provider => provider(&conn, &ctx),
        Route::Enroll => {
            let r = enroll(req, &conn, &ctx).await;
            let outcome = refusal(&r).map_or("ok", ErrorCode::enrollment_outcome);
            Metrics::count(&ctx.metrics.enrollments, "outcome", outcome);
            if let Some(code) = refusal(&r) {
                audit_refusal(
                    &ctx,
                    &conn,
                    "enroll.refused",
                    "enrollment refused",
                    code,
                    None,
                );
            }
            r
        }
        Route::Tenant => whoami(&req, &conn, &ctx).await,
        Route::Tunnel(service) => {
            let service = service.to_string();
            let r = crate::tunnel::tunnel(req, service.clone(), &conn, &ctx, guard).await;
            tunnel_answered(&ctx, &conn, &service, refusal(&r));
            r
        }
        Route::NotFound => error(
            ErrorCode::NotFound,
            "no such endpoint; see GET /v1/provider",
        ),
    };
    Ok(response)
}

fn provider(conn: &ConnInfo, ctx: &Ctx) -> Resp {
    let snap = ctx.state.current();
    // An enrolled machine is told its own pool's gateways; anyone else this gateway's pool.
    let tenant = conn
        .client_cert
        .as_ref()
        .and_then(|(sha256, _)| snap.db.tenant_of_hex(sha256))
        .and_then(|tenant| snap.db.tenant(tenant));
    let c = &snap.cert;
    let serving = c.fingerprints.sha256_hex();
    let gateways = match tenant {
        Some(t) => ctx
            .fleet
            .endpoints(&t.pool, t.failover_outside_pool, &serving),
        None => ctx
            .fleet
            .endpoints(&ctx.fleet.identity().pool, false, &serving),
    };
    let trust = snap.rollover.published(c);
    let info = ProviderInfo {
        name: snap.provider_name.clone(),
        software: Software {
            name: "cloudgate".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        certificate: CertificateSummary {
            friendly_name: snap.friendly_name.clone(),
            subject: c.subject.clone(),
            issuer: c.issuer.clone(),
            serial: c.serial.clone(),
            thumbprint: c.fingerprints.thumbprint(),
            sha256: c.fingerprints.sha256_hex(),
            spki_sha256: c.fingerprints.spki_pin(),
            not_after: cloudgate_pki::format_rfc3339(c.not_after),
        },
        trust,
        gateways,
        health: ctx.fleet.health(),
    };
    json(StatusCode::OK, &info)
}

/// A SHA-256 in hex from a request header, or nothing.
fn sha256_header(req: &Request<Incoming>, name: &str) -> Option<String> {
    let v = req.headers().get(name)?.to_str().ok()?;
    cloudgate_pki::rollover::parse_hex32(v).map(|d| cloudgate_pki::fingerprint::upper_hex(&d))
}

/// `GET /v1/tenant`: which tenant this client certificate is enrolled for, and its services.
/// A disabled tenant is refused (403), so `tenant check` tells the truth. The certificate the
/// tenant says it trusts is recorded, for the SP's view of adoption.
async fn whoami(req: &Request<Incoming>, conn: &ConnInfo, ctx: &Ctx) -> Resp {
    let Some((sha256, _)) = &conn.client_cert else {
        return error(
            ErrorCode::ClientCertificateRequired,
            "present an enrolled client certificate",
        );
    };
    let snap = ctx.state.current_knowing(sha256).await;
    let tenant = match authorize(&snap.db, sha256, None, Origin::now(conn.peer.ip())) {
        Ok(granted) => granted.tenant,
        Err(denied) => return error(denied.code(), &denied.message_for(&snap.provider_name)),
    };
    if let Some(confirmed) = sha256_header(req, cloudgate_store::CONFIRMED_HEADER) {
        // Bookkeeping, never long in the way of the answer: skipped while the database is
        // down, given two seconds otherwise (done before answering, so the SP's view is current
        // when the check returns).
        let successor = sha256_header(req, cloudgate_store::SUCCESSOR_HEADER);
        if ctx.fleet.health() == cloudgate_proto::Health::Ok {
            let write =
                ctx.state
                    .db()
                    .confirm_client_cert(sha256, &confirmed, successor.as_deref());
            match tokio::time::timeout(std::time::Duration::from_secs(2), write).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "cannot record which certificate the tenant confirmed")
                }
                Err(_) => tracing::warn!(
                    "cannot record which certificate the tenant confirmed: the database did not answer in time"
                ),
            }
        }
    }
    json(
        StatusCode::OK,
        &TenantInfo {
            tenant: tenant.to_string(),
            enabled: true,
            services: snap.db.services_of(tenant),
        },
    )
}

async fn enroll(req: Request<Incoming>, conn: &ConnInfo, ctx: &Ctx) -> Resp {
    let ip = conn.peer.ip();
    if ctx.fleet.health() == cloudgate_proto::Health::Degraded {
        return error(
            ErrorCode::Unavailable,
            "the gateway cannot reach the SP database just now, so it cannot enroll; tunnels of enrolled machines still work; try again in a minute",
        );
    }
    // Counted before anything is verified: concurrent guesses from one address cannot all be
    // evaluated before the first failure is recorded.
    let Some(_attempt) = ctx.throttle.begin(ctx.state.db(), &ip).await else {
        tracing::warn!(peer = %conn.peer, "enrollment refused: too many failed attempts from this address");
        return error(
            ErrorCode::TooManyFailures,
            "too many failed enrollments from this address; wait and try again",
        );
    };
    let authorization = req.headers().get(AUTHORIZATION);
    // A join token: `Bearer ID.SECRET`, of which only the SHA-256 of the secret is kept.
    let token = authorization
        .and_then(|v| v.to_str().ok())
        .and_then(cloudgate_pki::join_token::parse_bearer);
    let credentials = authorization.and_then(|v| basic_credentials(v.as_bytes()));
    if token.is_none() && credentials.is_none() {
        let mut r = error(
            ErrorCode::CredentialsRequired,
            "send the tenant credentials with HTTP Basic authentication",
        );
        r.headers_mut().insert(
            WWW_AUTHENTICATE,
            hyper::header::HeaderValue::from_static("Basic realm=\"cloudgate\""),
        );
        return r;
    }
    let body = match read_body(req, ctx).await {
        Ok(b) => b,
        Err(refused) => return refused,
    };
    let enroll = enroll_request(&body);
    // The label is a stranger's text shown later in the SP's lists: one line, no controls or
    // bidirectional overrides, bounded.
    let label = enroll
        .as_ref()
        .ok()
        .and_then(|r| r.label.as_deref())
        .map(|l| {
            cloudgate_pki::text::one_line(l)
                .chars()
                .take(128)
                .collect::<String>()
        });
    let body_cert = enroll.map(|r| r.cert_der);
    if body_cert == Err(EnrollBodyError::NotJson) {
        return error(
            ErrorCode::BadRequest,
            "expected a JSON body {\"client_cert_pem\": \"...\"}",
        );
    }
    let Some((sha256, presented)) = &conn.client_cert else {
        return error(
            ErrorCode::ClientCertificateRequired,
            "present the client certificate in the TLS handshake",
        );
    };
    if body_cert.as_deref().ok() != Some(presented.as_slice()) {
        return error(
            ErrorCode::CertificateMismatch,
            "the certificate in the body is not the one presented in the TLS handshake",
        );
    }
    if let Some((id, secret_sha256)) = token {
        return enroll_with_token(ctx, conn, &id, &secret_sha256, sha256, presented, label).await;
    }
    let Some((user, password)) = credentials else {
        return error(
            ErrorCode::CredentialsRequired,
            "send the tenant credentials with HTTP Basic authentication",
        );
    };
    enroll_with_password(ctx, conn, &user, password, sha256, presented, label).await
}

/// An enrollment's body, read with a cap and the head's deadline; the refusal otherwise.
async fn read_body(req: Request<Incoming>, ctx: &Ctx) -> Result<Zeroizing<Vec<u8>>, Resp> {
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    // The body has the same deadline as the head: a client trickling its body must not hold
    // the connection for longer than one trickling its headers.
    match read_capped(
        req.into_body(),
        declared,
        ctx.config.max_body_bytes,
        ctx.config.header_timeout,
    )
    .await
    {
        Ok(b) => Ok(Zeroizing::new(b)),
        Err(BodyError::TooLarge) => Err(error(
            ErrorCode::BodyTooLarge,
            "the request body is too large",
        )),
        Err(BodyError::Timeout) => Err(error(
            ErrorCode::BodyTimeout,
            "the request body did not arrive in time",
        )),
        Err(BodyError::Broken) => Err(error(
            ErrorCode::BadRequest,
            "the request body could not be read",
        )),
    }
}

/// Enrollment with the tenant's name and password (HTTP Basic), checked against the stored
/// argon2id hash on the blocking pool; failures count towards the address's throttle.
async fn enroll_with_password(
    ctx: &Ctx,
    conn: &ConnInfo,
    user: &str,
    password: Zeroizing<String>,
    sha256: &str,
    presented: &[u8],
    label: Option<String>,
) -> Resp {
    let ip = conn.peer.ip();
    // Read the account fresh: enrollment is rare, and a tenant created a moment ago must work.
    let tenant = match ctx.state.db().tenant(user).await {
        Ok(t) => Some(t),
        Err(cloudgate_db::DbError::NoSuchTenant(_)) => None,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the tenant account");
            return library_error(&e, "the gateway could not read the tenant account");
        }
    };
    // A locked account refuses even the right password: the guesses stop counting for anyone.
    // The account's attempt is counted before the check, like the address's.
    let account = tenant.as_ref().map(|t| Account(t.name.clone()));
    let _account_attempt = match &account {
        Some(account) => match ctx.lockout.begin(ctx.state.db(), account).await {
            Some(attempt) => Some(attempt),
            None => {
                ctx.throttle.record_failure(ctx.state.db(), &ip).await;
                tracing::warn!(peer = %conn.peer, tenant = %account, "enrollment refused: the account is locked after too many wrong passwords");
                return error(
                    ErrorCode::TooManyFailures,
                    "too many failed enrollments for this account or from this address; wait and try again, or ask the service provider",
                );
            }
        },
        None => None,
    };
    let stored = tenant.as_ref().map(|t| t.password_hash.clone());
    let ok = match cloudgate_sp::credentials::check_password(password, stored).await {
        Ok(ok) => ok,
        Err(busy) => {
            tracing::warn!(peer = %conn.peer, "enrollment refused: every password-check slot is busy");
            return error(ErrorCode::Unavailable, &busy.to_string());
        }
    };
    // `_account_attempt` lives until the failure below is recorded.
    let Some(tenant) = tenant.filter(|_| ok) else {
        // Only accounts that exist are counted: names a guesser makes up cannot fill the table.
        if let Some(account) = &account {
            ctx.lockout.record_failure(ctx.state.db(), account).await;
        }
        ctx.throttle.record_failure(ctx.state.db(), &ip).await;
        tracing::warn!(peer = %conn.peer, user = %user, "enrollment refused: bad credentials");
        return error(ErrorCode::BadCredentials, "wrong tenant name or password");
    };
    if !tenant.enabled {
        tracing::warn!(peer = %conn.peer, tenant = %tenant.name, "enrollment refused: tenant disabled");
        return error(
            ErrorCode::TenantDisabled,
            "this tenant account is disabled; contact the service provider",
        );
    }
    // After the password: a stranger learns nothing of the account from where it may connect.
    let standing = if tenant.policy.lease_ended(time::OffsetDateTime::now_utc()) {
        Some(crate::authz::Denial::LeaseExpired)
    } else if !tenant.policy.allows(ip) {
        Some(crate::authz::Denial::AddressNotAllowed)
    } else {
        None
    };
    if let Some(denied) = standing {
        tracing::warn!(peer = %conn.peer, tenant = %tenant.name, reason = denied.code().name(), "enrollment refused");
        return error(
            denied.code(),
            &denied.message_for(&ctx.state.current().provider_name),
        );
    }
    match ctx
        .state
        .db()
        .bind_client_cert(&tenant.name, sha256, presented, label.as_deref())
        .await
    {
        Ok(()) => {}
        Err(cloudgate_db::DbError::ClientCertTaken) => {
            return error(
                ErrorCode::CertificateTaken,
                "this client certificate is enrolled for another tenant",
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "enrollment failed in the database");
            return library_error(&e, "the gateway could not record the enrollment");
        }
    }
    enrolled(ctx, conn, &tenant.name, sha256, "password").await
}

/// The answer to a successful enrollment, after the state is reloaded so the machine can open
/// tunnels at once.
async fn enrolled(ctx: &Ctx, conn: &ConnInfo, tenant: &str, sha256: &str, how: &str) -> Resp {
    if let Err(e) = ctx.state.refresh().await {
        tracing::error!(error = %e, "reload after enrollment failed");
    }
    let snap = ctx.state.current();
    let services = snap.db.services_of(tenant);
    tracing::info!(peer = %conn.peer, tenant = %tenant, client_sha256 = %sha256, with = how, "tenant enrolled a client certificate");
    ctx.state.journal().record(
        &cloudgate_sp::Actor::Tenant(tenant.to_string()),
        "enroll.granted",
        "machine enrolled",
        serde_json::json!({ "tenant": tenant, "client_sha256": sha256, "with": how,
            "source": conn.peer.ip().to_string(), "gateway": ctx.fleet.identity().id }),
    );
    json(
        StatusCode::OK,
        &EnrollReply {
            tenant: tenant.to_string(),
            client_sha256: sha256.to_string(),
            services,
        },
    )
}

/// A token made before the SP last declared a key compromised pins that key: whoever holds it
/// could have completed the token's handshake and learned its secret. Refused (and revoked,
/// whichever front end made the switch) even when nobody revoked it by hand.
async fn made_before_compromise(ctx: &Ctx, conn: &ConnInfo, id: &str) -> Option<Resp> {
    let compromised_at = ctx.state.current().rollover.last_compromise()?;
    let tokens = ctx.state.db().join_tokens(None).await.ok()?;
    let token = tokens.iter().find(|t| t.id == id)?;
    if token.created_at > compromised_at {
        return None;
    }
    if token.revoked_at.is_none() {
        match ctx.state.db().revoke_join_token(id).await {
            Ok(_) => {
                tracing::warn!(token = %id, tenant = %token.tenant, "join token revoked: it was made before the key it pins was declared compromised");
                ctx.state.journal().record(
                    &cloudgate_sp::Actor::Gateway(ctx.fleet.identity().id.clone()),
                    "token.revoked",
                    "join token revoked: it was made before the key it pins was declared compromised",
                    serde_json::json!({ "reason": "key_compromised", "token_ids": [id], "tenants": [token.tenant] }),
                );
            }
            Err(e) => {
                tracing::error!(error = %e, token = %id, "cannot revoke a join token made before the compromise")
            }
        }
    }
    ctx.throttle
        .record_failure(ctx.state.db(), &conn.peer.ip())
        .await;
    Some(error(
        ErrorCode::TokenRevoked,
        "this join token was made before the service provider declared its key compromised; ask for a new one",
    ))
}

/// Enrollment with a join token: redeemed and the machine bound in one database transaction.
async fn enroll_with_token(
    ctx: &Ctx,
    conn: &ConnInfo,
    id: &str,
    secret_sha256: &str,
    sha256: &str,
    presented: &[u8],
    label: Option<String>,
) -> Resp {
    if let Some(refused) = made_before_compromise(ctx, conn, id).await {
        return refused;
    }
    let redeemed = ctx
        .state
        .db()
        .enroll_with_token(
            id,
            secret_sha256,
            sha256,
            presented,
            label.as_deref(),
            conn.peer.ip(),
        )
        .await;
    match redeemed {
        Ok(Ok(tenant)) => {
            tracing::info!(peer = %conn.peer, token = %id, tenant = %tenant, "join token redeemed");
            enrolled(ctx, conn, &tenant, sha256, "join token").await
        }
        Ok(Err(refusal)) => {
            ctx.throttle
                .record_failure(ctx.state.db(), &conn.peer.ip())
                .await;
            let code = match refusal {
                cloudgate_db::TokenRefusal::Unknown => ErrorCode::TokenUnknown,
                cloudgate_db::TokenRefusal::Expired => ErrorCode::TokenExpired,
                cloudgate_db::TokenRefusal::UsedUp => ErrorCode::TokenUsedUp,
                cloudgate_db::TokenRefusal::Revoked => ErrorCode::TokenRevoked,
                cloudgate_db::TokenRefusal::TenantDisabled => ErrorCode::TenantDisabled,
                cloudgate_db::TokenRefusal::LeaseExpired => ErrorCode::LeaseExpired,
                cloudgate_db::TokenRefusal::AddressNotAllowed => ErrorCode::AddressNotAllowed,
            };
            tracing::warn!(peer = %conn.peer, token = %id, reason = code.name(), "enrollment refused: join token");
            error(code, refusal.message())
        }
        Err(cloudgate_db::DbError::ClientCertTaken) => error(
            ErrorCode::CertificateTaken,
            "this client certificate is enrolled for another tenant",
        ),
        Err(e) => {
            tracing::error!(error = %e, "enrollment with a join token failed in the database");
            library_error(&e, "the gateway could not record the enrollment")
        }
    }
}
