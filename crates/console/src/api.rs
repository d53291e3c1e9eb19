//! `/api/v1`: the console's operations as JSON, with the types of
//! [`cloudgate_proto::admin`], for scripts (`Authorization: Bearer cgapi_…`) and for the pages'
//! own script (the session cookie and `X-CSRF-Token`). The OpenAPI document is at
//! `/api/v1/openapi.json`. Every handler names its caller ([`Caller`]) first, so a request
//! without a valid token or session is refused before its body is read.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post, put};
use axum::{Json, Router};
use cloudgate_errors::{Classify as _, ErrorKind};
use cloudgate_proto::admin::{
    AcmeRenewRequest, ApiError, ApplyRequest, ImportRequest, LicenseFile, NewCertificate,
    NewJoinToken, NewPassword, NewPublicAddress, NewTenant, PoolSetting, PruneRequest, Service,
};
// The answers' types, named in the handlers' OpenAPI attributes.
use cloudgate_proto::admin::{
    Certificate, CertificateDetail, CertificateStatus, CheckReport, CreatedJoinToken, FleetStatus,
    Gateway, JoinTokenInfo, LicenseInfo, Pruned, PublicAddress, Tenant,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::auth::{Caller, Refusal};
use crate::ops::{self, OpError};
use crate::{Console, openapi};

/// Most audit entries one call returns.
const MAX_AUDIT_LIMIT: usize = 500;

type Shared = State<Arc<Console>>;

/// The API's routes.
pub fn router() -> Router<Arc<Console>> {
    Router::new()
        .route("/openapi.json", get(openapi_document))
        .route("/certificates", get(certificates).post(generate))
        .route("/certificates/current", get(current))
        .route("/certificates/status", get(status))
        .route("/certificates/import", post(import))
        .route("/certificates/acme/renew", post(acme_renew))
        .route("/certificates/{id}", get(certificate).delete(remove))
        .route("/certificates/{id}/apply", post(apply))
        .route("/certificates/{id}/stage", post(stage))
        .route("/certificates/{id}/renew", post(renew))
        .route("/certificates/{id}/check", post(check))
        .route("/certificates/{id}/pem", get(pem))
        .route("/certificates/{id}/der", get(der))
        .route("/tenants", get(tenants).post(add_tenant))
        .route("/tenants/{name}", get(tenant).delete(remove_tenant))
        .route("/tenants/{name}/services/{service}", delete(remove_service))
        .route("/tenants/{name}/machines/{sha256}", delete(revoke_machine))
        .route("/tenants/{name}/enable", post(enable))
        .route("/tenants/{name}/disable", post(disable))
        .route("/tenants/{name}/password", put(set_password))
        .route("/tenants/{name}/services", post(add_service))
        .route("/tenants/{name}/pool", put(set_pool))
        .route("/tenants/{name}/limits", patch(set_limits))
        .route(
            "/maintenance",
            get(maintenance)
                .post(start_maintenance)
                .delete(end_maintenance),
        )
        .route("/tenants/{name}/prune", post(prune))
        .route(
            "/tenants/{name}/tokens",
            get(tenant_tokens).post(create_token),
        )
        .route("/tokens", get(tokens))
        .route("/tokens/{id}", delete(revoke_token))
        .route("/gateways", get(gateways))
        .route("/gateways/{id}", delete(forget_gateway))
        .route("/address", get(address).put(set_address))
        .route("/fleet", get(fleet))
        .route("/fleet/publish", post(fleet_publish))
        .route("/license", get(license).put(install_license))
        .route("/audit", get(audit))
        .route("/usage", get(usage))
        .route("/activity", get(activity))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "not_found", "no such API call") })
        .method_not_allowed_fallback(|| async {
            error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this API call takes another method; /api/v1/openapi.json lists them",
            )
        })
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(ApiError {
            code: code.to_string(),
            message: message.to_string(),
        }),
    )
        .into_response()
}

/// A caller that was not let in.
pub(crate) fn refused(r: Refusal) -> Response {
    match r {
        Refusal::Unauthenticated => error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "log in to the console, or send an API token as `Authorization: Bearer cgapi_…` (`cloudgate sp admin token create`)",
        ),
        Refusal::Csrf => error(
            StatusCode::FORBIDDEN,
            "csrf",
            "a changing call with the console's session must carry its CSRF token in X-CSRF-Token and come from the console's origin",
        ),
    }
}

fn failed(e: OpError) -> Response {
    let status = match e.kind() {
        ErrorKind::Usage => StatusCode::BAD_REQUEST,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => {
            tracing::error!(error = %e, "console API call failed");
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the console could not do that; the SP's log says why",
            );
        }
    };
    error(status, e.code(), &e.to_string())
}

fn reply<T: Serialize>(result: Result<T, OpError>) -> Response {
    match result {
        Ok(v) => Json(v).into_response(),
        Err(e) => failed(e),
    }
}

