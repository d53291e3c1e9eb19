//! The one place that decides exit codes.
//!
//! | code | meaning |
//! | --- | --- |
//! | 0 | success |
//! | 1 | runtime failure (I/O, permissions, a damaged store, a locked store) |
//! | 2 | bad usage or bad input (flags, files, unknown or ambiguous thumbprints) |
//! | 3 | trust failure (certificate not verified, pin mismatch) |
//! | 4 | authentication failure (tenant credentials) |

use cloudgate_pki::PkiError;
use cloudgate_store::StoreError;

/// Exit code: runtime failure.
pub const RUNTIME: u8 = 1;
/// Exit code: bad usage or bad input.
pub const USAGE: u8 = 2;
/// Exit code: trust failure (certificate not verified, pin mismatch).
pub const TRUST: u8 = 3;
/// Exit code: authentication failure (tenant credentials).
pub const AUTH: u8 = 4;

/// The exit code text shown in `--help`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success
  1  runtime failure (I/O, permissions, a damaged or locked store)
  2  bad usage or bad input (flags, files, unknown or ambiguous thumbprint)
  3  trust failure (certificate not verified, pin mismatch)
  4  authentication failure (tenant credentials)";

/// An error in what the user gave us, detected by the binary itself: exits 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Builds a [`UsageError`] wrapped in `anyhow`.
pub fn usage(msg: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(UsageError(msg.into()))
}

/// The exit code for an error: the first classified cause in its chain decides.
pub fn code_for(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if cause.downcast_ref::<UsageError>().is_some() {
            return USAGE;
        }
        if let Some(e) = cause.downcast_ref::<StoreError>() {
            return if e.is_bad_input() { USAGE } else { RUNTIME };
        }
        if let Some(e) = cause.downcast_ref::<cloudgate_tenant::TenantError>() {
            return match e.kind() {
                cloudgate_tenant::ErrorKind::Trust => TRUST,
                cloudgate_tenant::ErrorKind::Authentication => AUTH,
                cloudgate_tenant::ErrorKind::BadInput => USAGE,
                cloudgate_tenant::ErrorKind::Runtime => RUNTIME,
            };
        }
        if let Some(e) = cause.downcast_ref::<cloudgate_db::DbError>() {
            return if e.is_bad_input() { USAGE } else { RUNTIME };
        }
        if let Some(e) = cause.downcast_ref::<cloudgate_sp::SpError>() {
            return match e {
                cloudgate_sp::SpError::Db(d) => code_for(&anyhow::Error::msg(d.to_string()))
                    .max(if d.is_bad_input() { USAGE } else { RUNTIME }),
                _ if e.is_bad_input() => USAGE,
                _ => RUNTIME,
            };
        }
        if let Some(e) = cause.downcast_ref::<PkiError>() {
            return match e {
                PkiError::KeyGeneration(_) | PkiError::Signing(_) => RUNTIME,
                _ => USAGE,
            };
        }
    }
    RUNTIME
}

/// A stable, machine-readable name for an error, for `--json` error objects: scripts branch
/// on it rather than on the wording.
pub fn code_name(err: &anyhow::Error) -> &'static str {
    use cloudgate_db::DbError;
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<StoreError>() {
            return match e {
                StoreError::NotFound { .. } => "not_found",
                StoreError::Ambiguous { .. } => "ambiguous",
                StoreError::PermissionDenied { .. } => "permission_denied",
                StoreError::InsecurePermissions { .. } => "insecure_permissions",
                StoreError::Locked { .. } => "locked",
                StoreError::AlreadyExists { .. } => "conflict",
                StoreError::CertificateInUse { .. } => "conflict",
                StoreError::Corrupt { .. } => "corrupt",
                _ if e.is_bad_input() => "bad_input",
                _ => "runtime",
            };
        }
        if let Some(e) = cause.downcast_ref::<DbError>() {
            return db_code_name(e);
        }
        if let Some(e) = cause.downcast_ref::<cloudgate_sp::SpError>() {
            return match e {
                cloudgate_sp::SpError::Db(d) => db_code_name(d),
                _ if e.is_bad_input() => "bad_input",
                _ => "runtime",
            };
        }
        if let Some(e) = cause.downcast_ref::<cloudgate_tenant::TenantError>() {
            return match e {
                cloudgate_tenant::TenantError::PinMismatch(_) => "pin_mismatch",
                cloudgate_tenant::TenantError::ThumbprintMismatch { .. } => "thumbprint_mismatch",
                cloudgate_tenant::TenantError::Untrusted { .. } => "untrusted",
                cloudgate_tenant::TenantError::Authentication(_) => "authentication",
                cloudgate_tenant::TenantError::Unreachable { .. } => "unreachable",
                cloudgate_tenant::TenantError::Db(d) => db_code_name(d),
                _ => match e.kind() {
                    cloudgate_tenant::ErrorKind::BadInput => "bad_input",
                    _ => "runtime",
                },
            };
        }
    }
    match code_for(err) {
        USAGE => "bad_input",
        TRUST => "trust",
        AUTH => "authentication",
        _ => "runtime",
    }
}

