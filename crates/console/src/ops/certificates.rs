//! Certificates: list, show, generate, import, renew, stage, apply, remove, PEM.

use cloudgate_pki::{KeyType, SelfSignedRequest, dn::SubjectName};
use cloudgate_proto::admin::{
    AcmeRenewRequest, Certificate, CertificateDetail, CertificateStatus, CheckReport,
    NewCertificate,
};
use cloudgate_sp::certs::{self, CertificateSource as _};
use cloudgate_sp::switch::{Adoption, SwitchImpact};
use cloudgate_sp::{SpError, views};
use cloudgate_store::license::DefaultIdentity;
use time::OffsetDateTime;

use super::{OpError, publish};
use crate::Console;

/// Every certificate of the store, the one in use first.
pub fn certificates(console: &Console) -> Result<Vec<Certificate>, OpError> {
    let mut all: Vec<Certificate> = console
        .store
        .list()?
        .iter()
        .map(views::certificate)
        .collect();
    all.sort_by_key(|c| !c.applied);
    Ok(all)
}

/// The certificate in use.
pub fn current(console: &Console) -> Result<Option<Certificate>, OpError> {
    Ok(console.store.applied()?.as_ref().map(views::certificate))
}

/// The Summary's six lines of a certificate, as the reference product shows them.
pub fn summary(console: &Console, id: &str) -> Result<String, OpError> {
    let entry = console.store.find(id)?;
    Ok(cloudgate_pki::summary_lines(
        &entry.meta.friendly_name,
        &entry.info,
    ))
}

