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
    const STAMP: &[time::format_description::BorrowedFormatItem<'_>] =
        time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    t.to_offset(time::UtcOffset::UTC)
        .format(STAMP)
        .unwrap_or_else(|_| "unknown-time".into())
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
        // Only characters safe in a path and in a link (`#` would end a URL's path).
        let text: String = experiment
            .combination
            .to_string()
            .chars()
            .map(|c| match c {
                'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '-' => c,
                _ => '_',
            })
            .collect();
        format!("-{text}")
    };
    let shard = experiment
        .shard
        .map(|s| format!("-shard-{}of{}", s.index, s.count))
        .unwrap_or_default();
    let dir = runs
        .join(&experiment.base_name)
        .join(format!("{stamp}{suffix}{shard}"));
    std::fs::create_dir_all(dir.join("logs"))
        .with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// `t` as RFC 3339 (`2026-12-01T14:02:27.123Z`).
pub fn rfc3339(t: time::OffsetDateTime) -> anyhow::Result<String> {
    t.format(&time::format_description::well_known::Rfc3339)
        .context("formatting a time as RFC 3339")
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

/// What [`write`] leaves for the terminal.
#[derive(Debug)]
pub(crate) struct Written {
    /// The Markdown summary, as summary.md has it.
    pub summary: Vec<u8>,
}

/// Writes the rest of the run directory: results.json, the reports rendered from it,
/// and the `latest` link.
pub(crate) fn write(
    dir: &Path,
    experiment: &Experiment,
    options: &super::RunOptions,
    torn: super::teardown::TornDown,
    judged: &super::judge::Judged,
) -> anyhow::Result<Written> {
    let run = run_info(
        experiment,
        torn.recorder.started_at(),
        time::OffsetDateTime::now_utc(),
        judged.meta.as_ref().is_none_or(|m| m.complete),
        torn.environment,
        &options.command,
        torn.cross_check,
    )?;
    let results =
        Results::from_analysis(run, &judged.analysis, &judged.thresholds, &judged.verdict);
    write_results(dir, &results)?;
    let summary = write_reports(dir, &results)?;
    link_latest(dir);
    Ok(Written { summary })
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

#[cfg(test)]
mod tests {
    #[test]
    fn stamps_are_utc_and_sortable() {
        let t = time::macros::datetime!(2026-01-02 03:04:05 +02:00);
        assert_eq!(super::stamp(t), "20260102T010405Z");
    }
}
