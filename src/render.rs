//! The one renderer: every command's data printed as text for people or JSON for programs.

use std::io::Write;

use cloudgate_pki::{format_rfc3339, format_summary_date};
use cloudgate_store::StoredCertificate;
use serde::Serialize;
use time::OffsetDateTime;

pub use cloudgate_proto::text::{one_line, terminal_safe};

/// A certificate entry as JSON (the documented contract of list, show, current, generate): the
/// administration API's type, so the console and `--json` say the same.
pub type CertificateView = cloudgate_proto::admin::Certificate;

pub use cloudgate_pki::summary_lines;

/// The Summary lines, a blank line, then everything else worth knowing about an entry.
pub fn certificate_text(entry: &StoredCertificate) -> String {
    let info = &entry.info;
    let now = OffsetDateTime::now_utc();
    let days_left = info.days_left(now);
    let expiry_note = if days_left < 0 {
        " (EXPIRED)".to_string()
    } else {
        format!(" ({days_left} days left)")
    };
    let sans = if info.sans.is_empty() {
        "(none)".to_string()
    } else {
        info.sans.join(", ")
    };
    let mut out = summary_lines(&entry.meta.friendly_name, info);
    out.push('\n');
    out.push_str(&format!("SHA-256: {}\n", info.fingerprints.sha256_colons()));
    out.push_str(&format!(
        "Public key pin: {}\n",
        info.fingerprints.spki_pin()
    ));
    out.push_str(&format!("Subject alternative names: {sans}\n"));
    out.push_str(&format!("Key type: {}\n", info.key_kind));
    out.push_str(&format!(
        "Valid from: {}\n",
        format_summary_date(info.not_before)
    ));
    out.push_str(&format!(
        "Valid until: {}{expiry_note}\n",
        format_summary_date(info.not_after)
    ));
    out.push_str(&format!("Source: {}\n", entry.meta.source.as_str()));
    out.push_str(&format!(
        "Created by: {} on {}\n",
        entry.meta.created_by,
        format_rfc3339(entry.meta.created_at)
    ));
    if !entry.chain.is_empty() {
        out.push_str(&format!("Chain: {} certificate(s)\n", entry.chain.len()));
    }
    out.push_str(&format!(
        "In use: {}\n",
        if entry.applied { "yes" } else { "no" }
    ));
    out.push_str(&format!(
        "Certificate file: {}\n",
        entry.cert_path().display()
    ));
    out.push_str(&format!("Key file: {}\n", entry.key_path().display()));
    out
}

/// The list of entries as an aligned table; `*` marks the one in use.
pub fn certificate_table(entries: &[StoredCertificate]) -> String {
    let now = OffsetDateTime::now_utc();
    let header = [
        "",
        "ISSUED TO",
        "EXPIRES",
        "DAYS LEFT",
        "FRIENDLY NAME",
        "ISSUED BY",
        "THUMBPRINT",
        "KEY TYPE",
    ];
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            let info = &e.info;
            let expires = info.not_after.date();
            vec![
                if e.applied { "*".into() } else { String::new() },
                info.subject_display.clone(),
                format!(
                    "{:04}-{:02}-{:02}",
                    expires.year(),
                    u8::from(expires.month()),
                    expires.day()
                ),
                info.days_left(now).to_string(),
                e.meta.friendly_name.clone(),
                info.issuer_display.clone(),
                info.fingerprints.thumbprint(),
                info.key_kind.to_string(),
            ]
        })
        .collect();
    table(&header, &rows)
}

/// Left-aligned columns separated by two spaces, with no trailing spaces, fitted to the
/// terminal's width (see [`output_width`]).
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    table_within(header, rows, output_width())
}

/// The width tables must fit: `$COLUMNS` when set, else the terminal's when stdout is one;
/// `None` (no limit) for a pipe, where a script wants whole values (and should use `--json`).
pub fn output_width() -> Option<usize> {
    if let Some(n) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|n| *n > 0)
    {
        return Some(n);
    }
    if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        return crossterm::terminal::size()
            .ok()
            .map(|(w, _)| usize::from(w));
    }
    None
}

/// Columns narrower than this are not shrunk further to fit.
const MIN_COLUMN: usize = 8;
const GAP: usize = 2;

/// The display width of text on a terminal: wide (CJK, emoji) characters count two, combining
/// marks none.
pub fn display_width(s: &str) -> usize {
    unicode_width::UnicodeWidthStr::width(s)
}

