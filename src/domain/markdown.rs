//! Event text in Markdown (Teams' Adaptive Cards, Discord, Mattermost):
//! shown as written, never read as markup, by CommonMark's backslash
//! escapes, which each of them honours.

use std::borrow::Cow;

/// Characters Markdown reads as markup wherever they are.
const MARKUP: &[char] = &[
    '\\', '`', '*', '_', '~', '[', ']', '(', ')', '<', '>', '!', '|',
];
/// Characters that are markup at the start of a line (headings, lists,
/// rules).
const LINE_MARKUP: &[char] = &['#', '-', '+', '='];

/// Event text as a Markdown reader shows it written: each Markdown character
/// backslash-escaped (CommonMark's escapes), so `[click](https://x)` links nowhere and `**x**`
/// is not bold. Digits, `.` and a space at a line's start would make a
/// list: the `.` is escaped there too.
pub fn escape(text: &str) -> Cow<'_, str> {
    let needs = text.contains(MARKUP)
        || text
            .lines()
            .any(|line| starts_with_line_markup(line.trim_start()));
    if !needs {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for (index, line) in text.split('\n').enumerate() {
        if index > 0 {
            out.push('\n');
        }
        let indent = line.len() - line.trim_start().len();
        out.push_str(&line[..indent]);
        let rest = &line[indent..];
        let list_dot = list_marker_dot(rest);
        for (at, c) in rest.char_indices() {
            let markup = MARKUP.contains(&c)
                || (at == 0 && LINE_MARKUP.contains(&c))
                || list_dot == Some(at);
            if markup {
                out.push('\\');
            }
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn starts_with_line_markup(line: &str) -> bool {
    line.starts_with(LINE_MARKUP) || list_marker_dot(line).is_some()
}

/// Where the `.` (or `)`) of an ordered list's marker is, when `line`
/// starts with one: digits, then `.` or `)`, then a space or the end
/// (`2.0.11` is no list).
fn list_marker_dot(line: &str) -> Option<usize> {
    let at = line.find(|c: char| !c.is_ascii_digit())?;
    let after = line[at..].strip_prefix(['.', ')'])?;
    (at > 0 && (after.is_empty() || after.starts_with([' ', '\t']))).then_some(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_in_event_text_is_escaped_and_plain_text_untouched() {
        assert_eq!(
            escape("kth-azure-app 2.0.11_abc"),
            "kth-azure-app 2.0.11\\_abc"
        );
        assert_eq!(escape("plain text, v2.0"), "plain text, v2.0");
        assert_eq!(escape("2.0.11 and 3) x"), "2.0.11 and 3\\) x");
        assert_eq!(
            escape("[click](https://evil.example) **now**"),
            "\\[click\\]\\(https://evil.example\\) \\*\\*now\\*\\*"
        );
        assert_eq!(
            escape("# title\n- item\n  1. first\n<at>all</at>"),
            "\\# title\n\\- item\n  1\\. first\n\\<at\\>all\\</at\\>"
        );
        assert_eq!(escape("List<String>"), "List\\<String\\>");
    }
}
