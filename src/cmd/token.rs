//! `cloudgate sp tenant token create|list|revoke` and `cloudgate tenant join`: join tokens,
//! one string that carries the SP's addresses, its key pins and a one-time credential.

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use cloudgate_db::JoinTokenRecord;
use cloudgate_db::prelude::*;
use cloudgate_pki::join_token::JoinToken;
use serde::Serialize;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::context::Context;
use crate::exit::usage;
use crate::render::{report, table};

/// What `token create` reports (the token itself only here, once).
#[derive(Serialize)]
struct Created<'a> {
    id: String,
    tenant: &'a str,
    token: &'a str,
    expires_at: String,
    uses: u32,
    label: &'a str,
    addresses: &'a [String],
    pins: Vec<String>,
}

/// A stored token, as lists show it (never the secret).
#[derive(Serialize)]
pub struct TokenView {
    pub id: String,
    pub tenant: String,
    pub label: String,
    pub created_by: String,
    pub created_at: String,
    pub expires_at: String,
    pub uses_left: i64,
    pub revoked_at: Option<String>,
    pub state: &'static str,
}

fn state(t: &JoinTokenRecord, now: OffsetDateTime) -> &'static str {
    if t.revoked_at.is_some() {
        "revoked"
    } else if t.expires_at <= now {
        "expired"
    } else if t.uses_left <= 0 {
        "used"
    } else {
        "valid"
    }
}

fn view(t: &JoinTokenRecord, now: OffsetDateTime) -> TokenView {
    TokenView {
        id: t.id.clone(),
        tenant: t.tenant.clone(),
        label: t.label.clone(),
        created_by: t.created_by.clone(),
        created_at: cloudgate_pki::format_rfc3339(t.created_at),
        expires_at: cloudgate_pki::format_rfc3339(t.expires_at),
        uses_left: t.uses_left,
        revoked_at: t.revoked_at.map(cloudgate_pki::format_rfc3339),
        state: state(t, now),
    }
}

/// The views of a tenant's tokens (for `sp tenant show`).
pub async fn tenant_tokens(db: &dyn SpRepository, tenant: &str) -> anyhow::Result<Vec<TokenView>> {
    let now = OffsetDateTime::now_utc();
    Ok(db
        .join_tokens(Some(tenant))
        .await?
        .iter()
        .map(|t| view(t, now))
        .collect())
}

/// Reads `24h`, `30m`, `7d`, `3600s` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration such as 30m, 24h or 7d"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        "d" => n.saturating_mul(86_400),
        _ => return Err(format!("{s:?}: the unit must be s, m, h or d")),
    };
    if secs == 0 || secs > 365 * 86_400 {
        return Err(format!("{s:?}: a token lasts from 1 second to 365 days"));
    }
    Ok(Duration::from_secs(secs))
}

/// The pins a new token carries: the key in use, and a staged successor's.
fn pins(ctx: &Context) -> anyhow::Result<Vec<[u8; 32]>> {
    let store = ctx.store_for_read();
    let current = store.applied()?.ok_or_else(|| {
        usage("no certificate is in use: a join token pins the gateway's key, so apply one first (`cloudgate sp cert generate --apply`)")
    })?;
    let mut pins = vec![current.info.fingerprints.spki_sha256];
    if let Some(staged) = store.rollover_history()?.staged
        && let Ok(next) = store.find(&staged.to_sha256)
        && !pins.contains(&next.info.fingerprints.spki_sha256)
    {
        pins.push(next.info.fingerprints.spki_sha256);
    }
    Ok(pins)
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
    db.tenant(tenant).await?;
    if label.chars().any(char::is_control) || label.chars().count() > 128 {
        return Err(usage(
            "--label must be at most 128 characters, without control characters",
        ));
    }
    let addresses = if addresses.is_empty() {
        vec![match crate::public_address::configured(ctx)? {
            Some(a) => a.to_string(),
            None => {
                let host = crate::public_address::default_address();
                crate::render::warn(&format!(
                    "no public address is set; the token sends tenants to {host}:6180 (set it with `cloudgate sp gateway address HOST[:PORT]`, or pass --address)"
                ));
                cloudgate_addr::endpoint(&host, cloudgate_addr::GATEWAY_PORT)
            }
        }]
    } else {
        addresses
            .iter()
            .map(|a| {
                cloudgate_addr::HostPort::parse(a, Some(cloudgate_addr::GATEWAY_PORT))
                    .map(|hp| hp.to_string())
                    .map_err(|e| usage(format!("--address {e}")))
            })
            .collect::<anyhow::Result<Vec<_>>>()?
    };
    let token = JoinToken::new(pins(ctx)?, addresses.clone()).map_err(|e| usage(e.to_string()))?;
    let now = OffsetDateTime::now_utc();
    let expires_at = cloudgate_pki::format_rfc3339(now + expires);
    let record = JoinTokenRecord {
        id: token.id_hex(),
        tenant: tenant.to_string(),
        secret_sha256: token.secret_sha256_hex(),
        label: label.to_string(),
        created_by: cloudgate_store::owner::current_user_name(),
        created_at: now,
        expires_at: now + expires,
        uses_left: i64::from(uses),
        revoked_at: None,
    };
    db.add_join_token(&record).await?;
    let own = ctx.ownership()?;
    cloudgate_store::audit::record(
        &ctx.layout,
        &own,
        "token.created",
        "join token created",
        serde_json::json!({ "token_id": record.id, "tenant": tenant, "expires_at": expires_at, "uses": uses, "label": label }),
    )
    .context("writing the audit log")?;
    let text: Zeroizing<String> = token.encode();
    let created = Created {
        id: record.id.clone(),
        tenant,
        token: &text,
        expires_at: expires_at.clone(),
        uses,
        label,
        addresses: &addresses,
        pins: token
            .pins
            .iter()
            .map(|p| cloudgate_pki::fingerprint::upper_hex(p))
            .collect(),
    };
    let human = format!(
        "Join token for tenant {tenant} (id {}, expires {expires_at}, {uses} use{}):\n\n  {}\n\n\
         It is a credential: send it to the tenant by a channel only they read (not in the same mail\n\
         as anything else), and they run, without putting it on a command line:\n  \
         cloudgate tenant join --token-file FILE      (or CLOUDGATE_JOIN_TOKEN=… cloudgate tenant join)\n",
        record.id,
        if uses == 1 { "" } else { "s" },
        text.as_str()
    );
    report(json, &created, &human)
}

/// `sp tenant token list`.
pub async fn list(db: &dyn SpRepository, tenant: Option<&str>, json: bool) -> anyhow::Result<()> {
    let now = OffsetDateTime::now_utc();
    let views: Vec<TokenView> = db
        .join_tokens(tenant)
        .await?
        .iter()
        .map(|t| view(t, now))
        .collect();
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
                v.state.to_string(),
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
    let revoked = db.revoke_join_token(id).await?;
    let own = ctx.ownership()?;
    cloudgate_store::audit::record(
        &ctx.layout,
        &own,
        "token.revoked",
        "join token revoked",
        serde_json::json!({ "token_id": revoked.id, "tenant": revoked.tenant }),
    )
    .context("writing the audit log")?;
    let now = OffsetDateTime::now_utc();
    report(
        json,
        &view(&revoked, now),
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
