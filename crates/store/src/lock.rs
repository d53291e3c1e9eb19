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
            .open(path)
            .map_err(|e| StoreError::io("opening lock file", path, e))?;
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
