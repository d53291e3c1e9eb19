//! The one error type of this crate.

use std::path::PathBuf;

use cloudgate_errors::{Classify as _, ErrorKind};
use cloudgate_pki::PkiError;

/// Everything that can go wrong with the store, the license or the audit log.
///
/// Each variant that concerns a file names it; messages say how to fix what can be fixed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// An I/O error on a file or directory.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done (`reading`, `creating`, …).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The operating system refused access to a file: the user is not its owner, root, or in the
    /// admin group.
    #[error("permission denied {action} {path}{}: the data directory is readable only by its owner, root and members of the admin group{}, and changed only by its owner and root; run as one of them, or pass --data-dir DIR (or set CLOUDGATE_HOME) for a directory of your own", owner.as_ref().map(|o| format!(" (owned by {o})")).unwrap_or_default(), group.as_ref().map(|g| format!(" ({g})")).unwrap_or_default())]
    PermissionDenied {
        /// What was being done.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The admin group's name, when known.
        group: Option<String>,
        /// Who owns the file, or the nearest directory above it that exists, when that is
        /// another user: the usual cause.
        owner: Option<String>,
    },
    /// Root could not take on the identity of the data directory's owner.
    #[error(
        "cannot act as {user}, the owner of {path}: {source}; run the command as {user} (`sudo -u {user} cloudgate …`)"
    )]
    ActAsOwner {
        /// The owner's name.
        user: String,
        /// The data directory.
        path: PathBuf,
        /// The operating system's error.
        source: nix::Error,
    },
    /// A file or directory whose permissions are too open; it is refused until fixed.
    #[error("refusing to use {path}: its mode is {mode:04o}, which {problem}; fix it with `{fix}`")]
    InsecurePermissions {
        /// The file or directory.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
        /// What is wrong with them.
        problem: &'static str,
        /// The command that fixes it.
        fix: String,
    },
    /// No certificate in the store matches what was asked for.
    #[error(
        "no certificate in the store matches {query:?}; `cloudgate sp cert list` shows the thumbprints"
    )]
    NotFound {
        /// The thumbprint or prefix as given.
        query: String,
    },
    /// A prefix that matches more than one certificate.
    #[error("{query:?} matches {} certificates; give more digits:\n{}", matches.len(), matches.iter().map(|(t, n)| format!("  {t}  {n}")).collect::<Vec<_>>().join("\n"))]
    Ambiguous {
        /// The prefix as given.
        query: String,
        /// Thumbprint and friendly name of every match.
        matches: Vec<(String, String)>,
    },
    /// Removing the certificate in use without `--force`.
    #[error(
        "certificate {thumbprint} is the one in use; apply another one first, or pass --force to remove it anyway (the gateway then has no certificate)"
    )]
    CertificateInUse {
        /// Its thumbprint.
        thumbprint: String,
    },
    /// `apply --compromised` of a certificate with the key that is to be retired.
    #[error(
        "certificate {thumbprint} has the same key as the one in use; a compromised key must be replaced by a new one (generate one with `cloudgate sp cert generate`)"
    )]
    SameKey {
        /// Its thumbprint.
        thumbprint: String,
    },
    /// The same certificate is already in the store.
    #[error("certificate {thumbprint} is already in the store")]
    AlreadyExists {
        /// Its thumbprint.
        thumbprint: String,
    },
    /// A store entry that does not hold together (unreadable certificate, key that does not
    /// match, directory name that is not the certificate's SHA-256).
    #[error("store entry {path} is damaged: {reason}")]
    Corrupt {
        /// The entry's directory or file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A license file that cannot be used.
    #[error("invalid license {path}: {reason}")]
    InvalidLicense {
        /// The license file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// An admin group that does not exist or cannot be used.
    #[error("admin group {name:?}: {reason}")]
    AdminGroup {
        /// The group's name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// Another command holds the store lock for too long.
    #[error(
        "the store is locked by another cloudgate command (lock file {path}); wait for it to finish and try again"
    )]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// Something other than a regular file where a file is expected (a symbolic link, a FIFO,
    /// a device, a directory).
    #[error(
        "refusing to use {path}: it is {what}, not a regular file; replace it with the real file"
    )]
    NotRegularFile {
        /// The path.
        path: PathBuf,
        /// What it is.
        what: &'static str,
    },
    /// Something other than a directory where a store directory is expected.
    #[error(
        "refusing to use {path}: it is {what}, where cloudgate keeps a directory of its own; move it away and run the command again"
    )]
    NotADirectory {
        /// The path.
        path: PathBuf,
        /// What it is.
        what: &'static str,
    },
    /// A file larger than any of its kind should be.
    #[error(
        "refusing to read {path}: it is larger than {cap} bytes, more than any such file should be"
    )]
    TooLarge {
        /// The path.
        path: PathBuf,
        /// The cap, bytes.
        cap: u64,
    },
    /// An error from the certificate library.
    #[error(transparent)]
    Pki(#[from] PkiError),
}

