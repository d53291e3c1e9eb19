//! Who is asking: an administrator's session (the pages, and the API from a page) or an API
//! token (scripts). Logging in is throttled in the SP database beside the gateway's enrollment
//! throttle, per address and per account, so a fleet of consoles counts together. A changing
//! request with a session must carry the session's CSRF token, and a browser's `Origin`, when
//! sent, must be the console's own.

use std::sync::Arc;

use axum::Form;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::server::Peer;
use crate::session::{self, Session};
use crate::{Console, views};

/// Failed logins from one address in a window before it is refused.
pub(crate) const ADDRESS_FAILURES: u32 = 10;
/// Failed logins for one account, from anywhere, in a window before it is refused.
pub(crate) const ACCOUNT_FAILURES: u32 = 20;
/// The window.
pub(crate) const WINDOW: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// Who is asking.
#[derive(Clone, Debug)]
pub enum Principal {
    /// An administrator, through their session.
    Admin(Session),
    /// A script, through an API token.
    Token {
        /// The token's id.
        id: String,
        /// Its name.
        name: String,
    },
}

impl Principal {
    /// The name the audit log records.
    pub fn who(&self) -> String {
        match self {
            Principal::Admin(s) => s.admin.clone(),
            Principal::Token { name, id } => format!("token:{name}:{id}"),
        }
    }
}

/// Why a request was not let in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No session, or no valid token: 401.
    Unauthenticated,
    /// A session without the CSRF token, or from another origin: 403.
    Csrf,
}

/// The administrator's live session, if the request carries one whose administrator still
/// exists.
pub async fn session_of(console: &Console, headers: &HeaderMap) -> Option<Session> {
    let id = session::cookie_of(headers)?;
    let s = console.sessions.touch(&id)?;
    // A password replaced (here, on the command line or on another console) or an
    // administrator removed ends every session that was opened with the old one.
    match console.db.admin(&s.admin).await {
        Ok(admin) if session::same_password(&s, &admin.password_hash) => Some(s),
        Ok(_) => {
            tracing::info!(admin = %s.admin, "console: session ended: the password was replaced");
            console.sessions.end_all_of(&s.admin);
            None
        }
        Err(_) => {
            console.sessions.end_all_of(&s.admin);
            None
        }
    }
}

/// Whether a browser's `Origin` (sent on every cross-site POST) is this console.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    origin == format!("https://{host}")
}

/// Who is asking an API call: a bearer token, or a session (with its CSRF token in
/// `X-CSRF-Token` for anything but a read).
pub async fn api_principal(
    console: &Console,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Principal, Refusal> {
    if let Some(auth) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let presented = auth
            .strip_prefix("Bearer ")
            .ok_or(Refusal::Unauthenticated)?;
        return match cloudgate_sp::admins::check_api_token(
            &*console.db,
            presented.trim(),
            OffsetDateTime::now_utc(),
        )
        .await
        {
            Ok(Ok(t)) => Ok(Principal::Token {
                id: t.id,
                name: t.name,
            }),
            Ok(Err(why)) => {
                tracing::info!(reason = ?why, "console: API token refused");
                Err(Refusal::Unauthenticated)
            }
            Err(e) => {
                tracing::warn!(error = %e, "console: API token not checked");
                Err(Refusal::Unauthenticated)
            }
        };
    }
    let s = session_of(console, headers)
        .await
        .ok_or(Refusal::Unauthenticated)?;
    if !matches!(*method, Method::GET | Method::HEAD) {
        let sent = headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !cloudgate_sp::credentials::same_secret(sent, &s.csrf) || !same_origin(headers) {
            return Err(Refusal::Csrf);
        }
    }
    Ok(Principal::Admin(s))
}

/// A page's administrator, or the way to the login page.
pub async fn page_session(console: &Console, headers: &HeaderMap) -> Result<Session, Response> {
    session_of(console, headers)
        .await
        .ok_or_else(|| Redirect::to("/login").into_response())
}

/// The refusal of a form whose CSRF token or origin is not the session's; `None` when it is.
pub fn form_refusal(s: &Session, headers: &HeaderMap, csrf: &str) -> Option<Response> {
    if cloudgate_sp::credentials::same_secret(csrf, &s.csrf) && same_origin(headers) {
        None
    } else {
        Some((
            StatusCode::FORBIDDEN,
            views::message_page(
                "Refused",
                "The form did not come from this console's page (its CSRF token is missing or stale). Reload the page and try again.",
            ),
        )
            .into_response())
    }
}

/// An API caller that was let in: a valid token, or a session (with its CSRF token and the
/// console's origin for anything but a read). Refused with 401 or 403 before the body is read.
pub struct Caller(pub Principal);

impl FromRequestParts<Arc<Console>> for Caller {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        console: &Arc<Console>,
    ) -> Result<Self, Response> {
        api_principal(console, &parts.method, &parts.headers)
            .await
            .map(Caller)
            .map_err(crate::api::refused)
    }
}

/// A page's administrator; without a live session, the way to the login page.
pub struct Admin(pub Session);

impl FromRequestParts<Arc<Console>> for Admin {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        console: &Arc<Console>,
    ) -> Result<Self, Response> {
        page_session(console, &parts.headers).await.map(Admin)
    }
}

/// A form an administrator posted from this console's page: the session, then the form's CSRF
/// token and the browser's `Origin`, are checked before the form itself is read.
pub struct AdminForm<T>(pub Session, pub T);

