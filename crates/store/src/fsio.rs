//! File primitives with owner and mode set before content: the only code in cloudgate that
//! creates files or directories that must stay private.
//!
//! A new file is created exclusively with mode 0600, written, fsynced, and only then handed to its
//! group and given its final mode; a replaced file is written that way under a temporary name
//! and renamed over the old one, and the directory is fsynced so the rename survives a crash.
//! The temporary file is removed on every error path.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use zeroize::Zeroizing;

use crate::{FileOwnership, StoreError};

/// The final owner group and mode of a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileSpec {
    /// Permission bits, applied after the content is written.
    pub mode: u32,
    /// Group to hand the file to, if any.
    pub gid: Option<u32>,
}

impl FileSpec {
    /// A store file: 0640 to the admin group, or 0600 without one.
    pub fn store(own: &FileOwnership) -> Self {
        FileSpec {
            mode: own.file_mode(),
            gid: own.gid(),
        }
    }

    /// A file only its owner may read, whatever the admin group (exports that hold a key).
    pub fn owner_only() -> Self {
        FileSpec {
            mode: 0o600,
            gid: None,
        }
    }

    /// A public file anyone may read (an exported certificate).
    pub fn public() -> Self {
        FileSpec {
            mode: 0o644,
            gid: None,
        }
    }
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A name for a temporary sibling of `path`, unique within this machine's running processes.
pub fn temp_name(prefix: &str) -> String {
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(".{prefix}.{}.{nanos:x}.{n}.tmp", std::process::id())
}

/// Creates `path` (and missing parents) as a directory with the ownership's mode and group, or
/// checks an existing one: a store directory must not be accessible to others.
pub fn ensure_private_dir(path: &Path, own: &FileOwnership) -> Result<(), StoreError> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => check_private_dir_meta(path, &meta),
        Ok(meta) => Err(StoreError::NotADirectory {
            path: path.to_path_buf(),
            what: if meta.file_type().is_symlink() {
                "a symbolic link"
            } else {
                "not a directory"
            },
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
                && !parent.exists()
            {
                fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o755)
                    .create(parent)
                    .map_err(|e| StoreError::io("creating directory", parent, e))?;
            }
            match fs::DirBuilder::new().mode(0o700).create(path) {
                Ok(()) => {}
                // Another command created it at the same moment; check it like any existing one.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    return ensure_private_dir(path, own);
                }
                Err(e) => return Err(StoreError::io("creating directory", path, e)),
            }
            set_owner_and_mode(path, own.gid(), own.dir_mode())
        }
        Err(e) => Err(StoreError::io("reading", path, e)),
    }
}

/// Refuses a store directory that others may enter or read, that the group may change, or that
/// is not a directory at all (a symbolic link to one included: nothing in the data directory is
/// reached through a link).
pub fn check_private_dir(path: &Path) -> Result<(), StoreError> {
    let meta = fs::symlink_metadata(path).map_err(|e| StoreError::io("reading", path, e))?;
    if !meta.is_dir() {
        return Err(StoreError::NotADirectory {
            path: path.to_path_buf(),
            what: if meta.file_type().is_symlink() {
                "a symbolic link"
            } else {
                "not a directory"
            },
        });
    }
    check_private_dir_meta(path, &meta)
}

pub(crate) fn check_private_dir_meta(path: &Path, meta: &fs::Metadata) -> Result<(), StoreError> {
    let mode = meta.mode() & 0o7777;
    if mode & 0o007 != 0 {
        return Err(StoreError::InsecurePermissions {
            path: path.to_path_buf(),
            mode,
            problem: "lets every user on this machine in",
            fix: format!("chmod o-rwx {}", path.display()),
        });
    }
    if mode & 0o020 != 0 {
        return Err(StoreError::InsecurePermissions {
            path: path.to_path_buf(),
            mode,
            problem: "lets the group change its content",
            fix: format!("chmod g-w {}", path.display()),
        });
    }
    Ok(())
}

fn set_owner_and_mode(path: &Path, gid: Option<u32>, mode: u32) -> Result<(), StoreError> {
    if let Some(gid) = gid {
        std::os::unix::fs::chown(path, None, Some(gid))
            .map_err(|e| StoreError::io("setting the group of", path, e))?;
    }
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|e| StoreError::io("setting the mode of", path, e))
}

