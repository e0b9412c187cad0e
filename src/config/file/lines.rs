//! Places in the file: the line of a byte offset, where a template's
//! text starts, and names shown safely in an error.

use toml::Spanned;

/// Line numbers of byte offsets, from one pass over the text.
pub(super) struct Lines(Vec<usize>);

impl Lines {
    pub(super) fn new(text: &str) -> Self {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(at, _)| at + 1))
            .collect();
        Lines(starts)
    }

    /// The 1-based line of a byte offset.
    pub(super) fn of(&self, offset: usize) -> usize {
        self.0.partition_point(|start| *start <= offset)
    }

    pub(super) fn at<T>(&self, spanned: &Spanned<T>) -> Option<usize> {
        Some(self.of(spanned.span().start))
    }
}

/// Where a template's text starts: the file line of its first line, and
/// whether its lines are the file's (a multi-line string) or it sits on
/// one line.
#[derive(Debug, Clone, Copy)]
pub(super) struct TemplateOrigin {
    first_line: usize,
    multi_line: bool,
}

impl TemplateOrigin {
    pub(super) fn of(text: &str, lines: &Lines, value: &Spanned<String>) -> Self {
        let start = value.span().start;
        let raw = text.get(start..).unwrap_or_default();
        let multi_line = raw.starts_with("'''") || raw.starts_with("\"\"\"");
        // A newline right after the opening delimiter is not part of it.
        let skipped = multi_line && (raw[3..].starts_with('\n') || raw[3..].starts_with("\r\n"));
        TemplateOrigin {
            first_line: lines.of(start) + usize::from(skipped),
            multi_line,
        }
    }

    /// The file line of the template's own line `line`.
    pub(super) fn line(&self, line: Option<usize>) -> usize {
        match line {
            Some(line) if self.multi_line && line > 0 => self.first_line + line - 1,
            _ => self.first_line,
        }
    }
}

/// A setting's name shown in an error: escaped, and cut when long.
pub(super) fn shown(name: &str) -> String {
    const MOST: usize = 60;
    let mut text: String = name
        .chars()
        .take(MOST)
        .collect::<String>()
        .escape_debug()
        .to_string();
    if name.chars().count() > MOST {
        text.push('…');
    }
    text
}
