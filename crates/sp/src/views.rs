//! The store's and the database's records as the administration API says them
//! ([`cloudgate_proto::admin`]): one conversion for the command line's `--json` and the console.

use cloudgate_db::{ClientCertRecord, GatewayRecord, ServiceRecord, TenantRecord};
use cloudgate_pki::format_rfc3339;
use cloudgate_proto::admin::{Certificate, Gateway, GatewayState, Machine, Service, Tenant};
use cloudgate_store::StoredCertificate;
use time::OffsetDateTime;

/// A store entry.
pub fn certificate(entry: &StoredCertificate) -> Certificate {
    let info = &entry.info;
    Certificate {
        thumbprint: info.fingerprints.thumbprint(),
        sha256: info.fingerprints.sha256_hex(),
        spki_sha256: info.fingerprints.spki_pin(),
        friendly_name: entry.meta.friendly_name.clone(),
        subject: info.subject.clone(),
        issuer: info.issuer.clone(),
        serial: info.serial.clone(),
        not_before: format_rfc3339(info.not_before),
        not_after: format_rfc3339(info.not_after),
        days_left: info.days_left(OffsetDateTime::now_utc()),
        key_type: info.key_kind.to_string(),
        sans: info.sans.clone(),
        applied: entry.applied,
        source: entry.meta.source.as_str().to_string(),
        created_by: entry.meta.created_by.clone(),
        created_at: format_rfc3339(entry.meta.created_at),
        chain_length: entry.chain.len(),
        cert_path: entry.cert_path().display().to_string(),
        key_path: entry.key_path().display().to_string(),
    }
}

/// A tenant with its services, machines and join tokens; `current` is the SHA-256 of the
/// certificate in use.
pub fn tenant(
    t: &TenantRecord,
    services: &[ServiceRecord],
    machines: &[ClientCertRecord],
    join_tokens: Vec<cloudgate_proto::admin::JoinTokenInfo>,
    current: Option<&str>,
) -> Tenant {
    Tenant {
        name: t.name.clone(),
        description: t.description.clone(),
        enabled: t.enabled,
        created_at: format_rfc3339(t.created_at),
        pool: t.pool.clone(),
        failover_outside_pool: t.failover_outside_pool,
        services: services
            .iter()
            .map(|s| Service {
                name: s.name.clone(),
                target: s.target.clone(),
            })
            .collect(),
        machines: machines.iter().map(|m| machine(m, current)).collect(),
        join_tokens,
        limits: crate::core::limits::limits_view(&t.policy, time::OffsetDateTime::now_utc()),
    }
}

/// An enrolled machine.
pub fn machine(m: &ClientCertRecord, current: Option<&str>) -> Machine {
    Machine {
        sha256: m.sha256.clone(),
        label: m.label.clone(),
        enrolled_at: format_rfc3339(m.enrolled_at),
        last_seen: m.last_seen.map(format_rfc3339),
        confirmed_sha256: m.confirmed_sha256.clone(),
        confirmed_at: m.confirmed_at.map(format_rfc3339),
        confirmed_current: current.is_some() && m.confirmed_sha256.as_deref() == current,
        successor_sha256: m.successor_sha256.clone(),
    }
}

/// The state of a gateway as of `now`, by the one rule.
pub fn gateway_state(g: &GatewayRecord, now: OffsetDateTime) -> GatewayState {
    let silence = (now - g.heartbeat_at).max(time::Duration::ZERO);
    GatewayState::of(
        g.stopped_at.is_some(),
        std::time::Duration::try_from(silence).unwrap_or(std::time::Duration::MAX),
    )
}

/// A gateway as of `now`.
pub fn gateway(g: &GatewayRecord, now: OffsetDateTime) -> Gateway {
    Gateway {
        id: g.id.clone(),
        public_address: g.public_address.clone(),
        pool: g.pool.clone(),
        version: g.version.clone(),
        open_tunnels: g.open_tunnels,
        relayed_bytes: g.relayed_bytes,
        heartbeat_at: format_rfc3339(g.heartbeat_at),
        silent_secs: (now - g.heartbeat_at).whole_seconds().max(0),
        started_at: format_rfc3339(g.started_at),
        stopped_at: g.stopped_at.map(format_rfc3339),
        cert_sha256: g.cert_sha256.clone(),
        state: gateway_state(g, now),
    }
}

