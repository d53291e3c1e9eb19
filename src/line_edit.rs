//! A one-line text prompt with the editing keys people's fingers expect from a shell (Ctrl-U,
//! Ctrl-W, Ctrl-K, Ctrl-A/E, Alt-B/F, arrows), a default shown as a placeholder instead of
//! text to delete, Esc to go back a step and Ctrl-C to cancel.

use std::io::Write as _;

use crossterm::event::{Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use crossterm::{cursor, execute, queue, style, terminal};
use unicode_width::UnicodeWidthStr as _;

/// How a prompt ended without an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leave {
    /// Esc: one step back.
    Back,
    /// Ctrl-C: the whole dialogue is cancelled.
    Cancel,
}

/// One editing action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edit {
    /// Type a character at the cursor.
    Insert(char),
    /// Delete the character before the cursor.
    Backspace,
    /// Delete the character under the cursor.
    Delete,
    /// Move one character left.
    Left,
    /// Move one character right.
    Right,
    /// Move to the start of the line.
    Home,
    /// Move to the end of the line.
    End,
    /// Move one word left.
    WordLeft,
    /// Move one word right.
    WordRight,
    /// Delete from the start of the line to the cursor (Ctrl-U).
    KillToStart,
    /// Delete from the cursor to the end of the line (Ctrl-K).
    KillToEnd,
    /// Delete the word before the cursor (Ctrl-W, Alt-Backspace).
    KillWordBack,
}

/// The line being edited; a pure value, so every key is unit-tested.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineBuffer {
    chars: Vec<char>,
    cursor: usize,
}

impl LineBuffer {
    /// A buffer holding `text`, the cursor at its end.
    pub fn new(text: &str) -> Self {
        let chars: Vec<char> = text.chars().collect();
        let cursor = chars.len();
        LineBuffer { chars, cursor }
    }

    /// The text.
    pub fn text(&self) -> String {
        self.chars.iter().collect()
    }

    /// The cursor, in characters from the start.
    pub fn cursor(&self) -> usize {
        self.cursor
    }

    fn word_start_before(&self) -> usize {
        let mut i = self.cursor;
        while i > 0 && self.chars[i - 1].is_whitespace() {
            i -= 1;
        }
        while i > 0 && !self.chars[i - 1].is_whitespace() {
            i -= 1;
        }
        i
    }

    fn word_end_after(&self) -> usize {
        let mut i = self.cursor;
        let n = self.chars.len();
        while i < n && self.chars[i].is_whitespace() {
            i += 1;
        }
        while i < n && !self.chars[i].is_whitespace() {
            i += 1;
        }
        i
    }

    /// Applies one action.
    pub fn apply(&mut self, edit: Edit) {
        let n = self.chars.len();
        match edit {
            Edit::Insert(c) => {
                self.chars.insert(self.cursor, c);
                self.cursor += 1;
            }
            Edit::Backspace if self.cursor > 0 => {
                self.cursor -= 1;
                self.chars.remove(self.cursor);
            }
            Edit::Delete if self.cursor < n => {
                self.chars.remove(self.cursor);
            }
            Edit::Left => self.cursor = self.cursor.saturating_sub(1),
            Edit::Right => self.cursor = (self.cursor + 1).min(n),
            Edit::Home => self.cursor = 0,
            Edit::End => self.cursor = n,
            Edit::WordLeft => self.cursor = self.word_start_before(),
            Edit::WordRight => self.cursor = self.word_end_after(),
            Edit::KillToStart => {
                self.chars.drain(..self.cursor);
                self.cursor = 0;
            }
            Edit::KillToEnd => {
                self.chars.truncate(self.cursor);
            }
            Edit::KillWordBack => {
                let start = self.word_start_before();
                self.chars.drain(start..self.cursor);
                self.cursor = start;
            }
            Edit::Backspace | Edit::Delete => {}
        }
    }
}

