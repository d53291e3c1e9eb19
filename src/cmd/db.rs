//! `cloudgate sp db status|migrate`.

use cloudgate_db::DbError;
use cloudgate_db::prelude::*;
use cloudgate_db::{SchemaStatus, pg_schema_status, sqlite_schema_status};
use serde::Serialize;

use crate::cli::DbCommand;
use crate::context::Context;
use crate::exit::usage;
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
        DbCommand::ImportSqlite { file, json } => import_sqlite(ctx, &file, json).await,
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

/// What `import-sqlite` moved.
#[derive(Serialize)]
struct ImportView {
    from: String,
    to: String,
    tenants: usize,
    services: usize,
    client_certificates: usize,
    join_tokens: usize,
}

/// `sp db import-sqlite FILE`: the whole SQLite database into the configured PostgreSQL one.
async fn import_sqlite(ctx: &Context, file: &std::path::Path, json: bool) -> anyhow::Result<()> {
    let Some(url) = ctx.database_url()? else {
        return Err(usage(
            "import-sqlite moves into PostgreSQL: name the server with --database, CLOUDGATE_DATABASE_URL or `database` in gateway.toml",
        ));
    };
    let meta = std::fs::metadata(file).map_err(|e| {
        usage(format!(
            "{}: {e}; give the SQLite SP database (DATA_DIR/sp.db)",
            file.display()
        ))
    })?;
    if !meta.is_file() || meta.len() == 0 {
        return Err(usage(format!(
            "{} is not an SP database (not a file, or empty)",
            file.display()
        )));
    }
    let source = cloudgate_db::SqliteSpRepository::open(file)
        .await
        .map_err(|e| match e {
            DbError::Sql { .. } | DbError::Corrupt { .. } | DbError::Migrate { .. } => usage(
                format!("{} is not a cloudgate SP database: {e}", file.display()),
            ),
            e => anyhow::Error::new(e).context(format!("reading {}", file.display())),
        })?;
    let dump = source.dump().await?;
    debug_assert!(!url.is_empty());
    let sp = ctx.sp().await?;
    sp.import_database(&dump, &file.display().to_string())
        .await?;
    let v = ImportView {
        from: file.display().to_string(),
        to: sp.db().location().to_string(),
        tenants: dump.tenants.len(),
        services: dump.services.len(),
        client_certificates: dump.client_certs.len(),
        join_tokens: dump.join_tokens.len(),
    };
    let text = format!(
        "Moved {} tenant(s), {} service(s), {} enrolled machine(s) and {} join token(s) from {} into {}.\n\
Point every gateway at the new database (`database` in gateway.toml or CLOUDGATE_DATABASE_URL) and restart it.\n",
        v.tenants, v.services, v.client_certificates, v.join_tokens, v.from, v.to
    );
    report(json, &v, &text)
}
