//! The gateway's refusals: one enum with each code's HTTP status, its stable name on the wire
//! and its metric label, so the gateway, the tenant and the metrics agree.

use serde::{Deserialize, Serialize};

/// The body of every refusal: `{"code", "message"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// An [`ErrorCode`] name (a newer gateway may send one this version does not know).
    pub code: String,
    /// For people.
    pub message: String,
    /// Seconds after which trying again makes sense (a maintenance's announced end), when the
    /// gateway knows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

impl ErrorBody {
    /// The code, when this version knows it.
    pub fn error_code(&self) -> Option<ErrorCode> {
        ErrorCode::from_name(&self.code)
    }
}

macro_rules! codes {
    ($($variant:ident = ($status:expr, $name:expr)),+ $(,)?) => {
        /// Every refusal the gateway makes.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $(
                #[doc = concat!("`", $name, "` (HTTP ", stringify!($status), ")")]
                $variant,
            )+
        }

        impl ErrorCode {
            /// Every code.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),+];

            /// The HTTP status.
            pub fn status(self) -> u16 {
                match self { $(ErrorCode::$variant => $status),+ }
            }

            /// The stable name on the wire (and the metric label).
            pub fn name(self) -> &'static str {
                match self { $(ErrorCode::$variant => $name),+ }
            }

            /// The code with this wire name.
            pub fn from_name(name: &str) -> Option<Self> {
                match name { $($name => Some(ErrorCode::$variant),)+ _ => None }
            }
        }
    };
}

codes! {
    CredentialsRequired = (401, "credentials_required"),
    BadCredentials = (401, "bad_credentials"),
    UnknownClientCertificate = (401, "unknown_client_certificate"),
    TokenUnknown = (401, "token_unknown"),
    TokenExpired = (401, "token_expired"),
    TokenUsedUp = (401, "token_used_up"),
    TokenRevoked = (401, "token_revoked"),
    TenantDisabled = (403, "tenant_disabled"),
    LeaseExpired = (403, "lease_expired"),
    AddressNotAllowed = (403, "address_not_allowed"),
    ClientCertificateRequired = (401, "client_certificate_required"),
    CertificateMismatch = (400, "certificate_mismatch"),
    BadRequest = (400, "bad_request"),
    UpgradeRequired = (400, "upgrade_required"),
    UnknownService = (404, "unknown_service"),
    NotFound = (404, "not_found"),
    BodyTimeout = (408, "body_timeout"),
    CertificateTaken = (409, "certificate_taken"),
    BodyTooLarge = (413, "body_too_large"),
    TooManyFailures = (429, "too_many_failures"),
    TenantLimit = (429, "tenant_limit"),
    Internal = (500, "internal"),
    Unavailable = (503, "unavailable"),
    Maintenance = (503, "maintenance"),
    BackendUnreachable = (502, "backend_unreachable"),
    BackendTimeout = (504, "backend_timeout"),
}

impl ErrorCode {
    /// The generic answer for a library error of this kind, when the gateway has no more precise
    /// code for it: the status is the kind's.
    pub fn for_kind(kind: cloudgate_errors::ErrorKind) -> Self {
        use cloudgate_errors::ErrorKind;
        match kind {
            ErrorKind::Usage => ErrorCode::BadRequest,
            ErrorKind::NotFound => ErrorCode::NotFound,
            ErrorKind::Auth => ErrorCode::BadCredentials,
            ErrorKind::Trust => ErrorCode::ClientCertificateRequired,
            ErrorKind::Conflict => ErrorCode::CertificateTaken,
            ErrorKind::Unavailable => ErrorCode::Unavailable,
            ErrorKind::Io | ErrorKind::Internal => ErrorCode::Internal,
        }
    }

    /// The `outcome` label a refused enrollment is counted under in the gateway's metrics:
    /// credentials (a password or token refused), throttled, disabled, the gateway's own
    /// failure, or a request that was not valid.
    pub fn enrollment_outcome(self) -> &'static str {
        match self {
            ErrorCode::CredentialsRequired
            | ErrorCode::BadCredentials
            | ErrorCode::TokenUnknown
            | ErrorCode::TokenExpired
            | ErrorCode::TokenUsedUp
            | ErrorCode::TokenRevoked => "bad_credentials",
            ErrorCode::TooManyFailures => "throttled",
            // Refused for the account's standing, whatever the credentials.
            ErrorCode::TenantDisabled | ErrorCode::LeaseExpired | ErrorCode::AddressNotAllowed => {
                "disabled"
            }
            ErrorCode::Internal | ErrorCode::Unavailable => "error",
            _ => "invalid",
        }
    }

    /// Whether the refusal is about the tenant's credentials or account (the tenant exits 4).
    pub fn is_authentication(self) -> bool {
        matches!(self.status(), 401 | 403)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for c in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_name(c.name()), Some(*c));
            assert!(seen.insert(c.name()), "{} twice", c.name());
            assert!((400..600).contains(&c.status()));
        }
        assert_eq!(ErrorCode::from_name("nope"), None);
        assert!(ErrorCode::TokenExpired.is_authentication());
        assert!(!ErrorCode::BackendTimeout.is_authentication());
    }

    #[test]
    fn every_refusal_is_counted_under_a_documented_outcome() {
        let documented = [
            "bad_credentials",
            "throttled",
            "disabled",
            "invalid",
            "error",
        ];
        for c in ErrorCode::ALL {
            assert!(documented.contains(&c.enrollment_outcome()), "{c:?}");
        }
        assert_eq!(
            ErrorCode::TokenRevoked.enrollment_outcome(),
            "bad_credentials"
        );
        assert_eq!(ErrorCode::Unavailable.enrollment_outcome(), "error");
    }

    #[test]
    fn a_library_error_is_answered_with_its_kind_status() {
        for kind in cloudgate_errors::ErrorKind::ALL {
            assert_eq!(
                ErrorCode::for_kind(*kind).status(),
                kind.http_status(),
                "{kind:?}"
            );
        }
    }
}

#[cfg(test)]
mod documented {
    use super::ErrorCode;

    /// The book's gateway chapter names every refusal the gateway can make.
    #[test]
    fn the_book_lists_every_error_code() {
        let readme = include_str!("../../../docs/src/sp/gateway.md");
        let missing: Vec<&str> = ErrorCode::ALL
            .iter()
            .map(|c| c.name())
            .filter(|n| !readme.contains(&format!("`{n}`")))
            .collect();
        assert!(
            missing.is_empty(),
            "docs/src/sp/gateway.md does not document {missing:?}"
        );
    }
}
