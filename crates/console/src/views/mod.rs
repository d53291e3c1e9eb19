//! The pages' HTML, with `maud`: every value is escaped where it is written, so a friendly name,
//! a tenant name, a subject or an audit line holding `<script>` shows as text. No inline script
//! or style: the Content-Security-Policy forbids them, and `console.js` binds the buttons.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use cloudgate_proto::admin::{AuditEntry, Certificate, Gateway};
use cloudgate_sp::switch::Adoption;
use maud::{DOCTYPE, Markup, html};

use crate::session::Session;

mod cells;
mod confirm;
mod form_error;
mod gateways;
mod tenants;

pub use confirm::{Confirmation, confirm, confirmed};
pub use form_error::FormError;
use form_error::kept;
pub use gateways::{GatewaysPage, gateways};
pub use tenants::{TenantPage, TenantsPage, tenant, tenants};

/// The frame of every page after login: navigation, who is logged in, logout.
pub fn page(title: &str, s: &Session, current: &str, body: Markup) -> Html<String> {
    let nav = [
        ("/", "Dashboard"),
        ("/certificates", "Certificates"),
        ("/tenants", "Tenants"),
        ("/gateways", "Gateways"),
        ("/audit", "Audit log"),
    ];
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                (head(title, true))
                body {
                    a.skip href="#main" { "Skip to content" }
                    header {
                        nav aria-label="Main" {
                            span.brand { "cloudgate" }
                            ul {
                                @for (href, label) in nav {
                                    li {
                                        @if href == current {
                                            a href=(href) aria-current="page" { (label) }
                                        } @else {
                                            a href=(href) { (label) }
                                        }
                                    }
                                }
                            }
                            form.logout method="post" action="/logout" {
                                input type="hidden" name="csrf" value=(s.csrf);
                                span { "Signed in as " strong { (s.admin) } }
                                button type="submit" { "Log out" }
                            }
                        }
                    }
                    main id="main" {
                        h1 { (title) }
                        (body)
                    }
                }
            }
        }
        .into_string(),
    )
}

/// The `<head>` of every page; the script only where a page has buttons for it.
fn head(title: &str, script: bool) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · cloudgate" }
            link rel="stylesheet" href="/static/console.css";
            link rel="icon" href="/static/favicon.svg" type="image/svg+xml";
            @if script { script src="/static/console.js" defer {} }
        }
    }
}

/// A page without the navigation: login, errors.
fn bare(title: &str, body: Markup) -> Html<String> {
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                (head(title, false))
                body {
                    main id="main" class="narrow" {
                        h1 { (title) }
                        (body)
                    }
                }
            }
        }
        .into_string(),
    )
}

/// The login page, with what went wrong.
pub fn login_page(error: Option<&str>) -> Html<String> {
    bare(
        "cloudgate console",
        html! {
            @if let Some(e) = error { p.error role="alert" { (e) } }
            form method="post" action="/login" {
                label for="name" { "Administrator" }
                input id="name" name="name" autocomplete="username" required autofocus;
                label for="password" { "Password" }
                input id="password" name="password" type="password" autocomplete="current-password" required;
                button type="submit" { "Log in" }
            }
            p.hint { "Administrators are added on the SP host with " code { "cloudgate sp admin add NAME" } "." }
        },
    )
}

/// A page that only says something.
pub fn message_page(title: &str, text: &str) -> Html<String> {
    bare(
        title,
        html! { p { (text) } p { a href="/" { "Back to the dashboard" } } },
    )
}

/// A 500 page; the details go to the log, not to the page.
pub fn server_error(detail: &str) -> Response {
    tracing::error!(detail, "console: request failed");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        message_page(
            "Something failed",
            "The console could not do that; the SP's log says why.",
        ),
    )
        .into_response()
}

/// The days left, with the class that colours them.
fn days(d: i64) -> Markup {
    let class = if d < 0 {
        "expired"
    } else if d <= 14 {
        "urgent"
    } else if d <= 30 {
        "soon"
    } else {
        "fine"
    };
    html! { span class=(format!("days {class}")) { (d) " days" } }
}

/// The Summary in a block with a Copy button.
fn summary_block(summary: &str) -> Markup {
    html! {
        div.summary {
            pre id="summary" { (summary) }
            button type="button" data-copy="summary" { "Copy" }
            span.copied role="status" aria-live="polite" {}
        }
    }
}

