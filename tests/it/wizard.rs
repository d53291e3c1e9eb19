//! The Manage Certificates wizard, driven on a pseudo-terminal through every path: generate,
//! pick existing, import PFX with password, keep existing, back, cancel, copy, and no terminal.

use std::time::Duration;

use base64::Engine as _;
use expectrl::session::OsSession;
use expectrl::{Expect, Regex, Session};

use crate::util::{CertJson, Env};

const ENTER: &str = "\r";
const DOWN: &str = "\x1b[B";
const ESC: &str = "\x1b";
const CTRL_C: &str = "\x03";

struct Wizard {
    session: OsSession,
}

impl Wizard {
    fn start(env: &Env) -> Self {
        let bin = assert_cmd::cargo::cargo_bin("cloudgate");
        let mut cmd = std::process::Command::new("sh");
        cmd.arg("-c")
            .arg(format!(
                "'{}' sp cert manage; echo \"EXIT=$?\"",
                bin.display()
            ))
            .env("CLOUDGATE_HOME", &env.data)
            .env("TERM", "xterm")
            .env_remove("CLOUDGATE_ADMIN_GROUP")
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .current_dir(env.dir.path());
        let mut session = Session::spawn(cmd).expect("spawn on a pty");
        session.set_expect_timeout(Some(Duration::from_secs(30)));
        Wizard { session }
    }

    fn expect(&mut self, text: &str) -> String {
        let found = self
            .session
            .expect(text)
            .unwrap_or_else(|e| panic!("waiting for {text:?}: {e}"));
        String::from_utf8_lossy(found.before()).into_owned()
    }

    fn send(&mut self, keys: &str) {
        // A short pause lets the prompt finish drawing before keys arrive, as a person would.
        std::thread::sleep(Duration::from_millis(150));
        self.session.send(keys).expect("send keys");
    }

    fn exit_code(&mut self) -> i32 {
        let found = self
            .session
            .expect(Regex("EXIT=([0-9]+)"))
            .expect("the wizard ended");
        std::str::from_utf8(found.get(1).unwrap())
            .unwrap()
            .parse()
            .unwrap()
    }
}

fn choose_type(w: &mut Wizard, downs: usize) {
    w.expect("Certificate Type:");
    for _ in 0..downs {
        w.send(DOWN);
    }
    w.send(ENTER);
}

/// Walks the Generate step with ECDSA P-256 (fast) and default name and validity.
fn generate_step(w: &mut Wizard) {
    w.expect("Friendly name:");
    w.send(ENTER);
    w.expect("Key type:");
    w.send("ecdsa-p256");
    w.send(ENTER);
    w.expect("Validity (days):");
    w.send(ENTER);
}

fn summary_then(w: &mut Wizard, downs: usize) -> String {
    let before = w.expect("Summary:");
    let before = before + &w.expect("Finish");
    for _ in 0..downs {
        w.send(DOWN);
    }
    w.send(ENTER);
    before
}

#[test]
fn generate_path_saves_applies_and_audits() {
    let env = Env::new();
    let mut w = Wizard::start(&env);
    choose_type(&mut w, 0);
    let text = w.expect("Friendly name:");
    assert!(text.contains("not issued by a trusted CA"), "{text}");
    w.send(ENTER);
    w.expect("Key type:");
    w.send("ecdsa-p256");
    w.send(ENTER);
    w.expect("Validity (days):");
    w.send(ENTER);
    let summary = summary_then(&mut w, 0);
    for line in [
        "Name: ",
        "Issued to: ",
        "Issued by: ",
        "Expiration date: ",
        "Thumbprint: ",
        "Serial number: ",
        "SHA-256: ",
    ] {
        assert!(summary.contains(line), "missing {line:?} in {summary}");
    }
    assert!(
        summary.contains("cloudgate tenant provider add"),
        "{summary}"
    );
    w.expect("is now in use");
    assert_eq!(w.exit_code(), 0);
    let list = env.list();
    assert_eq!(list.len(), 1);
    assert!(list[0].applied);
    assert_eq!(list[0].key_type, "ecdsa-p256");
    let audit = std::fs::read_to_string(env.data.join("audit.log")).unwrap();
    assert!(audit.contains("Cloud Connect certificate is being updated"));
}

