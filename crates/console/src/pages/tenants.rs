//! The tenants' pages.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cloudgate_proto::admin::{
    CreatedJoinToken, NewJoinToken, NewTenant, PoolSetting, Service, Tenant,
};
use serde::Deserialize;
use zeroize::Zeroizing;

use super::{ActionForm, SearchQuery, failed, in_form, refusal};
use crate::auth::{Admin, AdminForm};
use crate::ops::{self, OpError};
use crate::session::Session;
use crate::views::FormError;
use crate::{Console, views};

/// `GET /tenants`.
pub async fn tenants(
    State(console): State<Arc<Console>>,
    Admin(s): Admin,
    Query(query): Query<SearchQuery>,
) -> Response {
    tenants_page(&console, &s, &query.q, None, None).await
}

/// The list, with what was just done or the add form's refusal.
async fn tenants_page(
    console: &Console,
    s: &Session,
    query: &str,
    flash: Option<&str>,
    refused: Option<(StatusCode, FormError)>,
) -> Response {
    let gather = async {
        Ok::<_, OpError>((
            ops::tenants(console, query).await?,
            ops::activity(console).await?,
        ))
    };
    match gather.await {
        Ok((all, activity)) => {
            let (status, error) = refusal(&refused);
            let page = views::tenants(
                s,
                &views::TenantsPage {
                    all: &all,
                    activity: &activity,
                    query,
                    flash,
                    error,
                },
            );
            (status, page).into_response()
        }
        Err(e) => failed(s, e),
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
        limits: Default::default(),
    };
    let result = ops::add_tenant(&console, &s.admin, &new).await;
    drop(Zeroizing::new(new.password));
    match result {
        Ok(t) => tenant_page(&console, &s, &t, Some("Tenant added."), None).await,
        Err(e) => match in_form(e) {
            Ok((status, message)) => {
                let kept = vec![("name", new.name), ("description", new.description)];
                let error = FormError::new("tenant-add", message, kept).with_password();
                tenants_page(&console, &s, "", None, Some((status, error))).await
            }
            Err(e) => failed(&s, e),
        },
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
        Err(e) => {
            refused(&console, &s, &name, e, |m| {
                FormError::new("tenant-password", m, Vec::new()).with_password()
            })
            .await
        }
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
        Err(e) => {
            refused(&console, &s, &name, e, |m| {
                FormError::new(
                    "service-add",
                    m,
                    vec![
                        ("name", service.name.clone()),
                        ("target", service.target.clone()),
                    ],
                )
            })
            .await
        }
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
        Ok((None, flash)) => tenants_page(&console, &s, "", Some(flash), None).await,
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
    render_tenant(console, s, t, flash, created, None).await
}

/// The page as [`tenant_page`] draws it, with a refused form in place when there is one.
async fn render_tenant(
    console: &Console,
    s: &Session,
    t: &Tenant,
    flash: Option<&str>,
    created: Option<&CreatedJoinToken>,
    refused: Option<(StatusCode, FormError)>,
) -> Response {
    let gather = async {
        let hourly = cloudgate_sp::core::UsageRequest {
            tenant: Some(t.name.clone()),
            since: Some(time::OffsetDateTime::now_utc() - time::Duration::hours(24)),
            per: cloudgate_sp::core::Period::Hour,
            ..Default::default()
        };
        Ok::<_, OpError>((
            ops::join_tokens(console, Some(&t.name)).await?,
            ops::activity(console).await?,
            ops::usage(console, &hourly).await?,
        ))
    };
    match gather.await {
        Ok((tokens, activity, hourly)) => {
            let (status, error) = refusal(&refused);
            let page = views::tenant(
                s,
                &views::TenantPage {
                    tenant: t,
                    tokens: &tokens,
                    created,
                    flash,
                    error,
                    activity: activity.get(&t.name).cloned().unwrap_or_default(),
                    hourly: &hourly,
                },
            );
            (status, page).into_response()
        }
        Err(e) => failed(s, e),
    }
}

/// A form of tenant `name`'s page refused: the page again with the reason in that form and
/// what was typed kept; a failure the form cannot show (the tenant is gone, the database is
/// down) is the failure page.
async fn refused(
    console: &Console,
    s: &Session,
    name: &str,
    e: OpError,
    form: impl FnOnce(String) -> FormError,
) -> Response {
    let (status, message) = match in_form(e) {
        Ok(shown) => shown,
        Err(e) => return failed(s, e),
    };
    match ops::tenant(console, name).await {
        Ok(t) => render_tenant(console, s, &t, None, None, Some((status, form(message)))).await,
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
        pool: Some(form.pool.clone()),
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
        Err(e) => {
            refused(&console, &s, &name, e, |m| {
                FormError::new("tenant-pool", m, vec![("pool", form.pool)])
            })
            .await
        }
    }
}

/// The limits form: every field, empty for no limit.
#[derive(Deserialize)]
pub struct LimitsForm {
    #[serde(default)]
    max_upload: String,
    #[serde(default)]
    max_download: String,
    #[serde(default)]
    limit_window: String,
    #[serde(default)]
    max_tunnels: String,
    #[serde(default)]
    max_tunnels_per_machine: String,
    #[serde(default)]
    expires: String,
    #[serde(default)]
    allow_from: String,
}

/// `POST /tenants/NAME/limits`.
pub async fn set_limits(
    State(console): State<Arc<Console>>,
    Path(name): Path<String>,
    AdminForm(s, form): AdminForm<LimitsForm>,
) -> Response {
    let kept = vec![
        ("max_upload", form.max_upload.clone()),
        ("max_download", form.max_download.clone()),
        ("limit_window", form.limit_window.clone()),
        ("max_tunnels", form.max_tunnels.clone()),
        (
            "max_tunnels_per_machine",
            form.max_tunnels_per_machine.clone(),
        ),
        ("expires", form.expires.clone()),
        ("allow_from", form.allow_from.clone()),
    ];
    let change = cloudgate_proto::admin::LimitsChange {
        max_upload: Some(form.max_upload),
        max_download: Some(form.max_download),
        limit_window: Some(form.limit_window),
        max_tunnels: Some(form.max_tunnels),
        max_tunnels_per_machine: Some(form.max_tunnels_per_machine),
        expires: Some(form.expires),
        allow_from: Some(form.allow_from),
    };
    match ops::set_limits(&console, &s.admin, &name, &change).await {
        Ok(t) => {
            let flash = "Limits saved; the gateways apply them within seconds.";
            tenant_page(&console, &s, &t, Some(flash), None).await
        }
        Err(e) => {
            refused(&console, &s, &name, e, |m| {
                FormError::new("tenant-limits", m, kept)
            })
            .await
        }
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
    let kept = || vec![("unseen_days", form.unseen_days.clone())];
    let Ok(days) = form.unseen_days.trim().parse::<u32>() else {
        let e = OpError::Invalid(format!(
            "{:?} is not a number of days: type a whole number, such as 90",
            form.unseen_days
        ));
        return refused(&console, &s, &name, e, |m| {
            FormError::new("prune", m, kept())
        })
        .await;
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
        Err(e) => {
            refused(&console, &s, &name, e, |m| {
                FormError::new("prune", m, kept())
            })
            .await
        }
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
    let kept = || {
        vec![
            ("expires", form.expires.clone()),
            ("uses", form.uses.clone()),
            ("label", form.label.clone()),
        ]
    };
    let uses = match form.uses.trim() {
        "" => None,
        u => match u.parse::<u32>() {
            Ok(u) => Some(u),
            Err(_) => {
                let e = OpError::Invalid(format!(
                    "{u:?} is not a number of uses: type a whole number, at least 1"
                ));
                return refused(&console, &s, &name, e, |m| {
                    FormError::new("token-create", m, kept())
                })
                .await;
            }
        },
    };
    let request = NewJoinToken {
        expires: Some(form.expires.clone()),
        uses,
        label: form.label.clone(),
        addresses: Vec::new(),
    };
    let result = async {
        let created = ops::create_join_token(&console, &s.admin, &name, &request).await?;
        Ok::<_, OpError>((created, ops::tenant(&console, &name).await?))
    };
    match result.await {
        Ok((created, t)) => tenant_page(&console, &s, &t, None, Some(&created)).await,
        Err(e) => {
            refused(&console, &s, &name, e, |m| {
                FormError::new("token-create", m, kept())
            })
            .await
        }
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
