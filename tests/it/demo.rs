//! `cloudgate demo` runs end to end, exits 0 and leaves nothing behind.

use crate::util::Env;

#[test]
fn the_demo_runs_and_cleans_up() {
    let env = Env::new();
    let tmp = env.path("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let out = env.cmd().arg("demo").env("TMPDIR", &tmp).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for needle in [
        "== 1.",
        "Thumbprint: ",
        "SHA-256 equal",
        "CERTIFICATE HAS CHANGED",
        "refused the impostor",
        "Done",
        "Next, a real set-up",
        "cloudgate sp cert manage",
    ] {
        assert!(stdout.contains(needle), "missing {needle:?}:\n{stdout}");
    }
    assert_eq!(
        std::fs::read_dir(&tmp).unwrap().count(),
        0,
        "the demo left files behind"
    );
    assert!(
        !env.data.exists(),
        "the demo does not touch the user's data directory"
    );
}
