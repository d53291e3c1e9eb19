//! Concurrent commands on one store are safe: the store lock serialises the writes.

use crate::util::Env;

#[test]
fn eight_concurrent_generates_leave_eight_valid_entries() {
    let env = Env::new();
    let bin = assert_cmd::cargo::cargo_bin("cloudgate");
    let children: Vec<_> = (0..8)
        .map(|i| {
            std::process::Command::new(&bin)
                .env("CLOUDGATE_HOME", &env.data)
                .args([
                    "sp",
                    "cert",
                    "generate",
                    "--key-type",
                    "ecdsa-p256",
                    "--json",
                    "--friendly-name",
                ])
                .arg(format!("concurrent {i}"))
                .args(if i % 2 == 0 { vec!["--apply"] } else { vec![] })
                .output_async()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let entries = env.list();
    assert_eq!(entries.len(), 8);
    let mut names: Vec<_> = entries.iter().map(|e| e.friendly_name.clone()).collect();
    names.sort();
    assert_eq!(
        names,
        (0..8)
            .map(|i| format!("concurrent {i}"))
            .collect::<Vec<_>>()
    );
    assert_eq!(entries.iter().filter(|e| e.applied).count(), 1);
    for e in &entries {
        env.ok(&["sp", "cert", "check", &e.thumbprint]);
    }
    let audit = std::fs::read_to_string(env.data.join("audit.log")).unwrap();
    assert_eq!(
        audit.lines().count(),
        8 + 4,
        "every event is one whole JSON line"
    );
    for line in audit.lines() {
        serde_json::from_str::<serde_json::Value>(line).expect("an audit line was torn");
    }
}

trait SpawnOutput {
    fn output_async(&mut self) -> std::process::Child;
}

impl SpawnOutput for std::process::Command {
    fn output_async(&mut self) -> std::process::Child {
        self.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }
}
