//! Root acting as the data directory's owner. On a packaged install the data directory belongs
//! to a service user (`cloudgate`, `cloudgate-tenant`); a command root runs there must create
//! what the service can use, so before it touches anything it takes on the owner's user, group
//! and supplementary groups. Everything it then creates (the store's entries, the SQLite
//! database and the journal files SQLite makes on its own, the audit log) belongs to the owner,
//! with the modes the store sets, and nothing it does can reach further than the owner could.

use std::ffi::CString;
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;

use nix::unistd::{Gid, Uid, User};

use crate::StoreError;

/// Who started this process, when it acts as another user: the audit names both ("root as
/// cloudgate"), so a change root made is never attributed to the service user alone.
static STARTED_BY: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Who started this process, when [`act_as_owner_of`] made it act as another user.
pub fn started_by() -> Option<&'static str> {
    STARTED_BY.get().map(String::as_str)
}

/// Whom a command acts as after [`act_as_owner_of`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActingAs {
    /// The owner's user name (or `uid N` without a passwd entry).
    pub user: String,
    /// The owner's user id.
    pub uid: u32,
}

/// When this process is root and `dir` exists and belongs to another user, becomes that user
/// (supplementary groups, group, then user: in that order, since each step needs the privilege
/// the next one gives up). Returns whom it acts as, or `None` when nothing changed: not root, no
/// directory yet (root creates it as its own), or a directory of root's.
///
/// Must run before the process starts threads that use other credentials; the C library
/// applies the change to every thread of the process.
pub fn act_as_owner_of(dir: &Path) -> Result<Option<ActingAs>, StoreError> {
    if !nix::unistd::geteuid().is_root() {
        return Ok(None);
    }
    let meta = match std::fs::metadata(dir) {
        Ok(meta) => meta,
        Err(_) => return Ok(None),
    };
    if meta.uid() == 0 {
        return Ok(None);
    }
    let uid = Uid::from_raw(meta.uid());
    let user = User::from_uid(uid).ok().flatten();
    let name = user
        .as_ref()
        .map(|u| u.name.clone())
        .unwrap_or_else(|| format!("uid {}", meta.uid()));
    let fail = |source: nix::Error| StoreError::ActAsOwner {
        user: name.clone(),
        path: dir.to_path_buf(),
        source,
    };
    // A user with a passwd entry brings its own groups (the admin group among them); a bare uid
    // gets the directory's group and no others.
    let gid = match &user {
        Some(u) => {
            let cname = CString::new(u.name.as_bytes()).map_err(|_| fail(nix::Error::EINVAL))?;
            nix::unistd::initgroups(&cname, u.gid).map_err(fail)?;
            u.gid
        }
        None => {
            let gid = Gid::from_raw(meta.gid());
            nix::unistd::setgroups(&[gid]).map_err(fail)?;
            gid
        }
    };
    let root = User::from_uid(Uid::from_raw(0))
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| "root".to_string());
    nix::unistd::setgid(gid).map_err(fail)?;
    nix::unistd::setuid(uid).map_err(fail)?;
    // setuid from root drops every privilege for good; make sure it did.
    if nix::unistd::geteuid().is_root() || nix::unistd::getuid().is_root() {
        return Err(fail(nix::Error::EPERM));
    }
    let _ = STARTED_BY.set(root);
    Ok(Some(ActingAs {
        user: name,
        uid: meta.uid(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_changes_for_a_missing_directory_or_a_user_who_is_not_root() {
        let missing = Path::new("/nonexistent-cloudgate-act-as");
        assert_eq!(act_as_owner_of(missing).unwrap(), None);
        if !nix::unistd::geteuid().is_root() {
            assert_eq!(act_as_owner_of(Path::new("/")).unwrap(), None);
        }
    }
}