/// What the dashboard shows.
pub struct Dashboard {
    /// The certificate in use.
    pub current: Option<Certificate>,
    /// Its Summary.
    pub summary: Option<String>,
    /// The staged successor.
    pub staged: Option<Certificate>,
    /// Adoption by the enrolled machines.
    pub adoption: Adoption,
    /// The fleet.
    pub gateways: Vec<Gateway>,
    /// Tenants.
    pub tenants: usize,
    /// The latest refusals and alarms from the audit log.
    pub recent: Vec<AuditEntry>,
    /// Open tunnels and relayed bytes over the last hour.
    pub tunnels: Vec<crate::charts::Sample>,
    /// The license (who new certificates are issued to).
    pub license: Option<cloudgate_proto::admin::LicenseInfo>,
    /// The tenants with the most traffic over the last day, most first.
    pub top: Vec<cloudgate_proto::admin::TenantActivity>,
}

/// `/`.
pub fn dashboard(s: &Session, d: &Dashboard) -> Html<String> {
    let up = d
        .gateways
        .iter()
        .filter(|g| g.state == cloudgate_proto::admin::GatewayState::Up)
        .count();
    let tunnels: i64 = d.gateways.iter().map(|g| g.open_tunnels).sum();
    page(
        "Dashboard",
        s,
        "/",
        html! {
            section aria-labelledby="cert-h" {
                h2 id="cert-h" { "Certificate in use" }
                @match (&d.current, &d.summary) {
                    (Some(c), Some(summary)) => {
                        p { "Expires in " (days(c.days_left)) " (" (c.not_after) ")." }
                        (summary_block(summary))
                        p.hint { "Send these six lines to your tenants so that they can verify the thumbprint." }
                    }
                    _ => {
                        p { "No certificate is in use. " a href="/certificates" { "Generate one" } "." }
                    }
                }
                @if let Some(st) = &d.staged {
                    p {
                        "Staged successor: " strong { (st.friendly_name) } " (" code { (st.thumbprint) } "). "
                        (d.adoption.tenants_seen_successor) " of " (d.adoption.tenants) " tenants have seen it ("
                        (d.adoption.machines_seen_successor) " of " (d.adoption.machines) " machines)."
                    }
                }
            }
            @if let Some(l) = &d.license {
                @if l.expired {
                    p.error role="alert" { "The license of " (l.licensee) " expired on " (l.expires.as_deref().unwrap_or("?")) ": install a current one (" code { "PUT /api/v1/license" } " or " code { "cloudgate sp license install" } ")." }
                } @else if l.installed {
                    p.hint { "Licensed to " strong { (l.licensee) } @if let Some(e) = &l.expires { ", until " (e) } "." }
                } @else {
                    p.hint { "No license installed: new certificates are issued to this host's name, " strong { (l.licensee) } "." }
                }
            }
            section.cards aria-label="Figures" {
                div.card { span.figure { (d.tenants) } span { "tenants" } }
                div.card { span.figure { (d.adoption.machines) } span { "enrolled machines" } }
                div.card { span.figure { (up) "/" (d.gateways.len()) } span { "gateways up" } }
                div.card { span.figure { (tunnels) } span { "tunnels open" } }
            }
            section aria-labelledby="tunnels-h" {
                h2 id="tunnels-h" { "Tunnels" }
                (crate::charts::fleet_charts(&d.tunnels))
            }
            section aria-labelledby="top-h" {
                h2 id="top-h" { "Top tenants, last 24 hours" }
                @if d.top.is_empty() { p { "No traffic yet." } }
                @else {
                    table {
                        thead { tr { th scope="col" { "Tenant" } th scope="col" { "Traffic" } th scope="col" { "Open tunnels" } } }
                        tbody {
                            @for a in &d.top {
                                tr {
                                    td { a.nowrap href=(format!("/tenants/{}", a.tenant)) { (a.tenant) } }
                                    td.num { (human_bytes(a.bytes_24h)) }
                                    td.num { (a.open_tunnels) }
                                }
                            }
                        }
                    }
                }
            }
            section aria-labelledby="recent-h" {
                h2 id="recent-h" { "Recent refusals and alarms" }
                @if d.recent.is_empty() { p { "None." } }
                @else { (audit_table(&d.recent)) }
            }
        },
    )
}

pub(crate) fn csrf(s: &Session) -> Markup {
    html! { input type="hidden" name="csrf" value=(s.csrf); }
}

