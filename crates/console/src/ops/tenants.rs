//! Tenants: list and search, add, enable and disable, password, services, machines, removal,
//! join tokens.

use cloudgate_proto::admin::{
    CreatedJoinToken, JoinTokenInfo, NewJoinToken, NewTenant, PoolSetting, Pruned, Service, Tenant,
};
use cloudgate_sp::core::TokenOrder;

use super::{OpError, as_admin};
use crate::Console;

/// The tenants whose name or description contains `query` (every tenant when empty).
pub async fn tenants(console: &Console, query: &str) -> Result<Vec<Tenant>, OpError> {
    console.sp.tenants(query).await
}

/// Every tenant's open tunnels and last day's traffic, by name.
pub async fn activity(
    console: &Console,
) -> Result<std::collections::HashMap<String, cloudgate_proto::admin::TenantActivity>, OpError> {
    console.sp.activity().await
}

/// Usage by period.
pub async fn usage(
    console: &Console,
    request: &cloudgate_sp::core::UsageRequest,
) -> Result<Vec<cloudgate_proto::admin::UsageRow>, OpError> {
    console.sp.usage(request).await
}

/// One tenant.
pub async fn tenant(console: &Console, name: &str) -> Result<Tenant, OpError> {
    console.sp.tenant(name).await
}

/// Adds a tenant.
pub async fn add_tenant(console: &Console, who: &str, new: &NewTenant) -> Result<Tenant, OpError> {
    as_admin(console, who)
        .add_tenant(&new.name, &new.description, &new.password, &new.limits)
        .await
}

/// Enables or disables a tenant.
pub async fn set_enabled(
    console: &Console,
    who: &str,
    name: &str,
    enabled: bool,
) -> Result<Tenant, OpError> {
    as_admin(console, who).set_enabled(name, enabled).await
}

/// Replaces a tenant's password.
pub async fn set_password(
    console: &Console,
    who: &str,
    name: &str,
    password: &str,
) -> Result<(), OpError> {
    as_admin(console, who).set_password(name, password).await?;
    Ok(())
}

/// Lets a tenant reach a service.
pub async fn add_service(
    console: &Console,
    who: &str,
    tenant_name: &str,
    service: &Service,
) -> Result<Tenant, OpError> {
    as_admin(console, who)
        .add_service(tenant_name, &service.name, &service.target)
        .await
}

/// Removes a tenant with its services and enrolled machines.
pub async fn remove_tenant(console: &Console, who: &str, name: &str) -> Result<Tenant, OpError> {
    as_admin(console, who).remove_tenant(name).await
}

/// Takes a service away from a tenant.
pub async fn remove_service(
    console: &Console,
    who: &str,
    tenant_name: &str,
    service: &str,
) -> Result<Tenant, OpError> {
    as_admin(console, who)
        .remove_service(tenant_name, service)
        .await
}

/// Revokes an enrolled machine's client certificate.
pub async fn revoke_machine(
    console: &Console,
    who: &str,
    tenant_name: &str,
    sha256: &str,
) -> Result<Tenant, OpError> {
    as_admin(console, who)
        .revoke_machine(tenant_name, sha256)
        .await
}

/// Sets the pool of gateways a tenant's machines use, and whether they may fail over outside it.
pub async fn set_pool(
    console: &Console,
    who: &str,
    name: &str,
    setting: &PoolSetting,
) -> Result<Tenant, OpError> {
    as_admin(console, who).set_pool(name, setting).await
}

/// Changes what the SP allows a tenant.
pub async fn set_limits(
    console: &Console,
    who: &str,
    name: &str,
    change: &cloudgate_proto::admin::LimitsChange,
) -> Result<Tenant, OpError> {
    as_admin(console, who).set_limits(name, change).await
}

/// Maintenance in force.
pub async fn maintenance(
    console: &Console,
) -> Result<Vec<cloudgate_proto::admin::MaintenanceInfo>, OpError> {
    console.sp.maintenance().await
}

/// Starts (or replaces) a maintenance.
pub async fn start_maintenance(
    console: &Console,
    who: &str,
    order: &cloudgate_proto::admin::MaintenanceOrder,
) -> Result<cloudgate_proto::admin::MaintenanceInfo, OpError> {
    as_admin(console, who).start_maintenance(order).await
}

/// Ends a maintenance.
pub async fn end_maintenance(
    console: &Console,
    who: &str,
    pool: Option<&str>,
    gateway: Option<&str>,
) -> Result<cloudgate_proto::admin::MaintenanceInfo, OpError> {
    as_admin(console, who).end_maintenance(pool, gateway).await
}

/// Removes a tenant's machines not seen for `unseen_days` days.
pub async fn prune(
    console: &Console,
    who: &str,
    name: &str,
    unseen_days: u32,
) -> Result<Pruned, OpError> {
    as_admin(console, who).prune(name, unseen_days).await
}

/// The join tokens of one tenant, or of every tenant.
pub async fn join_tokens(
    console: &Console,
    tenant_name: Option<&str>,
) -> Result<Vec<JoinTokenInfo>, OpError> {
    console.sp.join_tokens(tenant_name).await
}

/// Creates a join token for a tenant; its secret is in the answer and nowhere else.
pub async fn create_join_token(
    console: &Console,
    who: &str,
    tenant_name: &str,
    request: &NewJoinToken,
) -> Result<CreatedJoinToken, OpError> {
    let lifetime = match request.expires.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(e) => Some(
            cloudgate_sp::join_tokens::parse_lifetime(e)
                .map_err(|e| OpError::Invalid(format!("expires: {e}")))?,
        ),
    };
    let order = TokenOrder {
        lifetime,
        uses: request.uses,
        label: request.label.clone(),
        addresses: request.addresses.clone(),
    };
    as_admin(console, who)
        .create_join_token(tenant_name, &order)
        .await
}

/// Revokes a join token.
pub async fn revoke_join_token(
    console: &Console,
    who: &str,
    id: &str,
) -> Result<JoinTokenInfo, OpError> {
    as_admin(console, who).revoke_join_token(id).await
}
