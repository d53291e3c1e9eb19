//! Before the SP breaks its tenants: what putting a certificate into use means for the enrolled
//! machines (follow silently, follow by proof, or verify by hand), and how far they have adopted
//! the certificate in use and a staged successor. The command line, the wizard and the console
//! ask here.

use cloudgate_db::ClientCertRecord;
use cloudgate_pki::format_rfc3339;
use cloudgate_proto::admin::{CertificateStatus, KeyChange, StagedSuccessor};
use cloudgate_store::{CertStore, StoredCertificate};

use crate::SpError;

/// What tenants that pinned the certificate in use will do after a switch to another one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SwitchImpact {
    /// Nothing is in use yet, or it is the same certificate.
    Nothing,
    /// The same key: a renewal, followed without asking.
    Renewal,
    /// Staged with a rollover proof from the key in use: followed without asking.
    Staged,
    /// A new key without a proof: every enrolled machine must verify by hand.
    ManualReverify,
}

/// The impact of putting `entry` into use now.
pub fn impact(store: &CertStore, entry: &StoredCertificate) -> Result<SwitchImpact, SpError> {
    let Some(current) = store.applied()? else {
        return Ok(SwitchImpact::Nothing);
    };
    let (cur, new) = (&current.info.fingerprints, &entry.info.fingerprints);
    if cur.sha256 == new.sha256 {
        return Ok(SwitchImpact::Nothing);
    }
    if cur.spki_sha256 == new.spki_sha256 {
        return Ok(SwitchImpact::Renewal);
    }
    let staged = store.rollover_history()?.staged.is_some_and(|s| {
        s.to_sha256 == new.sha256_hex()
            && s.from_spki_sha256 == cloudgate_pki::fingerprint::upper_hex(&cur.spki_sha256)
    });
    Ok(if staged {
        SwitchImpact::Staged
    } else {
        SwitchImpact::ManualReverify
    })
}

pub use cloudgate_proto::admin::Adoption;

/// Counts adoption from the machines' last confirmations.
pub fn adoption(
    machines: &[ClientCertRecord],
    current_sha256: Option<&str>,
    successor_sha256: Option<&str>,
) -> Adoption {
    let seen = |m: &ClientCertRecord| {
        successor_sha256.is_some() && m.successor_sha256.as_deref() == successor_sha256
    };
    let mut tenants: Vec<&str> = machines.iter().map(|m| m.tenant.as_str()).collect();
    tenants.sort_unstable();
    tenants.dedup();
    let tenants_seen = tenants
        .iter()
        .filter(|t| machines.iter().filter(|m| m.tenant == **t).all(seen))
        .count();
    Adoption {
        machines: machines.len(),
        tenants: tenants.len(),
        machines_confirmed_current: machines
            .iter()
            .filter(|m| current_sha256.is_some() && m.confirmed_sha256.as_deref() == current_sha256)
            .count(),
        successor_sha256: successor_sha256.map(str::to_string),
        machines_seen_successor: machines.iter().filter(|m| seen(m)).count(),
        tenants_seen_successor: if successor_sha256.is_some() {
            tenants_seen
        } else {
            0
        },
    }
}

/// What is in use, what is staged, the key changes published to tenants, and how far the
/// enrolled `machines` followed (`sp cert status`, the console's dashboard).
pub fn status(
    store: &CertStore,
    machines: &[ClientCertRecord],
) -> Result<CertificateStatus, SpError> {
    let current = store.applied()?;
    let history = store.rollover_history()?;
    let current_sha = current.as_ref().map(|c| c.info.fingerprints.sha256_hex());
    let staged = history.staged.as_ref();
    Ok(CertificateStatus {
        days_left: current
            .as_ref()
            .map(|c| c.info.days_left(time::OffsetDateTime::now_utc())),
        current: current.as_ref().map(crate::views::certificate),
        staged: staged.map(|s| StagedSuccessor {
            thumbprint: s.to_thumbprint.clone(),
            sha256: s.to_sha256.clone(),
            switch_at: s.switch_at.map(format_rfc3339),
            staged_at: format_rfc3339(s.staged_at),
        }),
        key_changes: history
            .switches
            .iter()
            .map(|s| KeyChange {
                from_sha256: s.from_sha256.clone(),
                to_sha256: s.to_sha256.clone(),
                proof: s.proof.is_some(),
                compromised: s.compromised,
                at: format_rfc3339(s.at),
            })
            .collect(),
        adoption: adoption(
            machines,
            current_sha.as_deref(),
            staged.map(|s| s.to_sha256.as_str()),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine(tenant: &str, confirmed: Option<&str>, successor: Option<&str>) -> ClientCertRecord {
        ClientCertRecord {
            sha256: format!("{tenant}-{confirmed:?}-{successor:?}"),
            tenant: tenant.into(),
            enrolled_at: time::OffsetDateTime::UNIX_EPOCH,
            last_seen: None,
            confirmed_sha256: confirmed.map(str::to_string),
            successor_sha256: successor.map(str::to_string),
            confirmed_at: None,
            label: None,
        }
    }

    #[test]
    fn a_tenant_has_seen_the_successor_when_every_machine_has() {
        let machines = vec![
            machine("a", Some("C"), Some("N")),
            machine("a", Some("C"), None),
            machine("b", Some("C"), Some("N")),
            machine("c", Some("OLD"), None),
        ];
        let a = adoption(&machines, Some("C"), Some("N"));
        assert_eq!((a.machines, a.tenants), (4, 3));
        assert_eq!(a.machines_confirmed_current, 3);
        assert_eq!(a.machines_seen_successor, 2);
        assert_eq!(a.tenants_seen_successor, 1);
        let none = adoption(&machines, Some("C"), None);
        assert_eq!(
            (none.machines_seen_successor, none.tenants_seen_successor),
            (0, 0)
        );
    }
}