/// `/certificates`.
pub fn certificates(
    s: &Session,
    all: &[Certificate],
    flash: Option<&str>,
    e: Option<&FormError>,
) -> Html<String> {
    page(
        "Certificates",
        s,
        "/certificates",
        html! {
            @if let Some(f) = flash { p.flash role="status" { (f) } }
            table {
                caption { "The SP's certificate store" }
                thead { tr { th scope="col" { "Name" } th scope="col" { "Thumbprint" } th scope="col" { "Key" } th scope="col" { "Expires" } th scope="col" { "Source" } th scope="col" { "Actions" } } }
                tbody {
                    @for c in all {
                        tr {
                            td.text { (c.friendly_name) @if c.applied { " " span.badge { "in use" } } }
                            td { (cells::token(&c.thumbprint)) }
                            td { (cells::word(&c.key_type)) }
                            td.nowrap { (days(c.days_left)) }
                            td { (cells::word(&c.source)) }
                            td {
                                @if !c.applied {
                                    form.inline method="post" action=(format!("/certificates/{}/stage", c.sha256)) {
                                        (csrf(s)) button type="submit" { "Stage" }
                                    }
                                    form.inline method="post" action=(format!("/certificates/{}/apply", c.sha256)) {
                                        (csrf(s)) button type="submit" { "Apply" }
                                    }
                                }
                                @if c.source != "imported" && c.source != "acme" {
                                    form.inline method="post" action=(format!("/certificates/{}/renew", c.sha256)) {
                                        (csrf(s)) button type="submit" { "Renew" }
                                    }
                                }
                                @if !c.applied {
                                    form.inline method="post" action=(format!("/certificates/{}/remove", c.sha256)) {
                                        (csrf(s)) button.danger type="submit" { "Remove" }
                                    }
                                }
                                a href=(format!("/certificates/{}/pem", c.sha256)) download { "PEM" }
                            }
                        }
                    }
                }
            }
            h2 { "Expiry" }
            (crate::charts::expiry_timeline(all, time::OffsetDateTime::now_utc()))
            h2 { "Generate a self-signed certificate" }
            form id="generate" method="post" action="/certificates/generate" {
                (csrf(s))
                (form_error::alert(e, "generate"))
                label for="friendly_name" { "Friendly name" }
                input id="friendly_name" name="friendly_name" value=(kept(e, "generate", "friendly_name", "")) placeholder="the licensee's name";
                label for="key_type" { "Key type" }
                @let key = kept(e, "generate", "key_type", "rsa2048");
                select id="key_type" name="key_type" {
                    @for (value, label) in KEY_TYPES {
                        option value=(value) selected[key == value] { (label) }
                    }
                }
                label for="valid_days" { "Valid for (days)" }
                input id="valid_days" name="valid_days" type="number" min="1" max="3650" value=(kept(e, "generate", "valid_days", "365"));
                label for="subject" { "Subject" }
                input id="subject" name="subject" value=(kept(e, "generate", "subject", "")) placeholder="CN=backup.example.com,O=Example";
                label for="sans" { "Alternative names (comma-separated)" }
                input id="sans" name="sans" value=(kept(e, "generate", "sans", "")) placeholder="backup.example.com, 203.0.113.7";
                button type="submit" { "Generate" }
            }
            h2 { "Import a certificate with its key" }
            form id="import" method="post" action="/certificates/import" enctype="multipart/form-data" {
                (csrf(s))
                (form_error::alert(e, "import"))
                label for="file" { "PKCS#12 (.pfx, .p12) or PEM file, at most 256 KiB" }
                input id="file" name="file" type="file" accept=".pfx,.p12,.pem,.crt,.key" required;
                label for="import-password" { "Its password" }
                input id="import-password" name="password" type="password" autocomplete="off";
                label for="import-name" { "Friendly name" }
                input id="import-name" name="friendly_name" value=(kept(e, "import", "friendly_name", "")) placeholder="the file's";
                button type="submit" { "Import" }
            }
        },
    )
}

/// The key types the generation form offers, the default first.
const KEY_TYPES: [(&str, &str); 6] = [
    ("rsa2048", "RSA 2048"),
    ("rsa3072", "RSA 3072"),
    ("rsa4096", "RSA 4096"),
    ("ecdsa-p256", "ECDSA P-256"),
    ("ecdsa-p384", "ECDSA P-384"),
    ("ed25519", "Ed25519"),
];