#[test]
fn pick_existing_certificate_with_filter() {
    let env = Env::new();
    env.generate(&["--key-type", "ecdsa-p256", "--friendly-name", "alpha"]);
    let beta = env.generate(&["--key-type", "ecdsa-p256", "--friendly-name", "beta"]);
    let mut w = Wizard::start(&env);
    choose_type(&mut w, 1);
    w.expect("Pick Certificate:");
    w.send("beta");
    w.send(ENTER);
    summary_then(&mut w, 0);
    w.expect("is now in use");
    assert_eq!(w.exit_code(), 0);
    let current: CertJson =
        serde_json::from_str(&env.ok(&["sp", "cert", "current", "--json"])).unwrap();
    assert_eq!(current.thumbprint, beta.thumbprint);
    assert_eq!(env.list().len(), 2);
}

#[test]
fn import_pfx_with_password() {
    let env = Env::new();
    let source = Env::new();
    let c = source.generate(&["--key-type", "ecdsa-p256", "--friendly-name", "from pfx"]);
    let pfx = env.path("in.pfx");
    let pw = env.path("pw");
    std::fs::write(&pw, "wizard pw\n").unwrap();
    source.ok(&[
        "sp",
        "cert",
        "export",
        &c.thumbprint,
        "--format",
        "pfx",
        "--out",
        pfx.to_str().unwrap(),
        "--password-file",
        pw.to_str().unwrap(),
    ]);
    let mut w = Wizard::start(&env);
    choose_type(&mut w, 2);
    w.expect("Certificate file:");
    w.send(pfx.to_str().unwrap());
    w.send(ENTER);
    w.expect("Password:");
    w.expect("required only if the file is password-protected");
    w.send("wizard pw");
    w.send(ENTER);
    let summary = summary_then(&mut w, 0);
    assert!(summary.contains("Name: from pfx"), "{summary}");
    assert!(
        !summary.contains("wizard pw"),
        "the password must never be echoed"
    );
    w.expect("is now in use");
    assert_eq!(w.exit_code(), 0);
    let current: CertJson =
        serde_json::from_str(&env.ok(&["sp", "cert", "current", "--json"])).unwrap();
    assert_eq!(current.thumbprint, c.thumbprint);
    assert_eq!(current.source, "imported");
}

#[test]
fn import_with_a_wrong_password_asks_again() {
    let env = Env::new();
    let source = Env::new();
    let c = source.generate(&["--key-type", "ecdsa-p256"]);
    let pfx = env.path("in.pfx");
    let pw = env.path("pw");
    std::fs::write(&pw, "right\n").unwrap();
    source.ok(&[
        "sp",
        "cert",
        "export",
        &c.thumbprint,
        "--format",
        "pfx",
        "--out",
        pfx.to_str().unwrap(),
        "--password-file",
        pw.to_str().unwrap(),
    ]);
    let mut w = Wizard::start(&env);
    choose_type(&mut w, 2);
    w.expect("Certificate file:");
    w.send(pfx.to_str().unwrap());
    w.send(ENTER);
    w.expect("Password:");
    w.send("wrong");
    w.send(ENTER);
    w.expect("wrong password");
    w.expect("Certificate file:");
    w.send(CTRL_C);
    assert_ne!(w.exit_code(), 0);
    assert!(env.list().is_empty());
}

#[test]
fn keep_existing_changes_nothing() {
    let env = Env::new();
    let c = env.generate(&["--key-type", "ecdsa-p256", "--apply"]);
    let audit_before = std::fs::read_to_string(env.data.join("audit.log")).unwrap();
    let mut w = Wizard::start(&env);
    let shown = w.expect("Certificate Type:");
    assert!(
        shown.contains(&c.thumbprint) && shown.contains(&c.serial),
        "the one in use is described: {shown}"
    );
    w.expect("Keep the existing certificate");
    for _ in 0..3 {
        w.send(DOWN);
    }
    w.send(ENTER);
    summary_then(&mut w, 0);
    w.expect("stays in use");
    assert_eq!(w.exit_code(), 0);
    assert_eq!(
        std::fs::read_to_string(env.data.join("audit.log")).unwrap(),
        audit_before
    );
}

#[test]
fn back_returns_to_the_first_step_and_cancel_writes_nothing() {
    let env = Env::new();
    let mut w = Wizard::start(&env);
    choose_type(&mut w, 0);
    generate_step(&mut w);
    summary_then(&mut w, 2); // Back
    w.expect("Certificate Type:");
    choose_type_again_then_cancel(&mut w);
    assert_ne!(w.exit_code(), 0);
    assert!(
        !env.data.join("store/certs").exists() || env.list().is_empty(),
        "nothing written"
    );
}

fn choose_type_again_then_cancel(w: &mut Wizard) {
    w.send(ENTER);
    generate_step(w);
    summary_then(w, 3); // Cancel
    w.expect("cancelled; nothing was written");
}