/// The license installed in `layout` (or the host name standing in for it).
pub fn license(
    layout: &cloudgate_store::Layout,
) -> Result<cloudgate_proto::admin::LicenseInfo, cloudgate_store::StoreError> {
    use cloudgate_store::license::{Licensee, installed};
    let license = installed(layout)?;
    let licensee = Licensee::resolve(layout)?;
    Ok(cloudgate_proto::admin::LicenseInfo {
        installed: license.is_some(),
        licensee: licensee.name().to_string(),
        licensed_to: license.as_ref().map(|l| l.licensed_to.clone()),
        expires: license
            .as_ref()
            .and_then(|l| l.expires)
            .map(|d| d.to_string()),
        expired: license
            .as_ref()
            .is_some_and(|l| l.is_expired_at(OffsetDateTime::now_utc())),
        edition: license.as_ref().and_then(|l| l.edition.clone()),
        license_id: license.as_ref().and_then(|l| l.license_id.clone()),
        path: layout.license_file().display().to_string(),
    })
}

/// An entry of the SP database's audit.
pub fn audit_entry(r: &cloudgate_db::AuditRecord) -> cloudgate_proto::admin::AuditEntry {
    let details = match serde_json::from_str(&r.entry.details) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    cloudgate_proto::admin::AuditEntry {
        seq: r.seq,
        time: r.entry.time.clone(),
        event: r.entry.event.clone(),
        message: r.entry.message.clone(),
        actor: r.entry.actor.clone(),
        hash: r.hash.clone(),
        details,
    }
}

/// Bytes in the decimal unit that reads best (`22.3 MB`), as the console and the CLI show them.
pub fn human_bytes(n: i64) -> String {
    let n = n.max(0) as f64;
    match n {
        n if n >= 1e12 => format!("{:.1} TB", n / 1e12),
        n if n >= 1e9 => format!("{:.1} GB", n / 1e9),
        n if n >= 1e6 => format!("{:.1} MB", n / 1e6),
        n if n >= 1e3 => format!("{:.1} kB", n / 1e3),
        n => format!("{n:.0} B"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(age_secs: i64, stopped: bool, now: OffsetDateTime) -> GatewayRecord {
        GatewayRecord {
            id: format!("gw-{age_secs}"),
            public_address: format!("gw-{age_secs}.example:6180"),
            pool: "default".into(),
            version: "0".into(),
            cert_sha256: "AB".into(),
            open_tunnels: 0,
            relayed_bytes: 0,
            started_at: now - time::Duration::hours(1),
            heartbeat_at: now - time::Duration::seconds(age_secs),
            stopped_at: stopped.then_some(now),
        }
    }

    /// Every reader of a gateway's state (the command line's `gateway list`, the API and the
    /// console's pages, the dashboard's count, join tokens and the addresses gateways tell
    /// tenants) goes through [`gateway_state`]: one cut-off at every heartbeat age.
    #[tokio::test]
    async fn one_cut_off_at_every_heartbeat_age_for_every_reader() {
        let dir = tempfile::tempdir().unwrap();
        let db = cloudgate_db::SqliteSpRepository::open(&dir.path().join("sp.db"))
            .await
            .unwrap();
        let now = OffsetDateTime::now_utc();
        let table = [
            (0, false, GatewayState::Up),
            (2, false, GatewayState::Up),
            (9, false, GatewayState::Up),
            (10, false, GatewayState::Up),
            (11, false, GatewayState::Down),
            (29, false, GatewayState::Down),
            (31, false, GatewayState::Down),
            (3600, false, GatewayState::Down),
            (-5, false, GatewayState::Up),
            (0, true, GatewayState::Stopped),
        ];
        for (age, stopped, expected) in table {
            let g = record(age, stopped, now);
            assert_eq!(
                gateway(&g, now).state,
                expected,
                "age {age}s stopped {stopped}"
            );
            assert_eq!(gateway_state(&g, now), expected);
        }
        // Through the database, times are kept to the second and a moment passes: the ages at
        // the cut-off itself are left to the table above.
        let away_from_the_edge = |age: &i64| (age - 10).abs() > 1;
        for (age, _, _) in table
            .iter()
            .filter(|(age, stopped, _)| !stopped && away_from_the_edge(age))
        {
            use cloudgate_db::prelude::*;
            db.heartbeat(&record(*age, false, OffsetDateTime::now_utc()))
                .await
                .unwrap();
        }
        let told = crate::join_tokens::fleet_addresses(&db, "AB").await;
        let expected: Vec<String> = table
            .iter()
            .filter(|(age, stopped, state)| {
                !stopped && *state == GatewayState::Up && away_from_the_edge(age)
            })
            .map(|(age, _, _)| format!("gw-{age}.example:6180"))
            .collect();
        let mut told_sorted = told.clone();
        told_sorted.sort();
        let mut expected_sorted = expected;
        expected_sorted.sort();
        assert_eq!(
            told_sorted, expected_sorted,
            "join tokens carry the gateways that are up"
        );
    }
}
