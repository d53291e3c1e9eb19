//! Join tokens: one string that tells a tenant where the SP is, which key it must present, and
//! authorises one enrollment — `cgt1.` then base64url of
//! `version ‖ id(16) ‖ secret(32) ‖ pins ‖ addresses ‖ checksum(4)`. The checksum (the first
//! four bytes of SHA-256 over everything before it) catches a mistyped or cut token before any
//! connection. The SP stores only the SHA-256 of the secret; the tenant sends the id and the
//! secret, and only to a gateway that proved it holds a pinned key.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

/// What every token starts with.
pub const PREFIX: &str = "cgt1.";
/// The binary format's version.
const VERSION: u8 = 1;
/// Most public key pins a token carries (the key in use and a staged successor, with room).
pub const MAX_PINS: usize = 4;
/// Most gateway addresses a token carries.
pub const MAX_ADDRESSES: usize = 16;
/// Longest address, in bytes.
const MAX_ADDRESS_LEN: usize = 255;
/// Longest token accepted, in characters.
const MAX_TOKEN_LEN: usize = 8192;

/// Why a token could not be read: all of them are mistakes in what was pasted (exit 2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a cloudgate join token.
    #[error("this is not a cloudgate join token: it must start with {PREFIX}")]
    Prefix,
    /// A token format this version does not know.
    #[error(
        "this join token has format version {0}, which this cloudgate does not know; update cloudgate"
    )]
    Version(u8),
    /// Not base64url.
    #[error(
        "the join token contains a character that cannot be in one ({0:?}); copy it again, whole"
    )]
    Encoding(char),
    /// Too short for its contents.
    #[error("the join token is cut off; copy it again, whole")]
    Truncated,
    /// The checksum does not match: a character was changed.
    #[error(
        "the join token's checksum does not match: a character was changed or lost; copy it again"
    )]
    Checksum,
    /// Far longer than any token.
    #[error("this is far longer than a join token")]
    TooLong,
    /// Something inside is not what a token holds.
    #[error("the join token is damaged: {0}")]
    Damaged(&'static str),
}

/// A join token's contents.
#[derive(Clone, PartialEq, Eq)]
pub struct JoinToken {
    /// The token's public id (the SP lists and revokes by it).
    pub id: [u8; 16],
    /// The one-time credential; never logged.
    pub secret: Zeroizing<[u8; 32]>,
    /// SHA-256 of the SubjectPublicKeyInfo of each key the gateway may present.
    pub pins: Vec<[u8; 32]>,
    /// Where the gateways are: `host:port` (IPv6 in brackets), first to try first.
    pub addresses: Vec<String>,
}

impl std::fmt::Debug for JoinToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinToken")
            .field("id", &self.id_hex())
            .field("secret", &"(hidden)")
            .field("pins", &self.pins.len())
            .field("addresses", &self.addresses)
            .finish()
    }
}

fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    // The system's CSPRNG failing is not survivable for key material anyway.
    aws_lc_rs::rand::fill(&mut b).expect("the system random number generator works");
    b
}

impl JoinToken {
    /// A new token with a random id and secret.
    pub fn new(pins: Vec<[u8; 32]>, addresses: Vec<String>) -> Result<Self, TokenError> {
        if pins.is_empty() || pins.len() > MAX_PINS {
            return Err(TokenError::Damaged("a token pins one to four keys"));
        }
        if addresses.is_empty() || addresses.len() > MAX_ADDRESSES {
            return Err(TokenError::Damaged(
                "a token names one to sixteen addresses",
            ));
        }
        if addresses
            .iter()
            .any(|a| a.is_empty() || a.len() > MAX_ADDRESS_LEN)
        {
            return Err(TokenError::Damaged("an address is empty or too long"));
        }
        Ok(JoinToken {
            id: random(),
            secret: Zeroizing::new(random()),
            pins,
            addresses,
        })
    }

    /// The id as 32 lowercase hex digits (what lists, revocations and audit lines show).
    pub fn id_hex(&self) -> String {
        crate::fingerprint::upper_hex(&self.id).to_ascii_lowercase()
    }

