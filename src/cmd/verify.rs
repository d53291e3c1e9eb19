//! What a tenant is shown and asked while verifying a provider's certificate: the presented
//! Summary, the thumbprint given or typed, and the text of a pin mismatch.

use cloudgate_pki::{FingerprintQuery, format_summary_date};
use cloudgate_tenant::{Probe, Refusal, TenantError, TrustFailure};

use crate::exit::usage;
use crate::input::interactive;
use crate::render::warn;

/// The Summary lines of a presented certificate, named as the SP named it when it said.
pub(crate) fn presented_text(probe: &Probe, endpoint: &str) -> String {
    let c = &probe.cert;
    let name = probe
        .provider
        .as_ref()
        .map_or("(not given)", |p| p.certificate.friendly_name.as_str());
    let name = crate::render::one_line(name);
    format!(
        "The service provider at {endpoint} presented this certificate:\n\n\
         Name: {name}\nIssued to: {}\nIssued by: {}\nExpiration date: {}\nThumbprint: {}\nSerial number: {}\n\
         SHA-256: {}\nPublic key pin: {}\n\n",
        crate::render::one_line(&c.subject_display),
        crate::render::one_line(&c.issuer_display),
        format_summary_date(c.not_after),
        c.fingerprints.thumbprint(),
        crate::render::one_line(&c.serial),
        c.fingerprints.sha256_colons(),
        c.fingerprints.spki_pin()
    )
}

/// A thumbprint as given on the command line, checked for its form before any connection.
pub(crate) fn given_thumbprint(given: Option<&str>) -> anyhow::Result<Option<FingerprintQuery>> {
    given
        .map(|t| {
            FingerprintQuery::parse_whole(t)
                .map_err(|e| usage(format!("--thumbprint (or CLOUDGATE_THUMBPRINT): {e}")))
        })
        .transpose()
}

/// Out-of-band verification: a thumbprint given or typed must match; `yes` or `--accept-new`
/// accept. Anything else is a trust failure, before any credential is sent.
pub(crate) fn verify(
    probe: &Probe,
    endpoint: &str,
    thumbprint: Option<&FingerprintQuery>,
    accept_new: bool,
) -> anyhow::Result<()> {
    let mismatch = || {
        anyhow::Error::new(TenantError::ThumbprintMismatch {
            endpoint: endpoint.to_string(),
            thumbprint: probe.cert.fingerprints.thumbprint(),
            sha256: probe.cert.fingerprints.sha256_colons(),
        })
    };
    if let Some(q) = thumbprint {
        return if q.matches(&probe.cert.fingerprints) {
            Ok(())
        } else {
            Err(mismatch())
        };
    }
    if accept_new {
        warn("pinning the presented certificate without verification (--accept-new)");
        tracing::warn!(endpoint, thumbprint = %probe.cert.fingerprints.thumbprint(), "certificate pinned without verification (--accept-new)");
        return Ok(());
    }
    if !interactive() {
        return Err(usage(
            "without a terminal, verify the certificate with --thumbprint THUMBPRINT (what the SP sent you) or pin it unverified with --accept-new",
        ));
    }
    loop {
        let answer = inquire::Text::new("Type yes, or paste the thumbprint you received:")
            .with_help_message(
                "compare with the Summary the service provider sent you; no (or an empty answer) refuses",
            )
            .prompt()
            .map_err(|_| anyhow::anyhow!("cancelled; nothing was saved"))?;
        let a = answer.trim();
        if a.eq_ignore_ascii_case("yes") {
            return Ok(());
        }
        if a.is_empty() || a.eq_ignore_ascii_case("no") || a.eq_ignore_ascii_case("n") {
            return Err(mismatch().context("the certificate was not accepted"));
        }
        if a.eq_ignore_ascii_case("y") {
            eprintln!("Type yes in full to accept what you compared, or paste the thumbprint.");
            continue;
        }
        match FingerprintQuery::parse_whole(a) {
            Ok(q) if q.matches(&probe.cert.fingerprints) => return Ok(()),
            Ok(_) => return Err(mismatch()),
            Err(e) => crate::render::eprint_text(&format!("{e}. Try again.\n")),
        }
    }
}

/// The loud message for a changed certificate, in the spirit of OpenSSH's.
pub fn trust_failure_text(f: &TrustFailure) -> String {
    let why = match f.reason {
        Refusal::Compromised => {
            "The service provider marked this change as a compromise of its previous key, so it published no\n\
             rollover proof: verify the new thumbprint with them out of band before you refresh.\n"
        }
        Refusal::KeyCompromised => {
            "The service provider earlier marked the pinned key as compromised: nothing is trusted until you\n\
             verify the new certificate by hand.\n"
        }
        Refusal::BadProof => {
            "A rollover proof the gateway published does not verify against the pinned key: it was\n\
             tampered with or forged. Someone may be intercepting the connection.\n"
        }
        Refusal::Unproven => {
            "The service provider replaced its certificate with a new key without a rollover proof\n\
             (it did not stage the successor first).\n"
        }
        Refusal::NoProof => {
            "Someone may be intercepting the connection, or the service provider replaced its certificate.\n"
        }
    };
    let presented_thumb = f
        .presented
        .as_ref()
        .map(|p| p.thumbprint())
        .unwrap_or_else(|| "(unreadable)".into());
    format!(
        "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n\
         @   WARNING: SERVICE PROVIDER CERTIFICATE HAS CHANGED!    @\n\
         @@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n\
         The gateway at {} presented a certificate that is not the one pinned for provider {:?}.\n\
                  {why}\
         Nothing was sent: no credentials, no data.\n\n\
         Pinned (first seen {}):\n  Thumbprint: {}\n  SHA-256:    {}\n\
         Presented:\n  Thumbprint: {}\n  SHA-256:    {}\n\n\
         Check with the service provider. If they confirm the new certificate, verify its thumbprint and run:\n  \
         cloudgate tenant provider refresh {} --thumbprint <the new thumbprint they sent you>\n",
        f.endpoint,
        f.provider,
        f.first_seen,
        f.expected_thumbprint,
        f.expected_sha256,
        presented_thumb,
        f.presented_sha256,
        f.provider
    )
}

/// Prints the loud message before the error travels up, when it is a pin mismatch.
pub(crate) fn loud<T>(result: Result<T, TenantError>) -> anyhow::Result<T> {
    result.map_err(|e| {
        if let TenantError::PinMismatch(f) = &e {
            crate::render::eprint_text(&trust_failure_text(f));
        }
        anyhow::Error::new(e)
    })
}
