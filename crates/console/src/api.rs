//! `/api/v1`: the console's operations as JSON, with the types of
//! [`cloudgate_proto::admin`], for scripts (`Authorization: Bearer cgapi_…`) and for the pages'
//! own script (the session cookie and `X-CSRF-Token`). The OpenAPI document is at
//! `/api/v1/openapi.json`.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use cloudgate_errors::ErrorKind;
use cloudgate_proto::admin::{
    ApiError, ApplyRequest, ImportRequest, NewCertificate, NewPassword, NewTenant, Service,
};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::auth::{Principal, Refusal, api_principal};
use crate::ops::{self, OpError};
use crate::{Console, openapi};

/// Most audit entries one call returns.
const MAX_AUDIT_LIMIT: usize = 500;

/// The API's routes.
pub fn router() -> Router<Arc<Console>> {
    Router::new()
        .route("/openapi.json", get(openapi_document))
        .route("/certificates", get(certificates).post(generate))
        .route("/certificates/current", get(current))
        .route("/certificates/import", post(import))
        .route("/certificates/{id}/apply", post(apply))
        .route("/certificates/{id}/stage", post(stage))
        .route("/certificates/{id}/renew", post(renew))
        .route("/certificates/{id}", axum::routing::delete(remove))
        .route("/certificates/{id}/pem", get(pem))
        .route("/tenants", get(tenants).post(add_tenant))
        .route("/tenants/{name}", get(tenant).delete(remove_tenant))
        .route(
            "/tenants/{name}/services/{service}",
            axum::routing::delete(remove_service),
        )
        .route(
            "/tenants/{name}/machines/{sha256}",
            axum::routing::delete(revoke_machine),
        )
        .route("/tenants/{name}/enable", post(enable))
        .route("/tenants/{name}/disable", post(disable))
        .route("/tenants/{name}/password", put(set_password))
        .route("/tenants/{name}/services", post(add_service))
        .route("/gateways", get(gateways))
        .route("/audit", get(audit))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "not_found", "no such API call") })
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

fn refused(r: Refusal) -> Response {
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

fn bad_json(e: JsonRejection) -> Response {
    error(StatusCode::BAD_REQUEST, "bad_input", &e.body_text())
}

fn reply<T: Serialize>(result: Result<T, OpError>) -> Response {
    match result {
        Ok(v) => Json(v).into_response(),
        Err(e) => failed(e),
    }
}

/// Authenticates, then runs `$body` with the principal bound to `$who`.
macro_rules! authed {
    ($console:expr, $method:expr, $headers:expr, |$who:ident| $body:expr) => {
        match api_principal(&$console, &$method, &$headers).await {
            Ok(principal) => {
                let $who: Principal = principal;
                $body
            }
            Err(r) => refused(r),
        }
    };
}

async fn openapi_document() -> Response {
    Json(openapi::document()).into_response()
}

async fn certificates(
    State(console): State<Arc<Console>>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    authed!(console, method, headers, |_who| reply(ops::certificates(
        &console
    )))
}

async fn current(
    State(console): State<Arc<Console>>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    authed!(
        console,
        method,
        headers,
        |_who| match ops::current(&console) {
            Ok(Some(c)) => Json(c).into_response(),
            Ok(None) => error(
                StatusCode::NOT_FOUND,
                "not_found",
                "no certificate is in use",
            ),
            Err(e) => failed(e),
        }
    )
}

async fn generate(
    State(console): State<Arc<Console>>,
    method: Method,
    headers: HeaderMap,
    body: Result<Json<NewCertificate>, JsonRejection>,
) -> Response {
    authed!(console, method, headers, |who| match body {
        Ok(Json(request)) => {
            match ops::generate(&console, &who.who(), request).await {
                Ok(c) => (StatusCode::CREATED, Json(c)).into_response(),
                Err(e) => failed(e),
            }
        }
        Err(e) => bad_json(e),
    })
}

async fn import(
    State(console): State<Arc<Console>>,
    method: Method,
    headers: HeaderMap,
    body: Result<Json<ImportRequest>, JsonRejection>,
) -> Response {
    use base64::Engine as _;
    authed!(console, method, headers, |who| match body {
        Ok(Json(request)) => {
            let password = Zeroizing::new(request.password);
            let file = match base64::engine::general_purpose::STANDARD
                .decode(request.file_base64.trim())
            {
                Ok(f) => Zeroizing::new(f),
                Err(e) => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "bad_input",
                        &format!("file_base64 is not base64: {e}"),
                    );
                }
            };
            match ops::import(
                &console,
                &who.who(),
                &file,
                &password,
                request.friendly_name,
            ) {
                Ok(c) => (StatusCode::CREATED, Json(c)).into_response(),
                Err(e) => failed(e),
            }
        }
        Err(e) => bad_json(e),
    })
}

async fn apply(
    State(console): State<Arc<Console>>,
    Path(id): Path<String>,
    method: Method,
    headers: HeaderMap,
    body: Option<Json<ApplyRequest>>,
) -> Response {
    let force = body.map(|Json(b)| b.force).unwrap_or(false);
    authed!(console, method, headers, |who| reply(
        ops::apply(&console, &who.who(), &id, force).await
    ))
}

async fn stage(
    State(console): State<Arc<Console>>,
    Path(id): Path<String>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    authed!(console, method, headers, |who| reply(
        ops::stage(&console, &who.who(), &id).await
    ))
}

/// `POST /api/v1/certificates/{id}/renew`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RenewRequest {
    #[serde(default)]
    valid_days: Option<u32>,
}

