//! The tenants' pages.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use cloudgate_proto::admin::{
    CreatedJoinToken, NewJoinToken, NewTenant, PoolSetting, Service, Tenant,
};
use serde::Deserialize;
use zeroize::Zeroizing;

use super::{ActionForm, SearchQuery, failed};
use crate::auth::{Admin, AdminForm};
use crate::ops::{self, OpError};
use crate::session::Session;
use crate::{Console, views};

/// `GET /tenants`.
pub async fn tenants(
    State(console): State<Arc<Console>>,
    Admin(s): Admin,
    Query(query): Query<SearchQuery>,
) -> Response {
    match ops::tenants(&console, &query.q).await {
        Ok(all) => views::tenants(&s, &all, &query.q, None).into_response(),
        Err(e) => failed(&s, e),
    }
}

/// The new-tenant form.
#[derive(Deserialize)]
pub struct TenantForm {
    name: String,
    #[serde(default)]
    description: String,
    password: String,
}

/// `POST /tenants`.
pub async fn add_tenant(
    State(console): State<Arc<Console>>,
    AdminForm(s, form): AdminForm<TenantForm>,
) -> Response {
    let new = NewTenant {
        name: form.name,
        description: form.description,
        password: form.password,
    };
    let result = ops::add_tenant(&console, &s.admin, &new).await;
    drop(Zeroizing::new(new.password));
    match result {
        Ok(t) => tenant_page(&console, &s, &t, Some("Tenant added."), None).await,
        Err(e) => failed(&s, e),
    }
}

/// `GET /tenants/NAME`.
pub async fn tenant(
    State(console): State<Arc<Console>>,
    Path(name): Path<String>,
    Admin(s): Admin,
) -> Response {
    match ops::tenant(&console, &name).await {
        Ok(t) => tenant_page(&console, &s, &t, None, None).await,
        Err(e) => failed(&s, e),
    }
}

/// `POST /tenants/NAME/enabled`.
pub async fn set_enabled(
    State(console): State<Arc<Console>>,
    Path(name): Path<String>,
    AdminForm(s, form): AdminForm<ActionForm>,
) -> Response {
    let enabled = form.enabled.as_deref() == Some("true");
    match ops::set_enabled(&console, &s.admin, &name, enabled).await {
        Ok(t) => {
            let flash = if enabled {
                "Tenant enabled."
            } else {
                "Tenant disabled: its machines can no longer enroll or open tunnels."
            };
            tenant_page(&console, &s, &t, Some(flash), None).await
        }
        Err(e) => failed(&s, e),
    }
}

/// The password form.
#[derive(Deserialize)]
pub struct PasswordForm {
    password: String,
}

/// `POST /tenants/NAME/password`.
pub async fn set_password(
    State(console): State<Arc<Console>>,
    Path(name): Path<String>,
    AdminForm(s, form): AdminForm<PasswordForm>,
) -> Response {
    let password = Zeroizing::new(form.password);
    let result = async {
        ops::set_password(&console, &s.admin, &name, &password).await?;
        ops::tenant(&console, &name).await
    };
    match result.await {
        Ok(t) => tenant_page(&console, &s, &t, Some("Password replaced."), None).await,
        Err(e) => failed(&s, e),
    }
}

/// The service form.
#[derive(Deserialize)]
pub struct ServiceForm {
    name: String,
    target: String,
}

/// `POST /tenants/NAME/services`.
pub async fn add_service(
    State(console): State<Arc<Console>>,
    Path(name): Path<String>,
    AdminForm(s, form): AdminForm<ServiceForm>,
) -> Response {
    let service = Service {
        name: form.name,
        target: form.target,
    };
    match ops::add_service(&console, &s.admin, &name, &service).await {
        Ok(t) => tenant_page(&console, &s, &t, Some("Service added."), None).await,
        Err(e) => failed(&s, e),
    }
}

/// The form of a removal on a tenant's page: what to remove.
#[derive(Deserialize)]
pub struct RemoveForm {
    #[serde(default)]
    service: Option<String>,
    #[serde(default)]
    machine: Option<String>,
    #[serde(default)]
    confirm: Option<String>,
}

