//! The certificates page: the Manage Certificates wizard in the browser.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use zeroize::Zeroizing;

use cloudgate_proto::admin::NewCertificate;

use super::{ActionForm, failed, in_form};
use crate::auth::{Admin, AdminForm, form_refusal};
use crate::ops::{self, OpError};
use crate::session::Session;
use crate::views::FormError;
use crate::{Console, views};

/// `GET /certificates`.
pub async fn certificates(State(console): State<Arc<Console>>, Admin(s): Admin) -> Response {
    match ops::certificates(&console) {
        Ok(all) => views::certificates(&s, &all, None, None).into_response(),
        Err(e) => failed(&s, e),
    }
}

/// The generation form.
#[derive(Deserialize)]
pub struct GenerateForm {
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
    AdminForm(s, form): AdminForm<GenerateForm>,
) -> Response {
    let kept = || {
        vec![
            ("friendly_name", form.friendly_name.clone()),
            ("key_type", form.key_type.clone()),
            ("valid_days", form.valid_days.clone()),
            ("subject", form.subject.clone()),
            ("sans", form.sans.clone()),
        ]
    };
    let valid_days = match form.valid_days.trim() {
        "" => None,
        d => match d.parse::<u32>() {
            Ok(d) => Some(d),
            Err(_) => {
                let e = OpError::Invalid(format!(
                    "validity {d:?} is not a number of days: type a whole number from 1 to 3650"
                ));
                return refused(
                    &console,
                    &s,
                    e,
                    FormError::new("generate", String::new(), kept()),
                );
            }
        },
    };
    let request = NewCertificate {
        friendly_name: Some(form.friendly_name.clone()),
        key_type: Some(form.key_type.clone()),
        valid_days,
        subject: Some(form.subject.clone()),
        sans: form.sans.split(',').map(str::to_string).collect(),
    };
    let result = async {
        let c = ops::generate(&console, &s.admin, request).await?;
        let summary = ops::summary(&console, &c.sha256)?;
        Ok::<_, OpError>((c, summary))
    };
    match result.await {
        Ok((c, summary)) => views::generated(&s, &c, &summary).into_response(),
        Err(e) => refused(
            &console,
            &s,
            e,
            FormError::new("generate", String::new(), kept()),
        ),
    }
}

/// The certificates' page again with form `form`'s refusal in place (its message filled in
/// here), or the failure page for what a form cannot show.
fn refused(console: &Console, s: &Session, e: OpError, mut form: FormError) -> Response {
    let (status, message) = match in_form(e) {
        Ok(shown) => shown,
        Err(e) => return failed(s, e),
    };
    form.message = message;
    match ops::certificates(console) {
        Ok(all) => (status, views::certificates(s, &all, None, Some(&form))).into_response(),
        Err(e) => failed(s, e),
    }
}

/// `POST /certificates/import`: a multipart form with the file, its password and a friendly
/// name (the body is capped at [`crate::MAX_BODY`]).
pub async fn import(
    State(console): State<Arc<Console>>,
    Admin(s): Admin,
    headers: HeaderMap,
    mut multipart: axum::extract::Multipart,
) -> Response {
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
    let form = || {
        FormError::new(
            "import",
            String::new(),
            vec![("friendly_name", friendly.clone())],
        )
        .with_password()
    };
    if file.is_empty() {
        let e = OpError::Invalid("choose a file to import".into());
        return refused(&console, &s, e, form());
    }
    let result = async {
        let c = ops::import(&console, &s.admin, &file, &password, Some(friendly.clone())).await?;
        let summary = ops::summary(&console, &c.sha256)?;
        Ok::<_, OpError>((c, summary))
    };
    match result.await {
        Ok((c, summary)) => views::generated(&s, &c, &summary).into_response(),
        Err(e) => refused(&console, &s, e, form()),
    }
}

/// `POST /certificates/ID/apply`.
pub async fn apply(
    State(console): State<Arc<Console>>,
    Path(id): Path<String>,
    AdminForm(s, form): AdminForm<ActionForm>,
) -> Response {
    let force = form.force.as_deref() == Some("true");
    match ops::apply(&console, &s.admin, &id, force).await {
        Ok(c) => {
            let all = ops::certificates(&console).unwrap_or_default();
            let flash = format!(
                "{} ({}) is now in use. Cloud Connect certificate is being updated.",
                c.friendly_name, c.thumbprint
            );
            views::certificates(&s, &all, Some(&flash), None).into_response()
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
    AdminForm(s, _): AdminForm<ActionForm>,
) -> Response {
    match ops::stage(&console, &s.admin, &id).await {
        Ok(c) => {
            let all = ops::certificates(&console).unwrap_or_default();
            let flash = format!(
                "{} ({}) is staged as the successor, with a rollover proof: tenants learn it at their next connection; apply it once the dashboard shows they have.",
                c.friendly_name, c.thumbprint
            );
            views::certificates(&s, &all, Some(&flash), None).into_response()
        }
        Err(e) => failed(&s, e),
    }
}

/// `POST /certificates/ID/renew`: a year with the same key.
pub async fn renew(
    State(console): State<Arc<Console>>,
    Path(id): Path<String>,
    AdminForm(s, _): AdminForm<ActionForm>,
) -> Response {
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
            views::certificates(&s, &all, Some(&flash), None).into_response()
        }
        Err(e) => failed(&s, e),
    }
}

/// `POST /certificates/ID/remove`.
pub async fn remove(
    State(console): State<Arc<Console>>,
    Path(id): Path<String>,
    AdminForm(s, form): AdminForm<ActionForm>,
) -> Response {
    if !views::confirmed(&form.confirm) {
        let named = ops::certificates(&console)
            .unwrap_or_default()
            .into_iter()
            .find(|c| c.sha256 == id || c.thumbprint == id)
            .map(|c| format!("{} ({})", c.friendly_name, c.thumbprint))
            .unwrap_or_else(|| id.clone());
        return views::confirm(
            &s,
            &views::Confirmation {
                title: format!("Remove certificate {named}?"),
                losses: vec![
                    format!("The certificate {named} and its private key are deleted from the store."),
                    "Export it with its key first (sp cert export --with-key) if it may be needed again; a tenant pinned to it would have to verify another by hand.".to_string(),
                ],
                action: format!("/certificates/{id}/remove"),
                fields: Vec::new(),
                button: "Remove the certificate and its key".to_string(),
                cancel: "/certificates".to_string(),
                section: "/certificates",
            },
        )
        .into_response();
    }
    match ops::remove(&console, &s.admin, &id).await {
        Ok(c) => {
            let all = ops::certificates(&console).unwrap_or_default();
            let flash = format!(
                "Removed {} ({}) and its key.",
                c.friendly_name, c.thumbprint
            );
            views::certificates(&s, &all, Some(&flash), None).into_response()
        }
        Err(e) => failed(&s, e),
    }
}

/// `GET /certificates/ID/pem`: the certificate and its chain as a download.
pub async fn pem(
    State(console): State<Arc<Console>>,
    Path(id): Path<String>,
    Admin(s): Admin,
) -> Response {
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
