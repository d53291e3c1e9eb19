//! The book's command reference (`docs/src/reference/commands.md`): every command and subcommand
//! from the same grammar as `--help` and the manual pages, so that the reference cannot drift from
//! the program. A test compares the file with what this renders.

use std::fmt::Write as _;

use super::examples::EXAMPLES;

/// Where the book keeps the rendered reference, relative to the repository.
#[cfg(test)]
const BOOK_PATH: &str = "docs/src/reference/commands.md";

/// Escapes help text for Markdown: what would otherwise start emphasis, a link or an HTML tag.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '*' | '_' | '[' | ']' | '`' | '\\' | '|' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// The anchor mdBook gives a heading made of a command's words.
fn anchor(path: &[String]) -> String {
    path.join("-")
}

/// How an argument is written: `-s, --long <VALUE>` or `<VALUE>`.
fn spelling(arg: &clap::Arg) -> String {
    let value = arg
        .get_value_names()
        .map(|names| {
            names
                .iter()
                .map(|n| format!("<{n}>"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|| format!("<{}>", arg.get_id().as_str().to_uppercase()));
    let takes_value = arg.get_action().takes_values();
    let mut names = Vec::new();
    if let Some(s) = arg.get_short() {
        names.push(format!("-{s}"));
    }
    if let Some(l) = arg.get_long() {
        names.push(format!("--{l}"));
    }
    if names.is_empty() {
        return value;
    }
    let names = names.join(", ");
    if takes_value {
        format!("{names} {value}")
    } else {
        names
    }
}

/// One argument's line: its spelling, help, default and possible values.
fn argument_line(arg: &clap::Arg) -> String {
    let mut line = format!("- `{}`", spelling(arg));
    let help = arg
        .get_long_help()
        .or_else(|| arg.get_help())
        .map(|h| h.to_string())
        .unwrap_or_default();
    if !help.is_empty() {
        let _ = write!(line, ": {}", escape(help.trim()).replace('\n', " "));
    }
    let defaults: Vec<String> = arg
        .get_default_values()
        .iter()
        .map(|v| v.to_string_lossy().into_owned())
        .collect();
    if !defaults.is_empty() && arg.get_action().takes_values() {
        let _ = write!(line, " (default: `{}`)", defaults.join(","));
    }
    let possible: Vec<String> = arg
        .get_possible_values()
        .iter()
        .filter(|v| !v.is_hide_set())
        .map(|v| format!("`{}`", v.get_name()))
        .collect();
    if !possible.is_empty() && arg.get_action().takes_values() {
        let _ = write!(line, " (one of {})", possible.join(", "));
    }
    line
}

fn render_command(cmd: &mut clap::Command, path: &[String], out: &mut String) {
    let title = path.join(" ");
    let _ = writeln!(out, "## {title}\n");
    if let Some(about) = cmd.get_long_about().or_else(|| cmd.get_about()) {
        let _ = writeln!(out, "{}\n", escape(about.to_string().trim()));
    }
    let usage = cmd.render_usage().to_string();
    let usage = usage.trim().trim_start_matches("Usage:").trim();
    let _ = writeln!(out, "```text\n{usage}\n```\n");

    let subs: Vec<String> = cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
        .map(|s| {
            let mut p = path.to_vec();
            p.push(s.get_name().to_string());
            let about = s.get_about().map(|a| a.to_string()).unwrap_or_default();
            format!(
                "- [{}](#{}): {}",
                s.get_name(),
                anchor(&p),
                escape(about.trim())
            )
        })
        .collect();
    if !subs.is_empty() {
        let _ = writeln!(out, "Subcommands:\n\n{}\n", subs.join("\n"));
    }

    let positionals: Vec<String> = cmd
        .get_arguments()
        .filter(|a| !a.is_hide_set() && a.is_positional())
        .map(argument_line)
        .collect();
    if !positionals.is_empty() {
        let _ = writeln!(out, "Arguments:\n\n{}\n", positionals.join("\n"));
    }
    // Global options are listed once, under the program itself.
    let options: Vec<String> = cmd
        .get_arguments()
        .filter(|a| {
            !a.is_hide_set()
                && !a.is_positional()
                && (path.len() == 1 || !a.is_global_set())
                && !matches!(a.get_id().as_str(), "help" | "version")
        })
        .map(argument_line)
        .collect();
    if !options.is_empty() {
        let _ = writeln!(out, "Options:\n\n{}\n", options.join("\n"));
    }
    if let Some(after) = cmd.get_after_long_help().or_else(|| cmd.get_after_help()) {
        // After-help is laid out in columns for a terminal; it stays as it is.
        let _ = writeln!(out, "```text\n{}\n```\n", after.to_string().trim());
    }
    let page = path.join("-");
    if let Some((_, examples)) = EXAMPLES.iter().find(|(n, _)| *n == page) {
        let _ = writeln!(out, "Examples:\n");
        for (command, what) in *examples {
            let _ = writeln!(out, "- {}\n\n  ```sh\n  {command}\n  ```\n", escape(what));
        }
    }
    if path.len() > 1 {
        let _ = writeln!(out, "See also: `man {page}`.\n");
    }
}

/// The whole reference, one section per command, depth first in the order of `--help`.
pub fn reference(root: clap::Command) -> String {
    fn walk(cmd: &mut clap::Command, path: Vec<String>, out: &mut String) {
        render_command(cmd, &path, out);
        let names: Vec<String> = cmd
            .get_subcommands()
            .filter(|s| !s.is_hide_set() && s.get_name() != "help")
            .map(|s| s.get_name().to_string())
            .collect();
        for name in names {
            let mut p = path.clone();
            p.push(name.clone());
            if let Some(sub) = cmd.find_subcommand_mut(&name) {
                walk(sub, p, out);
            }
        }
    }
    let mut root = root.disable_help_subcommand(true);
    root.build();
    let mut out = String::from(
        "# Command reference\n\n\
         Generated from the program's own grammar (`cloudgate man --markdown`), the same one \
         `--help` and the manual pages show; a test fails when this page and the program differ. \
         Exit codes are in [Exit codes](exit-codes.md), the `--json` shapes in \
         [JSON output](json.md).\n\n",
    );
    let name = root.get_name().to_string();
    walk(&mut root, vec![name], &mut out);
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_text_cannot_become_markup() {
        assert_eq!(escape("<DIR> *x* [a]"), "&lt;DIR&gt; \\*x\\* \\[a\\]");
    }

    /// The book's page is what the program renders; regenerate it with
    /// `cargo run -- man --markdown > docs/src/reference/commands.md`.
    #[test]
    fn the_book_reference_is_the_program_grammar() {
        let rendered = reference(crate::cli::command());
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(BOOK_PATH);
        let in_book = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            rendered == in_book,
            "{} differs from the program's grammar; run `cargo run -- man --markdown > {BOOK_PATH}`",
            path.display()
        );
        for needle in [
            "## cloudgate sp cert generate",
            "## cloudgate tenant provider add",
        ] {
            assert!(rendered.contains(needle), "{needle}");
        }
    }
}
