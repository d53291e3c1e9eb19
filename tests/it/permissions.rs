//! Who may read a private key: its creator, root and members of the admin group; anyone else
//! gets a clear "permission denied" naming the file. Only the owner and root change the store.
//! Runs the real binary as other users.
//!
//! Needs root and the users `.ci/run` creates (`cgtest-owner` and `cgtest-member` in group
//! `cgtest-admins`, and `cgtest-outsider`), so these tests are `#[ignore]`d: a plain
//! `cargo test` reports them as ignored, and `.ci/run` runs them with `--include-ignored`, where a
//! missing prerequisite fails the run.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::util::walk;

const OWNER: &str = "cgtest-owner";
const MEMBER: &str = "cgtest-member";
const OUTSIDER: &str = "cgtest-outsider";
const GROUP: &str = "cgtest-admins";

fn id_of(flag: &str, name: &str) -> Option<u32> {
    let out = Command::new("id").args([flag, name]).output().ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

fn group_id(name: &str) -> Option<u32> {
    let out = Command::new("getent").args(["group", name]).output().ok()?;
    String::from_utf8_lossy(&out.stdout)
        .split(':')
        .nth(2)?
        .trim()
        .parse()
        .ok()
}

/// Fails, saying what is missing, unless the prerequisites are there.
fn require() {
    let root = id_of("-u", "root") == Some(0) && nix_is_root();
    let users = [OWNER, MEMBER, OUTSIDER]
        .iter()
        .all(|u| id_of("-u", u).is_some())
        && group_id(GROUP).is_some();
    let runuser = Command::new("runuser")
        .arg("--help")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        root && users && runuser,
        "permission tests need root, runuser and the test users (root={root}, users={users}, runuser={runuser}); .ci/run creates them"
    );
}

fn nix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

struct World {
    _dir: tempfile::TempDir,
    root: PathBuf,
    bin: PathBuf,
    data: PathBuf,
}

impl World {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
        // The test binary may live under a directory other users cannot enter: copy it out.
        let bin = root.join("cloudgate");
        std::fs::copy(assert_cmd::cargo::cargo_bin("cloudgate"), &bin).unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        let data = root.join("data");
        std::fs::create_dir(&data).unwrap();
        std::os::unix::fs::chown(&data, id_of("-u", OWNER), group_id(GROUP)).unwrap();
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o750)).unwrap();
        World {
            _dir: dir,
            root,
            bin,
            data,
        }
    }

    fn run_as(&self, user: &str, args: &[&str]) -> Output {
        let mut cmd = if user == "root" {
            Command::new(&self.bin)
        } else {
            let mut c = Command::new("runuser");
            c.args(["-u", user, "--"]).arg(&self.bin);
            c
        };
        cmd.arg("--data-dir")
            .arg(&self.data)
            .args(["--admin-group", GROUP])
            .args(args)
            .env_remove("CLOUDGATE_HOME")
            .env_remove("CLOUDGATE_ADMIN_GROUP")
            .current_dir(&self.root)
            .output()
            .unwrap()
    }
}

fn assert_ok(out: &Output, who: &str) -> String {
    assert!(
        out.status.success(),
        "{who}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn assert_denied(out: &Output, who: &str, under: &Path) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{who}: {stderr}");
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("cloudgate: ") && l.contains("permission denied")),
        "{who}: {stderr}"
    );
    assert!(
        stderr.contains(under.to_str().unwrap()),
        "{who}: the error must name the file: {stderr}"
    );
    assert!(
        stderr.contains(GROUP),
        "{who}: the error should name the admin group: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{who}: {stderr}");
}

#[test]
#[ignore = "needs root, runuser and the cgtest-* users that .ci/run creates"]
fn creator_root_and_admin_group_read_keys_and_nobody_else() {
    require();
    let w = World::new();
    let out = w.run_as(
        OWNER,
        &[
            "sp",
            "cert",
            "generate",
            "--key-type",
            "ecdsa-p256",
            "--apply",
            "--json",
        ],
    );
    let c: crate::util::CertJson = serde_json::from_str(&assert_ok(&out, OWNER)).unwrap();
    assert_eq!(c.created_by, OWNER);

    let key = std::fs::metadata(&c.key_path).unwrap();
    assert_eq!(
        key.uid(),
        id_of("-u", OWNER).unwrap(),
        "key owned by its creator"
    );
    assert_eq!(
        key.gid(),
        group_id(GROUP).unwrap(),
        "key handed to the admin group"
    );
    assert_eq!(key.mode() & 0o777, 0o640);
    for p in walk(&w.data) {
        let mode = std::fs::metadata(&p).unwrap().mode();
        assert_eq!(
            mode & 0o007,
            0,
            "{} is accessible to others ({:o})",
            p.display(),
            mode & 0o777
        );
    }

    for who in [OWNER, MEMBER, "root"] {
        let text = assert_ok(&w.run_as(who, &["sp", "cert", "check"]), who);
        assert!(text.starts_with("OK:"), "{who}: {text}");
        assert_ok(&w.run_as(who, &["sp", "cert", "list"]), who);
    }
    for args in [
        vec!["sp", "cert", "check"],
        vec!["sp", "cert", "list"],
        vec!["sp", "cert", "show", &c.thumbprint],
    ] {
        assert_denied(&w.run_as(OUTSIDER, &args), OUTSIDER, &w.data);
    }
    // The outsider cannot write either, and nothing changes.
    let out = w.run_as(
        OUTSIDER,
        &["sp", "cert", "generate", "--key-type", "ecdsa-p256"],
    );
    assert_ne!(out.status.code(), Some(0));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    assert_eq!(
        crate::util::walk(&w.data.join("store/certs")).len(),
        1 + 1 + 3
    );

    // The admin group reads; only the owner and root change the store. A member who tries gets
    // a clear refusal and the store is unchanged.
    let out = w.run_as(MEMBER, &["sp", "cert", "generate", "--key-type", "ed25519"]);
    assert_denied(&out, MEMBER, &w.data);
    let out = w.run_as(
        "root",
        &["sp", "cert", "generate", "--key-type", "ed25519", "--json"],
    );
    let r: crate::util::CertJson = serde_json::from_str(&assert_ok(&out, "root")).unwrap();
    assert_ok(
        &w.run_as(OWNER, &["sp", "cert", "check", &r.thumbprint]),
        OWNER,
    );
    assert_ok(
        &w.run_as(MEMBER, &["sp", "cert", "check", &r.thumbprint]),
        MEMBER,
    );
}

