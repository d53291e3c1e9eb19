//! Certificates from a CA over ACME (RFC 8555), through the maintained `instant-acme` client:
//! the account and its key kept in the store with the store's permissions, a CSR for a key
//! cloudgate made (or, on renewal, the key in use, so that tenants who pinned it notice
//! nothing), HTTP-01 answered by a responder of our own or DNS-01 through the SP's hook, and the
//! issued certificate with its chain saved as a store entry of source `acme`.
//!
//! How a certificate was issued is kept ([`AcmeSettings`], `store/acme/settings.json`) so that
//! a renewal asks the same CA for the same names the same way.

mod account;
mod client;
mod error;
mod renewal;
mod responders;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use cloudgate_pki::KeyType;
use cloudgate_store::fsio::{self, FileSpec};
use cloudgate_store::{CertStore, NewEntry, Source, StoredCertificate};
use instant_acme::{
    Account, AuthorizationStatus, ChallengeType, Identifier, NewOrder, OrderStatus, RetryPolicy,
};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

pub use account::{revoke, rotate_account_key};
pub use error::AcmeError;
pub use renewal::{Renewal, renew, settings};
pub use responders::{Http01, dns_hook};

use crate::SpError;
use account::{account_with, with_wait};
use client::RetryAfter;
use error::{from_acme, from_problem, is_transient};

/// How many times an order is tried when the CA fails it for a passing reason (a rejected
/// nonce, a dropped connection).
const ORDER_ATTEMPTS: u32 = 3;
/// How long the CA may take to validate every name.
const VALIDATION_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the CA may take to sign once asked.
const ISSUANCE_TIMEOUT: Duration = Duration::from_secs(90);

/// How the CA checks that the SP holds the names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ChallengeMethod {
    /// HTTP-01: the CA fetches a token over HTTP on port 80 of each name, which reaches this
    /// address (directly, or through a proxy or a port forward).
    Http01 {
        /// Where the responder listens.
        listen: SocketAddr,
    },
    /// DNS-01: the hook puts a TXT record in place and takes it away.
    DnsHook {
        /// The hook command (run as `COMMAND add|remove RECORD VALUE`, no shell).
        command: PathBuf,
    },
}

/// How an ACME certificate is issued: which CA, for which names, how the CA checks them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcmeSettings {
    /// The CA's directory URL.
    pub directory: String,
    /// A file holding the CA certificate that the directory's HTTPS certificate chains to,
    /// for a private CA (step-ca, Pebble); the system's roots otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directory_ca: Option<PathBuf>,
    /// The account's contact address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The DNS names, the first also the common name.
    pub domains: Vec<String>,
    /// How the CA checks the names.
    pub challenge: ChallengeMethod,
}

/// An external account binding (RFC 8555 §7.3.4), for a CA that ties ACME accounts to
/// accounts of its own: the key id and the HMAC key it gave. Used once, when the account is
/// created; never kept.
pub struct ExternalAccount {
    /// The key id.
    pub kid: String,
    /// The HMAC key, raw bytes.
    pub hmac_key: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for ExternalAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExternalAccount")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// Which key the certificate is for.
#[derive(Clone, Copy, Debug)]
pub enum KeyChoice<'a> {
    /// A new key of this type.
    New(KeyType),
    /// This key (PKCS#8 DER): a renewal tenants who pinned the key accept without asking.
    Same(&'a [u8]),
}

impl AcmeSettings {
    /// Checks what can be checked before asking the CA.
    pub fn check(&self) -> Result<(), SpError> {
        let bad = |m: String| Err(SpError::Invalid(m));
        if !self.directory.starts_with("https://") {
            return bad(format!(
                "--directory {:?}: an ACME directory is an https:// URL",
                self.directory
            ));
        }
        if self.domains.is_empty() {
            return bad("name at least one --domain".into());
        }
        for d in &self.domains {
            let name = d.strip_prefix("*.").unwrap_or(d);
            let ok = !name.is_empty()
                && name.len() <= 253
                && name.split('.').all(|label| {
                    !label.is_empty()
                        && label.len() <= 63
                        && !label.starts_with('-')
                        && !label.ends_with('-')
                        && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                });
            if !ok {
                return bad(format!(
                    "--domain {d:?} is not a DNS name (letters, digits and '-' in dot-separated labels; '*.' first for a wildcard)"
                ));
            }
            if d.starts_with("*.") && matches!(self.challenge, ChallengeMethod::Http01 { .. }) {
                return bad(format!(
                    "--domain {d:?}: a CA validates a wildcard name by DNS only; use --dns-hook"
                ));
            }
        }
        if let Some(e) = &self.email {
            let parts: Vec<&str> = e.split('@').collect();
            if parts.len() != 2
                || parts.iter().any(|p| p.is_empty())
                || e.chars().any(|c| c.is_whitespace() || c.is_control())
            {
                return bad(format!("--email {e:?} is not an e-mail address"));
            }
        }
        Ok(())
    }

