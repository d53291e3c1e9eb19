//! The one place that decides exit codes.
//!
//! | code | meaning |
//! | --- | --- |
//! | 0 | success |
//! | 1 | runtime failure (I/O, permissions, a damaged store, a locked store) |
//! | 2 | bad usage or bad input (flags, files, unknown or ambiguous thumbprints) |
//! | 3 | trust failure (certificate not verified, pin mismatch) |
//! | 4 | authentication failure (tenant credentials) |

use cloudgate_errors::{Classify, ErrorKind};
use cloudgate_pki::PkiError;
use cloudgate_store::StoreError;

/// Exit code: runtime failure.
pub const RUNTIME: u8 = 1;
/// Exit code: bad usage or bad input.
pub const USAGE: u8 = 2;

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

/// The kind and stable code of one cause, when it is one of cloudgate's library errors. The
/// libraries classify themselves ([`Classify`]); this is only the list of their types.
fn classified(cause: &(dyn std::error::Error + 'static)) -> Option<(ErrorKind, &'static str)> {
    fn of(e: &dyn Classify) -> Option<(ErrorKind, &'static str)> {
        Some((e.kind(), e.code()))
    }
    if cause.downcast_ref::<UsageError>().is_some() {
        return Some((ErrorKind::Usage, ErrorKind::Usage.name()));
    }
    if let Some(e) = cause.downcast_ref::<StoreError>() {
        return of(e);
    }
    if let Some(e) = cause.downcast_ref::<cloudgate_tenant::TenantError>() {
        return of(e);
    }
    if let Some(e) = cause.downcast_ref::<cloudgate_db::DbError>() {
        return of(e);
    }
    #[cfg(feature = "sp")]
    if let Some(e) = cause.downcast_ref::<cloudgate_sp::SpError>() {
        return of(e);
    }
    #[cfg(feature = "sp")]
    if let Some(e) = cause.downcast_ref::<cloudgate_gateway::GatewayError>() {
        return of(e);
    }
    if let Some(e) = cause.downcast_ref::<PkiError>() {
        return of(e);
    }
    None
}

/// The exit code for an error: the first classified cause in its chain decides; an error no
/// library classified is a runtime failure.
pub fn code_for(err: &anyhow::Error) -> u8 {
    err.chain()
        .find_map(classified)
        .map_or(RUNTIME, |(kind, _)| kind.exit_code())
}

/// A stable, machine-readable name for an error, for `--json` error objects: scripts branch
/// on it rather than on the wording.
pub fn code_name(err: &anyhow::Error) -> &'static str {
    err.chain()
        .find_map(classified)
        .map_or("runtime", |(_, code)| code)
}

/// The database error an error stands for: itself, or the one a tenant or SP error wraps
/// transparently (which the cause chain does not show).
fn db_error_in<'a>(c: &'a (dyn std::error::Error + 'static)) -> Option<&'a cloudgate_db::DbError> {
    if let Some(d) = c.downcast_ref::<cloudgate_db::DbError>() {
        return Some(d);
    }
    if let Some(cloudgate_tenant::TenantError::Db(d)) = c.downcast_ref() {
        return Some(d);
    }
    #[cfg(feature = "sp")]
    if let Some(cloudgate_sp::SpError::Db(d)) = c.downcast_ref() {
        return Some(d);
    }
    None
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
    } else if crate::context::acting_as().is_some()
        && err.chain().any(|c| {
            c.downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::PermissionDenied)
        })
    {
        text.push_str(&crate::context::acting_as_hint());
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

    #[test]
    fn the_same_library_error_means_the_same_exit_code_on_every_path() {
        let direct = anyhow::Error::new(PkiError::KeyGeneration("x".into()));
        let via_tenant = anyhow::Error::new(cloudgate_tenant::TenantError::Pki(
            PkiError::KeyGeneration("x".into()),
        ));
        let via_sp = anyhow::Error::new(cloudgate_sp::SpError::Pki(PkiError::KeyGeneration(
            "x".into(),
        )));
        let via_store = anyhow::Error::new(StoreError::Pki(PkiError::KeyGeneration("x".into())));
        for e in [&direct, &via_tenant, &via_sp, &via_store] {
            assert_eq!(code_for(e), RUNTIME, "{e:?}");
        }
        let missing = || cloudgate_db::DbError::NoSuchTenant("x".into());
        let e = anyhow::Error::new(cloudgate_sp::SpError::Db(missing()));
        assert_eq!((code_for(&e), code_name(&e)), (USAGE, "not_found"));
        let e = anyhow::Error::new(cloudgate_tenant::TenantError::Db(missing()));
        assert_eq!((code_for(&e), code_name(&e)), (USAGE, "not_found"));
    }
}
