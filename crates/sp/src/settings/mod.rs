//! The SP's settings, owned here for every front end: `gateway.toml` (read with the store's
//! rules, [`public_address::read_config`]), the address tenants reach the SP at, the database
//! URL, and the rule for gateway ids and pool names.

pub mod config;
pub mod public_address;

pub use config::{DEFAULT_POOL, DEFAULT_PORT, GatewayConfig, check_fleet_name};

/// Why a setting is refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    /// A setting or the file is not acceptable; the message names the file or the key.
    #[error("{0}")]
    Config(String),
    /// The file could not be read or written.
    #[error(transparent)]
    Store(#[from] cloudgate_store::StoreError),
}

impl cloudgate_errors::Classify for SettingsError {
    fn kind(&self) -> cloudgate_errors::ErrorKind {
        match self {
            SettingsError::Config(_) => cloudgate_errors::ErrorKind::Usage,
            SettingsError::Store(e) => e.kind(),
        }
    }

    fn code(&self) -> &'static str {
        match self {
            SettingsError::Config(_) => "bad_input",
            SettingsError::Store(e) => e.code(),
        }
    }
}

impl From<SettingsError> for crate::SpError {
    fn from(e: SettingsError) -> Self {
        match e {
            SettingsError::Config(m) => crate::SpError::Invalid(m),
            SettingsError::Store(e) => crate::SpError::Store(e),
        }
    }
}

/// The address tenants are sent to, and whether it was configured (else this host's name).
pub fn effective_public_address(
    layout: &cloudgate_store::Layout,
) -> Result<(String, bool), SettingsError> {
    public_address::effective(layout)
}

/// The SP database's server URL: the one given (flag or environment), else `database` in
/// `gateway.toml`; `None` for the embedded SQLite file.
pub fn database_url(
    layout: &cloudgate_store::Layout,
    given: Option<&str>,
) -> Result<Option<String>, SettingsError> {
    if let Some(url) = given {
        return Ok(Some(url.to_string()));
    }
    Ok(public_address::file_config(layout)?.and_then(|c| c.database))
}
