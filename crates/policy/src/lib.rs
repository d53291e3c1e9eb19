//! What a service provider allows a tenant, and when its gateways are under maintenance: one
//! model for the SP database, the gateways that enforce it and every front end that shows or
//! changes it, with the one parser of each thing an operator types (rates, time windows,
//! networks, dates). No I/O.

pub mod cidr;
pub mod rate;
pub mod window;

use std::net::IpAddr;

use time::OffsetDateTime;

pub use cidr::Cidr;
pub use rate::Rate;
pub use window::Window;

/// Why a setting was refused; the text says what is accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// A rate.
    #[error("{input:?} is not a rate: {reason}")]
    Rate {
        /// What was given.
        input: String,
        /// What is wrong.
        reason: String,
    },
    /// A network.
    #[error("{input:?} is not a network (ADDRESS/PREFIX or one address): {reason}")]
    Cidr {
        /// What was given.
        input: String,
        /// What is wrong.
        reason: String,
    },
    /// A time window.
    #[error("{input:?} is not a time window: {reason}")]
    Window {
        /// What was given.
        input: String,
        /// What is wrong.
        reason: String,
    },
    /// A count or a date out of range.
    #[error("{0}")]
    Invalid(String),
}

/// What the SP allows one tenant. Every limit is off unless set; the default is the tenant as
/// it was before limits existed.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct TenantPolicy {
    /// Most bytes per second from the tenant to its services, over all its tunnels and
    /// machines (and, in a fleet, all gateways).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_upload: Option<Rate>,
    /// Most bytes per second from its services to the tenant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_download: Option<Rate>,
    /// When the rates apply (UTC); at all times when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit_window: Option<Window>,
    /// Most tunnels open at once, over all its machines and gateways.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tunnels: Option<u32>,
    /// Most tunnels open at once from one machine.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tunnels_per_machine: Option<u32>,
    /// When the tenant's lease ends: it is refused from then on (nothing is deleted).
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub expires_at: Option<OffsetDateTime>,
    /// Networks it may enroll and open tunnels from; from anywhere when empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allow_from: Vec<Cidr>,
}

/// Days before a lease ends at which the audit says so.
pub const LEASE_WARNINGS: [u32; 3] = [30, 7, 1];

impl TenantPolicy {
    /// Whether nothing is limited.
    pub fn is_empty(&self) -> bool {
        *self == TenantPolicy::default()
    }

    /// The stored form (empty for no limits).
    pub fn to_stored(&self) -> String {
        if self.is_empty() {
            String::new()
        } else {
            serde_json::to_string(self).unwrap_or_default()
        }
    }

    /// Reads the stored form.
    pub fn from_stored(text: &str) -> Result<Self, PolicyError> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        serde_json::from_str(text)
            .map_err(|e| PolicyError::Invalid(format!("a stored tenant policy does not read: {e}")))
    }

    /// Whether the lease has ended at `now`.
    pub fn lease_ended(&self, now: OffsetDateTime) -> bool {
        self.expires_at.is_some_and(|end| now >= end)
    }

    /// Whether `ip` may connect.
    pub fn allows(&self, ip: IpAddr) -> bool {
        cidr::allowed(&self.allow_from, ip)
    }

    /// The rates in force at `now` (upload, download): none outside the window.
    pub fn rates_at(&self, now: OffsetDateTime) -> (Option<Rate>, Option<Rate>) {
        if self.limit_window.is_some_and(|w| !w.contains(now)) {
            return (None, None);
        }
        (self.max_upload, self.max_download)
    }

    /// Whether the rates depend on the time (a window is set and a rate too).
    pub fn has_rates(&self) -> bool {
        self.max_upload.is_some() || self.max_download.is_some()
    }

    /// The lease warning due at `now` (30, 7, 1, or 0 once ended), if the lease is within a
    /// warning's reach.
    pub fn lease_warning_due(&self, now: OffsetDateTime) -> Option<u32> {
        let end = self.expires_at?;
        if now >= end {
            return Some(0);
        }
        let left = end - now;
        LEASE_WARNINGS
            .iter()
            .rev()
            .copied()
            .find(|d| left <= time::Duration::days(i64::from(*d)))
    }
}

/// Reads a lease end as an operator types it: `2027-03-31` (the end of that day, UTC),
/// `2027-03-31T12:00:00Z`, or `never` (`None`).
pub fn parse_expiry(text: &str) -> Result<Option<OffsetDateTime>, PolicyError> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("never") {
        return Ok(None);
    }
    if let Ok(at) = OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339) {
        return Ok(Some(at));
    }
    let date = time::Date::parse(t, time::macros::format_description!("[year]-[month]-[day]"))
        .map_err(|_| {
            PolicyError::Invalid(format!(
                "{t:?} is not a date: give YYYY-MM-DD (the lease ends as that day ends, UTC), an RFC 3339 time, or never"
            ))
        })?;
    let end = date
        .next_day()
        .ok_or_else(|| PolicyError::Invalid(format!("{t:?} is too far ahead")))?;
    Ok(Some(end.midnight().assume_utc()))
}

/// Where a maintenance applies.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(tag = "scope", content = "name", rename_all = "snake_case")]
pub enum MaintenanceScope {
    /// Every gateway.
    All,
    /// The gateways of one pool.
    Pool(String),
    /// One gateway, by its id.
    Gateway(String),
}

