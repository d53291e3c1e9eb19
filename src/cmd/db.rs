//! `cloudgate sp db status|migrate`.

use cloudgate_db::{SchemaStatus, pg_schema_status, sqlite_schema_status};
use serde::Serialize;

use crate::cli::DbCommand;
use crate::context::Context;
use crate::render::report;

/// What `status` and `migrate` report.
#[derive(Serialize)]
struct StatusView {
    location: String,
    backend: &'static str,
    exists: bool,
    version: i64,
    applied: Vec<MigrationView>,
    pending: Vec<MigrationView>,
    unknown: Vec<i64>,
}

#[derive(Serialize)]
struct MigrationView {
    version: i64,
    description: String,
}

fn view(location: String, status: Option<&SchemaStatus>) -> StatusView {
    let migrations = |m: &[cloudgate_db::Migration]| {
        m.iter()
            .map(|m| MigrationView {
                version: m.version,
                description: m.description.clone(),
            })
            .collect()
    };
    StatusView {
        location,
        backend: status.map_or("sqlite", |s| s.backend),
        exists: status.is_some(),
        version: status.map_or(0, SchemaStatus::version),
        applied: status.map_or_else(Vec::new, |s| migrations(&s.applied)),
        pending: status.map_or_else(Vec::new, |s| migrations(&s.pending)),
        unknown: status.map_or_else(Vec::new, |s| s.unknown.clone()),
    }
}

fn text(v: &StatusView) -> String {
    if !v.exists {
        return format!(
            "No SP database yet at {} (SQLite): the first tenant command or the gateway's first start creates it.\n",
            v.location
        );
    }
    let mut out = format!(
        "SP database: {} ({})\nSchema version: {}\n",
        v.location, v.backend, v.version
    );
    for m in &v.applied {
        out.push_str(&format!("  applied  {:>4}  {}\n", m.version, m.description));
    }
    for m in &v.pending {
        out.push_str(&format!("  pending  {:>4}  {}\n", m.version, m.description));
    }
    if !v.pending.is_empty() {
        out.push_str("Pending migrations are applied by `cloudgate sp db migrate` or by the next command that opens the database.\n");
    }
    out
}

/// The schema status of the configured database; `None` when the SQLite file does not exist.
async fn schema_status(ctx: &Context) -> anyhow::Result<Option<SchemaStatus>> {
    Ok(match ctx.database_url()? {
        Some(url) => Some(pg_schema_status(&url).await?),
        None => sqlite_schema_status(&ctx.layout.sp_database()).await?,
    })
}

pub async fn run(ctx: &Context, cmd: DbCommand) -> anyhow::Result<()> {
    let location = match ctx.database_url()? {
        Some(url) => cloudgate_db::redact_url(&url),
        None => ctx.layout.sp_database().display().to_string(),
    };
    match cmd {
        DbCommand::Status { json } => {
            let status = schema_status(ctx).await?;
            if let Some(newest) = status.as_ref().and_then(|s| s.unknown.iter().max()) {
                return Err(cloudgate_db::DbError::SchemaNewer {
                    path: location,
                    version: *newest,
                }
                .into());
            }
            let v = view(location, status.as_ref());
            report(json, &v, &text(&v))
        }
        DbCommand::Migrate { json } => {
            let before = schema_status(ctx).await?;
            ctx.sp_db().await?;
            let after = schema_status(ctx).await?;
            let applied = after.as_ref().map_or(0, |a| {
                a.applied
                    .len()
                    .saturating_sub(before.as_ref().map_or(0, |b| b.applied.len()))
            });
            let v = view(location, after.as_ref());
            let mut t = text(&v);
            t.push_str(&format!("Applied {applied} migration(s).\n"));
            report(json, &v, &t)
        }
    }
}
