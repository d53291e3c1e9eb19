//! `cloudgate sp tenant usage`: what tenants used, for billing.

use cloudgate_proto::admin::UsageRow;
use cloudgate_sp::Sp;
use cloudgate_sp::core::{Period, UsageRequest};
use cloudgate_sp::views::human_bytes;
use time::OffsetDateTime;

use crate::cli::UsageArgs;
use crate::exit::usage as bad_usage;
use crate::render::{print_json, print_text, table};

pub async fn run(sp: &Sp, args: UsageArgs) -> anyhow::Result<()> {
    let now = OffsetDateTime::now_utc();
    let time = |flag: &str, text: &Option<String>| {
        text.as_deref()
            .map(|w| cloudgate_sp::core::parse_when(w, now).map_err(|e| bad_usage(format!("{flag} {e}"))))
            .transpose()
    };
    let request = UsageRequest {
        tenant: args.name,
        since: time("--since", &args.since)?,
        until: time("--until", &args.until)?,
        per: args.per.parse::<Period>()?,
        by_machine: args.by_machine,
    };
    let rows = sp.usage(&request).await?;
    if args.json {
        return print_json(&rows);
    }
    if args.csv {
        return print_text(&csv(&rows, args.by_machine));
    }
    if rows.is_empty() {
        return print_text("No usage recorded in that range.\n");
    }
    let mut header = vec!["TENANT"];
    if args.by_machine {
        header.push("MACHINE");
    }
    header.extend(["FROM", "UNTIL", "UP", "DOWN", "TUNNELS", "TUNNEL TIME"]);
    let lines: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut line = vec![r.tenant.clone()];
            if let Some(m) = &r.machine {
                line.push(m.chars().take(16).collect());
            }
            line.extend([
                r.from.clone(),
                r.until.clone(),
                human_bytes(r.bytes_up),
                human_bytes(r.bytes_down),
                r.tunnels.to_string(),
                duration(r.tunnel_seconds),
            ]);
            line
        })
        .collect();
    print_text(&table(&header, &lines))
}

/// Seconds as `3h 05m` (or `42s`).
fn duration(seconds: i64) -> String {
    match seconds {
        s if s >= 3600 => format!("{}h {:02}m", s / 3600, s % 3600 / 60),
        s if s >= 60 => format!("{}m {:02}s", s / 60, s % 60),
        s => format!("{s}s"),
    }
}

/// CSV (RFC 4180 quoting, Unix line ends) with a header, exact figures; a field with a comma or quote is quoted.
fn csv(rows: &[UsageRow], by_machine: bool) -> String {
    let field = |s: &str| {
        if s.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    };
    let mut out = String::from(if by_machine {
        "tenant,machine,from,until,bytes_up,bytes_down,tunnels,tunnel_seconds\n"
    } else {
        "tenant,from,until,bytes_up,bytes_down,tunnels,tunnel_seconds\n"
    });
    for r in rows {
        let mut cells = vec![field(&r.tenant)];
        if by_machine {
            cells.push(field(r.machine.as_deref().unwrap_or_default()));
        }
        cells.extend([
            r.from.clone(),
            r.until.clone(),
            r.bytes_up.to_string(),
            r.bytes_down.to_string(),
            r.tunnels.to_string(),
            r.tunnel_seconds.to_string(),
        ]);
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_is_exact_and_quotes_what_needs_it() {
        let row = UsageRow {
            tenant: "a,b".into(),
            machine: None,
            from: "2026-12-01T00:00:00Z".into(),
            until: "2026-12-02T00:00:00Z".into(),
            bytes_up: 123_456_789,
            bytes_down: 1,
            tunnels: 2,
            tunnel_seconds: 3,
        };
        assert_eq!(
            csv(&[row], false),
            "tenant,from,until,bytes_up,bytes_down,tunnels,tunnel_seconds\n\
             \"a,b\",2026-12-01T00:00:00Z,2026-12-02T00:00:00Z,123456789,1,2,3\n"
        );
        assert_eq!(duration(3 * 3600 + 5 * 60 + 9), "3h 05m");
        assert_eq!(duration(42), "42s");
    }
}