/// `s` cut to at most `width` columns, with `…` where it was cut.
fn truncate(s: &str, width: usize) -> String {
    if display_width(s) <= width {
        return s.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    out
}

/// [`table`] with an explicit width limit.
pub fn table_within(header: &[&str], rows: &[Vec<String>], limit: Option<usize>) -> String {
    // A cell is one value on one line, whatever its source wrote into it.
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| one_line(c).into_owned()).collect())
        .collect();
    let rows = &rows;
    let mut widths: Vec<usize> = header.iter().map(|h| display_width(h)).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(display_width(cell));
        }
    }
    if let Some(limit) = limit {
        // Shrink the widest column, a column at a time, until the table fits; no column goes
        // below its header (so every column keeps its name) or MIN_COLUMN.
        let mins: Vec<usize> = header
            .iter()
            .zip(&widths)
            .map(|(h, w)| display_width(h).max((*w).min(MIN_COLUMN)))
            .collect();
        let total = |w: &[usize]| w.iter().sum::<usize>() + GAP * w.len().saturating_sub(1);
        while total(&widths) > limit {
            let Some(i) = (0..widths.len())
                .filter(|&i| widths[i] > mins[i])
                .max_by_key(|&i| widths[i])
            else {
                break;
            };
            let excess = total(&widths) - limit;
            let next = (0..widths.len())
                .filter(|&j| j != i)
                .map(|j| widths[j])
                .max()
                .unwrap_or(0);
            let room = widths[i] - mins[i];
            let step = excess.min(room).min(widths[i].saturating_sub(next).max(1));
            widths[i] -= step.max(1);
        }
    }
    let line = |cells: Vec<String>| -> String {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i > 0 {
                s.push_str("  ");
            }
            let cell = truncate(cell, *w);
            let pad = w.saturating_sub(display_width(&cell));
            s.push_str(&cell);
            s.push_str(&" ".repeat(pad));
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(header.iter().map(|h| h.to_string()).collect());
    for row in rows {
        out.push_str(&line(row.clone()));
    }
    out
}

/// Prints a value as pretty JSON on stdout.
pub fn print_json<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    // Serialise first, so a closed pipe surfaces as the io::Error main() recognises.
    let mut text = json_safe(&serde_json::to_string_pretty(value)?);
    text.push('\n');
    write_stdout(&text)
}

/// JSON whose strings carry no raw DEL, C1 or bidirectional control (serde escapes only C0):
/// each becomes its `\uNNNN` escape, the same value to a parser, inert on a terminal.
pub fn json_safe(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if cloudgate_proto::text::is_unsafe_char(c) && c != '\n' {
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

/// Prints a command's result: `value` as JSON with `--json`, else `text` for people.
pub fn report<T: Serialize + ?Sized>(json: bool, value: &T, text: &str) -> anyhow::Result<()> {
    if json {
        print_json(value)
    } else {
        print_text(text)
    }
}

/// Prints an event line of a long-running command (a daemon's startup): `value` as one line
/// of JSON with `--json`, else `text`.
pub fn report_line<T: Serialize + ?Sized>(json: bool, value: &T, text: &str) -> anyhow::Result<()> {
    if json {
        let mut line = json_safe(&serde_json::to_string(value)?);
        line.push('\n');
        write_stdout(&line)
    } else {
        print_text(text)
    }
}

/// Prints text on stdout, reporting a closed pipe as an error the caller treats as success.
/// Controls and bidirectional overrides in any text for people become visible escapes here, the
/// last guard before the terminal (values should have gone through [`one_line`] already).
pub fn print_text(text: &str) -> anyhow::Result<()> {
    write_stdout(&terminal_safe(text))
}

fn write_stdout(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// Prints text for people on stderr, through the same guard as [`print_text`].
pub fn eprint_text(text: &str) {
    eprint!("{}", terminal_safe(text));
}

/// Prints a warning for people on stderr.
pub fn warn(msg: &str) {
    eprintln!("warning: {}", terminal_safe(msg));
}

/// Items joined with ", " for a sentence, or `none` when there are none.
pub fn list_or(items: &[String], none: &str) -> String {
    if items.is_empty() {
        none.to_string()
    } else {
        items.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_characters_count_twice_and_tables_fit() {
        let t = table_within(
            &["NAME", "X"],
            &[
                vec!["漢字".into(), "1".into()],
                vec!["ab".into(), "2".into()],
            ],
            None,
        );
        let lines: Vec<&str> = t.lines().collect();
        // "漢字" is four columns wide: the second column starts at the same column on every line.
        assert_eq!(lines[1], "漢字  1");
        assert_eq!(lines[2], "ab    2");
        let long = "x".repeat(150);
        let t = table_within(
            &["A", "B", "C"],
            &[vec![long.clone(), "thumb".repeat(8), "short".into()]],
            Some(80),
        );
        for l in t.lines() {
            assert!(display_width(l) <= 80, "{} > 80: {l}", display_width(l));
        }
        assert!(t.contains('…'));
        assert!(t.contains("short"));
        let emoji = table_within(&["E", "F"], &[vec!["🔒🔒".into(), "z".into()]], None);
        assert_eq!(emoji.lines().nth(1).unwrap(), "🔒🔒  z");
    }

    #[test]
    fn table_aligns_and_trims() {
        let t = table_within(
            &["A", "BB"],
            &[vec!["xxx".into(), "y".into()], vec!["".into(), "".into()]],
            None,
        );
        assert_eq!(t, "A    BB\nxxx  y\n\n");
    }
}
