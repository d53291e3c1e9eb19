//! What the SP allows each tenant: rates and their window, tunnel counts, the lease, the
//! networks it may connect from. One parser for what front ends pass ([`LimitsChange`], the
//! words of the command line), one audit entry per change.

use cloudgate_policy::{Cidr, Rate, TenantPolicy, Window, parse_expiry};
use cloudgate_proto::admin::{LimitsChange, Tenant, TenantLimits};
use serde_json::json;
use time::OffsetDateTime;

use super::Sp;
use crate::SpError;

/// Words that lift a limit.
const LIFTED: [&str; 6] = ["unlimited", "none", "never", "always", "any", "off"];

fn lifted(text: &str) -> bool {
    let t = text.trim();
    t.is_empty() || LIFTED.iter().any(|w| t.eq_ignore_ascii_case(w))
}

fn invalid(e: impl std::fmt::Display) -> SpError {
    SpError::Invalid(e.to_string())
}

fn count(field: &str, text: &str) -> Result<Option<u32>, SpError> {
    if lifted(text) {
        return Ok(None);
    }
    match text.trim().parse::<u32>() {
        Ok(n) if (1..=1_000_000).contains(&n) => Ok(Some(n)),
        _ => Err(SpError::Invalid(format!(
            "{field}: {text:?} is not a count from 1 to 1000000 (or unlimited)"
        ))),
    }
}

/// `policy` with `change` applied; refuses what does not parse, naming the field.
pub fn apply_change(
    mut policy: TenantPolicy,
    change: &LimitsChange,
) -> Result<TenantPolicy, SpError> {
    let rate = |field: &str, text: &str| -> Result<Option<Rate>, SpError> {
        if lifted(text) {
            Ok(None)
        } else {
            Rate::parse(text)
                .map(Some)
                .map_err(|e| invalid(format!("{field}: {e}")))
        }
    };
    if let Some(t) = &change.max_upload {
        policy.max_upload = rate("max upload", t)?;
    }
    if let Some(t) = &change.max_download {
        policy.max_download = rate("max download", t)?;
    }
    if let Some(t) = &change.limit_window {
        policy.limit_window = if lifted(t) {
            None
        } else {
            Some(Window::parse(t).map_err(invalid)?)
        };
    }
    if let Some(t) = &change.max_tunnels {
        policy.max_tunnels = count("max tunnels", t)?;
    }
    if let Some(t) = &change.max_tunnels_per_machine {
        policy.max_tunnels_per_machine = count("max tunnels per machine", t)?;
    }
    if let Some(t) = &change.expires {
        // A date in the past is allowed: it ends a lease now (nothing is deleted).
        policy.expires_at = if lifted(t) {
            None
        } else {
            parse_expiry(t).map_err(invalid)?
        };
    }
    if let Some(t) = &change.allow_from {
        policy.allow_from = if lifted(t) {
            Vec::new()
        } else {
            Cidr::parse_list(t).map_err(invalid)?
        };
    }
    if policy.limit_window.is_some() && !policy.has_rates() {
        return Err(SpError::Invalid(
            "a limit window says when the rates apply: set --max-upload or --max-download too, or lift the window (always)".into(),
        ));
    }
    Ok(policy)
}

/// A tenant's limits as shown.
pub fn limits_view(p: &TenantPolicy, now: OffsetDateTime) -> TenantLimits {
    TenantLimits {
        max_upload: p.max_upload.map(|r| r.to_string()),
        max_upload_bytes_per_sec: p.max_upload.map(Rate::bytes_per_sec),
        max_download: p.max_download.map(|r| r.to_string()),
        max_download_bytes_per_sec: p.max_download.map(Rate::bytes_per_sec),
        limit_window: p.limit_window.map(|w| w.to_string()),
        max_tunnels: p.max_tunnels,
        max_tunnels_per_machine: p.max_tunnels_per_machine,
        expires_at: p.expires_at.map(cloudgate_pki::format_rfc3339),
        lease_ended: p.lease_ended(now),
        allow_from: p.allow_from.iter().map(|c| c.to_string()).collect(),
    }
}

/// What changed, for the audit entry: each field given, as it is now.
fn changed_fields(change: &LimitsChange, now: &TenantLimits) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    let mut put = |given: &Option<String>, key: &str, value: serde_json::Value| {
        if given.is_some() {
            out.insert(key.into(), value);
        }
    };
    let or_unlimited = |v: Option<String>| v.map_or(json!("unlimited"), |v| json!(v));
    put(
        &change.max_upload,
        "max_upload",
        or_unlimited(now.max_upload.clone()),
    );
    put(
        &change.max_download,
        "max_download",
        or_unlimited(now.max_download.clone()),
    );
    put(
        &change.limit_window,
        "limit_window",
        now.limit_window
            .clone()
            .map_or(json!("always"), |w| json!(w)),
    );
    put(
        &change.max_tunnels,
        "max_tunnels",
        now.max_tunnels.map_or(json!("unlimited"), |n| json!(n)),
    );
    put(
        &change.max_tunnels_per_machine,
        "max_tunnels_per_machine",
        now.max_tunnels_per_machine
            .map_or(json!("unlimited"), |n| json!(n)),
    );
    put(
        &change.expires,
        "expires_at",
        now.expires_at.clone().map_or(json!("never"), |e| json!(e)),
    );
    put(
        &change.allow_from,
        "allow_from",
        if now.allow_from.is_empty() {
            json!("any")
        } else {
            json!(now.allow_from)
        },
    );
    serde_json::Value::Object(out)
}

