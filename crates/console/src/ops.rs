//! The console's operations, once, for the pages and the API: each reads or changes the SP
//! through `cloudgate_sp` (the same calls as the command line), and every change is an audit
//! event naming the administrator (or API token) that made it.

use cloudgate_db::DbError;
use cloudgate_errors::{Classify, ErrorKind};
use cloudgate_pki::{KeyType, SelfSignedRequest, dn::SubjectName};
use cloudgate_proto::admin::{
    AuditEntry, Certificate, Gateway, NewCertificate, NewTenant, Service, Tenant,
};
use cloudgate_sp::certs::{self, CertificateSource as _};
use cloudgate_sp::switch::{Adoption, SwitchImpact};
use cloudgate_sp::{SpError, views};
use cloudgate_store::StoreError;
use cloudgate_store::license::DefaultIdentity;
use time::OffsetDateTime;

use crate::Console;

/// Bytes of the audit log the console reads back.
const AUDIT_TAIL: u64 = 4 * 1024 * 1024;

/// Why an operation was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    /// What was asked is not acceptable.
    #[error("{0}")]
    Invalid(String),
    /// A switch to a new key without a proof while machines are enrolled.
    #[error(
        "certificate {thumbprint} has a new key and was not staged: {machines} enrolled machine(s) of {tenants} tenant(s) would all have to verify it by hand; stage it first and apply it once they have seen it, or apply with force"
    )]
    WouldReverify {
        /// The certificate.
        thumbprint: String,
        /// Enrolled machines.
        machines: usize,
        /// Their tenants.
        tenants: usize,
    },
    /// The SP library refused or failed.
    #[error(transparent)]
    Sp(#[from] SpError),
}

impl From<DbError> for OpError {
    fn from(e: DbError) -> Self {
        OpError::Sp(e.into())
    }
}

impl From<StoreError> for OpError {
    fn from(e: StoreError) -> Self {
        OpError::Sp(e.into())
    }
}

impl OpError {
    /// The kind, for the HTTP status and the API's code.
    pub fn kind(&self) -> ErrorKind {
        match self {
            OpError::Invalid(_) => ErrorKind::Usage,
            OpError::WouldReverify { .. } => ErrorKind::Conflict,
            OpError::Sp(e) => e.kind(),
        }
    }

    /// The API's stable code.
    pub fn code(&self) -> &'static str {
        match self {
            OpError::Invalid(_) => "bad_input",
            OpError::WouldReverify { .. } => "would_reverify",
            OpError::Sp(e) => e.code(),
        }
    }
}

/// Records a change in the audit log with who made it; a log that cannot be written fails the
/// request after the change (the change is not undone, and the error says so).
fn audit(
    console: &Console,
    who: &str,
    event: &'static str,
    message: &str,
    mut details: serde_json::Value,
) -> Result<(), OpError> {
    if let serde_json::Value::Object(map) = &mut details {
        map.insert("admin".into(), who.into());
    }
    cloudgate_store::audit::record(
        console.store.layout(),
        console.store.ownership(),
        event,
        message,
        details,
    )?;
    Ok(())
}

/// Publishes the certificate in use to a fleet, when this console serves one.
async fn publish(console: &Console) -> Result<(), OpError> {
    if console.fleet_keys.is_empty() {
        return Ok(());
    }
    let keys: Vec<_> = console.fleet_keys.iter().collect();
    cloudgate_sp::fleet::publish(&console.store, &*console.db, &keys).await?;
    Ok(())
}

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
    let entry = certs::save_issued(&console.store, &certs::SelfSigned, &issued, friendly_name)?;
    drop(issued);
    audit(
        console,
        who,
        "cert.generated",
        "certificate generated in the console",
        serde_json::json!({ "thumbprint": entry.info.fingerprints.thumbprint(),
            "sha256": entry.info.fingerprints.sha256_hex(), "friendly_name": entry.meta.friendly_name }),
    )?;
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
    let entry = certs::save_imported(&console.store, &material, friendly_name)?;
    audit(
        console,
        who,
        "cert.imported",
        "certificate imported in the console",
        serde_json::json!({ "thumbprint": entry.info.fingerprints.thumbprint(),
            "sha256": entry.info.fingerprints.sha256_hex(), "friendly_name": entry.meta.friendly_name,
            "format": material.format }),
    )?;
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
        &console.store,
        &certs::SelfSigned,
        &old,
        certs::Lifetime::Days(valid_days),
        apply,
    )?;
    if apply && let Some(served) = &console.served {
        let _ = served.refresh();
    }
    audit(
        console,
        who,
        "cert.renewed",
        "certificate renewed (same key) in the console",
        serde_json::json!({ "old_thumbprint": old.info.fingerprints.thumbprint(),
            "thumbprint": entry.info.fingerprints.thumbprint(), "applied": apply }),
    )?;
    if apply {
        publish(console).await?;
    }
    Ok(views::certificate(&entry))
}

