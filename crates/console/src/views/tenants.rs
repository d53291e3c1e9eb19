//! The tenants' pages: the list with search and what each tenant is doing, and one tenant in
//! sections — summary, services, machines, join tokens, settings, and the danger zone last.

use axum::response::Html;
use cloudgate_proto::admin::{CreatedJoinToken, JoinTokenInfo, Tenant, TenantActivity};
use maud::{Markup, html};

use super::cells::{ago, token, when, word};
use super::form_error::{FormError, alert, kept};
use super::{csrf, human_bytes, page};
use crate::session::Session;

/// What the tenants' list shows.
pub struct TenantsPage<'a> {
    /// The tenants that match the search.
    pub all: &'a [Tenant],
    /// Their activity by name (missing: none).
    pub activity: &'a std::collections::HashMap<String, TenantActivity>,
    /// The search.
    pub query: &'a str,
    /// What was just done.
    pub flash: Option<&'a str>,
    /// A refused form.
    pub error: Option<&'a FormError>,
}

/// The latest time any machine of `t` was seen.
fn last_contact(t: &Tenant) -> Option<&str> {
    t.machines
        .iter()
        .filter_map(|m| m.last_seen.as_deref())
        .max()
}

fn state(enabled: bool) -> Markup {
    html! {
        @if enabled { span.state.up { "enabled" } } @else { span.state.stopped { "disabled" } }
    }
}

/// `/tenants`.
pub fn tenants(s: &Session, p: &TenantsPage<'_>) -> Html<String> {
    let now = time::OffsetDateTime::now_utc();
    let e = p.error;
    page(
        "Tenants",
        s,
        "/tenants",
        html! {
            @if let Some(f) = p.flash { p.flash role="status" { (f) } }
            form.search method="get" action="/tenants" role="search" {
                label for="q" { "Search" }
                input id="q" name="q" value=(p.query) type="search";
                button type="submit" { "Search" }
            }
            table {
                caption { "Tenant accounts" }
                thead { tr {
                    th scope="col" { "Name" } th scope="col" { "State" } th scope="col" { "Machines" }
                    th scope="col" { "Last contact" } th scope="col" { "Open tunnels" } th scope="col" { "Traffic, 24 h" }
                    th scope="col" { "Services" } th scope="col" { "Description" }
                } }
                tbody {
                    @for t in p.all {
                        @let a = p.activity.get(&t.name).cloned().unwrap_or_default();
                        tr {
                            td { a.nowrap href=(format!("/tenants/{}", t.name)) { (t.name) } }
                            td { (state(t.enabled)) }
                            td.num { (t.machines.len()) }
                            td { @match last_contact(t) { Some(at) => (ago(at, now)), None => span.hint { "never" } } }
                            td.num { (a.open_tunnels) }
                            td.num.nowrap { (human_bytes(a.bytes_24h)) }
                            td.num { (t.services.len()) }
                            td.text { (t.description) }
                        }
                    }
                }
            }
            h2 { "Add a tenant" }
            form id="tenant-add" method="post" action="/tenants" {
                (csrf(s))
                (alert(e, "tenant-add"))
                label for="name" { "Name" }
                input id="name" name="name" value=(kept(e, "tenant-add", "name", "")) required;
                label for="description" { "Description" }
                input id="description" name="description" value=(kept(e, "tenant-add", "description", ""));
                label for="password" { "Password (at least 8 characters)" }
                input id="password" name="password" type="password" autocomplete="new-password" required minlength="8";
                button type="submit" { "Add" }
            }
        },
    )
}

/// What a tenant's page shows.
pub struct TenantPage<'a> {
    /// The tenant.
    pub tenant: &'a Tenant,
    /// Its join tokens.
    pub tokens: &'a [JoinTokenInfo],
    /// A token just created, shown this once.
    pub created: Option<&'a CreatedJoinToken>,
    /// What was just done.
    pub flash: Option<&'a str>,
    /// A refused form.
    pub error: Option<&'a FormError>,
    /// What it did lately.
    pub activity: TenantActivity,
    /// Its usage per hour over the last day.
    pub hourly: &'a [cloudgate_proto::admin::UsageRow],
}

