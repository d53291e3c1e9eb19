//! What can go wrong talking to an ACME CA, said so that the SP knows what to fix.

use cloudgate_errors::{Classify, ErrorKind};

/// An ACME failure.
#[derive(Debug, thiserror::Error)]
pub enum AcmeError {
    /// The directory did not answer, or not as an ACME server.
    #[error(
        "the ACME directory {url} cannot be reached: {detail}; check --directory (and --directory-ca for a CA whose HTTPS certificate the system does not trust)"
    )]
    Unreachable {
        /// The directory's URL.
        url: String,
        /// What failed.
        detail: String,
    },
    /// The CA's rate limit: nothing to do but wait.
    #[error("the CA refused for now, rate limited: {detail}; {}", wait_words(*.retry_after))]
    RateLimited {
        /// What the CA said.
        detail: String,
        /// When the CA said to ask again (its `Retry-After`), if it did.
        retry_after: Option<std::time::SystemTime>,
    },
    /// The CA could not validate a name: what it saw.
    #[error("the CA could not validate {identifier}: {detail}")]
    Challenge {
        /// The name.
        identifier: String,
        /// What the CA saw.
        detail: String,
    },
    /// A CAA record forbids this CA to issue for a name.
    #[error(
        "a CAA record forbids this CA to issue for the name: {detail}; add the CA to the domain's CAA records, or use another CA"
    )]
    Caa {
        /// What the CA said.
        detail: String,
    },
    /// The CA refused the request itself (a name it does not issue for, an e-mail address, an
    /// account binding it requires).
    #[error("the CA refused the request: {detail}")]
    Refused {
        /// What the CA said.
        detail: String,
    },
    /// The HTTP-01 responder cannot listen.
    #[error(
        "the HTTP-01 responder cannot listen on {address}: {detail}; free the port or choose another with --http-01-listen (the CA must reach it on port 80 of each name, through a proxy if need be)"
    )]
    Listen {
        /// The address.
        address: String,
        /// Why not.
        detail: String,
    },
    /// The DNS hook failed.
    #[error("the DNS hook {hook} failed ({action} {record}): {detail}")]
    Hook {
        /// The hook command.
        hook: String,
        /// `add` or `remove`.
        action: &'static str,
        /// The record name.
        record: String,
        /// What happened.
        detail: String,
    },
    /// The CA took too long.
    #[error("the CA did not finish in time: {0}; try again")]
    Timeout(String),
    /// Anything else the CA or the protocol did.
    #[error("ACME: {0}")]
    Other(String),
}

impl Classify for AcmeError {
    fn kind(&self) -> ErrorKind {
        match self {
            AcmeError::Unreachable { .. }
            | AcmeError::RateLimited { .. }
            | AcmeError::Challenge { .. }
            | AcmeError::Listen { .. }
            | AcmeError::Timeout(_) => ErrorKind::Unavailable,
            AcmeError::Caa { .. } | AcmeError::Refused { .. } | AcmeError::Hook { .. } => {
                ErrorKind::Usage
            }
            AcmeError::Other(_) => ErrorKind::Internal,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            AcmeError::Unreachable { .. } => "acme_unreachable",
            AcmeError::RateLimited { .. } => "acme_rate_limited",
            AcmeError::Challenge { .. } => "acme_challenge_failed",
            AcmeError::Caa { .. } => "acme_caa_forbids",
            AcmeError::Refused { .. } => "acme_refused",
            AcmeError::Listen { .. } => "address_in_use",
            AcmeError::Hook { .. } => "acme_dns_hook_failed",
            AcmeError::Timeout(_) => "acme_timeout",
            AcmeError::Other(_) => "acme",
        }
    }
}