    /// The SHA-256 of the secret, as the SP stores it (64 lowercase hex digits).
    pub fn secret_sha256_hex(&self) -> String {
        secret_hash_hex(&self.secret[..])
    }

    /// The token as the SP sends it.
    pub fn encode(&self) -> Zeroizing<String> {
        let mut b = Zeroizing::new(Vec::with_capacity(128));
        b.push(VERSION);
        b.extend_from_slice(&self.id);
        b.extend_from_slice(&self.secret[..]);
        b.push(self.pins.len() as u8);
        for p in &self.pins {
            b.extend_from_slice(p);
        }
        b.push(self.addresses.len() as u8);
        for a in &self.addresses {
            b.push(a.len() as u8);
            b.extend_from_slice(a.as_bytes());
        }
        let sum = Sha256::digest(&b[..]);
        b.extend_from_slice(&sum[..4]);
        Zeroizing::new(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(&b[..])))
    }

    /// Reads a token as pasted: surrounding blanks, line breaks and invisible marks are ignored.
    pub fn parse(input: &str) -> Result<Self, TokenError> {
        if input.len() > MAX_TOKEN_LEN {
            return Err(TokenError::TooLong);
        }
        let cleaned: Zeroizing<String> = Zeroizing::new(
            input
                .chars()
                .filter(|c| {
                    !c.is_whitespace()
                        && !matches!(c, '\u{200B}'..='\u{200F}' | '\u{2060}' | '\u{FEFF}')
                })
                .collect(),
        );
        let body = match cleaned.strip_prefix(PREFIX) {
            Some(b) => b,
            None => match cleaned.strip_prefix("cgt") {
                Some(rest) if rest.chars().next().is_some_and(|c| c.is_ascii_digit()) => {
                    let v = rest
                        .chars()
                        .take_while(char::is_ascii_digit)
                        .collect::<String>();
                    return Err(TokenError::Version(v.parse().unwrap_or(u8::MAX)));
                }
                _ => return Err(TokenError::Prefix),
            },
        };
        if let Some(c) = body
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        {
            return Err(TokenError::Encoding(c));
        }
        let b = Zeroizing::new(
            URL_SAFE_NO_PAD
                .decode(body)
                .map_err(|_| TokenError::Truncated)?,
        );
        if b.len() < 1 + 16 + 32 + 1 + 32 + 1 + 4 {
            return Err(TokenError::Truncated);
        }
        let (content, sum) = b.split_at(b.len() - 4);
        if Sha256::digest(content)[..4] != *sum {
            return Err(TokenError::Checksum);
        }
        if content[0] != VERSION {
            return Err(TokenError::Version(content[0]));
        }
        let mut r = Reader { b: content, at: 1 };
        let id: [u8; 16] = r.array()?;
        let secret = Zeroizing::new(r.array::<32>()?);
        let npins = usize::from(r.byte()?);
        if npins == 0 || npins > MAX_PINS {
            return Err(TokenError::Damaged("it pins no key, or too many"));
        }
        let pins = (0..npins)
            .map(|_| r.array::<32>())
            .collect::<Result<Vec<_>, _>>()?;
        let naddr = usize::from(r.byte()?);
        if naddr == 0 || naddr > MAX_ADDRESSES {
            return Err(TokenError::Damaged("it names no address, or too many"));
        }
        let mut addresses = Vec::with_capacity(naddr);
        for _ in 0..naddr {
            let len = usize::from(r.byte()?);
            let raw = r.take(len)?;
            let a = std::str::from_utf8(raw)
                .map_err(|_| TokenError::Damaged("an address is not text"))?;
            if a.is_empty() || a.chars().any(|c| c.is_control() || c.is_whitespace()) {
                return Err(TokenError::Damaged("an address is empty or has blanks"));
            }
            addresses.push(a.to_string());
        }
        if r.at != content.len() {
            return Err(TokenError::Damaged("there are bytes after the addresses"));
        }
        Ok(JoinToken {
            id,
            secret,
            pins,
            addresses,
        })
    }

    /// The `Authorization` header value a tenant enrolls with: `Bearer ID.SECRET` (hex id,
    /// base64url secret). Only for a gateway that presented a pinned key.
    pub fn bearer(&self) -> Zeroizing<String> {
        Zeroizing::new(format!(
            "Bearer {}.{}",
            self.id_hex(),
            URL_SAFE_NO_PAD.encode(&self.secret[..])
        ))
    }
}