/// Removes a certificate that is not in use, and its key.
pub fn remove(console: &Console, who: &str, id: &str) -> Result<Certificate, OpError> {
    let entry = console.store.find(id)?;
    console.store.remove(&entry, false)?;
    audit(
        console,
        who,
        "cert.removed",
        "certificate removed in the console",
        serde_json::json!({ "thumbprint": entry.info.fingerprints.thumbprint() }),
    )?;
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
    certs::apply(&console.store, &mut entry)?;
    if let Some(served) = &console.served
        && let Err(e) = served.refresh()
    {
        tracing::warn!(error = %e, "console: still serving the previous certificate");
    }
    audit(
        console,
        who,
        "cert.applied",
        cloudgate_store::audit::CERTIFICATE_UPDATED,
        serde_json::json!({ "thumbprint": entry.info.fingerprints.thumbprint(),
            "sha256": entry.info.fingerprints.sha256_hex(), "forced": force }),
    )?;
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
    console.store.stage(&successor, None)?;
    audit(
        console,
        who,
        "cert.staged",
        "successor staged in the console",
        serde_json::json!({ "thumbprint": successor.info.fingerprints.thumbprint(),
            "sha256": successor.info.fingerprints.sha256_hex() }),
    )?;
    publish(console).await?;
    Ok(views::certificate(&successor))
}

/// The tenants whose name or description contains `query` (every tenant when empty).
pub async fn tenants(console: &Console, query: &str) -> Result<Vec<Tenant>, OpError> {
    let query = query.trim().to_lowercase();
    let current = console.store.applied_record()?.map(|r| r.sha256);
    let machines = console.db.all_client_certs().await?;
    let mut out = Vec::new();
    for t in console.db.tenants().await? {
        if !query.is_empty()
            && !t.name.to_lowercase().contains(&query)
            && !t.description.to_lowercase().contains(&query)
        {
            continue;
        }
        let services = console.db.services(&t.name).await?;
        let own: Vec<_> = machines
            .iter()
            .filter(|m| m.tenant == t.name)
            .cloned()
            .collect();
        out.push(views::tenant(&t, &services, &own, current.as_deref()));
    }
    Ok(out)
}

/// One tenant.
pub async fn tenant(console: &Console, name: &str) -> Result<Tenant, OpError> {
    let t = console.db.tenant(name).await?;
    let services = console.db.services(name).await?;
    let machines = console.db.client_certs(name).await?;
    let current = console.store.applied_record()?.map(|r| r.sha256);
    Ok(views::tenant(&t, &services, &machines, current.as_deref()))
}

/// Adds a tenant.
pub async fn add_tenant(console: &Console, who: &str, new: &NewTenant) -> Result<Tenant, OpError> {
    cloudgate_sp::add_tenant(
        &console.store,
        &*console.db,
        new.name.trim(),
        &new.description,
        &new.password,
    )
    .await?;
    audit(
        console,
        who,
        "tenant.added",
        "tenant added in the console",
        serde_json::json!({ "tenant": new.name.trim() }),
    )?;
    tenant(console, new.name.trim()).await
}

/// Enables or disables a tenant.
pub async fn set_enabled(
    console: &Console,
    who: &str,
    name: &str,
    enabled: bool,
) -> Result<Tenant, OpError> {
    console.db.set_enabled(name, enabled).await?;
    let (event, message) = if enabled {
        ("tenant.enabled", "tenant enabled in the console")
    } else {
        ("tenant.disabled", "tenant disabled in the console")
    };
    audit(
        console,
        who,
        event,
        message,
        serde_json::json!({ "tenant": name }),
    )?;
    tenant(console, name).await
}

