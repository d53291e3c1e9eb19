//! Distinguished names: reading the `--subject` text people type, and printing names from
//! certificates as RFC 4514 strings.
//!
//! RFC 4514 lists the most specific part first (`CN=Acme, O=Acme, C=US`) while the certificate
//! stores it last, so the order is reversed in both directions. That way what a user types is
//! what `openssl x509 -nameopt RFC2253` prints back.

use x509_parser::der_parser::asn1_rs::Tag;
use x509_parser::x509::X509Name;

use crate::PkiError;

/// An attribute type cloudgate accepts in a `--subject`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DnAttribute {
    /// `CN`, commonName.
    CommonName,
    /// `O`, organizationName.
    Organization,
    /// `OU`, organizationalUnitName.
    OrganizationalUnit,
    /// `C`, countryName (two letters).
    Country,
    /// `ST`, stateOrProvinceName.
    State,
    /// `L`, localityName.
    Locality,
}

impl DnAttribute {
    /// The short name used in RFC 4514 text.
    pub fn short_name(self) -> &'static str {
        match self {
            DnAttribute::CommonName => "CN",
            DnAttribute::Organization => "O",
            DnAttribute::OrganizationalUnit => "OU",
            DnAttribute::Country => "C",
            DnAttribute::State => "ST",
            DnAttribute::Locality => "L",
        }
    }

    fn from_short_name(s: &str) -> Option<Self> {
        Some(match s.to_ascii_uppercase().as_str() {
            "CN" => DnAttribute::CommonName,
            "O" => DnAttribute::Organization,
            "OU" => DnAttribute::OrganizationalUnit,
            "C" => DnAttribute::Country,
            "ST" | "S" => DnAttribute::State,
            "L" => DnAttribute::Locality,
            _ => return None,
        })
    }

    /// The upper bound X.520 sets for the value's length in characters.
    fn max_len(self) -> usize {
        match self {
            DnAttribute::Country => 2,
            DnAttribute::CommonName
            | DnAttribute::Organization
            | DnAttribute::OrganizationalUnit => 64,
            DnAttribute::State | DnAttribute::Locality => 128,
        }
    }
}

/// A distinguished name as the user wrote it, most specific part first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubjectName {
    /// The attributes in RFC 4514 order (most specific first).
    pub attributes: Vec<(DnAttribute, String)>,
}

impl SubjectName {
    /// The reference product's subject for a licensee: `CN=<l>, O=<l>, OU=<l>`.
    pub fn for_licensee(licensee: &str) -> Self {
        SubjectName {
            attributes: vec![
                (DnAttribute::CommonName, licensee.to_string()),
                (DnAttribute::Organization, licensee.to_string()),
                (DnAttribute::OrganizationalUnit, licensee.to_string()),
            ],
        }
    }

