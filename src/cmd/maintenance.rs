//! `cloudgate sp maintenance on|off|status`.

use cloudgate_proto::admin::{MaintenanceInfo, MaintenanceOrder};

use crate::cli::MaintenanceCommand;
use crate::context::Context;
use crate::render::{print_json, print_text, report, table};

fn scope_text(m: &MaintenanceInfo) -> String {
    match &m.name {
        Some(name) => format!("{} {name}", m.scope),
        None => "every gateway".into(),
    }
}

/// Runs an `sp maintenance` command.
pub async fn run(ctx: &Context, cmd: MaintenanceCommand) -> anyhow::Result<()> {
    let sp = ctx.sp().await?;
    match cmd {
        MaintenanceCommand::On {
            pool,
            gateway,
            message,
            drain,
            until,
            json,
        } => {
            let m = sp
                .start_maintenance(&MaintenanceOrder {
                    pool,
                    gateway,
                    message,
                    drain,
                    until,
                })
                .await?;
            let text = format!(
                "Maintenance on for {}: new tunnels are refused with \"{}\"{}.\nOpen tunnels {}.\nEnd it with `cloudgate sp maintenance off{}`.\n",
                scope_text(&m),
                m.message,
                m.ends_at
                    .as_deref()
                    .map(|e| format!("; tenants try again after {e}"))
                    .unwrap_or_default(),
                m.drain_until
                    .as_deref()
                    .map(|d| format!("are cut at {d}"))
                    .unwrap_or_else(|| "finish by themselves".into()),
                m.name
                    .as_deref()
                    .map(|n| format!(" --{} {n}", m.scope))
                    .unwrap_or_default(),
            );
            report(json, &m, &text)
        }
        MaintenanceCommand::Off {
            pool,
            gateway,
            json,
        } => {
            let m = sp
                .end_maintenance(pool.as_deref(), gateway.as_deref())
                .await?;
            let text = format!(
                "Maintenance of {} ended: tunnels are accepted again.\n",
                scope_text(&m)
            );
            report(json, &m, &text)
        }
        MaintenanceCommand::Status { json } => {
            let all = sp.maintenance().await?;
            if json {
                return print_json(&all);
            }
            if all.is_empty() {
                return print_text("No maintenance: every gateway accepts tunnels.\n");
            }
            let rows: Vec<Vec<String>> = all
                .iter()
                .map(|m| {
                    vec![
                        scope_text(m),
                        m.started_at.clone(),
                        m.drain_until.clone().unwrap_or_else(|| "-".into()),
                        m.ends_at.clone().unwrap_or_else(|| "-".into()),
                        m.message.clone(),
                    ]
                })
                .collect();
            print_text(&table(
                &["SCOPE", "SINCE", "DRAIN UNTIL", "ENDS", "MESSAGE"],
                &rows,
            ))
        }
    }
}