async fn renew(
    State(console): State<Arc<Console>>,
    Path(id): Path<String>,
    method: Method,
    headers: HeaderMap,
    body: Option<Json<RenewRequest>>,
) -> Response {
    let days = body
        .and_then(|Json(b)| b.valid_days)
        .unwrap_or(cloudgate_sp::certs::DEFAULT_VALID_DAYS);
    authed!(
        console,
        method,
        headers,
        |who| match ops::renew(&console, &who.who(), &id, days).await {
            Ok(c) => (StatusCode::CREATED, Json(c)).into_response(),
            Err(e) => failed(e),
        }
    )
}

async fn remove(
    State(console): State<Arc<Console>>,
    Path(id): Path<String>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    authed!(console, method, headers, |who| reply(ops::remove(
        &console,
        &who.who(),
        &id
    )))
}

async fn pem(
    State(console): State<Arc<Console>>,
    Path(id): Path<String>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    authed!(
        console,
        method,
        headers,
        |_who| match ops::certificate_pem(&console, &id) {
            Ok((_, pem)) => (
                [(
                    axum::http::header::CONTENT_TYPE,
                    "application/pem-certificate-chain",
                )],
                pem,
            )
                .into_response(),
            Err(e) => failed(e),
        }
    )
}

#[derive(Deserialize)]
struct Search {
    #[serde(default)]
    q: String,
    #[serde(default)]
    offset: usize,
    #[serde(default)]
    limit: Option<usize>,
}

async fn tenants(
    State(console): State<Arc<Console>>,
    method: Method,
    headers: HeaderMap,
    Query(search): Query<Search>,
) -> Response {
    authed!(console, method, headers, |_who| reply(
        ops::tenants(&console, &search.q).await
    ))
}

async fn tenant(
    State(console): State<Arc<Console>>,
    Path(name): Path<String>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    authed!(console, method, headers, |_who| reply(
        ops::tenant(&console, &name).await
    ))
}

async fn add_tenant(
    State(console): State<Arc<Console>>,
    method: Method,
    headers: HeaderMap,
    body: Result<Json<NewTenant>, JsonRejection>,
) -> Response {
    authed!(console, method, headers, |who| match body {
        Ok(Json(new)) => {
            let result = ops::add_tenant(&console, &who.who(), &new).await;
            drop(Zeroizing::new(new.password));
            match result {
                Ok(t) => (StatusCode::CREATED, Json(t)).into_response(),
                Err(e) => failed(e),
            }
        }
        Err(e) => bad_json(e),
    })
}

async fn remove_tenant(
    State(console): State<Arc<Console>>,
    Path(name): Path<String>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    authed!(console, method, headers, |who| reply(
        ops::remove_tenant(&console, &who.who(), &name).await
    ))
}

async fn remove_service(
    State(console): State<Arc<Console>>,
    Path((name, service)): Path<(String, String)>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    authed!(console, method, headers, |who| reply(
        ops::remove_service(&console, &who.who(), &name, &service).await
    ))
}

async fn revoke_machine(
    State(console): State<Arc<Console>>,
    Path((name, sha256)): Path<(String, String)>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    authed!(console, method, headers, |who| reply(
        ops::revoke_machine(&console, &who.who(), &name, &sha256).await
    ))
}

async fn enable(
    State(console): State<Arc<Console>>,
    Path(name): Path<String>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    authed!(console, method, headers, |who| reply(
        ops::set_enabled(&console, &who.who(), &name, true).await
    ))
}

async fn disable(
    State(console): State<Arc<Console>>,
    Path(name): Path<String>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    authed!(console, method, headers, |who| reply(
        ops::set_enabled(&console, &who.who(), &name, false).await
    ))
}

async fn set_password(
    State(console): State<Arc<Console>>,
    Path(name): Path<String>,
    method: Method,
    headers: HeaderMap,
    body: Result<Json<NewPassword>, JsonRejection>,
) -> Response {
    authed!(console, method, headers, |who| match body {
        Ok(Json(new)) => {
            let password = Zeroizing::new(new.password);
            match ops::set_password(&console, &who.who(), &name, &password).await {
                Ok(()) => StatusCode::NO_CONTENT.into_response(),
                Err(e) => failed(e),
            }
        }
        Err(e) => bad_json(e),
    })
}

async fn add_service(
    State(console): State<Arc<Console>>,
    Path(name): Path<String>,
    method: Method,
    headers: HeaderMap,
    body: Result<Json<Service>, JsonRejection>,
) -> Response {
    authed!(console, method, headers, |who| match body {
        Ok(Json(service)) => match ops::add_service(&console, &who.who(), &name, &service).await {
            Ok(t) => (StatusCode::CREATED, Json(t)).into_response(),
            Err(e) => failed(e),
        },
        Err(e) => bad_json(e),
    })
}

async fn gateways(
    State(console): State<Arc<Console>>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    authed!(console, method, headers, |_who| reply(
        ops::gateways(&console).await
    ))
}

/// A page of the audit log.
#[derive(Serialize)]
struct AuditPage {
    total: usize,
    offset: usize,
    entries: Vec<cloudgate_proto::admin::AuditEntry>,
}

async fn audit(
    State(console): State<Arc<Console>>,
    method: Method,
    headers: HeaderMap,
    Query(search): Query<Search>,
) -> Response {
    let limit = search.limit.unwrap_or(100).min(MAX_AUDIT_LIMIT);
    authed!(console, method, headers, |_who| reply(
        ops::audit_log(&console, &search.q, search.offset, limit).map(|(entries, total)| {
            AuditPage {
                total,
                offset: search.offset,
                entries,
            }
        })
    ))
}
