//! `cloudgate sp admin …`: the console's administrators and API tokens.

use anyhow::Context as _;
use cloudgate_db::prelude::*;
use cloudgate_db::{AdminRecord, ApiTokenRecord};
use cloudgate_pki::format_rfc3339;
use serde::Serialize;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::cli::{AdminCommand, ApiTokenCommand, PasswordArgs};
use crate::context::Context;
use crate::exit::usage;
use crate::input::{given_password, interactive, prompt_password};
use crate::render::{print_text, report, table};

#[derive(Serialize)]
struct AdminView {
    name: String,
    created_at: String,
    password_changed_at: String,
}

fn admin_view(a: &AdminRecord) -> AdminView {
    AdminView {
        name: a.name.clone(),
        created_at: format_rfc3339(a.created_at),
        password_changed_at: format_rfc3339(a.updated_at),
    }
}

#[derive(Serialize)]
struct ApiTokenView {
    id: String,
    name: String,
    state: &'static str,
    created_by: String,
    created_at: String,
    expires_at: String,
    last_used_at: Option<String>,
}

fn token_view(t: &ApiTokenRecord, now: OffsetDateTime) -> ApiTokenView {
    ApiTokenView {
        id: t.id.clone(),
        name: t.name.clone(),
        state: if t.revoked_at.is_some() {
            "revoked"
        } else if now >= t.expires_at {
            "expired"
        } else {
            "active"
        },
        created_by: t.created_by.clone(),
        created_at: format_rfc3339(t.created_at),
        expires_at: format_rfc3339(t.expires_at),
        last_used_at: t.last_used_at.map(format_rfc3339),
    }
}

/// The administrator's password: from a file or stdin, else asked twice on a terminal.
fn new_password(args: &PasswordArgs, name: &str) -> anyhow::Result<Zeroizing<String>> {
    match given_password(args)? {
        Some(p) => Ok(p),
        None if interactive() => prompt_password(
            &format!("Password for administrator {name}:"),
            "typed at the console's login page; at least 8 characters",
            true,
        ),
        None => Err(usage(
            "give the password with --password-file FILE or --password-stdin",
        )),
    }
}

fn audit(
    ctx: &Context,
    event: &'static str,
    message: &str,
    details: serde_json::Value,
) -> anyhow::Result<()> {
    cloudgate_store::audit::record(&ctx.layout, &ctx.ownership()?, event, message, details)
        .context("writing the audit log")
}

/// Runs an `sp admin` command.
pub async fn run(ctx: &Context, cmd: AdminCommand) -> anyhow::Result<()> {
    let db = ctx.sp_db().await?;
    let by = cloudgate_store::owner::current_user_name();
    match cmd {
        AdminCommand::Add {
            name,
            password,
            json,
        } => {
            cloudgate_sp::credentials::check_name("administrator", &name)
                .map_err(|e| usage(format!("{e} ({name:?})")))?;
            let pw = new_password(&password, &name)?;
            let admin = cloudgate_sp::admins::add_admin(&*db, &name, &pw).await?;
            audit(
                ctx,
                "admin.added",
                "console administrator added",
                serde_json::json!({ "admin": name, "by": by }),
            )?;
            report(
                json,
                &admin_view(&admin),
                &format!(
                    "Administrator {name} added; they log in at the console (`cloudgate sp console`).\n"
                ),
            )
        }
        AdminCommand::List { json } => {
            let admins: Vec<AdminView> = db.admins().await?.iter().map(admin_view).collect();
            let rows: Vec<Vec<String>> = admins
                .iter()
                .map(|a| {
                    vec![
                        a.name.clone(),
                        a.created_at.clone(),
                        a.password_changed_at.clone(),
                    ]
                })
                .collect();
            let text = if rows.is_empty() {
                "No administrators yet. Add one with `cloudgate sp admin add NAME`.\n".to_string()
            } else {
                table(&["NAME", "CREATED", "PASSWORD CHANGED"], &rows)
            };
            report(json, &admins, &text)
        }
        AdminCommand::SetPassword {
            name,
            password,
            json,
        } => {
            db.admin(&name).await?;
            let pw = new_password(&password, &name)?;
            cloudgate_sp::admins::set_admin_password(&*db, &name, &pw).await?;
            audit(
                ctx,
                "admin.password",
                "console administrator's password replaced",
                serde_json::json!({ "admin": name, "by": by }),
            )?;
            report(
                json,
                &admin_view(&db.admin(&name).await?),
                &format!("Password of administrator {name} replaced.\n"),
            )
        }
        AdminCommand::Remove { name, json } => {
            let admin = db.admin(&name).await?;
            db.remove_admin(&name).await?;
            audit(
                ctx,
                "admin.removed",
                "console administrator removed",
                serde_json::json!({ "admin": name, "by": by }),
            )?;
            report(
                json,
                &admin_view(&admin),
                &format!("Administrator {name} removed.\n"),
            )
        }
        AdminCommand::Token(cmd) => token(ctx, &*db, cmd, &by).await,
    }
}

