//! Errors of the SP and tenant databases, classified by the driver's result code, never by the
//! text of its message.

use cloudgate_errors::{Classify, ErrorKind};

/// Errors of the SP and tenant databases.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    /// The database could not be opened, read or written.
    #[error("database {path}: {source}")]
    Sql {
        /// The database file (or server).
        path: String,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// Another process held a lock on the database longer than the wait (SQLITE_BUSY or
    /// SQLITE_LOCKED).
    #[error("database {path} is locked by another process: {source}")]
    Locked {
        /// The database file.
        path: String,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// This process may not write (SQLITE_READONLY) or open (SQLITE_CANTOPEN) the database file,
    /// its journal or its directory: usually a file created by another user, such as root.
    #[error("cannot {action} the database {path}: {whose}")]
    NotWritable {
        /// The database file.
        path: String,
        /// "write" or "open".
        action: &'static str,
        /// Who owns what, and the command that fixes it.
        whose: String,
    },
    /// The file system holding the database is full (SQLITE_FULL).
    #[error("database {path}: the file system is full: {source}")]
    DiskFull {
        /// The database file.
        path: String,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// The database server could not be reached (or refused the connection).
    #[error(
        "cannot reach the database at {path}: {source}; check the URL (--database or CLOUDGATE_DATABASE_URL) and that the server runs and accepts this host"
    )]
    Unreachable {
        /// The server, without its password.
        path: String,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// An import into a database that already holds tenants or join tokens.
    #[error(
        "database {path} already holds {tenants} tenant(s) and {tokens} join token(s); import into an empty database (nothing was written)"
    )]
    NotEmpty {
        /// The database, without its password.
        path: String,
        /// Tenants it holds.
        tenants: i64,
        /// Join tokens it holds.
        tokens: i64,
    },
    /// A database URL that cannot be used.
    #[error("invalid database URL {url}: {reason}")]
    BadUrl {
        /// The URL, without its password.
        url: String,
        /// Why.
        reason: String,
    },
    /// A migration failed.
    #[error("database {path}: applying the schema migrations failed: {source}")]
    Migrate {
        /// The database file.
        path: String,
        /// The migrator's error.
        source: sqlx::migrate::MigrateError,
    },
    /// The database was migrated by a newer cloudgate than this one.
    #[error(
        "database {path} has schema version {version}, which this cloudgate does not know; it was written by a newer version: upgrade cloudgate"
    )]
    SchemaNewer {
        /// The database file.
        path: String,
        /// The unknown migration.
        version: i64,
    },
    /// No tenant of that name.
    #[error("no tenant named {0:?}; `cloudgate sp tenant list` shows them")]
    NoSuchTenant(String),
    /// A tenant of that name exists already.
    #[error("a tenant named {0:?} exists already (tenant names are unique without regard to case)")]
    TenantExists(String),
    /// No such service for that tenant.
    #[error("tenant {tenant:?} has no service named {service:?}")]
    NoSuchService {
        /// The tenant.
        tenant: String,
        /// The service.
        service: String,
    },
    /// The tenant has that service already.
    #[error("tenant {tenant:?} has a service named {service:?} already; remove it first")]
    ServiceExists {
        /// The tenant.
        tenant: String,
        /// The service.
        service: String,
    },
    /// No enrolled client certificate with that SHA-256 for that tenant.
    #[error("tenant {tenant:?} has no enrolled client certificate {sha256}")]
    NoSuchClientCert {
        /// The tenant.
        tenant: String,
        /// The certificate's SHA-256.
        sha256: String,
    },
    /// No provider of that name (tenant side).
    #[error("no provider named {0:?}; `cloudgate tenant provider list` shows them")]
    NoSuchProvider(String),
    /// A provider of that name exists already (tenant side).
    #[error("a provider named {0:?} exists already; pick another --name or remove it first")]
    ProviderExists(String),
    /// The client certificate is enrolled for another tenant.
    #[error("this client certificate is enrolled for another tenant")]
    ClientCertTaken,
    /// An administrator of that name exists already.
    #[error("an administrator named {0:?} exists already")]
    AdminExists(String),
    /// No administrator of that name.
    #[error("no administrator named {0:?}; `cloudgate sp admin list` shows them")]
    NoSuchAdmin(String),
    /// No API token with that id.
    #[error("no API token {0}; `cloudgate sp admin token list` shows them")]
    NoSuchApiToken(String),
    /// No join token with that id.
    #[error("no join token {0}; `cloudgate sp tenant token list` shows them")]
    NoSuchToken(String),
    /// Several join tokens start with that prefix.
    #[error("several tokens start with {0}; give more of the id")]
    AmbiguousToken(String),
    /// The database path is a link or not a regular file.
    #[error(
        "refusing to open the database {path}: it is {what}, not a regular file; replace it with the real file"
    )]
    NotRegularFile {
        /// The database file.
        path: String,
        /// What it is.
        what: &'static str,
    },
    /// A stored value could not be encoded or decoded.
    #[error("database {path}: {reason}")]
    Corrupt {
        /// The database file.
        path: String,
        /// What went wrong.
        reason: String,
    },
}

