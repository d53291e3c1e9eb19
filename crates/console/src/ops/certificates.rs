//! Certificates: list, show, generate, import, renew, stage, apply, remove, PEM.

use cloudgate_proto::admin::{
    AcmeRenewRequest, Certificate, CertificateDetail, CertificateStatus, CheckReport,
    NewCertificate,
};
use cloudgate_sp::switch::{Adoption, SwitchImpact};

use super::{OpError, as_admin, follow_certificate};
use crate::Console;

/// Every certificate of the store, the one in use first.
pub fn certificates(console: &Console) -> Result<Vec<Certificate>, OpError> {
    console.sp.certificates()
}

/// The certificate in use.
pub fn current(console: &Console) -> Result<Option<Certificate>, OpError> {
    console.sp.current()
}

/// The Summary's six lines of a certificate, as the reference product shows them.
pub fn summary(console: &Console, id: &str) -> Result<String, OpError> {
    console.sp.summary(id)
}

/// Generates a self-signed certificate (not applied).
pub async fn generate(
    console: &Console,
    who: &str,
    request: NewCertificate,
) -> Result<Certificate, OpError> {
    as_admin(console, who).generate(&request).await
}

/// Imports a certificate with its key from a file's bytes (PKCS#12 or PEM). Not applied.
pub async fn import(
    console: &Console,
    who: &str,
    file: &[u8],
    password: &str,
    friendly_name: Option<String>,
) -> Result<Certificate, OpError> {
    as_admin(console, who)
        .import(file, password, friendly_name.as_deref())
        .await
}

/// Renews a certificate with the same key for `valid_days`; applied when it renews the one in
/// use.
pub async fn renew(
    console: &Console,
    who: &str,
    id: &str,
    valid_days: u32,
) -> Result<Certificate, OpError> {
    // Renewing the certificate in use puts the renewal into use, as tenants expect.
    let apply = console.sp.find(id)?.applied;
    let renewed = as_admin(console, who)
        .renew(Some(id), valid_days, apply)
        .await?;
    if renewed.certificate.applied {
        follow_certificate(console);
    }
    Ok(renewed.certificate)
}

/// Removes a certificate that is not in use, and its key.
pub async fn remove(console: &Console, who: &str, id: &str) -> Result<Certificate, OpError> {
    as_admin(console, who).remove_certificate(id, false).await
}

/// A certificate with its chain, PEM: the public part only (the console never hands out a key).
pub fn certificate_pem(console: &Console, id: &str) -> Result<(String, String), OpError> {
    console.sp.certificate_pem(id)
}

/// What putting `id` into use would mean for the tenants, and how many machines are enrolled.
pub async fn switch_impact(
    console: &Console,
    id: &str,
) -> Result<(SwitchImpact, Adoption), OpError> {
    console.sp.switch_impact(id).await
}

/// How far the enrolled machines adopted the certificate in use and the staged successor.
pub async fn adoption(console: &Console) -> Result<Adoption, OpError> {
    console.sp.adoption().await
}

/// Puts a certificate into use; a new key without a proof while machines are enrolled only
/// with `force`.
pub async fn apply(
    console: &Console,
    who: &str,
    id: &str,
    force: bool,
) -> Result<Certificate, OpError> {
    let applied = as_admin(console, who).apply(id, force).await?;
    follow_certificate(console);
    Ok(applied.certificate)
}

/// Stages a certificate as the successor of the one in use, with a rollover proof.
pub async fn stage(console: &Console, who: &str, id: &str) -> Result<Certificate, OpError> {
    Ok(as_admin(console, who).stage(id, None).await?.certificate)
}

/// One certificate of the store with the Summary's six lines.
pub fn certificate(console: &Console, id: &str) -> Result<CertificateDetail, OpError> {
    console.sp.certificate(id)
}

/// The certificate in use, the staged successor, the key changes and their adoption.
pub async fn status(console: &Console) -> Result<CertificateStatus, OpError> {
    console.sp.certificate_status().await
}

/// Checks a certificate's entry.
pub fn check(console: &Console, id: &str) -> Result<CheckReport, OpError> {
    console.sp.check_certificate(id)
}

/// A certificate, DER: the public part only.
pub fn certificate_der(console: &Console, id: &str) -> Result<(String, Vec<u8>), OpError> {
    console.sp.certificate_der(id)
}

/// Renews the ACME certificate in use with the CA of its issuance.
pub async fn acme_renew(
    console: &Console,
    who: &str,
    request: &AcmeRenewRequest,
) -> Result<Certificate, OpError> {
    let renewed = as_admin(console, who)
        .acme_renew(request, &|step| {
            tracing::debug!(step, "console: acme renew")
        })
        .await?;
    if renewed.certificate.applied {
        follow_certificate(console);
    }
    Ok(renewed.certificate)
}
