//! The SP license: who the software is licensed to, which names the default certificate subject
//! and friendly name, as in the reference product.
//!
//! ```toml
//! licensed_to = "Acme Cloud"     # required
//! expires = 2027-12-31           # optional, a TOML date
//! edition = "Enterprise"         # optional
//! license_id = "ACME-0001"       # optional
//! ```

use std::path::Path;

use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

use crate::fsio::{self, FileSpec};
use crate::{FileOwnership, Layout, StoreError};

/// Longest licensee name: it becomes a common name, which X.520 limits to 64 characters.
pub const MAX_LICENSEE_LEN: usize = 64;

/// Largest license file read, so a wrong path (a disk image, a log) fails fast.
const MAX_LICENSE_BYTES: u64 = 64 * 1024;

/// An installed or to-be-installed license.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct License {
    /// The licensee.
    pub licensed_to: String,
    /// Last day of validity, if limited.
    pub expires: Option<Date>,
    /// Product edition.
    pub edition: Option<String>,
    /// License identifier.
    pub license_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LicenseFile {
    licensed_to: Option<String>,
    expires: Option<toml::value::Datetime>,
    edition: Option<String>,
    license_id: Option<String>,
}

impl License {
    /// Parses and validates license text; `path` only names the file in errors.
    pub fn parse(text: &[u8], path: &Path) -> Result<Self, StoreError> {
        let err = |reason: String| StoreError::InvalidLicense {
            path: path.to_path_buf(),
            reason,
        };
        let text = std::str::from_utf8(text)
            .map_err(|_| err("it is not UTF-8 text (expected a TOML file)".into()))?;
        let raw: LicenseFile = toml::from_str(text)
            .map_err(|e| err(format!("not valid license TOML: {}", e.message())))?;
        let licensed_to = raw
            .licensed_to
            .map(|s| s.trim().to_string())
            .ok_or_else(|| {
                err("`licensed_to` is missing (e.g. licensed_to = \"Acme Cloud\")".into())
            })?;
        if licensed_to.is_empty() {
            return Err(err("`licensed_to` is empty".into()));
        }
        if licensed_to.chars().count() > MAX_LICENSEE_LEN {
            return Err(err(format!(
                "`licensed_to` is longer than {MAX_LICENSEE_LEN} characters"
            )));
        }
        if licensed_to.chars().any(char::is_control) {
            return Err(err("`licensed_to` contains a control character".into()));
        }
        let expires = match raw.expires {
            None => None,
            Some(dt) => match (dt.date, dt.time) {
                (Some(d), None) => Some(
                    Date::from_calendar_date(
                        i32::from(d.year),
                        time::Month::try_from(d.month)
                            .map_err(|_| err("`expires` has an invalid month".into()))?,
                        d.day,
                    )
                    .map_err(|e| err(format!("`expires` is not a valid date: {e}")))?,
                ),
                _ => return Err(err("`expires` must be a date such as 2027-12-31".into())),
            },
        };
        let clean = |field: &str, v: Option<String>| -> Result<Option<String>, StoreError> {
            match v.map(|s| s.trim().to_string()) {
                Some(s) if s.chars().any(char::is_control) => {
                    Err(err(format!("`{field}` contains a control character")))
                }
                Some(s) if s.is_empty() => Ok(None),
                other => Ok(other),
            }
        };
        Ok(License {
            licensed_to,
            expires,
            edition: clean("edition", raw.edition)?,
            license_id: clean("license_id", raw.license_id)?,
        })
    }

    /// Whether the license has expired by this time (it is valid through its `expires` day).
    pub fn is_expired_at(&self, now: OffsetDateTime) -> bool {
        self.expires.is_some_and(|d| now.date() > d)
    }

    /// The license in TOML, as stored in the data directory, written by the TOML library so
    /// that any name round-trips.
    pub fn to_toml(&self) -> String {
        use toml::Value;
        let mut table = toml::Table::new();
        table.insert(
            "licensed_to".into(),
            Value::String(self.licensed_to.clone()),
        );
        if let Some(d) = self.expires {
            let date = toml::value::Date {
                // Parsed from a TOML date, the year is never negative.
                year: u16::try_from(d.year()).unwrap_or(9999),
                month: u8::from(d.month()),
                day: d.day(),
            };
            table.insert(
                "expires".into(),
                Value::Datetime(toml::value::Datetime {
                    date: Some(date),
                    time: None,
                    offset: None,
                }),
            );
        }
        if let Some(e) = &self.edition {
            table.insert("edition".into(), Value::String(e.clone()));
        }
        if let Some(id) = &self.license_id {
            table.insert("license_id".into(), Value::String(id.clone()));
        }
        table.to_string()
    }
}

/// Reads the installed license file: a regular file (not a link) of at most
/// `MAX_LICENSE_BYTES`.
pub fn read_license_file(path: &Path) -> Result<License, StoreError> {
    License::parse(
        &crate::bounded::read_regular(path, MAX_LICENSE_BYTES)?,
        path,
    )
}

/// Installs a validated license into the data directory, replacing any previous one. The SP
/// core audits it (`cloudgate_sp`), naming who installed it.
pub fn install(layout: &Layout, own: &FileOwnership, license: &License) -> Result<(), StoreError> {
    fsio::ensure_private_dir(layout.data_dir(), own)?;
    fsio::replace_file(
        &layout.license_file(),
        license.to_toml().as_bytes(),
        FileSpec::store(own),
    )
}