/// Generates a self-signed certificate (not applied).
pub async fn generate(
    console: &Console,
    who: &str,
    request: NewCertificate,
) -> Result<Certificate, OpError> {
    let identity = DefaultIdentity::resolve(console.store.layout())?;
    let key_type = match request.key_type.as_deref().map(str::trim) {
        None | Some("") => certs::DEFAULT_KEY_TYPE,
        Some(t) => t
            .parse::<KeyType>()
            .map_err(|e| OpError::Invalid(format!("key type: {e}")))?,
    };
    let valid_days = request.valid_days.unwrap_or(certs::DEFAULT_VALID_DAYS);
    cloudgate_pki::check_valid_days(valid_days).map_err(|e| OpError::Invalid(e.to_string()))?;
    let subject = match request.subject.as_deref().map(str::trim) {
        None | Some("") => identity.subject.clone(),
        Some(s) => SubjectName::parse(s).map_err(|e| OpError::Invalid(format!("subject: {e}")))?,
    };
    let sans = if request.sans.iter().all(|s| s.trim().is_empty()) {
        identity.sans.clone()
    } else {
        request
            .sans
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .map(|s| {
                cloudgate_pki::san::SubjectAltName::parse(s)
                    .map_err(|e| OpError::Invalid(format!("alternative name {s:?}: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?
    };
    let friendly_name = match request.friendly_name.as_deref().map(str::trim) {
        None | Some("") => identity.friendly_name.clone(),
        Some(n) if n.chars().any(char::is_control) || n.chars().count() > 128 => {
            return Err(OpError::Invalid(
                "the friendly name must be at most 128 characters, without control characters"
                    .into(),
            ));
        }
        Some(n) => n.to_string(),
    };
    let req = SelfSignedRequest {
        key_type,
        subject,
        sans,
        valid_days,
        now: OffsetDateTime::now_utc(),
    };
    // RSA keys take a while: off the request threads.
    let issued = tokio::task::spawn_blocking(move || certs::SelfSigned.issue(&req))
        .await
        .map_err(|e| OpError::Invalid(format!("generation stopped: {e}")))?
        .map_err(SpError::from)?;
    let entry = certs::save_issued(
        &console.store.acting_as(who),
        &certs::SelfSigned,
        &issued,
        friendly_name,
    )?;
    drop(issued);
    Ok(views::certificate(&entry))
}

/// Imports a certificate with its key from a file's bytes (PKCS#12 or PEM), as `sp cert import`
/// does: the same reader, the same refusals (a wrong password, a CA certificate, an expired one),
/// the same store entry. Not applied.
pub fn import(
    console: &Console,
    who: &str,
    file: &[u8],
    password: &str,
    friendly_name: Option<String>,
) -> Result<Certificate, OpError> {
    let material = cloudgate_pki::import::read_key_material(file, None, password, None)
        .map_err(SpError::from)?;
    cloudgate_pki::import::check_serviceable(&material.cert, OffsetDateTime::now_utc(), false)
        .map_err(SpError::from)?;
    let friendly_name = friendly_name
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty());
    if friendly_name
        .as_ref()
        .is_some_and(|n| n.chars().any(char::is_control) || n.chars().count() > 128)
    {
        return Err(OpError::Invalid(
            "the friendly name must be at most 128 characters, without control characters".into(),
        ));
    }
    let entry = certs::save_imported(&console.store.acting_as(who), &material, friendly_name)?;
    Ok(views::certificate(&entry))
}

/// Renews a certificate with the same key (tenants follow without asking) for `valid_days`,
/// as `sp cert renew` does; applied when it renews the one in use.
pub async fn renew(
    console: &Console,
    who: &str,
    id: &str,
    valid_days: u32,
) -> Result<Certificate, OpError> {
    cloudgate_pki::check_valid_days(valid_days).map_err(|e| OpError::Invalid(e.to_string()))?;
    let old = console.store.find(id)?;
    let apply = old.applied;
    let entry = certs::renew(
        &console.store.acting_as(who),
        &certs::SelfSigned,
        &old,
        certs::Lifetime::Days(valid_days),
        apply,
    )?;
    if apply {
        if let Some(served) = &console.served {
            let _ = served.refresh();
        }
        publish(console).await?;
    }
    Ok(views::certificate(&entry))
}

/// Removes a certificate that is not in use, and its key.
pub fn remove(console: &Console, who: &str, id: &str) -> Result<Certificate, OpError> {
    let entry = console.store.find(id)?;
    console.store.acting_as(who).remove(&entry, false)?;
    Ok(views::certificate(&entry))
}

/// A certificate with its chain, PEM: the public part only (the console never hands out a key).
pub fn certificate_pem(console: &Console, id: &str) -> Result<(String, String), OpError> {
    let entry = console.store.find(id)?;
    let mut pem = cloudgate_pki::pem::encode_certificate(&entry.info.der);
    for c in &entry.chain {
        pem.push_str(&cloudgate_pki::pem::encode_certificate(c));
    }
    Ok((entry.info.fingerprints.thumbprint(), pem))
}

/// What putting `id` into use would mean for the tenants, and how many machines are enrolled.
pub async fn switch_impact(
    console: &Console,
    id: &str,
) -> Result<(SwitchImpact, Adoption), OpError> {
    let entry = console.store.find(id)?;
    let impact = cloudgate_sp::switch::impact(&console.store, &entry)?;
    Ok((impact, adoption(console).await?))
}

/// How far the enrolled machines adopted the certificate in use and the staged successor.
pub async fn adoption(console: &Console) -> Result<Adoption, OpError> {
    let machines = console.db.all_client_certs().await?;
    let current = console.store.applied_record()?.map(|r| r.sha256);
    let staged = console
        .store
        .rollover_history()?
        .staged
        .map(|s| s.to_sha256);
    Ok(cloudgate_sp::switch::adoption(
        &machines,
        current.as_deref(),
        staged.as_deref(),
    ))
}

/// Puts a certificate into use; a new key without a proof while machines are enrolled only
/// with `force`.
pub async fn apply(
    console: &Console,
    who: &str,
    id: &str,
    force: bool,
) -> Result<Certificate, OpError> {
    let mut entry = console.store.find(id)?;
    if !entry.info.is_valid_at(OffsetDateTime::now_utc()) {
        return Err(OpError::Invalid(format!(
            "certificate {} is not valid now; tenants would refuse it",
            entry.info.fingerprints.thumbprint()
        )));
    }
    let (impact, adoption) = switch_impact(console, id).await?;
    if impact == SwitchImpact::ManualReverify && !force && adoption.machines > 0 {
        return Err(OpError::WouldReverify {
            thumbprint: entry.info.fingerprints.thumbprint(),
            machines: adoption.machines,
            tenants: adoption.tenants,
        });
    }
    certs::apply(&console.store.acting_as(who), &mut entry)?;
    if force && impact == SwitchImpact::ManualReverify && adoption.machines > 0 {
        // The store records the switch; that an administrator overrode the warning is a fact
        // of its own.
        super::audit(
            console,
            who,
            "cert.apply_forced",
            "certificate with a new key applied without a proof while machines were enrolled (forced)",
            serde_json::json!({ "thumbprint": entry.info.fingerprints.thumbprint(),
                "machines": adoption.machines, "tenants": adoption.tenants }),
        )?;
    }
    if let Some(served) = &console.served
        && let Err(e) = served.refresh()
    {
        tracing::warn!(error = %e, "console: still serving the previous certificate");
    }
    publish(console).await?;
    Ok(views::certificate(&entry))
}

/// Stages a certificate as the successor of the one in use, with a rollover proof.
pub async fn stage(console: &Console, who: &str, id: &str) -> Result<Certificate, OpError> {
    let successor = console.store.find(id)?;
    if console.store.applied()?.is_none() {
        return Err(OpError::Invalid(
            "no certificate is in use: apply this one directly".into(),
        ));
    }
    if !successor.info.is_valid_at(OffsetDateTime::now_utc()) {
        return Err(OpError::Invalid(
            "the successor is not valid now; tenants would refuse it".into(),
        ));
    }
    console.store.acting_as(who).stage(&successor, None)?;
    publish(console).await?;
    Ok(views::certificate(&successor))
}

/// One certificate of the store with the Summary's six lines.
pub fn certificate(console: &Console, id: &str) -> Result<CertificateDetail, OpError> {
    let entry = console.store.find(id)?;
    Ok(CertificateDetail {
        summary: cloudgate_pki::summary_lines(&entry.meta.friendly_name, &entry.info),
        certificate: views::certificate(&entry),
    })
}

/// The certificate in use, the staged successor, the key changes and their adoption.
pub async fn status(console: &Console) -> Result<CertificateStatus, OpError> {
    let machines = console.db.all_client_certs().await?;
    Ok(cloudgate_sp::switch::status(&console.store, &machines)?)
}

/// Checks a certificate's entry: key readable, private and matching; certificate intact and
/// valid.
pub fn check(console: &Console, id: &str) -> Result<CheckReport, OpError> {
    let entry = console.store.find(id)?;
    Ok(certs::check(&console.store, &entry)?)
}

/// A certificate, DER: the public part only.
pub fn certificate_der(console: &Console, id: &str) -> Result<(String, Vec<u8>), OpError> {
    let entry = console.store.find(id)?;
    Ok((entry.info.fingerprints.thumbprint(), entry.info.der.clone()))
}

/// Renews the ACME certificate in use with the CA of its issuance: the same key (applied with
/// `apply`), or a new key staged with a rollover proof.
pub async fn acme_renew(
    console: &Console,
    who: &str,
    request: &AcmeRenewRequest,
) -> Result<Certificate, OpError> {
    let mut renewal = cloudgate_sp::acme::renew(
        &console.store.acting_as(who),
        request.new_key,
        who,
        &|step| tracing::debug!(step, "console: acme renew"),
    )
    .await?;
    let applied = !renewal.new_key && request.apply;
    if applied {
        certs::apply(&console.store.acting_as(who), &mut renewal.entry)?;
        if let Some(served) = &console.served {
            let _ = served.refresh();
        }
    }
    if applied || renewal.new_key {
        publish(console).await?;
    }
    Ok(views::certificate(&renewal.entry))
}
