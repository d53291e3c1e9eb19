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
        Ok::<_, OpError>((gateways, address, fleet))
    };
    match gather.await {
        Ok((gateways, address, fleet)) => {
            let (status, error) = refusal(&refused);
            let page = views::gateways(
                s,
                &views::GatewaysPage {
                    gateways: &gateways,
                    address: &address,
                    fleet: fleet.as_ref(),
                    flash,
                    error,
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
