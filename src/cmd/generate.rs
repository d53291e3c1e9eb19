//! `cloudgate sp cert generate`.

use std::io::IsTerminal as _;
use std::time::Duration;

use anyhow::Context as _;
use cloudgate_pki::{GeneratedCertificate, SelfSignedRequest};
use cloudgate_sp::certs::{self, CertificateSource as _};
use cloudgate_store::license::{self, DefaultIdentity, Licensee};
use time::OffsetDateTime;

use crate::cli::GenerateArgs;
use crate::context::Context;
use crate::render::{certificate_text, print_json, print_text, warn};

/// The default identity; warns when the host name stands in for a license and a default that
/// depends on it is used.
pub fn defaults(ctx: &Context, warn_about_licensee: bool) -> anyhow::Result<DefaultIdentity> {
    let identity = cloudgate_sp::certs::default_identity(&ctx.layout)?;
    if let Licensee::HostName(host) = &identity.licensee
        && warn_about_licensee
    {
        warn(&format!(
            "no license installed; the host name {host:?} stands in as licensee (install one with `cloudgate sp license install FILE`)"
        ));
    }
    Ok(identity)
}

/// Generates, with a spinner on a terminal for slow key types.
pub fn generate_with_progress(request: &SelfSignedRequest) -> anyhow::Result<GeneratedCertificate> {
    let spinner = spinner_for(request);
    let generated = interruptible(request.clone());
    if let Some(s) = spinner {
        s.finish_and_clear();
    }
    generated?.context("generating the certificate")
}

/// Generates on a thread of its own while this one waits for the result or for Ctrl-C: an RSA
/// key can take seconds, and an interrupted run must say that nothing was written rather than
/// die silently by the signal. Nothing is in the store before generation ends, so leaving the
/// thread behind at exit loses nothing.
fn interruptible(
    request: SelfSignedRequest,
) -> anyhow::Result<Result<GeneratedCertificate, cloudgate_pki::PkiError>> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let delay = cloudgate_store::fsio::keygen_delay();
    std::thread::spawn(move || {
        if let Some(delay) = delay {
            std::thread::sleep(delay);
        }
        let _ = tx.send(certs::SelfSigned.issue(&request));
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        tokio::select! {
            done = rx => done.map_err(|_| anyhow::anyhow!("key generation stopped unexpectedly")),
            _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("cancelled; nothing was written")),
        }
    })
}

pub fn run(ctx: &Context, args: GenerateArgs) -> anyhow::Result<()> {
    let store = ctx.store_for_write()?;
    let defaults = defaults(ctx, args.subject.is_none() || args.friendly_name.is_none())?;
    let sans = if args.sans.is_empty() {
        if defaults.sans.is_empty() {
            warn(&format!(
                "the host name {:?} is not a valid DNS name, so the certificate gets no SAN; pass --san",
                license::host_name()
            ));
        }
        defaults.sans
    } else {
        args.sans
    };
    let request = SelfSignedRequest {
        key_type: args.key_type,
        subject: args.subject.unwrap_or(defaults.subject),
        sans,
        valid_days: args.valid_days,
        now: OffsetDateTime::now_utc(),
    };
    let friendly_name = args.friendly_name.unwrap_or(defaults.friendly_name);
    let generated = generate_with_progress(&request)?;

    let mut entry = certs::save_issued(&store, &certs::SelfSigned, &generated, friendly_name)
        .with_context(|| {
            format!(
                "saving the certificate in the store at {}",
                ctx.layout.store_dir().display()
            )
        })?;
    drop(generated);
    if args.apply {
        super::switch::confirm_switch(ctx, &store, &entry, args.force).with_context(|| {
            format!(
                "{} was added to the store but not put into use",
                entry.info.fingerprints.thumbprint()
            )
        })?;
        super::switch::apply_through_core_blocking(ctx, &mut entry)
            .context("putting the new certificate into use")?;
    }

    if args.json {
        return print_json(&cloudgate_sp::views::certificate(&entry));
    }
    let mut out =
        String::from("Generated a self-signed certificate and saved it in the store.\n\n");
    out.push_str(&certificate_text(&entry));
    out.push('\n');
    if args.apply {
        out.push_str(
            "The certificate is now in use: Cloud Connect certificate is being updated.\n",
        );
    } else {
        out.push_str(&format!(
            "Put it into use with: cloudgate sp cert apply {}\n",
            entry.info.fingerprints.thumbprint()
        ));
    }
    out.push_str("This certificate is not issued by a trusted CA: send the six Summary lines above to your tenants so they can verify its thumbprint.\n");
    if args.apply {
        out.push('\n');
        out.push_str(&crate::public_address::tenant_instructions(
            ctx,
            &entry.info.fingerprints.sha256_hex(),
        ));
    }
    print_text(&out)
}

/// A spinner on stderr for slow key types, only when stderr is a terminal.
fn spinner_for(req: &SelfSignedRequest) -> Option<indicatif::ProgressBar> {
    if !req.key_type.is_slow_to_generate() || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_message(format!("Generating a {} key…", req.key_type));
    bar.enable_steady_tick(Duration::from_millis(100));
    Some(bar)
}
