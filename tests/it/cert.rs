//! `cloudgate sp cert …`: the JSON contract, the Summary lines, selection by thumbprint, and a
//! clear error with the documented exit code for every kind of bad input.

use std::os::unix::fs::PermissionsExt;

use crate::util::{CertJson, Env, host_name};

fn is_upper_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.chars()
            .all(|c| c.is_ascii_digit() || ('A'..='F').contains(&c))
}

#[test]
fn default_certificates_name_the_public_address_tenants_are_given() {
    let env = Env::new();
    env.ok(&["sp", "gateway", "address", "203.0.113.7:7443"]);
    let c = env.generate(&["--key-type", "ecdsa-p256"]);
    assert_eq!(
        c.sans,
        vec![host_name().to_lowercase(), "203.0.113.7".to_string()]
    );
    env.ok(&["sp", "gateway", "address", "Backup.Example.NET"]);
    let c = env.generate(&["--key-type", "ecdsa-p256"]);
    assert!(
        c.sans.contains(&"backup.example.net".to_string()),
        "{:?}",
        c.sans
    );
    // Names given on the command line replace the defaults, as before.
    let c = env.generate(&["--key-type", "ecdsa-p256", "--san", "only.example.org"]);
    assert_eq!(c.sans, vec!["only.example.org".to_string()]);
}

#[test]
fn generate_json_contract_and_defaults() {
    let env = Env::new();
    let c = env.generate(&["--key-type", "ecdsa-p256"]);
    assert!(is_upper_hex(&c.thumbprint, 40), "{}", c.thumbprint);
    assert!(is_upper_hex(&c.sha256, 64), "{}", c.sha256);
    assert!(
        c.spki_sha256.starts_with("sha256//") && c.spki_sha256.len() == 8 + 44,
        "{}",
        c.spki_sha256
    );
    let host = host_name();
    assert_eq!(c.friendly_name, format!("{host} Cloud Connect Certificate"));
    assert_eq!(c.subject, format!("CN={host},O={host},OU={host}"));
    assert_eq!(c.issuer, c.subject);
    assert!(is_upper_hex(&c.serial, 32), "{}", c.serial);
    assert!(c.not_before.ends_with('Z') && c.not_after.ends_with('Z'));
    assert!((364..=365).contains(&c.days_left));
    assert_eq!(c.key_type, "ecdsa-p256");
    // The host name, and this host's fully qualified name when it has another (the address
    // tenants are told when none is configured).
    assert_eq!(c.sans[0], host.to_lowercase());
    assert!(c.sans.len() <= 2, "{:?}", c.sans);
    assert!(!c.applied);
    assert_eq!(c.source, "generated");
    assert!(!c.created_by.is_empty());
    assert!(c.cert_path.starts_with(&env.data) && c.key_path.starts_with(&env.data));
    assert_eq!(env.list().len(), 1);
}

#[test]
fn no_license_warns_that_the_host_name_stands_in() {
    let env = Env::new();
    let out = env.run(&["sp", "cert", "generate", "--key-type", "ecdsa-p256"]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no license installed") && stderr.contains(&host_name()),
        "{stderr}"
    );
}

#[test]
fn options_shape_the_certificate() {
    let env = Env::new();
    let c = env.generate(&[
        "--key-type",
        "ecdsa-p384",
        "--valid-days",
        "30",
        "--subject",
        "CN=backup.example.com, O=Example\\, Inc., C=us",
        "--san",
        "backup.example.com",
        "--san",
        "*.tenants.example.com",
        "--san",
        "192.0.2.10",
        "--san",
        "2001:db8::10",
        "--friendly-name",
        "Example gateway",
    ]);
    assert_eq!(c.key_type, "ecdsa-p384");
    assert!((29..=30).contains(&c.days_left));
    assert_eq!(c.subject, "CN=backup.example.com,O=Example\\, Inc.,C=US");
    assert_eq!(
        c.sans,
        [
            "backup.example.com",
            "*.tenants.example.com",
            "192.0.2.10",
            "2001:db8::10"
        ]
    );
    assert_eq!(c.friendly_name, "Example gateway");
}