/// The user owning `path` (or the nearest existing directory above it) when it is not the
/// user running this command.
fn other_owner(path: &std::path::Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt as _;
    let meta = path
        .ancestors()
        .find_map(|p| std::fs::symlink_metadata(p).ok())?;
    let uid = nix::unistd::Uid::from_raw(meta.uid());
    if uid == nix::unistd::geteuid() {
        return None;
    }
    Some(match nix::unistd::User::from_uid(uid) {
        Ok(Some(u)) => u.name,
        _ => format!("uid {uid}"),
    })
}

impl StoreError {
    /// Wraps an I/O error, turning "permission denied" into [`StoreError::PermissionDenied`].
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        let path = path.into();
        if source.kind() == std::io::ErrorKind::PermissionDenied {
            let owner = other_owner(&path);
            StoreError::PermissionDenied {
                action,
                path,
                group: None,
                owner,
            }
        } else {
            StoreError::Io {
                action,
                path,
                source,
            }
        }
    }

    /// Adds the admin group's name to a permission error, so the message can say which group.
    pub fn with_group(self, name: &str) -> Self {
        match self {
            StoreError::PermissionDenied {
                action,
                path,
                group: None,
                owner,
            } => StoreError::PermissionDenied {
                action,
                path,
                group: Some(name.to_string()),
                owner,
            },
            other => other,
        }
    }

    /// Whether the error is the user's input (a thumbprint, a file, a flag: exit 2) rather than
    /// a failure of the machine.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self.kind(),
            ErrorKind::Usage | ErrorKind::NotFound | ErrorKind::Conflict
        )
    }
}

impl cloudgate_errors::Classify for StoreError {
    fn kind(&self) -> ErrorKind {
        match self {
            StoreError::NotFound { .. } => ErrorKind::NotFound,
            StoreError::Ambiguous { .. }
            | StoreError::CertificateInUse { .. }
            | StoreError::SameKey { .. }
            | StoreError::AlreadyExists { .. } => ErrorKind::Conflict,
            StoreError::InvalidLicense { .. } | StoreError::AdminGroup { .. } => ErrorKind::Usage,
            StoreError::Locked { .. } => ErrorKind::Unavailable,
            StoreError::Pki(e) => e.kind(),
            _ => ErrorKind::Io,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            StoreError::Ambiguous { .. } => "ambiguous",
            StoreError::PermissionDenied { .. } => "permission_denied",
            StoreError::InsecurePermissions { .. } => "insecure_permissions",
            StoreError::Locked { .. } => "locked",
            StoreError::Corrupt { .. } => "corrupt",
            StoreError::Pki(e) => e.code(),
            _ if self.is_bad_input() => match self.kind() {
                ErrorKind::NotFound | ErrorKind::Conflict => self.kind().name(),
                _ => "bad_input",
            },
            _ => "runtime",
        }
    }
}