impl AcmeError {
    /// When the CA said to ask again, for a rate limit that said so.
    pub fn retry_after(&self) -> Option<std::time::SystemTime> {
        match self {
            AcmeError::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// This error with the CA's `Retry-After`, where it is a rate limit that has none yet.
    pub(crate) fn with_retry_after(self, at: Option<std::time::SystemTime>) -> Self {
        match self {
            AcmeError::RateLimited {
                detail,
                retry_after: None,
            } => AcmeError::RateLimited {
                detail,
                retry_after: at,
            },
            other => other,
        }
    }
}

/// "try again after TIME" (UTC, to the second) or "try again later".
fn wait_words(at: Option<std::time::SystemTime>) -> String {
    match at.map(time::OffsetDateTime::from) {
        Some(at) => format!(
            "the CA asks to try again after {}",
            at.replace_nanosecond(0)
                .unwrap_or(at)
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_else(|_| at.to_string())
        ),
        None => "try again later".to_string(),
    }
}

/// The problem type's last word (`rateLimited` of `urn:ietf:params:acme:error:rateLimited`).
fn problem_kind(p: &instant_acme::Problem) -> &str {
    p.r#type
        .as_deref()
        .and_then(|t| t.rsplit(':').next())
        .unwrap_or("")
}

/// The problem's words, with those of its subproblems.
fn problem_detail(p: &instant_acme::Problem) -> String {
    let mut out = p.detail.clone().unwrap_or_else(|| {
        p.r#type
            .clone()
            .unwrap_or_else(|| "no detail given".to_string())
    });
    for sub in &p.subproblems {
        if let Some(d) = &sub.detail {
            out.push_str("; ");
            out.push_str(d);
        }
    }
    out
}

/// Whether a failure is worth trying the whole order again for (Pebble, like real CAs,
/// rejects nonces at random).
pub(crate) fn is_transient(e: &instant_acme::Error) -> bool {
    match e {
        instant_acme::Error::Api(p) => problem_kind(p) == "badNonce",
        instant_acme::Error::Hyper(_) | instant_acme::Error::Http(_) => true,
        _ => false,
    }
}

/// An `instant_acme` failure, as the SP should read it; `directory` for the unreachable case,
/// `identifier` for a failed challenge.
pub(crate) fn from_acme(e: instant_acme::Error, directory: &str, identifier: &str) -> AcmeError {
    match e {
        instant_acme::Error::Api(p) => from_problem(&p, identifier),
        instant_acme::Error::Hyper(e) => AcmeError::Unreachable {
            url: directory.to_string(),
            detail: error_chain(&e),
        },
        instant_acme::Error::Http(e) => AcmeError::Unreachable {
            url: directory.to_string(),
            detail: e.to_string(),
        },
        instant_acme::Error::InvalidUri(e) => AcmeError::Unreachable {
            url: directory.to_string(),
            detail: format!("not a URL: {e}"),
        },
        instant_acme::Error::Json(e) => AcmeError::Unreachable {
            url: directory.to_string(),
            detail: format!("the answer is not an ACME directory ({e})"),
        },
        instant_acme::Error::Timeout(_) => AcmeError::Timeout("the order was not ready".into()),
        instant_acme::Error::Other(e) => AcmeError::Unreachable {
            url: directory.to_string(),
            detail: error_chain(&*e),
        },
        other => AcmeError::Other(other.to_string()),
    }
}

/// An ACME problem document, as the SP should read it.
pub(crate) fn from_problem(p: &instant_acme::Problem, identifier: &str) -> AcmeError {
    let detail = problem_detail(p);
    match problem_kind(p) {
        "rateLimited" => AcmeError::RateLimited {
            detail,
            retry_after: None,
        },
        "caa" => AcmeError::Caa { detail },
        "connection" | "dns" | "incorrectResponse" | "unauthorized" | "tls" => {
            AcmeError::Challenge {
                identifier: identifier.to_string(),
                detail,
            }
        }
        "badNonce" | "serverInternal" => AcmeError::Other(detail),
        _ => AcmeError::Refused { detail },
    }
}

/// An error with its sources, one line.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !out.contains(&s_text) {
            out.push_str(": ");
            out.push_str(&s_text);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(kind: &str, detail: &str) -> instant_acme::Problem {
        serde_json::from_value(serde_json::json!({
            "type": format!("urn:ietf:params:acme:error:{kind}"),
            "detail": detail,
            "status": 403,
        }))
        .unwrap()
    }

    #[test]
    fn problems_are_told_apart_with_what_the_ca_said() {
        let e = from_problem(&problem("rateLimited", "too many certificates"), "a.test");
        assert_eq!(e.code(), "acme_rate_limited");
        assert!(e.to_string().contains("too many certificates"));
        assert!(e.to_string().contains("try again later"), "{e}");
        // With the CA's Retry-After, the time is said, to the second, in UTC.
        let at = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000);
        let e = e.with_retry_after(Some(at));
        assert_eq!(e.retry_after(), Some(at));
        assert!(
            e.to_string()
                .contains("try again after 2027-01-15T08:00:00Z"),
            "{e}"
        );
        let e = from_problem(
            &problem("caa", "CAA record for a.test prevents issuance"),
            "a.test",
        );
        assert_eq!((e.code(), e.kind().exit_code()), ("acme_caa_forbids", 2));
        let e = from_problem(&problem("connection", "Connection refused"), "a.test");
        assert_eq!(e.code(), "acme_challenge_failed");
        assert!(e.to_string().contains("a.test") && e.to_string().contains("Connection refused"));
        let e = from_problem(&problem("rejectedIdentifier", "no"), "a.test");
        assert_eq!((e.code(), e.kind().exit_code()), ("acme_refused", 2));
        assert!(is_transient(&instant_acme::Error::Api(problem(
            "badNonce", "x"
        ))));
        assert!(!is_transient(&instant_acme::Error::Api(problem(
            "caa", "x"
        ))));
    }
}
