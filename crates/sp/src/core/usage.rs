//! What tenants used: activity for the lists, usage by period for billing. Read-only, so nothing
//! is audited here; the gateways write the counts ([`cloudgate_db::UsageRepository`]).

use std::collections::HashMap;

use cloudgate_db::UsageQuery;
use cloudgate_proto::admin::{TenantActivity, UsageRow};
use time::{Duration, OffsetDateTime};

use super::Sp;
use crate::SpError;

/// A gateway's open-tunnel counts older than this are not counted (it flushes every 5 s).
const OPEN_FRESH_FOR: Duration = Duration::seconds(15);

/// How usage is summed over time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Period {
    /// One row per hour.
    Hour,
    /// One row per day (UTC).
    #[default]
    Day,
    /// One row for the whole range.
    Total,
}

impl std::str::FromStr for Period {
    type Err = SpError;

    fn from_str(s: &str) -> Result<Self, SpError> {
        match s {
            "hour" => Ok(Period::Hour),
            "day" => Ok(Period::Day),
            "total" => Ok(Period::Total),
            other => Err(SpError::Invalid(format!(
                "{other:?} is not a period: use hour, day or total"
            ))),
        }
    }
}

/// Which usage to report.
#[derive(Clone, Debug, Default)]
pub struct UsageRequest {
    /// One tenant, or all.
    pub tenant: Option<String>,
    /// From (inclusive, rounded down to the hour); the first of the current month (UTC) when
    /// `None`, for the command line and the API alike.
    pub since: Option<OffsetDateTime>,
    /// Until (exclusive).
    pub until: Option<OffsetDateTime>,
    /// Rows per hour, day or for the whole range.
    pub per: Period,
    /// One row per machine rather than per tenant.
    pub by_machine: bool,
}

/// A time given as RFC 3339, a date (`2026-12-01`, midnight UTC) or an age before `now`
/// (`30m`, `24h`, `7d`), as every `--since`/`--until` and the API's `since`/`until` take it.
pub fn parse_when(text: &str, now: OffsetDateTime) -> Result<OffsetDateTime, String> {
    let text = text.trim();
    if let Ok(t) = OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339) {
        return Ok(t);
    }
    let date_format = time::macros::format_description!("[year]-[month]-[day]");
    if let Ok(d) = time::Date::parse(text, &date_format) {
        return Ok(d.midnight().assume_utc());
    }
    match crate::join_tokens::parse_lifetime(text) {
        Ok(age) => Ok(now - age),
        Err(_) => Err(format!(
            "{text:?} is not a time: give RFC 3339 (2026-12-01T08:00:00Z), a date (2026-12-01) or an age (30m, 24h, 7d)"
        )),
    }
}

impl Sp {
    /// Every tenant's open tunnels and last day's traffic, by tenant name (tenants that did
    /// nothing are absent).
    pub async fn activity(&self) -> Result<HashMap<String, TenantActivity>, SpError> {
        let now = OffsetDateTime::now_utc();
        let open = self
            .db
            .open_tunnel_counts(now - OPEN_FRESH_FOR, None)
            .await?;
        let used = self
            .db
            .usage(&UsageQuery {
                tenant: None,
                since: Some(now - Duration::hours(24)),
                until: None,
            })
            .await?;
        let mut out: HashMap<String, TenantActivity> = HashMap::new();
        for o in open {
            let a = out.entry(o.tenant.clone()).or_default();
            a.tenant = o.tenant;
            a.open_tunnels += o.open;
        }
        for u in used {
            let a = out.entry(u.tenant.clone()).or_default();
            a.tenant = u.tenant;
            a.bytes_24h += u.bytes_up + u.bytes_down;
        }
        Ok(out)
    }

    /// Usage by period, of one tenant or all, per tenant or per machine; oldest period first.
    pub async fn usage(&self, request: &UsageRequest) -> Result<Vec<UsageRow>, SpError> {
        if let Some(name) = &request.tenant {
            // An unknown name is an error, not an empty report (a typo must not bill zero).
            self.db.tenant(name).await?;
        }
        if let (Some(since), Some(until)) = (request.since, request.until)
            && since >= until
        {
            return Err(SpError::Invalid(
                "--since must be before --until".to_string(),
            ));
        }
        let request = UsageRequest {
            since: Some(
                request
                    .since
                    .unwrap_or_else(|| month_start(OffsetDateTime::now_utc())),
            ),
            ..request.clone()
        };
        let hours = self
            .db
            .usage(&UsageQuery {
                tenant: request.tenant.clone(),
                since: request.since,
                until: request.until,
            })
            .await?;
        Ok(sum_by_period(&hours, &request))
    }
}

