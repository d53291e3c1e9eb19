//! Manual pages: one per command and subcommand (`cloudgate-sp-cert-generate(1)`, …), from the
//! same grammar as `--help`, with EXAMPLES, FILES, ENVIRONMENT, EXIT STATUS and SEE ALSO.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use examples::EXAMPLES;

mod examples;
pub mod markdown;

const FILES: &str = r#".TP
\fIDATA_DIR\fR
/var/lib/cloudgate for root, else $XDG_DATA_HOME/cloudgate (~/.local/share/cloudgate); \-\-data\-dir or CLOUDGATE_HOME choose another.
.TP
\fIDATA_DIR\fR/store/
The certificate store: one directory per certificate with cert.pem, chain.pem, key.pem (0640 at most) and meta.json; applied.json names the one in use, rollover.json the staged successor and the history of key changes.
.TP
\fIDATA_DIR\fR/gateway.toml
Gateway settings and the public address tenants are told (see dist/gateway.toml).
.TP
\fIDATA_DIR\fR/sp.db
The SP database (SQLite): tenants, password hashes, services, enrolled machines.
.TP
\fIDATA_DIR\fR/tenant.db, \fIDATA_DIR\fR/tenant\-keys/
On a tenant: pinned providers and this machine's client keys.
.TP
\fIDATA_DIR\fR/audit.log
Every change, one JSON object per line.
"#;

const ENVIRONMENT: &str = r#".TP
\fBCLOUDGATE_HOME\fR
The data directory (as \-\-data\-dir).
.TP
\fBCLOUDGATE_ADMIN_GROUP\fR
The group whose members may read private keys (as \-\-admin\-group).
.TP
\fBCLOUDGATE_THUMBPRINT\fR
The thumbprint for \fBtenant provider add\fR and \fBrefresh\fR (as \-\-thumbprint).
.TP
\fBCLOUDGATE_LOG\fR, \fBCLOUDGATE_LOG_FORMAT\fR
Log filter (e.g. debug) and format (text or json) on stderr.
.TP
\fBCLOUDGATE_LOG_BATCH_MS\fR
For the daemons (\fBsp gateway run\fR, \fBtenant tunnels\fR): how long access lines (a tunnel
closed or refused) wait to be written together, 0 to 60000 ms; default 100, 0 writes every line
at once. Every other line is written at once.
"#;

const EXIT_STATUS: &str = r#".TP
0
success
.TP
1
runtime failure (I/O, permissions, a damaged or locked store, a cancelled dialogue)
.TP
2
bad usage or bad input (flags, files, unknown or ambiguous thumbprint)
.TP
3
trust failure (certificate not verified, pin mismatch)
.TP
4
authentication failure (tenant credentials)
"#;

