//! The store's exclusive lock, held while a command changes the store.

use std::fs::{File, OpenOptions, TryLockError};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::{FileOwnership, StoreError, fsio};

/// How long a command waits for another one to release the store.
const LOCK_WAIT: Duration = Duration::from_secs(30);

/// An exclusive lock on the store, released when dropped (or when the process dies).
#[derive(Debug)]
pub(crate) struct StoreLock {
    _file: File,
}

impl StoreLock {
    /// Takes the lock, waiting up to 30 seconds for another command to finish.
    pub(crate) fn acquire(path: &Path, own: &FileOwnership) -> Result<Self, StoreError> {
        if !path.exists() {
            match fsio::write_new_file(path, b"", fsio::FileSpec::store(own)) {
                Ok(()) => {}
                Err(StoreError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .mode(0o600)
            .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK)
            .open(path)
            .map_err(|e| link_refused(path, e, "opening lock file"))?;
        if !file.metadata().is_ok_and(|m| m.is_file()) {
            return Err(StoreError::NotRegularFile {
                path: path.to_path_buf(),
                what: "not a regular file",
            });
        }
        let started = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(StoreLock { _file: file }),
                Err(TryLockError::WouldBlock) if started.elapsed() < LOCK_WAIT => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(TryLockError::WouldBlock) => {
                    return Err(StoreError::Locked {
                        path: path.to_path_buf(),
                    });
                }
                Err(TryLockError::Error(e)) => return Err(StoreError::io("locking", path, e)),
            }
        }
    }
}

/// A symbolic link where a store file should be is refused by name, not as an obscure I/O error.
pub(crate) fn link_refused(
    path: &std::path::Path,
    e: std::io::Error,
    action: &'static str,
) -> StoreError {
    if e.raw_os_error() == Some(nix::libc::ELOOP) {
        StoreError::NotRegularFile {
            path: path.to_path_buf(),
            what: "a symbolic link",
        }
    } else {
        StoreError::io(action, path, e)
    }
}
