//! A command killed in the middle of writing leaves no half entry and no dangling "applied"
//! record: the store holds the state from before or after, and the next command cleans up.

use std::time::Duration;

use crate::util::Env;

/// Checks that every entry is whole: listed, with a readable matching key.
fn assert_consistent(env: &Env) -> usize {
    let entries = env.list();
    for e in &entries {
        env.ok(&["sp", "cert", "check", &e.thumbprint]);
    }
    let applied = entries.iter().filter(|e| e.applied).count();
    assert!(applied <= 1);
    if applied == 0 {
        env.fails(&["sp", "cert", "current"], 1);
    } else {
        env.ok(&["sp", "cert", "current"]);
    }
    entries.len()
}

#[test]
fn crash_at_each_point_of_generate_leaves_a_whole_store() {
    for (point, entries_after) in [
        ("entry-key-written", 0),
        ("entry-files-written", 0),
        ("entry-renamed", 1),
    ] {
        let env = Env::new();
        let out = env
            .cmd()
            .env("CLOUDGATE_TEST_CRASH_AT", point)
            .args(["sp", "cert", "generate", "--key-type", "ecdsa-p256"])
            .output()
            .unwrap();
        assert!(
            !out.status.success(),
            "{point}: the process should have died"
        );
        assert_eq!(assert_consistent(&env), entries_after, "{point}");
        // The next write cleans what the dead one left aside.
        env.generate(&["--key-type", "ecdsa-p256"]);
        assert_eq!(assert_consistent(&env), entries_after + 1, "{point}");
        let tmp = env.data.join("store/tmp");
        assert_eq!(
            std::fs::read_dir(&tmp).unwrap().count(),
            0,
            "{point}: tmp not cleaned"
        );
    }
}

#[test]
fn crash_while_applying_keeps_the_previous_certificate_in_use() {
    let env = Env::new();
    let a = env.generate(&["--key-type", "ecdsa-p256", "--apply"]);
    let b = env.generate(&["--key-type", "ecdsa-p256"]);
    let out = env
        .cmd()
        .env("CLOUDGATE_TEST_CRASH_AT", "replace-temp-written")
        .args(["sp", "cert", "apply", &b.thumbprint])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert_consistent(&env);
    let current: crate::util::CertJson =
        serde_json::from_str(&env.ok(&["sp", "cert", "current", "--json"])).unwrap();
    assert_eq!(current.thumbprint, a.thumbprint);
    env.ok(&["sp", "cert", "apply", &b.thumbprint]);
    let current: crate::util::CertJson =
        serde_json::from_str(&env.ok(&["sp", "cert", "current", "--json"])).unwrap();
    assert_eq!(current.thumbprint, b.thumbprint);
}

#[test]
fn kill_9_at_random_moments_never_leaves_half_an_entry() {
    let env = Env::new();
    let bin = assert_cmd::cargo::cargo_bin("cloudgate");
    let mut seed: u64 = std::process::id() as u64 ^ 0x9E37_79B9_7F4A_7C15;
    for _ in 0..12 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let delay = Duration::from_millis(seed % 120);
        let mut child = std::process::Command::new(&bin)
            .env("CLOUDGATE_HOME", &env.data)
            .args([
                "sp",
                "cert",
                "generate",
                "--key-type",
                "ecdsa-p256",
                "--apply",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let _ = child.kill();
        let _ = child.wait();
        assert_consistent(&env);
    }
}

#[test]
fn kill_9_at_random_moments_of_import_and_apply_keeps_the_store_and_the_applied_certificate_whole()
{
    let env = Env::new();
    env.generate(&["--key-type", "ecdsa-p256", "--apply"]);
    std::fs::write(env.path("pw"), "pfx secret\n").unwrap();
    let pfx: Vec<std::path::PathBuf> = (0..6)
        .map(|i| crate::util::openssl_pfx(&env, &i.to_string(), &format!("import {i}")))
        .collect();
    let bin = assert_cmd::cargo::cargo_bin("cloudgate");
    let mut seed: u64 = std::process::id() as u64 ^ 0xD1B5_4A32_D192_ED03;
    for round in 0..12 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let args: Vec<String> = if round % 2 == 0 {
            let file = pfx[round / 2].to_str().unwrap().to_string();
            let pw = env.path("pw").to_str().unwrap().to_string();
            [
                "sp",
                "cert",
                "import",
                &file,
                "--password-file",
                &pw,
                "--apply",
            ]
            .map(String::from)
            .to_vec()
        } else {
            let entries = env.list();
            let pick = &entries[(seed as usize / 7) % entries.len()];
            ["sp", "cert", "apply", &pick.thumbprint]
                .map(String::from)
                .to_vec()
        };
        let mut child = std::process::Command::new(&bin)
            .env("CLOUDGATE_HOME", &env.data)
            .args(&args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(seed % 60));
        let _ = child.kill();
        let _ = child.wait();
        assert_consistent(&env);
        // The certificate in use is always one of those the store holds, whole.
        let current: crate::util::CertJson =
            serde_json::from_str(&env.ok(&["sp", "cert", "current", "--json"])).unwrap();
        assert!(
            env.list()
                .iter()
                .any(|e| e.thumbprint == current.thumbprint)
        );
    }
    // The files were importable: what the kills interrupted was real work.
    let pw = env.path("pw");
    let out = env.run(&[
        "sp",
        "cert",
        "import",
        pfx[5].to_str().unwrap(),
        "--password-file",
        pw.to_str().unwrap(),
    ]);
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() || e.contains("already in the store"),
        "{e}"
    );
}

#[test]
fn a_record_killed_after_its_temporary_file_leaves_nothing_the_next_writer_does_not_remove() {
    let env = Env::new();
    let a = env.generate(&["--key-type", "ecdsa-p256", "--apply"]);
    let b = env.generate(&["--key-type", "ecdsa-p256"]);
    let out = env
        .cmd()
        .env("CLOUDGATE_TEST_CRASH_AT", "replace-temp-written")
        .args(["sp", "cert", "apply", &b.thumbprint, "--force"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "the process should have died");
    let temps = |env: &Env| -> Vec<String> {
        crate::util::walk(&env.data)
            .into_iter()
            .map(|p| p.display().to_string())
            .filter(|p| p.ends_with(".tmp"))
            .collect()
    };
    // What the dead writer left is in store/tmp/, nowhere else.
    let left = temps(&env);
    assert!(!left.is_empty(), "the crash point was not reached");
    assert!(left.iter().all(|p| p.contains("/store/tmp/")), "{left:?}");
    assert_eq!(
        serde_json::from_str::<crate::util::CertJson>(
            &env.ok(&["sp", "cert", "current", "--json"])
        )
        .unwrap()
        .thumbprint,
        a.thumbprint
    );
    env.ok(&["sp", "cert", "apply", &b.thumbprint, "--force"]);
    assert_eq!(temps(&env), Vec::<String>::new());
}
