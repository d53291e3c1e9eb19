//! What tenants used, as the gateways counted it: bytes each way, tunnels opened and the time
//! they were open, per tenant, machine and hour; and the tunnels each gateway has open now.
//! Gateways add their counts in batches ([`crate::UsageRepository::record_usage`]), never a
//! write per byte or per tunnel.

use time::OffsetDateTime;

/// What one gateway counted for one machine of a tenant in one hour since its last flush; also
/// a stored row, summed over the gateways.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageCount {
    /// The tenant.
    pub tenant: String,
    /// SHA-256 of the machine's client certificate.
    pub machine: String,
    /// The hour, as its first second (UTC).
    pub hour: OffsetDateTime,
    /// Bytes from the tenant to the SP's services.
    pub bytes_up: i64,
    /// Bytes from the services to the tenant.
    pub bytes_down: i64,
    /// Tunnels opened.
    pub tunnels: i64,
    /// Milliseconds tunnels were open, summed over the tunnels.
    pub tunnel_ms: i64,
}

/// Tunnels a machine of a tenant has open through one gateway (or through all, summed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenTunnelCount {
    /// The tenant.
    pub tenant: String,
    /// SHA-256 of the machine's client certificate.
    pub machine: String,
    /// Tunnels open.
    pub open: i64,
}

/// Which usage to read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UsageQuery {
    /// One tenant, or all.
    pub tenant: Option<String>,
    /// Hours starting at or after this.
    pub since: Option<OffsetDateTime>,
    /// Hours starting before this.
    pub until: Option<OffsetDateTime>,
}

/// The first second of `t`'s hour, in UTC.
pub fn hour_of(t: OffsetDateTime) -> OffsetDateTime {
    let t = t.to_offset(time::UtcOffset::UTC);
    t.replace_time(time::Time::from_hms(t.hour(), 0, 0).unwrap_or(time::Time::MIDNIGHT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_hour_starts_at_its_first_second_in_utc() {
        let t = time::macros::datetime!(2026-12-06 03:59:59.9 +02:00);
        assert_eq!(hour_of(t), time::macros::datetime!(2026-12-06 01:00:00 UTC));
    }
}
