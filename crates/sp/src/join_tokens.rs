//! Join tokens: one string that carries the SP's addresses, its key pins and a one-time
//! credential for one tenant. Created, listed and revoked here for the command line and the
//! console alike; the secret is shown once and only its SHA-256 is kept.

use std::time::Duration;

use cloudgate_db::JoinTokenRecord;
use cloudgate_db::prelude::*;
use cloudgate_pki::join_token::JoinToken;
use cloudgate_proto::admin::{CreatedJoinToken, GatewayState, JoinTokenInfo};
use cloudgate_store::CertStore;
use time::OffsetDateTime;

use crate::SpError;

/// How long a token lasts when nobody says.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// The longest a token (join or API) may last.
pub const MAX_LIFETIME: Duration = Duration::from_secs(365 * 86_400);
/// Longest label.
pub const MAX_LABEL: usize = 128;

/// Reads `24h`, `30m`, `7d`, `3600s` or a bare number of seconds, from 1 second to 365 days.
pub fn parse_lifetime(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration such as 30m, 24h or 7d"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        "d" => n.saturating_mul(86_400),
        _ => return Err(format!("{s:?}: the unit must be s, m, h or d")),
    };
    if secs == 0 || secs > MAX_LIFETIME.as_secs() {
        return Err(format!("{s:?}: a token lasts from 1 second to 365 days"));
    }
    Ok(Duration::from_secs(secs))
}

/// `valid`, `used`, `expired` or `revoked`.
pub fn state(t: &JoinTokenRecord, now: OffsetDateTime) -> &'static str {
    if t.revoked_at.is_some() {
        "revoked"
    } else if t.expires_at <= now {
        "expired"
    } else if t.uses_left <= 0 {
        "used"
    } else {
        "valid"
    }
}

/// A stored token as the API and lists say it.
pub fn info(t: &JoinTokenRecord, now: OffsetDateTime) -> JoinTokenInfo {
    JoinTokenInfo {
        id: t.id.clone(),
        tenant: t.tenant.clone(),
        label: t.label.clone(),
        created_by: t.created_by.clone(),
        created_at: cloudgate_pki::format_rfc3339(t.created_at),
        expires_at: cloudgate_pki::format_rfc3339(t.expires_at),
        uses_left: t.uses_left,
        revoked_at: t.revoked_at.map(cloudgate_pki::format_rfc3339),
        state: state(t, now).to_string(),
    }
}

/// The tokens of one tenant, or of all.
pub async fn list(
    db: &dyn SpRepository,
    tenant: Option<&str>,
) -> Result<Vec<JoinTokenInfo>, SpError> {
    let now = OffsetDateTime::now_utc();
    Ok(db
        .join_tokens(tenant)
        .await?
        .iter()
        .map(|t| info(t, now))
        .collect())
}

/// The pins a new token carries: the key in use, and a staged successor's.
pub fn pins(store: &CertStore) -> Result<Vec<[u8; 32]>, SpError> {
    let current = store.applied()?.ok_or_else(|| {
        SpError::Invalid("no certificate is in use: a join token pins the gateway's key, so apply one first (`cloudgate sp cert generate --apply`)".into())
    })?;
    let mut pins = vec![current.info.fingerprints.spki_sha256];
    if let Some(staged) = store.rollover_history()?.staged
        && let Ok(next) = store.find(&staged.to_sha256)
        && !pins.contains(&next.info.fingerprints.spki_sha256)
    {
        pins.push(next.info.fingerprints.spki_sha256);
    }
    Ok(pins)
}

/// What a new token is for.
#[derive(Debug)]
pub struct TokenRequest<'a> {
    /// The tenant it enrolls (must exist).
    pub tenant: &'a str,
    /// How long it works.
    pub lifetime: Duration,
    /// Enrollments it may make.
    pub uses: u32,
    /// A note for the SP.
    pub label: &'a str,
    /// `HOST:PORT` addresses the tenant tries, already resolved (at least one).
    pub addresses: Vec<String>,
    /// Who creates it, for the record.
    pub created_by: &'a str,
}

