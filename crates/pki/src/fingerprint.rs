//! Fingerprints of a certificate and the one normaliser for fingerprints typed or pasted by people.
//!
//! Pasted thumbprints are a known trap of the reference product: Windows' certificate dialog
//! prefixes them with an invisible U+200E mark and groups them with spaces. [`FingerprintQuery::parse`]
//! drops every such character, and colons and dashes, before it looks at the hex digits.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha1::Digest as _;

use crate::PkiError;

/// The fewest hex digits accepted as a prefix: shorter prefixes match too much by accident.
pub const MIN_PREFIX_HEX_DIGITS: usize = 8;

/// The three fingerprints of one certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fingerprints {
    /// SHA-1 of the certificate DER (the thumbprint).
    pub sha1: [u8; 20],
    /// SHA-256 of the certificate DER.
    pub sha256: [u8; 32],
    /// SHA-256 of the SubjectPublicKeyInfo DER.
    pub spki_sha256: [u8; 32],
}

impl Fingerprints {
    /// Computes the fingerprints of a certificate from its DER and its SubjectPublicKeyInfo DER.
    pub fn compute(cert_der: &[u8], spki_der: &[u8]) -> Self {
        Fingerprints {
            sha1: sha1::Sha1::digest(cert_der).into(),
            sha256: sha2::Sha256::digest(cert_der).into(),
            spki_sha256: sha2::Sha256::digest(spki_der).into(),
        }
    }

    /// The thumbprint: 40 uppercase hex digits, no separators (`B10F3300…1157`).
    pub fn thumbprint(&self) -> String {
        upper_hex(&self.sha1)
    }

    /// The SHA-256 as 64 uppercase hex digits with no separators (the JSON form).
    pub fn sha256_hex(&self) -> String {
        upper_hex(&self.sha256)
    }

    /// The SHA-256 as uppercase hex pairs joined by colons (the text form, as OpenSSL prints it).
    pub fn sha256_colons(&self) -> String {
        colon_hex(&self.sha256)
    }

    /// The public key pin, `sha256//` + base64 of the SPKI SHA-256 (curl's `--pinnedpubkey` form).
    pub fn spki_pin(&self) -> String {
        format!("sha256//{}", BASE64.encode(self.spki_sha256))
    }
}

const HEX_DIGITS: &[u8; 16] = b"0123456789ABCDEF";

fn push_hex_pair(s: &mut String, b: u8) {
    s.push(char::from(HEX_DIGITS[usize::from(b >> 4)]));
    s.push(char::from(HEX_DIGITS[usize::from(b & 0x0f)]));
}

/// The SHA-256 of a certificate's DER.
///
/// The gateway asks twice per handshake for the same client certificate (its verifier's cache
/// key, then the enrollment lookup once the handshake is over), on the same thread: the last
/// certificate hashed on each thread is kept with its digest and compared byte for byte, so the
/// second answer is a comparison rather than a second hash. Certificates are public; what is
/// kept is what the peer sent.
pub fn certificate_sha256(der: &[u8]) -> [u8; 32] {
    use sha2::Digest as _;
    thread_local! {
        static LAST: std::cell::RefCell<(Vec<u8>, [u8; 32])> =
            const { std::cell::RefCell::new((Vec::new(), [0; 32])) };
    }
    LAST.with(|last| {
        let Ok(mut last) = last.try_borrow_mut() else {
            return sha2::Sha256::digest(der).into();
        };
        if !last.0.is_empty() && last.0 == der {
            return last.1;
        }
        let digest: [u8; 32] = sha2::Sha256::digest(der).into();
        last.0.clear();
        last.0.extend_from_slice(der);
        last.1 = digest;
        digest
    })
}

/// Uppercase hex with no separators.
///
/// By table rather than `format!`: the gateway hexes every client certificate's SHA-256 to look
/// its tenant up, once per connection.
pub fn upper_hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        push_hex_pair(&mut s, b);
    }
    s
}

/// The bytes of exactly `N * 2` hex digits (either case, no separators), as [`upper_hex`]
/// writes them; `None` for anything else. Strict on purpose: it reads what cloudgate stored,
/// not what a person typed (that is [`FingerprintQuery::parse`]).
pub fn from_hex<const N: usize>(hex: &str) -> Option<[u8; N]> {
    fn digit(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'A'..=b'F' => Some(c - b'A' + 10),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        }
    }
    let hex = hex.as_bytes();
    if hex.len() != N * 2 {
        return None;
    }
    let mut out = [0u8; N];
    for (o, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        *o = (digit(pair[0])? << 4) | digit(pair[1])?;
    }
    Some(out)
}

/// Uppercase hex pairs joined by colons.
pub fn colon_hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 3);
    for (i, &b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        push_hex_pair(&mut s, b);
    }
    s
}

