//! Who owns what the store writes: the creating user, and the admin group (docs/src/design.md §5).
//!
//! The admin group plays the reference product's "local administrators": its members may read
//! private keys. It is `--admin-group`/`$CLOUDGATE_ADMIN_GROUP` when given, else a group named
//! `cloudgate` if one exists, else root's group. A user who may not hand files to the default
//! group (not root, not a member) keeps them owner-only instead, which is stricter, never looser.

use nix::unistd::{Gid, Group, User, getegid, geteuid, getgroups};

use crate::StoreError;

/// The group files are handed to, with its name for messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdminGroup {
    /// Numeric group id.
    pub gid: u32,
    /// Group name.
    pub name: String,
}

/// How new files and directories are owned and which mode they get.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileOwnership {
    /// The admin group, or `None` for owner-only files.
    pub group: Option<AdminGroup>,
}

impl FileOwnership {
    /// Owner-only files and directories, no group access.
    pub fn owner_only() -> Self {
        FileOwnership { group: None }
    }

    /// Resolves the admin group: the configured one (which must exist and be usable), else the
    /// default described in the module documentation.
    pub fn resolve(configured: Option<&str>) -> Result<Self, StoreError> {
        match configured.map(str::trim).filter(|s| !s.is_empty()) {
            Some(name) => {
                let group = lookup(name)?.ok_or_else(|| StoreError::AdminGroup {
                    name: name.to_string(),
                    reason: "no such group; create it (groupadd) or pass another --admin-group"
                        .into(),
                })?;
                if !may_use(group.gid) {
                    return Err(StoreError::AdminGroup {
                        name: group.name,
                        reason: "you are neither root nor a member of it, so files cannot be handed to it; run as root, join the group, or pass another --admin-group".into(),
                    });
                }
                Ok(FileOwnership { group: Some(group) })
            }
            None => {
                let default = match lookup("cloudgate")? {
                    Some(g) => g,
                    None => AdminGroup {
                        gid: 0,
                        name: Group::from_gid(Gid::from_raw(0))
                            .ok()
                            .flatten()
                            .map(|g| g.name)
                            .unwrap_or_else(|| "root".into()),
                    },
                };
                Ok(FileOwnership {
                    group: may_use(default.gid).then_some(default),
                })
            }
        }
    }

    /// The admin group for a command that only reads: it hands no file to the group, so the group
    /// need not be usable by this user; it only names the group in permission messages.
    pub fn resolve_for_reading(configured: Option<&str>) -> Self {
        let name = configured
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .unwrap_or("cloudgate");
        let group = match lookup(name) {
            Ok(Some(g)) => Some(g),
            _ if configured.is_none() => Some(AdminGroup {
                gid: 0,
                name: Group::from_gid(Gid::from_raw(0))
                    .ok()
                    .flatten()
                    .map(|g| g.name)
                    .unwrap_or_else(|| "root".into()),
            }),
            _ => None,
        };
        FileOwnership { group }
    }

    /// Mode of files: 0640 with an admin group, 0600 without.
    pub fn file_mode(&self) -> u32 {
        if self.group.is_some() { 0o640 } else { 0o600 }
    }

    /// Mode of directories: 0750 with an admin group, 0700 without.
    pub fn dir_mode(&self) -> u32 {
        if self.group.is_some() { 0o750 } else { 0o700 }
    }

    /// The group id to hand files to, if any.
    pub fn gid(&self) -> Option<u32> {
        self.group.as_ref().map(|g| g.gid)
    }

    /// The group's name, if any.
    pub fn group_name(&self) -> Option<&str> {
        self.group.as_ref().map(|g| g.name.as_str())
    }
}

fn lookup(name: &str) -> Result<Option<AdminGroup>, StoreError> {
    let found = if let Ok(gid) = name.parse::<u32>() {
        Group::from_gid(Gid::from_raw(gid))
    } else {
        Group::from_name(name)
    };
    let group = found.map_err(|e| StoreError::AdminGroup {
        name: name.to_string(),
        reason: format!("group lookup failed: {e}"),
    })?;
    Ok(group.map(|g| AdminGroup {
        gid: g.gid.as_raw(),
        name: g.name,
    }))
}

/// Whether this process may chown a file it owns to `gid`.
fn may_use(gid: u32) -> bool {
    let gid = Gid::from_raw(gid);
    geteuid().is_root()
        || getegid() == gid
        || getgroups().map(|gs| gs.contains(&gid)).unwrap_or(false)
}

/// The effective user id of this process.
pub fn effective_uid() -> u32 {
    geteuid().as_raw()
}

/// Who besides the owner may write a file or directory of mode `mode`: `everyone`, `its group`,
/// or nobody (`None`), for the messages that refuse it.
pub fn other_writers(mode: u32) -> Option<&'static str> {
    if mode & 0o002 != 0 {
        Some("everyone")
    } else if mode & 0o020 != 0 {
        Some("its group")
    } else {
        None
    }
}

/// The name of the user running this process (its uid when it has no name), as the audit and a
/// certificate's `created_by` record it: "root as cloudgate" when root started a command that
/// acts as the data directory's owner ([`crate::act_as`]).
pub fn current_user_name() -> String {
    let uid = geteuid();
    let name = User::from_uid(uid)
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| uid.to_string());
    match crate::act_as::started_by() {
        Some(starter) => format!("{starter} as {name}"),
        None => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_follow_the_group() {
        assert_eq!(FileOwnership::owner_only().file_mode(), 0o600);
        assert_eq!(FileOwnership::owner_only().dir_mode(), 0o700);
        let g = FileOwnership {
            group: Some(AdminGroup {
                gid: 0,
                name: "root".into(),
            }),
        };
        assert_eq!(g.file_mode(), 0o640);
        assert_eq!(g.dir_mode(), 0o750);
    }

    #[test]
    fn unknown_group_is_refused() {
        let e = FileOwnership::resolve(Some("no-such-group-cloudgate-test")).unwrap_err();
        assert!(matches!(e, StoreError::AdminGroup { .. }), "{e}");
        assert!(e.is_bad_input());
    }

    #[test]
    fn default_resolves() {
        FileOwnership::resolve(None).unwrap();
        assert!(!current_user_name().is_empty());
    }
}