#[test]
fn show_prints_the_six_summary_lines_first() {
    let env = Env::new();
    let c = env.generate(&[
        "--key-type",
        "ecdsa-p256",
        "--friendly-name",
        "Acme Cloud Connect Certificate",
    ]);
    let text = env.ok(&["sp", "cert", "show", &c.thumbprint]);
    let lines: Vec<&str> = text.lines().collect();
    let host = host_name();
    assert_eq!(lines[0], "Name: Acme Cloud Connect Certificate");
    assert_eq!(
        lines[1],
        format!("Issued to: CN={host}, O={host}, OU={host}")
    );
    assert_eq!(
        lines[2],
        format!("Issued by: CN={host}, O={host}, OU={host}")
    );
    let date = lines[3]
        .strip_prefix("Expiration date: ")
        .expect("expiration line");
    let (day, clock) = date.split_once(' ').unwrap();
    let parts: Vec<&str> = day.split('/').collect();
    assert_eq!(parts.len(), 3, "{date}");
    assert!(
        clock.ends_with(" AM UTC") || clock.ends_with(" PM UTC"),
        "{date}"
    );
    assert_eq!(lines[4], format!("Thumbprint: {}", c.thumbprint));
    assert_eq!(lines[5], format!("Serial number: {}", c.serial));
    assert_eq!(lines[6], "");
    assert!(text.contains(&format!("Public key pin: {}", c.spki_sha256)));
    assert!(
        text.contains("SHA-256: ")
            && text.contains("Key type: ecdsa-p256")
            && text.contains("Source: generated")
    );
}

#[test]
fn certificates_are_found_by_any_fingerprint_form() {
    let env = Env::new();
    let c = env.generate(&["--key-type", "ecdsa-p256"]);
    let _other = env.generate(&["--key-type", "ecdsa-p256"]);
    let lower_spaced: String = c
        .thumbprint
        .to_lowercase()
        .as_bytes()
        .chunks(2)
        .map(|p| std::str::from_utf8(p).unwrap())
        .collect::<Vec<_>>()
        .join(" ");
    let colons: String = c
        .sha256
        .as_bytes()
        .chunks(2)
        .map(|p| std::str::from_utf8(p).unwrap())
        .collect::<Vec<_>>()
        .join(":");
    for query in [
        c.thumbprint.clone(),
        format!("\u{200E}{lower_spaced}"),
        colons,
        c.sha256.to_lowercase(),
        c.spki_sha256.clone(),
        c.thumbprint[..8].to_string(),
        format!("{}-{}", &c.sha256[..6], &c.sha256[6..12]),
    ] {
        let shown: CertJson =
            serde_json::from_str(&env.ok(&["sp", "cert", "show", &query, "--json"])).unwrap();
        assert_eq!(shown.thumbprint, c.thumbprint, "query {query:?}");
    }
}

#[test]
fn unknown_and_malformed_thumbprints_exit_2() {
    let env = Env::new();
    let c = env.generate(&["--key-type", "ecdsa-p256"]);
    let flipped: String = c
        .thumbprint
        .chars()
        .map(|ch| if ch == 'A' { 'B' } else { 'A' })
        .collect();
    let e = env.fails(&["sp", "cert", "show", &flipped], 2);
    assert!(e.contains("no certificate in the store matches"), "{e}");
    let e = env.fails(&["sp", "cert", "show", "ABC"], 2);
    assert!(e.contains("at least 8 hex digits"), "{e}");
    let e = env.fails(&["sp", "cert", "apply", "not-a-thumbprint"], 2);
    assert!(e.contains("is not a hex digit"), "{e}");
    env.fails(&["sp", "cert", "remove", "sha256//AAAA"], 2);
    env.fails(&["sp", "cert", "export", "", "--out", "x.pem"], 2);
}

#[test]
fn bad_generate_flags_exit_2_and_write_nothing() {
    let env = Env::new();
    for args in [
        vec!["--key-type", "rsa-1024"],
        vec!["--key-type", ""],
        vec!["--valid-days", "0"],
        vec!["--valid-days", "3651"],
        vec!["--valid-days", "-5"],
        vec!["--valid-days", "ten"],
        vec!["--subject", ""],
        vec!["--subject", "Acme"],
        vec!["--subject", "CN=a, CN=b"],
        vec!["--subject", "C=USA"],
        vec!["--san", "bad name.example"],
        vec!["--san", "a.*.example.com"],
        vec!["--san", ""],
        vec!["--friendly-name", ""],
        vec!["--friendly-name", "tab\there"],
        vec!["--no-such-flag"],
    ] {
        let mut full = vec!["sp", "cert", "generate"];
        full.extend(args.iter().copied());
        let e = env.fails(&full, 2);
        assert!(
            e.contains("invalid value") || e.contains("unexpected argument"),
            "{args:?}: {e}"
        );
    }
    assert!(!env.data.exists(), "bad input must leave no state behind");
}