/// A fingerprint as a person typed or pasted it, normalised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FingerprintQuery {
    /// A whole SHA-1 thumbprint.
    Sha1([u8; 20]),
    /// A whole SHA-256 of the certificate.
    Sha256([u8; 32]),
    /// A public key pin (`sha256//…`).
    SpkiSha256([u8; 32]),
    /// A prefix of at least [`MIN_PREFIX_HEX_DIGITS`] hex digits of the thumbprint or the SHA-256,
    /// in uppercase.
    HexPrefix(String),
}

/// Zero-width and direction marks that Windows dialogs and chat tools slip into copied text.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{2060}' | '\u{FEFF}')
}

/// Characters that carry no meaning in a pasted hex fingerprint: separators and invisible marks.
fn is_ignorable(c: char) -> bool {
    c.is_whitespace() || c == ':' || c == '-' || is_invisible(c)
}

/// Labels that a copied line may start with: the Summary's, `openssl x509 -fingerprint`'s and
/// `cloudgate`'s own, compared in lowercase without spaces, dashes or underscores.
const LABELS: &[&str] = &[
    "thumbprint",
    "sha1",
    "sha256",
    "sha1fingerprint",
    "sha256fingerprint",
    "fingerprint",
    "publickeypin",
    "pin",
    "spkisha256",
];

/// Quotes of every kind that mail and chat programs put around a pasted value.
fn is_quote(c: char) -> bool {
    matches!(
        c,
        '"' | '\''
            | '`'
            | '\u{201C}'
            | '\u{201D}'
            | '\u{2018}'
            | '\u{2019}'
            | '\u{00AB}'
            | '\u{00BB}'
    )
}

/// Takes off what surrounds a fingerprint in a copied line: a label (`Thumbprint:`,
/// `SHA-256:`, `SHA1 Fingerprint=`), quotes, and sentence punctuation at the end.
fn undecorate(input: &str) -> String {
    let mut s: String = input.chars().filter(|c| !is_invisible(*c)).collect();
    for _ in 0..3 {
        let t = s
            .trim()
            .trim_end_matches(['.', ',', ';', '!'])
            .trim_matches(is_quote)
            .trim();
        let t = match t.find([':', '=']) {
            Some(at) => {
                let label: String = t[..at]
                    .chars()
                    .filter(|c| !c.is_whitespace() && !matches!(c, '-' | '_'))
                    .flat_map(char::to_lowercase)
                    .collect();
                if LABELS.contains(&label.as_str()) {
                    &t[at + 1..]
                } else {
                    t
                }
            }
            None => t,
        };
        if t == s {
            break;
        }
        s = t.to_string();
    }
    s.trim().to_string()
}

impl FingerprintQuery {
    /// Reads a whole thumbprint (SHA-1), SHA-256 or `sha256//<base64>` public key pin, as a
    /// tenant verifying a certificate must give it: a prefix is refused, and the messages do not
    /// offer one.
    pub fn parse_whole(input: &str) -> Result<Self, PkiError> {
        let whole = |q: Self| match q {
            FingerprintQuery::HexPrefix(p) => Err(PkiError::InvalidFingerprint {
                input: undecorate(input),
                reason: format!(
                    "{} hex digits is neither a thumbprint (40) nor a SHA-256 (64); copy the whole line from the Summary the service provider sent you",
                    p.len()
                ),
            }),
            q => Ok(q),
        };
        match Self::parse(input) {
            Ok(q) => whole(q),
            Err(PkiError::InvalidFingerprint { input, reason }) => {
                Err(PkiError::InvalidFingerprint {
                    input,
                    reason: reason
                        .replace(
                            &format!(", a prefix of at least {MIN_PREFIX_HEX_DIGITS} hex digits,"),
                            "",
                        )
                        .replace(
                            &format!("a prefix needs at least {MIN_PREFIX_HEX_DIGITS} hex digits, this has"),
                            "a thumbprint has 40 hex digits and a SHA-256 64; this has",
                        ),
                })
            }
            Err(e) => Err(e),
        }
    }

