//! The gateways' page: the fleet, the address tenants reach, forgetting a gateway, publishing.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{failed, in_form, refusal};
use crate::auth::{Admin, AdminForm};
use crate::ops::{self, OpError};
use crate::session::Session;
use crate::views::FormError;
use crate::{Console, views};

/// The page, with what was just done.
async fn gateways_page(console: &Console, s: &Session, flash: Option<&str>) -> Response {
    render(console, s, flash, None).await
}

/// The page, with the address form's refusal in place when there is one.
async fn render(
    console: &Console,
    s: &Session,
    flash: Option<&str>,
    refused: Option<(StatusCode, FormError)>,
) -> Response {
    let gather = async {
        let gateways = ops::gateways(console).await?;
        let address = ops::public_address(console)?;
        // The fleet section only where there is a fleet to show: a key here or a publication.
        let fleet = ops::fleet_status(console)
            .await
            .ok()
            .filter(|f| f.key_id.is_some() || f.published.is_some());
        let maintenance = ops::maintenance(console).await?;
        Ok::<_, OpError>((gateways, address, fleet, maintenance))
    };
    match gather.await {
        Ok((gateways, address, fleet, maintenance)) => {
            let (status, error) = refusal(&refused);
            let page = views::gateways(
                s,
                &views::GatewaysPage {
                    gateways: &gateways,
                    address: &address,
                    fleet: fleet.as_ref(),
                    flash,
                    error,
                    maintenance: &maintenance,
                },
            );
            (status, page).into_response()
        }
        Err(e) => failed(s, e),
    }
}

/// `GET /gateways`.
pub async fn gateways(State(console): State<Arc<Console>>, Admin(s): Admin) -> Response {
    gateways_page(&console, &s, None).await
}

/// The form that names a gateway.
#[derive(Deserialize)]
pub struct GatewayForm {
    id: String,
}

/// `POST /gateways/forget`.
pub async fn forget(
    State(console): State<Arc<Console>>,
    AdminForm(s, form): AdminForm<GatewayForm>,
) -> Response {
    match ops::forget_gateway(&console, &s.admin, &form.id).await {
        Ok(()) => {
            let flash = format!(
                "Gateway {} forgotten (it records itself again if it runs).",
                form.id
            );
            gateways_page(&console, &s, Some(&flash)).await
        }
        Err(e) => failed(&s, e),
    }
}

/// The address form.
#[derive(Deserialize)]
pub struct AddressForm {
    public_address: String,
}

/// `POST /gateways/address`.
pub async fn set_address(
    State(console): State<Arc<Console>>,
    AdminForm(s, form): AdminForm<AddressForm>,
) -> Response {
    match ops::set_public_address(&console, &s.admin, &form.public_address).await {
        Ok(a) => {
            let flash = format!(
                "Tenants are now sent to {}; gateways that are running read it at their next reload.",
                a.public_address
            );
            gateways_page(&console, &s, Some(&flash)).await
        }
        Err(e) => match in_form(e) {
            Ok((status, message)) => {
                let kept = vec![("public_address", form.public_address.clone())];
                let error = FormError::new("address", message, kept);
                render(&console, &s, None, Some((status, error))).await
            }
            Err(e) => failed(&s, e),
        },
    }
}

/// The maintenance form.
#[derive(Deserialize)]
pub struct MaintenanceForm {
    #[serde(default)]
    pool: String,
    #[serde(default)]
    gateway: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    drain: String,
    #[serde(default)]
    until: String,
}

/// Empty is absent.
fn given(v: &str) -> Option<String> {
    let v = v.trim();
    (!v.is_empty()).then(|| v.to_string())
}

/// `POST /gateways/maintenance`.
pub async fn start_maintenance(
    State(console): State<Arc<Console>>,
    AdminForm(s, form): AdminForm<MaintenanceForm>,
) -> Response {
    let order = cloudgate_proto::admin::MaintenanceOrder {
        pool: given(&form.pool),
        gateway: given(&form.gateway),
        message: form.message.clone(),
        drain: given(&form.drain),
        until: given(&form.until),
    };
    match ops::start_maintenance(&console, &s.admin, &order).await {
        Ok(m) => {
            let flash = format!(
                "Maintenance started: new tunnels are refused with \"{}\".",
                m.message
            );
            gateways_page(&console, &s, Some(&flash)).await
        }
        Err(e) => match in_form(e) {
            Ok((status, message)) => {
                let kept = vec![
                    ("pool", form.pool),
                    ("gateway", form.gateway),
                    ("message", form.message),
                    ("drain", form.drain),
                    ("until", form.until),
                ];
                let error = FormError::new("maintenance", message, kept);
                render(&console, &s, None, Some((status, error))).await
            }
            Err(e) => failed(&s, e),
        },
    }
}

/// The form that ends a maintenance.
#[derive(Deserialize)]
pub struct EndMaintenanceForm {
    scope: String,
    #[serde(default)]
    name: String,
}

/// `POST /gateways/maintenance/off`.
pub async fn end_maintenance(
    State(console): State<Arc<Console>>,
    AdminForm(s, form): AdminForm<EndMaintenanceForm>,
) -> Response {
    let (pool, gateway) = match form.scope.as_str() {
        "pool" => (given(&form.name), None),
        "gateway" => (None, given(&form.name)),
        "all" => (None, None),
        other => {
            let e = OpError::Invalid(format!(
                "no maintenance scope {other:?}: all, pool or gateway"
            ));
            return failed(&s, e);
        }
    };
    match ops::end_maintenance(&console, &s.admin, pool.as_deref(), gateway.as_deref()).await {
        Ok(_) => {
            gateways_page(
                &console,
                &s,
                Some("Maintenance ended: tunnels are accepted again."),
            )
            .await
        }
        Err(e) => failed(&s, e),
    }
}

/// The empty form of an action.
#[derive(Deserialize)]
pub struct NoFields {}

/// `POST /gateways/publish`.
pub async fn publish(
    State(console): State<Arc<Console>>,
    AdminForm(s, _): AdminForm<NoFields>,
) -> Response {
    match ops::fleet_publish(&console, &s.admin).await {
        Ok(f) => {
            let flash = if f.published_now {
                "Published: every gateway of the fleet serves it within seconds."
            } else {
                "Nothing to publish: the gateways serve the certificate in use already."
            };
            gateways_page(&console, &s, Some(flash)).await
        }
        Err(e) => failed(&s, e),
    }
}