fn created<T: Serialize>(result: Result<T, OpError>) -> Response {
    match result {
        Ok(v) => (StatusCode::CREATED, Json(v)).into_response(),
        Err(e) => failed(e),
    }
}

fn done(result: Result<(), OpError>) -> Response {
    match result {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => failed(e),
    }
}

/// A JSON body; one that is not the call's type is refused with 400 and what was wrong.
pub(crate) struct Body<T>(T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        Json::<T>::from_request(req, state)
            .await
            .map(|Json(v)| Body(v))
            .map_err(|e: JsonRejection| error(StatusCode::BAD_REQUEST, "bad_input", &e.body_text()))
    }
}

/// A query string; one that does not fit is refused with 400 in JSON.
pub(crate) struct Params<T>(T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| Params(v))
            .map_err(|e| error(StatusCode::BAD_REQUEST, "bad_input", &e.body_text()))
    }
}

/// A JSON body that may be left out.
pub(crate) struct OptionalBody<T>(T);

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for OptionalBody<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        // No body at all: neither a length above 0 nor a type (a body without a type is refused
        // by the JSON reader, so a forgotten header is said, not ignored).
        let length = req.headers().get(header::CONTENT_LENGTH);
        let empty = length.is_some_and(|l| l == "0")
            || (length.is_none() && !req.headers().contains_key(header::CONTENT_TYPE));
        if empty {
            return Ok(OptionalBody(T::default()));
        }
        Body::<T>::from_request(req, state)
            .await
            .map(|Body(v)| OptionalBody(v))
    }
}

async fn openapi_document() -> Response {
    Json(openapi::document()).into_response()
}

#[utoipa::path(
    get,
    path = "/certificates",
    operation_id = "certificates",
    tag = "certificates",
    summary = "Every certificate of the store, the one in use first",
    responses((status = 200, description = "done", body = Vec<Certificate>), (status = 400, description = "bad input", body = ApiError), (status = 401, description = "no valid token or session", body = ApiError)),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn certificates(State(console): Shared, _: Caller) -> Response {
    reply(ops::certificates(&console))
}

#[utoipa::path(
    get,
    path = "/certificates/current",
    operation_id = "current",
    tag = "certificates",
    summary = "The certificate in use",
    responses((status = 200, description = "done", body = Certificate), (status = 400, description = "bad input", body = ApiError), (status = 401, description = "no valid token or session", body = ApiError), (status = 404, description = "no such thing", body = ApiError)),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn current(State(console): Shared, _: Caller) -> Response {
    match ops::current(&console) {
        Ok(Some(c)) => Json(c).into_response(),
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            "not_found",
            "no certificate is in use",
        ),
        Err(e) => failed(e),
    }
}

#[utoipa::path(
    get,
    path = "/certificates/status",
    operation_id = "status",
    tag = "certificates",
    summary = "The certificate in use, the staged successor, the key changes and how far machines followed",
    responses((status = 200, description = "done", body = CertificateStatus), (status = 400, description = "bad input", body = ApiError), (status = 401, description = "no valid token or session", body = ApiError)),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn status(State(console): Shared, _: Caller) -> Response {
    reply(ops::status(&console).await)
}

#[utoipa::path(
    get,
    path = "/certificates/{id}",
    operation_id = "certificate",
    tag = "certificates",
    summary = "One certificate with the Summary's six lines",
    params(("id" = String, Path, description = "the certificate: thumbprint, SHA-256 or a unique prefix")),
    responses((status = 200, description = "done", body = CertificateDetail), (status = 400, description = "bad input", body = ApiError), (status = 401, description = "no valid token or session", body = ApiError), (status = 404, description = "no such thing", body = ApiError)),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn certificate(
    State(console): Shared,
    _: Caller,
    Path(id): Path<String>,
) -> Response {
    reply(ops::certificate(&console, &id))
}

#[utoipa::path(
    post,
    path = "/certificates",
    operation_id = "generate",
    tag = "certificates",
    summary = "Generate a self-signed certificate (not applied)",
    request_body = NewCertificate,
    responses((status = 201, description = "done", body = Certificate), (status = 400, description = "bad input", body = ApiError), (status = 401, description = "no valid token or session", body = ApiError)),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn generate(
    State(console): Shared,
    Caller(who): Caller,
    Body(request): Body<NewCertificate>,
) -> Response {
    created(ops::generate(&console, &who.who(), request).await)
}