    /// The settings the last ACME certificate was issued with, if one was.
    pub fn load(store: &CertStore) -> Result<Option<Self>, SpError> {
        let path = store.layout().acme_settings();
        if !path.exists() {
            return Ok(None);
        }
        let bytes = fsio::read_file(&path)?;
        serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            SpError::Invalid(format!(
                "{} is damaged ({e}); issue again with `cloudgate sp cert acme issue`",
                path.display()
            ))
        })
    }

    fn save(&self, store: &CertStore) -> Result<(), SpError> {
        store.acme_dir()?;
        let json = serde_json::to_vec_pretty(self)
            .map_err(|e| SpError::Invalid(format!("the ACME settings cannot be written: {e}")))?;
        fsio::replace_file(
            &store.layout().acme_settings(),
            &json,
            FileSpec::store(store.ownership()),
        )?;
        Ok(())
    }
}

/// Why an order attempt failed: for a passing reason (try again) or not.
enum Failure {
    Transient(instant_acme::Error),
    Final(SpError),
}

impl From<SpError> for Failure {
    fn from(e: SpError) -> Self {
        Failure::Final(e)
    }
}

impl From<AcmeError> for Failure {
    fn from(e: AcmeError) -> Self {
        Failure::Final(SpError::Acme(e))
    }
}

/// An `instant_acme` failure during an order; about `identifier`, or the order's names when
/// no one name is known.
fn failure(e: instant_acme::Error, settings: &AcmeSettings, identifier: &str) -> Failure {
    if is_transient(&e) {
        return Failure::Transient(e);
    }
    let names = settings.domains.join(", ");
    let about = if identifier.is_empty() {
        names.as_str()
    } else {
        identifier
    };
    Failure::Final(SpError::Acme(from_acme(e, &settings.directory, about)))
}

