//! The tenants' pages: the list with search, and one tenant with its services, machines, pool
//! and join tokens.

use axum::response::Html;
use cloudgate_proto::admin::{CreatedJoinToken, JoinTokenInfo, Tenant};
use maud::html;

use super::{csrf, page};
use crate::session::Session;

/// `/tenants`.
pub fn tenants(s: &Session, all: &[Tenant], query: &str, flash: Option<&str>) -> Html<String> {
    page(
        "Tenants",
        s,
        "/tenants",
        html! {
            @if let Some(f) = flash { p.flash role="status" { (f) } }
            form.search method="get" action="/tenants" role="search" {
                label for="q" { "Search" }
                input id="q" name="q" value=(query) type="search";
                button type="submit" { "Search" }
            }
            table {
                caption { "Tenant accounts" }
                thead { tr { th scope="col" { "Name" } th scope="col" { "Description" } th scope="col" { "State" } th scope="col" { "Services" } th scope="col" { "Machines" } } }
                tbody {
                    @for t in all {
                        tr {
                            td { a href=(format!("/tenants/{}", t.name)) { (t.name) } }
                            td { (t.description) }
                            td { @if t.enabled { "enabled" } @else { "disabled" } }
                            td { (t.services.len()) }
                            td { (t.machines.len()) }
                        }
                    }
                }
            }
            h2 { "Add a tenant" }
            form method="post" action="/tenants" {
                (csrf(s))
                label for="name" { "Name" }
                input id="name" name="name" required;
                label for="description" { "Description" }
                input id="description" name="description";
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
}

/// A join token just created: the only time it is shown.
fn created_token(c: &CreatedJoinToken) -> maud::Markup {
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
fn tokens(s: &Session, t: &Tenant, every: &[JoinTokenInfo]) -> maud::Markup {
    let all: Vec<&JoinTokenInfo> = every.iter().filter(|k| k.state == "valid").collect();
    let spent = every.len() - all.len();
    html! {
        h2 { "Join tokens" }
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
                            td { code { (k.id) } } td { (k.state) } td { (k.uses_left) } td { (k.expires_at) } td { (k.label) }
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
        form method="post" action=(format!("/tenants/{}/tokens", t.name)) {
            (csrf(s))
            label for="token-expires" { "Valid for (30m, 24h, 7d)" }
            input id="token-expires" name="expires" value="24h" required;
            label for="token-uses" { "Uses" }
            input id="token-uses" name="uses" type="number" min="1" value="1" required;
            label for="token-label" { "Label (who it is for)" }
            input id="token-label" name="label" maxlength="128";
            button type="submit" { "Create join token" }
        }
    }
}

/// `/tenants/NAME`.
pub fn tenant(s: &Session, p: &TenantPage<'_>) -> Html<String> {
    let t = p.tenant;
    page(
        &format!("Tenant {}", t.name),
        s,
        "/tenants",
        html! {
            @if let Some(f) = p.flash { p.flash role="status" { (f) } }
            @if let Some(c) = p.created { (created_token(c)) }
            p { (t.description) }
            p { "State: " strong { @if t.enabled { "enabled" } @else { "disabled" } } " · pool " (t.pool) }
            form.inline method="post" action=(format!("/tenants/{}/enabled", t.name)) {
                (csrf(s))
                input type="hidden" name="enabled" value=(if t.enabled { "false" } else { "true" });
                button type="submit" { @if t.enabled { "Disable" } @else { "Enable" } }
            }
            h2 { "Services" }
            @if t.services.is_empty() { p { "None yet." } }
            ul {
                @for sv in &t.services {
                    li {
                        code { (sv.name) } " → " (sv.target) " "
                        form.inline method="post" action=(format!("/tenants/{}/remove", t.name)) {
                            (csrf(s))
                            input type="hidden" name="service" value=(sv.name);
                            button.danger type="submit" aria-label=(format!("Remove service {}", sv.name)) { "Remove" }
                        }
                    }
                }
            }
            form method="post" action=(format!("/tenants/{}/services", t.name)) {
                (csrf(s))
                label for="svc-name" { "Service name" }
                input id="svc-name" name="name" required;
                label for="svc-target" { "Target (HOST:PORT on the SP side)" }
                input id="svc-target" name="target" required placeholder="10.0.0.5:10005";
                button type="submit" { "Add service" }
            }
            h2 { "Enrolled machines" }
            @if t.machines.is_empty() { p { "None yet." } }
            @else {
                table {
                    thead { tr { th scope="col" { "Machine" } th scope="col" { "Enrolled" } th scope="col" { "Last seen" } th scope="col" { "Trusts the certificate in use" } th scope="col" { "" } } }
                    tbody {
                        @for m in &t.machines {
                            tr {
                                td { (m.label.as_deref().unwrap_or("(no name)")) }
                                td { (m.enrolled_at) }
                                td { (m.last_seen.as_deref().unwrap_or("never")) }
                                td { @if m.confirmed_current { "yes" } @else { "not yet" } }
                                td {
                                    form.inline method="post" action=(format!("/tenants/{}/remove", t.name)) {
                                        (csrf(s))
                                        input type="hidden" name="machine" value=(m.sha256);
                                        button.danger type="submit" { "Revoke" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            (tokens(s, t, p.tokens))
            h2 { "Gateways" }
            form method="post" action=(format!("/tenants/{}/pool", t.name)) {
                (csrf(s))
                label for="pool" { "Pool of gateways its machines use" }
                input id="pool" name="pool" value=(t.pool) required;
                label.check {
                    input type="checkbox" name="failover_outside_pool" value="true" checked[t.failover_outside_pool];
                    " When none of the pool answers, use the gateways of other pools"
                }
                button type="submit" { "Save" }
            }
            h2 { "Prune machines" }
            form method="post" action=(format!("/tenants/{}/prune", t.name)) {
                (csrf(s))
                label for="unseen-days" { "Remove machines not seen (no tunnel, no check) for this many days" }
                input id="unseen-days" name="unseen_days" type="number" min="1" value="90" required;
                button.danger type="submit" { "Prune" }
            }
            h2 { "Remove the tenant" }
            form method="post" action=(format!("/tenants/{}/remove", t.name)) {
                (csrf(s))
                p.hint { "Its services and enrolled machines go with it; its machines can no longer open tunnels." }
                button.danger type="submit" { "Remove tenant " (t.name) }
            }
            h2 { "Password" }
            form method="post" action=(format!("/tenants/{}/password", t.name)) {
                (csrf(s))
                label for="new-password" { "New password" }
                input id="new-password" name="password" type="password" autocomplete="new-password" required minlength="8";
                button type="submit" { "Replace" }
            }
        },
    )
}