#[utoipa::path(
    post,
    path = "/certificates/import",
    operation_id = "import",
    tag = "certificates",
    summary = "Import a PKCS#12 or PEM file with its key (not applied)",
    request_body = ImportRequest,
    responses((status = 201, description = "done", body = Certificate), (status = 400, description = "bad input", body = ApiError), (status = 401, description = "no valid token or session", body = ApiError)),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn import(
    State(console): Shared,
    Caller(who): Caller,
    Body(request): Body<ImportRequest>,
) -> Response {
    use base64::Engine as _;
    let password = Zeroizing::new(request.password);
    let file = match base64::engine::general_purpose::STANDARD.decode(request.file_base64.trim()) {
        Ok(f) => Zeroizing::new(f),
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "bad_input",
                &format!("file_base64 is not base64: {e}"),
            );
        }
    };
    created(
        ops::import(
            &console,
            &who.who(),
            &file,
            &password,
            request.friendly_name,
        )
        .await,
    )
}

#[utoipa::path(
    post,
    path = "/certificates/{id}/apply",
    operation_id = "apply",
    tag = "certificates",
    summary = "Put a certificate into use (409 would_reverify for a new key without a proof while machines are enrolled, unless force)",
    params(("id" = String, Path, description = "the certificate: thumbprint, SHA-256 or a unique prefix")),
    request_body = ApplyRequest,
    responses((status = 200, description = "done", body = Certificate), (status = 400, description = "bad input", body = ApiError), (status = 401, description = "no valid token or session", body = ApiError), (status = 404, description = "no such thing", body = ApiError), (status = 409, description = "would_reverify: machines would have to verify by hand; repeat with force", body = ApiError)),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn apply(
    State(console): Shared,
    Caller(who): Caller,
    Path(id): Path<String>,
    OptionalBody(request): OptionalBody<ApplyRequest>,
) -> Response {
    reply(ops::apply(&console, &who.who(), &id, request.force).await)
}

#[utoipa::path(
    post,
    path = "/certificates/{id}/stage",
    operation_id = "stage",
    tag = "certificates",
    summary = "Stage a certificate as the successor, with a rollover proof",
    params(("id" = String, Path, description = "the certificate: thumbprint, SHA-256 or a unique prefix")),
    responses((status = 200, description = "done", body = Certificate), (status = 400, description = "bad input", body = ApiError), (status = 401, description = "no valid token or session", body = ApiError), (status = 404, description = "no such thing", body = ApiError)),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn stage(
    State(console): Shared,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> Response {
    reply(ops::stage(&console, &who.who(), &id).await)
}

/// `POST /api/v1/certificates/{id}/renew`.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RenewRequest {
    #[serde(default)]
    valid_days: Option<u32>,
}

#[utoipa::path(
    post,
    path = "/certificates/{id}/renew",
    operation_id = "renew",
    tag = "certificates",
    summary = "Renew with the same key (applied when it renews the one in use)",
    params(("id" = String, Path, description = "the certificate: thumbprint, SHA-256 or a unique prefix")),
    request_body = RenewRequest,
    responses((status = 201, description = "done", body = Certificate), (status = 400, description = "bad input", body = ApiError), (status = 401, description = "no valid token or session", body = ApiError), (status = 404, description = "no such thing", body = ApiError)),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn renew(
    State(console): Shared,
    Caller(who): Caller,
    Path(id): Path<String>,
    OptionalBody(request): OptionalBody<RenewRequest>,
) -> Response {
    let days = request
        .valid_days
        .unwrap_or(cloudgate_sp::certs::DEFAULT_VALID_DAYS);
    created(ops::renew(&console, &who.who(), &id, days).await)
}

#[utoipa::path(
    post,
    path = "/certificates/acme/renew",
    operation_id = "acme_renew",
    tag = "certificates",
    summary = "Renew the ACME certificate in use with its CA: the same key (apply to put it into use) or a new key, staged",
    request_body = AcmeRenewRequest,
    responses((status = 201, description = "done", body = Certificate), (status = 400, description = "bad input", body = ApiError), (status = 401, description = "no valid token or session", body = ApiError)),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn acme_renew(
    State(console): Shared,
    Caller(who): Caller,
    OptionalBody(request): OptionalBody<AcmeRenewRequest>,
) -> Response {
    created(ops::acme_renew(&console, &who.who(), &request).await)
}

#[utoipa::path(
    post,
    path = "/certificates/{id}/check",
    operation_id = "check",
    tag = "certificates",
    summary = "Check an entry: key readable, private and matching; certificate intact and valid",
    params(("id" = String, Path, description = "the certificate: thumbprint, SHA-256 or a unique prefix")),
    responses((status = 200, description = "done", body = CheckReport), (status = 400, description = "bad input", body = ApiError), (status = 401, description = "no valid token or session", body = ApiError), (status = 404, description = "no such thing", body = ApiError)),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn check(State(console): Shared, _: Caller, Path(id): Path<String>) -> Response {
    reply(ops::check(&console, &id))
}