/// The installed license, if any.
pub fn installed(layout: &Layout) -> Result<Option<License>, StoreError> {
    let path = layout.license_file();
    match std::fs::metadata(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        _ => read_license_file(&path).map(Some),
    }
}

/// Where the licensee name comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Licensee {
    /// The installed license.
    Licensed(String),
    /// No license is installed: the host name stands in.
    HostName(String),
}

impl Licensee {
    /// The licensee of the installed license, or the host name when there is none.
    pub fn resolve(layout: &Layout) -> Result<Self, StoreError> {
        Ok(match installed(layout)? {
            Some(l) => Licensee::Licensed(l.licensed_to),
            None => Licensee::HostName(host_name()),
        })
    }

    /// The name itself.
    pub fn name(&self) -> &str {
        match self {
            Licensee::Licensed(n) | Licensee::HostName(n) => n,
        }
    }
}

/// The identity a self-signed certificate gets when nobody chose one, as in the reference
/// product: names from the licensee, and this host's name as the one SAN.
#[derive(Clone, Debug)]
pub struct DefaultIdentity {
    /// Where the names came from.
    pub licensee: Licensee,
    /// `<licensee> Cloud Connect Certificate`.
    pub friendly_name: String,
    /// `CN=<licensee>, O=<licensee>, OU=<licensee>`.
    pub subject: cloudgate_pki::dn::SubjectName,
    /// The host name, if it is a valid DNS name.
    pub sans: Vec<cloudgate_pki::san::SubjectAltName>,
}

impl DefaultIdentity {
    /// Works out the defaults for the data directory's license and this host.
    pub fn resolve(layout: &Layout) -> Result<Self, StoreError> {
        let licensee = Licensee::resolve(layout)?;
        let sans = cloudgate_pki::san::SubjectAltName::parse(&host_name())
            .map(|s| vec![s])
            .unwrap_or_default();
        Ok(DefaultIdentity {
            friendly_name: default_friendly_name(licensee.name()),
            subject: cloudgate_pki::dn::SubjectName::for_licensee(licensee.name()),
            sans,
            licensee,
        })
    }
}

impl DefaultIdentity {
    /// Names `address` (a DNS name or an IP address, as tenants are told to reach the SP) in
    /// the alternative names too, unless it is there already or is not a valid name.
    pub fn also_name(&mut self, address: &str) {
        if let Ok(san) = cloudgate_pki::san::SubjectAltName::parse(address)
            && !self.sans.contains(&san)
        {
            self.sans.push(san);
        }
    }
}

/// `<licensee> Cloud Connect Certificate`, without doubling the word when the licensee's name
/// ends in "Cloud" ("Acme Cloud Connect Certificate", not "Acme Cloud Cloud …").
pub fn default_friendly_name(licensee: &str) -> String {
    let name = licensee.trim();
    let ends_in_cloud = name
        .rsplit(char::is_whitespace)
        .next()
        .is_some_and(|w| w.eq_ignore_ascii_case("cloud"));
    if ends_in_cloud {
        format!("{name} Connect Certificate")
    } else {
        format!("{name} Cloud Connect Certificate")
    }
}

/// This machine's host name (`localhost` if it has none).
pub fn host_name() -> String {
    nix::unistd::gethostname()
        .ok()
        .map(|h| h.to_string_lossy().trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<License, StoreError> {
        License::parse(s.as_bytes(), Path::new("test.toml"))
    }

    #[test]
    fn default_names_never_double_a_word() {
        assert_eq!(
            default_friendly_name("Acme"),
            "Acme Cloud Connect Certificate"
        );
        assert_eq!(
            default_friendly_name("Acme Cloud"),
            "Acme Cloud Connect Certificate"
        );
        assert_eq!(
            default_friendly_name("acme cloud "),
            "acme cloud Connect Certificate"
        );
        assert_eq!(
            default_friendly_name("Cloudy"),
            "Cloudy Cloud Connect Certificate"
        );
    }

    #[test]
    fn full_license_round_trips() {
        let l = parse("licensed_to = \"Acme \\\"Cloud\\\"\"\nexpires = 2027-12-31\nedition = \"Enterprise\"\nlicense_id = \"A-1\"\n").unwrap();
        assert_eq!(l.licensed_to, "Acme \"Cloud\"");
        assert_eq!(parse(&l.to_toml()).unwrap(), l);
        assert!(!l.is_expired_at(time::macros::datetime!(2027-12-31 23:59 UTC)));
        assert!(l.is_expired_at(time::macros::datetime!(2028-01-01 00:00 UTC)));
    }

    #[test]
    fn bad_licenses_say_what_is_wrong() {
        for (text, needle) in [
            ("", "licensed_to` is missing"),
            ("licensed_to = \"  \"", "empty"),
            ("licenced_to = \"Acme\"", "unknown field"),
            ("licensed_to = 5", "invalid type"),
            ("licensed_to = \"Acme\"\nexpires = \"soon\"", "datetime"),
            (
                "licensed_to = \"Acme\"\nexpires = 2027-12-31T10:00:00Z",
                "must be a date",
            ),
            ("licensed_to = \"Acme\nx\"", "TOML"),
            (
                &format!("licensed_to = \"{}\"", "x".repeat(65)),
                "longer than 64",
            ),
            ("[[[", "TOML"),
        ] {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.contains(needle), "{text:?}: {e}");
            assert!(e.contains("test.toml"), "{e}");
        }
        assert!(License::parse(&[0xff, 0xfe], Path::new("x")).is_err());
    }
}