/// Creates a new file (failing if it exists) owner-only, writes `data`, fsyncs, then hands it to
/// its group and gives it its final mode.
pub fn write_new_file(path: &Path, data: &[u8], spec: FileSpec) -> Result<(), StoreError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| StoreError::io("creating", path, e))?;
    let result = (|| {
        // The umask may have cleared bits but never adds any; make 0600 explicit before writing.
        file.set_permissions(fs::Permissions::from_mode(0o600))
            .map_err(|e| StoreError::io("setting the mode of", path, e))?;
        file.write_all(data)
            .map_err(|e| StoreError::io("writing", path, e))?;
        file.sync_all()
            .map_err(|e| StoreError::io("syncing", path, e))?;
        if let Some(gid) = spec.gid {
            std::os::unix::fs::fchown(&file, None, Some(gid))
                .map_err(|e| StoreError::io("setting the group of", path, e))?;
        }
        file.set_permissions(fs::Permissions::from_mode(spec.mode))
            .map_err(|e| StoreError::io("setting the mode of", path, e))
    })();
    if result.is_err() {
        let _ = fs::remove_file(path);
    }
    result
}

/// Replaces `path` atomically: writes a temporary sibling with [`write_new_file`], renames it over
/// `path` and fsyncs the directory. Readers see the old content or the new, never a mix.
pub fn replace_file(path: &Path, data: &[u8], spec: FileSpec) -> Result<(), StoreError> {
    replace_file_via(path, data, spec, &parent_dir(path))
}