#[utoipa::path(
    delete,
    path = "/certificates/{id}",
    operation_id = "remove",
    tag = "certificates",
    summary = "Remove a certificate that is not in use, with its key",
    params(("id" = String, Path, description = "the certificate: thumbprint, SHA-256 or a unique prefix")),
    responses((status = 200, description = "done", body = Certificate), (status = 400, description = "bad input", body = ApiError), (status = 401, description = "no valid token or session", body = ApiError), (status = 404, description = "no such thing", body = ApiError)),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn remove(
    State(console): Shared,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> Response {
    reply(ops::remove(&console, &who.who(), &id).await)
}

#[utoipa::path(
    get,
    path = "/certificates/{id}/pem",
    operation_id = "pem",
    tag = "certificates",
    summary = "The certificate and its chain, PEM (never the key)",
    params(("id" = String, Path, description = "the certificate: thumbprint, SHA-256 or a unique prefix")),
    responses((status = 200, description = "the certificate with its chain, PEM", content_type = "application/pem-certificate-chain", body = String), (status = 400, description = "bad input", body = ApiError), (status = 401, description = "no valid token or session", body = ApiError), (status = 404, description = "no such thing", body = ApiError)),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn pem(State(console): Shared, _: Caller, Path(id): Path<String>) -> Response {
    match ops::certificate_pem(&console, &id) {
        Ok((_, pem)) => (
            [(header::CONTENT_TYPE, "application/pem-certificate-chain")],
            pem,
        )
            .into_response(),
        Err(e) => failed(e),
    }
}

#[utoipa::path(
    get,
    path = "/certificates/{id}/der",
    operation_id = "der",
    tag = "certificates",
    summary = "The certificate, DER (never the key)",
    params(("id" = String, Path, description = "the certificate: thumbprint, SHA-256 or a unique prefix")),
    responses((status = 200, description = "the certificate, DER", content_type = "application/pkix-cert", body = Vec<u8>), (status = 400, description = "bad input", body = ApiError), (status = 401, description = "no valid token or session", body = ApiError), (status = 404, description = "no such thing", body = ApiError)),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn der(State(console): Shared, _: Caller, Path(id): Path<String>) -> Response {
    match ops::certificate_der(&console, &id) {
        Ok((_, der)) => ([(header::CONTENT_TYPE, "application/pkix-cert")], der).into_response(),
        Err(e) => failed(e),
    }
}

/// A list's filter and page.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct Search {
    /// Text the entries must contain (any case); every entry when empty.
    #[serde(default)]
    q: String,
    /// Entries skipped (the audit's pages).
    #[serde(default)]
    offset: usize,
    /// At most this many (the audit: 100 by default, 500 at most).
    #[serde(default)]
    limit: Option<usize>,
}

#[utoipa::path(
    get,
    path = "/tenants",
    operation_id = "tenants",
    tag = "tenants",
    summary = "Tenants, with services and enrolled machines (q filters)",
    params(Search),
    responses((status = 200, description = "done", body = Vec<Tenant>), (status = 400, description = "bad input", body = ApiError), (status = 401, description = "no valid token or session", body = ApiError)),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn tenants(
    State(console): Shared,
    _: Caller,
    Params(search): Params<Search>,
) -> Response {
    reply(ops::tenants(&console, &search.q).await)
}

#[utoipa::path(
    get,
    path = "/tenants/{name}",
    operation_id = "tenant",
    tag = "tenants",
    summary = "One tenant",
    params(("name" = String, Path, description = "the tenant")),
    responses((status = 200, description = "done", body = Tenant), (status = 400, description = "bad input", body = ApiError), (status = 401, description = "no valid token or session", body = ApiError), (status = 404, description = "no such thing", body = ApiError)),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn tenant(
    State(console): Shared,
    _: Caller,
    Path(name): Path<String>,
) -> Response {
    reply(ops::tenant(&console, &name).await)
}

#[utoipa::path(
    post,
    path = "/tenants",
    operation_id = "add_tenant",
    tag = "tenants",
    summary = "Add a tenant",
    request_body = NewTenant,
    responses((status = 201, description = "done", body = Tenant), (status = 400, description = "bad input", body = ApiError), (status = 401, description = "no valid token or session", body = ApiError)),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn add_tenant(
    State(console): Shared,
    Caller(who): Caller,
    Body(new): Body<NewTenant>,
) -> Response {
    let result = ops::add_tenant(&console, &who.who(), &new).await;
    drop(Zeroizing::new(new.password));
    created(result)
}

#[utoipa::path(
    delete,
    path = "/tenants/{name}",
    operation_id = "remove_tenant",
    tag = "tenants",
    summary = "Remove a tenant with its services and machines",
    params(("name" = String, Path, description = "the tenant")),
    responses((status = 200, description = "done", body = Tenant), (status = 400, description = "bad input", body = ApiError), (status = 401, description = "no valid token or session", body = ApiError), (status = 404, description = "no such thing", body = ApiError)),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn remove_tenant(
    State(console): Shared,
    Caller(who): Caller,
    Path(name): Path<String>,
) -> Response {
    reply(ops::remove_tenant(&console, &who.who(), &name).await)
}

