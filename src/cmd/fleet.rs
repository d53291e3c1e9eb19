//! `cloudgate sp gateway list|forget`: the gateways recorded in the SP database.

use cloudgate_proto::admin::GatewayState;

use crate::context::Context;
use crate::render::{report, table};

/// `sp gateway list`.
pub async fn list(ctx: &Context, json: bool) -> anyhow::Result<()> {
    let views = ctx.sp().await?.gateways().await?;
    let text = if views.is_empty() {
        "No gateway has run on this SP database yet; start one with `cloudgate sp gateway run`.\n"
            .to_string()
    } else {
        let serving: std::collections::BTreeSet<&str> = views
            .iter()
            .filter(|v| v.state == GatewayState::Up)
            .map(|v| v.cert_sha256.as_str())
            .collect();
        let rows: Vec<Vec<String>> = views
            .iter()
            .map(|v| {
                vec![
                    v.id.clone(),
                    v.state.to_string(),
                    if v.public_address.is_empty() {
                        "- (not told to tenants)".to_string()
                    } else {
                        v.public_address.clone()
                    },
                    v.pool.clone(),
                    v.open_tunnels.to_string(),
                    format!("{}s ago", v.silent_secs),
                    v.version.clone(),
                    v.cert_sha256.chars().take(16).collect(),
                ]
            })
            .collect();
        let mut out = table(
            &[
                "ID",
                "STATE",
                "PUBLIC ADDRESS",
                "POOL",
                "TUNNELS",
                "HEARTBEAT",
                "VERSION",
                "CERTIFICATE (SHA-256)",
            ],
            &rows,
        );
        if serving.len() > 1 {
            out.push_str(
                "Warning: the gateways that are up serve different certificates; tenants pinned to one refuse the others.\n",
            );
        }
        out
    };
    report(json, &views, &text)
}

/// `sp gateway forget ID`.
pub async fn forget(ctx: &Context, id: &str, json: bool) -> anyhow::Result<()> {
    ctx.sp().await?.forget_gateway(id).await?;
    report(
        json,
        &serde_json::json!({ "forgotten": id }),
        &format!("Gateway {id} forgotten (it records itself again if it runs).\n"),
    )
}
