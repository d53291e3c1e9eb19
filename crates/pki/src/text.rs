//! Text that came from elsewhere — a server, a file, a certificate, a tenant — made safe to show.
//! A friendly name, a machine label or an error message a peer wrote may carry terminal escape
//! sequences (`ESC[2J`, a scroll region, a cursor move), C1 controls that some terminals obey, or
//! bidirectional overrides that reorder what is seen (U+202E). Shown raw, such text can paint a
//! copy of the real Summary over the certificate actually being confirmed. Every renderer passes
//! foreign text through here: controls become visible `\xNN` / `\u{NNNN}` escapes, so what the
//! user reads is what the bytes say.

use std::borrow::Cow;

/// Whether `c` changes how a terminal or a text renderer shows what follows instead of being
/// shown itself: C0 and C1 controls, DEL, and the Unicode bidirectional controls.
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        )
}

fn escape_into(out: &mut String, c: char) {
    let n = u32::from(c);
    if n < 0x100 {
        out.push_str(&format!("\\x{n:02x}"));
    } else {
        out.push_str(&format!("\\u{{{n:04x}}}"));
    }
}

fn sanitize(s: &str, keep_lines: bool) -> Cow<'_, str> {
    let keep = |c: char| keep_lines && (c == '\n' || c == '\t');
    if !s.chars().any(|c| is_unsafe_char(c) && !keep(c)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if is_unsafe_char(c) && !keep(c) {
            escape_into(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// One value on one line (a name, a label, a table cell): every control is escaped, line
/// breaks and tabs included, so a value cannot start a line of its own.
pub fn one_line(s: &str) -> Cow<'_, str> {
    sanitize(s, false)
}

/// A whole text about to reach a terminal: line breaks and tabs stay, every other control and
/// bidirectional override is escaped. The last guard at the output; values inside the text
/// should have gone through [`one_line`] already.
pub fn terminal_safe(s: &str) -> Cow<'_, str> {
    sanitize(s, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_overrides_become_visible() {
        assert_eq!(one_line("a\u{1b}[2Jb"), "a\\x1b[2Jb");
        assert_eq!(one_line("evil\u{202e}gpj.exe"), "evil\\u{202e}gpj.exe");
        assert_eq!(one_line("csi\u{9b}31m"), "csi\\x9b31m");
        assert_eq!(one_line("two\nlines"), "two\\x0alines");
        assert_eq!(one_line("bell\u{7}del\u{7f}"), "bell\\x07del\\x7f");
        assert_eq!(
            terminal_safe("line\n\tnext\u{1b}]0;t\u{7}"),
            "line\n\tnext\\x1b]0;t\\x07"
        );
    }

    #[test]
    fn plain_text_is_borrowed_unchanged() {
        for s in ["Acme Cloud Connect", "Zürich 東京 ✓", "a-b_c.d:6180"] {
            assert!(matches!(one_line(s), Cow::Borrowed(_)));
            assert!(matches!(terminal_safe(s), Cow::Borrowed(_)));
        }
    }
}