/// After a generation: the Summary of the new certificate.
pub fn generated(s: &Session, c: &Certificate, summary: &str) -> Html<String> {
    page(
        if c.source == "imported" {
            "Certificate imported"
        } else {
            "Certificate generated"
        },
        s,
        "/certificates",
        html! {
            p { "Saved in the store, not in use yet." }
            (summary_block(summary))
            form.inline method="post" action=(format!("/certificates/{}/stage", c.sha256)) {
                (csrf(s)) button type="submit" { "Stage as successor" }
            }
            form.inline method="post" action=(format!("/certificates/{}/apply", c.sha256)) {
                (csrf(s)) button type="submit" { "Apply now" }
            }
            p { a href="/certificates" { "Back to the certificates" } }
        },
    )
}

/// The warning before a switch that would make tenants verify by hand.
pub fn confirm_switch(s: &Session, id: &str, message: &str) -> Html<String> {
    page(
        "Tenants would have to verify again",
        s,
        "/certificates",
        html! {
            p.error role="alert" { (message) }
            form.inline method="post" action=(format!("/certificates/{id}/stage")) {
                (csrf(s)) button type="submit" { "Stage it instead (recommended)" }
            }
            form.inline method="post" action=(format!("/certificates/{id}/apply")) {
                (csrf(s))
                input type="hidden" name="force" value="true";
                button.danger type="submit" { "Apply anyway" }
            }
        },
    )
}

/// The detail keys that name what an event was about, in the order one is chosen as its target.
const TARGET_KEYS: [&str; 8] = [
    "tenant",
    "gateway",
    "token_id",
    "service",
    "thumbprint",
    "sha256",
    "name",
    "admin",
];

/// An audit entry's target (`tenant`, `acme`) and the rest of its details, as text.
type TargetAndDetails<'a> = (Option<(String, String)>, Vec<(&'a str, String)>);

/// What an audit entry was about (`tenant acme`), and the rest of its details.
fn target_of(e: &AuditEntry) -> TargetAndDetails<'_> {
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(a) => a
            .iter()
            .map(|v| match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    };
    let key = TARGET_KEYS
        .iter()
        .find(|k| e.details.get(**k).is_some_and(|v| !v.is_null()));
    let target = key.map(|k| (k.replace('_', " "), text(&e.details[*k])));
    let rest = e
        .details
        .iter()
        .filter(|(k, _)| Some(&k.as_str()) != key)
        // The administrator who did it is in the Who column already.
        .filter(|(k, v)| !(k.as_str() == "admin" && e.actor == format!("admin:{}", text(v))))
        .map(|(k, v)| (k.as_str(), text(v)))
        .collect();
    (target, rest)
}

/// A detail's value: long hexadecimal values (fingerprints, hashes) shortened with the whole on
/// hover and a Copy button; the rest as text.
fn detail_value(v: &str) -> Markup {
    if v.len() >= 24 && v.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
        cells::token(v)
    } else {
        html! { (v) }
    }
}

fn audit_table(entries: &[AuditEntry]) -> Markup {
    html! {
        table.audit {
            thead { tr { th scope="col" { "Time" } th scope="col" { "Who" } th scope="col" { "Event" } th scope="col" { "Target" } th scope="col" { "What happened" } } }
            tbody {
                @for e in entries {
                    @let (target, rest) = target_of(e);
                    tr {
                        td { (cells::when(&e.time)) }
                        td { (cells::word(&e.actor)) }
                        td { (cells::word(&e.event)) }
                        td { @if let Some((k, v)) = &target { span.hint { (k) " " } (detail_value(v)) } }
                        td.text {
                            (e.message)
                            @if !rest.is_empty() {
                                dl.details {
                                    @for (k, v) in &rest {
                                        div { dt { (k.replace('_', " ")) } dd { (detail_value(v)) } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `/audit`.
pub fn audit(
    s: &Session,
    entries: &[AuditEntry],
    query: &str,
    page_no: usize,
    pages: usize,
) -> Html<String> {
    let link = |p: usize| format!("/audit?q={}&page={p}", url_encode(query));
    page(
        "Audit log",
        s,
        "/audit",
        html! {
            form.search method="get" action="/audit" role="search" {
                label for="q" { "Filter" }
                input id="q" name="q" value=(query) type="search";
                button type="submit" { "Filter" }
            }
            (audit_table(entries))
            nav.pager aria-label="Pages" {
                @if page_no > 1 { a href=(link(page_no - 1)) rel="prev" { "Newer" } }
                span { "Page " (page_no) " of " (pages.max(1)) }
                @if page_no < pages { a href=(link(page_no + 1)) rel="next" { "Older" } }
            }
        },
    )
}

pub(crate) use cloudgate_sp::views::human_bytes;

/// Percent-encodes a query value.
pub(crate) fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