    /// Reads a thumbprint (SHA-1), a SHA-256, a unique-prefix of either, or a `sha256//<base64>`
    /// public key pin. Case, spaces, colons, dashes and invisible marks are ignored, and so are
    /// a label, quotes and punctuation around it (a line copied from the Summary).
    pub fn parse(input: &str) -> Result<Self, PkiError> {
        let undecorated = undecorate(input);
        let trimmed = undecorated.as_str();
        if let Some(b64) = trimmed
            .strip_prefix("sha256//")
            .or_else(|| trimmed.strip_prefix("SHA256//"))
        {
            let bytes = BASE64
                .decode(b64.trim())
                .map_err(|e| PkiError::InvalidFingerprint {
                    input: trimmed.to_string(),
                    reason: format!("the part after sha256// is not valid base64 ({e})"),
                })?;
            let pin: [u8; 32] =
                bytes
                    .try_into()
                    .map_err(|v: Vec<u8>| PkiError::InvalidFingerprint {
                        input: trimmed.to_string(),
                        reason: format!(
                            "a public key pin holds 32 bytes, this one holds {}",
                            v.len()
                        ),
                    })?;
            return Ok(FingerprintQuery::SpkiSha256(pin));
        }
        let hex: String = trimmed.chars().filter(|c| !is_ignorable(*c)).collect();
        if hex.is_empty() {
            return Err(PkiError::InvalidFingerprint {
                input: trimmed.to_string(),
                reason: "it is empty".to_string(),
            });
        }
        if let Some(bad) = hex.chars().find(|c| !c.is_ascii_hexdigit()) {
            return Err(PkiError::InvalidFingerprint {
                input: trimmed.to_string(),
                reason: format!(
                    "{bad:?} is not a hex digit (give a SHA-1 thumbprint, a SHA-256, a prefix of at least {MIN_PREFIX_HEX_DIGITS} hex digits, or sha256//<base64>)"
                ),
            });
        }
        let hex = hex.to_ascii_uppercase();
        match hex.len() {
            40 => Ok(FingerprintQuery::Sha1(
                decode_hex(&hex)
                    .try_into()
                    .expect("40 hex digits are 20 bytes"),
            )),
            64 => Ok(FingerprintQuery::Sha256(
                decode_hex(&hex)
                    .try_into()
                    .expect("64 hex digits are 32 bytes"),
            )),
            n if n < MIN_PREFIX_HEX_DIGITS => Err(PkiError::InvalidFingerprint {
                input: trimmed.to_string(),
                reason: format!(
                    "a prefix needs at least {MIN_PREFIX_HEX_DIGITS} hex digits, this has {n}"
                ),
            }),
            n if n > 64 => Err(PkiError::InvalidFingerprint {
                input: trimmed.to_string(),
                reason: format!("{n} hex digits is longer than a SHA-256 (64)"),
            }),
            _ => Ok(FingerprintQuery::HexPrefix(hex)),
        }
    }

    /// Whether the certificate with these fingerprints is the one asked for.
    pub fn matches(&self, fp: &Fingerprints) -> bool {
        match self {
            FingerprintQuery::Sha1(x) => *x == fp.sha1,
            FingerprintQuery::Sha256(x) => *x == fp.sha256,
            FingerprintQuery::SpkiSha256(x) => *x == fp.spki_sha256,
            FingerprintQuery::HexPrefix(p) => {
                fp.thumbprint().starts_with(p) || fp.sha256_hex().starts_with(p)
            }
        }
    }
}