#[utoipa::path(
    delete,
    path = "/tenants/{name}/services/{service}",
    operation_id = "remove_service",
    tag = "tenants",
    summary = "Take a service away from a tenant",
    params(("name" = String, Path, description = "the tenant"), ("service" = String, Path, description = "the service name")),
    responses((status = 200, description = "done", body = Tenant), (status = 400, description = "bad input", body = ApiError), (status = 401, description = "no valid token or session", body = ApiError), (status = 404, description = "no such thing", body = ApiError)),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn remove_service(
    State(console): Shared,
    Caller(who): Caller,
    Path((name, service)): Path<(String, String)>,
) -> Response {
    reply(ops::remove_service(&console, &who.who(), &name, &service).await)
}

#[utoipa::path(
    delete,
    path = "/tenants/{name}/machines/{sha256}",
    operation_id = "revoke_machine",
    tag = "tenants",
    summary = "Revoke an enrolled machine",
    params(("name" = String, Path, description = "the tenant"), ("sha256" = String, Path, description = "the machine's client-certificate SHA-256")),
    responses((status = 200, description = "done", body = Tenant), (status = 400, description = "bad input", body = ApiError), (status = 401, description = "no valid token or session", body = ApiError), (status = 404, description = "no such thing", body = ApiError)),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn revoke_machine(
    State(console): Shared,
    Caller(who): Caller,
    Path((name, sha256)): Path<(String, String)>,
) -> Response {
    reply(ops::revoke_machine(&console, &who.who(), &name, &sha256).await)
}

#[utoipa::path(
    post,
    path = "/tenants/{name}/enable",
    operation_id = "enable",
    tag = "tenants",
    summary = "Enable a tenant",
    params(("name" = String, Path, description = "the tenant")),
    responses((status = 200, description = "done", body = Tenant), (status = 400, description = "bad input", body = ApiError), (status = 401, description = "no valid token or session", body = ApiError), (status = 404, description = "no such thing", body = ApiError)),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn enable(
    State(console): Shared,
    Caller(who): Caller,
    Path(name): Path<String>,
) -> Response {
    reply(ops::set_enabled(&console, &who.who(), &name, true).await)
}

#[utoipa::path(
    post,
    path = "/tenants/{name}/disable",
    operation_id = "disable",
    tag = "tenants",
    summary = "Disable a tenant",
    params(("name" = String, Path, description = "the tenant")),
    responses((status = 200, description = "done", body = Tenant), (status = 400, description = "bad input", body = ApiError), (status = 401, description = "no valid token or session", body = ApiError), (status = 404, description = "no such thing", body = ApiError)),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn disable(
    State(console): Shared,
    Caller(who): Caller,
    Path(name): Path<String>,
) -> Response {
    reply(ops::set_enabled(&console, &who.who(), &name, false).await)
}

#[utoipa::path(
    put,
    path = "/tenants/{name}/password",
    operation_id = "set_password",
    tag = "tenants",
    summary = "Replace a tenant's password (204)",
    params(("name" = String, Path, description = "the tenant")),
    request_body = NewPassword,
    responses((status = 204, description = "done"), (status = 400, description = "bad input", body = ApiError), (status = 401, description = "no valid token or session", body = ApiError), (status = 404, description = "no such thing", body = ApiError)),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn set_password(
    State(console): Shared,
    Caller(who): Caller,
    Path(name): Path<String>,
    Body(new): Body<NewPassword>,
) -> Response {
    let password = Zeroizing::new(new.password);
    done(ops::set_password(&console, &who.who(), &name, &password).await)
}

#[utoipa::path(
    post,
    path = "/tenants/{name}/services",
    operation_id = "add_service",
    tag = "tenants",
    summary = "Let a tenant reach a service",
    params(("name" = String, Path, description = "the tenant")),
    request_body = Service,
    responses((status = 201, description = "done", body = Tenant), (status = 400, description = "bad input", body = ApiError), (status = 401, description = "no valid token or session", body = ApiError), (status = 404, description = "no such thing", body = ApiError)),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn add_service(
    State(console): Shared,
    Caller(who): Caller,
    Path(name): Path<String>,
    Body(service): Body<Service>,
) -> Response {
    created(ops::add_service(&console, &who.who(), &name, &service).await)
}