impl MaintenanceScope {
    /// The stored key: `all`, `pool:NAME`, `gateway:ID`.
    pub fn key(&self) -> String {
        match self {
            MaintenanceScope::All => "all".into(),
            MaintenanceScope::Pool(p) => format!("pool:{p}"),
            MaintenanceScope::Gateway(g) => format!("gateway:{g}"),
        }
    }

    /// Reads a stored key.
    pub fn from_key(key: &str) -> Option<Self> {
        match key.split_once(':') {
            None if key == "all" => Some(MaintenanceScope::All),
            Some(("pool", p)) => Some(MaintenanceScope::Pool(p.into())),
            Some(("gateway", g)) => Some(MaintenanceScope::Gateway(g.into())),
            _ => None,
        }
    }

    /// Whether a gateway `id` of `pool` is in it.
    pub fn covers(&self, id: &str, pool: &str) -> bool {
        match self {
            MaintenanceScope::All => true,
            MaintenanceScope::Pool(p) => p == pool,
            MaintenanceScope::Gateway(g) => g == id,
        }
    }
}

/// A maintenance the SP declared: new tunnels are refused, open ones cut at the drain deadline.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Maintenance {
    /// Where it applies.
    #[serde(flatten)]
    pub scope: MaintenanceScope,
    /// What tenants are told.
    pub message: String,
    /// When it began.
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// When open tunnels are cut (never, when unset: they finish by themselves).
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub drain_until: Option<OffsetDateTime>,
    /// When it is announced to end (tenants try again then).
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub ends_at: Option<OffsetDateTime>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_policy_is_stored_and_read_back_whole() {
        let p = TenantPolicy {
            max_upload: Some(Rate(20_000_000)),
            max_download: None,
            limit_window: Some(Window::parse("mon-fri 08:00-18:00").unwrap()),
            max_tunnels: Some(8),
            max_tunnels_per_machine: Some(2),
            expires_at: Some(datetime!(2027-01-01 00:00 UTC)),
            allow_from: Cidr::parse_list("10.0.0.0/8").unwrap(),
        };
        assert_eq!(TenantPolicy::from_stored(&p.to_stored()).unwrap(), p);
        assert_eq!(TenantPolicy::default().to_stored(), "");
        assert_eq!(
            TenantPolicy::from_stored("").unwrap(),
            TenantPolicy::default()
        );
        assert!(TenantPolicy::from_stored("{\"max_upload\": \"x\"}").is_err());
    }

    #[test]
    fn rates_hold_inside_their_window_only() {
        let p = TenantPolicy {
            max_upload: Some(Rate(20_000_000)),
            limit_window: Some(Window::parse("mon-fri 08:00-18:00").unwrap()),
            ..Default::default()
        };
        assert_eq!(
            p.rates_at(datetime!(2026-12-07 09:00 UTC)).0,
            Some(Rate(20_000_000))
        );
        assert_eq!(p.rates_at(datetime!(2026-12-06 09:00 UTC)).0, None);
    }

    #[test]
    fn lease_warnings_come_at_30_7_and_1_days_then_the_end() {
        let p = TenantPolicy {
            expires_at: Some(datetime!(2027-01-31 00:00 UTC)),
            ..Default::default()
        };
        assert_eq!(p.lease_warning_due(datetime!(2026-12-01 00:00 UTC)), None);
        assert_eq!(
            p.lease_warning_due(datetime!(2027-01-01 00:00 UTC)),
            Some(30)
        );
        assert_eq!(
            p.lease_warning_due(datetime!(2027-01-24 00:00 UTC)),
            Some(7)
        );
        assert_eq!(
            p.lease_warning_due(datetime!(2027-01-30 12:00 UTC)),
            Some(1)
        );
        assert_eq!(
            p.lease_warning_due(datetime!(2027-01-31 00:00 UTC)),
            Some(0)
        );
        assert!(p.lease_ended(datetime!(2027-01-31 00:00 UTC)));
        assert!(!p.lease_ended(datetime!(2027-01-30 23:59 UTC)));
    }

    #[test]
    fn expiry_dates_read_as_typed() {
        assert_eq!(parse_expiry("never").unwrap(), None);
        assert_eq!(
            parse_expiry("2027-03-31").unwrap(),
            Some(datetime!(2027-04-01 00:00 UTC)),
            "a date means the end of that day"
        );
        assert_eq!(
            parse_expiry("2027-03-31T12:00:00Z").unwrap(),
            Some(datetime!(2027-03-31 12:00 UTC))
        );
        assert!(parse_expiry("31/03/2027").is_err());
    }

    #[test]
    fn maintenance_scopes_cover_their_gateways() {
        for s in [
            MaintenanceScope::All,
            MaintenanceScope::Pool("eu".into()),
            MaintenanceScope::Gateway("gw-1".into()),
        ] {
            assert_eq!(MaintenanceScope::from_key(&s.key()), Some(s));
        }
        assert!(MaintenanceScope::Pool("eu".into()).covers("gw-9", "eu"));
        assert!(!MaintenanceScope::Pool("eu".into()).covers("gw-9", "us"));
        assert!(MaintenanceScope::Gateway("gw-1".into()).covers("gw-1", "us"));
    }
}