#[test]
fn apply_current_and_audit_event() {
    let env = Env::new();
    let e = env.fails(&["sp", "cert", "current"], 1);
    assert!(
        e.contains("no certificate is in use") && e.contains("generate --apply"),
        "{e}"
    );
    let a = env.generate(&["--key-type", "ecdsa-p256", "--apply"]);
    assert!(a.applied);
    let b = env.generate(&["--key-type", "ecdsa-p256"]);
    let out = env.ok(&["sp", "cert", "apply", &b.thumbprint[..10]]);
    assert!(
        out.contains("Cloud Connect certificate is being updated") && out.contains(&a.thumbprint),
        "{out}"
    );
    let current: CertJson =
        serde_json::from_str(&env.ok(&["sp", "cert", "current", "--json"])).unwrap();
    assert_eq!(current.thumbprint, b.thumbprint);
    assert!(current.applied);
    let listed = env.list();
    assert_eq!(listed.iter().filter(|c| c.applied).count(), 1);
    let audit = std::fs::read_to_string(env.data.join("audit.log")).unwrap();
    let applied: Vec<serde_json::Value> = audit
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("audit lines are JSON"))
        .filter(|v| v["event"] == "cert.applied")
        .collect();
    assert_eq!(applied.len(), 2);
    assert_eq!(
        applied[1]["message"],
        "Cloud Connect certificate is being updated"
    );
    assert_eq!(applied[1]["thumbprint"], b.thumbprint.as_str());
    assert_eq!(applied[1]["previous_thumbprint"], a.thumbprint.as_str());
}

#[test]
fn remove_refuses_the_applied_certificate_without_force() {
    let env = Env::new();
    let a = env.generate(&["--key-type", "ecdsa-p256", "--apply"]);
    let b = env.generate(&["--key-type", "ecdsa-p256"]);
    let e = env.fails(&["sp", "cert", "remove", &a.thumbprint], 2);
    assert!(e.contains("in use") && e.contains("--force"), "{e}");
    env.ok(&["sp", "cert", "remove", &b.thumbprint]);
    assert_eq!(env.list().len(), 1);
    env.ok(&["sp", "cert", "remove", &a.thumbprint, "--force"]);
    assert!(env.list().is_empty());
    env.fails(&["sp", "cert", "current"], 1);
    env.fails(&["sp", "cert", "remove", &a.thumbprint], 2);
}

#[test]
fn export_writes_pem_and_der_and_never_clobbers() {
    let env = Env::new();
    let c = env.generate(&["--key-type", "ecdsa-p256"]);
    let pem = env.path("c.pem");
    let der = env.path("c.der");
    env.ok(&[
        "sp",
        "cert",
        "export",
        &c.thumbprint,
        "--out",
        pem.to_str().unwrap(),
    ]);
    env.ok(&[
        "sp",
        "cert",
        "export",
        &c.thumbprint,
        "--out",
        der.to_str().unwrap(),
        "--format",
        "der",
    ]);
    let pem_text = std::fs::read_to_string(&pem).unwrap();
    assert!(pem_text.starts_with("-----BEGIN CERTIFICATE-----\n"));
    assert!(!pem_text.contains("PRIVATE KEY"));
    assert_eq!(
        std::fs::metadata(&pem).unwrap().permissions().mode() & 0o777,
        0o644
    );
    let fp = crate::util::openssl(&[
        "x509",
        "-inform",
        "DER",
        "-in",
        der.to_str().unwrap(),
        "-noout",
        "-fingerprint",
        "-sha1",
    ]);
    assert!(fp.replace(':', "").contains(&c.thumbprint), "{fp}");
    std::fs::write(&pem, "keep me").unwrap();
    let e = env.fails(
        &[
            "sp",
            "cert",
            "export",
            &c.thumbprint,
            "--out",
            pem.to_str().unwrap(),
        ],
        2,
    );
    assert!(e.contains("--force"), "{e}");
    assert_eq!(std::fs::read_to_string(&pem).unwrap(), "keep me");
    env.ok(&[
        "sp",
        "cert",
        "export",
        &c.thumbprint,
        "--out",
        pem.to_str().unwrap(),
        "--force",
    ]);
    assert_eq!(std::fs::read_to_string(&pem).unwrap(), pem_text);
    let stdout = env.ok(&["sp", "cert", "export", &c.thumbprint, "--out", "-"]);
    assert_eq!(stdout, pem_text);
    env.fails(
        &[
            "sp",
            "cert",
            "export",
            &c.thumbprint,
            "--out",
            "x",
            "--format",
            "p7b",
        ],
        2,
    );
}

