//! The key types cloudgate generates, spelled as the `--key-type` flag spells them.

use std::fmt;
use std::str::FromStr;

use crate::PkiError;

/// A key type cloudgate can generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyType {
    /// RSA with a 2048-bit modulus (the default, as in the reference product).
    Rsa2048,
    /// RSA with a 3072-bit modulus.
    Rsa3072,
    /// RSA with a 4096-bit modulus.
    Rsa4096,
    /// ECDSA on NIST P-256, signed with SHA-256.
    EcdsaP256,
    /// ECDSA on NIST P-384, signed with SHA-384.
    EcdsaP384,
    /// Ed25519.
    Ed25519,
}

impl KeyType {
    /// Every supported key type, in the order help texts list them.
    pub const ALL: [KeyType; 6] = [
        KeyType::Rsa2048,
        KeyType::Rsa3072,
        KeyType::Rsa4096,
        KeyType::EcdsaP256,
        KeyType::EcdsaP384,
        KeyType::Ed25519,
    ];

    /// The flag spelling (`rsa-2048`, `ecdsa-p256`, …), also used in JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Rsa2048 => "rsa-2048",
            KeyType::Rsa3072 => "rsa-3072",
            KeyType::Rsa4096 => "rsa-4096",
            KeyType::EcdsaP256 => "ecdsa-p256",
            KeyType::EcdsaP384 => "ecdsa-p384",
            KeyType::Ed25519 => "ed25519",
        }
    }

    /// Whether generating this key takes long enough (seconds) to deserve a progress spinner.
    pub fn is_slow_to_generate(self) -> bool {
        matches!(self, KeyType::Rsa3072 | KeyType::Rsa4096)
    }

    /// Whether this is an RSA key (which also gets the keyEncipherment key usage).
    pub fn is_rsa(self) -> bool {
        matches!(self, KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096)
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KeyType {
    type Err = PkiError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase();
        KeyType::ALL
            .into_iter()
            .find(|k| k.as_str() == wanted)
            .ok_or_else(|| PkiError::UnknownKeyType(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in KeyType::ALL {
            assert_eq!(k.as_str().parse::<KeyType>().unwrap(), k);
        }
        assert_eq!("RSA-4096".parse::<KeyType>().unwrap(), KeyType::Rsa4096);
        assert!("rsa-1024".parse::<KeyType>().is_err());
        assert!("".parse::<KeyType>().is_err());
    }
}