/// SQLite's primary result code of a driver error, when it is one.
fn sqlite_code(e: &sqlx::Error) -> Option<i64> {
    let code = e.as_database_error()?.code()?;
    code.parse::<i64>().ok().map(|c| c & 0xff)
}

/// A driver error, classified by SQLite's result code: a lock held too long and a full disk have
/// variants of their own.
pub(crate) fn classify(path: &str, source: sqlx::Error) -> DbError {
    const SQLITE_BUSY: i64 = 5;
    const SQLITE_LOCKED: i64 = 6;
    const SQLITE_READONLY: i64 = 8;
    const SQLITE_FULL: i64 = 13;
    const SQLITE_CANTOPEN: i64 = 14;
    let path = path.to_string();
    match sqlite_code(&source) {
        Some(SQLITE_BUSY | SQLITE_LOCKED) => DbError::Locked { path, source },
        Some(code @ (SQLITE_READONLY | SQLITE_CANTOPEN)) => DbError::NotWritable {
            whose: crate::whose::explain(std::path::Path::new(&path)),
            action: if code == SQLITE_READONLY {
                "write"
            } else {
                "open"
            },
            path,
        },
        Some(SQLITE_FULL) => DbError::DiskFull { path, source },
        _ => DbError::Sql { path, source },
    }
}

impl DbError {
    /// Whether the database could not be written or opened for its files' owners or modes (the
    /// connections that saw it are not used again).
    pub fn is_not_writable(&self) -> bool {
        matches!(self, DbError::NotWritable { .. })
    }

    /// Whether SQLite reported an I/O error (SQLITE_IOERR): when the disk is full, SQLite says
    /// this rather than SQLITE_FULL if its shared-memory file cannot grow.
    pub fn is_io_error(&self) -> bool {
        const SQLITE_IOERR: i64 = 10;
        matches!(self, DbError::Sql { source, .. } if sqlite_code(source) == Some(SQLITE_IOERR))
    }

    /// Whether the error is about what the user asked for, not the database itself.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self.kind(),
            ErrorKind::Usage | ErrorKind::NotFound | ErrorKind::Conflict
        )
    }
}

impl Classify for DbError {
    fn kind(&self) -> ErrorKind {
        match self {
            DbError::NoSuchTenant(_)
            | DbError::NoSuchService { .. }
            | DbError::NoSuchClientCert { .. }
            | DbError::NoSuchProvider(_)
            | DbError::NoSuchToken(_)
            | DbError::NoSuchAdmin(_)
            | DbError::NoSuchApiToken(_) => ErrorKind::NotFound,
            DbError::TenantExists(_)
            | DbError::AdminExists(_)
            | DbError::ServiceExists { .. }
            | DbError::ProviderExists(_)
            | DbError::ClientCertTaken
            | DbError::AmbiguousToken(_)
            | DbError::NotEmpty { .. } => ErrorKind::Conflict,
            DbError::Locked { .. } | DbError::DiskFull { .. } => ErrorKind::Unavailable,
            DbError::SchemaNewer { .. } | DbError::Unreachable { .. } => ErrorKind::Unavailable,
            DbError::BadUrl { .. } => ErrorKind::Usage,
            DbError::NotRegularFile { .. } | DbError::Corrupt { .. } => ErrorKind::Io,
            DbError::NotWritable { .. } => ErrorKind::Io,
            DbError::Sql { .. } | DbError::Migrate { .. } => ErrorKind::Io,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            DbError::AmbiguousToken(_) => "ambiguous",
            DbError::NotEmpty { .. } => "not_empty",
            DbError::Locked { .. } => "locked",
            DbError::DiskFull { .. } => "disk_full",
            DbError::NotWritable { .. } => "not_writable",
            DbError::SchemaNewer { .. } => "schema_newer",
            DbError::Unreachable { .. } => "unreachable",
            DbError::NotRegularFile { .. } | DbError::Corrupt { .. } => "corrupt",
            DbError::Sql { .. } | DbError::Migrate { .. } => "runtime",
            _ => self.kind().name(),
        }
    }
}
