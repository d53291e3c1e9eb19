//! `cloudgate sp tenant …`: tenant accounts, their services and enrolled client certificates.

use cloudgate_proto::admin::{PoolSetting, Tenant};
use cloudgate_sp::Sp;
use cloudgate_sp::core::TokenOrder;
use serde::Serialize;
use zeroize::Zeroizing;

use crate::cli::{PasswordArgs, ServiceCommand, TenantCommand};
use crate::context::Context;
use crate::exit::usage;
use crate::input::{given_password, interactive, prompt_new_password};
use crate::render::{print_json, print_text, report, table};

/// The tenant password: from a file or stdin, else asked twice on a terminal.
fn new_password(args: &PasswordArgs, tenant: &str) -> anyhow::Result<Zeroizing<String>> {
    match given_password(args)? {
        Some(p) => Ok(p),
        None if interactive() => prompt_new_password(
            &format!("Password for tenant {tenant}:"),
            "the tenant enrolls with this name and password; at least 8 characters",
        ),
        None => Err(usage(
            "give the tenant password with --password-file FILE or --password-stdin",
        )),
    }
}

fn view_text(v: &Tenant) -> String {
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

/// The limits' lines of a tenant's view.
fn limits_text(l: &cloudgate_proto::admin::TenantLimits) -> String {
    let or = |v: &Option<String>, none: &str| v.clone().unwrap_or_else(|| none.to_string());
    let window = l
        .limit_window
        .as_ref()
        .map(|w| format!(" during {w} UTC"))
        .unwrap_or_default();
    let tunnels = match (l.max_tunnels, l.max_tunnels_per_machine) {
        (None, None) => "unlimited".to_string(),
        (Some(t), None) => format!("{t} at once"),
        (None, Some(m)) => format!("{m} at once per machine"),
        (Some(t), Some(m)) => format!("{t} at once, {m} per machine"),
    };
    let lease = match (&l.expires_at, l.lease_ended) {
        (None, _) => "no end".to_string(),
        (Some(at), true) => format!("ENDED {at}: refused until extended (--expires)"),
        (Some(at), false) => format!("ends {at}"),
    };
    let from = if l.allow_from.is_empty() {
        "anywhere".to_string()
    } else {
        l.allow_from.join(", ")
    };
    let rates = if l.max_upload.is_none() && l.max_download.is_none() {
        String::new()
    } else {
        window
    };
    format!(
        "Limits: upload {}, download {}{rates}\nTunnels: {tunnels}\nLease: {lease}\nConnects from: {from}\n",
        or(&l.max_upload, "unlimited"),
        or(&l.max_download, "unlimited"),
    )
}

fn view_head(v: &Tenant) -> String {
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
    out.push_str(&limits_text(&v.limits));
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
    if v.machines.is_empty() {
        out.push_str("  (none yet)\n");
    }
    for c in &v.machines {
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
    let sp = ctx.sp().await?;
    match cmd {
        TenantCommand::Add {
            name,
            password,
            description,
            limits,
            json,
        } => {
            sp.check_new_tenant(&name, &description)?;
            let limits = limits.change();
            // Refused before the password is asked.
            sp.check_limits(&limits)?;
            let pw = new_password(&password, &name)?;
            let v = sp.add_tenant(&name, &description, &pw, &limits).await?;
            let name = &v.name;
            report(
                json,
                &v,
                &format!(
                    "Tenant {name} created.\nGive it a join token instead of sending the password (one string with the address, the pin and a one-time credential):\n  cloudgate sp tenant token create {name}\n"
                ),
            )
        }
        TenantCommand::List { json } => list(&sp, json).await,
        TenantCommand::Show { name, json } => {
            let v = sp.tenant(&name).await?;
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
            sp.tenant(&name).await?;
            let pw = new_password(&password, &name)?;
            let v = sp.set_password(&name, &pw).await?;
            report(json, &v, &format!("Password of tenant {name} replaced.\n"))
        }
        TenantCommand::Disable { name, json } => {
            let v = sp.set_enabled(&name, false).await?;
            report(
                json,
                &v,
                &format!("Tenant {name} disabled: it can neither enroll nor open tunnels.\n"),
            )
        }
        TenantCommand::Enable { name, json } => {
            let v = sp.set_enabled(&name, true).await?;
            report(json, &v, &format!("Tenant {name} enabled.\n"))
        }
        TenantCommand::Set {
            name,
            pool,
            failover_outside_pool,
            limits,
            json,
        } => {
            let limits = limits.change();
            if pool.is_none() && failover_outside_pool.is_none() && limits.is_empty() {
                return Err(usage(
                    "nothing to set: give --pool POOL, --failover-outside-pool true|false, or a limit (--max-upload, --max-download, --limit-window, --max-tunnels, --max-tunnels-per-machine, --expires, --allow-from)",
                ));
            }
            // Limits are checked before the pool is changed: a bad one changes nothing.
            sp.check_limits(&limits)?;
            let mut text = String::new();
            let mut view = None;
            if pool.is_some() || failover_outside_pool.is_some() {
                let v = sp
                    .set_pool(
                        &name,
                        &PoolSetting {
                            pool,
                            failover_outside_pool,
                        },
                    )
                    .await?;
                text.push_str(&format!(
                    "Tenant {name} now uses the gateways of pool {}{}; its machines learn it at their next connection.\n",
                    v.pool,
                    if v.failover_outside_pool {
                        ", and those of other pools when none of its own answers"
                    } else {
                        " only"
                    }
                ));
                view = Some(v);
            }
            if !limits.is_empty() {
                let v = sp.set_limits(&name, &limits).await?;
                text.push_str(&format!(
                    "Limits of tenant {name} changed; the gateways apply them at their next reload (within seconds).\n{}",
                    limits_text(&v.limits)
                ));
                view = Some(v);
            }
            match view {
                Some(v) => report(json, &v, &text),
                None => Err(usage("nothing to set")),
            }
        }
        TenantCommand::Remove { name, json } => {
            let v = sp.remove_tenant(&name).await?;
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
        } => {
            let pruned = sp.prune(&name, unseen_days).await?;
            let mut text = format!(
                "Removed {} machine(s) of tenant {name} not seen for {unseen_days} days.\n",
                pruned.removed.len()
            );
            for c in &pruned.removed {
                text.push_str(&format!(
                    "  {}  {}  last seen {}\n",
                    c.label.as_deref().unwrap_or("(no label)"),
                    c.sha256,
                    c.last_seen.as_deref().unwrap_or("never")
                ));
            }
            report(json, &pruned, &text)
        }
        TenantCommand::Revoke { name, sha256, json } => {
            let normalized = cloudgate_sp::tenants::machine_sha256(&sha256)?;
            sp.revoke_machine(&name, &normalized).await?;
            report(
                json,
                &Revoked {
                    tenant: name.clone(),
                    sha256: normalized.clone(),
                },
                &format!("Client certificate {normalized} of tenant {name} revoked.\n"),
            )
        }
        TenantCommand::Token(crate::cli::TokenCommand::Create {
            tenant,
            expires,
            uses,
            label,
            addresses,
            json,
        }) => {
            let order = TokenOrder {
                lifetime: Some(expires),
                uses: Some(uses),
                label,
                addresses,
            };
            super::token::create(ctx, &sp, &tenant, order, json).await
        }
        TenantCommand::Token(crate::cli::TokenCommand::List { tenant, json }) => {
            super::token::list(&sp, tenant.as_deref(), json).await
        }
        TenantCommand::Token(crate::cli::TokenCommand::Revoke { id, json }) => {
            super::token::revoke(&sp, &id, json).await
        }
        TenantCommand::Usage(args) => crate::cmd::usage::run(&sp, args).await,
        TenantCommand::Service(cmd) => service(&sp, cmd).await,
    }
}

async fn list(sp: &Sp, json: bool) -> anyhow::Result<()> {
    let views = sp.tenants("").await?;
    if json {
        return print_json(&views);
    }
    if views.is_empty() {
        return print_text("No tenants yet. Create one with `cloudgate sp tenant add NAME`.\n");
    }
    // The same columns as the console's list: what each tenant is doing, as the gateways report.
    let activity = sp.activity().await?;
    let rows: Vec<Vec<String>> = views
        .iter()
        .map(|v| {
            let a = activity.get(&v.name).cloned().unwrap_or_default();
            let last = v.machines.iter().filter_map(|m| m.last_seen.clone()).max();
            vec![
                v.name.clone(),
                if v.enabled { "yes".into() } else { "no".into() },
                v.machines.len().to_string(),
                last.unwrap_or_else(|| "never".into()),
                a.open_tunnels.to_string(),
                cloudgate_sp::views::human_bytes(a.bytes_24h),
                v.services.len().to_string(),
                v.description.clone(),
            ]
        })
        .collect();
    print_text(&table(
        &[
            "TENANT",
            "ENABLED",
            "MACHINES",
            "LAST CONTACT",
            "OPEN TUNNELS",
            "TRAFFIC 24H",
            "SERVICES",
            "DESCRIPTION",
        ],
        &rows,
    ))
}

/// `sp tenant service add|list|remove`.
async fn service(sp: &Sp, cmd: ServiceCommand) -> anyhow::Result<()> {
    match cmd {
        ServiceCommand::Add {
            tenant,
            service,
            target,
            json,
        } => {
            sp.add_service(&tenant, &service, &target).await?;
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
        ServiceCommand::List { tenant, json } => {
            let services = sp.tenant(&tenant).await?.services;
            if json {
                return print_json(&services);
            }
            let rows: Vec<Vec<String>> = services
                .iter()
                .map(|s| vec![s.name.clone(), s.target.clone()])
                .collect();
            print_text(&table(&["SERVICE", "TARGET"], &rows))
        }
        ServiceCommand::Remove {
            tenant,
            service,
            json,
        } => {
            let target = sp
                .tenant(&tenant)
                .await?
                .services
                .into_iter()
                .find(|s| s.name == service)
                .map(|s| s.target);
            sp.remove_service(&tenant, &service).await?;
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
    }
}
