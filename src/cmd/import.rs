//! `cloudgate sp cert import`.

use anyhow::Context as _;
use cloudgate_pki::import::{KeyMaterial, check_serviceable, needs_password, read_key_material};
use time::OffsetDateTime;

use crate::cli::ImportArgs;
use crate::context::Context;
use crate::exit::usage;
use crate::input::{given_password, interactive, prompt_password, read_input_file};
use crate::render::{certificate_text, print_json, print_text, warn};

/// Opens a certificate file, asking for its password on a terminal when it needs one, and which
/// key to import when a PKCS#12 file holds several (without a terminal: `--select`).
pub fn open_key_material(
    file: &std::path::Path,
    key: Option<&std::path::Path>,
    password: Option<&str>,
    may_prompt: bool,
    select: Option<&str>,
) -> anyhow::Result<KeyMaterial> {
    let data = read_input_file(file, "certificate file")?;
    let key_data = key.map(|k| read_input_file(k, "key file")).transpose()?;
    let key_bytes = key_data.as_ref().map(|k| k.as_slice());
    let describe = |e: cloudgate_pki::PkiError| {
        anyhow::Error::new(e).context(format!("importing {}", file.display()))
    };
    let asked;
    let password = match read_key_material(&data, key_bytes, password.unwrap_or(""), select) {
        Err(e) if password.is_none() && needs_password(&e) && may_prompt => {
            asked = prompt_password(
                &format!("Password for {}:", file.display()),
                "required only if the file is password-protected",
                false,
            )?;
            asked.as_str()
        }
        Err(cloudgate_pki::PkiError::SeveralKeys(choices)) if may_prompt && select.is_none() => {
            return choose_key(&data, key_bytes, password.unwrap_or(""), &choices)
                .map_err(describe);
        }
        Ok(m) => return Ok(m),
        Err(e) => return Err(describe(e)),
    };
    match read_key_material(&data, key_bytes, password, select) {
        Err(cloudgate_pki::PkiError::SeveralKeys(choices)) if select.is_none() => {
            choose_key(&data, key_bytes, password, &choices).map_err(describe)
        }
        other => other.map_err(describe),
    }
}

/// Asks which of several keys to import; the choice is the certificate's thumbprint.
fn choose_key(
    data: &[u8],
    key_bytes: Option<&[u8]>,
    password: &str,
    choices: &[String],
) -> Result<KeyMaterial, cloudgate_pki::PkiError> {
    let picked = inquire::Select::new(
        "The file holds several private keys. Import the one for:",
        choices.to_vec(),
    )
    .prompt()
    .map_err(|_| cloudgate_pki::PkiError::SeveralKeys(choices.to_vec()))?;
    let thumbprint = picked.split_whitespace().next().unwrap_or_default();
    read_key_material(data, key_bytes, password, Some(thumbprint))
}

pub use cloudgate_sp::certs::imported_name;

pub fn run(ctx: &Context, args: ImportArgs) -> anyhow::Result<()> {
    let store = ctx.store_for_write()?;
    let password = given_password(&args.password)?;
    let material = open_key_material(
        &args.file,
        args.key.as_deref(),
        password.as_deref().map(|p| p.as_str()),
        interactive(),
        args.select.as_deref(),
    )?;
    for other in &material.left_out {
        warn(&format!(
            "left out certificate {other}: it did not issue {} or its chain",
            material.cert.fingerprints.thumbprint()
        ));
    }
    let now = OffsetDateTime::now_utc();
    check_serviceable(&material.cert, now, args.allow_expired)
        .with_context(|| format!("importing {}", args.file.display()))?;
    if !material.cert.is_valid_at(now) {
        warn(
            "importing a certificate that is not valid now (--allow-expired); tenants will refuse it until it is replaced",
        );
    }
    if args.apply && !material.cert.is_valid_at(now) {
        return Err(usage("refusing --apply: the certificate is not valid now"));
    }
    let mut entry =
        cloudgate_sp::certs::save_imported(&store, &material, args.friendly_name.clone())
            .with_context(|| {
                format!(
                    "saving the certificate in the store at {}",
                    ctx.layout.store_dir().display()
                )
            })?;
    if args.apply {
        super::switch::confirm_switch(ctx, &store, &entry, args.force).with_context(|| {
            format!(
                "{} was added to the store but not put into use",
                entry.info.fingerprints.thumbprint()
            )
        })?;
        super::switch::apply_through_core_blocking(ctx, &mut entry)
            .context("putting the imported certificate into use")?;
    }
    if args.json {
        return print_json(&cloudgate_sp::views::certificate(&entry));
    }
    let mut out = format!(
        "Imported a certificate from {} ({}{}).\n\n",
        args.file.display(),
        material.format,
        if entry.chain.is_empty() {
            String::new()
        } else {
            format!(", with {} chain certificate(s)", entry.chain.len())
        }
    );
    out.push_str(&certificate_text(&entry));
    if args.apply {
        out.push_str(
            "\nThe certificate is now in use: Cloud Connect certificate is being updated.\n\n",
        );
        out.push_str(&crate::public_address::tenant_instructions(
            ctx,
            &entry.info.fingerprints.sha256_hex(),
        ));
    } else {
        out.push_str(&format!(
            "\nPut it into use with: cloudgate sp cert apply {}\n",
            entry.info.fingerprints.thumbprint()
        ));
    }
    print_text(&out)
}