/// What removing a service, a machine or the whole tenant loses, asked before it is done.
async fn confirm_removal(
    console: &Console,
    s: &Session,
    name: &str,
    form: &RemoveForm,
) -> Response {
    let t = match ops::tenant(console, name).await {
        Ok(t) => t,
        Err(e) => return failed(s, e),
    };
    let open_tokens = t.join_tokens.iter().filter(|k| k.state == "valid").count();
    let (title, losses, fields, button) = match (&form.service, &form.machine) {
        (Some(service), _) => (
            format!("Remove service {service} from {name}?"),
            vec![
                format!("{name}'s machines can no longer reach {service}; its open tunnels are cut."),
                "Adding it again later restores access without re-enrolling.".to_string(),
            ],
            vec![("service", service.clone())],
            format!("Remove service {service}"),
        ),
        (None, Some(machine)) => {
            let label = t
                .machines
                .iter()
                .find(|m| m.sha256 == *machine)
                .and_then(|m| m.label.clone())
                .unwrap_or_else(|| "without a label".to_string());
            (
                format!("Revoke machine {label} of {name}?"),
                vec![
                    format!("The machine {label} ({machine}) can no longer open tunnels; its open tunnels are cut."),
                    "It must enroll again, with the tenant's password or a join token.".to_string(),
                ],
                vec![("machine", machine.clone())],
                "Revoke the machine".to_string(),
            )
        }
        (None, None) => (
            format!("Remove tenant {name}?"),
            vec![
                format!("{} enrolled machine(s) lose access at once; their open tunnels are cut.", t.machines.len()),
                format!("{} service(s) and {} usable join token(s) are deleted.", t.services.len(), open_tokens),
                "The name and password are gone: coming back means adding the tenant and enrolling every machine again.".to_string(),
            ],
            Vec::new(),
            format!("Remove tenant {name}"),
        ),
    };
    views::confirm(
        s,
        &views::Confirmation {
            title,
            losses,
            action: format!("/tenants/{name}/remove"),
            fields,
            button,
            cancel: format!("/tenants/{name}"),
            section: "/tenants",
        },
    )
    .into_response()
}

/// `POST /tenants/NAME/remove`: the tenant, one of its services or one of its machines.
pub async fn remove_from_tenant(
    State(console): State<Arc<Console>>,
    Path(name): Path<String>,
    AdminForm(s, form): AdminForm<RemoveForm>,
) -> Response {
    if !views::confirmed(&form.confirm) {
        return confirm_removal(&console, &s, &name, &form).await;
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
        Ok((Some(t), flash)) => tenant_page(&console, &s, &t, Some(flash), None).await,
        Ok((None, flash)) => {
            let all = ops::tenants(&console, "").await.unwrap_or_default();
            views::tenants(&s, &all, "", Some(flash)).into_response()
        }
        Err(e) => failed(&s, e),
    }
}

/// A tenant's page with its join tokens; `created` is a token just made, shown this once.
async fn tenant_page(
    console: &Console,
    s: &Session,
    t: &Tenant,
    flash: Option<&str>,
    created: Option<&CreatedJoinToken>,
) -> Response {
    match ops::join_tokens(console, Some(&t.name)).await {
        Ok(tokens) => views::tenant(
            s,
            &views::TenantPage {
                tenant: t,
                tokens: &tokens,
                created,
                flash,
            },
        )
        .into_response(),
        Err(e) => failed(s, e),
    }
}

/// The pool form.
#[derive(Deserialize)]
pub struct PoolForm {
    pool: String,
    #[serde(default)]
    failover_outside_pool: Option<String>,
}

/// `POST /tenants/NAME/pool`.
pub async fn set_pool(
    State(console): State<Arc<Console>>,
    Path(name): Path<String>,
    AdminForm(s, form): AdminForm<PoolForm>,
) -> Response {
    let setting = PoolSetting {
        pool: Some(form.pool),
        failover_outside_pool: Some(form.failover_outside_pool.as_deref() == Some("true")),
    };
    match ops::set_pool(&console, &s.admin, &name, &setting).await {
        Ok(t) => {
            let flash = format!(
                "Its machines now use the gateways of pool {}; they learn it at their next connection.",
                t.pool
            );
            tenant_page(&console, &s, &t, Some(&flash), None).await
        }
        Err(e) => failed(&s, e),
    }
}

