//! `harness report RUN_DIR`, `harness compare RUN RUN... [--out DIR]` and
//! `harness grid RUN_DIR... [--out DIR]`: render reports from results.json files alone
//! (the `reports` crate); nothing is measured.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use crate::cli::trials::first_trial;
use crate::exit;

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A run directory (or a `runs/<name>/latest` link) holding results.json.
    pub run: PathBuf,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Run directories (or `runs/<name>/latest` links); changes are against the first.
    /// For a directory of `--repeat` trials, its first trial is compared.
    #[arg(required = true, num_args = 2..)]
    pub runs: Vec<PathBuf>,
    /// Where compare.html, compare.md and the charts go (default: beside the first run,
    /// `<its parent>/<timestamp>-compare`).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct GridArgs {
    /// Run directories (or `runs/<name>/latest` links), typically every combination of
    /// one matrix: a cell each. For a directory of `--repeat` trials, its first trial.
    #[arg(required = true, num_args = 1..)]
    pub runs: Vec<PathBuf>,
    /// Where grid.md and grid.html go (default: beside the first run,
    /// `<its parent>/<timestamp>-grid`).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// The results of a run directory; for the directory of `harness run --repeat` trials
/// (no results.json of its own), those of its first trial, as the matrix comparison.
fn load(run: &Path) -> anyhow::Result<reports::Results> {
    if !run.is_dir() {
        anyhow::bail!("{} is not a run directory", run.display());
    }
    Ok(reports::results::load(
        &first_trial(run).join("results.json"),
    )?)
}

fn print_written(files: &[PathBuf]) {
    for file in files {
        crate::say!("wrote {}", file.display());
    }
}

/// Re-renders a run's reports from its results.json.
pub fn report(args: ReportArgs) -> anyhow::Result<u8> {
    let results = load(&args.run)?;
    let files = reports::write_run(&first_trial(&args.run), &results)?;
    print_written(&files);
    Ok(exit::PASS)
}

/// Renders the comparison of `runs` into `out`; returns the files written.
pub fn compare_into(runs: &[PathBuf], out: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let results = runs
        .iter()
        .map(|r| load(r))
        .collect::<anyhow::Result<Vec<_>>>()?;
    reports::write_compare(out, &results)
        .with_context(|| format!("writing the comparison into {}", out.display()))
}

/// `<parent of the first run>/<timestamp>-<what>` (`compare`, `grid`), the first run's
/// `latest` link resolved so the output lands beside the runs, not inside one.
pub fn default_out(first: &Path, what: &str) -> PathBuf {
    let resolved = std::fs::canonicalize(first).unwrap_or_else(|_| first.to_path_buf());
    let parent = resolved
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    parent.join(format!(
        "{}-{what}",
        crate::run::output::stamp(time::OffsetDateTime::now_utc())
    ))
}

pub fn compare(args: CompareArgs) -> anyhow::Result<u8> {
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| default_out(&args.runs[0], "compare"));
    let files = compare_into(&args.runs, &out)?;
    print_written(&files);
    crate::say!("comparison: {}", out.display());
    Ok(exit::PASS)
}

/// A directory `harness compare` or `harness grid` wrote: no results of its own.
fn is_rendering(dir: &Path) -> bool {
    let has = |name: &str| dir.join(name).exists();
    !has("results.json") && !has("trials.json") && (has("compare.md") || has("grid.md"))
}

/// Renders the reliability grid of `runs`. Exit 0 once written, whatever the cells say
/// (it is a rendering, not a verdict); a RUN that is not a directory is an error.
/// A directory without a readable results.json is a "no results" cell, not an error.
pub fn grid(args: GridArgs) -> anyhow::Result<u8> {
    for run in &args.runs {
        if !run.is_dir() {
            anyhow::bail!("{} is not a run directory", run.display());
        }
    }
    // `runs/<name>/2026*` also matches the comparisons and grids written beside the
    // runs: they are not runs, so they get no cell.
    let (renderings, runs): (Vec<&PathBuf>, Vec<&PathBuf>) =
        args.runs.iter().partition(|r| is_rendering(r));
    for dir in renderings {
        eprintln!(
            "harness: leaving out {}: a comparison or a grid, not a run",
            dir.display()
        );
    }
    if runs.is_empty() {
        anyhow::bail!("no run directory among the arguments");
    }
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| default_out(runs[0], "grid"));
    let runs: Vec<PathBuf> = runs.into_iter().map(|r| first_trial(r)).collect();
    // No combination is known to have been skipped: the runs given are all there is.
    let summary = reports::grid_into(&runs, &[], &out)
        .with_context(|| format!("writing the grid into {}", out.display()))?;
    crate::say!("wrote {}", out.join("grid.md").display());
    crate::say!("grid: {}", out.join("grid.html").display());
    crate::say!("{summary}");
    Ok(exit::PASS)
}