/// What a key means at the prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyMeaning {
    Edit(Edit),
    /// Tab or → on an empty line: take the default into the line to edit it.
    TakeDefault,
    Submit,
    Leave(Leave),
    Ignore,
}

fn meaning(key: KeyEvent) -> KeyMeaning {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    let alt = key.modifiers.contains(KeyModifiers::ALT);
    match key.code {
        KeyCode::Enter => KeyMeaning::Submit,
        KeyCode::Esc => KeyMeaning::Leave(Leave::Back),
        KeyCode::Char('c') if ctrl => KeyMeaning::Leave(Leave::Cancel),
        KeyCode::Char('u') if ctrl => KeyMeaning::Edit(Edit::KillToStart),
        KeyCode::Char('w') if ctrl => KeyMeaning::Edit(Edit::KillWordBack),
        KeyCode::Char('k') if ctrl => KeyMeaning::Edit(Edit::KillToEnd),
        KeyCode::Char('a') if ctrl => KeyMeaning::Edit(Edit::Home),
        KeyCode::Char('e') if ctrl => KeyMeaning::Edit(Edit::End),
        KeyCode::Char('b') if ctrl => KeyMeaning::Edit(Edit::Left),
        KeyCode::Char('f') if ctrl => KeyMeaning::Edit(Edit::Right),
        KeyCode::Char('h') if ctrl => KeyMeaning::Edit(Edit::Backspace),
        KeyCode::Char('d') if ctrl => KeyMeaning::Edit(Edit::Delete),
        KeyCode::Char('b') if alt => KeyMeaning::Edit(Edit::WordLeft),
        KeyCode::Char('f') if alt => KeyMeaning::Edit(Edit::WordRight),
        KeyCode::Backspace if alt || ctrl => KeyMeaning::Edit(Edit::KillWordBack),
        KeyCode::Backspace => KeyMeaning::Edit(Edit::Backspace),
        KeyCode::Delete => KeyMeaning::Edit(Edit::Delete),
        KeyCode::Left if ctrl || alt => KeyMeaning::Edit(Edit::WordLeft),
        KeyCode::Right if ctrl || alt => KeyMeaning::Edit(Edit::WordRight),
        KeyCode::Left => KeyMeaning::Edit(Edit::Left),
        KeyCode::Right => KeyMeaning::TakeDefault,
        KeyCode::Tab => KeyMeaning::TakeDefault,
        KeyCode::Home => KeyMeaning::Edit(Edit::Home),
        KeyCode::End => KeyMeaning::Edit(Edit::End),
        KeyCode::Char(c) if !ctrl && !alt && !c.is_control() => KeyMeaning::Edit(Edit::Insert(c)),
        _ => KeyMeaning::Ignore,
    }
}

/// Leaves raw mode however the prompt ends.
struct RawMode;

impl RawMode {
    fn enter() -> std::io::Result<Self> {
        terminal::enable_raw_mode()?;
        Ok(RawMode)
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = terminal::disable_raw_mode();
    }
}