#[utoipa::path(
    put,
    path = "/tenants/{name}/pool",
    operation_id = "set_pool",
    tag = "tenants",
    summary = "Set the pool of gateways a tenant's machines use",
    params(("name" = String, Path, description = "the tenant")),
    request_body = PoolSetting,
    responses((status = 200, description = "done", body = Tenant), (status = 400, description = "bad input", body = ApiError), (status = 401, description = "no valid token or session", body = ApiError), (status = 404, description = "no such thing", body = ApiError)),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn set_pool(
    State(console): Shared,
    Caller(who): Caller,
    Path(name): Path<String>,
    Body(setting): Body<PoolSetting>,
) -> Response {
    reply(ops::set_pool(&console, &who.who(), &name, &setting).await)
}

#[utoipa::path(
    patch,
    path = "/tenants/{name}/limits",
    operation_id = "set_limits",
    tag = "tenants",
    summary = "Change what a tenant is allowed: rates and their window, tunnel counts, lease, networks (absent fields kept; `unlimited` lifts one)",
    params(("name" = String, Path, description = "the tenant")),
    request_body = cloudgate_proto::admin::LimitsChange,
    responses((status = 200, description = "done", body = Tenant), (status = 400, description = "bad input", body = ApiError), (status = 401, description = "no valid token or session", body = ApiError), (status = 404, description = "no such thing", body = ApiError)),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn set_limits(
    State(console): Shared,
    Caller(who): Caller,
    Path(name): Path<String>,
    Body(change): Body<cloudgate_proto::admin::LimitsChange>,
) -> Response {
    reply(ops::set_limits(&console, &who.who(), &name, &change).await)
}

#[utoipa::path(
    get,
    path = "/maintenance",
    operation_id = "maintenance",
    tag = "site",
    summary = "Maintenance in force",
    responses((status = 200, description = "done", body = Vec<cloudgate_proto::admin::MaintenanceInfo>), (status = 401, description = "no valid token or session", body = ApiError)),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn maintenance(State(console): Shared, _: Caller) -> Response {
    reply(ops::maintenance(&console).await)
}

#[utoipa::path(
    post,
    path = "/maintenance",
    operation_id = "start_maintenance",
    tag = "site",
    summary = "Start (or replace) a maintenance: new tunnels refused with 503 `maintenance` and the message; open ones cut at the drain deadline",
    request_body = cloudgate_proto::admin::MaintenanceOrder,
    responses((status = 201, description = "started", body = cloudgate_proto::admin::MaintenanceInfo), (status = 400, description = "bad input", body = ApiError), (status = 401, description = "no valid token or session", body = ApiError)),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn start_maintenance(
    State(console): Shared,
    Caller(who): Caller,
    Body(order): Body<cloudgate_proto::admin::MaintenanceOrder>,
) -> Response {
    created(ops::start_maintenance(&console, &who.who(), &order).await)
}

/// Which maintenance to end.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct MaintenanceParams {
    /// The pool's maintenance.
    #[serde(default)]
    pool: Option<String>,
    /// The gateway's maintenance.
    #[serde(default)]
    gateway: Option<String>,
}

#[utoipa::path(
    delete,
    path = "/maintenance",
    operation_id = "end_maintenance",
    tag = "site",
    summary = "End a maintenance (of a pool, a gateway, or with neither, of every gateway)",
    params(MaintenanceParams),
    responses((status = 200, description = "ended", body = cloudgate_proto::admin::MaintenanceInfo), (status = 400, description = "bad input", body = ApiError), (status = 401, description = "no valid token or session", body = ApiError), (status = 404, description = "no such maintenance", body = ApiError)),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn end_maintenance(
    State(console): Shared,
    Caller(who): Caller,
    Params(p): Params<MaintenanceParams>,
) -> Response {
    reply(
        ops::end_maintenance(
            &console,
            &who.who(),
            p.pool.as_deref(),
            p.gateway.as_deref(),
        )
        .await,
    )
}

#[utoipa::path(
    post,
    path = "/tenants/{name}/prune",
    operation_id = "prune",
    tag = "tenants",
    summary = "Remove a tenant's machines not seen for unseen_days days",
    params(("name" = String, Path, description = "the tenant")),
    request_body = PruneRequest,
    responses((status = 200, description = "done", body = Pruned), (status = 400, description = "bad input", body = ApiError), (status = 401, description = "no valid token or session", body = ApiError), (status = 404, description = "no such thing", body = ApiError)),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn prune(
    State(console): Shared,
    Caller(who): Caller,
    Path(name): Path<String>,
    Body(request): Body<PruneRequest>,
) -> Response {
    reply(ops::prune(&console, &who.who(), &name, request.unseen_days).await)
}

#[utoipa::path(
    get,
    path = "/tenants/{name}/tokens",
    operation_id = "tenant_tokens",
    tag = "tenants",
    summary = "A tenant's join tokens (never their secrets)",
    params(("name" = String, Path, description = "the tenant")),
    responses((status = 200, description = "done", body = Vec<JoinTokenInfo>), (status = 400, description = "bad input", body = ApiError), (status = 401, description = "no valid token or session", body = ApiError), (status = 404, description = "no such thing", body = ApiError)),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn tenant_tokens(
    State(console): Shared,
    _: Caller,
    Path(name): Path<String>,
) -> Response {
    reply(ops::join_tokens(&console, Some(&name)).await)
}

