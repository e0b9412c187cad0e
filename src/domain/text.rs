//! String helpers shared by parsing and enrichment.

/// Removes surrounding whitespace and double-quote characters, in any mix
/// (`"\"#dev\" "` -> `#dev`), because senders often quote values twice.
pub fn clean(s: &str) -> String {
    s.trim_matches(|c: char| c.is_whitespace() || c == '"')
        .to_string()
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
