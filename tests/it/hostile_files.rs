//! Hostile files in and around the store, as a local user with write access to a victim's files
//! (or to a misconfigured store) would plant them: symbolic links, FIFOs, devices and oversized
//! files where cloudgate expects its own regular files, and store directories opened up. Every
//! case is refused with the path named, and the victim's content and modification time stay
//! unchanged (no strace needed: a read through the link would have changed the error, a write
//! the content).

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::util::Env;

/// A store with one applied certificate; returns the entry directory.
fn store_with_cert() -> (Env, PathBuf) {
    let env = Env::new();
    let c = env.generate(&["--key-type", "ecdsa-p256", "--apply"]);
    let dir = c.key_path.parent().unwrap().to_path_buf();
    (env, dir)
}

/// A file outside the store whose content and mtime must not change.
struct Victim {
    path: PathBuf,
    content: Vec<u8>,
    mtime: std::time::SystemTime,
}

impl Victim {
    fn new(env: &Env, name: &str, content: &[u8]) -> Self {
        let path = env.path(name);
        std::fs::write(&path, content).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
        Victim {
            path,
            content: content.to_vec(),
            mtime,
        }
    }

    fn untouched(&self) {
        assert_eq!(std::fs::read(&self.path).unwrap(), self.content);
        assert_eq!(
            std::fs::metadata(&self.path).unwrap().modified().unwrap(),
            self.mtime
        );
    }
}

fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

/// Replaces `path` with a symbolic link to `target`.
fn plant_link(path: &Path, target: &Path) {
    std::fs::remove_file(path).unwrap();
    std::os::unix::fs::symlink(target, path).unwrap();
}

/// Runs `args`, which must fail within 20 s (not hang or eat memory) naming `named`.
fn refused(env: &Env, args: &[&str], named: &str, what: &str) {
    let started = Instant::now();
    let out = env.run(args);
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} succeeded: {e}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{args:?} took too long"
    );
    assert!(!e.contains("panicked"), "{e}");
    assert!(e.contains(named) && e.contains(what), "{args:?}: {e}");
}

#[test]
fn a_key_file_linked_elsewhere_is_never_read() {
    let (env, entry) = store_with_cert();
    let key = entry.join("key.pem");
    // A key of the right shape outside the store (a copy of the real one, owner-only) and an
    // unrelated secret: neither may be read through the link.
    let copy = Victim::new(&env, "outside.key", &std::fs::read(&key).unwrap());
    let cur = env.list()[0].thumbprint.clone();
    plant_link(&key, &copy.path);
    refused(&env, &["sp", "cert", "check"], "key.pem", "symbolic link");
    refused(
        &env,
        &["sp", "cert", "export", &cur, "--with-key", "--out", "-"],
        "key.pem",
        "symbolic link",
    );
    copy.untouched();
    let secret = Victim::new(&env, "shadow", b"root:$6$secret\n");
    plant_link(&key, &secret.path);
    refused(&env, &["sp", "cert", "check"], "key.pem", "symbolic link");
    secret.untouched();
    // The link is refused before its target is touched: a readable victim, an unreadable one
    // and a missing one give the same answer.
    let answer =
        |env: &Env| String::from_utf8_lossy(&env.run(&["sp", "cert", "check"]).stderr).into_owned();
    let readable = answer(&env);
    std::fs::set_permissions(&secret.path, std::fs::Permissions::from_mode(0o000)).unwrap();
    assert_eq!(answer(&env), readable);
    plant_link(&key, &env.path("does-not-exist"));
    assert_eq!(answer(&env), readable);
}

#[test]
fn store_files_that_are_links_fifos_or_devices_are_refused_not_read() {
    let (env, entry) = store_with_cert();
    let victim = Victim::new(&env, "victim.json", b"{\"sha256\":\"x\"}");
    let applied = env.data.join("store/applied.json");
    let saved = std::fs::read(&applied).unwrap();
    plant_link(&applied, &victim.path);
    refused(
        &env,
        &["sp", "cert", "current"],
        "applied.json",
        "symbolic link",
    );
    refused(
        &env,
        &["sp", "cert", "list"],
        "applied.json",
        "symbolic link",
    );
    victim.untouched();
    std::fs::remove_file(&applied).unwrap();
    std::fs::write(&applied, &saved).unwrap();
    std::fs::set_permissions(&applied, std::fs::Permissions::from_mode(0o600)).unwrap();
    env.ok(&["sp", "cert", "current"]);

    for (file, target) in [("meta.json", "/dev/zero"), ("cert.pem", "/dev/zero")] {
        let path = entry.join(file);
        let keep = std::fs::read(&path).unwrap();
        plant_link(&path, Path::new(target));
        refused(&env, &["sp", "cert", "list"], file, "symbolic link");
        std::fs::remove_file(&path).unwrap();
        mkfifo(&path);
        refused(&env, &["sp", "cert", "list"], file, "a FIFO");
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, &keep).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    // Oversized: a 2 MiB metadata file.
    let meta = entry.join("meta.json");
    let keep = std::fs::read(&meta).unwrap();
    std::fs::write(&meta, vec![b' '; 2 * 1024 * 1024]).unwrap();
    refused(&env, &["sp", "cert", "list"], "meta.json", "larger than");
    std::fs::write(&meta, keep).unwrap();
    env.ok(&["sp", "cert", "list"]);
}

