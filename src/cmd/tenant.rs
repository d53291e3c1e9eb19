//! `cloudgate sp tenant …`: tenant accounts, their services and enrolled client certificates.

use cloudgate_db::prelude::*;
use cloudgate_pki::format_rfc3339;
use serde::Serialize;
use zeroize::Zeroizing;

use crate::cli::{PasswordArgs, ServiceCommand, TenantCommand};
use crate::context::Context;
use crate::exit::usage;
use crate::input::{given_password, interactive, prompt_password};
use crate::render::{print_json, print_text, report, table};

#[derive(Serialize)]
struct TenantView {
    name: String,
    description: String,
    enabled: bool,
    created_at: String,
    /// The pool of gateways its machines use.
    pool: String,
    /// Whether its machines may fail over to gateways of other pools.
    failover_outside_pool: bool,
    services: Vec<ServiceView>,
    client_certificates: Vec<ClientCertView>,
    /// Its join tokens (never their secrets).
    join_tokens: Vec<super::token::TokenView>,
}

#[derive(Serialize)]
struct ServiceView {
    name: String,
    target: String,
}

#[derive(Serialize)]
struct ClientCertView {
    sha256: String,
    /// The machine's host name, as sent at enrollment.
    label: Option<String>,
    enrolled_at: String,
    last_seen: Option<String>,
    /// SHA-256 of the SP certificate this machine last confirmed it trusts.
    confirmed_sha256: Option<String>,
    /// When it confirmed.
    confirmed_at: Option<String>,
    /// Whether that is the certificate in use.
    confirmed_current: bool,
    /// SHA-256 of the staged successor it had learned, if any.
    successor_sha256: Option<String>,
}

/// The tenant password: from a file or stdin, else asked twice on a terminal.
fn new_password(args: &PasswordArgs, tenant: &str) -> anyhow::Result<Zeroizing<String>> {
    match given_password(args)? {
        Some(p) => Ok(p),
        None if interactive() => prompt_password(
            &format!("Password for tenant {tenant}:"),
            "the tenant enrolls with this name and password; at least 8 characters",
            true,
        ),
        None => Err(usage(
            "give the tenant password with --password-file FILE or --password-stdin",
        )),
    }
}

async fn view(
    db: &dyn SpRepository,
    name: &str,
    current_sha256: Option<&str>,
) -> anyhow::Result<TenantView> {
    let t = db.tenant(name).await?;
    let services = db.services(name).await?;
    let certs = db.client_certs(name).await?;
    Ok(TenantView {
        name: t.name,
        description: t.description,
        enabled: t.enabled,
        created_at: format_rfc3339(t.created_at),
        pool: t.pool,
        failover_outside_pool: t.failover_outside_pool,
        services: services
            .into_iter()
            .map(|s| ServiceView {
                name: s.name,
                target: s.target,
            })
            .collect(),
        client_certificates: certs
            .into_iter()
            .map(|c| ClientCertView {
                confirmed_current: current_sha256.is_some()
                    && c.confirmed_sha256.as_deref() == current_sha256,
                sha256: c.sha256,
                label: c.label,
                enrolled_at: format_rfc3339(c.enrolled_at),
                last_seen: c.last_seen.map(format_rfc3339),
                confirmed_sha256: c.confirmed_sha256,
                confirmed_at: c.confirmed_at.map(format_rfc3339),
                successor_sha256: c.successor_sha256,
            })
            .collect(),
        join_tokens: super::token::tenant_tokens(db, name).await?,
    })
}

fn view_text(v: &TenantView) -> String {
    let mut out = view_head(v);
    if !v.join_tokens.is_empty() {
        out.push_str("\nJoin tokens:\n");
        let rows: Vec<Vec<String>> = v
            .join_tokens
            .iter()
            .map(|t| {
                vec![
                    t.id.clone(),
                    t.state.to_string(),
                    t.uses_left.to_string(),
                    t.expires_at.clone(),
                    t.label.clone(),
                ]
            })
            .collect();
        for line in table(&["ID", "STATE", "USES LEFT", "EXPIRES", "LABEL"], &rows).lines() {
            out.push_str(&format!("  {line}\n"));
        }
    }
    out
}