/// A join token just created: the only time it is shown.
fn created_token(c: &CreatedJoinToken) -> Markup {
    html! {
        section.created aria-labelledby="token-head" {
            h2 id="token-head" { "Join token " (c.info.id) }
            p { "It is a credential, shown only now: send it to the tenant by a channel only they read. They run "
                code { "cloudgate tenant join --token-file FILE" } " (or set " code { "CLOUDGATE_JOIN_TOKEN" } "), never with the token on a command line." }
            pre id="join-token" { (c.token) }
            button type="button" data-copy="join-token" { "Copy" }
            span.copied role="status" {}
            p.hint { "Expires " (c.info.expires_at) ", " (c.info.uses_left) " use(s); reaches " (c.addresses.join(", ")) "." }
        }
    }
}

/// The tenant's join tokens that still work (the spent ones counted) and the form that creates
/// one.
fn tokens(s: &Session, t: &Tenant, every: &[JoinTokenInfo], e: Option<&FormError>) -> Markup {
    let all: Vec<&JoinTokenInfo> = every.iter().filter(|k| k.state == "valid").collect();
    let spent = every.len() - all.len();
    html! {
        section aria-labelledby="tokens-h" {
            h2 id="tokens-h" { "Join tokens" }
            p.hint { "One string that carries this SP's address, its key pin and a one-time credential: the tenant needs no password and no thumbprint." }
            @if spent > 0 {
                p.hint { (spent) " used, expired or revoked token(s) not shown: " code { "cloudgate sp tenant token list" } " or " code { (format!("GET /api/v1/tenants/{}/tokens", t.name)) } " lists them." }
            }
            @if !all.is_empty() {
                table {
                    thead { tr { th scope="col" { "Token" } th scope="col" { "State" } th scope="col" { "Uses left" } th scope="col" { "Expires" } th scope="col" { "Label" } th scope="col" { "" } } }
                    tbody {
                        @for k in all {
                            tr {
                                td { (token(&k.id)) } td { (word(&k.state)) } td.num { (k.uses_left) } td { (when(&k.expires_at)) } td.text { (k.label) }
                                td {
                                    form.inline method="post" action=(format!("/tenants/{}/tokens/revoke", t.name)) {
                                        (csrf(s))
                                        input type="hidden" name="id" value=(k.id);
                                        button.danger type="submit" aria-label=(format!("Revoke token {}", k.id)) { "Revoke" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            form id="token-create" method="post" action=(format!("/tenants/{}/tokens", t.name)) {
                (csrf(s))
                (alert(e, "token-create"))
                label for="token-expires" { "Valid for (30m, 24h, 7d)" }
                input id="token-expires" name="expires" value=(kept(e, "token-create", "expires", "24h")) required;
                label for="token-uses" { "Uses" }
                input id="token-uses" name="uses" type="number" min="1" value=(kept(e, "token-create", "uses", "1")) required;
                label for="token-label" { "Label (who it is for)" }
                input id="token-label" name="label" maxlength="128" value=(kept(e, "token-create", "label", ""));
                button type="submit" { "Create join token" }
            }
        }
    }
}

/// Its services, with the form that adds one.
fn services(s: &Session, t: &Tenant, e: Option<&FormError>) -> Markup {
    html! {
        section aria-labelledby="services-h" {
            h2 id="services-h" { "Services" }
            @if t.services.is_empty() { p { "None yet: its machines can enroll but reach nothing." } }
            @else {
                table {
                    thead { tr { th scope="col" { "Service" } th scope="col" { "Target on the SP side" } th scope="col" { "" } } }
                    tbody {
                        @for sv in &t.services {
                            tr {
                                td { (word(&sv.name)) } td { (word(&sv.target)) }
                                td {
                                    form.inline method="post" action=(format!("/tenants/{}/remove", t.name)) {
                                        (csrf(s))
                                        input type="hidden" name="service" value=(sv.name);
                                        button.danger type="submit" aria-label=(format!("Remove service {}", sv.name)) { "Remove" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            form id="service-add" method="post" action=(format!("/tenants/{}/services", t.name)) {
                (csrf(s))
                (alert(e, "service-add"))
                label for="svc-name" { "Service name" }
                input id="svc-name" name="name" value=(kept(e, "service-add", "name", "")) required;
                label for="svc-target" { "Target (HOST:PORT on the SP side)" }
                input id="svc-target" name="target" value=(kept(e, "service-add", "target", "")) required placeholder="10.0.0.5:10005";
                button type="submit" { "Add service" }
            }
        }
    }
}

/// Its enrolled machines.
fn machines(s: &Session, t: &Tenant) -> Markup {
    let now = time::OffsetDateTime::now_utc();
    html! {
        section aria-labelledby="machines-h" {
            h2 id="machines-h" { "Enrolled machines" }
            @if t.machines.is_empty() { p { "None yet." } }
            @else {
                table {
                    thead { tr { th scope="col" { "Machine" } th scope="col" { "Certificate" } th scope="col" { "Enrolled" } th scope="col" { "Last seen" } th scope="col" { "Trusts the certificate in use" } th scope="col" { "" } } }
                    tbody {
                        @for m in &t.machines {
                            tr {
                                td.text { (m.label.as_deref().unwrap_or("(no name)")) }
                                td { (token(&m.sha256)) }
                                td { (when(&m.enrolled_at)) }
                                td { @match &m.last_seen { Some(at) => (ago(at, now)), None => span.hint { "never" } } }
                                td { @if m.confirmed_current { "yes" } @else { "not yet" } }
                                td {
                                    form.inline method="post" action=(format!("/tenants/{}/remove", t.name)) {
                                        (csrf(s))
                                        input type="hidden" name="machine" value=(m.sha256);
                                        button.danger type="submit" aria-label=(format!("Revoke machine {}", m.label.as_deref().unwrap_or(&m.sha256))) { "Revoke" }
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

/// Pool, password: what changes how it works, not whether it exists.
fn settings(s: &Session, t: &Tenant, e: Option<&FormError>) -> Markup {
    html! {
        section aria-labelledby="settings-h" {
            h2 id="settings-h" { "Settings" }
            form id="tenant-pool" method="post" action=(format!("/tenants/{}/pool", t.name)) {
                (csrf(s))
                (alert(e, "tenant-pool"))
                label for="pool-name" { "Pool of gateways its machines use" }
                input id="pool-name" name="pool" value=(kept(e, "tenant-pool", "pool", &t.pool)) required;
                label.check {
                    input type="checkbox" name="failover_outside_pool" value="true" checked[t.failover_outside_pool];
                    " When none of the pool answers, use the gateways of other pools"
                }
                button type="submit" { "Save the pool" }
            }
            (limits_form(s, t, e))
            form id="tenant-password" method="post" action=(format!("/tenants/{}/password", t.name)) {
                (csrf(s))
                (alert(e, "tenant-password"))
                label for="new-password" { "New password (at least 8 characters)" }
                input id="new-password" name="password" type="password" autocomplete="new-password" required minlength="8";
                button type="submit" { "Replace the password" }
            }
        }
    }
}

/// What the SP allows the tenant: each field as on the command line, empty for no limit.
fn limits_form(s: &Session, t: &Tenant, e: Option<&FormError>) -> Markup {
    let l = &t.limits;
    let current = |v: &Option<String>| v.clone().unwrap_or_default();
    let count = |v: Option<u32>| v.map(|n| n.to_string()).unwrap_or_default();
    let fields: [(&str, &str, String, &str); 7] = [
        (
            "max_upload",
            "Most upload (tenant → services), e.g. 20MB/s or 100Mbit/s",
            current(&l.max_upload),
            "unlimited",
        ),
        (
            "max_download",
            "Most download (services → tenant)",
            current(&l.max_download),
            "unlimited",
        ),
        (
            "limit_window",
            "When the rates apply, UTC (e.g. mon-fri 08:00-18:00)",
            current(&l.limit_window),
            "always",
        ),
        (
            "max_tunnels",
            "Most tunnels open at once",
            count(l.max_tunnels),
            "unlimited",
        ),
        (
            "max_tunnels_per_machine",
            "Most tunnels per machine",
            count(l.max_tunnels_per_machine),
            "unlimited",
        ),
        (
            "expires",
            "Lease ends (YYYY-MM-DD, as that day ends, UTC)",
            current(&l.expires_at),
            "never",
        ),
        (
            "allow_from",
            "Networks it may connect from (CIDR, comma-separated)",
            l.allow_from.join(", "),
            "anywhere",
        ),
    ];
    html! {
        form id="tenant-limits" method="post" action=(format!("/tenants/{}/limits", t.name)) {
            (csrf(s))
            (alert(e, "tenant-limits"))
            h3 { "Limits" }
            @if l.lease_ended {
                p.warning role="status" { "The lease has ended: the tenant is refused until it is extended (nothing was deleted)." }
            }
            @for (name, label, value, empty) in &fields {
                label for=(format!("limit-{name}")) { (label) }
                input id=(format!("limit-{name}")) name=(name) value=(kept(e, "tenant-limits", name, value)) placeholder=(empty);
            }
            p.hint { "Empty lifts a limit. The gateways apply a change within seconds, open tunnels included." }
            button type="submit" { "Save the limits" }
        }
    }
}

/// Disable, prune, remove: last on the page, set apart.
fn danger_zone(s: &Session, t: &Tenant, e: Option<&FormError>) -> Markup {
    html! {
        section.danger-zone aria-labelledby="danger-h" {
            h2 id="danger-h" { "Danger zone" }
            div.danger-row {
                p { @if t.enabled { "Disabling stops every machine of " (t.name) " from enrolling and cuts its open tunnels; nothing is deleted." }
                    @else { "Enabling lets its machines enroll and open tunnels again." } }
                form.inline method="post" action=(format!("/tenants/{}/enabled", t.name)) {
                    (csrf(s))
                    input type="hidden" name="enabled" value=(if t.enabled { "false" } else { "true" });
                    @if t.enabled { button.danger type="submit" { "Disable " (t.name) } } @else { button type="submit" { "Enable " (t.name) } }
                }
            }
            div.danger-row {
                form id="prune" method="post" action=(format!("/tenants/{}/prune", t.name)) {
                    (csrf(s))
                    (alert(e, "prune"))
                    label for="unseen-days" { "Revoke machines not seen (no tunnel, no check) for this many days" }
                    input id="unseen-days" name="unseen_days" type="number" min="1" value=(kept(e, "prune", "unseen_days", "90")) required;
                    button.danger type="submit" { "Prune" }
                }
            }
            div.danger-row {
                p { "Removing " (t.name) " deletes its services, machines and join tokens; its machines can no longer open tunnels." }
                form.inline method="post" action=(format!("/tenants/{}/remove", t.name)) {
                    (csrf(s))
                    button.danger type="submit" { "Remove tenant " (t.name) }
                }
            }
        }
    }
}

/// `/tenants/NAME`.
pub fn tenant(s: &Session, p: &TenantPage<'_>) -> Html<String> {
    let t = p.tenant;
    let now = time::OffsetDateTime::now_utc();
    page(
        &format!("Tenant {}", t.name),
        s,
        "/tenants",
        html! {
            @if let Some(f) = p.flash { p.flash role="status" { (f) } }
            @if let Some(c) = p.created { (created_token(c)) }
            section.tenant-summary aria-label="Summary" {
                @if !t.description.is_empty() { p.text { (t.description) } }
                dl.facts {
                    dt { "State" } dd { (state(t.enabled)) }
                    dt { "Pool" } dd { (word(&t.pool)) }
                    dt { "Machines" } dd { (t.machines.len()) }
                    dt { "Last contact" } dd { @match last_contact(t) { Some(at) => (ago(at, now)), None => "never" } }
                    dt { "Open tunnels" } dd { (p.activity.open_tunnels) }
                    dt { "Traffic, 24 h" } dd { (human_bytes(p.activity.bytes_24h)) }
                    dt { "Added" } dd { (when(&t.created_at)) }
                }
            }
            section aria-labelledby="traffic-h" {
                h2 id="traffic-h" { "Traffic" }
                (crate::charts::traffic_chart(p.hourly))
                p.hint { "For billing: " code { (format!("cloudgate sp tenant usage {} --per total --csv", t.name)) } " or " code { (format!("GET /api/v1/usage?tenant={}", t.name)) } "." }
            }
            (services(s, t, p.error))
            (machines(s, t))
            (tokens(s, t, p.tokens, p.error))
            (settings(s, t, p.error))
            (danger_zone(s, t, p.error))
        },
    )
}