#[test]
fn list_of_an_empty_store() {
    let env = Env::new();
    assert!(env.list().is_empty());
    let text = env.ok(&["sp", "cert", "list"]);
    assert!(
        text.contains("empty") && text.contains("generate --apply"),
        "{text}"
    );
    assert!(
        !env.data.exists(),
        "reading must not create the data directory"
    );
}

#[test]
fn list_table_marks_the_applied_certificate() {
    let env = Env::new();
    let a = env.generate(&[
        "--key-type",
        "ecdsa-p256",
        "--apply",
        "--friendly-name",
        "first",
    ]);
    env.generate(&["--key-type", "ed25519", "--friendly-name", "second"]);
    let text = env.ok(&["sp", "cert", "list"]);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].contains("ISSUED TO")
            && lines[0].contains("THUMBPRINT")
            && lines[0].contains("DAYS LEFT")
    );
    let first = lines.iter().find(|l| l.contains("first")).unwrap();
    assert!(
        first.starts_with('*') && first.contains(&a.thumbprint) && first.contains("ecdsa-p256"),
        "{first}"
    );
    let second = lines.iter().find(|l| l.contains("second")).unwrap();
    assert!(
        second.starts_with(' ') && second.contains("ed25519"),
        "{second}"
    );
}

#[test]
fn a_key_file_opened_to_others_is_refused_with_the_fix() {
    let env = Env::new();
    let c = env.generate(&["--key-type", "ecdsa-p256", "--apply"]);
    for mode in [0o644, 0o660, 0o606] {
        std::fs::set_permissions(&c.key_path, std::fs::Permissions::from_mode(mode)).unwrap();
        for args in [vec!["sp", "cert", "list"], vec!["sp", "cert", "check"]] {
            let e = env.fails(&args, 1);
            assert!(
                e.contains(c.key_path.to_str().unwrap()) && e.contains("chmod 0640"),
                "{e}"
            );
        }
    }
    std::fs::set_permissions(&c.key_path, std::fs::Permissions::from_mode(0o600)).unwrap();
    env.ok(&["sp", "cert", "check"]);
}

#[test]
fn a_store_directory_opened_to_others_is_refused() {
    let env = Env::new();
    env.generate(&["--key-type", "ecdsa-p256"]);
    let store = env.data.join("store");
    std::fs::set_permissions(&store, std::fs::Permissions::from_mode(0o755)).unwrap();
    let e = env.fails(&["sp", "cert", "list"], 1);
    assert!(
        e.contains(store.to_str().unwrap()) && e.contains("chmod o-rwx"),
        "{e}"
    );
}

#[test]
fn damaged_entries_are_reported_not_panicked_on() {
    let env = Env::new();
    let c = env.generate(&["--key-type", "ecdsa-p256", "--apply"]);
    let pem = std::fs::read_to_string(&c.cert_path).unwrap();
    std::fs::write(&c.cert_path, &pem[..pem.len() / 2]).unwrap();
    let e = env.fails(&["sp", "cert", "list"], 1);
    assert!(e.contains("cert.pem") && e.contains("damaged"), "{e}");
    std::fs::write(&c.cert_path, &pem).unwrap();
    let other = env.generate(&["--key-type", "ecdsa-p256"]);
    std::fs::copy(&other.key_path, &c.key_path).unwrap();
    let e = env.fails(&["sp", "cert", "check", &c.thumbprint], 1);
    assert!(e.contains("does not belong to the certificate"), "{e}");
    let e = env.fails(&["sp", "cert", "apply", &c.thumbprint], 1);
    assert!(e.contains("does not belong"), "{e}");
}