fn view_head(v: &TenantView) -> String {
    let mut out = format!(
        "Tenant: {}\nDescription: {}\nEnabled: {}\nCreated: {}\nPool: {}{}\n",
        v.name,
        if v.description.is_empty() {
            "-"
        } else {
            &v.description
        },
        if v.enabled { "yes" } else { "no" },
        v.created_at,
        v.pool,
        if v.failover_outside_pool {
            " (fails over to other pools)"
        } else {
            ""
        }
    );
    out.push_str("\nServices:\n");
    if v.services.is_empty() {
        out.push_str(
            "  (none; add one with `cloudgate sp tenant service add TENANT SERVICE HOST:PORT`)\n",
        );
    }
    if !v.services.is_empty() {
        let rows: Vec<Vec<String>> = v
            .services
            .iter()
            .map(|s| vec![s.name.clone(), s.target.clone()])
            .collect();
        for line in table(&["SERVICE", "TARGET"], &rows).lines() {
            out.push_str(&format!("  {line}\n"));
        }
    }
    out.push_str("\nEnrolled client certificates:\n");
    if v.client_certificates.is_empty() {
        out.push_str("  (none yet)\n");
    }
    for c in &v.client_certificates {
        out.push_str(&format!(
            "  {}  SHA-256 {}  enrolled {}  last seen {}\n",
            c.label.as_deref().unwrap_or("(no label)"),
            c.sha256,
            c.enrolled_at,
            c.last_seen.as_deref().unwrap_or("never")
        ));
        let trusts = match (&c.confirmed_sha256, c.confirmed_current) {
            (None, _) => "has not confirmed a certificate yet".to_string(),
            (Some(_), true) => "trusts the certificate in use".to_string(),
            (Some(s), false) => format!("trusts another certificate (SHA-256 {s})"),
        };
        out.push_str(&format!(
            "    {trusts}{}{}\n",
            c.confirmed_at
                .as_deref()
                .map(|t| format!(" (confirmed {t})"))
                .unwrap_or_default(),
            c.successor_sha256
                .as_deref()
                .map(|s| format!("; has seen successor {}", &s[..s.len().min(16)]))
                .unwrap_or_default()
        ));
    }
    out
}

/// What a removing command reports: the thing as it was.
#[derive(Serialize)]
struct Removed<T: Serialize> {
    removed: T,
}

/// A revoked client certificate.
#[derive(Serialize)]
struct Revoked {
    tenant: String,
    sha256: String,
}

/// A service with the tenant it belongs to.
#[derive(Serialize)]
struct TenantService {
    tenant: String,
    name: String,
    target: String,
}

pub async fn run(ctx: &Context, cmd: TenantCommand) -> anyhow::Result<()> {
    // The certificate in use, to tell which machines confirmed it (unreadable store: unknown).
    let current: Option<String> = ctx
        .store_for_read()
        .applied_record()
        .ok()
        .flatten()
        .map(|r| r.sha256);
    let db = ctx.sp_db().await?;
    match cmd {
        TenantCommand::Add {
            name,
            password,
            description,
            json,
        } => {
            add(
                ctx,
                &*db,
                name,
                password,
                description,
                json,
                current.as_deref(),
            )
            .await
        }
        TenantCommand::List { json } => list(&*db, json, current.as_deref()).await,
        TenantCommand::Show { name, json } => {
            let v = view(&*db, &name, current.as_deref()).await?;
            if json {
                print_json(&v)
            } else {
                print_text(&view_text(&v))
            }
        }
        TenantCommand::SetPassword {
            name,
            password,
            json,
        } => {
            db.tenant(&name).await?;
            let pw = new_password(&password, &name)?;
            cloudgate_sp::set_tenant_password(&*db, &name, &pw).await?;
            let v = view(&*db, &name, current.as_deref()).await?;
            report(json, &v, &format!("Password of tenant {name} replaced.\n"))
        }
        TenantCommand::Disable { name, json } => {
            set_enabled(&*db, &name, false, json, current.as_deref()).await
        }
        TenantCommand::Enable { name, json } => {
            set_enabled(&*db, &name, true, json, current.as_deref()).await
        }
        TenantCommand::Set {
            name,
            pool,
            failover_outside_pool,
            json,
        } => {
            set(
                &*db,
                &name,
                pool,
                failover_outside_pool,
                json,
                current.as_deref(),
            )
            .await
        }
        TenantCommand::Remove { name, json } => {
            let v = view(&*db, &name, current.as_deref()).await?;
            db.remove_tenant(&name).await?;
            report(
                json,
                &Removed { removed: v },
                &format!("Tenant {name} removed with its services and client certificates.\n"),
            )
        }
        TenantCommand::Prune {
            name,
            unseen_days,
            json,
        } => prune(&*db, name, unseen_days, json).await,
        TenantCommand::Revoke { name, sha256, json } => revoke(&*db, name, sha256, json).await,
        TenantCommand::Token(crate::cli::TokenCommand::Create {
            tenant,
            expires,
            uses,
            label,
            addresses,
            json,
        }) => {
            super::token::create(ctx, &*db, &tenant, expires, uses, &label, addresses, json).await
        }
        TenantCommand::Token(crate::cli::TokenCommand::List { tenant, json }) => {
            super::token::list(&*db, tenant.as_deref(), json).await
        }
        TenantCommand::Token(crate::cli::TokenCommand::Revoke { id, json }) => {
            super::token::revoke(ctx, &*db, &id, json).await
        }
        TenantCommand::Service(cmd) => service(&*db, cmd).await,
    }
}

