//! Subject alternative names as given with `--san`: DNS names (wildcards allowed in the leftmost
//! label) and IPv4/IPv6 addresses.

use std::fmt;
use std::net::IpAddr;

use crate::PkiError;

/// One subject alternative name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SubjectAltName {
    /// A DNS name, lowercased; may start with `*.`.
    Dns(String),
    /// An IP address.
    Ip(IpAddr),
}

impl SubjectAltName {
    /// Reads a DNS name or an IP address. IPv6 may be given in brackets (`[::1]`).
    pub fn parse(input: &str) -> Result<Self, PkiError> {
        let err = |reason: &str| PkiError::InvalidSubjectAltName {
            input: input.to_string(),
            reason: reason.to_string(),
        };
        let s = input.trim();
        let unbracketed = s
            .strip_prefix('[')
            .and_then(|r| r.strip_suffix(']'))
            .unwrap_or(s);
        if let Ok(ip) = unbracketed.parse::<IpAddr>() {
            return Ok(SubjectAltName::Ip(ip));
        }
        if s.is_empty() {
            return Err(err("it is empty"));
        }
        let name = s.strip_suffix('.').unwrap_or(s).to_ascii_lowercase();
        if name.len() > 253 {
            return Err(err("a DNS name is at most 253 characters"));
        }
        let labels: Vec<&str> = name.split('.').collect();
        for (i, label) in labels.iter().enumerate() {
            if *label == "*" {
                if i != 0 {
                    return Err(err(
                        "a wildcard is allowed only as the whole leftmost label (*.example.com)",
                    ));
                }
                if labels.len() < 3 {
                    return Err(err(
                        "a wildcard needs at least two labels after it (*.example.com)",
                    ));
                }
                continue;
            }
            if label.is_empty() {
                return Err(err(
                    "it has an empty label (two dots in a row, or a leading dot)",
                ));
            }
            if label.len() > 63 {
                return Err(err("a DNS label is at most 63 characters"));
            }
            if label.contains('*') {
                return Err(err(
                    "a wildcard is allowed only as the whole leftmost label (*.example.com)",
                ));
            }
            if !label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(err(
                    "DNS names use only letters, digits, '-' and '.'; use punycode (xn--) for other characters",
                ));
            }
            if label.starts_with('-') || label.ends_with('-') {
                return Err(err("a DNS label cannot start or end with '-'"));
            }
        }
        Ok(SubjectAltName::Dns(name))
    }

    pub(crate) fn to_rcgen(&self) -> Result<rcgen::SanType, PkiError> {
        Ok(match self {
            SubjectAltName::Dns(name) => {
                rcgen::SanType::DnsName(rcgen::string::Ia5String::try_from(name.as_str()).map_err(
                    |e| PkiError::InvalidSubjectAltName {
                        input: name.clone(),
                        reason: e.to_string(),
                    },
                )?)
            }
            SubjectAltName::Ip(ip) => rcgen::SanType::IpAddress(*ip),
        })
    }
}

impl fmt::Display for SubjectAltName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubjectAltName::Dns(name) => f.write_str(name),
            SubjectAltName::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_names_wildcards_and_addresses() {
        assert_eq!(
            SubjectAltName::parse("Backup.Example.com.").unwrap(),
            SubjectAltName::Dns("backup.example.com".into())
        );
        assert_eq!(
            SubjectAltName::parse("*.example.com").unwrap().to_string(),
            "*.example.com"
        );
        assert_eq!(
            SubjectAltName::parse("192.0.2.7").unwrap().to_string(),
            "192.0.2.7"
        );
        assert_eq!(
            SubjectAltName::parse("[2001:db8::1]").unwrap().to_string(),
            "2001:db8::1"
        );
        assert_eq!(
            SubjectAltName::parse("localhost").unwrap().to_string(),
            "localhost"
        );
    }

    #[test]
    fn refuses_bad_names() {
        for bad in [
            "",
            "a..b",
            ".a",
            "*.com",
            "a.*.com",
            "f*o.example.com",
            "-a.com",
            "a b.com",
            "é.com",
            &"a".repeat(64),
        ] {
            let e = SubjectAltName::parse(bad).unwrap_err().to_string();
            assert!(
                e.starts_with("invalid subject alternative name"),
                "{bad}: {e}"
            );
        }
    }
}
