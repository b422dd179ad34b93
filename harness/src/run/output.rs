//! The run directory (`runs/<experiment>/<timestamp>/`): `history.jsonl` (the raw
//! observations), `results.json` (the one serializable result every report renders
//! from), `report.html`, the charts as PNG, `summary.md`, `junit.xml` (all rendered by
//! the `reports` crate from results.json), `logs/`; and `runs/<experiment>/latest`
//! pointing at it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use check::{CrossCount, Results, RunInfo};
use serde_json::Value;

use crate::experiment::Experiment;

/// A UTC timestamp for directory names: `20260102T030405Z`.
pub fn stamp(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// `runs/<base name>/<UTC timestamp>[-<combination>]`, created.
pub fn create_dir(
    runs: &Path,
    experiment: &Experiment,
    started: time::OffsetDateTime,
) -> anyhow::Result<PathBuf> {
    let stamp = stamp(started);
    let suffix = if experiment.combination.is_empty() {
        String::new()
    } else {
        let text = experiment.combination.to_string();
        format!("-{}", text.replace(['=', ',', ' ', '/'], "_"))
    };
    let dir = runs
        .join(&experiment.base_name)
        .join(format!("{stamp}{suffix}"));
    std::fs::create_dir_all(dir.join("logs"))
        .with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// Points `runs/<base name>/latest` at `dir` (a relative symlink, replaced).
pub fn link_latest(dir: &Path) {
    let (Some(parent), Some(name)) = (dir.parent(), dir.file_name()) else {
        return;
    };
    let link = parent.join("latest");
    let _ = std::fs::remove_file(&link);
    let _ = std::os::unix::fs::symlink(name, &link);
}

/// Renders the reports of a run from its results into `dir` (report.html, the charts
/// as PNG, summary.md, junit.xml) and returns the summary's text for the terminal: the
/// same renderers `harness report` uses on results.json.
pub fn write_reports(dir: &Path, results: &Results) -> anyhow::Result<Vec<u8>> {
    reports::write_run(dir, results)?;
    let mut summary = Vec::new();
    reports::summary::write(&mut summary, results)?;
    Ok(summary)
}

/// Writes `dir/results.json` (schema: reports/results.schema.json, generated from
/// [`Results`]).
pub fn write_results(dir: &Path, results: &Results) -> anyhow::Result<()> {
    let path = dir.join("results.json");
    let text = serde_json::to_string_pretty(results).context("serializing results.json")?;
    std::fs::write(&path, text + "\n").with_context(|| format!("writing {}", path.display()))
}

/// What results.json says of the run besides its analysis: the experiment (expanded,
/// as `config`), wall-clock times, the command, the environment and the cross-check.
pub fn run_info(
    experiment: &Experiment,
    started_at: time::OffsetDateTime,
    finished_at: time::OffsetDateTime,
    complete: bool,
    environment: Value,
    command: &str,
    cross_check: Option<BTreeMap<String, CrossCount>>,
) -> anyhow::Result<RunInfo> {
    let rfc3339 = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .context("formatting a time as RFC 3339")
    };
    Ok(RunInfo {
        experiment: experiment.name.clone(),
        description: experiment.description.clone(),
        seed: experiment.seed,
        started_at: rfc3339(started_at)?,
        finished_at: rfc3339(finished_at)?,
        complete,
        command: command.to_owned(),
        environment,
        config: serde_json::to_value(experiment).context("serializing the experiment")?,
        cross_check,
    })
}