async fn token(
    ctx: &Context,
    db: &dyn SpRepository,
    cmd: ApiTokenCommand,
    by: &str,
) -> anyhow::Result<()> {
    let now = OffsetDateTime::now_utc();
    match cmd {
        ApiTokenCommand::Create {
            name,
            expires,
            json,
        } => {
            let valid_for = crate::cmd::token::parse_duration(&expires)
                .map_err(|e| usage(format!("--expires {e}")))?;
            let created = cloudgate_sp::admins::create_api_token(db, &name, valid_for, by).await?;
            let r = &created.record;
            audit(
                ctx,
                "api_token.created",
                "API token created",
                serde_json::json!({ "token_id": r.id, "name": r.name, "expires_at": format_rfc3339(r.expires_at), "by": by }),
            )?;
            #[derive(Serialize)]
            struct Created<'a> {
                #[serde(flatten)]
                view: ApiTokenView,
                token: &'a str,
            }
            report(
                json,
                &Created {
                    view: token_view(r, now),
                    token: &created.token,
                },
                &format!(
                    "API token {} ({}, expires {}):\n\n  {}\n\n\
                     It is shown this once; only its hash is kept. A script sends it as\n  \
                     Authorization: Bearer cgapi_…\n\
                     Keep it in a file only that script reads; revoke it with `cloudgate sp admin token revoke {}`.\n",
                    r.id,
                    r.name,
                    format_rfc3339(r.expires_at),
                    created.token.as_str(),
                    r.id
                ),
            )
        }
        ApiTokenCommand::List { json } => {
            let tokens: Vec<ApiTokenView> = db
                .api_tokens()
                .await?
                .iter()
                .map(|t| token_view(t, now))
                .collect();
            if json {
                return crate::render::print_json(&tokens);
            }
            if tokens.is_empty() {
                return print_text(
                    "No API tokens. Create one with `cloudgate sp admin token create --name NAME`.\n",
                );
            }
            let rows: Vec<Vec<String>> = tokens
                .iter()
                .map(|t| {
                    vec![
                        t.id.clone(),
                        t.name.clone(),
                        t.state.to_string(),
                        t.expires_at.clone(),
                        t.last_used_at.clone().unwrap_or_else(|| "never".into()),
                    ]
                })
                .collect();
            print_text(&table(
                &["ID", "NAME", "STATE", "EXPIRES", "LAST USED"],
                &rows,
            ))
        }
        ApiTokenCommand::Revoke { id, json } => {
            let revoked = db.revoke_api_token(&id).await?;
            audit(
                ctx,
                "api_token.revoked",
                "API token revoked",
                serde_json::json!({ "token_id": revoked.id, "name": revoked.name, "by": by }),
            )?;
            report(
                json,
                &token_view(&revoked, now),
                &format!("API token {} ({}) revoked.\n", revoked.id, revoked.name),
            )
        }
    }
}