/// Issues a certificate for `settings`' names and saves it in the store as an entry of source
/// `acme` named `friendly_name`, with its chain; the settings are kept for its renewals.
/// `progress` is told each step.
pub async fn issue(
    store: &CertStore,
    settings: &AcmeSettings,
    key: KeyChoice<'_>,
    friendly_name: String,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<StoredCertificate, SpError> {
    issue_bound(store, settings, key, friendly_name, None, progress).await
}

/// [`issue`], binding the account to `external` if it has to be created.
pub async fn issue_bound(
    store: &CertStore,
    settings: &AcmeSettings,
    key: KeyChoice<'_>,
    friendly_name: String,
    external: Option<&ExternalAccount>,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<StoredCertificate, SpError> {
    let retry_after = RetryAfter::default();
    issue_watched(
        store,
        settings,
        key,
        friendly_name,
        external,
        progress,
        &retry_after,
    )
    .await
    .map_err(|e| with_wait(e, &retry_after))
}

/// [`issue_bound`], the CA's `Retry-After` going to `retry_after`.
async fn issue_watched(
    store: &CertStore,
    settings: &AcmeSettings,
    key: KeyChoice<'_>,
    friendly_name: String,
    external: Option<&ExternalAccount>,
    progress: &(dyn Fn(&str) + Sync),
    retry_after: &RetryAfter,
) -> Result<StoredCertificate, SpError> {
    settings.check()?;
    let (key_type, same) = match key {
        KeyChoice::New(t) => (t, None),
        KeyChoice::Same(der) => (KeyType::EcdsaP256, Some(der)),
    };
    let request = cloudgate_pki::csr::signing_request(&settings.domains, key_type, same)?;
    progress("account");
    let account = account_with(store, settings, external, retry_after).await?;
    let mut attempt = 1;
    let chain_pem = loop {
        match order(&account, settings, &request.csr_der, progress).await {
            Ok(pem) => break pem,
            Err(Failure::Transient(e)) if attempt < ORDER_ATTEMPTS => {
                progress(&format!(
                    "the CA failed the order for a passing reason ({e}); again"
                ));
                attempt += 1;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(Failure::Transient(e)) => {
                return Err(SpError::Acme(from_acme(e, &settings.directory, "")));
            }
            Err(Failure::Final(e)) => return Err(e),
        }
    };
    let certs = cloudgate_pki::pem::decode_certificates(chain_pem.as_bytes())?;
    let Some((leaf, chain)) = certs.split_first() else {
        return Err(SpError::Acme(AcmeError::Other(
            "the CA sent no certificate".into(),
        )));
    };
    let info = cloudgate_pki::CertificateInfo::from_der(leaf)?;
    if !cloudgate_pki::private_key_matches(&info, &request.key_pkcs8_der)? {
        return Err(SpError::Acme(AcmeError::Other(
            "the CA sent a certificate for another key".into(),
        )));
    }
    let entry = store.add(NewEntry {
        cert_der: leaf,
        key_pkcs8_der: &request.key_pkcs8_der,
        chain: chain.to_vec(),
        friendly_name,
        source: Source::Acme,
    })?;
    settings.save(store)?;
    Ok(entry)
}

/// One order, from its creation to the certificate chain (PEM).
async fn order(
    account: &Account,
    settings: &AcmeSettings,
    csr_der: &[u8],
    progress: &(dyn Fn(&str) + Sync),
) -> Result<String, Failure> {
    let identifiers: Vec<Identifier> = settings
        .domains
        .iter()
        .map(|d| Identifier::Dns(d.clone()))
        .collect();
    progress("order");
    let mut order = account
        .new_order(&NewOrder::new(&identifiers))
        .await
        .map_err(|e| failure(e, settings, ""))?;
    let http = match &settings.challenge {
        ChallengeMethod::Http01 { listen } => Some(Http01::bind(*listen).await?),
        ChallengeMethod::DnsHook { .. } => None,
    };
    let mut records: Vec<(String, String)> = Vec::new();
    let answered = answer_challenges(&mut order, settings, http.as_ref(), &mut records).await;
    let ready = match answered {
        Ok(()) => {
            progress("validation");
            order
                .poll_ready(&RetryPolicy::new().timeout(VALIDATION_TIMEOUT))
                .await
                .map_err(|e| failure(e, settings, ""))
        }
        Err(e) => Err(e),
    };
    // The records go whatever happened.
    if let ChallengeMethod::DnsHook { command } = &settings.challenge {
        for (record, value) in &records {
            if let Err(e) = dns_hook(command, "remove", record, value).await {
                progress(&format!("warning: {e}"));
            }
        }
    }
    drop(http);
    match ready? {
        OrderStatus::Ready => {}
        _ => return Err(why_invalid(&mut order, settings).await),
    }
    progress("issuance");
    order
        .finalize_csr(csr_der)
        .await
        .map_err(|e| failure(e, settings, ""))?;
    order
        .poll_certificate(&RetryPolicy::new().timeout(ISSUANCE_TIMEOUT))
        .await
        .map_err(|e| failure(e, settings, ""))
}

/// Sets up the answer to every pending authorization's challenge and tells the CA.
async fn answer_challenges(
    order: &mut instant_acme::Order,
    settings: &AcmeSettings,
    http: Option<&Http01>,
    records: &mut Vec<(String, String)>,
) -> Result<(), Failure> {
    let wanted = match settings.challenge {
        ChallengeMethod::Http01 { .. } => ChallengeType::Http01,
        ChallengeMethod::DnsHook { .. } => ChallengeType::Dns01,
    };
    let mut authorizations = order.authorizations();
    while let Some(next) = authorizations.next().await {
        let mut authz = next.map_err(|e| failure(e, settings, ""))?;
        match authz.status {
            AuthorizationStatus::Pending => {}
            AuthorizationStatus::Valid => continue,
            other => {
                return Err(AcmeError::Other(format!(
                    "an authorization of the order is {other:?}"
                ))
                .into());
            }
        }
        let identifier = authz.identifier().to_string();
        let Some(mut challenge) = authz.challenge(wanted.clone()) else {
            return Err(AcmeError::Refused {
                detail: format!("the CA offers no {wanted:?} challenge for {identifier}"),
            }
            .into());
        };
        let key_authorization = challenge.key_authorization();
        match (&settings.challenge, http) {
            (ChallengeMethod::Http01 { .. }, Some(http)) => {
                http.serve(&challenge.token, key_authorization.as_str());
            }
            (ChallengeMethod::DnsHook { command }, _) => {
                let name = identifier.strip_prefix("*.").unwrap_or(&identifier);
                let record = format!("_acme-challenge.{name}");
                let value = key_authorization.dns_value();
                dns_hook(command, "add", &record, &value).await?;
                records.push((record, value));
            }
            (ChallengeMethod::Http01 { .. }, None) => {
                return Err(AcmeError::Other("no HTTP-01 responder".into()).into());
            }
        }
        challenge
            .set_ready()
            .await
            .map_err(|e| failure(e, settings, &identifier))?;
    }
    Ok(())
}

/// Why an order became invalid: what the CA saw for the first name it could not validate.
async fn why_invalid(order: &mut instant_acme::Order, settings: &AcmeSettings) -> Failure {
    let mut authorizations = order.authorizations();
    while let Some(next) = authorizations.next().await {
        let Ok(mut authz) = next else { continue };
        let identifier = authz.identifier().to_string();
        let Ok(state) = authz.refresh().await else {
            continue;
        };
        if let Some(problem) = state.challenges.iter().find_map(|c| c.error.as_ref()) {
            return from_problem(problem, &identifier).into();
        }
    }
    AcmeError::Challenge {
        identifier: settings.domains.join(", "),
        detail: "the CA marked the order invalid without saying why".into(),
    }
    .into()
}

#[cfg(test)]
mod tests {
    use super::account::directory_id;
    use super::*;

    fn settings(domains: &[&str], challenge: ChallengeMethod) -> AcmeSettings {
        AcmeSettings {
            directory: "https://acme.example.test/dir".into(),
            directory_ca: None,
            email: Some("ops@example.test".into()),
            domains: domains.iter().map(|d| d.to_string()).collect(),
            challenge,
        }
    }

    #[test]
    fn settings_are_checked_before_the_ca_is_asked() {
        let http = ChallengeMethod::Http01 {
            listen: "127.0.0.1:80".parse().unwrap(),
        };
        let dns = ChallengeMethod::DnsHook {
            command: "/bin/true".into(),
        };
        assert!(settings(&["sp.example.test"], http.clone()).check().is_ok());
        assert!(settings(&["*.example.test"], dns.clone()).check().is_ok());
        for (domains, challenge, said) in [
            (&[][..], http.clone(), "--domain"),
            (&["*.example.test"], http.clone(), "wildcard"),
            (&["bad name.test"], dns.clone(), "not a DNS name"),
            (&["-a.test"], dns.clone(), "not a DNS name"),
            (&["a..test"], dns.clone(), "not a DNS name"),
        ] {
            let e = settings(domains, challenge)
                .check()
                .unwrap_err()
                .to_string();
            assert!(e.contains(said), "{domains:?}: {e}");
        }
        let mut s = settings(&["a.test"], http.clone());
        s.directory = "http://acme.example.test/dir".into();
        assert!(s.check().unwrap_err().to_string().contains("https://"));
        s.directory = "https://acme.example.test/dir".into();
        s.email = Some("not an address".into());
        assert!(s.check().unwrap_err().to_string().contains("--email"));
    }

    #[test]
    fn settings_read_back_as_written() {
        let s = settings(
            &["a.test", "b.test"],
            ChallengeMethod::DnsHook {
                command: "/usr/local/bin/hook".into(),
            },
        );
        let json = serde_json::to_string(&s).unwrap();
        assert!(json.contains("\"type\":\"dns-hook\""), "{json}");
        assert_eq!(serde_json::from_str::<AcmeSettings>(&json).unwrap(), s);
        assert_ne!(directory_id("https://a/dir"), directory_id("https://b/dir"));
        assert_eq!(directory_id("https://a/dir").len(), 16);
    }
}
