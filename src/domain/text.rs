//! String helpers shared by parsing and enrichment.

/// Every character `char::is_whitespace` (and so `str::trim` and
/// [`clean`]) takes for whitespace, as ranges: what the API document's
/// patterns call blank, written out rather than as a regex's `\s` (whose
/// meaning differs between regex engines and from Rust's).
pub const WHITESPACE: [(char, char); 10] = [
    ('\u{9}', '\u{d}'),
    (' ', ' '),
    ('\u{85}', '\u{85}'),
    ('\u{a0}', '\u{a0}'),
    ('\u{1680}', '\u{1680}'),
    ('\u{2000}', '\u{200a}'),
    ('\u{2028}', '\u{2029}'),
    ('\u{202f}', '\u{202f}'),
    ('\u{205f}', '\u{205f}'),
    ('\u{3000}', '\u{3000}'),
];

/// Removes surrounding whitespace and double-quote characters, in any mix
/// (`"\"#dev\" "` -> `#dev`), because senders often quote values twice.
pub fn clean(s: &str) -> String {
    s.trim_matches(|c: char| c.is_whitespace() || c == '"')
        .to_string()
}

/// At most `most` characters of `text`: a longer one is cut to one less
/// and ends with `…`, so a reader sees that it was cut.
pub fn cut(text: &str, most: usize) -> String {
    if text.chars().count() <= most {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(most.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// Splits a comma-separated list: items cleaned, empty items dropped,
/// duplicates dropped keeping the first.
pub fn split_list(s: &str) -> Vec<String> {
    let mut out = UniqueList::default();
    for item in s.split(',') {
        out.push(clean(item));
    }
    out.into_vec()
}

/// A list that keeps the first of equal items, in order. Linear in the
/// items (a set remembers what is in it): a body may hold tens of
/// thousands of them before its bounds are checked.
#[derive(Default)]
pub(crate) struct UniqueList {
    items: Vec<String>,
    seen: std::collections::HashSet<String>,
}

impl UniqueList {
    /// Adds an already cleaned item unless it is empty or already present.
    pub(crate) fn push(&mut self, item: String) {
        if !item.is_empty() && self.seen.insert(item.clone()) {
            self.items.push(item);
        }
    }

    pub(crate) fn into_vec(self) -> Vec<String> {
        self.items
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_whitespace_list_is_rusts() {
        let listed = |c: char| {
            WHITESPACE
                .iter()
                .any(|(from, to)| (*from..=*to).contains(&c))
        };
        for c in (0..=0x10_ffff).filter_map(char::from_u32) {
            assert_eq!(listed(c), c.is_whitespace(), "U+{:04X}", c as u32);
        }
    }

    #[test]
    fn clean_strips_whitespace_and_quotes_repeatedly() {
        assert_eq!(clean("\"#dev\" "), "#dev");
        assert_eq!(clean(" \" \"x y\" \" "), "x y");
        assert_eq!(clean("  plain\t\n"), "plain");
        assert_eq!(clean("in\"side"), "in\"side");
        assert_eq!(clean("\"\""), "");
        assert_eq!(clean(""), "");
    }

    #[test]
    fn split_list_cleans_drops_empties_and_duplicates() {
        assert_eq!(
            split_list(" #a, \"#b\" ,,#a, ,#c,#b"),
            vec!["#a", "#b", "#c"]
        );
        assert!(split_list("").is_empty());
        assert!(split_list(" , ,\"\"").is_empty());
        assert_eq!(split_list("single"), vec!["single"]);
    }
}
