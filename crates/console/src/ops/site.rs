//! The SP as a whole: its gateways and public address, the fleet, the license and the audit.

use cloudgate_db::AuditQuery;
use cloudgate_proto::admin::{AuditEntry, FleetStatus, Gateway, LicenseInfo, PublicAddress};

use super::{OpError, as_admin};
use crate::Console;

/// The gateways that reported to the SP database.
pub async fn gateways(console: &Console) -> Result<Vec<Gateway>, OpError> {
    console.sp.gateways().await
}

/// Audit entries of the SP database (every gateway's and front end's), newest first, whose
/// event, actor or text contains `query`: `(page, total)`.
pub async fn audit_log(
    console: &Console,
    query: &str,
    offset: usize,
    limit: usize,
) -> Result<(Vec<AuditEntry>, usize), OpError> {
    let query = query.trim();
    let (records, total) = console
        .sp
        .audit_entries(&AuditQuery {
            text: (!query.is_empty()).then(|| query.to_string()),
            offset: i64::try_from(offset).unwrap_or(i64::MAX),
            limit: i64::try_from(limit).unwrap_or(i64::MAX),
            ..AuditQuery::default()
        })
        .await?;
    Ok((
        records
            .iter()
            .map(cloudgate_sp::views::audit_entry)
            .collect(),
        usize::try_from(total).unwrap_or(0),
    ))
}

/// Forgets a gateway that is gone for good (one that runs again records itself again).
pub async fn forget_gateway(console: &Console, who: &str, id: &str) -> Result<(), OpError> {
    as_admin(console, who).forget_gateway(id).await
}

/// Where tenants reach the gateway.
pub fn public_address(console: &Console) -> Result<PublicAddress, OpError> {
    console.sp.public_address()
}

/// Sets where tenants reach the gateway.
pub async fn set_public_address(
    console: &Console,
    who: &str,
    address: &str,
) -> Result<PublicAddress, OpError> {
    as_admin(console, who).set_public_address(address).await
}

/// The fleet key here and the certificate published to the gateways.
pub async fn fleet_status(console: &Console) -> Result<FleetStatus, OpError> {
    console.sp.fleet_status(false).await
}

/// Publishes the certificate in use to the fleet now.
pub async fn fleet_publish(console: &Console, who: &str) -> Result<FleetStatus, OpError> {
    as_admin(console, who).fleet_publish().await
}

/// The installed license.
pub fn license(console: &Console) -> Result<LicenseInfo, OpError> {
    console.sp.license()
}

/// Installs a license from its TOML text, as `sp license install` does.
pub async fn install_license(
    console: &Console,
    who: &str,
    toml: &str,
) -> Result<LicenseInfo, OpError> {
    as_admin(console, who)
        .install_license(toml, "(uploaded license)")
        .await
}
