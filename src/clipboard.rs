//! *Copy to clipboard*: through the terminal with an OSC 52 sequence (works over SSH and in most
//! terminal emulators), and into the desktop clipboard when a desktop session is present.

use std::io::Write as _;
use std::process::{Command, Stdio};

use base64::Engine as _;

/// Tries to copy `text` and returns one line that says honestly what happened: a desktop tool
/// confirms a copy, a terminal only receives a request it may ignore, and where neither exists
/// nothing was copied. Never fails: copying is a convenience beside text already printed.
pub fn copy(text: &str) -> String {
    let desktop = copy_via_desktop(text);
    let terminal = terminal_accepts_osc52() && copy_via_terminal(text).is_ok();
    match (desktop, terminal) {
        (Some(tool), true) => format!(
            "Copied the Summary to {tool}, and asked the terminal to copy it too (OSC 52)."
        ),
        (Some(tool), false) => format!("Copied the Summary to {tool}."),
        (None, true) => "Asked the terminal to copy the Summary to the clipboard (OSC 52); if your terminal does not allow it, nothing was copied: select the lines above instead.".to_string(),
        (None, false) => "Nothing was copied: there is no desktop clipboard here and the terminal cannot be asked to copy; select the lines above instead.".to_string(),
    }
}

/// Terminals known to ignore OSC 52 (the Linux console, `dumb`) are not sent it; others may
/// accept it or not, which no program can tell.
fn terminal_accepts_osc52() -> bool {
    match std::env::var("TERM") {
        Ok(t) => !(t.is_empty() || t == "linux" || t == "dumb"),
        Err(_) => false,
    }
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
