//! What the operator's terminal is shown of text that others wrote: a message, a channel's
//! epoch, a server's header or body. A *control character* in such text would be obeyed by the
//! terminal, not shown: ESC starts sequences that set the window title, clear the screen or
//! write the clipboard (OSC 52), BEL rings, CR goes back over what was printed, and a C1
//! character (U+0080 to U+009F) is a one-character ESC sequence to some terminals. Every such
//! text goes through [`escape`] before it is printed.
//!
//! The escape keeps a line break escaped too: what is printed on one line (a message by `tail`)
//! cannot fake a line that did not come, and where several lines are printed (a response head),
//! the text is split into lines first and each line is escaped.

use std::borrow::Cow;
use std::fmt::Write;

/// Unicode's invisible format characters that change how a terminal shows the text around them:
/// bidirectional embeddings, overrides and isolates (which can make `abc` show as `cba`), and
/// the zero-width ones.
fn is_format(c: char) -> bool {
    matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{206f}' | '\u{feff}')
}

/// `text` with every control character (C0, DEL and C1) written as an escape that shows it:
/// `\n`, `\r` and `\t` by their names, the other C0 characters and DEL as `\x1b`, C1 characters
/// and the invisible format characters as `\u{9b}` (which names the character, not a byte of its
/// UTF-8). A backslash becomes `\\`, so that every escape in the output came from here.
/// Everything else, other languages' letters included, is kept as it is.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text
        .chars()
        .any(|c| c.is_control() || is_format(c) || c == '\\')
    {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // Writing to a String cannot fail.
            c if c.is_ascii_control() => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c if c.is_control() || is_format(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, shown: &str) {
        assert_eq!(escape(text), shown, "escaping {text:?}");
    }

    #[test]
    fn bidirectional_overrides_are_shown_not_obeyed() {
        check("abc\u{202e}fed", "abc\\u{202e}fed");
        check("a\u{200b}b", "a\\u{200b}b");
    }

    #[test]
    fn control_characters_are_shown_not_obeyed() {
        check("plain text, äöü, 日本", "plain text, äöü, 日本");
        check("", "");
        check("\x1b]0;owned\x07", "\\x1b]0;owned\\x07");
        check("\x1b]52;c;b3duZWQ=\x07", "\\x1b]52;c;b3duZWQ=\\x07");
        check("\x1b[2J\x1b[H", "\\x1b[2J\\x1b[H");
        check("ok\rfake", "ok\\rfake");
        check("one\ntwo", "one\\ntwo");
        check("a\tb", "a\\tb");
        check("\0\x01\x1f\x7f", "\\x00\\x01\\x1f\\x7f");
        check("\u{80}\u{9b}2J\u{9f}", "\\u{80}\\u{9b}2J\\u{9f}");
        // Just outside the ranges: shown as they are.
        check(" ~\u{a0}\u{ff}", " ~\u{a0}\u{ff}");
        // A backslash is doubled, so a message cannot pass for an escape.
        check("\\x1b", "\\\\x1b");
        check("two\\nlines", "two\\\\nlines");
    }

    #[test]
    fn plain_text_is_not_copied() {
        assert!(matches!(escape("chat 12 ok"), Cow::Borrowed(_)));
        assert!(matches!(escape("a\x1bb"), Cow::Owned(_)));
    }

    #[test]
    fn nothing_escaped_holds_a_control_character() {
        let every: String = (0..=0x2ffu32).filter_map(char::from_u32).collect();
        let shown = escape(&every);
        assert!(!shown.chars().any(char::is_control), "{shown:?}");
    }
}
