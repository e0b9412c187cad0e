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
    let mut out = Vec::new();
    for item in s.split(',') {
        push_unique(&mut out, clean(item));
    }
    out
}

/// Adds an already cleaned item unless it is empty or already present.
pub(crate) fn push_unique(list: &mut Vec<String>, item: String) {
    if !item.is_empty() && !list.contains(&item) {
        list.push(item);
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