    /// Reads an RFC 4514 style name such as `CN=Acme, O=Acme\, Inc., C=US`.
    ///
    /// Spaces around `,` and `=` are allowed; `\` escapes a special character or starts a two-digit
    /// hex escape. Each attribute type may appear once; multi-valued RDNs (`+`) are refused.
    pub fn parse(input: &str) -> Result<Self, PkiError> {
        let err = |reason: String| PkiError::InvalidDistinguishedName {
            input: input.to_string(),
            reason,
        };
        if input.trim().is_empty() {
            return Err(err("it is empty; give at least CN=<name>".into()));
        }
        let mut attributes: Vec<(DnAttribute, String)> = Vec::new();
        for part in split_unescaped(input, ',').map_err(&err)? {
            if split_unescaped(&part, '+').map_err(&err)?.len() > 1 {
                return Err(err(format!(
                    "{:?} is a multi-valued RDN (+), which is not supported",
                    part.trim()
                )));
            }
            let Some((ty, value)) = part.split_once('=') else {
                return Err(err(format!(
                    "{:?} has no '=' (expected TYPE=value, e.g. CN=Acme)",
                    part.trim()
                )));
            };
            let ty = ty.trim();
            let attr = DnAttribute::from_short_name(ty).ok_or_else(|| {
                err(format!(
                    "unknown attribute type {ty:?} (supported: CN, O, OU, C, ST, L)"
                ))
            })?;
            let value = unescape(value.trim()).map_err(&err)?;
            if value.is_empty() {
                return Err(err(format!("{ty} has an empty value")));
            }
            if value.chars().any(char::is_control) {
                return Err(err(format!("{ty} contains a control character")));
            }
            if value.chars().count() > attr.max_len() {
                return Err(err(format!(
                    "{ty} is longer than {} characters",
                    attr.max_len()
                )));
            }
            if attr == DnAttribute::Country
                && !(value.len() == 2 && value.chars().all(|c| c.is_ascii_alphabetic()))
            {
                return Err(err(format!(
                    "C must be a two-letter country code, not {value:?}"
                )));
            }
            if attributes.iter().any(|(a, _)| *a == attr) {
                return Err(err(format!("{ty} appears more than once")));
            }
            let value = if attr == DnAttribute::Country {
                value.to_ascii_uppercase()
            } else {
                value
            };
            attributes.push((attr, value));
        }
        Ok(SubjectName { attributes })
    }

    /// The value of one attribute, if present.
    pub fn get(&self, attr: DnAttribute) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(a, _)| *a == attr)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn to_rcgen(&self) -> rcgen::DistinguishedName {
        let mut dn = rcgen::DistinguishedName::new();
        // Certificates store the least specific part first: reverse the RFC 4514 order.
        for (attr, value) in self.attributes.iter().rev() {
            let ty = match attr {
                DnAttribute::CommonName => rcgen::DnType::CommonName,
                DnAttribute::Organization => rcgen::DnType::OrganizationName,
                DnAttribute::OrganizationalUnit => rcgen::DnType::OrganizationalUnitName,
                DnAttribute::Country => rcgen::DnType::CountryName,
                DnAttribute::State => rcgen::DnType::StateOrProvinceName,
                DnAttribute::Locality => rcgen::DnType::LocalityName,
            };
            let value = if *attr == DnAttribute::Country {
                rcgen::DnValue::PrintableString(
                    rcgen::string::PrintableString::try_from(value.as_str()).unwrap_or_else(|_| {
                        rcgen::string::PrintableString::try_from("XX").expect("XX is printable")
                    }),
                )
            } else {
                rcgen::DnValue::Utf8String(value.clone())
            };
            dn.push(ty, value);
        }
        dn
    }
}

fn split_unescaped(s: &str, sep: char) -> Result<Vec<String>, String> {
    let mut parts = vec![String::new()];
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            let next = chars.next().ok_or("it ends with a lone backslash")?;
            let last = parts.last_mut().expect("parts is never empty");
            last.push('\\');
            last.push(next);
        } else if c == sep {
            parts.push(String::new());
        } else {
            parts.last_mut().expect("parts is never empty").push(c);
        }
    }
    Ok(parts)
}

fn unescape(s: &str) -> Result<String, String> {
    let mut bytes = Vec::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut buf = [0u8; 4];
            bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        let next = chars.next().ok_or("it ends with a lone backslash")?;
        if next.is_ascii_hexdigit() {
            let low = chars
                .next()
                .filter(char::is_ascii_hexdigit)
                .ok_or("a hex escape needs two hex digits")?;
            let pair: String = [next, low].iter().collect();
            bytes.push(u8::from_str_radix(&pair, 16).map_err(|e| e.to_string())?);
        } else {
            let mut buf = [0u8; 4];
            bytes.extend_from_slice(next.encode_utf8(&mut buf).as_bytes());
        }
    }
    String::from_utf8(bytes).map_err(|_| "hex escapes do not form valid UTF-8".to_string())
}

