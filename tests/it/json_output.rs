//! Every command's `--json` output, success and error, parsed and checked against the keys it
//! promises. The same thing has the same key everywhere (`address`/`port`, `username`,
//! `thumbprint`, `sha256`).

use serde_json::Value;

use crate::gateway_util::*;
use crate::util::Env;

/// Runs a command that must succeed with `--json` and returns its JSON.
fn json_ok(env: &Env, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let out = env.run(&all);
    assert!(
        out.status.success(),
        "{all:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{all:?}: stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// Runs a command that must fail with `exit` and returns the error object's `code`.
fn json_err(env: &Env, args: &[&str], exit: i32) -> String {
    let mut all = args.to_vec();
    all.push("--json");
    let out = env.run(&all);
    assert_eq!(
        out.status.code(),
        Some(exit),
        "{all:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{all:?}: the error is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    let err = &v["error"];
    assert_eq!(err["exit_code"], exit, "{v}");
    assert!(
        !err["message"].as_str().unwrap_or_default().is_empty(),
        "{v}"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).starts_with("cloudgate: ")
            || String::from_utf8_lossy(&out.stderr).starts_with("error: "),
        "people still get their line on stderr"
    );
    err["code"].as_str().unwrap().to_string()
}

fn has(v: &Value, keys: &[&str], what: &str) {
    for k in keys {
        assert!(v.get(k).is_some(), "{what}: no key {k:?} in {v}");
    }
}

const CERT_KEYS: &[&str] = &[
    "thumbprint",
    "sha256",
    "spki_sha256",
    "friendly_name",
    "subject",
    "not_after",
    "days_left",
    "key_type",
    "applied",
];
const TENANT_KEYS: &[&str] = &["name", "enabled", "services", "machines"];
const PROVIDER_KEYS: &[&str] = &[
    "name",
    "address",
    "port",
    "username",
    "thumbprint",
    "sha256",
];

#[tokio::test]
async fn every_sp_command_reports_json_and_fails_as_json() {
    let sp = Env::new();
    let lic = sp.path("license.toml");
    std::fs::write(&lic, "licensed_to = \"Json Cloud\"\n").unwrap();
    has(
        &json_ok(&sp, &["sp", "license", "install", lic.to_str().unwrap()]),
        &["licensed_to"],
        "license install",
    );
    has(
        &json_ok(&sp, &["sp", "license", "show"]),
        &["licensed_to", "installed"],
        "license show",
    );

    let a = json_ok(
        &sp,
        &[
            "sp",
            "cert",
            "generate",
            "--key-type",
            "ecdsa-p256",
            "--apply",
        ],
    );
    has(&a, CERT_KEYS, "cert generate");
    let a_sha = a["sha256"].as_str().unwrap().to_string();
    let b = json_ok(&sp, &["sp", "cert", "generate", "--key-type", "ecdsa-p256"]);
    let b_sha = b["sha256"].as_str().unwrap().to_string();
    has(
        &json_ok(&sp, &["sp", "cert", "stage", &b_sha]),
        &["from_sha256", "to_sha256", "to_thumbprint", "proof"],
        "cert stage",
    );
    let list = json_ok(&sp, &["sp", "cert", "list"]);
    assert_eq!(list.as_array().unwrap().len(), 2);
    has(&list[0], CERT_KEYS, "cert list");
    has(
        &json_ok(&sp, &["sp", "cert", "show", &a_sha]),
        CERT_KEYS,
        "cert show",
    );
    has(
        &json_ok(&sp, &["sp", "cert", "current"]),
        CERT_KEYS,
        "cert current",
    );
    has(
        &json_ok(&sp, &["sp", "cert", "status"]),
        &["current", "staged", "key_changes", "adoption"],
        "cert status",
    );
    has(
        &json_ok(&sp, &["sp", "cert", "check"]),
        &["thumbprint", "ok"],
        "cert check",
    );
    let renewed = json_ok(&sp, &["sp", "cert", "renew", "--apply"]);
    has(&renewed, CERT_KEYS, "cert renew");
    let out = sp.path("a.pem");
    has(
        &json_ok(
            &sp,
            &[
                "sp",
                "cert",
                "export",
                &b_sha,
                "--out",
                out.to_str().unwrap(),
            ],
        ),
        &["thumbprint", "sha256", "format", "with_key", "out", "bytes"],
        "cert export",
    );
    has(
        &json_ok(&sp, &["sp", "cert", "apply", &b_sha]),
        CERT_KEYS,
        "cert apply",
    );
    has(
        &json_ok(&sp, &["sp", "cert", "remove", &a_sha]),
        CERT_KEYS,
        "cert remove",
    );

    let pw = sp.path("pw");
    std::fs::write(&pw, format!("{TENANT_PASSWORD}\n")).unwrap();
    let pwf = pw.to_str().unwrap();
    has(
        &json_ok(
            &sp,
            &["sp", "tenant", "add", "globex", "--password-file", pwf],
        ),
        TENANT_KEYS,
        "tenant add",
    );
    has(
        &json_ok(&sp, &["sp", "tenant", "list"])[0],
        TENANT_KEYS,
        "tenant list",
    );
    has(
        &json_ok(&sp, &["sp", "tenant", "show", "globex"]),
        TENANT_KEYS,
        "tenant show",
    );
    has(
        &json_ok(
            &sp,
            &[
                "sp",
                "tenant",
                "set-password",
                "globex",
                "--password-file",
                pwf,
            ],
        ),
        TENANT_KEYS,
        "set-password",
    );
    assert_eq!(
        json_ok(&sp, &["sp", "tenant", "disable", "globex"])["enabled"],
        false
    );
    assert_eq!(
        json_ok(&sp, &["sp", "tenant", "enable", "globex"])["enabled"],
        true
    );
    has(
        &json_ok(
            &sp,
            &[
                "sp",
                "tenant",
                "service",
                "add",
                "globex",
                "repo",
                "127.0.0.1:10001",
            ],
        ),
        &["tenant", "name", "target"],
        "service add",
    );
    has(
        &json_ok(&sp, &["sp", "tenant", "service", "list", "globex"])[0],
        &["name", "target"],
        "service list",
    );
    let token = json_ok(
        &sp,
        &[
            "sp",
            "tenant",
            "token",
            "create",
            "globex",
            "--address",
            "127.0.0.1:6180",
        ],
    );
    has(
        &token,
        &[
            "id",
            "tenant",
            "token",
            "expires_at",
            "uses",
            "addresses",
            "pins",
        ],
        "token create",
    );
    has(
        &json_ok(&sp, &["sp", "tenant", "token", "list"])[0],
        &["id", "tenant", "state", "uses_left", "expires_at"],
        "token list",
    );
    let revoked = json_ok(
        &sp,
        &[
            "sp",
            "tenant",
            "token",
            "revoke",
            token["id"].as_str().unwrap(),
        ],
    );
    assert_eq!(revoked["state"], "revoked");
    assert_eq!(
        json_err(&sp, &["sp", "tenant", "token", "revoke", "00000000"], 2),
        "not_found"
    );
    let removed = json_ok(
        &sp,
        &["sp", "tenant", "service", "remove", "globex", "repo"],
    );
    assert_eq!(removed["removed"]["target"], "127.0.0.1:10001");
    has(
        &json_ok(&sp, &["sp", "tenant", "remove", "globex"])["removed"],
        TENANT_KEYS,
        "tenant remove",
    );

    // Errors: a stable code, the message, the exit code.
    assert_eq!(
        json_err(&sp, &["sp", "tenant", "show", "nosuch"], 2),
        "not_found"
    );
    assert_eq!(
        json_err(&sp, &["sp", "cert", "show", "00000000"], 2),
        "not_found"
    );
    assert_eq!(
        json_err(
            &sp,
            &["sp", "tenant", "revoke", "nosuch", &"A".repeat(64)],
            2
        ),
        "not_found"
    );
    assert_eq!(json_err(&sp, &["sp", "tenant", "show"], 2), "usage");
    assert_eq!(
        json_err(&sp, &["sp", "gateway", "address", "https://sp.example"], 2),
        "bad_input"
    );
    assert_eq!(
        json_err(&sp, &["sp", "tenant", "token", "create", "nosuch"], 2),
        "not_found"
    );
    assert_eq!(
        json_err(
            &sp,
            &["sp", "tenant", "prune", "nosuch", "--unseen-days", "0"],
            2
        ),
        "usage"
    );
    assert_eq!(
        json_err(&sp, &["sp", "gateway", "run", "--listen", "nowhere"], 2),
        "bad_input"
    );
    // Usage: an array (empty before any tunnel), an unknown tenant and a bad time as JSON errors.
    assert_eq!(
        json_ok(&sp, &["sp", "tenant", "usage"]),
        serde_json::json!([])
    );
    assert_eq!(
        json_err(&sp, &["sp", "tenant", "usage", "nosuch"], 2),
        "not_found"
    );
    assert_eq!(
        json_err(&sp, &["sp", "tenant", "usage", "--since", "soon"], 2),
        "bad_input"
    );
}

#[tokio::test]
async fn every_tenant_command_reports_json_and_fails_as_json() {
    let sp = Env::new();
    provider_with_tenant(&sp, "acme").await;
    let mut gw = GatewayProc::start(&sp, &[]);
    let tenant = Env::new();
    let pw = tenant.path("pw");
    std::fs::write(&pw, format!("{TENANT_PASSWORD}\n")).unwrap();
    let cur = json_ok(&sp, &["sp", "cert", "current"]);
    let thumb = cur["thumbprint"].as_str().unwrap();
    let addr = gw.addr.to_string();
    let added = json_ok(
        &tenant,
        &[
            "tenant",
            "provider",
            "add",
            &addr,
            "--name",
            "sp",
            "--username",
            "acme",
            "--password-file",
            pw.to_str().unwrap(),
            "--thumbprint",
            thumb,
        ],
    );
    has(&added, PROVIDER_KEYS, "provider add");
    has(
        &json_ok(&tenant, &["tenant", "provider", "list"])[0],
        PROVIDER_KEYS,
        "provider list",
    );
    has(
        &json_ok(&tenant, &["tenant", "provider", "show", "sp"]),
        PROVIDER_KEYS,
        "provider show",
    );
    let check = json_ok(&tenant, &["tenant", "check", "sp"]);
    has(
        &check,
        &[
            "name",
            "address",
            "port",
            "username",
            "thumbprint",
            "services",
        ],
        "check",
    );
    assert_eq!(check["address"], added["address"]);
    assert_eq!(check["port"], added["port"]);
    assert_eq!(check["username"], added["username"]);
    let refreshed = json_ok(&tenant, &["tenant", "provider", "refresh", "sp"]);
    assert_eq!(refreshed["changed"], false);
    has(&refreshed["provider"], PROVIDER_KEYS, "provider refresh");

    // The daemons' startup lines.
    let mut tunnel = std::process::Command::new(assert_cmd::cargo::cargo_bin("cloudgate"))
        .args([
            "tenant",
            "tunnel",
            "sp",
            "echo",
            "--listen",
            "127.0.0.1:0",
            "--json",
        ])
        .env("CLOUDGATE_HOME", &tenant.data)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let line = crate::util::first_stdout_line(&mut tunnel);
    let _ = tunnel.kill();
    let _ = tunnel.wait();
    let started: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
    has(
        &started,
        &["event", "listen", "provider", "service", "thumbprint"],
        "tunnel",
    );
    gw.stop();
    let gw2 = GatewayProc::start(&sp, &["--json"]);
    drop(gw2); // GatewayProc::start found the address in the JSON line, or it would have panicked

    has(
        &json_ok(&tenant, &["tenant", "provider", "remove", "sp"])["removed"],
        PROVIDER_KEYS,
        "provider remove",
    );
    assert_eq!(
        json_err(&tenant, &["tenant", "check", "sp"], 2),
        "not_found"
    );
    assert_eq!(
        json_err(
            &tenant,
            &[
                "tenant",
                "provider",
                "add",
                &addr,
                "--username",
                "acme",
                "--thumbprint",
                "6573"
            ],
            2
        ),
        "bad_input"
    );
    let wrong = "AB".repeat(20);
    assert_eq!(
        json_err(
            &tenant,
            &[
                "tenant",
                "provider",
                "add",
                &addr,
                "--username",
                "acme",
                "--thumbprint",
                &wrong
            ],
            1
        ),
        "unreachable",
        "the gateway is stopped"
    );
}

/// A database written by a newer cloudgate is refused with the way out, not used and not
/// "migrated" back; the same kind of error means the same exit code and JSON code everywhere.
#[test]
fn a_database_from_a_newer_cloudgate_is_refused_with_its_own_code() {
    let sp = Env::new();
    let none = json_ok(&sp, &["sp", "db", "status"]);
    assert_eq!(
        (&none["exists"], &none["version"]),
        (&false.into(), &0.into())
    );
    assert!(!sp.data.join("sp.db").exists(), "status creates nothing");
    sp.ok(&["sp", "cert", "generate", "--apply"]);
    let migrated = json_ok(&sp, &["sp", "db", "migrate"]);
    has(
        &migrated,
        &["location", "backend", "version", "applied", "pending"],
        "db migrate",
    );
    assert_eq!(migrated["pending"], serde_json::json!([]));
    assert_eq!(
        json_ok(&sp, &["sp", "db", "status"])["version"],
        migrated["version"]
    );
    let db = sp.data.join("sp.db");
    let status = std::process::Command::new("python3")
        .args([
            "-c",
            "import sqlite3, sys\n\
             c = sqlite3.connect(sys.argv[1])\n\
             c.execute(\"INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (9999, 'future', 1, x'00', 0)\")\n\
             c.commit()\n",
            db.to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(json_err(&sp, &["sp", "tenant", "list"], 1), "schema_newer");
    let e = sp.fails(&["sp", "tenant", "add", "acme", "--password-stdin"], 1);
    assert!(
        e.contains("schema version 9999") && e.contains("upgrade cloudgate"),
        "{e}"
    );
    // The certificate store does not depend on the database.
    sp.ok(&["sp", "cert", "list"]);
}
