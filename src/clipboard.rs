//! *Copy to clipboard*: through the terminal with an OSC 52 sequence (works over SSH and in most
//! terminal emulators), and into the desktop clipboard when a desktop session is present.

use std::io::Write as _;
use std::process::{Command, Stdio};

use base64::Engine as _;

/// Copies `text`; returns where it went, for the message that says so. Fails only when it went
/// nowhere.
pub fn copy(text: &str) -> anyhow::Result<Vec<&'static str>> {
    let mut targets = Vec::new();
    if copy_via_terminal(text).is_ok() {
        targets.push("the terminal (OSC 52)");
    }
    if let Some(tool) = copy_via_desktop(text) {
        targets.push(tool);
    }
    if targets.is_empty() {
        anyhow::bail!(
            "there is no terminal or desktop clipboard to copy to; copy the lines above by hand"
        );
    }
    Ok(targets)
}

/// Writes the OSC 52 "set clipboard" sequence to the controlling terminal, not to stdout, so a
/// redirected stdout never carries it.
fn copy_via_terminal(text: &str) -> std::io::Result<()> {
    let mut tty = std::fs::OpenOptions::new().write(true).open("/dev/tty")?;
    let b64 = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
    write!(tty, "\x1b]52;c;{b64}\x07")?;
    tty.flush()
}

/// Pipes the text into the desktop session's clipboard tool, when there is a session and a tool.
fn copy_via_desktop(text: &str) -> Option<&'static str> {
    let candidates: &[(&str, &[&str], &'static str)] = &[
        (
            "WAYLAND_DISPLAY",
            &["wl-copy"],
            "the desktop clipboard (wl-copy)",
        ),
        (
            "DISPLAY",
            &["xclip", "-selection", "clipboard"],
            "the desktop clipboard (xclip)",
        ),
        (
            "DISPLAY",
            &["xsel", "--clipboard", "--input"],
            "the desktop clipboard (xsel)",
        ),
    ];
    for (var, argv, label) in candidates {
        if std::env::var_os(var).is_none_or(|v| v.is_empty()) {
            continue;
        }
        let Ok(mut child) = Command::new(argv[0])
            .args(&argv[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        else {
            continue;
        };
        let wrote = child
            .stdin
            .take()
            .is_some_and(|mut stdin| stdin.write_all(text.as_bytes()).is_ok());
        if wrote && child.wait().is_ok_and(|s| s.success()) {
            return Some(label);
        }
    }
    None
}
