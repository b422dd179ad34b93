//! `docs/events.md` is generated from the crate; this test keeps the committed file in
//! sync, and rewrites it when asked (`UPDATE_DOCS=1 cargo test -p events`). That write
//! is the crate's only file I/O.

use std::path::PathBuf;

#[test]
fn docs_events_md_is_in_sync() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/events.md");
    let expected = events::catalog_markdown();
    if std::env::var_os("UPDATE_DOCS").is_some_and(|v| v == "1") {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        }
        std::fs::write(&path, &expected)
            .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        return;
    }
    let Ok(actual) = std::fs::read_to_string(&path) else {
        panic!(
            "docs/events.md ({}) is missing; generate it with `{}`",
            path.display(),
            events::docs::REGENERATE
        );
    };
    if actual != expected {
        let line = actual
            .lines()
            .zip(expected.lines())
            .position(|(a, e)| a != e)
            .unwrap_or_else(|| actual.lines().count().min(expected.lines().count()));
        panic!(
            "docs/events.md ({}) is out of date with the event catalog (first difference at \
             line {}); regenerate it with `{}`",
            path.display(),
            line + 1,
            events::docs::REGENERATE,
        );
    }
}
