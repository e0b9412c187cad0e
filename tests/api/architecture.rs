//! The shape of the code, checked: dependencies between the top-level
//! modules, and between the files under `src/`, point one way (no module
//! or file imports, directly or through others, one that imports it
//! back), the engine knows no integration, and integrations use only the
//! domain, the engine's API, the shared Slack service and the shared
//! configuration and error types — never each other.

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
    // Slack and the chat webhooks' layer are services the integrations
    // share, beside them.
    let allowed: BTreeSet<&str> = [
        "chat",
        "domain",
        "engine",
        "config",
        "error",
        "slack",
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

/// A file's module path: `src/engine/actor.rs` is `engine::actor`,
/// `src/slack/mod.rs` is `slack`, `src/lib.rs` is the crate root (`""`).
fn module_path(file: &Path) -> String {
    let relative = file.strip_prefix(SOURCE).unwrap().with_extension("");
    let mut parts: Vec<String> = relative
        .iter()
        .map(|part| part.to_string_lossy().into_owned())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts.join("::")
}

/// The names of a path: `a::b::C` → `[a, b, C]`, stopping at a `{`.
fn segments(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    loop {
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if name.is_empty() {
            return out;
        }
        rest = &rest[name.len()..];
        out.push(name);
        match rest.strip_prefix("::") {
            Some(next) => rest = next,
            None => return out,
        }
    }
}

/// `base` joined with the path at the start of `rest`, and with each
/// member of the `{…}` group it ends in, if it does.
fn expand(base: &[String], rest: &str) -> Vec<Vec<String>> {
    let head = segments(rest);
    let mut path = base.to_vec();
    path.extend(head.iter().cloned());
    let mut paths = vec![path.clone()];
    let after: usize = head.iter().map(|s| s.len() + 2).sum();
    if let Some(group) = rest.get(after..).and_then(|g| g.strip_prefix('{')) {
        let group = &group[..group.find('}').unwrap_or(group.len())];
        for item in group.split(',') {
            let mut member = path.clone();
            member.extend(segments(item.trim()));
            paths.push(member);
        }
    }
    paths
}

/// The absolute paths a file's text names: `crate::a::B`, `super::x`
/// (each `super` climbs once), `self::y`, `use crate::{a::b, c}` groups;
/// relative ones resolved from `module`, the file's own path. Paths
/// without a prefix (a folder's `mod.rs` naming its own files) are not
/// read: that is the folder's façade, resolved in [`file_graph`].
fn referenced_paths(text: &str, module: &str) -> Vec<Vec<String>> {
    let own: Vec<String> = module
        .split("::")
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect();
    let mut found = Vec::new();
    for start in ["crate::", "super::", "self::"] {
        for (at, _) in text.match_indices(start) {
            // A whole path only: not `$crate::`, `a::super::` or `my_self::`.
            let before = text[..at].chars().last();
            if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':' || c == '$')
            {
                continue;
            }
            let mut rest = &text[at + start.len()..];
            let mut base = match start {
                "crate::" => Vec::new(),
                _ => own.clone(),
            };
            if start == "super::" {
                base.pop();
                while let Some(next) = rest.strip_prefix("super::") {
                    base.pop();
                    rest = next;
                }
            }
            found.extend(expand(&base, rest));
        }
    }
    found
}

/// A folder's façade: each name its `mod.rs` re-exports (`pub use
/// child::{A, B}`) → the module path it comes from.
fn reexports(text: &str, folder: &str) -> BTreeMap<String, Vec<String>> {
    let base: Vec<String> = folder
        .split("::")
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect();
    let mut names = BTreeMap::new();
    for (at, _) in text.match_indices("pub use ") {
        let rest = &text[at + "pub use ".len()..];
        let rest = rest.strip_prefix("self::").unwrap_or(rest);
        if rest.starts_with("crate::") || rest.starts_with("super::") {
            continue;
        }
        for path in expand(&base, rest) {
            if let Some((name, from)) = path.split_last()
                && from.len() > base.len()
            {
                names.insert(name.clone(), from.to_vec());
            }
        }
    }
    names
}

