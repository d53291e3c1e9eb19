//! `cloudgate sp admin …`: the console's administrators and API tokens.

use cloudgate_db::{AdminRecord, ApiTokenRecord};
use cloudgate_pki::format_rfc3339;
use serde::Serialize;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::cli::{AdminCommand, ApiTokenCommand, PasswordArgs};
use crate::context::Context;
use crate::exit::usage;
use crate::input::{given_password, interactive, prompt_new_password};
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
        None if interactive() => prompt_new_password(
            &format!("Password for administrator {name}:"),
            "typed at the console's login page; at least 8 characters",
        ),
        None => Err(usage(
            "give the password with --password-file FILE or --password-stdin",
        )),
    }
}

/// Runs an `sp admin` command.
pub async fn run(ctx: &Context, cmd: AdminCommand) -> anyhow::Result<()> {
    let sp = ctx.sp().await?;
    match cmd {
        AdminCommand::Add {
            name,
            password,
            json,
        } => {
            cloudgate_sp::credentials::check_name("administrator", &name)
                .map_err(|e| usage(format!("{e} ({name:?})")))?;
            let pw = new_password(&password, &name)?;
            let admin = sp.add_admin(&name, &pw).await?;
            report(
                json,
                &admin_view(&admin),
                &format!(
                    "Administrator {name} added; they log in at the console (`cloudgate sp console`).\n"
                ),
            )
        }
        AdminCommand::List { json } => {
            let admins: Vec<AdminView> = sp.admins().await?.iter().map(admin_view).collect();
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
            sp.admin(&name).await?;
            let pw = new_password(&password, &name)?;
            let admin = sp.set_admin_password(&name, &pw).await?;
            report(
                json,
                &admin_view(&admin),
                &format!("Password of administrator {name} replaced.\n"),
            )
        }
        AdminCommand::Remove { name, json } => {
            let admin = sp.remove_admin(&name).await?;
            report(
                json,
                &admin_view(&admin),
                &format!("Administrator {name} removed.\n"),
            )
        }
        AdminCommand::Token(cmd) => token(&sp, cmd).await,
    }
}

async fn token(sp: &cloudgate_sp::Sp, cmd: ApiTokenCommand) -> anyhow::Result<()> {
    let now = OffsetDateTime::now_utc();
    match cmd {
        ApiTokenCommand::Create {
            name,
            expires,
            json,
        } => {
            let valid_for = crate::cmd::token::parse_duration(&expires)
                .map_err(|e| usage(format!("--expires {e}")))?;
            let created = sp.create_api_token(&name, valid_for).await?;
            let r = &created.record;
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
            let tokens: Vec<ApiTokenView> = sp
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
            let revoked = sp.revoke_api_token(&id).await?;
            report(
                json,
                &token_view(&revoked, now),
                &format!("API token {} ({}) revoked.\n", revoked.id, revoked.name),
            )
        }
    }
}
