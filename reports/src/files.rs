//! The files of a run directory and of a comparison directory: every renderer called
//! once, each writing into a buffered file.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::ReportError;
use crate::results::Results;
use crate::{chart, charts, compare, compare_html, diagram, html, junit, summary};

fn create(dir: &Path, name: &str) -> Result<(PathBuf, BufWriter<File>), ReportError> {
    let path = dir.join(name);
    let file = File::create(&path).map_err(|source| ReportError::Write {
        path: path.clone(),
        source,
    })?;
    Ok((path, BufWriter::new(file)))
}

/// Runs `f` on a new file `dir/name`, flushes it, and names the file in any error.
pub(crate) fn write_file(
    dir: &Path,
    name: &str,
    f: impl FnOnce(&mut BufWriter<File>) -> Result<(), ReportError>,
) -> Result<PathBuf, ReportError> {
    let (path, mut out) = create(dir, name)?;
    let named = |e: ReportError| match e {
        ReportError::Write { source, .. } => ReportError::Write {
            path: path.clone(),
            source,
        },
        other => other,
    };
    f(&mut out).map_err(named)?;
    out.flush().map_err(|source| ReportError::Write {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

/// An I/O error of a writer; [`write_file`] fills in the file's path.
pub(crate) fn io(e: std::io::Error) -> ReportError {
    ReportError::Write {
        path: PathBuf::new(),
        source: e,
    }
}

fn mkdir(dir: &Path) -> Result<(), ReportError> {
    std::fs::create_dir_all(dir).map_err(|source| ReportError::Write {
        path: dir.to_path_buf(),
        source,
    })
}

/// One `<slug>.png` per chart or diagram.
fn write_pngs<T: chart::Drawable>(dir: &Path, items: &[T]) -> Result<Vec<PathBuf>, ReportError> {
    items
        .iter()
        .map(|c| write_file(dir, &format!("{}.png", c.slug()), |out| chart::png(c, out)))
        .collect()
}

/// Writes report.html, one PNG per chart, summary.md and junit.xml into `dir`;
/// returns the paths written.
pub fn write_run(dir: &Path, results: &Results) -> Result<Vec<PathBuf>, ReportError> {
    mkdir(dir)?;
    let charts = charts::run_charts(results)?;
    let diagrams = diagram::run_diagrams(results);
    let mut written = write_pngs(dir, &charts)?;
    written.extend(write_pngs(dir, &diagrams)?);
    written.push(write_file(dir, "report.html", |out| {
        html::write(out, results, &charts, &diagrams)
    })?);
    written.push(write_file(dir, "summary.md", |out| {
        summary::write(out, results).map_err(io)
    })?);
    written.push(write_file(dir, "junit.xml", |out| {
        junit::write(out, results).map_err(io)
    })?);
    Ok(written)
}

/// Writes compare.html, one PNG per overlaid chart and compare.md into `dir`.
pub fn write_compare(dir: &Path, runs: &[Results]) -> Result<Vec<PathBuf>, ReportError> {
    if runs.is_empty() {
        return Err(ReportError::NoRuns);
    }
    mkdir(dir)?;
    let labels = compare::labels(runs);
    let charts = charts::compare_charts(runs, &labels)?;
    let diagrams: Vec<diagram::Diagram> = runs
        .iter()
        .zip(&labels)
        .enumerate()
        .map(|(i, (r, label))| {
            let warmup_s = r.phases.map_or(0.0, |p| p.warmup_end_us as f64 / 1e6);
            diagram::flow_diagram(
                r,
                &r.latency,
                (warmup_s, f64::INFINITY),
                &format!("compare-flow-{}", i + 1),
                &format!("{label}: where the time went"),
            )
        })
        .collect();
    let mut written = write_pngs(dir, &charts)?;
    written.extend(write_pngs(dir, &diagrams)?);
    written.push(write_file(dir, "compare.html", |out| {
        compare_html::write(out, runs, &charts, &diagrams)
    })?);
    written.push(write_file(dir, "compare.md", |out| {
        compare::compare_md(out, runs).map_err(io)
    })?);
    Ok(written)
}