async fn add(
    ctx: &Context,
    db: &dyn SpRepository,
    name: String,
    password: crate::cli::PasswordArgs,
    description: String,
    json: bool,
    current: Option<&str>,
) -> anyhow::Result<()> {
    let store = ctx.store_for_read();
    cloudgate_sp::check_new_tenant(&store, &name, &description)?;
    let pw = new_password(&password, &name)?;
    cloudgate_sp::add_tenant(&store, db, &name, &description, &pw).await?;
    let v = view(db, &name, current).await?;
    if json {
        print_json(&v)
    } else {
        print_text(&format!(
            "Tenant {name} created.\nGive it a join token instead of sending the password (one string with the address, the pin and a one-time credential):\n  cloudgate sp tenant token create {name}\n"
        ))
    }
}

async fn list(db: &dyn SpRepository, json: bool, current: Option<&str>) -> anyhow::Result<()> {
    let tenants = db.tenants().await?;
    let mut views = Vec::new();
    for t in &tenants {
        views.push(view(db, &t.name, current).await?);
    }
    if json {
        return print_json(&views);
    }
    if views.is_empty() {
        return print_text("No tenants yet. Create one with `cloudgate sp tenant add NAME`.\n");
    }
    let rows: Vec<Vec<String>> = views
        .iter()
        .map(|v| {
            vec![
                v.name.clone(),
                if v.enabled { "yes".into() } else { "no".into() },
                v.services.len().to_string(),
                v.client_certificates.len().to_string(),
                v.description.clone(),
            ]
        })
        .collect();
    print_text(&table(
        &[
            "TENANT",
            "ENABLED",
            "SERVICES",
            "CLIENT CERTS",
            "DESCRIPTION",
        ],
        &rows,
    ))
}

async fn prune(
    db: &dyn SpRepository,
    name: String,
    unseen_days: u32,
    json: bool,
) -> anyhow::Result<()> {
    let before = time::OffsetDateTime::now_utc() - time::Duration::days(i64::from(unseen_days));
    let removed = db.prune_client_certs(&name, before).await?;
    let views: Vec<Revoked> = removed
        .iter()
        .map(|c| Revoked {
            tenant: name.clone(),
            sha256: c.sha256.clone(),
        })
        .collect();
    let mut text = format!(
        "Removed {} machine(s) of tenant {name} not seen for {unseen_days} days.\n",
        removed.len()
    );
    for c in &removed {
        text.push_str(&format!(
            "  {}  {}  last seen {}\n",
            c.label.as_deref().unwrap_or("(no label)"),
            c.sha256,
            c.last_seen
                .map(format_rfc3339)
                .unwrap_or_else(|| "never".into())
        ));
    }
    report(json, &Removed { removed: views }, &text)
}

