//! The administrator's pages: each checks the session (and, for a form, its CSRF token), calls
//! one operation of [`crate::ops`] and renders the result with [`crate::views`].

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cloudgate_errors::{Classify as _, ErrorKind};
use serde::Deserialize;

use crate::auth::Admin;
use crate::ops::{self, OpError};
use crate::session::Session;
use crate::{Console, views};

mod certificates;
mod gateways;
mod tenants;

pub use certificates::*;
pub use gateways::*;
pub use tenants::*;

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

/// A refusal a form shows in place, with its status: bad input and conflicts; anything else
/// (not found, the database down) is for [`failed`].
fn in_form(e: OpError) -> Result<(StatusCode, String), OpError> {
    match e.kind() {
        ErrorKind::Usage => Ok((StatusCode::BAD_REQUEST, e.to_string())),
        ErrorKind::Conflict => Ok((StatusCode::CONFLICT, e.to_string())),
        _ => Err(e),
    }
}

/// The status a page is sent with and the refused form it shows, if one was refused.
fn refusal(
    refused: &Option<(StatusCode, views::FormError)>,
) -> (StatusCode, Option<&views::FormError>) {
    match refused {
        Some((status, e)) => (*status, Some(e)),
        None => (StatusCode::OK, None),
    }
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
pub async fn dashboard(State(console): State<Arc<Console>>, Admin(s): Admin) -> Response {
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
        let (recent, _) = ops::audit_log(&console, "refused", 0, 10).await?;
        Ok::<_, OpError>(views::Dashboard {
            current,
            summary,
            staged,
            adoption: ops::adoption(&console).await?,
            gateways: ops::gateways(&console).await?,
            tenants: ops::tenants(&console, "").await?.len(),
            recent,
            tunnels: console.tunnels.samples(),
            license: ops::license(&console).ok(),
            top: top_tenants(ops::activity(&console).await?),
        })
    };
    match gather.await {
        Ok(d) => views::dashboard(&s, &d).into_response(),
        Err(e) => failed(&s, e),
    }
}

/// Tenants with traffic over the last day, most first, at most five.
fn top_tenants(
    all: std::collections::HashMap<String, cloudgate_proto::admin::TenantActivity>,
) -> Vec<cloudgate_proto::admin::TenantActivity> {
    let mut top: Vec<_> = all.into_values().filter(|a| a.bytes_24h > 0).collect();
    top.sort_by(|a, b| b.bytes_24h.cmp(&a.bytes_24h).then(a.tenant.cmp(&b.tenant)));
    top.truncate(5);
    top
}

/// A form that only carries its CSRF token (and, for apply, whether to force).
#[derive(Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    force: Option<String>,
    #[serde(default)]
    enabled: Option<String>,
    #[serde(default)]
    confirm: Option<String>,
}

/// The tenant search.
#[derive(Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    page: Option<usize>,
}

/// `GET /audit`.
pub async fn audit(
    State(console): State<Arc<Console>>,
    Admin(s): Admin,
    Query(query): Query<SearchQuery>,
) -> Response {
    let page_no = query.page.unwrap_or(1).max(1);
    match ops::audit_log(&console, &query.q, (page_no - 1) * AUDIT_PAGE, AUDIT_PAGE).await {
        Ok((entries, total)) => {
            let pages = total.div_ceil(AUDIT_PAGE);
            views::audit(&s, &entries, &query.q, page_no, pages).into_response()
        }
        Err(e) => failed(&s, e),
    }
}