/// Replaces a tenant's password.
pub async fn set_password(
    console: &Console,
    who: &str,
    name: &str,
    password: &str,
) -> Result<(), OpError> {
    cloudgate_sp::set_tenant_password(&*console.db, name, password).await?;
    audit(
        console,
        who,
        "tenant.password",
        "tenant password replaced in the console",
        serde_json::json!({ "tenant": name }),
    )
}

/// Lets a tenant reach a service.
pub async fn add_service(
    console: &Console,
    who: &str,
    tenant_name: &str,
    service: &Service,
) -> Result<Tenant, OpError> {
    cloudgate_sp::services::add_service(
        &*console.db,
        tenant_name,
        service.name.trim(),
        service.target.trim(),
    )
    .await?;
    audit(
        console,
        who,
        "service.added",
        "service added in the console",
        serde_json::json!({ "tenant": tenant_name, "service": service.name.trim(), "target": service.target.trim() }),
    )?;
    tenant(console, tenant_name).await
}

/// Removes a tenant with its services and enrolled machines.
pub async fn remove_tenant(console: &Console, who: &str, name: &str) -> Result<Tenant, OpError> {
    let gone = tenant(console, name).await?;
    console.db.remove_tenant(name).await?;
    audit(
        console,
        who,
        "tenant.removed",
        "tenant removed in the console",
        serde_json::json!({ "tenant": name }),
    )?;
    Ok(gone)
}

/// Takes a service away from a tenant.
pub async fn remove_service(
    console: &Console,
    who: &str,
    tenant_name: &str,
    service: &str,
) -> Result<Tenant, OpError> {
    console.db.remove_service(tenant_name, service).await?;
    audit(
        console,
        who,
        "service.removed",
        "service removed in the console",
        serde_json::json!({ "tenant": tenant_name, "service": service }),
    )?;
    tenant(console, tenant_name).await
}

/// Revokes an enrolled machine's client certificate (its tunnels end at the gateways' next
/// reload).
pub async fn revoke_machine(
    console: &Console,
    who: &str,
    tenant_name: &str,
    sha256: &str,
) -> Result<Tenant, OpError> {
    let normalized = cloudgate_sp::tenants::machine_sha256(sha256)?;
    console
        .db
        .revoke_client_cert(tenant_name, &normalized)
        .await?;
    audit(
        console,
        who,
        "machine.revoked",
        "enrolled machine revoked in the console",
        serde_json::json!({ "tenant": tenant_name, "sha256": normalized }),
    )?;
    tenant(console, tenant_name).await
}

/// The gateways that reported to the SP database.
pub async fn gateways(console: &Console) -> Result<Vec<Gateway>, OpError> {
    let now = OffsetDateTime::now_utc();
    Ok(console
        .db
        .gateways()
        .await?
        .iter()
        .map(|g| views::gateway(g, now))
        .collect())
}

/// Audit entries, newest first, whose event or text contains `query`: `(page, total)`.
pub fn audit_log(
    console: &Console,
    query: &str,
    offset: usize,
    limit: usize,
) -> Result<(Vec<AuditEntry>, usize), OpError> {
    let query = query.trim().to_lowercase();
    let mut all: Vec<AuditEntry> =
        cloudgate_store::audit::read_recent(console.store.layout(), AUDIT_TAIL)?
            .into_iter()
            .rev()
            .map(entry_of)
            .filter(|e| {
                query.is_empty()
                    || e.event.to_lowercase().contains(&query)
                    || e.message.to_lowercase().contains(&query)
                    || serde_json::Value::Object(e.details.clone())
                        .to_string()
                        .to_lowercase()
                        .contains(&query)
            })
            .collect();
    let total = all.len();
    let page = all
        .drain(offset.min(total)..(offset + limit).min(total))
        .collect();
    Ok((page, total))
}

fn entry_of(mut m: serde_json::Map<String, serde_json::Value>) -> AuditEntry {
    let mut take = |k: &str| match m.remove(k) {
        Some(serde_json::Value::String(s)) => s,
        Some(other) => other.to_string(),
        None => String::new(),
    };
    let time = take("time");
    let event = take("event");
    let message = take("message");
    let user = take("user");
    AuditEntry {
        time,
        event,
        message,
        user,
        details: m,
    }
}