#[test]
fn esc_on_the_first_step_and_ctrl_c_later_cancel() {
    let env = Env::new();
    let mut w = Wizard::start(&env);
    w.expect("Certificate Type:");
    w.send(ESC);
    w.expect("cancelled");
    assert_ne!(w.exit_code(), 0);

    let mut w = Wizard::start(&env);
    choose_type(&mut w, 0);
    w.expect("Friendly name:");
    w.send(CTRL_C);
    w.expect("cancelled");
    assert_ne!(w.exit_code(), 0);
    assert!(env.list().is_empty());
}

#[test]
fn copy_to_clipboard_sends_exactly_the_summary_through_osc52() {
    let env = Env::new();
    let mut w = Wizard::start(&env);
    choose_type(&mut w, 0);
    generate_step(&mut w);
    summary_then(&mut w, 1); // Copy to clipboard
    let found = w
        .session
        .expect(Regex("\x1b\\]52;c;([A-Za-z0-9+/=]+)\x07"))
        .expect("an OSC 52 sequence");
    let copied = base64::engine::general_purpose::STANDARD
        .decode(found.get(1).unwrap())
        .unwrap();
    let copied = String::from_utf8(copied).unwrap();
    w.expect("Copied the Summary to the terminal (OSC 52)");
    w.expect("Summary:");
    w.send(CTRL_C);
    assert_ne!(w.exit_code(), 0);
    let lines: Vec<&str> = copied.lines().collect();
    assert_eq!(lines.len(), 6, "{copied}");
    for (line, prefix) in lines.iter().zip([
        "Name: ",
        "Issued to: ",
        "Issued by: ",
        "Expiration date: ",
        "Thumbprint: ",
        "Serial number: ",
    ]) {
        assert!(line.starts_with(prefix), "{line}");
    }
}

#[test]
fn show_copy_sends_the_summary_through_osc52() {
    let env = Env::new();
    let c = env.generate(&["--key-type", "ecdsa-p256", "--friendly-name", "copied"]);
    let bin = assert_cmd::cargo::cargo_bin("cloudgate");
    let mut cmd = std::process::Command::new(bin);
    cmd.args(["sp", "cert", "show", &c.thumbprint, "--copy"])
        .env("CLOUDGATE_HOME", &env.data)
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY");
    let mut session = Session::spawn(cmd).unwrap();
    session.set_expect_timeout(Some(Duration::from_secs(20)));
    let found = session
        .expect(Regex("\x1b\\]52;c;([A-Za-z0-9+/=]+)\x07"))
        .unwrap();
    let copied = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(found.get(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    assert!(
        copied.starts_with("Name: copied\n")
            && copied.contains(&format!("Thumbprint: {}\n", c.thumbprint)),
        "{copied}"
    );
    assert_eq!(copied.lines().count(), 6);
}

#[test]
fn without_a_terminal_the_wizard_names_the_commands_to_use() {
    let env = Env::new();
    let e = env.fails(&["sp", "cert", "manage"], 2);
    assert!(
        e.contains("needs a terminal")
            && e.contains("sp cert generate --apply")
            && e.contains("sp cert import"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finish_warns_before_a_new_key_breaks_enrolled_tenants_and_asks() {
    let env = Env::new();
    let (_gw, _pin, _id) = crate::gateway_util::gateway_with_enrolled_tenant(&env, &[]).await;
    let before: CertJson =
        serde_json::from_str(&env.ok(&["sp", "cert", "current", "--json"])).unwrap();
    let next = env.generate(&["--key-type", "ecdsa-p256", "--friendly-name", "next"]);
    for (answer, applied) in [("n", false), ("y", true)] {
        let mut w = Wizard::start(&env);
        // Generate, Select existing, Import, Keep: the pick is the second type.
        choose_type(&mut w, 1);
        w.expect("Pick Certificate:");
        w.send("next");
        w.send(ENTER);
        summary_then(&mut w, 0);
        let warning = w.expect("Put it into use anyway?");
        assert!(
            warning.contains("1 enrolled machine(s) of 1 tenant(s)")
                && warning.contains("cloudgate sp cert stage"),
            "{warning}"
        );
        w.send(answer);
        w.send(ENTER);
        let current: CertJson = if applied {
            w.expect("is now in use");
            assert_eq!(w.exit_code(), 0);
            serde_json::from_str(&env.ok(&["sp", "cert", "current", "--json"])).unwrap()
        } else {
            w.expect("not applied");
            assert_eq!(w.exit_code(), 2);
            serde_json::from_str(&env.ok(&["sp", "cert", "current", "--json"])).unwrap()
        };
        let expected = if applied { &next } else { &before };
        assert_eq!(current.thumbprint, expected.thumbprint, "answer {answer}");
    }
}