#[test]
fn the_audit_log_and_the_lock_are_not_written_through_links() {
    let (env, _) = store_with_cert();
    let next = env.generate(&["--key-type", "ecdsa-p256"]);
    let victim = Victim::new(&env, "victim.log", b"precious\n");
    let audit = env.data.join("audit.log");
    plant_link(&audit, &victim.path);
    refused(
        &env,
        &["sp", "cert", "apply", &next.thumbprint],
        "audit.log",
        "symbolic link",
    );
    victim.untouched();
    std::fs::remove_file(&audit).unwrap();

    let lock = env.data.join("store/.lock");
    let lock_victim = Victim::new(&env, "victim.lock", b"locked?\n");
    if lock.exists() || std::fs::symlink_metadata(&lock).is_ok() {
        std::fs::remove_file(&lock).unwrap();
    }
    std::os::unix::fs::symlink(&lock_victim.path, &lock).unwrap();
    refused(
        &env,
        &["sp", "cert", "apply", &next.thumbprint],
        ".lock",
        "symbolic link",
    );
    lock_victim.untouched();
}

#[test]
fn every_level_of_the_store_is_checked_by_every_command() {
    let (env, entry) = store_with_cert();
    let store = env.data.join("store");
    let certs = store.join("certs");
    for (dir, mode) in [
        (&store, 0o777),
        (&store, 0o770),
        (&certs, 0o777),
        (&certs, 0o770),
        (&entry, 0o777),
        (&entry, 0o757),
    ] {
        let before = std::fs::metadata(dir).unwrap().permissions();
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode)).unwrap();
        for args in [
            &["sp", "cert", "list"][..],
            &["sp", "cert", "current"][..],
            &["sp", "cert", "check"][..],
        ] {
            let name = dir.file_name().unwrap().to_string_lossy().to_string();
            refused(&env, args, &name, "chmod");
        }
        std::fs::set_permissions(dir, before).unwrap();
    }
    env.ok(&["sp", "cert", "check"]);
    // A store directory replaced by a link to a copy is refused too.
    let moved = env.data.join("store-elsewhere");
    std::fs::rename(&certs, &moved).unwrap();
    std::os::unix::fs::symlink(&moved, &certs).unwrap();
    refused(&env, &["sp", "cert", "list"], "certs", "symbolic link");
}

#[test]
fn imports_and_passwords_from_devices_fifos_and_floods_are_refused() {
    let env = Env::new();
    let started = Instant::now();
    let e = env.fails(&["sp", "cert", "import", "/dev/zero"], 2);
    assert!(e.contains("/dev/zero") && e.contains("a device"), "{e}");
    let fifo = env.path("fifo.pem");
    mkfifo(&fifo);
    let e = env.fails(&["sp", "cert", "import", fifo.to_str().unwrap()], 2);
    assert!(e.contains("a FIFO"), "{e}");
    let other = Env::new();
    let c = other.generate(&["--key-type", "ecdsa-p256"]);
    let e = env.fails(
        &[
            "sp",
            "cert",
            "import",
            c.cert_path.to_str().unwrap(),
            "--key",
            "/dev/zero",
        ],
        2,
    );
    assert!(e.contains("/dev/zero") && e.contains("a device"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(30));

    // A password of 10 KiB on standard input, and in a file.
    let (env, _) = store_with_cert();
    let long = "p".repeat(10 * 1024);
    let out = env
        .cmd()
        .args(["sp", "tenant", "add", "acme", "--password-stdin"])
        .write_stdin(format!("{long}\n"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("longer than 1024 bytes"));
    let pw = env.path("pw");
    std::fs::write(&pw, &long).unwrap();
    let cur = env.list()[0].thumbprint.clone();
    let e = env.fails(
        &[
            "sp",
            "cert",
            "export",
            &cur,
            "--format",
            "pfx",
            "--out",
            "x.pfx",
            "--password-file",
            pw.to_str().unwrap(),
        ],
        2,
    );
    assert!(e.contains("longer than 1024 bytes"), "{e}");
}

#[test]
fn the_databases_are_not_opened_through_links() {
    let (env, _) = store_with_cert();
    crate::gateway_util::add_tenant(&env, "acme");
    let db = env.data.join("sp.db");
    let victim = Victim::new(&env, "victim.db", b"not a database\n");
    let real = env.data.join("sp.db.real");
    std::fs::rename(&db, &real).unwrap();
    std::os::unix::fs::symlink(&victim.path, &db).unwrap();
    refused(&env, &["sp", "tenant", "list"], "sp.db", "symbolic link");
    victim.untouched();
    // The tenant's database too.
    let tenant = Env::new();
    std::fs::create_dir_all(&tenant.data).unwrap();
    std::fs::set_permissions(&tenant.data, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::symlink(&victim.path, tenant.data.join("tenant.db")).unwrap();
    refused(
        &tenant,
        &["tenant", "provider", "list"],
        "tenant.db",
        "symbolic link",
    );
    victim.untouched();
}