fn decode_hex(hex: &str) -> Vec<u8> {
    hex.as_bytes()
        .chunks(2)
        .map(|pair| {
            let s = std::str::from_utf8(pair).unwrap_or("00");
            u8::from_str_radix(s, 16).unwrap_or(0)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_hex_reads_back_upper_hex_and_nothing_else() {
        let bytes = [0x00, 0x9f, 0xa5, 0xff];
        assert_eq!(from_hex::<4>(&upper_hex(&bytes)), Some(bytes));
        assert_eq!(from_hex::<4>("009fa5ff"), Some(bytes));
        assert_eq!(from_hex::<4>("009FA5F"), None, "too short");
        assert_eq!(from_hex::<4>("009FA5FF00"), None, "too long");
        assert_eq!(from_hex::<4>("009FA5FG"), None, "not hex");
        assert_eq!(from_hex::<1>("é"), None, "two bytes, not ASCII");
    }

    fn sample() -> Fingerprints {
        Fingerprints::compute(b"certificate", b"spki")
    }

    #[test]
    fn text_forms() {
        let fp = sample();
        assert_eq!(fp.thumbprint().len(), 40);
        assert_eq!(fp.thumbprint(), fp.thumbprint().to_uppercase());
        assert_eq!(fp.sha256_hex().len(), 64);
        assert_eq!(fp.sha256_colons().len(), 64 + 31);
        assert!(fp.spki_pin().starts_with("sha256//"));
    }

    #[test]
    fn hex_forms_are_exact() {
        let bytes = [
            0x00, 0x09, 0x0A, 0x7F, 0x80, 0xAB, 0xCD, 0xEF, 0xFF, 0x12, 0x34, 0x56,
        ];
        assert_eq!(upper_hex(&bytes), "00090A7F80ABCDEFFF123456");
        assert_eq!(colon_hex(&bytes), "00:09:0A:7F:80:AB:CD:EF:FF:12:34:56");
        assert_eq!(upper_hex(&[]), "");
        assert_eq!(colon_hex(&[]), "");
        assert_eq!(colon_hex(&[0x5E]), "5E");
        let all: Vec<u8> = (0..=255).collect();
        let expected: String = all.iter().map(|b| format!("{b:02X}")).collect();
        assert_eq!(upper_hex(&all), expected);
    }

    #[test]
    fn windows_paste_is_normalised() {
        let fp = sample();
        let t = fp.thumbprint().to_lowercase();
        let spaced: String = t
            .as_bytes()
            .chunks(2)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join(" ");
        let pasted = format!("\u{200E}{spaced}\u{200F}\u{FEFF}");
        let q = FingerprintQuery::parse(&pasted).unwrap();
        assert_eq!(q, FingerprintQuery::Sha1(fp.sha1));
        assert!(q.matches(&fp));
    }

    #[test]
    fn a_certificates_sha256_is_the_same_whether_remembered_or_not() {
        use sha2::Digest as _;
        let (a, b) = (
            b"first certificate".as_slice(),
            b"second certificate".as_slice(),
        );
        for der in [a, a, b, a, b, b, &b"first certificatf"[..]] {
            let expected: [u8; 32] = sha2::Sha256::digest(der).into();
            assert_eq!(certificate_sha256(der), expected);
        }
        // The empty input is hashed, not taken for the initial empty memory.
        let empty: [u8; 32] = sha2::Sha256::digest(b"").into();
        assert_eq!(certificate_sha256(b""), empty);
    }

    #[test]
    fn sha256_colons_and_pins_are_read() {
        let fp = sample();
        assert!(
            FingerprintQuery::parse(&fp.sha256_colons())
                .unwrap()
                .matches(&fp)
        );
        assert!(
            FingerprintQuery::parse(&fp.sha256_hex().to_lowercase())
                .unwrap()
                .matches(&fp)
        );
        assert!(
            FingerprintQuery::parse(&fp.spki_pin())
                .unwrap()
                .matches(&fp)
        );
        assert!(
            FingerprintQuery::parse(&format!(" {}\n", fp.spki_pin()))
                .unwrap()
                .matches(&fp)
        );
    }

    #[test]
    fn copied_lines_are_read() {
        let fp = sample();
        let t = fp.thumbprint();
        let colons = fp.sha256_colons();
        let pin = fp.spki_pin();
        for pasted in [
            format!("Thumbprint: {t}"),
            format!("thumbprint:{t}."),
            format!("\"{t}\""),
            format!("'{t}',"),
            format!("\u{201C}{t}\u{201D}."),
            format!("SHA-256: {colons}"),
            format!("SHA256 Fingerprint={colons}"),
            format!("sha256 Fingerprint={colons}"),
            format!(
                "SHA1 Fingerprint={}",
                crate::fingerprint::colon_hex(&fp.sha1)
            ),
            format!("Public key pin: {pin}"),
            format!("`{pin}`"),
            format!("  \u{200B}Thumbprint: \"{t}\".  "),
        ] {
            let q = FingerprintQuery::parse_whole(&pasted)
                .unwrap_or_else(|e| panic!("{pasted:?}: {e}"));
            assert!(q.matches(&fp), "{pasted:?}");
        }
    }

    #[test]
    fn whole_fingerprints_refuse_prefixes_without_offering_them() {
        let fp = sample();
        for short in [&fp.thumbprint()[..12], "ABCDEF1", "Thumbprint: 6573"] {
            let e = FingerprintQuery::parse_whole(short)
                .unwrap_err()
                .to_string();
            assert!(!e.contains("prefix"), "{short}: {e}");
        }
        let e = FingerprintQuery::parse_whole("Thumbprint: xyz")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("prefix"), "{e}");
        assert!(FingerprintQuery::parse_whole("Serial number: 0A").is_err());
    }

    #[test]
    fn prefixes() {
        let fp = sample();
        let q = FingerprintQuery::parse(&fp.thumbprint()[..8]).unwrap();
        assert!(q.matches(&fp));
        let q = FingerprintQuery::parse(&fp.sha256_colons()[..14]).unwrap();
        assert!(q.matches(&fp));
        assert!(FingerprintQuery::parse("ABCDEF1").is_err());
    }

    #[test]
    fn bad_input_is_refused_with_a_reason() {
        for bad in [
            "",
            "   ",
            "xyz12345",
            "sha256//!!!",
            "sha256//AAAA",
            &"A".repeat(65),
        ] {
            let err = FingerprintQuery::parse(bad).unwrap_err().to_string();
            assert!(err.starts_with("invalid thumbprint"), "{bad}: {err}");
        }
    }
}