async fn revoke(
    db: &dyn SpRepository,
    name: String,
    sha256: String,
    json: bool,
) -> anyhow::Result<()> {
    let normalized =
        cloudgate_sp::tenants::machine_sha256(&sha256).map_err(|e| usage(e.to_string()))?;
    db.revoke_client_cert(&name, &normalized).await?;
    report(
        json,
        &Revoked {
            tenant: name.clone(),
            sha256: normalized.clone(),
        },
        &format!("Client certificate {normalized} of tenant {name} revoked.\n"),
    )
}

async fn add_service(
    db: &dyn SpRepository,
    tenant: String,
    service: String,
    target: String,
    json: bool,
) -> anyhow::Result<()> {
    cloudgate_sp::services::add_service(db, &tenant, &service, &target).await?;
    report(
        json,
        &TenantService {
            tenant: tenant.clone(),
            name: service.clone(),
            target: target.clone(),
        },
        &format!("Tenant {tenant} may now reach {service} ({target}).\n"),
    )
}

async fn list_services(db: &dyn SpRepository, tenant: String, json: bool) -> anyhow::Result<()> {
    let services: Vec<ServiceView> = db
        .services(&tenant)
        .await?
        .into_iter()
        .map(|s| ServiceView {
            name: s.name,
            target: s.target,
        })
        .collect();
    if json {
        return print_json(&services);
    }
    let rows: Vec<Vec<String>> = services
        .iter()
        .map(|s| vec![s.name.clone(), s.target.clone()])
        .collect();
    print_text(&table(&["SERVICE", "TARGET"], &rows))
}

async fn remove_service(
    db: &dyn SpRepository,
    tenant: String,
    service: String,
    json: bool,
) -> anyhow::Result<()> {
    let target = db
        .services(&tenant)
        .await?
        .into_iter()
        .find(|s| s.name == service)
        .map(|s| s.target);
    db.remove_service(&tenant, &service).await?;
    report(
        json,
        &Removed {
            removed: TenantService {
                tenant: tenant.clone(),
                name: service.clone(),
                target: target.unwrap_or_default(),
            },
        },
        &format!("Service {service} removed from tenant {tenant}.\n"),
    )
}

/// `sp tenant disable|enable`.
async fn set_enabled(
    db: &dyn SpRepository,
    name: &str,
    enabled: bool,
    json: bool,
    current: Option<&str>,
) -> anyhow::Result<()> {
    db.set_enabled(name, enabled).await?;
    let v = view(db, name, current).await?;
    let text = if enabled {
        format!("Tenant {name} enabled.\n")
    } else {
        format!("Tenant {name} disabled: it can neither enroll nor open tunnels.\n")
    };
    report(json, &v, &text)
}

/// `sp tenant set NAME --pool POOL --failover-outside-pool BOOL`.
async fn set(
    db: &dyn SpRepository,
    name: &str,
    pool: Option<String>,
    outside: Option<bool>,
    json: bool,
    current: Option<&str>,
) -> anyhow::Result<()> {
    if pool.is_none() && outside.is_none() {
        return Err(usage(
            "nothing to set: give --pool POOL and/or --failover-outside-pool true|false",
        ));
    }
    if let Some(p) = &pool {
        cloudgate_gateway::config::check_fleet_name("pool", p).map_err(|e| usage(e.to_string()))?;
    }
    let t = db.tenant(name).await?;
    let pool = pool.unwrap_or(t.pool);
    let outside = outside.unwrap_or(t.failover_outside_pool);
    db.set_pool(name, &pool, outside).await?;
    let v = view(db, name, current).await?;
    let text = format!(
        "Tenant {name} now uses the gateways of pool {pool}{}; its machines learn it at their next connection.\n",
        if outside {
            ", and those of other pools when none of its own answers"
        } else {
            " only"
        }
    );
    report(json, &v, &text)
}

/// `sp tenant service add|list|remove`.
async fn service(db: &dyn SpRepository, cmd: ServiceCommand) -> anyhow::Result<()> {
    match cmd {
        ServiceCommand::Add {
            tenant,
            service,
            target,
            json,
        } => add_service(db, tenant, service, target, json).await,
        ServiceCommand::List { tenant, json } => list_services(db, tenant, json).await,
        ServiceCommand::Remove {
            tenant,
            service,
            json,
        } => remove_service(db, tenant, service, json).await,
    }
}
