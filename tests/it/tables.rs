//! Tables for people: they fit the terminal, count wide characters, align every column; the
//! SP sees its tenants' machines by name and prunes the stale ones.

use unicode_width::UnicodeWidthStr as _;

use crate::gateway_util::*;
use crate::util::Env;

#[test]
fn certificate_lists_fit_the_terminal_and_count_wide_characters() {
    let env = Env::new();
    env.generate(&[
        "--key-type",
        "ecdsa-p256",
        "--friendly-name",
        "Backup 🔒 東京 gateway with a very long friendly name indeed",
    ]);
    env.generate(&[
        "--key-type",
        "ecdsa-p256",
        "--subject",
        "CN=a rather long common name for a certificate, O=Example Organisation Limited",
    ]);
    for columns in ["80", "100", "132"] {
        let out = env
            .cmd()
            .args(["sp", "cert", "list"])
            .env("COLUMNS", columns)
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let limit: usize = columns.parse().unwrap();
        for line in text.lines() {
            assert!(line.width() <= limit, "{} > {limit}: {line}", line.width());
        }
        assert!(
            text.contains('…'),
            "something had to be cut at {columns}: {text}"
        );
    }
    // On a pipe without COLUMNS, whole values (scripts should prefer --json).
    let out = env
        .cmd()
        .args(["sp", "cert", "list"])
        .env_remove("COLUMNS")
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("Backup 🔒 東京 gateway with a very long friendly name indeed"),
        "{text}"
    );
    // Columns line up by display width, wide characters counted twice.
    let header = text.lines().next().unwrap();
    let col = header.find("ISSUED BY").unwrap();
    for line in text.lines().skip(1).filter(|l| l.contains("ecdsa")) {
        let prefix_width: usize = line
            .char_indices()
            .take_while(|(i, _)| {
                let w = line[..*i].width();
                w < col
            })
            .count();
        assert!(prefix_width > 0);
        let before: String = line.chars().take(prefix_width).collect();
        assert_eq!(before.width(), col, "misaligned: {line}");
    }
}

#[tokio::test]
async fn machines_carry_their_host_name_and_stale_ones_are_pruned() {
    let sp = Env::new();
    provider_with_tenant(&sp, "acme").await;
    let gw = GatewayProc::start(&sp, &[]);
    let tenant = Env::new();
    let pw = tenant.path("pw");
    std::fs::write(&pw, format!("{TENANT_PASSWORD}\n")).unwrap();
    let cur: serde_json::Value =
        serde_json::from_str(&sp.ok(&["sp", "cert", "current", "--json"])).unwrap();
    tenant.ok(&[
        "tenant",
        "provider",
        "add",
        &gw.addr.to_string(),
        "--name",
        "sp",
        "--username",
        "acme",
        "--password-file",
        pw.to_str().unwrap(),
        "--thumbprint",
        cur["sha256"].as_str().unwrap(),
    ]);
    let show: serde_json::Value =
        serde_json::from_str(&sp.ok(&["sp", "tenant", "show", "acme", "--json"])).unwrap();
    let host = crate::util::host_name();
    assert_eq!(show["machines"][0]["label"], host.as_str(), "{show}");
    let text = sp.ok(&["sp", "tenant", "show", "acme"]);
    assert!(text.contains(&format!("  {host}  SHA-256 ")), "{text}");
    assert!(
        text.contains("SERVICE") && text.contains("TARGET"),
        "services as an aligned table: {text}"
    );

    // Just seen: nothing to prune.
    let pruned: serde_json::Value = serde_json::from_str(&sp.ok(&[
        "sp",
        "tenant",
        "prune",
        "acme",
        "--unseen-days",
        "30",
        "--json",
    ]))
    .unwrap();
    assert_eq!(pruned["removed"].as_array().unwrap().len(), 0);
    // Age the machine by 100 days in the database itself, then prune it.
    let db = sp.data.join("sp.db");
    let status = std::process::Command::new("python3")
        .arg("-c")
        .arg(format!(
            "import sqlite3; c = sqlite3.connect({:?}); c.execute(\"UPDATE client_certs SET last_seen = '2000-01-01T00:00:00Z', enrolled_at = '2000-01-01T00:00:00Z'\"); c.commit()",
            db.to_str().unwrap()
        ))
        .status()
        .unwrap();
    assert!(status.success());
    let pruned: serde_json::Value = serde_json::from_str(&sp.ok(&[
        "sp",
        "tenant",
        "prune",
        "acme",
        "--unseen-days",
        "30",
        "--json",
    ]))
    .unwrap();
    assert_eq!(pruned["removed"].as_array().unwrap().len(), 1, "{pruned}");
    let show: serde_json::Value =
        serde_json::from_str(&sp.ok(&["sp", "tenant", "show", "acme", "--json"])).unwrap();
    assert_eq!(show["machines"].as_array().unwrap().len(), 0);
    // The pruned machine is refused (once the gateway reloaded, within a second or two) until
    // it enrolls again.
    let start = std::time::Instant::now();
    loop {
        let out = tenant.run(&["tenant", "check", "sp"]);
        if out.status.code() == Some(4) {
            break;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "still accepted"
        );
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
}