/// The one field every form carries.
#[derive(Deserialize)]
struct CsrfField {
    #[serde(default)]
    csrf: String,
}

impl<T: DeserializeOwned> FromRequest<Arc<Console>> for AdminForm<T> {
    type Rejection = Response;

    async fn from_request(req: Request, console: &Arc<Console>) -> Result<Self, Response> {
        let headers = req.headers().clone();
        let s = page_session(console, &headers).await?;
        let body = Bytes::from_request(req, console)
            .await
            .map_err(IntoResponse::into_response)?;
        let csrf = serde_urlencoded::from_bytes::<CsrfField>(&body)
            .map(|f| f.csrf)
            .unwrap_or_default();
        if let Some(refusal) = form_refusal(&s, &headers, &csrf) {
            return Err(refusal);
        }
        let form = serde_urlencoded::from_bytes::<T>(&body).map_err(|e| {
            (
                StatusCode::BAD_REQUEST,
                views::message_page("Not done", &format!("The form was not understood: {e}.")),
            )
                .into_response()
        })?;
        Ok(AdminForm(s, form))
    }
}

/// `GET /login`.
pub async fn login_page(State(console): State<Arc<Console>>, headers: HeaderMap) -> Response {
    if session_of(&console, &headers).await.is_some() {
        return Redirect::to("/").into_response();
    }
    views::login_page(None).into_response()
}

/// The login form.
#[derive(Deserialize)]
pub struct LoginForm {
    name: String,
    password: String,
}

/// `POST /login`.
pub async fn login(
    State(console): State<Arc<Console>>,
    axum::Extension(Peer(peer)): axum::Extension<Peer>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let LoginForm { name, password } = form;
    let password = Zeroizing::new(password);
    let form = LoginForm {
        name,
        password: String::new(),
    };
    if !same_origin(&headers) {
        return (
            StatusCode::FORBIDDEN,
            views::login_page(Some("This login form did not come from this console.")),
        )
            .into_response();
    }
    use cloudgate_sp::throttle::{ConsoleAddress, ConsoleAdmin};
    let db = &console.db;
    let address = ConsoleAddress(peer.ip());
    let account = ConsoleAdmin(form.name.clone());
    let journal = console.sp.journal();
    // The name is a stranger's text: one line, bounded, before it is kept.
    let typed: String = cloudgate_pki::text::one_line(&form.name)
        .chars()
        .take(64)
        .collect();
    let refused = |reason: &str| {
        journal.record_repeatable(
            &cloudgate_sp::Actor::Anonymous,
            "console.login_refused",
            "console login refused",
            serde_json::json!({ "admin": typed, "reason": reason, "source": peer.ip().to_string() }),
        );
    };
    let throttled = || {
        tracing::warn!(%peer, admin = %form.name, "console: login throttled");
        refused("throttled");
        (
            StatusCode::TOO_MANY_REQUESTS,
            views::login_page(Some(
                "Too many failed logins: wait 15 minutes, or have another administrator replace the password (`cloudgate sp admin set-password`).",
            )),
        )
            .into_response()
    };
    // Both attempts are counted before the password is checked, so concurrent guesses cannot
    // all be evaluated; a success clears nothing.
    let Some(_by_address) = console.login_throttle.begin(db, &address).await else {
        return throttled();
    };
    let Some(_by_account) = console.login_lockout.begin(db, &account).await else {
        return throttled();
    };
    match cloudgate_sp::admins::check_admin_password(&**db, &form.name, &password).await {
        Ok(Some(admin)) => {
            let s = match console.sessions.start(&admin.name, &admin.password_hash) {
                Ok(s) => s,
                Err(e) => return views::server_error(&e.to_string()),
            };
            tracing::info!(admin = %admin.name, %peer, "console: logged in");
            journal.record(
                &cloudgate_sp::Actor::Console(admin.name.clone()),
                "console.login",
                "logged in to the console",
                serde_json::json!({ "source": peer.ip().to_string() }),
            );
            (
                StatusCode::SEE_OTHER,
                [
                    (header::SET_COOKIE, session::set_cookie(&s.id)),
                    (header::LOCATION, "/".to_string()),
                ],
            )
                .into_response()
        }
        Ok(None) => {
            console.login_throttle.record_failure(db, &address).await;
            // Only accounts that exist are counted: made-up names cannot fill the table.
            if db.admin(&form.name).await.is_ok() {
                console.login_lockout.record_failure(db, &account).await;
            }
            tracing::info!(%peer, "console: login refused");
            refused("bad_credentials");
            (
                StatusCode::UNAUTHORIZED,
                views::login_page(Some("Wrong name or password.")),
            )
                .into_response()
        }
        Err(cloudgate_sp::SpError::Busy(_)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "2")],
            views::login_page(Some(
                "Too many logins are being checked at once; try again in a moment.",
            )),
        )
            .into_response(),
        Err(e) => views::server_error(&e.to_string()),
    }
}

/// The logout form.
#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

/// `POST /logout`.
pub async fn logout(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Some(s) = session_of(&console, &headers).await {
        if let Some(r) = form_refusal(&s, &headers, &form.csrf) {
            return r;
        }
        console.sessions.end(&s.id);
    }
    (
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, session::clear_cookie()),
            (header::LOCATION, "/login".to_string()),
        ],
    )
        .into_response()
}
