//! The one way cloudgate reads a file: only a regular file, never through a symbolic link in its
//! last component, never blocking on a FIFO, and never more than a cap. Store files, licenses and
//! the user's input files all come through here, so `/dev/zero`, a FIFO or a link planted in the
//! store is refused with a message naming the path instead of being read.

use std::fs::{File, OpenOptions};
use std::io::Read as _;
use std::os::unix::fs::{FileTypeExt as _, OpenOptionsExt as _};
use std::path::Path;

use zeroize::Zeroizing;

use crate::StoreError;

/// The cap for the store's own files (certificates, chains, metadata, records): far above any
/// real one, far below harm.
pub const STORE_FILE_CAP: u64 = 1024 * 1024;

/// Whether a symbolic link as the last component is followed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Links {
    /// Refused: the store's own files, which no one but cloudgate should ever replace.
    Refuse,
    /// Followed: a file the user named (certbot's `live/` files are links, for one).
    Follow,
}

/// Opens `path` for reading with no wait on a FIFO (`O_NONBLOCK`, harmless on a regular file),
/// and refuses anything but a regular file, checked on the open descriptor; with
/// [`Links::Refuse`], also a symbolic link as the last component (`O_NOFOLLOW`).
pub fn open_regular(path: &Path, links: Links) -> Result<(File, u64), StoreError> {
    let flags = match links {
        Links::Refuse => nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK,
        Links::Follow => nix::libc::O_NONBLOCK,
    };
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(flags)
        .open(path)
        .map_err(|e| crate::lock::link_refused(path, e, "reading"))?;
    let meta = file
        .metadata()
        .map_err(|e| StoreError::io("reading", path, e))?;
    let t = meta.file_type();
    let what = if t.is_file() {
        return Ok((file, meta.len()));
    } else if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() || t.is_block_device() {
        "a device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    };
    Err(StoreError::NotRegularFile {
        path: path.to_path_buf(),
        what,
    })
}

/// Reads all of an open regular file, refusing more than `cap` bytes (checked before reading and
/// while reading, for a file that grows).
fn read_capped(
    mut file: File,
    len: u64,
    cap: u64,
    path: &Path,
) -> Result<Zeroizing<Vec<u8>>, StoreError> {
    let too_large = || StoreError::TooLarge {
        path: path.to_path_buf(),
        cap,
    };
    if len > cap {
        return Err(too_large());
    }
    let mut data = Zeroizing::new(Vec::with_capacity(len as usize));
    (&mut file)
        .take(cap + 1)
        .read_to_end(&mut data)
        .map_err(|e| StoreError::io("reading", path, e))?;
    if data.len() as u64 > cap {
        return Err(too_large());
    }
    Ok(data)
}

/// Reads a regular file of at most `cap` bytes, not through a link; wiped when dropped.
pub fn read_regular(path: &Path, cap: u64) -> Result<Zeroizing<Vec<u8>>, StoreError> {
    let (file, len) = open_regular(path, Links::Refuse)?;
    read_capped(file, len, cap, path)
}

/// Reads a file the user named: a regular file (links followed) of at most `cap` bytes.
pub fn read_input(path: &Path, cap: u64) -> Result<Zeroizing<Vec<u8>>, StoreError> {
    let (file, len) = open_regular(path, Links::Follow)?;
    read_capped(file, len, cap, path)
}

/// [`read_regular`], with `None` when the file does not exist.
pub fn read_regular_if_exists(
    path: &Path,
    cap: u64,
) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
    match read_regular(path, cap) {
        Ok(data) => Ok(Some(data)),
        Err(StoreError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Reads a private key file: [`read_regular`], after checking on the open descriptor that the
/// mode lets neither the group write nor others read or write.
pub fn read_secret_regular(path: &Path, cap: u64) -> Result<Zeroizing<Vec<u8>>, StoreError> {
    use std::os::unix::fs::MetadataExt as _;
    let (file, len) = open_regular(path, Links::Refuse)?;
    let mode = file
        .metadata()
        .map_err(|e| StoreError::io("reading", path, e))?
        .mode();
    crate::fsio::check_secret_mode(path, mode)?;
    read_capped(file, len, cap, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_fifos_devices_directories_and_oversized_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        std::fs::write(&real, b"hello").unwrap();
        assert_eq!(read_regular(&real, 5).unwrap().as_slice(), b"hello");
        let e = read_regular(&real, 4).unwrap_err().to_string();
        assert!(e.contains("real") && e.contains("4 bytes"), "{e}");

        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let e = read_regular(&link, 100).unwrap_err().to_string();
        assert!(e.contains("link") && e.contains("symbolic link"), "{e}");

        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let e = read_regular(&fifo, 100).unwrap_err().to_string();
        assert!(e.contains("a FIFO"), "{e}");

        let e = read_regular(Path::new("/dev/zero"), 100)
            .unwrap_err()
            .to_string();
        assert!(e.contains("a device"), "{e}");
        let e = read_regular(dir.path(), 100).unwrap_err().to_string();
        assert!(e.contains("a directory"), "{e}");
        assert!(
            read_regular_if_exists(&dir.path().join("none"), 10)
                .unwrap()
                .is_none()
        );
        // A file the user names may be a link (certbot's live/ files are), never a device.
        assert_eq!(read_input(&link, 100).unwrap().as_slice(), b"hello");
        assert!(read_input(Path::new("/dev/zero"), 100).is_err());
        assert!(read_input(&fifo, 100).is_err());
    }
}
