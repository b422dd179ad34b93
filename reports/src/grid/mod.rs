//! The reliability grid of a sweep (Jepsen-style): one column per guarantee, one row
//! per combination of the other matrix keys (backend, fault kind, target, ...), each
//! cell a run's verdict, its non-zero anomalies (those its guarantee allows muted), the
//! lost orders a dead letter holds, and a link to the run's report.html.
//!
//! ```text
//! run dirs ──load (here: files)──► [layout::Entry] ──layout::grid (pure)──► Grid ──render──► grid.md, grid.html
//! ```
//!
//! - [`layout`]: the grid as data, from the runs' results alone; [`cell`]: one run's
//!   cell.
//! - [`render`]: `grid.md` and `grid.html` (template `templates/grid.html`).

pub mod cell;
pub mod layout;
pub mod render;

use std::error::Error;
use std::path::{Component, Path, PathBuf};

pub use layout::{Grid, GridSummary};

use crate::error::ReportError;
use crate::files::{io, write_file};
use cell::Link;
use layout::Entry;

/// Reads each run directory's results.json and writes `out/grid.md` and
/// `out/grid.html`. A directory without a readable results.json is a "no results" cell
/// with the error; `skipped` are (combination, reason) of combinations that did not
/// run, listed below the grid. Errors: no runs, or `out` cannot be written.
pub fn grid_into(
    runs: &[PathBuf],
    skipped: &[(String, String)],
    out: &Path,
) -> Result<GridSummary, ReportError> {
    if runs.is_empty() {
        return Err(ReportError::NoGridRuns);
    }
    std::fs::create_dir_all(out).map_err(|source| ReportError::Write {
        path: out.to_path_buf(),
        source,
    })?;
    let base = resolved(out);
    let entries: Vec<Entry> = runs.iter().map(|run| entry(run, &base)).collect();
    let grid = layout::grid(&entries, skipped);
    write_file(out, "grid.md", |w| render::markdown(w, &grid).map_err(io))?;
    write_file(out, "grid.html", |w| render::html(w, &grid))?;
    Ok(grid.summary)
}

/// `path` absolute, links resolved where it exists.
fn resolved(path: &Path) -> PathBuf {
    std::fs::canonicalize(path)
        .or_else(|_| std::path::absolute(path))
        .unwrap_or_else(|_| path.to_path_buf())
}

/// A run directory: its name, its link from `base`, its results or the error.
fn entry(run: &Path, base: &Path) -> Entry {
    let dir = resolved(run);
    let name = dir
        .file_name()
        .map_or_else(|| run.display().to_string(), |n| n.to_string_lossy().into());
    let to_dir = relative(base, &dir);
    let link = if dir.join("report.html").is_file() {
        Link {
            href: href(&to_dir.join("report.html")),
            label: "report",
        }
    } else {
        Link {
            href: format!("{}/", href(&to_dir)),
            label: "run directory",
        }
    };
    Entry {
        name,
        link,
        // The cell is the directory's: its error names the file within it.
        results: crate::results::load(&dir.join("results.json"))
            .map_err(|e| causes(&e).replace(&format!("{}/", dir.display()), "")),
    }
}

/// An error and its causes, `: `-separated.
fn causes(error: &dyn Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// The path from directory `from` to `to`, both absolute: `..` up to their common
/// part, then down.
pub fn relative(from: &Path, to: &Path) -> PathBuf {
    let from: Vec<Component> = from.components().collect();
    let to: Vec<Component> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut path = PathBuf::new();
    for _ in common..from.len() {
        path.push("..");
    }
    for part in &to[common..] {
        path.push(part);
    }
    if path.as_os_str().is_empty() {
        path.push(".");
    }
    path
}

/// A relative path as a URL path: every byte but ASCII letters, digits, `-._~` and
/// the separators percent-encoded, so it reads the same in Markdown and HTML.
pub fn href(path: &Path) -> String {
    let parts: Vec<String> = path
        .components()
        .map(|c| {
            let part = c.as_os_str().to_string_lossy();
            part.bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                        char::from(b).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect()
        })
        .collect();
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_climb_to_the_common_part() {
        let rel = |a: &str, b: &str| relative(Path::new(a), Path::new(b));
        assert_eq!(rel("/r/k/grid", "/r/k/run-1"), Path::new("../run-1"));
        assert_eq!(
            rel("/r/k/grid", "/r/other/run"),
            Path::new("../../other/run")
        );
        assert_eq!(rel("/r/k", "/r/k/run"), Path::new("run"));
        assert_eq!(rel("/r/k", "/r/k"), Path::new("."));
    }

    #[test]
    fn links_are_percent_encoded() {
        assert_eq!(
            href(Path::new("../a b/<x>&(1)|é/report.html")),
            "../a%20b/%3Cx%3E%26%281%29%7C%C3%A9/report.html"
        );
    }
}
