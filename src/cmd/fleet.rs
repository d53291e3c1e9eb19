//! `cloudgate sp gateway list|forget`: the gateways recorded in the SP database.

use cloudgate_db::GatewayRecord;
use cloudgate_gateway::fleet::UP_WITHIN;
use cloudgate_pki::format_rfc3339;
use serde::Serialize;
use time::OffsetDateTime;

use crate::context::Context;
use crate::render::{report, table};

#[derive(Serialize)]
struct GatewayView {
    id: String,
    /// `up`, `down` (silent for longer than the heartbeat allows) or `stopped` (gracefully).
    state: &'static str,
    public_address: String,
    pool: String,
    version: String,
    cert_sha256: String,
    open_tunnels: i64,
    started_at: String,
    last_heartbeat: String,
    /// Seconds since the last heartbeat.
    silent_secs: i64,
    stopped_at: Option<String>,
}

fn view(g: GatewayRecord, now: OffsetDateTime) -> GatewayView {
    let state = if g.stopped_at.is_some() {
        "stopped"
    } else if g.is_up(now, UP_WITHIN) {
        "up"
    } else {
        "down"
    };
    GatewayView {
        state,
        silent_secs: (now - g.heartbeat_at).whole_seconds().max(0),
        id: g.id,
        public_address: g.public_address,
        pool: g.pool,
        version: g.version,
        cert_sha256: g.cert_sha256,
        open_tunnels: g.open_tunnels,
        started_at: format_rfc3339(g.started_at),
        last_heartbeat: format_rfc3339(g.heartbeat_at),
        stopped_at: g.stopped_at.map(format_rfc3339),
    }
}

/// `sp gateway list`.
pub async fn list(ctx: &Context, json: bool) -> anyhow::Result<()> {
    let db = ctx.sp_db().await?;
    let now = OffsetDateTime::now_utc();
    let views: Vec<GatewayView> = db
        .gateways()
        .await?
        .into_iter()
        .map(|g| view(g, now))
        .collect();
    let text = if views.is_empty() {
        "No gateway has run on this SP database yet; start one with `cloudgate sp gateway run`.\n"
            .to_string()
    } else {
        let serving: std::collections::BTreeSet<&str> = views
            .iter()
            .filter(|v| v.state == "up")
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
