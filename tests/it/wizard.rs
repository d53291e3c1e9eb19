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
const CTRL_U: &str = "\x15";
const CTRL_W: &str = "\x17";

struct Wizard {
    session: OsSession,
}

/// The public address most tests configure first, so the wizard does not ask for it.
const ADDRESS: &str = "sp.test.example";

impl Wizard {
    /// The wizard, with the public address already configured.
    fn start(env: &Env) -> Self {
        env.ok(&["sp", "gateway", "address", ADDRESS]);
        Self::start_with(env, &[])
    }

    /// The wizard as a new SP meets it, with extra environment variables.
    fn start_with(env: &Env, vars: &[(&str, &str)]) -> Self {
        let bin = assert_cmd::cargo::cargo_bin("cloudgate");
        let mut cmd = std::process::Command::new("sh");
        cmd.arg("-c")
            .arg(format!(
                "trap : INT; '{}' sp cert manage; echo \"EXIT=$?\"",
                bin.display()
            ))
            .env("CLOUDGATE_HOME", &env.data)
            .env("TERM", "xterm")
            .env_remove("CLOUDGATE_ADMIN_GROUP")
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .current_dir(env.dir.path());
        for (k, v) in vars {
            cmd.env(k, v);
        }
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
    let said = w.expect("tries left");
    assert!(said.contains("wrong password"), "{said}");
    // The password is asked again, hidden; the file is not.
    let again = w.expect("Password:");
    assert!(!again.contains("Certificate file:"), "{again}");
    w.send("right");
    w.send(ENTER);
    let summary = summary_then(&mut w, 0);
    assert!(
        !summary.contains("right") && !summary.contains("wrong\r"),
        "{summary}"
    );
    w.expect("is now in use");
    assert_eq!(w.exit_code(), 0);
    assert_eq!(env.list().len(), 1);
}

#[test]
fn keep_existing_changes_nothing() {
    let env = Env::new();
    let c = env.generate(&["--key-type", "ecdsa-p256", "--apply"]);
    // Setting the address is a change of its own (audited); the wizard then changes nothing.
    env.ok(&["sp", "gateway", "address", ADDRESS]);
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
fn back_goes_one_step_back_keeping_the_answers_and_cancel_writes_nothing() {
    let env = Env::new();
    let mut w = Wizard::start(&env);
    choose_type(&mut w, 0);
    w.expect("Step 2 of 3: Generate certificate");
    w.expect("Friendly name:");
    w.send("Kept Name");
    w.send(ENTER);
    w.expect("Key type:");
    w.send("ecdsa-p384");
    w.send(ENTER);
    w.expect("Validity (days):");
    w.send("90");
    w.send(ENTER);
    w.expect("Step 3 of 3: Summary");
    summary_then(&mut w, 2); // Back
    // Back at step 2, with every answer still there: Enter three times keeps them.
    w.expect("Step 2 of 3: Generate certificate");
    let shown = w.expect("Kept Name");
    assert!(!shown.contains("Certificate Type:"), "{shown}");
    w.send(ENTER);
    w.expect("Key type:");
    w.send(ENTER);
    w.expect("90");
    w.send(ENTER);
    let summary = summary_then(&mut w, 0);
    assert!(summary.contains("Name: Kept Name"), "{summary}");
    w.expect("is now in use");
    assert_eq!(w.exit_code(), 0);
    let list = env.list();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].key_type, "ecdsa-p384");

    // Esc in a field goes to the previous field; Cancel at the Summary writes nothing.
    let mut w = Wizard::start(&env);
    choose_type(&mut w, 0);
    w.expect("Friendly name:");
    w.send(ENTER);
    w.expect("Key type:");
    w.send("ecdsa-p256");
    w.send(ENTER);
    w.expect("Validity (days):");
    w.send(ESC);
    w.expect("Key type:");
    w.send(ENTER);
    w.expect("Validity (days):");
    w.send(ENTER);
    summary_then(&mut w, 3); // Cancel
    w.expect("cancelled; nothing was written");
    assert_eq!(w.exit_code(), 1);
    assert_eq!(env.list().len(), 1, "nothing written");
}

#[test]
fn the_friendly_name_default_is_a_placeholder_and_shell_keys_edit_the_line() {
    let env = Env::new();
    let mut w = Wizard::start(&env);
    choose_type(&mut w, 0);
    w.expect("Friendly name:");
    // Typing replaces the default at once; Ctrl-U clears the line, Ctrl-W the last word.
    w.send("junk text");
    w.send(CTRL_U);
    w.send("Edited Name extra");
    w.send(CTRL_W);
    w.send(ENTER);
    w.expect("Key type:");
    w.send("ecdsa-p256");
    w.send(ENTER);
    w.expect("Validity (days):");
    w.send(ENTER);
    let summary = summary_then(&mut w, 0);
    assert!(summary.contains("Name: Edited Name\r"), "{summary}");
    w.expect("is now in use");
    assert_eq!(w.exit_code(), 0);
    assert_eq!(env.list()[0].friendly_name, "Edited Name");
}