#[utoipa::path(
    post,
    path = "/tenants/{name}/tokens",
    operation_id = "create_token",
    tag = "tenants",
    summary = "Create a join token; its secret is in this answer only",
    params(("name" = String, Path, description = "the tenant")),
    request_body = NewJoinToken,
    responses((status = 201, description = "done", body = CreatedJoinToken), (status = 400, description = "bad input", body = ApiError), (status = 401, description = "no valid token or session", body = ApiError), (status = 404, description = "no such thing", body = ApiError)),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn create_token(
    State(console): Shared,
    Caller(who): Caller,
    Path(name): Path<String>,
    OptionalBody(request): OptionalBody<NewJoinToken>,
) -> Response {
    created(ops::create_join_token(&console, &who.who(), &name, &request).await)
}

#[utoipa::path(
    get,
    path = "/tokens",
    operation_id = "tokens",
    tag = "tenants",
    summary = "Every join token",
    responses((status = 200, description = "done", body = Vec<JoinTokenInfo>), (status = 400, description = "bad input", body = ApiError), (status = 401, description = "no valid token or session", body = ApiError)),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn tokens(State(console): Shared, _: Caller) -> Response {
    reply(ops::join_tokens(&console, None).await)
}

#[utoipa::path(
    delete,
    path = "/tokens/{id}",
    operation_id = "revoke_token",
    tag = "tenants",
    summary = "Revoke a join token",
    params(("id" = String, Path, description = "the join token id (or a unique prefix)")),
    responses((status = 200, description = "done", body = JoinTokenInfo), (status = 400, description = "bad input", body = ApiError), (status = 401, description = "no valid token or session", body = ApiError), (status = 404, description = "no such thing", body = ApiError)),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn revoke_token(
    State(console): Shared,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> Response {
    reply(ops::revoke_join_token(&console, &who.who(), &id).await)
}

#[utoipa::path(
    get,
    path = "/gateways",
    operation_id = "gateways",
    tag = "site",
    summary = "The gateways that reported to the SP database",
    responses((status = 200, description = "done", body = Vec<Gateway>), (status = 400, description = "bad input", body = ApiError), (status = 401, description = "no valid token or session", body = ApiError)),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn gateways(State(console): Shared, _: Caller) -> Response {
    reply(ops::gateways(&console).await)
}

#[utoipa::path(
    delete,
    path = "/gateways/{id}",
    operation_id = "forget_gateway",
    tag = "site",
    summary = "Forget a gateway that is gone for good (204)",
    params(("id" = String, Path, description = "the gateway id")),
    responses((status = 204, description = "done"), (status = 400, description = "bad input", body = ApiError), (status = 401, description = "no valid token or session", body = ApiError), (status = 404, description = "no such thing", body = ApiError)),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn forget_gateway(
    State(console): Shared,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> Response {
    done(ops::forget_gateway(&console, &who.who(), &id).await)
}

#[utoipa::path(
    get,
    path = "/address",
    operation_id = "address",
    tag = "site",
    summary = "The address tenants reach the gateway at",
    responses((status = 200, description = "done", body = PublicAddress), (status = 400, description = "bad input", body = ApiError), (status = 401, description = "no valid token or session", body = ApiError)),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn address(State(console): Shared, _: Caller) -> Response {
    reply(ops::public_address(&console))
}

#[utoipa::path(
    put,
    path = "/address",
    operation_id = "set_address",
    tag = "site",
    summary = "Set the address tenants reach the gateway at",
    request_body = NewPublicAddress,
    responses((status = 200, description = "done", body = PublicAddress), (status = 400, description = "bad input", body = ApiError), (status = 401, description = "no valid token or session", body = ApiError)),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn set_address(
    State(console): Shared,
    Caller(who): Caller,
    Body(new): Body<NewPublicAddress>,
) -> Response {
    reply(ops::set_public_address(&console, &who.who(), &new.public_address).await)
}

#[utoipa::path(
    get,
    path = "/fleet",
    operation_id = "fleet",
    tag = "site",
    summary = "The fleet key here and the certificate published to the gateways",
    responses((status = 200, description = "done", body = FleetStatus), (status = 400, description = "bad input", body = ApiError), (status = 401, description = "no valid token or session", body = ApiError)),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn fleet(State(console): Shared, _: Caller) -> Response {
    reply(ops::fleet_status(&console).await)
}

#[utoipa::path(
    post,
    path = "/fleet/publish",
    operation_id = "fleet_publish",
    tag = "site",
    summary = "Publish the certificate in use to the fleet now",
    responses((status = 200, description = "done", body = FleetStatus), (status = 400, description = "bad input", body = ApiError), (status = 401, description = "no valid token or session", body = ApiError)),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn fleet_publish(State(console): Shared, Caller(who): Caller) -> Response {
    reply(ops::fleet_publish(&console, &who.who()).await)
}

#[utoipa::path(
    get,
    path = "/license",
    operation_id = "license",
    tag = "site",
    summary = "The installed license",
    responses((status = 200, description = "done", body = LicenseInfo), (status = 400, description = "bad input", body = ApiError), (status = 401, description = "no valid token or session", body = ApiError)),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn license(State(console): Shared, _: Caller) -> Response {
    reply(ops::license(&console))
}

#[utoipa::path(
    put,
    path = "/license",
    operation_id = "install_license",
    tag = "site",
    summary = "Install a license (its TOML text)",
    request_body = LicenseFile,
    responses((status = 200, description = "done", body = LicenseInfo), (status = 400, description = "bad input", body = ApiError), (status = 401, description = "no valid token or session", body = ApiError)),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn install_license(
    State(console): Shared,
    Caller(who): Caller,
    Body(file): Body<LicenseFile>,
) -> Response {
    reply(ops::install_license(&console, &who.who(), &file.toml).await)
}

/// A page of the audit log.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct AuditPage {
    total: usize,
    offset: usize,
    entries: Vec<cloudgate_proto::admin::AuditEntry>,
}

#[utoipa::path(
    get,
    path = "/audit",
    operation_id = "audit",
    tag = "site",
    summary = "The audit log, newest first (q, offset, limit)",
    params(Search),
    responses((status = 200, description = "done", body = AuditPage), (status = 400, description = "bad input", body = ApiError), (status = 401, description = "no valid token or session", body = ApiError)),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn audit(
    State(console): Shared,
    _: Caller,
    Params(search): Params<Search>,
) -> Response {
    let limit = search.limit.unwrap_or(100).min(MAX_AUDIT_LIMIT);
    reply(
        ops::audit_log(&console, &search.q, search.offset, limit)
            .await
            .map(|(entries, total)| AuditPage {
                total,
                offset: search.offset,
                entries,
            }),
    )
}

/// Which usage to report.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct UsageParams {
    /// One tenant; every tenant when absent.
    #[serde(default)]
    tenant: Option<String>,
    /// From: RFC 3339, a date (midnight UTC) or an age (`7d`); the first of this month when absent.
    #[serde(default)]
    since: Option<String>,
    /// Until, excluded (same forms); now when absent.
    #[serde(default)]
    until: Option<String>,
    /// `hour`, `day` (the default) or `total`.
    #[serde(default)]
    per: Option<String>,
    /// `true` for one row per machine.
    #[serde(default)]
    by_machine: bool,
}

