//! The shape of the source tree, checked: the layer picture that opens
//! docs/ARCHITECTURE.md is what the code imports (no module uses one of a
//! higher layer, no circles between modules or between the files of one
//! folder), every `mod.rs` only declares and re-exports, and no file in
//! src/ outside the simulator is over the size a reader can hold.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Lines a source file may have (the simulator aside: it is test
/// equipment, built only with the `sim` feature).
const FILE_LINES_MAX: usize = 600;
/// Where the layer picture starts and ends in docs/ARCHITECTURE.md.
const LAYERS_BEGIN: &str = "<!-- layers -->";
const LAYERS_END: &str = "<!-- /layers -->";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file without comments and without its unit tests (a
/// `#[cfg(test)] mod tests` block ends every file that has one).
fn code(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap();
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => &text[..],
    };
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn ident_at(s: &str) -> String {
    s.chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

/// The names that follow `prefix` in `code` (`crate::` gives the
/// top-level modules used, `super::` the sibling files).
fn used_after(code: &str, prefix: &str) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    for (i, _) in code.match_indices(prefix) {
        let rest = &code[i + prefix.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name = ident_at(item.trim());
                if !name.is_empty() {
                    used.insert(name);
                }
            }
        } else {
            let name = ident_at(rest);
            if !name.is_empty() {
                used.insert(name);
            }
        }
    }
    used
}

/// The top-level module a file of src/ belongs to.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_str()
        .unwrap();
    first.trim_end_matches(".rs").to_string()
}

/// The layer picture: module -> layer.
fn layers() -> BTreeMap<String, usize> {
    let doc = fs::read_to_string(root().join("docs/ARCHITECTURE.md")).unwrap();
    let begin = doc
        .find(LAYERS_BEGIN)
        .expect("the layer picture's start marker");
    let end = doc
        .find(LAYERS_END)
        .expect("the layer picture's end marker");
    let mut out = BTreeMap::new();
    for line in doc[begin..end].lines() {
        let modules = line.split('|').next().unwrap_or("");
        let mut words = modules.split_whitespace();
        let Some(layer) = words.next().and_then(|w| w.parse::<usize>().ok()) else {
            continue;
        };
        for module in words {
            assert!(
                out.insert(module.to_string(), layer).is_none(),
                "{module} is in two layers"
            );
        }
    }
    assert!(!out.is_empty(), "the layer picture lists no module");
    out
}

/// A circle in `graph`, if there is one (as the path around it).
fn find_circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        done: &mut BTreeSet<String>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == node) {
            let mut circle = path[i..].to_vec();
            circle.push(node.to_string());
            return Some(circle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, graph, done, path) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        if let Some(c) = visit(node, graph, &mut done, &mut Vec::new()) {
            return Some(c);
        }
    }
    None
}

#[test]
fn modules_use_only_their_layer_and_below_without_circles() {
    let src = root().join("src");
    let layers = layers();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let module = module_of(&src, file);
        let here = *layers
            .get(&module)
            .unwrap_or_else(|| panic!("module {module} is missing from the layer picture"));
        for used in used_after(&code(file), "crate::") {
            if used == module || !layers.contains_key(&used) {
                // Items of the crate root (re-exports) are not modules.
                continue;
            }
            let there = layers[&used];
            assert!(
                there <= here,
                "{} (layer {here}) uses {used} (layer {there}): a lower layer never imports a higher one",
                file.display()
            );
            graph.entry(module.clone()).or_default().insert(used);
        }
    }
    for module in layers.keys() {
        let exists = src.join(format!("{module}.rs")).exists() || src.join(module).is_dir();
        assert!(
            exists,
            "the layer picture names {module}, which src/ does not have"
        );
    }
    assert_eq!(
        find_circle(&graph),
        None,
        "modules import each other in a circle"
    );
}

#[test]
fn files_of_a_folder_import_each_other_without_circles() {
    let src = root().join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut folders: BTreeMap<PathBuf, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for file in &files {
        let name = file.file_stem().unwrap().to_str().unwrap().to_string();
        if name == "mod" || name == "lib" {
            continue;
        }
        let dir = file.parent().unwrap().to_path_buf();
        let uses = used_after(&code(file), "super::");
        folders.entry(dir).or_default().insert(name, uses);
    }
    for (dir, graph) in folders {
        // Only edges between siblings count (super:: may name re-exports).
        let siblings: BTreeSet<String> = graph.keys().cloned().collect();
        let graph: BTreeMap<String, BTreeSet<String>> = graph
            .into_iter()
            .map(|(k, v)| (k, v.intersection(&siblings).cloned().collect()))
            .collect();
        assert_eq!(
            find_circle(&graph),
            None,
            "files in {} import each other in a circle",
            dir.display()
        );
    }
}

#[test]
fn mod_files_only_declare_and_re_export() {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    let mut checked = 0;
    for file in files.iter().filter(|f| f.ends_with("mod.rs")) {
        checked += 1;
        for (n, line) in fs::read_to_string(file).unwrap().lines().enumerate() {
            let l = line.trim();
            let allowed = l.is_empty()
                || l.starts_with("//")
                || l.starts_with("#[cfg(")
                || l.starts_with("mod ")
                || l.starts_with("pub mod ")
                || l.starts_with("pub(crate) mod ")
                || l.starts_with("pub use ")
                || l.starts_with("pub(crate) use ")
                // The rest of a multi-line `pub use {...}`.
                || l.ends_with(',')
                || l.ends_with("};")
                || l.chars().all(|c| c.is_ascii_alphanumeric() || "_, ".contains(c));
            assert!(
                allowed,
                "{}:{}: a mod.rs only declares and re-exports, found: {line}",
                file.display(),
                n + 1
            );
        }
    }
    assert!(checked > 0, "no mod.rs found under src/");
}

#[test]
fn no_source_file_is_over_the_limit() {
    let src = root().join("src");
    let sim = src.join("storage/sim");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    for file in files.iter().filter(|f| !f.starts_with(&sim)) {
        let lines = fs::read_to_string(file).unwrap().lines().count();
        assert!(
            lines <= FILE_LINES_MAX,
            "{} has {lines} lines (at most {FILE_LINES_MAX}): split it by concern",
            file.display()
        );
    }
}
