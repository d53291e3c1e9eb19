//! `cloudgate sp tenant token create|list|revoke` and `cloudgate tenant join`: join tokens,
//! one string that carries the SP's addresses, its key pins and a one-time credential.

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use cloudgate_db::prelude::*;
use cloudgate_pki::join_token::JoinToken;
use cloudgate_proto::admin::JoinTokenInfo;
use cloudgate_sp::join_tokens;
use zeroize::Zeroizing;

use crate::context::Context;
use crate::exit::usage;
use crate::render::{report, table};

/// A stored token, as lists show it (never the secret).
pub type TokenView = JoinTokenInfo;

/// The views of a tenant's tokens (for `sp tenant show`).
pub async fn tenant_tokens(db: &dyn SpRepository, tenant: &str) -> anyhow::Result<Vec<TokenView>> {
    Ok(join_tokens::list(db, Some(tenant)).await?)
}

/// Reads `24h`, `30m`, `7d`, `3600s` or a bare number of seconds (clap's value parser).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    join_tokens::parse_lifetime(s)
}

/// The addresses a new token carries: those given, else the public address (the configured
/// one, else this host's name, which is said).
fn token_addresses(ctx: &Context, given: Vec<String>) -> anyhow::Result<Vec<String>> {
    if !given.is_empty() {
        return Ok(given);
    }
    let (address, configured) = cloudgate_gateway::public_address::effective(&ctx.layout)?;
    if !configured {
        crate::render::warn(&format!(
            "no public address is set; the token sends tenants to {address}:6180 (set it with `cloudgate sp gateway address HOST[:PORT]`, or pass --address)"
        ));
    }
    Ok(vec![address])
}

/// `sp tenant token create`.
#[allow(clippy::too_many_arguments)]
pub async fn create(
    ctx: &Context,
    db: &dyn SpRepository,
    tenant: &str,
    expires: Duration,
    uses: u32,
    label: &str,
    addresses: Vec<String>,
    json: bool,
) -> anyhow::Result<()> {
    // Before the addresses, so that an unknown tenant is said without a warning first.
    db.tenant(tenant).await?;
    let addresses = token_addresses(ctx, addresses)?;
    let store = ctx.store_for_read();
    let created = join_tokens::create(
        &store,
        db,
        join_tokens::TokenRequest {
            tenant,
            lifetime: expires,
            uses,
            label,
            addresses,
            created_by: &cloudgate_store::owner::current_user_name(),
        },
    )
    .await
    .map_err(|e| match e {
        cloudgate_sp::SpError::Invalid(m) => usage(m),
        other => other.into(),
    })?;
    let own = ctx.ownership()?;
    cloudgate_store::audit::record(
        &ctx.layout,
        &own,
        "token.created",
        "join token created",
        serde_json::json!({ "token_id": created.info.id, "tenant": tenant, "expires_at": created.info.expires_at, "uses": uses, "label": label }),
    )
    .context("writing the audit log")?;
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
pub async fn list(db: &dyn SpRepository, tenant: Option<&str>, json: bool) -> anyhow::Result<()> {
    let views = join_tokens::list(db, tenant).await?;
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
pub async fn revoke(
    ctx: &Context,
    db: &dyn SpRepository,
    id: &str,
    json: bool,
) -> anyhow::Result<()> {
    let revoked = join_tokens::revoke(db, id).await?;
    let own = ctx.ownership()?;
    cloudgate_store::audit::record(
        &ctx.layout,
        &own,
        "token.revoked",
        "join token revoked",
        serde_json::json!({ "token_id": revoked.id, "tenant": revoked.tenant }),
    )
    .context("writing the audit log")?;
    report(
        json,
        &revoked,
        &format!(
            "Join token {} of tenant {} revoked.\n",
            revoked.id, revoked.tenant
        ),
    )
}

/// Where `tenant join` reads the token: the argument, `--token-file`, or
/// `CLOUDGATE_JOIN_TOKEN`.
pub fn read_token(arg: Option<&str>, file: Option<&Path>) -> anyhow::Result<JoinToken> {
    let text: Zeroizing<String> = match (arg, file) {
        (Some(t), None) => {
            crate::render::warn(
                "a join token on the command line can be seen by other users of this machine (ps) and stays in your shell history; prefer --token-file FILE or CLOUDGATE_JOIN_TOKEN",
            );
            Zeroizing::new(t.to_string())
        }
        (None, Some(f)) => {
            let bytes = crate::input::read_input_file(f, "join token file")?;
            Zeroizing::new(
                String::from_utf8(bytes.to_vec())
                    .map_err(|_| usage(format!("{} is not text", f.display())))?,
            )
        }
        (None, None) => match std::env::var("CLOUDGATE_JOIN_TOKEN") {
            Ok(t) if !t.trim().is_empty() => Zeroizing::new(t),
            _ => {
                return Err(usage(
                    "give the join token with --token-file FILE or CLOUDGATE_JOIN_TOKEN (or as the argument)",
                ));
            }
        },
        (Some(_), Some(_)) => {
            return Err(usage(
                "give the join token once: as the argument or with --token-file",
            ));
        }
    };
    JoinToken::parse(&text).map_err(|e| usage(e.to_string()))
}