#[test]
fn check_reports_json() {
    let env = Env::new();
    let c = env.generate(&["--key-type", "ed25519", "--apply"]);
    let v: serde_json::Value =
        serde_json::from_str(&env.ok(&["sp", "cert", "check", "--json"])).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["thumbprint"], c.thumbprint.as_str());
    assert_eq!(v["signature_valid"], true);
}

#[test]
fn unusable_admin_group_is_bad_input() {
    let env = Env::new();
    let e = env.fails(
        &[
            "--admin-group",
            "no-such-group-xyz",
            "sp",
            "cert",
            "generate",
        ],
        2,
    );
    assert!(
        e.contains("no-such-group-xyz") && e.contains("no such group"),
        "{e}"
    );
    assert!(!env.data.exists());
}

#[test]
fn spinner_stays_off_a_pipe() {
    let env = Env::new();
    let out = env.run(&["sp", "cert", "generate", "--key-type", "rsa-3072"]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("Generating"), "{stderr}");
}

#[test]
fn help_completions_and_man_page() {
    let env = Env::new();
    let help = env.ok(&["--help"]);
    assert!(
        help.contains("Exit codes:") && help.contains("3  trust failure"),
        "{help}"
    );
    for sub in [
        vec!["sp", "--help"],
        vec!["sp", "cert", "--help"],
        vec!["sp", "cert", "generate", "--help"],
        vec!["sp", "license", "install", "--help"],
    ] {
        assert!(!env.ok(&sub).is_empty());
    }
    assert!(env.ok(&["completions", "bash"]).contains("cloudgate"));
    assert!(
        env.ok(&["completions", "zsh"])
            .contains("#compdef cloudgate")
    );
    assert!(env.ok(&["man"]).contains(".TH cloudgate"));
    env.fails(&["completions", "tcsh"], 2);
    env.fails(&["sp", "cert"], 2);
}

#[test]
fn empty_data_dir_is_bad_usage() {
    let env = Env::new();
    let e = env.fails(&["--data-dir", "", "sp", "cert", "list"], 2);
    assert!(e.contains("--data-dir"), "{e}");
}

#[test]
fn spinner_shows_on_a_terminal() {
    // `script` (util-linux) runs the command on a pseudo-terminal and copies what it draws.
    assert!(
        std::process::Command::new("script")
            .arg("--version")
            .output()
            .is_ok(),
        "script(1) is missing: install bsdutils"
    );
    let env = Env::new();
    let bin = assert_cmd::cargo::cargo_bin("cloudgate");
    let cmd = format!("{} sp cert generate --key-type rsa-4096", bin.display());
    let out = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("CLOUDGATE_HOME", &env.data)
        .env("TERM", "xterm")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(screen.contains("Generating a rsa-4096 key"), "{screen}");
    assert!(screen.contains("Thumbprint: "), "{screen}");
}

#[test]
fn renew_keeps_the_key_and_refuses_what_it_cannot_renew() {
    let env = Env::new();
    let c = env.generate(&[
        "--key-type",
        "ecdsa-p256",
        "--san",
        "gw.example.com",
        "--friendly-name",
        "kept name",
    ]);
    let r: CertJson = serde_json::from_str(&env.ok(&[
        "sp",
        "cert",
        "renew",
        &c.thumbprint,
        "--valid-days",
        "10",
        "--json",
    ]))
    .unwrap();
    assert_eq!(r.spki_sha256, c.spki_sha256);
    assert_eq!(r.subject, c.subject);
    assert_eq!(r.sans, c.sans);
    assert_eq!(r.friendly_name, "kept name");
    assert_ne!(r.serial, c.serial);
    assert!((9..=10).contains(&r.days_left));
    assert!(!r.applied);
    env.ok(&["sp", "cert", "check", &r.thumbprint]);
    let e = env.fails(&["sp", "cert", "renew"], 2);
    assert!(e.contains("no certificate is in use"), "{e}");
    env.fails(
        &["sp", "cert", "renew", &c.thumbprint, "--valid-days", "0"],
        2,
    );
}
