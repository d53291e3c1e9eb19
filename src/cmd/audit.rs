//! `cloudgate sp audit list|verify`.

use cloudgate_db::AuditQuery;
use cloudgate_proto::admin::AuditEntry;
use time::OffsetDateTime;

use crate::cli::AuditCommand;
use crate::context::Context;
use crate::exit::usage;
use crate::render::{print_json, print_text, report, table};

/// Runs an `sp audit` command.
pub async fn run(ctx: &Context, cmd: AuditCommand) -> anyhow::Result<()> {
    match cmd {
        AuditCommand::List {
            since,
            until,
            event,
            grep,
            limit,
            json,
        } => {
            let now = OffsetDateTime::now_utc();
            let query = AuditQuery {
                since: since
                    .as_deref()
                    .map(|w| when(w, now).map_err(|e| usage(format!("--since {e}"))))
                    .transpose()?,
                until: until
                    .as_deref()
                    .map(|w| when(w, now).map_err(|e| usage(format!("--until {e}"))))
                    .transpose()?,
                event,
                text: grep,
                offset: 0,
                limit: i64::from(limit),
            };
            let sp = ctx.sp().await?;
            let (records, total) = sp.audit_entries(&query).await?;
            let entries: Vec<AuditEntry> = records
                .iter()
                .map(cloudgate_sp::views::audit_entry)
                .collect();
            if json {
                return print_json(&entries);
            }
            if entries.is_empty() {
                return print_text("No audit entries match.\n");
            }
            let rows: Vec<Vec<String>> = entries
                .iter()
                .map(|e| {
                    vec![
                        e.seq.to_string(),
                        e.time.clone(),
                        e.actor.clone(),
                        e.event.clone(),
                        details_text(e),
                    ]
                })
                .collect();
            let mut out = table(&["SEQ", "TIME", "WHO", "EVENT", "DETAILS"], &rows);
            if total > entries.len() as i64 {
                out.push_str(&format!(
                    "({} of {total} matching entries; --limit shows more)\n",
                    entries.len()
                ));
            }
            print_text(&out)
        }
        AuditCommand::Verify { json } => {
            let sp = ctx.sp().await?;
            let v = sp.verify_audit().await?;
            let mut text = match &v.broken {
                Some(b) => format!("The audit does NOT verify: {b}.\n"),
                None if !v.missing_from_database.is_empty() => format!(
                    "The audit does NOT verify: {} entr{} this host wrote {} no longer in the SP database as written (places {}): removed or edited.\n",
                    v.missing_from_database.len(),
                    if v.missing_from_database.len() == 1 {
                        "y"
                    } else {
                        "ies"
                    },
                    if v.missing_from_database.len() == 1 {
                        "is"
                    } else {
                        "are"
                    },
                    v.missing_from_database
                        .iter()
                        .map(i64::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                None => format!(
                    "The audit verifies: {} entries, chained without a gap or an edit (head {}).\n",
                    v.entries, v.head
                ),
            };
            if v.unchained_local > 0 {
                text.push_str(&format!(
                    "{} entr{} of {} never reached the SP database (it did not answer then).\n",
                    v.unchained_local,
                    if v.unchained_local == 1 { "y" } else { "ies" },
                    ctx.layout.audit_log().display()
                ));
            }
            if v.ok() {
                report(json, &v, &text)
            } else if json {
                // The report is the answer a script reads; one JSON document, then exit 1.
                print_json(&v)?;
                std::process::exit(i32::from(crate::exit::RUNTIME));
            } else {
                Err(anyhow::anyhow!("{}", text.trim_end()))
            }
        }
    }
}

/// An entry's details on one line: `key=value` pairs.
fn details_text(e: &AuditEntry) -> String {
    e.details
        .iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A time as the audit stores it (RFC 3339, UTC, to the second) from what an operator types.
fn when(text: &str, now: OffsetDateTime) -> Result<String, String> {
    cloudgate_sp::core::parse_when(text, now).map(cloudgate_pki::format_rfc3339)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_read_in_three_forms_and_anything_else_is_refused() {
        let now = OffsetDateTime::parse(
            "2026-12-05T12:00:00Z",
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap();
        assert_eq!(
            when("2026-12-01T08:00:00+01:00", now).unwrap(),
            "2026-12-01T07:00:00Z"
        );
        assert_eq!(when("2026-12-01", now).unwrap(), "2026-12-01T00:00:00Z");
        assert_eq!(when("24h", now).unwrap(), "2026-12-04T12:00:00Z");
        assert!(when("yesterday", now).is_err());
    }
}