/// Creates a token and records it (its secret's SHA-256 only); the audit entry is the
/// caller's, which knows who asked.
pub async fn create(
    store: &CertStore,
    db: &dyn SpRepository,
    request: TokenRequest<'_>,
) -> Result<CreatedJoinToken, SpError> {
    db.tenant(request.tenant).await?;
    if request.label.chars().any(char::is_control) || request.label.chars().count() > MAX_LABEL {
        return Err(SpError::Invalid(format!(
            "the label (--label) must be at most {MAX_LABEL} characters, without control characters"
        )));
    }
    if request.uses == 0 {
        return Err(SpError::Invalid("a token must allow at least 1 use".into()));
    }
    if request.lifetime.is_zero() || request.lifetime > MAX_LIFETIME {
        return Err(SpError::Invalid(
            "a token lasts from 1 second to 365 days".into(),
        ));
    }
    let mut addresses = Vec::with_capacity(request.addresses.len());
    for a in &request.addresses {
        let hp = cloudgate_addr::HostPort::parse(a, Some(cloudgate_addr::GATEWAY_PORT))
            .map_err(|e| SpError::Invalid(format!("address {a:?}: {e}")))?;
        addresses.push(hp.to_string());
    }
    let pins = pins(store)?;
    // The fleet's gateways that serve the certificate in use come after the given addresses,
    // so a tenant can join while the first is down. A token only ever completes a handshake
    // with a gateway that presents one of its pins, wherever an address leads.
    if let Some(current) = store.applied()? {
        for told in fleet_addresses(db, &current.info.fingerprints.sha256_hex()).await {
            if addresses.len() >= MAX_TOKEN_ADDRESSES {
                break;
            }
            if !addresses.contains(&told) {
                addresses.push(told);
            }
        }
    }
    let token =
        JoinToken::new(pins, addresses.clone()).map_err(|e| SpError::Invalid(e.to_string()))?;
    let now = OffsetDateTime::now_utc();
    let record = JoinTokenRecord {
        id: token.id_hex(),
        tenant: request.tenant.to_string(),
        secret_sha256: token.secret_sha256_hex(),
        label: request.label.to_string(),
        created_by: request.created_by.to_string(),
        created_at: now,
        expires_at: now + request.lifetime,
        uses_left: i64::from(request.uses),
        revoked_at: None,
    };
    db.add_join_token(&record).await?;
    Ok(CreatedJoinToken {
        token: token.encode().to_string(),
        info: info(&record, now),
        uses: request.uses,
        addresses,
        pins: token
            .pins
            .iter()
            .map(|p| cloudgate_pki::fingerprint::upper_hex(p))
            .collect(),
    })
}

/// Most addresses a token carries.
pub const MAX_TOKEN_ADDRESSES: usize = 8;

/// The public addresses of the live gateways that serve the certificate `serving_sha256`;
/// nothing when the database cannot say (a token then carries the given addresses only).
pub async fn fleet_addresses(db: &dyn SpRepository, serving_sha256: &str) -> Vec<String> {
    let now = OffsetDateTime::now_utc();
    let Ok(gateways) = db.gateways().await else {
        return Vec::new();
    };
    let mut addresses: Vec<String> = gateways
        .iter()
        .filter(|g| {
            crate::views::gateway_state(g, now) == GatewayState::Up && !g.public_address.is_empty()
        })
        .filter(|g| g.cert_sha256.eq_ignore_ascii_case(serving_sha256))
        .filter_map(|g| {
            cloudgate_addr::HostPort::parse(&g.public_address, Some(cloudgate_addr::GATEWAY_PORT))
                .ok()
                .map(|hp| hp.to_string())
        })
        .collect();
    addresses.sort();
    addresses.dedup();
    addresses
}

/// Revokes every token still usable that was created before `when`: what a compromise of the
/// key they pin leaves behind (a thief with the key could complete their handshake, learn the
/// secret and enroll his own machine). The caller audits the list.
pub async fn revoke_issued_before(
    db: &dyn SpRepository,
    when: OffsetDateTime,
) -> Result<Vec<JoinTokenInfo>, SpError> {
    let now = OffsetDateTime::now_utc();
    let mut revoked = Vec::new();
    for t in db.join_tokens(None).await? {
        if t.created_at <= when && state(&t, now) == "valid" {
            revoked.push(info(&db.revoke_join_token(&t.id).await?, now));
        }
    }
    Ok(revoked)
}

/// Revokes a token by its id.
pub async fn revoke(db: &dyn SpRepository, id: &str) -> Result<JoinTokenInfo, SpError> {
    let revoked = db.revoke_join_token(id).await?;
    Ok(info(&revoked, OffsetDateTime::now_utc()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_are_read_with_their_unit_and_bounded() {
        assert_eq!(parse_lifetime("30m").unwrap().as_secs(), 1800);
        assert_eq!(parse_lifetime("24h").unwrap().as_secs(), 86_400);
        assert_eq!(parse_lifetime("7d").unwrap().as_secs(), 7 * 86_400);
        assert_eq!(parse_lifetime("90").unwrap().as_secs(), 90);
        assert!(parse_lifetime("0").is_err());
        assert!(parse_lifetime("366d").is_err());
        assert!(parse_lifetime("1w").is_err());
        assert!(parse_lifetime("soon").is_err());
    }
}