#[utoipa::path(
    get,
    path = "/usage",
    operation_id = "usage",
    tag = "tenants",
    summary = "What tenants used, per hour, day or in total (tenant, since, until, per, by_machine)",
    params(UsageParams),
    responses((status = 200, description = "done", body = Vec<cloudgate_proto::admin::UsageRow>), (status = 400, description = "bad input", body = ApiError), (status = 401, description = "no valid token or session", body = ApiError), (status = 404, description = "no such tenant", body = ApiError)),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn usage(
    State(console): Shared,
    _: Caller,
    Params(p): Params<UsageParams>,
) -> Response {
    let now = time::OffsetDateTime::now_utc();
    let when = |name: &str, v: &Option<String>| {
        v.as_deref()
            .map(|t| cloudgate_sp::core::parse_when(t, now))
            .transpose()
            .map_err(|e| OpError::Invalid(format!("{name}: {e}")))
    };
    let request = async {
        Ok::<_, OpError>(cloudgate_sp::core::UsageRequest {
            tenant: p.tenant.clone(),
            since: when("since", &p.since)?,
            until: when("until", &p.until)?,
            per: p.per.as_deref().unwrap_or("day").parse()?,
            by_machine: p.by_machine,
        })
    };
    match request.await {
        Ok(r) => reply(ops::usage(&console, &r).await),
        Err(e) => failed(e),
    }
}

#[utoipa::path(
    get,
    path = "/activity",
    operation_id = "activity",
    tag = "tenants",
    summary = "Each tenant's open tunnels and last day's traffic (tenants that did nothing are absent)",
    responses((status = 200, description = "done", body = Vec<cloudgate_proto::admin::TenantActivity>), (status = 401, description = "no valid token or session", body = ApiError)),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn activity(State(console): Shared, _: Caller) -> Response {
    reply(ops::activity(&console).await.map(|all| {
        let mut v: Vec<_> = all.into_values().collect();
        v.sort_by(|a, b| a.tenant.cmp(&b.tenant));
        v
    }))
}