impl Sp {
    /// Checks a change of limits without making it (front ends refuse before they ask more).
    pub fn check_limits(&self, change: &LimitsChange) -> Result<(), SpError> {
        apply_change(TenantPolicy::default(), change).map(drop)
    }

    /// Changes what the SP allows a tenant; the gateways apply it at their next reload (open
    /// tunnels included: a lease ended or an address no longer allowed cuts them).
    pub async fn set_limits(&self, name: &str, change: &LimitsChange) -> Result<Tenant, SpError> {
        let outcome = async {
            if change.is_empty() {
                return Err(SpError::Invalid(
                    "nothing to set: give a limit (--max-upload, --max-download, --limit-window, --max-tunnels, --max-tunnels-per-machine, --expires, --allow-from)".into(),
                ));
            }
            let now = OffsetDateTime::now_utc();
            let old = self.db.tenant(name).await?;
            let policy = apply_change(old.policy.clone(), change)?;
            self.db.set_policy(name, &policy).await?;
            let view = limits_view(&policy, now);
            let mut details = json!({ "tenant": name });
            if let (Some(d), serde_json::Value::Object(c)) =
                (details.as_object_mut(), changed_fields(change, &view))
            {
                d.extend(c);
            }
            let message = if change.expires.is_some()
                && old.policy.lease_ended(now)
                && !policy.lease_ended(now)
            {
                "tenant's limits changed; its lease is extended and service restored"
            } else {
                "tenant's limits changed"
            };
            self.audit("tenant.limits", message, details);
            self.tenant(name).await
        };
        self.done(outcome.await).await
    }

    /// Sets the limits of a tenant just added, in the same operation as its addition (the
    /// caller audits once).
    pub(super) async fn limit_new_tenant(
        &self,
        name: &str,
        change: &LimitsChange,
    ) -> Result<Option<serde_json::Value>, SpError> {
        if change.is_empty() {
            return Ok(None);
        }
        let now = OffsetDateTime::now_utc();
        let policy = apply_change(TenantPolicy::default(), change)?;
        self.db.set_policy(name, &policy).await?;
        Ok(Some(changed_fields(change, &limits_view(&policy, now))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(f: impl FnOnce(&mut LimitsChange)) -> LimitsChange {
        let mut c = LimitsChange::default();
        f(&mut c);
        c
    }

    #[test]
    fn a_change_sets_and_lifts_each_limit() {
        let p = apply_change(
            TenantPolicy::default(),
            &change(|c| {
                c.max_upload = Some("20MB/s".into());
                c.limit_window = Some("mon-fri 08:00-18:00".into());
                c.max_tunnels = Some("8".into());
                c.expires = Some("2099-01-01".into());
                c.allow_from = Some("10.0.0.0/8, 192.0.2.7".into());
            }),
        )
        .unwrap();
        assert_eq!(p.max_upload, Some(Rate(20_000_000)));
        assert_eq!(p.max_tunnels, Some(8));
        assert_eq!(p.allow_from.len(), 2);
        let lifted = apply_change(
            p.clone(),
            &change(|c| {
                c.max_tunnels = Some("unlimited".into());
                c.expires = Some("never".into());
                c.allow_from = Some("any".into());
            }),
        )
        .unwrap();
        assert_eq!((lifted.max_tunnels, lifted.expires_at), (None, None));
        assert!(lifted.allow_from.is_empty());
        assert_eq!(
            lifted.max_upload, p.max_upload,
            "what was not given is kept"
        );
    }

    #[test]
    fn bad_values_name_their_field() {
        for (c, says) in [
            (change(|c| c.max_upload = Some("fast".into())), "max upload"),
            (change(|c| c.max_tunnels = Some("0".into())), "max tunnels"),
            (
                change(|c| c.max_tunnels_per_machine = Some("-1".into())),
                "per machine",
            ),
            (change(|c| c.expires = Some("soon".into())), "not a date"),
            (
                change(|c| c.allow_from = Some("10.0.0.1/8".into())),
                "did you mean",
            ),
            (
                change(|c| c.limit_window = Some("mon-fri 08:00-18:00".into())),
                "set --max-upload",
            ),
        ] {
            let e = apply_change(TenantPolicy::default(), &c)
                .unwrap_err()
                .to_string();
            assert!(e.contains(says), "{e}");
        }
    }
}