/// The first second of `now`'s month, UTC.
fn month_start(now: OffsetDateTime) -> OffsetDateTime {
    now.to_offset(time::UtcOffset::UTC)
        .replace_day(1)
        .map_or(now, |d| d.replace_time(time::Time::MIDNIGHT))
}

/// The period `hour` falls in: its first second and the second after it.
fn period_of(hour: OffsetDateTime, request: &UsageRequest) -> (OffsetDateTime, OffsetDateTime) {
    match request.per {
        Period::Hour => (hour, hour + Duration::hours(1)),
        Period::Day => {
            let day = hour.replace_time(time::Time::MIDNIGHT);
            (day, day + Duration::days(1))
        }
        Period::Total => (
            request
                .since
                .map_or(OffsetDateTime::UNIX_EPOCH, cloudgate_db::usage::hour_of),
            request.until.unwrap_or(hour + Duration::hours(1)),
        ),
    }
}

/// Sums hourly rows into the request's periods, per tenant or machine, oldest first.
fn sum_by_period(hours: &[cloudgate_db::UsageCount], request: &UsageRequest) -> Vec<UsageRow> {
    let mut rows: Vec<((OffsetDateTime, String, String), UsageRow)> = Vec::new();
    let mut index: HashMap<(OffsetDateTime, String, String), usize> = HashMap::new();
    for h in hours {
        let (from, until) = period_of(h.hour, request);
        let machine = if request.by_machine {
            h.machine.clone()
        } else {
            String::new()
        };
        let key = (from, h.tenant.clone(), machine.clone());
        let i = *index.entry(key.clone()).or_insert_with(|| {
            rows.push((
                key,
                UsageRow {
                    tenant: h.tenant.clone(),
                    machine: request.by_machine.then_some(machine),
                    from: cloudgate_pki::format_rfc3339(from),
                    until: cloudgate_pki::format_rfc3339(until),
                    ..Default::default()
                },
            ));
            rows.len() - 1
        });
        let row = &mut rows[i].1;
        row.bytes_up += h.bytes_up;
        row.bytes_down += h.bytes_down;
        row.tunnels += h.tunnels;
        row.tunnel_seconds += h.tunnel_ms;
    }
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    rows.into_iter()
        .map(|(_, mut r)| {
            // Summed in milliseconds, rounded once.
            r.tunnel_seconds = (r.tunnel_seconds + 500) / 1000;
            r
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn hour(tenant: &str, machine: &str, at: OffsetDateTime, up: i64) -> cloudgate_db::UsageCount {
        cloudgate_db::UsageCount {
            tenant: tenant.into(),
            machine: machine.into(),
            hour: at,
            bytes_up: up,
            bytes_down: 1,
            tunnels: 1,
            tunnel_ms: 1_500,
        }
    }

    #[test]
    fn hours_sum_into_days_totals_and_machines() {
        let hours = [
            hour("a", "M1", datetime!(2026-12-01 10:00 UTC), 10),
            hour("a", "M2", datetime!(2026-12-01 11:00 UTC), 20),
            hour("a", "M1", datetime!(2026-12-02 00:00 UTC), 40),
            hour("b", "M3", datetime!(2026-12-01 10:00 UTC), 1),
        ];
        let days = sum_by_period(&hours, &UsageRequest::default());
        let got: Vec<_> = days
            .iter()
            .map(|r| {
                (
                    r.tenant.as_str(),
                    r.from.as_str(),
                    r.bytes_up,
                    r.tunnel_seconds,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("a", "2026-12-01T00:00:00Z", 30, 3),
                ("b", "2026-12-01T00:00:00Z", 1, 2),
                ("a", "2026-12-02T00:00:00Z", 40, 2),
            ]
        );
        let total = sum_by_period(
            &hours,
            &UsageRequest {
                per: Period::Total,
                by_machine: true,
                since: Some(datetime!(2026-12-01 00:30 UTC)),
                until: Some(datetime!(2026-12-03 00:00 UTC)),
                ..Default::default()
            },
        );
        assert_eq!(total.len(), 3, "{total:?}");
        let m1 = total
            .iter()
            .find(|r| r.machine.as_deref() == Some("M1"))
            .unwrap();
        assert_eq!((m1.bytes_up, m1.tunnels), (50, 2));
        assert_eq!(m1.from, "2026-12-01T00:00:00Z");
        assert_eq!(m1.until, "2026-12-03T00:00:00Z");
        assert!("week".parse::<Period>().is_err());
        assert_eq!(
            month_start(datetime!(2026-12-06 01:02:03 UTC)),
            datetime!(2026-12-01 00:00 UTC)
        );
    }
}