#[test]
#[ignore = "needs root, runuser and the cgtest-* users that .ci/run creates"]
fn an_outsider_with_the_group_configured_is_told_what_to_do() {
    require();
    let w = World::new();
    let out = w.run_as(
        OUTSIDER,
        &["sp", "cert", "generate", "--key-type", "ecdsa-p256"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("neither root nor a member"), "{stderr}");
}

#[test]
#[ignore = "needs root, runuser and the cgtest-* users that .ci/run creates"]
fn a_data_directory_of_another_user_and_a_privileged_port_say_what_to_do() {
    require();
    let w = World::new();
    // The data directory belongs to cgtest-owner; an outsider creating the database there is
    // told whose it is and how to use a directory of their own.
    let out = Command::new("runuser")
        .args(["-u", OUTSIDER, "--"])
        .arg(&w.bin)
        .arg("--data-dir")
        .arg(&w.data)
        .args(["sp", "tenant", "list"])
        .env_remove("CLOUDGATE_HOME")
        .env_remove("CLOUDGATE_ADMIN_GROUP")
        .current_dir(&w.root)
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{e}");
    assert!(
        e.contains(&format!("owned by {OWNER}")) && e.contains("--data-dir"),
        "{e}"
    );

    // Port 80 needs root or CAP_NET_BIND_SERVICE: the message says so.
    let out = w.run_as(OWNER, &["sp", "gateway", "run", "--listen", "127.0.0.1:80"]);
    let e = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{e}");
    assert!(e.contains("CAP_NET_BIND_SERVICE"), "{e}");
}

/// Root's commands in a directory that belongs to another user act as that user: the store's
/// entries, the SP database with SQLite's own journal files and the audit log all belong to the
/// owner, so the owner's service can use them; a password file only root may read is refused
/// with a hint to use standard input.
#[test]
#[ignore = "needs root, runuser and the cgtest-* users that .ci/run creates"]
fn root_acts_as_the_owner_of_the_data_directory() {
    require();
    let w = World::new();
    assert_ok(
        &w.run_as(
            "root",
            &[
                "sp",
                "cert",
                "generate",
                "--key-type",
                "ecdsa-p256",
                "--apply",
            ],
        ),
        "root",
    );
    let mut add = Command::new(&w.bin);
    add.arg("--data-dir")
        .arg(&w.data)
        .args(["--admin-group", GROUP, "sp", "tenant", "add", "rootmade"])
        .arg("--password-stdin")
        .env_remove("CLOUDGATE_HOME")
        .env_remove("CLOUDGATE_ADMIN_GROUP")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = add.spawn().unwrap();
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"a long enough password\n").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert_ok(&out, "root");
    let owner = id_of("-u", OWNER).unwrap();
    let mut seen_db = false;
    for p in walk(&w.data) {
        let meta = std::fs::symlink_metadata(&p).unwrap();
        assert_eq!(
            meta.uid(),
            owner,
            "{} belongs to uid {}",
            p.display(),
            meta.uid()
        );
        seen_db |= p.file_name().is_some_and(|n| n == "sp.db");
    }
    assert!(seen_db, "the SP database was made");
    // The audit names who made the change: root, acting as the owner.
    let audit = std::fs::read_to_string(w.data.join("audit.log")).unwrap();
    assert!(
        audit
            .lines()
            .any(|l| l.contains("tenant.added") && l.contains(&format!("root as {OWNER}"))),
        "{audit}"
    );
    // The owner's own command reads what root's made.
    let text = assert_ok(&w.run_as(OWNER, &["sp", "tenant", "list"]), OWNER);
    assert!(text.contains("rootmade"), "{text}");

    // A secret in a file only root may read: the command acts as the owner, so it cannot read
    // it, and says what to do instead.
    let secret = w.root.join("root-only");
    std::fs::create_dir(&secret).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::write(secret.join("pw"), "another long password\n").unwrap();
    let pw = secret.join("pw");
    let out = w.run_as(
        "root",
        &[
            "sp",
            "tenant",
            "add",
            "second",
            "--password-file",
            pw.to_str().unwrap(),
        ],
    );
    let e = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{e}");
    assert!(
        e.contains(&format!("acts as {OWNER}")) && e.contains("--password-stdin"),
        "{e}"
    );
}
