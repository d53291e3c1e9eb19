//! `cloudgate sp tenant token create|list|revoke` and `cloudgate tenant join`: join tokens,
//! one string that carries the SP's addresses, its key pins and a one-time credential.

use std::time::Duration;

use cloudgate_sp::core::TokenOrder;
use cloudgate_sp::{Sp, join_tokens};
use zeroize::Zeroizing;

use crate::context::Context;
use crate::render::{report, table};

/// Reads `24h`, `30m`, `7d`, `3600s` or a bare number of seconds (clap's value parser).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    join_tokens::parse_lifetime(s)
}

/// `sp tenant token create`.
pub async fn create(
    ctx: &Context,
    sp: &Sp,
    tenant: &str,
    order: TokenOrder,
    json: bool,
) -> anyhow::Result<()> {
    // Before the addresses, so that an unknown tenant is said without a warning first.
    sp.tenant(tenant).await?;
    if order.addresses.is_empty() {
        let (address, configured) = cloudgate_sp::settings::effective_public_address(&ctx.layout)?;
        if !configured {
            crate::render::warn(&format!(
                "no public address is set; the token sends tenants to {address}:6180 (set it with `cloudgate sp gateway address HOST[:PORT]`, or pass --address)"
            ));
        }
    }
    let created = sp.create_join_token(tenant, &order).await?;
    let uses = created.uses;
    let human = Zeroizing::new(format!(
        "Join token for tenant {tenant} (id {}, expires {}, {uses} use{}):\n\n  {}\n\n\
         It is a credential: send it to the tenant by a channel only they read (not in the same mail\n\
         as anything else), and they run, without putting it on a command line:\n  \
         cloudgate tenant join --token-file FILE      (or CLOUDGATE_JOIN_TOKEN=… cloudgate tenant join)\n",
        created.info.id,
        created.info.expires_at,
        if uses == 1 { "" } else { "s" },
        created.token
    ));
    report(json, &created, &human)
}

/// `sp tenant token list`.
pub async fn list(sp: &Sp, tenant: Option<&str>, json: bool) -> anyhow::Result<()> {
    let views = sp.join_tokens(tenant).await?;
    if views.is_empty() && !json {
        return crate::render::print_text(
            "No join tokens. Create one with `cloudgate sp tenant token create TENANT`.\n",
        );
    }
    let rows: Vec<Vec<String>> = views
        .iter()
        .map(|v| {
            vec![
                v.id.clone(),
                v.tenant.clone(),
                v.state.clone(),
                v.uses_left.to_string(),
                v.expires_at.clone(),
                v.label.clone(),
            ]
        })
        .collect();
    report(
        json,
        &views,
        &table(
            &["ID", "TENANT", "STATE", "USES LEFT", "EXPIRES", "LABEL"],
            &rows,
        ),
    )
}

/// `sp tenant token revoke`.
pub async fn revoke(sp: &Sp, id: &str, json: bool) -> anyhow::Result<()> {
    let revoked = sp.revoke_join_token(id).await?;
    report(
        json,
        &revoked,
        &format!(
            "Join token {} of tenant {} revoked.\n",
            revoked.id, revoked.tenant
        ),
    )
}