#[test]
fn ctrl_c_during_key_generation_says_nothing_was_written() {
    let env = Env::new();
    env.ok(&["sp", "gateway", "address", ADDRESS]);
    // Key generation held for a minute (a test hook), so Ctrl-C surely lands during it.
    let mut w = Wizard::start_with(&env, &[("CLOUDGATE_TEST_KEYGEN_DELAY_MS", "60000")]);
    choose_type(&mut w, 0);
    generate_step(&mut w);
    std::thread::sleep(Duration::from_millis(300));
    w.send(CTRL_C);
    let before = w.expect("cancelled; nothing was written");
    assert!(!before.contains("Summary:"), "{before}");
    assert_eq!(w.exit_code(), 1);
    assert!(!env.data.join("store/certs").exists() || env.list().is_empty());
}

#[test]
fn the_public_address_is_asked_once_and_the_tenant_command_works_as_printed() {
    let env = Env::new();
    let mut w = Wizard::start_with(&env, &[]);
    choose_type(&mut w, 0);
    // Asked before the key is made: the certificate names it.
    w.expect("Public address of this gateway:");
    w.send("backup.example.net:7443");
    w.send(ENTER);
    generate_step(&mut w);
    let summary = summary_then(&mut w, 0);
    assert!(
        summary.contains("UTC"),
        "the expiration date says its zone: {summary}"
    );
    w.expect("is now in use");
    assert_eq!(w.exit_code(), 0);
    let current: CertJson =
        serde_json::from_str(&env.ok(&["sp", "cert", "current", "--json"])).unwrap();
    assert!(
        summary.contains(&format!(
            "cloudgate tenant provider add backup.example.net:7443 --username <TENANT> --thumbprint {}",
            current.sha256
        )),
        "{summary}"
    );
    assert!(
        current.sans.iter().any(|s| s == "backup.example.net"),
        "the certificate names the public address: {:?}",
        current.sans
    );
    let config = std::fs::read_to_string(env.data.join("gateway.toml")).unwrap();
    assert!(
        config.contains("public_address = \"backup.example.net:7443\""),
        "{config}"
    );
    // Not asked again; the non-interactive commands print the same working command.
    let mut w = Wizard::start_with(&env, &[]);
    choose_type(&mut w, 0);
    generate_step(&mut w);
    let seen = w.expect("Summary:");
    assert!(!seen.contains("Public address of this gateway"), "{seen}");
    w.send(CTRL_C);
    assert_eq!(w.exit_code(), 1);
    let out = env.ok(&[
        "sp",
        "cert",
        "generate",
        "--key-type",
        "ecdsa-p256",
        "--apply",
        "--force",
    ]);
    assert!(
        out.contains("cloudgate tenant provider add backup.example.net:7443 --username <TENANT> --thumbprint "),
        "{out}"
    );
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
    w.expect("Asked the terminal to copy the Summary to the clipboard (OSC 52)");
    w.expect("Summary:");
    w.send(CTRL_C);
    assert_ne!(w.exit_code(), 0);
    let lines: Vec<&str> = copied.lines().collect();
    assert_eq!(
        lines.len(),
        9,
        "the Summary, then the tenant's command: {copied}"
    );
    assert!(
        lines[8].starts_with(&format!(
            "cloudgate tenant provider add {ADDRESS} --username <TENANT> --thumbprint "
        )),
        "{copied}"
    );
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
fn show_copy_never_fails_the_show_and_says_what_it_did() {
    let env = Env::new();
    let c = env.generate(&["--key-type", "ecdsa-p256"]);
    for term in ["linux", "xterm"] {
        // stdout is a pipe here, and there may be no terminal at all.
        let out = env
            .cmd()
            .args(["sp", "cert", "show", &c.thumbprint, "--copy"])
            .env("TERM", term)
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .output()
            .unwrap();
        let e = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{term}: {e}");
        assert!(String::from_utf8_lossy(&out.stdout).contains(&c.thumbprint));
        assert!(
            !e.contains("Copied the Summary to the terminal"),
            "{term}: {e}"
        );
        if term == "linux" {
            assert!(e.contains("Nothing was copied"), "{e}");
        }
    }
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

#[test]
fn a_too_short_tenant_password_is_asked_again_not_the_end_of_the_command() {
    let env = Env::new();
    env.generate(&["--key-type", "ecdsa-p256", "--apply"]);
    let bin = assert_cmd::cargo::cargo_bin("cloudgate");
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c")
        .arg(format!(
            "'{}' sp tenant add acme; echo \"EXIT=$?\"",
            bin.display()
        ))
        .env("CLOUDGATE_HOME", &env.data)
        .env("TERM", "xterm")
        .current_dir(env.dir.path());
    let mut session = Session::spawn(cmd).expect("spawn on a pty");
    session.set_expect_timeout(Some(Duration::from_secs(30)));
    let mut w = Wizard { session };
    w.expect("Password for tenant acme:");
    w.send("short");
    w.send(ENTER);
    w.expect("shorter than 8 characters; type another");
    // Asked again, on an empty line; then repeated.
    w.expect("Password for tenant acme:");
    w.send("long enough password");
    w.send(ENTER);
    w.expect("Repeat it:");
    w.send("long enough password");
    w.send(ENTER);
    assert_eq!(w.exit_code(), 0);
    let shown = env.ok(&["sp", "tenant", "show", "acme", "--json"]);
    assert!(shown.contains("\"acme\""), "{shown}");
}
