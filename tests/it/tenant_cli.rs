//! `cloudgate sp tenant …`: accounts, services, enrolled certificates, and bad input.

use crate::gateway_util::{TENANT_PASSWORD, add_tenant};
use crate::util::Env;

#[test]
fn tenants_need_a_certificate_in_use_first() {
    let env = Env::new();
    let out = env
        .cmd()
        .args(["sp", "tenant", "add", "acme", "--password-stdin"])
        .write_stdin("long enough\n")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        e.contains("sp cert generate --apply") && e.contains("sp cert manage"),
        "{e}"
    );
}

#[test]
fn tenant_lifecycle_and_json() {
    let env = Env::new();
    env.ok(&[
        "sp",
        "cert",
        "generate",
        "--key-type",
        "ecdsa-p256",
        "--apply",
    ]);
    add_tenant(&env, "acme");
    env.ok(&[
        "sp",
        "tenant",
        "service",
        "add",
        "acme",
        "repo",
        "backup.internal:9000",
    ]);
    let list: serde_json::Value =
        serde_json::from_str(&env.ok(&["sp", "tenant", "list", "--json"])).unwrap();
    assert_eq!(list[0]["name"], "acme");
    assert_eq!(list[0]["enabled"], true);
    assert_eq!(list[0]["services"][0]["target"], "backup.internal:9000");
    let services: serde_json::Value =
        serde_json::from_str(&env.ok(&["sp", "tenant", "service", "list", "acme", "--json"]))
            .unwrap();
    assert_eq!(services[0]["name"], "repo");
    env.ok(&["sp", "tenant", "disable", "acme"]);
    let shown: serde_json::Value =
        serde_json::from_str(&env.ok(&["sp", "tenant", "show", "acme", "--json"])).unwrap();
    assert_eq!(shown["enabled"], false);
    let out = env
        .cmd()
        .args(["sp", "tenant", "set-password", "acme", "--password-stdin"])
        .write_stdin("another password\n")
        .output()
        .unwrap();
    assert!(out.status.success());
    env.ok(&["sp", "tenant", "service", "remove", "acme", "repo"]);
    env.ok(&["sp", "tenant", "remove", "acme"]);
    assert!(env.ok(&["sp", "tenant", "list"]).contains("No tenants yet"));
    // Only hashes are stored: the password is nowhere in the database file.
    let db = std::fs::read(env.data.join("sp.db")).unwrap();
    assert!(
        !db.windows(TENANT_PASSWORD.len())
            .any(|w| w == TENANT_PASSWORD.as_bytes())
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(env.data.join("sp.db"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o007, 0, "the database is not world-readable");
}

#[test]
fn bad_tenant_input_exits_2() {
    let env = Env::new();
    env.ok(&[
        "sp",
        "cert",
        "generate",
        "--key-type",
        "ecdsa-p256",
        "--apply",
    ]);
    add_tenant(&env, "acme");
    for (args, stdin, needle) in [
        (
            vec!["sp", "tenant", "add", "bad name", "--password-stdin"],
            "long enough\n",
            "contains ' '",
        ),
        (
            vec!["sp", "tenant", "add", "", "--password-stdin"],
            "long enough\n",
            "empty",
        ),
        (
            vec!["sp", "tenant", "add", "acme", "--password-stdin"],
            "long enough\n",
            "exists already",
        ),
        (
            vec!["sp", "tenant", "add", "short", "--password-stdin"],
            "short\n",
            "shorter than 8",
        ),
        (vec!["sp", "tenant", "add", "nopw"], "", "--password-file"),
        (
            vec!["sp", "tenant", "show", "nobody"],
            "",
            "no tenant named",
        ),
        (
            vec!["sp", "tenant", "disable", "nobody"],
            "",
            "no tenant named",
        ),
        (
            vec!["sp", "tenant", "service", "add", "acme", "repo", "no-port"],
            "",
            "HOST:PORT",
        ),
        (
            vec![
                "sp",
                "tenant",
                "service",
                "add",
                "acme",
                "repo",
                "host:99999",
            ],
            "",
            "port",
        ),
        (
            vec!["sp", "tenant", "service", "add", "acme", "re po", "h:1"],
            "",
            "service name",
        ),
        (
            vec!["sp", "tenant", "service", "add", "nobody", "repo", "h:1"],
            "",
            "no tenant named",
        ),
        (
            vec!["sp", "tenant", "service", "remove", "acme", "none"],
            "",
            "no service named",
        ),
        (
            vec!["sp", "tenant", "revoke", "acme", "1234"],
            "",
            "64 hex digits",
        ),
        (
            vec!["sp", "tenant", "revoke", "acme", &"AB".repeat(32)],
            "",
            "no enrolled client certificate",
        ),
    ] {
        let out = env.cmd().args(&args).write_stdin(stdin).output().unwrap();
        let e = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {e}");
        assert!(e.contains(needle), "{args:?}: {e}");
    }
}