/// The database error an error stands for: itself, or the one a tenant or SP error wraps
/// transparently (which the cause chain does not show).
fn db_error_in<'a>(c: &'a (dyn std::error::Error + 'static)) -> Option<&'a cloudgate_db::DbError> {
    if let Some(d) = c.downcast_ref::<cloudgate_db::DbError>() {
        return Some(d);
    }
    match (
        c.downcast_ref::<cloudgate_tenant::TenantError>(),
        c.downcast_ref::<cloudgate_sp::SpError>(),
    ) {
        (Some(cloudgate_tenant::TenantError::Db(d)), _)
        | (_, Some(cloudgate_sp::SpError::Db(d))) => Some(d),
        _ => None,
    }
}

fn db_code_name(e: &cloudgate_db::DbError) -> &'static str {
    use cloudgate_db::DbError;
    match e {
        DbError::NoSuchTenant(_)
        | DbError::NoSuchService { .. }
        | DbError::NoSuchClientCert { .. }
        | DbError::NoSuchProvider(_)
        | DbError::NoSuchToken(_) => "not_found",
        DbError::AmbiguousToken(_) => "ambiguous",
        DbError::TenantExists(_) | DbError::ServiceExists { .. } | DbError::ProviderExists(_) => {
            "conflict"
        }
        DbError::Locked { .. } => "locked",
        DbError::DiskFull { .. } => "disk_full",
        _ if e.is_bad_input() => "bad_input",
        _ => "runtime",
    }
}

/// The one-line message for an error: its chain joined with `: `, without repeating a cause
/// that an outer message already quotes, plus a hint for a full disk or a locked database.
pub fn message(err: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in err.chain() {
        let part = cause.to_string();
        if text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    // SQLite reports a full disk as SQLITE_FULL or, when its shared-memory file cannot grow, as
    // a bare I/O error; the free space of the database's directory tells which.
    let db_errors = || err.chain().filter_map(db_error_in);
    let io_error_on_full_disk = || {
        db_errors().any(|e| match e {
            cloudgate_db::DbError::Sql { path, .. } if e.is_io_error() => {
                let dir = std::path::Path::new(path)
                    .parent()
                    .unwrap_or(std::path::Path::new("."));
                cloudgate_store::fsio::available_bytes(dir).is_some_and(|n| n < 64 * 1024)
            }
            _ => false,
        })
    };
    let full = err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::StorageFull)
    }) || db_errors().any(|e| matches!(e, cloudgate_db::DbError::DiskFull { .. }))
        || io_error_on_full_disk();
    if full {
        text.push_str("\n  hint: the file system is full; free space on it and run the command again (nothing was half-written)");
    } else if db_errors().any(|e| matches!(e, cloudgate_db::DbError::Locked { .. })) {
        text.push_str("\n  hint: another process holds a lock on the database; wait for it to finish (or stop it) and run the command again");
    }
    text
}

/// Whether the error is a closed stdout (`cloudgate sp cert list | head -1`), which is not a
/// failure.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        assert_eq!(code_for(&usage("x")), USAGE);
        assert_eq!(code_for(&anyhow::anyhow!("x")), RUNTIME);
        let e = anyhow::Error::new(StoreError::NotFound { query: "x".into() }).context("finding");
        assert_eq!(code_for(&e), USAGE);
        let e = anyhow::Error::new(StoreError::Locked { path: "x".into() });
        assert_eq!(code_for(&e), RUNTIME);
        let e = anyhow::Error::new(PkiError::UnknownKeyType("x".into()));
        assert_eq!(code_for(&e), USAGE);
    }
}