/// Asks for one line. An empty answer is `default` (shown dimmed as a placeholder); `initial`
/// is text already in the line (a previous answer to correct).
pub fn prompt(
    message: &str,
    default: Option<&str>,
    initial: &str,
    help: Option<&str>,
) -> std::io::Result<Result<String, Leave>> {
    let mut out = std::io::stdout();
    if let Some(h) = help {
        writeln!(out, "  {h}")?;
    }
    let _raw = RawMode::enter()?;
    let mut line = LineBuffer::new(initial);
    let head = format!("? {message} ");
    loop {
        queue!(
            out,
            cursor::MoveToColumn(0),
            terminal::Clear(terminal::ClearType::CurrentLine),
            style::Print(&head)
        )?;
        let text = line.text();
        if text.is_empty() {
            if let Some(d) = default {
                queue!(
                    out,
                    style::SetAttribute(style::Attribute::Dim),
                    style::Print(d),
                    style::SetAttribute(style::Attribute::Reset),
                )?;
            }
        } else {
            queue!(out, style::Print(&text))?;
        }
        let before: String = text.chars().take(line.cursor()).collect();
        let col = head.width() + before.width();
        queue!(
            out,
            cursor::MoveToColumn(u16::try_from(col).unwrap_or(u16::MAX))
        )?;
        out.flush()?;
        let key = match crossterm::event::read()? {
            Event::Key(k) if k.kind != KeyEventKind::Release => k,
            _ => continue,
        };
        match meaning(key) {
            KeyMeaning::Edit(e) => line.apply(e),
            KeyMeaning::TakeDefault => match default {
                Some(d) if line.text().is_empty() => line = LineBuffer::new(d),
                _ if key.code == KeyCode::Right => line.apply(Edit::Right),
                _ => {}
            },
            KeyMeaning::Submit => {
                let answer = match line.text().trim() {
                    "" => default.unwrap_or_default().to_string(),
                    t => t.to_string(),
                };
                execute!(
                    out,
                    cursor::MoveToColumn(0),
                    terminal::Clear(terminal::ClearType::CurrentLine),
                    style::Print(format!("{head}{answer}\r\n"))
                )?;
                return Ok(Ok(answer));
            }
            KeyMeaning::Leave(l) => {
                execute!(out, style::Print("\r\n"))?;
                return Ok(Err(l));
            }
            KeyMeaning::Ignore => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(start: &str, edits: &[Edit]) -> (String, usize) {
        let mut b = LineBuffer::new(start);
        for e in edits {
            b.apply(*e);
        }
        (b.text(), b.cursor())
    }

    #[test]
    fn shell_editing_keys() {
        assert_eq!(
            typed("Acme Cloud Cert", &[Edit::KillToStart]),
            ("".into(), 0)
        );
        assert_eq!(
            typed("Acme Cloud Cert", &[Edit::KillWordBack]),
            ("Acme Cloud ".into(), 11)
        );
        assert_eq!(
            typed("Acme Cloud  ", &[Edit::KillWordBack]),
            ("Acme ".into(), 5),
            "trailing blanks go with the word"
        );
        assert_eq!(
            typed(
                "Acme Cloud",
                &[Edit::Home, Edit::Insert('X'), Edit::End, Edit::Insert('!')]
            ),
            ("XAcme Cloud!".into(), 12)
        );
        assert_eq!(
            typed("Acme Cloud", &[Edit::WordLeft, Edit::KillToEnd]),
            ("Acme ".into(), 5)
        );
        assert_eq!(
            typed("ab", &[Edit::Left, Edit::Left, Edit::Left, Edit::Backspace]),
            ("ab".into(), 0)
        );
        assert_eq!(typed("ab", &[Edit::Delete, Edit::Right]), ("ab".into(), 2));
        assert_eq!(typed("ab", &[Edit::Home, Edit::Delete]), ("b".into(), 0));
        assert_eq!(
            typed("ab cd", &[Edit::Home, Edit::WordRight]),
            ("ab cd".into(), 2)
        );
        assert_eq!(typed("é漢字", &[Edit::Backspace]), ("é漢".into(), 2));
    }

    #[test]
    fn keys_mean_what_a_shell_means() {
        let ctrl = |c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL);
        assert_eq!(meaning(ctrl('u')), KeyMeaning::Edit(Edit::KillToStart));
        assert_eq!(meaning(ctrl('w')), KeyMeaning::Edit(Edit::KillWordBack));
        assert_eq!(meaning(ctrl('c')), KeyMeaning::Leave(Leave::Cancel));
        assert_eq!(
            meaning(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE)),
            KeyMeaning::Leave(Leave::Back)
        );
        assert_eq!(
            meaning(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::NONE)),
            KeyMeaning::Edit(Edit::Insert('u'))
        );
    }
}
