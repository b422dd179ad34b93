//! The harness's layers (docs/architecture.md), enforced: a module may import
//! (`crate::…`) only from its own layer or the layers below it. A new module must be
//! given a layer here, so the page and the code cannot drift apart silently.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Each top-level module of `harness/src` and its layer (0 is the bottom).
const LAYERS: [(&str, u8); 13] = [
    ("journal", 0),
    ("runlog", 0),
    ("stop", 0),
    ("signals", 0),
    ("experiment", 0),
    ("lab", 1),
    ("load", 2),
    ("observe", 2),
    ("chaos", 2),
    ("run", 3),
    ("dashboard", 4),
    ("cli", 4),
    ("main", 5),
];

/// Items of `lib.rs` every layer may use (the `say!` macro, the exit codes).
const EVERYWHERE: [&str; 2] = ["say", "exit"];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a source file belongs to (`src/run/load.rs` → `run`).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).ok()?;
    let first = relative.components().next()?.as_os_str().to_str()?;
    Some(first.trim_end_matches(".rs").to_string())
}

/// Every `crate::NAME` a file mentions, with its line number.
fn imports(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.push((n + 1, name));
            }
            rest = after;
        }
    }
    found
}

#[test]
fn no_module_imports_a_layer_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let layers: BTreeMap<&str, u8> = LAYERS.into_iter().collect();
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut violations = Vec::new();
    for file in &files {
        let Some(module) = module_of(&src, file) else {
            continue;
        };
        if module == "lib" {
            continue;
        }
        let Some(&own) = layers.get(module.as_str()) else {
            violations.push(format!(
                "src/{}: module `{module}` has no layer in tests/layers.rs (and docs/architecture.md)",
                file.strip_prefix(&src).unwrap_or(file).display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(file).expect("read source");
        let file = file.strip_prefix(&src).unwrap_or(file);
        for (line, name) in imports(&text) {
            if EVERYWHERE.contains(&name.as_str()) {
                continue;
            }
            match layers.get(name.as_str()) {
                Some(&theirs) if theirs > own => violations.push(format!(
                    "src/{}:{line}: `{module}` (layer {own}) imports `crate::{name}` (layer {theirs})",
                    file.display()
                )),
                Some(_) => {}
                None => violations.push(format!(
                    "src/{}:{line}: `crate::{name}` is not a module with a layer",
                    file.display()
                )),
            }
        }
    }
    assert!(
        violations.is_empty(),
        "imports against the layers:\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_scanner_sees_imports_and_skips_comments() {
    let found = imports("use crate::run::x; // crate::cli\nlet a = crate::lab::Lab::start();");
    assert_eq!(found, vec![(1, "run".to_string()), (2, "lab".to_string())]);
}
