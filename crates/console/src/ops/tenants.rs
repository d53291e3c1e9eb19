//! Tenants: list and search, add, enable and disable, password, services, machines, removal.

use cloudgate_proto::admin::{
    CreatedJoinToken, JoinTokenInfo, NewJoinToken, NewTenant, PoolSetting, Pruned, Service, Tenant,
};
use cloudgate_sp::views;

use super::{OpError, audit};
use crate::Console;

/// The tenants whose name or description contains `query` (every tenant when empty).
pub async fn tenants(console: &Console, query: &str) -> Result<Vec<Tenant>, OpError> {
    let query = query.trim().to_lowercase();
    let current = console.store.applied_record()?.map(|r| r.sha256);
    let machines = console.db.all_client_certs().await?;
    let mut out = Vec::new();
    for t in console.db.tenants().await? {
        if !query.is_empty()
            && !t.name.to_lowercase().contains(&query)
            && !t.description.to_lowercase().contains(&query)
        {
            continue;
        }
        let services = console.db.services(&t.name).await?;
        let own: Vec<_> = machines
            .iter()
            .filter(|m| m.tenant == t.name)
            .cloned()
            .collect();
        out.push(views::tenant(&t, &services, &own, current.as_deref()));
    }
    Ok(out)
}

/// One tenant.
pub async fn tenant(console: &Console, name: &str) -> Result<Tenant, OpError> {
    let t = console.db.tenant(name).await?;
    let services = console.db.services(name).await?;
    let machines = console.db.client_certs(name).await?;
    let current = console.store.applied_record()?.map(|r| r.sha256);
    Ok(views::tenant(&t, &services, &machines, current.as_deref()))
}

/// Adds a tenant.
pub async fn add_tenant(console: &Console, who: &str, new: &NewTenant) -> Result<Tenant, OpError> {
    cloudgate_sp::add_tenant(
        &console.store,
        &*console.db,
        new.name.trim(),
        &new.description,
        &new.password,
    )
    .await?;
    audit(
        console,
        who,
        "tenant.added",
        "tenant added in the console",
        serde_json::json!({ "tenant": new.name.trim() }),
    )?;
    tenant(console, new.name.trim()).await
}

/// Enables or disables a tenant.
pub async fn set_enabled(
    console: &Console,
    who: &str,
    name: &str,
    enabled: bool,
) -> Result<Tenant, OpError> {
    console.db.set_enabled(name, enabled).await?;
    let (event, message) = if enabled {
        ("tenant.enabled", "tenant enabled in the console")
    } else {
        ("tenant.disabled", "tenant disabled in the console")
    };
    audit(
        console,
        who,
        event,
        message,
        serde_json::json!({ "tenant": name }),
    )?;
    tenant(console, name).await
}

/// Replaces a tenant's password.
pub async fn set_password(
    console: &Console,
    who: &str,
    name: &str,
    password: &str,
) -> Result<(), OpError> {
    cloudgate_sp::set_tenant_password(&*console.db, name, password).await?;
    audit(
        console,
        who,
        "tenant.password",
        "tenant password replaced in the console",
        serde_json::json!({ "tenant": name }),
    )
}

/// Lets a tenant reach a service.
pub async fn add_service(
    console: &Console,
    who: &str,
    tenant_name: &str,
    service: &Service,
) -> Result<Tenant, OpError> {
    cloudgate_sp::services::add_service(
        &*console.db,
        tenant_name,
        service.name.trim(),
        service.target.trim(),
    )
    .await?;
    audit(
        console,
        who,
        "service.added",
        "service added in the console",
        serde_json::json!({ "tenant": tenant_name, "service": service.name.trim(), "target": service.target.trim() }),
    )?;
    tenant(console, tenant_name).await
}

/// Removes a tenant with its services and enrolled machines.
pub async fn remove_tenant(console: &Console, who: &str, name: &str) -> Result<Tenant, OpError> {
    let gone = tenant(console, name).await?;
    console.db.remove_tenant(name).await?;
    audit(
        console,
        who,
        "tenant.removed",
        "tenant removed in the console",
        serde_json::json!({ "tenant": name }),
    )?;
    Ok(gone)
}

/// Takes a service away from a tenant.
pub async fn remove_service(
    console: &Console,
    who: &str,
    tenant_name: &str,
    service: &str,
) -> Result<Tenant, OpError> {
    console.db.remove_service(tenant_name, service).await?;
    audit(
        console,
        who,
        "service.removed",
        "service removed in the console",
        serde_json::json!({ "tenant": tenant_name, "service": service }),
    )?;
    tenant(console, tenant_name).await
}

/// Revokes an enrolled machine's client certificate (its tunnels end at the gateways' next
/// reload).
pub async fn revoke_machine(
    console: &Console,
    who: &str,
    tenant_name: &str,
    sha256: &str,
) -> Result<Tenant, OpError> {
    let normalized = cloudgate_sp::tenants::machine_sha256(sha256)?;
    console
        .db
        .revoke_client_cert(tenant_name, &normalized)
        .await?;
    audit(
        console,
        who,
        "machine.revoked",
        "enrolled machine revoked in the console",
        serde_json::json!({ "tenant": tenant_name, "sha256": normalized }),
    )?;
    tenant(console, tenant_name).await
}

