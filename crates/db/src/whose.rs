//! Why this process may not write a database file, in words an operator acts on: who owns the
//! file, its journal and its directory, who this process runs as, and the command that fixes it.

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

fn user_name(uid: u32) -> String {
    nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| format!("uid {uid}"))
}

/// The database, its write-ahead log and shared-memory files, as they exist.
fn files_of(db: &Path) -> Vec<(PathBuf, std::fs::Metadata)> {
    let mut names = vec![db.to_path_buf()];
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut p = db.as_os_str().to_owned();
        p.push(suffix);
        names.push(PathBuf::from(p));
    }
    names
        .into_iter()
        .filter_map(|p| std::fs::symlink_metadata(&p).ok().map(|m| (p, m)))
        .collect()
}

/// Says whose the database's files and directory are and what to run.
pub(crate) fn explain(db: &Path) -> String {
    let me = nix::unistd::geteuid().as_raw();
    let me_name = user_name(me);
    let dir = db
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let Ok(dir_meta) = std::fs::metadata(dir) else {
        return format!(
            "its directory {} cannot be read by {me_name}; create it, or pass --data-dir DIR",
            dir.display()
        );
    };
    let dir_owner = dir_meta.uid();
    let foreign: Vec<(PathBuf, u32)> = files_of(db)
        .into_iter()
        .filter(|(_, m)| m.uid() != dir_owner)
        .map(|(p, m)| (p, m.uid()))
        .collect();
    if !foreign.is_empty() {
        let owners: Vec<String> = foreign
            .iter()
            .map(|(p, uid)| {
                let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
                format!(
                    "{} is owned by {}",
                    name.unwrap_or_default(),
                    user_name(*uid)
                )
            })
            .collect();
        let paths: Vec<String> = foreign
            .iter()
            .map(|(p, _)| p.display().to_string())
            .collect();
        let owner = user_name(dir_owner);
        return format!(
            "{} while its directory belongs to {owner}, and this process runs as {me_name}; give the files back with `chown {owner}: {}` (as root), then run SP commands as {owner} (`sudo -u {owner} cloudgate …`); a running gateway picks the database up again by itself",
            owners.join(", "),
            paths.join(" ")
        );
    }
    if dir_owner != me && me != 0 {
        let owner = user_name(dir_owner);
        return format!(
            "it belongs to {owner} and this process runs as {me_name}; run the command as {owner} (`sudo -u {owner} cloudgate …`), or pass --data-dir DIR for a directory of your own"
        );
    }
    format!(
        "the file or its directory {} is read-only for {me_name} (its mode, or a read-only file system); check `ls -l {}`",
        dir.display(),
        dir.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_directory_is_named() {
        let text = explain(Path::new("/nonexistent-cloudgate-dir/sp.db"));
        assert!(text.contains("/nonexistent-cloudgate-dir"), "{text}");
        assert!(text.contains("--data-dir"), "{text}");
    }

    #[test]
    fn a_read_only_directory_of_ones_own_is_named_with_the_command_to_look() {
        let dir = std::env::temp_dir().join(format!("cg-whose-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("sp.db"), b"").unwrap();
        let text = explain(&dir.join("sp.db"));
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(text.contains(&format!("ls -l {}", dir.display())), "{text}");
    }
}