/// Escapes text for a roff line: backslashes, and a leading dot or quote.
fn roff_text(s: &str) -> String {
    let escaped = s.replace('\\', "\\e").replace('-', "\\-");
    if escaped.starts_with('.') || escaped.starts_with('\'') {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}

/// The page name of a command: its path joined with dashes.
fn page_name(path: &[String]) -> String {
    path.join("-")
}

fn render_page(
    cmd: &clap::Command,
    path: &[String],
    children: &[String],
) -> anyhow::Result<Vec<u8>> {
    let name = page_name(path);
    let man = clap_mangen::Man::new(cmd.clone().display_name(name.clone()));
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(&mut out)?;
    }
    if cmd.has_subcommands() {
        man.render_subcommands_section(&mut out)?;
    }
    if cmd.get_after_help().is_some() || cmd.get_after_long_help().is_some() {
        man.render_extra_section(&mut out)?;
    }
    if path.len() == 1 {
        writeln!(out, ".SH \"GLOBAL OPTIONS\"\nEvery command takes these.")?;
        for a in cmd.get_arguments().filter(|a| a.is_global_set()) {
            let flag = match (a.get_short(), a.get_long()) {
                (Some(s), Some(l)) => format!("\\-{s}, \\-\\-{}", roff_text(l)),
                (None, Some(l)) => format!("\\-\\-{}", roff_text(l)),
                _ => continue,
            };
            let help = a.get_help().map(|h| h.to_string()).unwrap_or_default();
            writeln!(out, ".TP\n\\fB{flag}\\fR\n{}", roff_text(&help))?;
        }
    }
    if let Some((_, examples)) = EXAMPLES.iter().find(|(n, _)| *n == name) {
        writeln!(out, ".SH EXAMPLES")?;
        for (command, what) in *examples {
            writeln!(
                out,
                ".TP\n{}\n.RS\n.nf\n\\fB{}\\fR\n.fi\n.RE",
                roff_text(what),
                roff_text(command)
            )?;
        }
    }
    writeln!(
        out,
        ".SH FILES\n{FILES}.SH ENVIRONMENT\n{ENVIRONMENT}.SH \"EXIT STATUS\"\n{EXIT_STATUS}"
    )?;
    let mut see: Vec<String> = Vec::new();
    if path.len() > 1 {
        see.push(page_name(&path[..path.len() - 1]));
    }
    see.extend(children.iter().cloned());
    if !see.is_empty() {
        let refs: Vec<String> = see
            .iter()
            .map(|s| format!("\\fB{}\\fR(1)", roff_text(s)))
            .collect();
        writeln!(out, ".SH \"SEE ALSO\"\n{}", refs.join(", "))?;
    }
    Ok(out)
}

/// Every page: (file name, roff).
pub fn pages(root: clap::Command) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    fn walk(
        cmd: &clap::Command,
        path: Vec<String>,
        out: &mut Vec<(String, Vec<u8>)>,
    ) -> anyhow::Result<()> {
        let subs: Vec<&clap::Command> = cmd
            .get_subcommands()
            .filter(|s| !s.is_hide_set() && s.get_name() != "help")
            .collect();
        let children: Vec<String> = subs
            .iter()
            .map(|s| {
                let mut p = path.clone();
                p.push(s.get_name().to_string());
                page_name(&p)
            })
            .collect();
        out.push((
            format!("{}.1", page_name(&path)),
            render_page(cmd, &path, &children)?,
        ));
        for s in subs {
            let mut p = path.clone();
            p.push(s.get_name().to_string());
            walk(s, p, out)?;
        }
        Ok(())
    }
    let mut root = root.disable_help_subcommand(true);
    root.build();
    let mut out = Vec::new();
    walk(&root, vec![root.get_name().to_string()], &mut out)?;
    Ok(out)
}

/// Writes every page into `dir` (created if missing), mode 0644; returns the files.
pub fn write_all(root: clap::Command, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut written = Vec::new();
    for (file, roff) in pages(root)? {
        let path = dir.join(file);
        std::fs::write(&path, roff).with_context(|| format!("writing {}", path.display()))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))
            .with_context(|| format!("setting the mode of {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_page_per_command_with_examples_files_and_environment() {
        let pages = pages(crate::cli::command()).unwrap();
        let names: Vec<&str> = pages.iter().map(|(n, _)| n.as_str()).collect();
        for expected in [
            "cloudgate.1",
            "cloudgate-sp.1",
            "cloudgate-sp-cert.1",
            "cloudgate-sp-cert-generate.1",
            "cloudgate-tenant-provider-add.1",
        ] {
            assert!(names.contains(&expected), "{expected} in {names:?}");
        }
        for (name, roff) in &pages {
            let text = String::from_utf8_lossy(roff);
            for section in [".SH FILES", ".SH ENVIRONMENT", ".SH \"EXIT STATUS\""] {
                assert!(text.contains(section), "{name}: {section}");
            }
            let is_leaf = !pages
                .iter()
                .any(|(other, _)| other.starts_with(&name.replace(".1", "-")));
            if is_leaf {
                assert!(text.contains(".SH EXAMPLES"), "{name} has no EXAMPLES");
            }
        }
    }
}