/// [`replace_file`] with the temporary file in `tmp_dir` (on the same file system), where the
/// store's cleanup finds what a killed writer left.
pub fn replace_file_via(
    path: &Path,
    data: &[u8],
    spec: FileSpec,
    tmp_dir: &Path,
) -> Result<(), StoreError> {
    let dir = parent_dir(path);
    // Only a regular file is ever replaced: a rename over a device node (`/dev/null`), a
    // FIFO, a socket or a directory would destroy what someone else relies on, and a link
    // would be replaced rather than written through, surprising whoever made it.
    if let Ok(meta) = fs::symlink_metadata(path) {
        let t = meta.file_type();
        if !t.is_file() {
            return Err(StoreError::NotRegularFile {
                path: path.to_path_buf(),
                what: if t.is_symlink() {
                    "a symbolic link"
                } else if t.is_dir() {
                    "a directory"
                } else {
                    "not a regular file (a device, a FIFO or a socket)"
                },
            });
        }
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = tmp_dir.join(temp_name(&name));
    write_new_file(&temp, data, spec)?;
    crash_point("replace-temp-written");
    if let Err(e) = fs::rename(&temp, path) {
        let _ = fs::remove_file(&temp);
        return Err(StoreError::io("replacing", path, e));
    }
    fsync_dir(&dir)
}

/// Fsyncs a directory so that renames and creations inside it are durable.
pub fn fsync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io("syncing directory", dir, e))
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Reads a whole store file (a regular file, not through a link, at most
/// [`STORE_FILE_CAP`](crate::bounded::STORE_FILE_CAP) bytes), naming it in any error.
pub fn read_file(path: &Path) -> Result<Vec<u8>, StoreError> {
    crate::bounded::read_regular(path, crate::bounded::STORE_FILE_CAP).map(|d| d.to_vec())
}

/// Reads a private key file after checking, on the open descriptor, that it is a regular file
/// (not a link) neither writable by group or others nor readable by others. The content is wiped
/// from memory when dropped.
pub fn read_secret_file(path: &Path) -> Result<Zeroizing<Vec<u8>>, StoreError> {
    crate::bounded::read_secret_regular(path, crate::bounded::STORE_FILE_CAP)
}

/// Refuses a key file whose mode lets the group write or others read or write it.
pub fn check_secret_file(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::MetadataExt as _;
    let (file, _) = crate::bounded::open_regular(path, crate::bounded::Links::Refuse)?;
    let meta = file
        .metadata()
        .map_err(|e| StoreError::io("reading", path, e))?;
    check_secret_mode(path, meta.mode())
}

pub(crate) fn check_secret_mode(path: &Path, mode: u32) -> Result<(), StoreError> {
    let mode = mode & 0o7777;
    let problem = if mode & 0o007 != 0 {
        "gives other users access to a private key"
    } else if mode & 0o020 != 0 {
        "lets the group change a private key"
    } else {
        return Ok(());
    };
    Err(StoreError::InsecurePermissions {
        path: path.to_path_buf(),
        mode,
        problem,
        fix: format!("chmod 0640 {}", path.display()),
    })
}

/// Appends one line to a file opened with `O_APPEND`, creating it with `spec` if missing. A line
/// below the pipe buffer size is written by one `write`, so concurrent writers do not interleave.
pub fn append_line(path: &Path, line: &str, spec: FileSpec) -> Result<(), StoreError> {
    // Said by kind, before any open: a FIFO would otherwise answer "no such device", and a
    // link must never be followed.
    if let Ok(meta) = fs::symlink_metadata(path) {
        let t = meta.file_type();
        if !t.is_file() {
            return Err(StoreError::NotRegularFile {
                path: path.to_path_buf(),
                what: if t.is_symlink() {
                    "a symbolic link"
                } else if t.is_dir() {
                    "a directory"
                } else if t.is_fifo() {
                    "a FIFO"
                } else {
                    "not a regular file"
                },
            });
        }
    }
    if !path.exists() {
        match write_new_file(path, b"", spec) {
            Ok(()) => {}
            Err(StoreError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    let mut file = OpenOptions::new()
        .append(true)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| crate::lock::link_refused(path, e, "opening"))?;
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        return Err(StoreError::NotRegularFile {
            path: path.to_path_buf(),
            what: "not a regular file",
        });
    }
    let mut buf = line.trim_end_matches('\n').to_string();
    buf.push('\n');
    file.write_all(buf.as_bytes())
        .map_err(|e| StoreError::io("appending to", path, e))?;
    file.sync_data()
        .map_err(|e| StoreError::io("syncing", path, e))
}

/// A fault-injection point for the crash tests: when `CLOUDGATE_TEST_CRASH_AT` names this point,
/// the process aborts here, as a `kill -9` would stop it. Only in builds with the `test-hooks`
/// feature, which the tests turn on (a dev-dependency of the binary) and a release never has.
pub fn crash_point(name: &str) {
    #[cfg(feature = "test-hooks")]
    if std::env::var_os("CLOUDGATE_TEST_CRASH_AT").is_some_and(|v| v == name) {
        std::process::abort();
    }
    #[cfg(not(feature = "test-hooks"))]
    let _ = name;
}

/// How long a test wants key generation held back (`CLOUDGATE_TEST_KEYGEN_DELAY_MS`), so that
/// its Ctrl-C surely lands during it; never in builds without the `test-hooks` feature.
pub fn keygen_delay() -> Option<std::time::Duration> {
    #[cfg(feature = "test-hooks")]
    {
        std::env::var("CLOUDGATE_TEST_KEYGEN_DELAY_MS")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .map(std::time::Duration::from_millis)
    }
    #[cfg(not(feature = "test-hooks"))]
    None
}

/// Bytes available to unprivileged users on the file system holding `path`, when it can be told.
pub fn available_bytes(path: &Path) -> Option<u64> {
    let stat = nix::sys::statvfs::statvfs(path).ok()?;
    #[allow(clippy::useless_conversion)] // the field types differ between platforms
    Some(u64::from(stat.blocks_available()).saturating_mul(u64::from(stat.fragment_size())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_never_appended_to_a_fifo_a_link_or_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("audit.log");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let e = append_line(&fifo, "x", FileSpec::owner_only()).unwrap_err();
        assert!(e.to_string().contains("FIFO"), "{e}");
        let link = dir.path().join("link.log");
        std::os::unix::fs::symlink(dir.path().join("real.log"), &link).unwrap();
        let e = append_line(&link, "x", FileSpec::owner_only()).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert!(!dir.path().join("real.log").exists());
        let sub = dir.path().join("d.log");
        std::fs::create_dir(&sub).unwrap();
        assert!(append_line(&sub, "x", FileSpec::owner_only()).is_err());
    }

    #[test]
    fn new_files_get_their_final_mode_and_never_clobber() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        write_new_file(
            &p,
            b"x",
            FileSpec {
                mode: 0o640,
                gid: None,
            },
        )
        .unwrap();
        assert_eq!(fs::metadata(&p).unwrap().mode() & 0o777, 0o640);
        assert!(write_new_file(&p, b"y", FileSpec::owner_only()).is_err());
        assert_eq!(fs::read(&p).unwrap(), b"x");
    }

    #[test]
    fn replace_is_atomic_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        replace_file(&p, b"one", FileSpec::owner_only()).unwrap();
        replace_file(&p, b"two", FileSpec::owner_only()).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn open_key_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("key.pem");
        write_new_file(
            &p,
            b"secret",
            FileSpec {
                mode: 0o640,
                gid: None,
            },
        )
        .unwrap();
        assert_eq!(read_secret_file(&p).unwrap().as_slice(), b"secret");
        for mode in [0o644, 0o660, 0o602, 0o666] {
            fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
            let e = read_secret_file(&p).unwrap_err().to_string();
            assert!(e.contains("key.pem") && e.contains("chmod 0640"), "{e}");
        }
    }

    #[test]
    fn open_store_dirs_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("store");
        ensure_private_dir(&d, &FileOwnership::owner_only()).unwrap();
        assert_eq!(fs::metadata(&d).unwrap().mode() & 0o777, 0o700);
        fs::set_permissions(&d, fs::Permissions::from_mode(0o755)).unwrap();
        let e = ensure_private_dir(&d, &FileOwnership::owner_only())
            .unwrap_err()
            .to_string();
        assert!(e.contains("chmod o-rwx"), "{e}");
    }
}
