//! `cloudgate sp tenant token create|list|revoke` and `cloudgate tenant join`: join tokens,
//! one string that carries the SP's addresses, its key pins and a one-time credential.

use std::path::Path;
use std::time::Duration;

use cloudgate_pki::join_token::JoinToken;
use cloudgate_sp::core::TokenOrder;
use cloudgate_sp::{Sp, join_tokens};
use zeroize::Zeroizing;

use crate::context::Context;
use crate::exit::usage;
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
