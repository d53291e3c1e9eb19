//! The administrator's pages: each checks the session (and, for a form, its CSRF token), calls
//! one operation of [`crate::ops`] and renders the result with [`crate::views`].

use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use cloudgate_errors::ErrorKind;
use cloudgate_proto::admin::{NewCertificate, NewTenant, Service};
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::auth::{form_refusal, page_session};
use crate::ops::{self, OpError};
use crate::session::Session;
use crate::{Console, views};

/// Audit entries per page.
const AUDIT_PAGE: usize = 50;

/// An operation's failure as a page: bad input and conflicts say what was wrong, the rest is
/// logged and said briefly.
fn failed(_: &Session, e: OpError) -> Response {
    let status = match e.kind() {
        ErrorKind::Usage => StatusCode::BAD_REQUEST,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        _ => return views::server_error(&e.to_string()),
    };
    (status, views::message_page("Not done", &e.to_string())).into_response()
}

/// 404 for anything else.
pub async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        views::message_page("Not found", "There is no such page."),
    )
        .into_response()
}

/// `GET /`.
pub async fn dashboard(State(console): State<Arc<Console>>, headers: HeaderMap) -> Response {
    let s = match page_session(&console, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let gather = async {
        let current = ops::current(&console)?;
        let summary = match &current {
            Some(c) => Some(ops::summary(&console, &c.sha256)?),
            None => None,
        };
        let staged = match console.store.rollover_history()?.staged {
            Some(st) => console
                .store
                .find(&st.to_sha256)
                .ok()
                .map(|e| cloudgate_sp::views::certificate(&e)),
            None => None,
        };
        let (recent, _) = ops::audit_log(&console, "refused", 0, 10)?;
        Ok::<_, OpError>(views::Dashboard {
            current,
            summary,
            staged,
            adoption: ops::adoption(&console).await?,
            gateways: ops::gateways(&console).await?,
            tenants: ops::tenants(&console, "").await?.len(),
            recent,
            tunnels: console.tunnels.samples(),
        })
    };
    match gather.await {
        Ok(d) => views::dashboard(&s, &d).into_response(),
        Err(e) => failed(&s, e),
    }
}

/// `GET /certificates`.
pub async fn certificates(State(console): State<Arc<Console>>, headers: HeaderMap) -> Response {
    let s = match page_session(&console, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    match ops::certificates(&console) {
        Ok(all) => views::certificates(&s, &all, None).into_response(),
        Err(e) => failed(&s, e),
    }
}

/// The generation form.
#[derive(Deserialize)]
pub struct GenerateForm {
    csrf: String,
    #[serde(default)]
    friendly_name: String,
    #[serde(default)]
    key_type: String,
    #[serde(default)]
    valid_days: String,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    sans: String,
}

/// `POST /certificates/generate`.
pub async fn generate(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Form(form): Form<GenerateForm>,
) -> Response {
    let s = match page_session(&console, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if let Some(r) = form_refusal(&s, &headers, &form.csrf) {
        return r;
    }
    let valid_days = match form.valid_days.trim() {
        "" => None,
        d => match d.parse::<u32>() {
            Ok(d) => Some(d),
            Err(_) => {
                return failed(
                    &s,
                    OpError::Invalid(format!("validity {d:?} is not a number of days")),
                );
            }
        },
    };
    let request = NewCertificate {
        friendly_name: Some(form.friendly_name),
        key_type: Some(form.key_type),
        valid_days,
        subject: Some(form.subject),
        sans: form.sans.split(',').map(str::to_string).collect(),
    };
    let result = async {
        let c = ops::generate(&console, &s.admin, request).await?;
        let summary = ops::summary(&console, &c.sha256)?;
        Ok::<_, OpError>((c, summary))
    };
    match result.await {
        Ok((c, summary)) => views::generated(&s, &c, &summary).into_response(),
        Err(e) => failed(&s, e),
    }
}

/// `POST /certificates/import`: a multipart form with the file, its password and a friendly
/// name (the body is capped at [`crate::MAX_BODY`]).
pub async fn import(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    mut multipart: axum::extract::Multipart,
) -> Response {
    let s = match page_session(&console, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let (mut csrf, mut file, mut friendly) = (String::new(), Vec::new(), String::new());
    let mut password = Zeroizing::new(String::new());
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                return failed(&s, OpError::Invalid(format!("the upload was refused: {e}")));
            }
        };
        let name = field.name().unwrap_or_default().to_string();
        let bytes = match field.bytes().await {
            Ok(b) => b,
            Err(e) => {
                return failed(&s, OpError::Invalid(format!("the upload was refused: {e}")));
            }
        };
        let text = || String::from_utf8_lossy(&bytes).into_owned();
        match name.as_str() {
            "csrf" => csrf = text(),
            "file" => file = bytes.to_vec(),
            "password" => password = Zeroizing::new(text()),
            "friendly_name" => friendly = text(),
            _ => {}
        }
    }
    if let Some(r) = form_refusal(&s, &headers, &csrf) {
        return r;
    }
    if file.is_empty() {
        return failed(&s, OpError::Invalid("choose a file to import".into()));
    }
    let result = async {
        let c = ops::import(&console, &s.admin, &file, &password, Some(friendly))?;
        let summary = ops::summary(&console, &c.sha256)?;
        Ok::<_, OpError>((c, summary))
    };
    match result.await {
        Ok((c, summary)) => views::generated(&s, &c, &summary).into_response(),
        Err(e) => failed(&s, e),
    }
}

/// A form that only carries its CSRF token (and, for apply, whether to force).
#[derive(Deserialize)]
pub struct ActionForm {
    csrf: String,
    #[serde(default)]
    force: Option<String>,
    #[serde(default)]
    enabled: Option<String>,
}

/// `POST /certificates/ID/apply`.
pub async fn apply(
    State(console): State<Arc<Console>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<ActionForm>,
) -> Response {
    let s = match page_session(&console, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if let Some(r) = form_refusal(&s, &headers, &form.csrf) {
        return r;
    }
    let force = form.force.as_deref() == Some("true");
    match ops::apply(&console, &s.admin, &id, force).await {
        Ok(c) => {
            let all = ops::certificates(&console).unwrap_or_default();
            let flash = format!(
                "{} ({}) is now in use. Cloud Connect certificate is being updated.",
                c.friendly_name, c.thumbprint
            );
            views::certificates(&s, &all, Some(&flash)).into_response()
        }
        Err(e @ OpError::WouldReverify { .. }) => (
            StatusCode::CONFLICT,
            views::confirm_switch(&s, &id, &e.to_string()),
        )
            .into_response(),
        Err(e) => failed(&s, e),
    }
}

/// `POST /certificates/ID/stage`.
pub async fn stage(
    State(console): State<Arc<Console>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<ActionForm>,
) -> Response {
    let s = match page_session(&console, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if let Some(r) = form_refusal(&s, &headers, &form.csrf) {
        return r;
    }
    match ops::stage(&console, &s.admin, &id).await {
        Ok(c) => {
            let all = ops::certificates(&console).unwrap_or_default();
            let flash = format!(
                "{} ({}) is staged as the successor, with a rollover proof: tenants learn it at their next connection; apply it once the dashboard shows they have.",
                c.friendly_name, c.thumbprint
            );
            views::certificates(&s, &all, Some(&flash)).into_response()
        }
        Err(e) => failed(&s, e),
    }
}

/// `POST /certificates/ID/renew`: a year with the same key.
pub async fn renew(
    State(console): State<Arc<Console>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<ActionForm>,
) -> Response {
    let s = match page_session(&console, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if let Some(r) = form_refusal(&s, &headers, &form.csrf) {
        return r;
    }
    match ops::renew(
        &console,
        &s.admin,
        &id,
        cloudgate_sp::certs::DEFAULT_VALID_DAYS,
    )
    .await
    {
        Ok(c) => {
            let all = ops::certificates(&console).unwrap_or_default();
            let flash = format!(
                "Renewed with the same key: {} ({}){}. Tenants follow without asking.",
                c.friendly_name,
                c.thumbprint,
                if c.applied { ", in use" } else { "" }
            );
            views::certificates(&s, &all, Some(&flash)).into_response()
        }
        Err(e) => failed(&s, e),
    }
}

/// `POST /certificates/ID/remove`.
pub async fn remove(
    State(console): State<Arc<Console>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<ActionForm>,
) -> Response {
    let s = match page_session(&console, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if let Some(r) = form_refusal(&s, &headers, &form.csrf) {
        return r;
    }
    match ops::remove(&console, &s.admin, &id) {
        Ok(c) => {
            let all = ops::certificates(&console).unwrap_or_default();
            let flash = format!(
                "Removed {} ({}) and its key.",
                c.friendly_name, c.thumbprint
            );
            views::certificates(&s, &all, Some(&flash)).into_response()
        }
        Err(e) => failed(&s, e),
    }
}

/// `GET /certificates/ID/pem`: the certificate and its chain as a download.
pub async fn pem(
    State(console): State<Arc<Console>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let s = match page_session(&console, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    match ops::certificate_pem(&console, &id) {
        Ok((thumbprint, pem)) => (
            [
                (
                    axum::http::header::CONTENT_TYPE,
                    "application/pem-certificate-chain".to_string(),
                ),
                (
                    axum::http::header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{thumbprint}.pem\""),
                ),
            ],
            pem,
        )
            .into_response(),
        Err(e) => failed(&s, e),
    }
}

/// The tenant search.
#[derive(Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    page: Option<usize>,
}

/// `GET /tenants`.
pub async fn tenants(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Query(query): Query<SearchQuery>,
) -> Response {
    let s = match page_session(&console, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    match ops::tenants(&console, &query.q).await {
        Ok(all) => views::tenants(&s, &all, &query.q, None).into_response(),
        Err(e) => failed(&s, e),
    }
}

/// The new-tenant form.
#[derive(Deserialize)]
pub struct TenantForm {
    csrf: String,
    name: String,
    #[serde(default)]
    description: String,
    password: String,
}

/// `POST /tenants`.
pub async fn add_tenant(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Form(form): Form<TenantForm>,
) -> Response {
    let s = match page_session(&console, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if let Some(r) = form_refusal(&s, &headers, &form.csrf) {
        return r;
    }
    let new = NewTenant {
        name: form.name,
        description: form.description,
        password: form.password,
    };
    let result = ops::add_tenant(&console, &s.admin, &new).await;
    drop(Zeroizing::new(new.password));
    match result {
        Ok(t) => views::tenant(&s, &t, Some("Tenant added.")).into_response(),
        Err(e) => failed(&s, e),
    }
}

/// `GET /tenants/NAME`.
pub async fn tenant(
    State(console): State<Arc<Console>>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let s = match page_session(&console, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    match ops::tenant(&console, &name).await {
        Ok(t) => views::tenant(&s, &t, None).into_response(),
        Err(e) => failed(&s, e),
    }
}

/// `POST /tenants/NAME/enabled`.
pub async fn set_enabled(
    State(console): State<Arc<Console>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Form(form): Form<ActionForm>,
) -> Response {
    let s = match page_session(&console, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if let Some(r) = form_refusal(&s, &headers, &form.csrf) {
        return r;
    }
    let enabled = form.enabled.as_deref() == Some("true");
    match ops::set_enabled(&console, &s.admin, &name, enabled).await {
        Ok(t) => views::tenant(
            &s,
            &t,
            Some(if enabled {
                "Tenant enabled."
            } else {
                "Tenant disabled: its machines can no longer enroll or open tunnels."
            }),
        )
        .into_response(),
        Err(e) => failed(&s, e),
    }
}

/// The password form.
#[derive(Deserialize)]
pub struct PasswordForm {
    csrf: String,
    password: String,
}

/// `POST /tenants/NAME/password`.
pub async fn set_password(
    State(console): State<Arc<Console>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Form(form): Form<PasswordForm>,
) -> Response {
    let s = match page_session(&console, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let password = Zeroizing::new(form.password);
    if let Some(r) = form_refusal(&s, &headers, &form.csrf) {
        return r;
    }
    let result = async {
        ops::set_password(&console, &s.admin, &name, &password).await?;
        ops::tenant(&console, &name).await
    };
    match result.await {
        Ok(t) => views::tenant(&s, &t, Some("Password replaced.")).into_response(),
        Err(e) => failed(&s, e),
    }
}

/// The service form.
#[derive(Deserialize)]
pub struct ServiceForm {
    csrf: String,
    name: String,
    target: String,
}

/// `POST /tenants/NAME/services`.
pub async fn add_service(
    State(console): State<Arc<Console>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Form(form): Form<ServiceForm>,
) -> Response {
    let s = match page_session(&console, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if let Some(r) = form_refusal(&s, &headers, &form.csrf) {
        return r;
    }
    let service = Service {
        name: form.name,
        target: form.target,
    };
    match ops::add_service(&console, &s.admin, &name, &service).await {
        Ok(t) => views::tenant(&s, &t, Some("Service added.")).into_response(),
        Err(e) => failed(&s, e),
    }
}

/// The form of a removal on a tenant's page: what to remove.
#[derive(Deserialize)]
pub struct RemoveForm {
    csrf: String,
    #[serde(default)]
    service: Option<String>,
    #[serde(default)]
    machine: Option<String>,
}

/// `POST /tenants/NAME/remove`: the tenant, one of its services or one of its machines.
pub async fn remove_from_tenant(
    State(console): State<Arc<Console>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Form(form): Form<RemoveForm>,
) -> Response {
    let s = match page_session(&console, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if let Some(r) = form_refusal(&s, &headers, &form.csrf) {
        return r;
    }
    let done = match (&form.service, &form.machine) {
        (Some(service), _) => ops::remove_service(&console, &s.admin, &name, service)
            .await
            .map(|t| (Some(t), "Service removed.")),
        (None, Some(machine)) => ops::revoke_machine(&console, &s.admin, &name, machine)
            .await
            .map(|t| (Some(t), "Machine revoked: it can no longer open tunnels.")),
        (None, None) => ops::remove_tenant(&console, &s.admin, &name)
            .await
            .map(|_| (None, "Tenant removed with its services and machines.")),
    };
    match done {
        Ok((Some(t), flash)) => views::tenant(&s, &t, Some(flash)).into_response(),
        Ok((None, flash)) => {
            let all = ops::tenants(&console, "").await.unwrap_or_default();
            views::tenants(&s, &all, "", Some(flash)).into_response()
        }
        Err(e) => failed(&s, e),
    }
}

/// `GET /gateways`.
pub async fn gateways(State(console): State<Arc<Console>>, headers: HeaderMap) -> Response {
    let s = match page_session(&console, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    match ops::gateways(&console).await {
        Ok(all) => views::gateways(&s, &all).into_response(),
        Err(e) => failed(&s, e),
    }
}

/// `GET /audit`.
pub async fn audit(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Query(query): Query<SearchQuery>,
) -> Response {
    let s = match page_session(&console, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let page_no = query.page.unwrap_or(1).max(1);
    match ops::audit_log(&console, &query.q, (page_no - 1) * AUDIT_PAGE, AUDIT_PAGE) {
        Ok((entries, total)) => {
            let pages = total.div_ceil(AUDIT_PAGE);
            views::audit(&s, &entries, &query.q, page_no, pages).into_response()
        }
        Err(e) => failed(&s, e),
    }
}
