//! Manual pages: one per command and subcommand (`cloudgate-sp-cert-generate(1)`, …), from the
//! same grammar as `--help`, with EXAMPLES, FILES, ENVIRONMENT, EXIT STATUS and SEE ALSO.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

/// Examples per command, keyed by the page name.
const EXAMPLES: &[(&str, &[(&str, &str)])] = &[
    (
        "cloudgate",
        &[
            (
                "cloudgate demo",
                "Run the whole story on loopback in temporary directories.",
            ),
            (
                "cloudgate sp cert manage",
                "Create the SP certificate with the wizard.",
            ),
            (
                "cloudgate tenant provider add backup.example.com --username globex",
                "Add a service provider on a tenant.",
            ),
        ],
    ),
    (
        "cloudgate-sp-license-install",
        &[(
            "cloudgate sp license install acme.toml",
            "Install a license; its licensee names the default subject.",
        )],
    ),
    (
        "cloudgate-sp-license-show",
        &[(
            "cloudgate sp license show --json",
            "Show the license as JSON.",
        )],
    ),
    (
        "cloudgate-sp-cert-generate",
        &[
            (
                "cloudgate sp cert generate --apply",
                "RSA 2048, one year, the licensee's subject, and put it into use.",
            ),
            (
                "cloudgate sp cert generate --key-type ecdsa-p256 --san backup.example.com --valid-days 90",
                "A P-256 certificate for a DNS name, valid 90 days.",
            ),
        ],
    ),
    (
        "cloudgate-sp-cert-import",
        &[
            (
                "cloudgate sp cert import sp.pfx --password-file pw.txt --apply",
                "Import a PKCS#12 file from Windows or OpenSSL and use it.",
            ),
            (
                "cloudgate sp cert import fullchain.pem --key privkey.pem",
                "Import a certificate and chain with its key in another file.",
            ),
        ],
    ),
    (
        "cloudgate-sp-cert-manage",
        &[(
            "cloudgate sp cert manage",
            "Generate, pick, import or keep, review the Summary, Finish.",
        )],
    ),
    (
        "cloudgate-sp-cert-stage",
        &[(
            "cloudgate sp cert stage 6573A1B2 --at 2027-01-15T02:00:00Z",
            "Announce a successor and switch to it at a set time.",
        )],
    ),
    (
        "cloudgate-sp-cert-renew",
        &[(
            "cloudgate sp cert renew --apply",
            "Renew the certificate in use with the same key.",
        )],
    ),
    (
        "cloudgate-sp-cert-list",
        &[(
            "cloudgate sp cert list --json | jq '.[].thumbprint'",
            "Thumbprints of every certificate in the store.",
        )],
    ),
    (
        "cloudgate-sp-cert-show",
        &[(
            "cloudgate sp cert show 6573A1B2 --copy",
            "Show a certificate and copy its Summary.",
        )],
    ),
    (
        "cloudgate-sp-cert-current",
        &[("cloudgate sp cert current", "The certificate in use.")],
    ),
    (
        "cloudgate-sp-cert-apply",
        &[(
            "cloudgate sp cert apply 6573A1B2",
            "Put a certificate into use (the gateway reloads within a second).",
        )],
    ),
    (
        "cloudgate-sp-cert-status",
        &[(
            "cloudgate sp cert status",
            "What is in use, staged, and which tenants confirmed it.",
        )],
    ),
    (
        "cloudgate-sp-cert-check",
        &[(
            "cloudgate sp cert check --json",
            "Check the entry in use for monitoring.",
        )],
    ),
    (
        "cloudgate-sp-cert-export",
        &[
            (
                "cloudgate sp cert export 6573A1B2 --out sp.pem",
                "The certificate alone, PEM.",
            ),
            (
                "cloudgate sp cert export 6573A1B2 --format pfx --out sp.pfx",
                "Certificate, chain and key for Windows (asks a password).",
            ),
        ],
    ),
    (
        "cloudgate-sp-cert-remove",
        &[(
            "cloudgate sp cert remove 6573A1B2",
            "Remove a certificate that is not in use.",
        )],
    ),
    (
        "cloudgate-sp-tenant-add",
        &[(
            "printf '%s\\n' \"$PW\" | cloudgate sp tenant add globex --password-stdin",
            "Create a tenant account.",
        )],
    ),
    (
        "cloudgate-sp-tenant-list",
        &[(
            "cloudgate sp tenant list",
            "Every tenant, its services and machines.",
        )],
    ),
    (
        "cloudgate-sp-tenant-show",
        &[(
            "cloudgate sp tenant show globex",
            "A tenant with its services and enrolled machines.",
        )],
    ),
    (
        "cloudgate-sp-tenant-set-password",
        &[(
            "cloudgate sp tenant set-password globex --password-file pw.txt",
            "Replace a tenant's password.",
        )],
    ),
    (
        "cloudgate-sp-tenant-disable",
        &[(
            "cloudgate sp tenant disable globex",
            "Refuse the tenant's enrollments and tunnels.",
        )],
    ),
    (
        "cloudgate-sp-tenant-enable",
        &[("cloudgate sp tenant enable globex", "Allow it again.")],
    ),
    (
        "cloudgate-sp-tenant-remove",
        &[(
            "cloudgate sp tenant remove globex",
            "Delete the tenant, its services and machines.",
        )],
    ),
    (
        "cloudgate-sp-tenant-token-create",
        &[(
            "cloudgate sp tenant token create globex --expires 24h --label laptop > globex.token",
            "A one-use join token for a new machine of tenant globex.",
        )],
    ),
    (
        "cloudgate-sp-tenant-token-list",
        &[(
            "cloudgate sp tenant token list globex",
            "Its tokens and their state.",
        )],
    ),
    (
        "cloudgate-sp-tenant-token-revoke",
        &[(
            "cloudgate sp tenant token revoke 1a2b3c4d",
            "Revoke a token by its id.",
        )],
    ),
    (
        "cloudgate-tenant-join",
        &[(
            "cloudgate tenant join --token-file globex.token",
            "Add the provider with the token the SP sent: no thumbprint, no password.",
        )],
    ),
    (
        "cloudgate-sp-tenant-prune",
        &[(
            "cloudgate sp tenant prune globex --unseen-days 90",
            "Remove the machines that have not connected for 90 days.",
        )],
    ),
    (
        "cloudgate-sp-tenant-revoke",
        &[(
            "cloudgate sp tenant revoke globex 3F9A…",
            "Remove one enrolled machine's certificate.",
        )],
    ),
    (
        "cloudgate-sp-tenant-service-add",
        &[(
            "cloudgate sp tenant service add globex repo 10.0.0.5:10001",
            "Let the tenant reach a repository.",
        )],
    ),
    (
        "cloudgate-sp-tenant-service-list",
        &[(
            "cloudgate sp tenant service list globex",
            "The tenant's services.",
        )],
    ),
    (
        "cloudgate-sp-tenant-service-remove",
        &[(
            "cloudgate sp tenant service remove globex repo",
            "Take a service away.",
        )],
    ),
    (
        "cloudgate-sp-gateway-run",
        &[
            (
                "cloudgate sp gateway run",
                "Listen on port 6180 (IPv6 and IPv4), DATA_DIR/gateway.toml if present.",
            ),
            (
                "cloudgate sp gateway run --listen 0.0.0.0:6180 --metrics 127.0.0.1:9180",
                "IPv4 only, with Prometheus metrics on loopback.",
            ),
        ],
    ),
    (
        "cloudgate-sp-gateway-address",
        &[(
            "cloudgate sp gateway address backup.example.com",
            "Tell tenants to reach the gateway by this name.",
        )],
    ),
    (
        "cloudgate-sp-db-status",
        &[
            (
                "cloudgate sp db status",
                "Where the SP database is, its schema version, applied and pending migrations.",
            ),
            (
                "cloudgate sp db status --json | jq .version",
                "The schema version, for a script.",
            ),
        ],
    ),
    (
        "cloudgate-sp-db-migrate",
        &[(
            "cloudgate sp db migrate",
            "Apply pending migrations now, e.g. right after upgrading cloudgate.",
        )],
    ),
    (
        "cloudgate-tenant-provider-add",
        &[
            (
                "cloudgate tenant provider add backup.example.com --username globex --thumbprint 'Thumbprint: 6573…'",
                "Pin after checking the thumbprint (a copied Summary line works).",
            ),
            (
                "CLOUDGATE_THUMBPRINT=6573… cloudgate tenant provider add backup.example.com --username globex --password-file pw.txt",
                "Non-interactive, thumbprint from the environment.",
            ),
        ],
    ),
    (
        "cloudgate-tenant-provider-list",
        &[(
            "cloudgate tenant provider list",
            "Every provider and its pin.",
        )],
    ),
    (
        "cloudgate-tenant-provider-show",
        &[(
            "cloudgate tenant provider show backup.example.com:6180",
            "One provider.",
        )],
    ),
    (
        "cloudgate-tenant-provider-refresh",
        &[(
            "cloudgate tenant provider refresh sp --thumbprint 9B2C…",
            "Pin a new certificate the SP told you about.",
        )],
    ),
    (
        "cloudgate-tenant-provider-remove",
        &[(
            "cloudgate tenant provider remove sp",
            "Forget a provider and this machine's key for it.",
        )],
    ),
    (
        "cloudgate-tenant-check",
        &[(
            "cloudgate tenant check sp --json",
            "Monitoring: reachable, pinned, enrolled.",
        )],
    ),
    (
        "cloudgate-tenant-tunnel",
        &[(
            "cloudgate tenant tunnel sp repo --listen 10001",
            "Serve the SP's repo on 127.0.0.1:10001.",
        )],
    ),
    (
        "cloudgate-tenant-tunnels-run",
        &[(
            "cloudgate tenant tunnels run --config /etc/cloudgate/tunnels.toml",
            "Run every configured tunnel as a service.",
        )],
    ),
    (
        "cloudgate-demo",
        &[(
            "cloudgate demo",
            "SP certificate, gateway, tenant, a tunnel and a refused impostor, on loopback; leaves nothing behind.",
        )],
    ),
    (
        "cloudgate-completions",
        &[(
            "cloudgate completions bash > /usr/share/bash-completion/completions/cloudgate",
            "Install bash completion.",
        )],
    ),
    (
        "cloudgate-man",
        &[(
            "cloudgate man --dir /usr/local/share/man/man1",
            "Install every manual page.",
        )],
    ),
];

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
