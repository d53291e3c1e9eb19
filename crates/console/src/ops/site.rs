//! The SP as a whole: its gateways and public address, the fleet, the license and the audit log.

use cloudgate_gateway::public_address;
use cloudgate_proto::admin::{AuditEntry, FleetStatus, Gateway, LicenseInfo, PublicAddress};
use cloudgate_sp::views;
use cloudgate_store::license::License;
use time::OffsetDateTime;

use super::{OpError, audit};
use crate::Console;

/// Bytes of the audit log the console reads back.
const AUDIT_TAIL: u64 = 4 * 1024 * 1024;

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

/// Forgets a gateway that is gone for good (one that runs again records itself again).
pub async fn forget_gateway(console: &Console, who: &str, id: &str) -> Result<(), OpError> {
    if !console.db.remove_gateway(id).await? {
        return Err(OpError::NotFound(format!(
            "no gateway {id:?} is recorded; the gateways page lists them"
        )));
    }
    audit(
        console,
        who,
        "gateway.forgotten",
        "gateway forgotten in the console",
        serde_json::json!({ "gateway": id }),
    )
}

/// Where tenants reach the gateway.
pub fn public_address(console: &Console) -> Result<PublicAddress, OpError> {
    let layout = console.store.layout();
    let (address, configured) = public_address::effective(layout)?;
    Ok(PublicAddress {
        public_address: address,
        source: if configured {
            "configured"
        } else {
            "host name"
        }
        .to_string(),
        config: layout.gateway_config().display().to_string(),
    })
}

/// Sets where tenants reach the gateway (`public_address` in `gateway.toml`); new join tokens
/// and the instructions for tenants use it.
pub fn set_public_address(
    console: &Console,
    who: &str,
    address: &str,
) -> Result<PublicAddress, OpError> {
    let parsed = public_address::parse(address)
        .map_err(|e| OpError::Invalid(format!("public address {address:?}: {e}")))?;
    public_address::save(console.store.layout(), console.store.ownership(), &parsed)?;
    audit(
        console,
        who,
        "gateway.address",
        "public address set in the console",
        serde_json::json!({ "public_address": public_address::shown(&parsed) }),
    )?;
    self::public_address(console)
}

/// The fleet key here and the certificate published to the gateways.
pub async fn fleet_status(console: &Console) -> Result<FleetStatus, OpError> {
    Ok(cloudgate_sp::fleet::status(&console.store, &*console.db, false).await?)
}

/// Publishes the certificate in use to the fleet now.
pub async fn fleet_publish(console: &Console, who: &str) -> Result<FleetStatus, OpError> {
    if console.fleet_keys.is_empty() {
        return Err(OpError::Invalid(
            "this console serves no fleet: it runs on one host's database, or without the fleet key (`cloudgate sp fleet init`)".into(),
        ));
    }
    if console.store.applied_record()?.is_none() {
        return Err(cloudgate_sp::SpError::NoCertificate.into());
    }
    let published = super::publish(console).await?;
    if published {
        audit(
            console,
            who,
            "fleet.published",
            "certificate published to the fleet in the console",
            serde_json::json!({}),
        )?;
    }
    Ok(cloudgate_sp::fleet::status(&console.store, &*console.db, published).await?)
}

/// The installed license.
pub fn license(console: &Console) -> Result<LicenseInfo, OpError> {
    Ok(views::license(console.store.layout())?)
}

/// Installs a license from its TOML text, as `sp license install` does.
pub fn install_license(console: &Console, who: &str, toml: &str) -> Result<LicenseInfo, OpError> {
    let license = License::parse(toml.as_bytes(), std::path::Path::new("(uploaded license)"))
        .map_err(|e| OpError::Invalid(e.to_string()))?;
    if license.is_expired_at(OffsetDateTime::now_utc()) {
        return Err(OpError::Invalid(format!(
            "the license expired on {}; install a current one",
            license.expires.map(|d| d.to_string()).unwrap_or_default()
        )));
    }
    cloudgate_store::license::install(
        console.store.layout(),
        console.store.ownership(),
        &license,
        Some(who),
    )?;
    self::license(console)
}