/// Each file (by module path) → the other files it imports from: the
/// longest module path each reference starts with, seen through a
/// folder's re-exports to the file that defines the name.
fn file_graph() -> BTreeMap<String, BTreeSet<String>> {
    let bin = Path::new(SOURCE).join("bin");
    let files: Vec<PathBuf> = rust_files(Path::new(SOURCE))
        .into_iter()
        .filter(|f| !f.starts_with(&bin) && !f.ends_with("main.rs"))
        .collect();
    let texts: BTreeMap<String, String> = files
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            // A file's own tests may use anything.
            let code = text
                .split("#[cfg(test)]")
                .next()
                .unwrap_or_default()
                .to_owned();
            (module_path(f), code)
        })
        .collect();
    let facades: BTreeMap<&str, BTreeMap<String, Vec<String>>> = texts
        .iter()
        .map(|(module, text)| (module.as_str(), reexports(text, module)))
        .collect();
    let resolve = |path: &[String]| -> Option<String> {
        let mut path = path.to_vec();
        // A re-export may name another re-export: follow a few.
        for _ in 0..4 {
            let n = (0..=path.len())
                .rev()
                .find(|n| texts.contains_key(&path[..*n].join("::")))?;
            let module = path[..n].join("::");
            match path
                .get(n)
                .and_then(|name| facades[module.as_str()].get(name))
            {
                Some(from) => {
                    let mut next = from.clone();
                    next.extend(path[n..].iter().cloned());
                    path = next;
                }
                None => return Some(module),
            }
        }
        None
    };
    texts
        .iter()
        .map(|(module, text)| {
            let uses: BTreeSet<String> = referenced_paths(text, module)
                .iter()
                .filter_map(|path| resolve(path))
                .filter(|target| target != module && !target.is_empty())
                .collect();
            (module.clone(), uses)
        })
        .collect()
}

#[test]
fn no_file_imports_one_that_imports_it_back() {
    let graph = file_graph();
    assert!(graph.contains_key("engine::actor") && graph.contains_key("slack::client"));
    assert!(
        graph["engine::registration"].contains("engine::actor"),
        "{:?}",
        graph["engine::registration"]
    );
    let cycles: Vec<String> = graph
        .keys()
        .filter_map(|file| cycle_from(&graph, file))
        .map(|cycle| cycle.join(" → "))
        .collect();
    assert!(cycles.is_empty(), "file cycles:\n{}", cycles.join("\n"));
}

#[test]
fn the_engine_knows_no_integration() {
    let graph = module_graph();
    for integration in ["slack", "subscribers", "templates"] {
        assert!(
            !graph["engine"].contains(integration),
            "engine uses {integration}: {:?}",
            graph["engine"]
        );
    }
}

#[test]
fn the_file_check_resolves_relative_paths() {
    let paths = |text: &str, module: &str| -> BTreeSet<String> {
        referenced_paths(text, module)
            .into_iter()
            .map(|p| p.join("::"))
            .collect()
    };
    assert_eq!(
        paths(
            "use super::health::X;\nuse crate::domain::{plan, EventKind};",
            "engine::actor"
        ),
        [
            "domain",
            "domain::EventKind",
            "domain::plan",
            "engine::health::X"
        ]
        .map(String::from)
        .into()
    );
    assert_eq!(
        paths("use super::client::SlackClient;", "slack::directory"),
        ["slack::client::SlackClient"].map(String::from).into()
    );
    assert_eq!(
        paths("use super::Handback;", "pipeline::sweeper"),
        ["pipeline::Handback"].map(String::from).into()
    );
    assert_eq!(
        paths("use self::a::B; $crate::x", "slack"),
        ["slack::a::B"].map(String::from).into()
    );
    assert_eq!(
        reexports("pub use client::{SlackClient, WebApiBody};", "slack")["WebApiBody"],
        ["slack", "client"].map(String::from)
    );
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
        if lines > MOST_LINES_PER_FILE {
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

/// The files every integration folder holds (see `src/subscribers/mod.rs`).
const INTEGRATION_FILES: [&str; 4] = ["config.rs", "conformance.rs", "mod.rs", "payload.rs"];

#[test]
fn every_integration_folder_holds_the_same_files() {
    let folder = Path::new(SOURCE).join("subscribers");
    let mut folders = 0;
    for entry in std::fs::read_dir(&folder).unwrap() {
        let path = entry.unwrap().path();
        if !path.is_dir() {
            continue;
        }
        folders += 1;
        let mut files: Vec<String> = std::fs::read_dir(&path)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        assert_eq!(files, INTEGRATION_FILES, "{}", path.display());
    }
    // One folder per entry of the integration list.
    assert_eq!(folders, alvares::subscribers::integrations().len());
}