/// The SHA-256 of a token secret, lowercase hex.
fn secret_hash_hex(secret: &[u8]) -> String {
    crate::fingerprint::upper_hex(&Sha256::digest(secret)).to_ascii_lowercase()
}

/// What a gateway reads from `Authorization: Bearer ID.SECRET`: the id (hex) and the SHA-256
/// of the secret (hex), so the secret itself is dropped (and wiped) at once.
pub fn parse_bearer(value: &str) -> Option<(String, String)> {
    let rest = value.strip_prefix("Bearer ")?;
    let (id, secret) = rest.split_once('.')?;
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let secret = Zeroizing::new(URL_SAFE_NO_PAD.decode(secret).ok()?);
    if secret.len() != 32 {
        return None;
    }
    Some((id.to_ascii_lowercase(), secret_hash_hex(&secret)))
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], TokenError> {
        let end = self.at.checked_add(n).ok_or(TokenError::Truncated)?;
        let s = self.b.get(self.at..end).ok_or(TokenError::Truncated)?;
        self.at = end;
        Ok(s)
    }

    fn byte(&mut self) -> Result<u8, TokenError> {
        Ok(self.take(1)?[0])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], TokenError> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> JoinToken {
        JoinToken::new(
            vec![[7u8; 32], [9u8; 32]],
            vec![
                "backup.example.com:6180".into(),
                "[2001:db8::1]:6180".into(),
            ],
        )
        .unwrap()
    }

    #[test]
    fn round_trip() {
        let t = sample();
        let text = t.encode();
        assert!(text.starts_with("cgt1."));
        let back = JoinToken::parse(&text).unwrap();
        assert_eq!(back, t);
        // Pasted with line breaks and an invisible mark.
        let pasted = format!("  {}\n{}\u{200B} ", &text[..30], &text[30..]);
        assert_eq!(JoinToken::parse(&pasted).unwrap(), t);
        assert_ne!(sample().id, t.id, "ids are random");
    }

    #[test]
    fn every_single_character_change_is_caught() {
        let text = sample().encode();
        let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        for i in PREFIX.len()..text.len() {
            let c = text.as_bytes()[i] as char;
            let other = alphabet.chars().find(|x| *x != c).unwrap();
            let mut changed = text.to_string();
            changed.replace_range(i..=i, &other.to_string());
            assert!(
                JoinToken::parse(&changed).is_err(),
                "change at {i} not caught"
            );
        }
        for cut in [1, 5, 20] {
            assert!(JoinToken::parse(&text[..text.len() - cut]).is_err());
        }
    }

    #[test]
    fn errors_name_the_problem() {
        assert_eq!(JoinToken::parse("hello"), Err(TokenError::Prefix));
        assert_eq!(JoinToken::parse("cgt2.AAAA"), Err(TokenError::Version(2)));
        assert_eq!(
            JoinToken::parse("cgt1.ab$c"),
            Err(TokenError::Encoding('$'))
        );
        assert_eq!(JoinToken::parse("cgt1.AAAA"), Err(TokenError::Truncated));
        assert_eq!(
            JoinToken::parse(&"x".repeat(10_000)),
            Err(TokenError::TooLong)
        );
    }

    #[test]
    fn the_bearer_value_carries_the_id_and_a_secret_the_sp_can_hash() {
        let t = sample();
        let (id, hash) = parse_bearer(&t.bearer()).unwrap();
        assert_eq!(id, t.id_hex());
        assert_eq!(hash, t.secret_sha256_hex());
        assert!(parse_bearer("Basic abc").is_none());
        assert!(parse_bearer("Bearer xyz.abc").is_none());
        assert!(!format!("{t:?}").contains(&URL_SAFE_NO_PAD.encode(&t.secret[..])));
    }
}
