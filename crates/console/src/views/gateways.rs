//! The gateways' page: the fleet (or the one gateway), the address tenants reach it at, and the
//! certificate published to it.

use axum::response::Html;
use cloudgate_proto::admin::{FleetStatus, Gateway, PublicAddress};
use maud::html;

use super::cells::{ago, token, when, word};
use super::form_error::{alert, kept};
use super::{csrf, human_bytes, page};
use crate::session::Session;

/// What the gateways' page shows.
pub struct GatewaysPage<'a> {
    /// The gateways that reported.
    pub gateways: &'a [Gateway],
    /// Where tenants reach them.
    pub address: &'a PublicAddress,
    /// The fleet, when the SP database is shared.
    pub fleet: Option<&'a FleetStatus>,
    /// What was just done.
    pub flash: Option<&'a str>,
    /// The address form's refusal.
    pub error: Option<&'a super::FormError>,
    /// Maintenance in force.
    pub maintenance: &'a [cloudgate_proto::admin::MaintenanceInfo],
}

/// `/gateways`.
pub fn gateways(s: &Session, p: &GatewaysPage<'_>) -> Html<String> {
    let now = time::OffsetDateTime::now_utc();
    page(
        "Gateways",
        s,
        "/gateways",
        html! {
            @if let Some(f) = p.flash { p.flash role="status" { (f) } }
            @if p.gateways.is_empty() { p { "No gateway has reported to the SP database yet." } }
            @else {
                table {
                    thead { tr { th scope="col" { "Gateway" } th scope="col" { "Address" } th scope="col" { "Pool" } th scope="col" { "Version" } th scope="col" { "Tunnels" } th scope="col" { "Relayed" } th scope="col" { "Heartbeat" } th scope="col" { "State" } th scope="col" { "" } } }
                    tbody {
                        @for g in p.gateways {
                            tr {
                                td { (word(&g.id)) } td { (word(&g.public_address)) } td { (word(&g.pool)) } td { (word(&g.version)) }
                                td.num { (g.open_tunnels) } td.num.nowrap { (human_bytes(g.relayed_bytes)) } td { (ago(&g.heartbeat_at, now)) }
                                td { span class=(format!("state {}", g.state)) { (g.state) } }
                                td {
                                    @if g.state != cloudgate_proto::admin::GatewayState::Up {
                                        form.inline method="post" action="/gateways/forget" {
                                            (csrf(s))
                                            input type="hidden" name="id" value=(g.id);
                                            button.danger type="submit" aria-label=(format!("Forget gateway {}", g.id)) { "Forget" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                p.hint { "A gateway that is gone for good can be forgotten once it stopped; one that runs again records itself again." }
            }
            h2 { "Maintenance" }
            @if p.maintenance.is_empty() { p { "None: every gateway accepts tunnels." } }
            @else {
                table {
                    thead { tr { th scope="col" { "Scope" } th scope="col" { "Since" } th scope="col" { "Open tunnels cut at" } th scope="col" { "Announced end" } th scope="col" { "Message" } th scope="col" { "" } } }
                    tbody {
                        @for m in p.maintenance {
                            tr {
                                td { (word(&m.name.as_deref().map_or("every gateway".to_string(), |n| format!("{} {n}", m.scope)))) }
                                td { (when(&m.started_at)) }
                                td { @match &m.drain_until { Some(d) => (when(d)), None => span.hint { "never" } } }
                                td { @match &m.ends_at { Some(e) => (when(e)), None => span.hint { "-" } } }
                                td.text { (m.message) }
                                td {
                                    form.inline method="post" action="/gateways/maintenance/off" {
                                        (csrf(s))
                                        input type="hidden" name="scope" value=(m.scope);
                                        input type="hidden" name="name" value=(m.name.clone().unwrap_or_default());
                                        button type="submit" { "End" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            form id="maintenance" method="post" action="/gateways/maintenance" {
                (csrf(s))
                (alert(p.error, "maintenance"))
                label for="maintenance-pool" { "Pool (empty: every gateway)" }
                input id="maintenance-pool" name="pool" value=(kept(p.error, "maintenance", "pool", ""));
                label for="maintenance-gateway" { "Or one gateway (its id)" }
                input id="maintenance-gateway" name="gateway" value=(kept(p.error, "maintenance", "gateway", ""));
                label for="maintenance-message" { "Message for tenants" }
                input id="maintenance-message" name="message" maxlength="300" value=(kept(p.error, "maintenance", "message", ""));
                label for="maintenance-drain" { "Cut open tunnels after (e.g. 30m; empty: let them finish)" }
                input id="maintenance-drain" name="drain" value=(kept(p.error, "maintenance", "drain", ""));
                label for="maintenance-until" { "Announced end (e.g. 2h, or 2026-12-07T06:00:00Z)" }
                input id="maintenance-until" name="until" value=(kept(p.error, "maintenance", "until", ""));
                button.danger type="submit" { "Start maintenance" }
            }
            p.hint { "New tunnels are refused with the message; tenants that may fail over use other gateways." }
            h2 { "Address tenants reach" }
            p { strong { (p.address.public_address) } " "
                @if p.address.source == "configured" { "(set in " code { (p.address.config) } ")" }
                @else { "(this host's name: no address is set)" } }
            form id="address" method="post" action="/gateways/address" {
                (csrf(s))
                (alert(p.error, "address"))
                label for="public-address" { "Public address (HOST or HOST:PORT)" }
                input id="public-address" name="public_address" value=(kept(p.error, "address", "public_address", &p.address.public_address)) required;
                button type="submit" { "Save" }
            }
            p.hint { "New join tokens and the command shown to tenants carry it." }
            @if let Some(f) = p.fleet {
                h2 { "Fleet" }
                p { "Fleet key: " @match &f.key_id { Some(id) => { code { (id) } @if f.rotating { " (rotation under way)" } }, None => { "none on this host" } } }
                @match &f.published {
                    Some(c) => {
                        p { "Published to the gateways: " strong { (c.friendly_name) } " " (token(&c.thumbprint)) ", " (when(&c.published_at)) }
                        @if c.same_as_store == Some(false) { p.error role="alert" { "The certificate in use here is not the one published: publish it." } }
                    },
                    None => { p { "Nothing published yet." } },
                }
                form method="post" action="/gateways/publish" {
                    (csrf(s))
                    button type="submit" { "Publish the certificate in use" }
                }
            }
        },
    )
}
