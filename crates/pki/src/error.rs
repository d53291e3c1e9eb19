//! The one error type of this crate.

/// Everything that can go wrong while building, parsing or matching certificates.
///
/// Messages are lowercase and name what was wrong; callers add the file or flag involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PkiError {
    /// A distinguished name given by the user could not be parsed.
    #[error("invalid distinguished name {input:?}: {reason}")]
    InvalidDistinguishedName {
        /// The text as given.
        input: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A subject alternative name given by the user is not a DNS name or an IP address.
    #[error("invalid subject alternative name {input:?}: {reason}")]
    InvalidSubjectAltName {
        /// The text as given.
        input: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A validity period of zero days or more than the maximum.
    #[error("invalid validity of {days} days: {reason}")]
    InvalidValidity {
        /// The number of days asked for.
        days: u32,
        /// Why it is refused.
        reason: &'static str,
    },
    /// A key type name that is not one of the supported ones.
    #[error(
        "unknown key type {0:?} (expected one of: rsa-2048, rsa-3072, rsa-4096, ecdsa-p256, ecdsa-p384, ed25519)"
    )]
    UnknownKeyType(String),
    /// Thumbprint text that is neither hex nor a `sha256//` pin.
    #[error("invalid thumbprint {input:?}: {reason}")]
    InvalidFingerprint {
        /// The text as given (after removing invisible characters).
        input: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Key generation failed inside the crypto library.
    #[error("key generation failed: {0}")]
    KeyGeneration(String),
    /// Signing the certificate failed.
    #[error("certificate signing failed: {0}")]
    Signing(String),
    /// Bytes that should be a DER X.509 certificate are not.
    #[error("not a valid X.509 certificate: {0}")]
    InvalidCertificate(String),
    /// Bytes that should be a private key are not one we can use.
    #[error("not a usable private key: {0}")]
    InvalidPrivateKey(String),
    /// A PKCS#12 file whose MAC or encryption does not open with the password given.
    #[error("{}", if *empty { "the file is password-protected: give its password (--password-file or --password-stdin)" } else { "wrong password for the PKCS#12 file" })]
    WrongPassword {
        /// Whether the password tried was empty.
        empty: bool,
    },
    /// A PKCS#12 file that is damaged, truncated or uses protection we do not support.
    #[error("not a usable PKCS#12 file: {0}")]
    InvalidPkcs12(String),
    /// A file with certificates but no private key.
    #[error(
        "the file holds no private key, and the gateway needs the private key; export the certificate with its private key"
    )]
    NoPrivateKey,
    /// A private key that belongs to none of the certificates given.
    #[error("the private key does not match the certificate")]
    KeyMismatch,
    /// A file with several private keys, each for its certificate; one must be chosen.
    #[error(
        "the file holds {} private keys, for: {}; choose one with --select THUMBPRINT",
        .0.len(),
        .0.join("; ")
    )]
    SeveralKeys(Vec<String>),
    /// An input file that is none of the formats we read, or is empty or too large.
    #[error("{0}")]
    InvalidInput(String),
    /// A certificate that may not serve as the SP certificate.
    #[error("the certificate cannot be used: {0}")]
    Unsuitable(String),
    /// PEM text that is truncated, malformed or holds no object of the wanted kind.
    #[error("invalid PEM: {0}")]
    InvalidPem(String),
}

impl cloudgate_errors::Classify for PkiError {
    fn kind(&self) -> cloudgate_errors::ErrorKind {
        use cloudgate_errors::ErrorKind;
        match self {
            // The machine could not make or sign a key: nothing the user typed is wrong.
            PkiError::KeyGeneration(_) | PkiError::Signing(_) => ErrorKind::Internal,
            _ => ErrorKind::Usage,
        }
    }
}
