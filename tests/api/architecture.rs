//! The shape of the code, checked: dependencies between the top-level
//! modules point one way (no module imports, directly or through others,
//! a module that imports it back), and integrations use only the domain,
//! the engine's API and the shared configuration and error types — never
//! each other.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const SOURCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src");

fn rust_files(path: &Path) -> Vec<PathBuf> {
    if path.is_file() {
        return vec![path.to_owned()];
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

/// The `crate::<module>` names a piece of source refers to (a `with_connection!`
/// macro path included, as `$crate::…` resolves to `crate::…`).
fn referenced_modules(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (at, _) in text.match_indices("crate::") {
        let rest = &text[at + "crate::".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '_')
            .collect();
        if !name.is_empty() {
            found.insert(name);
        }
    }
    // `use crate::{a, b::c}` groups.
    for (at, _) in text.match_indices("crate::{") {
        let group = &text[at + "crate::{".len()..];
        let group = &group[..group.find('}').unwrap_or(group.len())];
        for item in group.split(',') {
            let name: String = item
                .trim()
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.insert(name);
            }
        }
    }
    found
}

/// Top-level module → the other top-level modules it uses.
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let mut graph = BTreeMap::new();
    for entry in std::fs::read_dir(SOURCE).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if ["lib", "main", "bin"].contains(&name.as_str()) {
            continue;
        }
        if path.is_file() && path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let mut uses = BTreeSet::new();
        for file in rust_files(&path) {
            let text = std::fs::read_to_string(&file).unwrap();
            uses.extend(referenced_modules(&text));
        }
        uses.remove(&name);
        graph.insert(name, uses);
    }
    graph
}

/// A cycle through `start`, as a path of module names, if there is one.
fn cycle_from(graph: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    let mut stack = vec![(start.to_owned(), vec![start.to_owned()])];
    let mut visited = BTreeSet::new();
    while let Some((node, path)) = stack.pop() {
        for next in graph.get(&node).into_iter().flatten() {
            if next == start {
                let mut cycle = path.clone();
                cycle.push(start.to_owned());
                return Some(cycle);
            }
            if visited.insert(next.clone()) {
                let mut longer = path.clone();
                longer.push(next.clone());
                stack.push((next.clone(), longer));
            }
        }
    }
    None
}

#[test]
fn no_top_level_module_imports_one_that_imports_it_back() {
    let graph = module_graph();
    assert!(graph.contains_key("engine") && graph.contains_key("pipeline"));
    let cycles: Vec<String> = graph
        .keys()
        .filter_map(|module| cycle_from(&graph, module))
        .map(|cycle| cycle.join(" → "))
        .collect();
    assert!(cycles.is_empty(), "module cycles:\n{}", cycles.join("\n"));
    // The store never reaches up into the pipeline or the engine.
    for lower in ["domain", "clock", "store", "config", "error"] {
        for upper in ["engine", "pipeline", "subscribers", "routes", "startup"] {
            assert!(
                !graph[lower].contains(upper),
                "{lower} imports {upper}: {:?}",
                graph[lower]
            );
        }
    }
}

#[test]
fn integrations_use_the_domain_and_the_engine_never_each_other() {
    let folder = Path::new(SOURCE).join("subscribers");
    // Templates are shared configuration: an operator may replace them.
    let allowed: BTreeSet<&str> = [
        "domain",
        "engine",
        "config",
        "error",
        "subscribers",
        "templates",
    ]
    .into();
    let integrations: Vec<String> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(integrations.len() >= 8, "{integrations:?}");
    for integration in &integrations {
        for file in rust_files(&folder.join(integration)) {
            let text = std::fs::read_to_string(&file).unwrap();
            let mut used = referenced_modules(&text);
            // The history's own integration writes through the store.
            if integration == "database" {
                used.remove("store");
            }
            let outside: Vec<&String> = used
                .iter()
                .filter(|m| !allowed.contains(m.as_str()))
                .collect();
            assert!(outside.is_empty(), "{} uses {outside:?}", file.display());
            for other in integrations.iter().filter(|o| *o != integration) {
                for borrowed in [
                    format!("subscribers::{other}"),
                    format!("super::{other}"),
                    format!("super::super::{other}"),
                ] {
                    assert!(
                        !text.contains(&borrowed),
                        "{} borrows from {other}",
                        file.display()
                    );
                }
            }
        }
    }
}

#[test]
fn the_cycle_check_finds_a_cycle() {
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a".to_owned(), ["b".to_owned()].into()),
        ("b".to_owned(), ["c".to_owned()].into()),
        ("c".to_owned(), ["a".to_owned()].into()),
        ("d".to_owned(), BTreeSet::new()),
    ]
    .into();
    assert_eq!(
        cycle_from(&graph, "a").unwrap(),
        ["a", "b", "c", "a"].map(String::from)
    );
    assert_eq!(cycle_from(&graph, "d"), None);
    assert_eq!(
        referenced_modules("use crate::{config::X, domain};\nuse crate::engine::Y;"),
        ["config", "domain", "engine"].map(String::from).into()
    );
}

/// Non-blank lines a source file may hold before its test module.
const MOST_LINES_PER_FILE: usize = 600;

/// Files being split on other branches; remove each at its merge.
const BEING_SPLIT: [&str; 1] = [
    "engine/slack.rs", // being split in i19-plan
];

/// Non-blank lines before the first `#[cfg(test)]` module; a script
/// (`whole`) counts every non-blank line.
fn lines_before_tests(text: &str, whole: bool) -> usize {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if whole {
        return lines.len();
    }
    lines
        .windows(2)
        .position(|pair| {
            pair[0] == "#[cfg(test)]"
                && (pair[1].starts_with("mod ") || pair[1].starts_with("pub mod "))
        })
        .unwrap_or(lines.len())
}

fn source_files(path: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(source_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs" || e == "js") {
            files.push(path);
        }
    }
    files
}

#[test]
fn no_source_file_holds_more_than_600_lines_before_its_tests() {
    let root = Path::new(SOURCE);
    let mut too_long = Vec::new();
    let mut checked = 0;
    for file in source_files(root) {
        let name = file
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        // Generated by diesel.
        if name.starts_with("store/schema") && name.ends_with(".rs") {
            continue;
        }
        checked += 1;
        let text = std::fs::read_to_string(&file).unwrap();
        let lines = lines_before_tests(&text, name.ends_with(".js"));
        if lines > MOST_LINES_PER_FILE && !BEING_SPLIT.contains(&name.as_str()) {
            too_long.push(format!("src/{name}: {lines} lines"));
        }
    }
    assert!(checked > 100, "only {checked} files found");
    too_long.sort();
    assert!(
        too_long.is_empty(),
        "more than {MOST_LINES_PER_FILE} non-blank lines before the tests:\n{}",
        too_long.join("\n")
    );
}

#[test]
fn the_line_count_stops_at_the_test_module_except_in_a_script() {
    let text = "fn a() {}\n\n   \n#[cfg(test)]\nfn helper() {}\n\n#[cfg(test)]\nmod tests {\n}\n";
    assert_eq!(lines_before_tests(text, false), 3);
    assert_eq!(lines_before_tests(text, true), 6);
    assert_eq!(lines_before_tests("a\nb\n", false), 2);
}