/// The prune form.
#[derive(Deserialize)]
pub struct PruneForm {
    unseen_days: String,
    #[serde(default)]
    confirm: Option<String>,
}

/// `POST /tenants/NAME/prune`.
pub async fn prune(
    State(console): State<Arc<Console>>,
    Path(name): Path<String>,
    AdminForm(s, form): AdminForm<PruneForm>,
) -> Response {
    let Ok(days) = form.unseen_days.trim().parse::<u32>() else {
        return failed(
            &s,
            OpError::Invalid(format!("{:?} is not a number of days", form.unseen_days)),
        );
    };
    if !views::confirmed(&form.confirm) {
        return views::confirm(
            &s,
            &views::Confirmation {
                title: format!("Prune the machines of {name}?"),
                losses: vec![
                    format!("Every machine of {name} not seen (no tunnel, no check) for {days} days is revoked."),
                    "A revoked machine must enroll again, with the tenant's password or a join token.".to_string(),
                ],
                action: format!("/tenants/{name}/prune"),
                fields: vec![("unseen_days", days.to_string())],
                button: "Prune".to_string(),
                cancel: format!("/tenants/{name}"),
                section: "/tenants",
            },
        )
        .into_response();
    }
    let result = async {
        let pruned = ops::prune(&console, &s.admin, &name, days).await?;
        Ok::<_, OpError>((pruned, ops::tenant(&console, &name).await?))
    };
    match result.await {
        Ok((pruned, t)) => {
            let flash = format!(
                "Removed {} machine(s) not seen for {days} days.",
                pruned.removed.len()
            );
            tenant_page(&console, &s, &t, Some(&flash), None).await
        }
        Err(e) => failed(&s, e),
    }
}

/// The join-token form.
#[derive(Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    expires: String,
    #[serde(default)]
    uses: String,
    #[serde(default)]
    label: String,
}

/// `POST /tenants/NAME/tokens`: the page shows the token this once.
pub async fn create_token(
    State(console): State<Arc<Console>>,
    Path(name): Path<String>,
    AdminForm(s, form): AdminForm<TokenForm>,
) -> Response {
    let uses = match form.uses.trim() {
        "" => None,
        u => match u.parse::<u32>() {
            Ok(u) => Some(u),
            Err(_) => {
                return failed(
                    &s,
                    OpError::Invalid(format!("{u:?} is not a number of uses")),
                );
            }
        },
    };
    let request = NewJoinToken {
        expires: Some(form.expires),
        uses,
        label: form.label,
        addresses: Vec::new(),
    };
    let result = async {
        let created = ops::create_join_token(&console, &s.admin, &name, &request).await?;
        Ok::<_, OpError>((created, ops::tenant(&console, &name).await?))
    };
    match result.await {
        Ok((created, t)) => tenant_page(&console, &s, &t, None, Some(&created)).await,
        Err(e) => failed(&s, e),
    }
}

/// The token-revocation form.
#[derive(Deserialize)]
pub struct RevokeTokenForm {
    id: String,
    #[serde(default)]
    confirm: Option<String>,
}

/// `POST /tenants/NAME/tokens/revoke`.
pub async fn revoke_token(
    State(console): State<Arc<Console>>,
    Path(name): Path<String>,
    AdminForm(s, form): AdminForm<RevokeTokenForm>,
) -> Response {
    if !views::confirmed(&form.confirm) {
        return views::confirm(
            &s,
            &views::Confirmation {
                title: format!("Revoke join token {}?", form.id),
                losses: vec![
                    format!("Join token {} can no longer be used to join {name}; machines that joined with it keep working.", form.id),
                ],
                action: format!("/tenants/{name}/tokens/revoke"),
                fields: vec![("id", form.id.clone())],
                button: "Revoke the token".to_string(),
                cancel: format!("/tenants/{name}"),
                section: "/tenants",
            },
        )
        .into_response();
    }
    let result = async {
        let revoked = ops::revoke_join_token(&console, &s.admin, &form.id).await?;
        Ok::<_, OpError>((revoked, ops::tenant(&console, &name).await?))
    };
    match result.await {
        Ok((revoked, t)) => {
            let flash = format!("Join token {} revoked.", revoked.id);
            tenant_page(&console, &s, &t, Some(&flash), None).await
        }
        Err(e) => failed(&s, e),
    }
}