/// Sets the pool of gateways a tenant's machines use, and whether they may fail over outside it.
pub async fn set_pool(
    console: &Console,
    who: &str,
    name: &str,
    setting: &PoolSetting,
) -> Result<Tenant, OpError> {
    if setting.pool.is_none() && setting.failover_outside_pool.is_none() {
        return Err(OpError::Invalid(
            "nothing to set: give pool and/or failover_outside_pool".into(),
        ));
    }
    if let Some(p) = &setting.pool {
        cloudgate_gateway::config::check_fleet_name("pool", p.trim())
            .map_err(|e| OpError::Invalid(e.to_string()))?;
    }
    let t = console.db.tenant(name).await?;
    let pool = setting
        .pool
        .as_deref()
        .map(str::trim)
        .unwrap_or(&t.pool)
        .to_string();
    let outside = setting
        .failover_outside_pool
        .unwrap_or(t.failover_outside_pool);
    console.db.set_pool(name, &pool, outside).await?;
    audit(
        console,
        who,
        "tenant.pool",
        "tenant's pool set in the console",
        serde_json::json!({ "tenant": name, "pool": pool, "failover_outside_pool": outside }),
    )?;
    tenant(console, name).await
}

/// Removes a tenant's machines not seen (no tunnel, no check) for `unseen_days` days.
pub async fn prune(
    console: &Console,
    who: &str,
    name: &str,
    unseen_days: u32,
) -> Result<Pruned, OpError> {
    if unseen_days == 0 {
        return Err(OpError::Invalid(
            "unseen_days must be at least 1: a machine seen today is in use".into(),
        ));
    }
    console.db.tenant(name).await?;
    let before = time::OffsetDateTime::now_utc() - time::Duration::days(i64::from(unseen_days));
    let removed = console.db.prune_client_certs(name, before).await?;
    audit(
        console,
        who,
        "machine.pruned",
        "unseen machines pruned in the console",
        serde_json::json!({ "tenant": name, "unseen_days": unseen_days,
            "sha256": removed.iter().map(|m| m.sha256.clone()).collect::<Vec<_>>() }),
    )?;
    Ok(Pruned {
        tenant: name.to_string(),
        removed: removed.iter().map(|m| views::machine(m, None)).collect(),
    })
}

/// The join tokens of one tenant, or of every tenant.
pub async fn join_tokens(
    console: &Console,
    tenant_name: Option<&str>,
) -> Result<Vec<JoinTokenInfo>, OpError> {
    if let Some(t) = tenant_name {
        console.db.tenant(t).await?;
    }
    Ok(cloudgate_sp::join_tokens::list(&*console.db, tenant_name).await?)
}

/// Creates a join token for a tenant; its secret is in the answer and nowhere else.
pub async fn create_join_token(
    console: &Console,
    who: &str,
    tenant_name: &str,
    request: &NewJoinToken,
) -> Result<CreatedJoinToken, OpError> {
    use cloudgate_sp::join_tokens;
    let lifetime = match request.expires.as_deref().map(str::trim) {
        None | Some("") => join_tokens::DEFAULT_LIFETIME,
        Some(e) => {
            join_tokens::parse_lifetime(e).map_err(|e| OpError::Invalid(format!("expires: {e}")))?
        }
    };
    let addresses: Vec<String> = request
        .addresses
        .iter()
        .map(|a| a.trim().to_string())
        .filter(|a| !a.is_empty())
        .collect();
    let addresses = if addresses.is_empty() {
        let (address, _) = cloudgate_gateway::public_address::effective(console.store.layout())?;
        vec![address]
    } else {
        addresses
    };
    let created = join_tokens::create(
        &console.store,
        &*console.db,
        join_tokens::TokenRequest {
            tenant: tenant_name,
            lifetime,
            uses: request.uses.unwrap_or(1),
            label: request.label.trim(),
            addresses,
            created_by: who,
        },
    )
    .await?;
    audit(
        console,
        who,
        "token.created",
        "join token created in the console",
        serde_json::json!({ "token_id": created.info.id, "tenant": tenant_name,
            "expires_at": created.info.expires_at, "uses": created.info.uses_left,
            "label": created.info.label }),
    )?;
    Ok(created)
}

/// Revokes a join token.
pub async fn revoke_join_token(
    console: &Console,
    who: &str,
    id: &str,
) -> Result<JoinTokenInfo, OpError> {
    let revoked = cloudgate_sp::join_tokens::revoke(&*console.db, id).await?;
    audit(
        console,
        who,
        "token.revoked",
        "join token revoked in the console",
        serde_json::json!({ "token_id": revoked.id, "tenant": revoked.tenant }),
    )?;
    Ok(revoked)
}
