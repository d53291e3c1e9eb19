//! `cloudgate sp license …`: validation, installation, and the licensee feeding the defaults.

use crate::util::{Env, host_name};

#[test]
fn installed_license_names_the_defaults() {
    let env = Env::new();
    let file = env.path("acme.toml");
    std::fs::write(&file, "licensed_to = \"Acme Cloud\"\nexpires = 2099-12-31\nedition = \"Enterprise\"\nlicense_id = \"ACME-1\"\n").unwrap();
    let v: serde_json::Value = serde_json::from_str(&env.ok(&[
        "sp",
        "license",
        "install",
        file.to_str().unwrap(),
        "--json",
    ]))
    .unwrap();
    assert_eq!(v["licensed_to"], "Acme Cloud");
    let shown: serde_json::Value =
        serde_json::from_str(&env.ok(&["sp", "license", "show", "--json"])).unwrap();
    assert_eq!(shown["installed"], true);
    assert_eq!(shown["licensee"], "Acme Cloud");
    assert_eq!(shown["expires"], "2099-12-31");
    assert_eq!(shown["edition"], "Enterprise");
    assert_eq!(shown["license_id"], "ACME-1");
    assert_eq!(shown["expired"], false);
    let text = env.ok(&["sp", "license", "show"]);
    assert!(text.contains("Licensed to: Acme Cloud"), "{text}");

    let out = env.run(&[
        "sp",
        "cert",
        "generate",
        "--key-type",
        "ecdsa-p256",
        "--json",
    ]);
    assert!(out.status.success());
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("no license"),
        "no warning once licensed"
    );
    let c: crate::util::CertJson = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(c.subject, "CN=Acme Cloud,O=Acme Cloud,OU=Acme Cloud");
    assert_eq!(
        c.friendly_name, "Acme Cloud Connect Certificate",
        "no doubled word"
    );
    let text = env.ok(&["sp", "cert", "show", &c.thumbprint]);
    assert!(
        text.contains("Issued to: CN=Acme Cloud, O=Acme Cloud, OU=Acme Cloud"),
        "{text}"
    );
}

#[test]
fn without_license_the_host_name_stands_in() {
    let env = Env::new();
    let v: serde_json::Value =
        serde_json::from_str(&env.ok(&["sp", "license", "show", "--json"])).unwrap();
    assert_eq!(v["installed"], false);
    assert_eq!(v["licensee"], host_name().as_str());
    assert!(
        env.ok(&["sp", "license", "show"])
            .contains("No license installed")
    );
}

#[test]
fn bad_license_files_are_refused_and_nothing_is_installed() {
    let env = Env::new();
    let cases = [
        ("missing.toml", None, "No such file"),
        ("empty.toml", Some(""), "licensed_to` is missing"),
        ("typo.toml", Some("licenced_to = \"Acme\""), "unknown field"),
        ("blank.toml", Some("licensed_to = \"   \""), "empty"),
        (
            "expired.toml",
            Some("licensed_to = \"Acme\"\nexpires = 2001-01-01\n"),
            "expired on 2001-01-01",
        ),
        (
            "baddate.toml",
            Some("licensed_to = \"Acme\"\nexpires = 2027-02-30\n"),
            "TOML",
        ),
        ("binary.toml", Some("\u{0}\u{1}\u{2}"), "invalid license"),
        ("truncated.toml", Some("licensed_to = \"Acm"), "TOML"),
    ];
    for (name, content, needle) in cases {
        let path = env.path(name);
        if let Some(c) = content {
            std::fs::write(&path, c).unwrap();
        }
        let e = env.fails(&["sp", "license", "install", path.to_str().unwrap()], 2);
        assert!(e.contains(needle), "{name}: {e}");
        assert!(
            e.contains(name),
            "{name}: the error must name the file: {e}"
        );
        assert!(
            !env.data.join("license.toml").exists(),
            "{name} was installed"
        );
    }
    let e = env.fails(
        &["sp", "license", "install", env.dir.path().to_str().unwrap()],
        2,
    );
    assert!(e.contains("is a directory"), "{e}");
}

#[test]
fn a_new_license_replaces_the_old_one() {
    let env = Env::new();
    for name in ["First", "Second"] {
        let file = env.path("l.toml");
        std::fs::write(&file, format!("licensed_to = \"{name}\"\n")).unwrap();
        env.ok(&["sp", "license", "install", file.to_str().unwrap()]);
    }
    let v: serde_json::Value =
        serde_json::from_str(&env.ok(&["sp", "license", "show", "--json"])).unwrap();
    assert_eq!(v["licensee"], "Second");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(env.data.join("license.toml"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(
        mode & 0o007,
        0,
        "license must not be world-readable: {mode:o}"
    );
}