/// Prints a name from a certificate in RFC 4514 form (`CN=Acme,O=Acme,OU=Acme`).
pub fn rfc4514(name: &X509Name<'_>) -> String {
    format_name(name, ",")
}

/// Prints a name from a certificate for people, as the reference product's Summary does
/// (`CN=Acme, O=Acme, OU=Acme`).
pub fn display(name: &X509Name<'_>) -> String {
    format_name(name, ", ")
}

fn format_name(name: &X509Name<'_>, separator: &str) -> String {
    let rdns: Vec<&_> = name.iter_rdn().collect();
    rdns.iter()
        .rev()
        .map(|rdn| {
            rdn.iter()
                .map(|atv| {
                    format!(
                        "{}={}",
                        attribute_name(atv.attr_type()),
                        attribute_value(atv)
                    )
                })
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect::<Vec<_>>()
        .join(separator)
}

fn attribute_name(oid: &x509_parser::der_parser::Oid<'_>) -> String {
    let known = [
        ("2.5.4.3", "CN"),
        ("2.5.4.6", "C"),
        ("2.5.4.7", "L"),
        ("2.5.4.8", "ST"),
        ("2.5.4.9", "STREET"),
        ("2.5.4.10", "O"),
        ("2.5.4.11", "OU"),
        ("2.5.4.5", "serialNumber"),
        ("0.9.2342.19200300.100.1.25", "DC"),
        ("0.9.2342.19200300.100.1.1", "UID"),
        ("1.2.840.113549.1.9.1", "emailAddress"),
    ];
    let dotted = oid.to_id_string();
    known
        .iter()
        .find(|(o, _)| *o == dotted)
        .map(|(_, n)| (*n).to_string())
        .unwrap_or(dotted)
}

fn attribute_value(atv: &x509_parser::x509::AttributeTypeAndValue<'_>) -> String {
    let any = atv.attr_value();
    let text = match any.tag() {
        Tag::BmpString => {
            let units: Vec<u16> = any
                .data
                .chunks(2)
                .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))
                .collect();
            String::from_utf16(&units).ok()
        }
        Tag::T61String => Some(any.data.iter().map(|&b| b as char).collect()),
        _ => atv.as_str().ok().map(str::to_string),
    };
    match text {
        Some(t) => escape_value(&t),
        None => format!("#{}", crate::fingerprint::upper_hex(any.data)),
    }
}

fn escape_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let last = v.chars().count().saturating_sub(1);
    for (i, c) in v.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
            out.push(c);
        } else if c.is_control() {
            out.push_str(&format!("\\{:02X}", c as u32 & 0xFF));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_reference_subject() {
        let n = SubjectName::parse("CN=Acme, O=Acme, OU=Acme").unwrap();
        assert_eq!(n, SubjectName::for_licensee("Acme"));
    }

    #[test]
    fn escapes_and_spaces() {
        let n = SubjectName::parse(r"cn = Acme\, Inc. , o=A\2Bb,c=us").unwrap();
        assert_eq!(n.get(DnAttribute::CommonName), Some("Acme, Inc."));
        assert_eq!(n.get(DnAttribute::Organization), Some("A+b"));
        assert_eq!(n.get(DnAttribute::Country), Some("US"));
    }

    #[test]
    fn refuses_bad_names() {
        for bad in [
            "",
            "Acme",
            "XX=1",
            "CN=",
            "CN=a,CN=b",
            "C=USA",
            "CN=a+O=b",
            "CN=a\\",
            &format!("CN={}", "x".repeat(65)),
        ] {
            let e = SubjectName::parse(bad).unwrap_err().to_string();
            assert!(e.starts_with("invalid distinguished name"), "{bad}: {e}");
        }
    }

    #[test]
    fn escapes_on_output() {
        assert_eq!(escape_value("Acme, Inc."), "Acme\\, Inc.");
        assert_eq!(escape_value(" x "), "\\ x\\ ");
        assert_eq!(escape_value("#1"), "\\#1");
    }
}
