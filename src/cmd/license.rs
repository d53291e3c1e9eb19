//! `cloudgate sp license install|show`.

use anyhow::Context as _;
use cloudgate_store::license::License;
use time::OffsetDateTime;

use crate::cli::LicenseCommand;
use crate::context::Context;
use crate::exit::usage;
use crate::render::{print_json, print_text, warn};

type LicenseView = cloudgate_proto::admin::LicenseInfo;

fn text(v: &LicenseView) -> String {
    let Some(to) = &v.licensed_to else {
        return format!(
            "No license installed; the host name {:?} stands in as licensee.\nInstall one with `cloudgate sp license install FILE`.\n",
            v.licensee
        );
    };
    let mut out = format!("Licensed to: {to}\n");
    if let Some(e) = &v.edition {
        out.push_str(&format!("Edition: {e}\n"));
    }
    if let Some(id) = &v.license_id {
        out.push_str(&format!("License ID: {id}\n"));
    }
    out.push_str(&format!(
        "Expires: {}{}\n",
        v.expires.as_deref().unwrap_or("never"),
        if v.expired { " (EXPIRED)" } else { "" }
    ));
    out.push_str(&format!("File: {}\n", v.path));
    out
}

pub async fn run(ctx: &Context, cmd: LicenseCommand) -> anyhow::Result<()> {
    match cmd {
        LicenseCommand::Install { file, json } => {
            let content = crate::input::read_input_file(&file, "license file")?;
            // Read here first: the parser names the file in its errors.
            let lic = License::parse(&content, &file)?;
            if lic.is_expired_at(OffsetDateTime::now_utc()) {
                return Err(usage(format!(
                    "license {} expired on {}; install a current one",
                    file.display(),
                    lic.expires.map(|d| d.to_string()).unwrap_or_default()
                )));
            }
            let v = ctx
                .sp()
                .await?
                .install_license(&lic.to_toml(), &file.display().to_string())
                .await
                .with_context(|| {
                    format!(
                        "installing the license into {}",
                        ctx.layout.data_dir().display()
                    )
                })?;
            if json {
                print_json(&v)
            } else {
                print_text(&format!("License installed.\n{}", text(&v)))
            }
        }
        LicenseCommand::Show { json } => {
            let v = cloudgate_sp::views::license(&ctx.layout)?;
            if v.expired {
                warn("the installed license has expired");
            }
            if json {
                print_json(&v)
            } else {
                print_text(&text(&v))
            }
        }
    }
}
