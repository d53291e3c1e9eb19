//! `security/testssl.sh` against the gateway built for these tests: no finding of severity LOW
//! or worse, nothing older than TLS 1.2, only AEAD suites, no weak key exchange.

#[test]
#[ignore = "needs testssl.sh (apt-get install testssl.sh), which .ci/run installs"]
fn testssl_finds_nothing_wrong_with_the_gateway() {
    let have = std::process::Command::new("sh")
        .args(["-c", "command -v testssl"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        have,
        "testssl is not installed (apt-get install testssl.sh); the TLS scan cannot run"
    );
    let out = std::process::Command::new("sh")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/security/testssl.sh"))
        .env("CLOUDGATE_BIN", assert_cmd::cargo::cargo_bin("cloudgate"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        text.matches("findings LOW or worse: 0").count(),
        2,
        "{text}"
    );
    assert_eq!(
        text.matches("protocols offered: TLS1_2, TLS1_3").count(),
        2,
        "{text}"
    );
}
