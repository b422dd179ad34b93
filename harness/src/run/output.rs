//! The run directory (`runs/<experiment>/<timestamp>/`): `history.jsonl` (the raw
//! observations), `results.json` (the one serializable result every report renders
//! from), `report.html`, the charts as PNG, `summary.md`, `junit.xml` (all rendered by
//! the `reports` crate from results.json), `logs/`; and `runs/<experiment>/latest`
//! pointing at it.

use std::path::{Path, PathBuf};

use anyhow::Context;
use check::{Analysis, Decision, Percentiles, ThresholdResult, Verdict};
use serde_json::{Value, json};

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

/// What [`write`] leaves for the terminal.
#[derive(Debug)]
pub(crate) struct Written {
    /// The Markdown summary, as summary.md has it.
    pub summary: Vec<u8>,
}

/// Writes the run directory: history.jsonl, results.json, the reports rendered from it,
/// and the `latest` link.
pub(crate) fn write(
    dir: &Path,
    experiment: &Experiment,
    options: &super::RunOptions,
    torn: &super::teardown::TornDown,
    judged: &super::judge::Judged,
) -> anyhow::Result<Written> {
    std::fs::write(dir.join("history.jsonl"), judged.history.to_jsonl())
        .context("writing history.jsonl")?;
    let mut document = results(
        experiment,
        torn.recorder.started_at(),
        time::OffsetDateTime::now_utc(),
        judged.history.meta.as_ref().is_none_or(|m| m.complete),
        torn.environment.clone(),
        &options.command,
        &judged.analysis,
        &judged.thresholds,
        &judged.verdict,
    );
    document["cross_check"] = torn.cross_check.clone();
    std::fs::write(
        dir.join("results.json"),
        serde_json::to_string_pretty(&document)?,
    )
    .context("writing results.json")?;
    let summary = write_reports(dir, &document)?;
    link_latest(dir);
    Ok(Written { summary })
}

/// Renders the reports of a run from its results document into `dir` (report.html, the
/// charts as PNG, summary.md, junit.xml) and returns the summary's text for the
/// terminal: the same renderers `harness report` uses on results.json.
pub fn write_reports(dir: &Path, document: &Value) -> anyhow::Result<Vec<u8>> {
    let results: reports::Results = serde_json::from_value(document.clone())
        .context("the results document does not read back as reports::Results")?;
    reports::write_run(dir, &results)?;
    let mut summary = Vec::new();
    reports::summary::write(&mut summary, &results)?;
    Ok(summary)
}

fn percentiles(p: &Percentiles) -> Value {
    json!({
        "count": p.count, "p50_us": p.p50_us, "p90_us": p.p90_us, "p99_us": p.p99_us,
        "p999_us": p.p999_us, "max_us": p.max_us,
    })
}

fn seconds(us: Option<u64>) -> Option<f64> {
    us.map(|v| v as f64 / 1e6)
}

/// The results document (schema: reports/results.schema.json).
#[allow(clippy::too_many_arguments)]
pub fn results(
    experiment: &Experiment,
    started_at: time::OffsetDateTime,
    finished_at: time::OffsetDateTime,
    complete: bool,
    environment: Value,
    command: &str,
    analysis: &Analysis,
    thresholds: &[ThresholdResult],
    verdict: &Verdict,
) -> Value {
    let rfc3339 = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    };
    let mut document = json!({
        "format": 1,
        "experiment": experiment.name,
        "description": experiment.description,
        "seed": experiment.seed,
        "started_at": rfc3339(started_at),
        "finished_at": rfc3339(finished_at),
        "complete": complete,
        "command": command,
        "environment": environment,
        "config": experiment,
    });
    if let (Value::Object(document), Value::Object(measured)) = (
        &mut document,
        analysis_document(analysis, thresholds, verdict),
    ) {
        document.extend(measured);
    }
    document
}

/// The part of the results document that comes from the analysis alone (what
/// `harness check` has without an experiment file): counts, anomalies, latency,
/// throughput, lag, services, faults, thresholds and the verdict.
pub fn analysis_document(
    analysis: &Analysis,
    thresholds: &[ThresholdResult],
    verdict: &Verdict,
) -> Value {
    let anomalies: serde_json::Map<String, Value> = analysis
        .anomalies
        .findings
        .iter()
        .map(|(a, f)| {
            (
                a.name().to_string(),
                json!({"count": f.count, "sample": f.sample}),
            )
        })
        .collect();
    let hops: serde_json::Map<String, Value> = analysis
        .latency
        .hops
        .iter()
        .map(|(hop, p)| (hop.clone(), percentiles(p)))
        .collect();
    let faults: Vec<Value> = analysis
        .faults
        .iter()
        .map(|f| {
            json!({
                "id": f.id, "kind": f.kind, "target": f.target,
                "start_s": f.start_us as f64 / 1e6, "end_s": f.end_us as f64 / 1e6,
                "orders": f.orders,
                "anomalies": f.anomalies.findings.iter().map(|(a, x)| (a.name().to_string(), json!(x.count))).collect::<serde_json::Map<_, _>>(),
                "p99_us": f.p99_e2e_us, "steady_p99_us": f.steady_p99_us,
                "recovery_s": seconds(f.recovery_us), "drain_s": seconds(f.drain_us),
            })
        })
        .collect();
    let decision = match verdict.decision {
        Decision::Pass => "pass",
        Decision::Fail => "fail",
        Decision::Inconclusive => "inconclusive",
    };
    json!({
        "phases": analysis.phases,
        "counts": analysis.counts,
        "anomalies": anomalies,
        "anomaly_details": analysis.anomaly_details,
        "latency": {"e2e": percentiles(&analysis.latency.e2e), "hops": hops},
        "throughput": analysis.throughput,
        "lag": analysis.lag,
        "services": {"totals": analysis.services, "timeline": analysis.services_timeline},
        "shortfall": analysis.shortfall,
        "faults": faults,
        "thresholds": thresholds.iter().map(|t| json!({
            "metric": t.metric, "expression": t.expression, "actual": t.actual, "unit": t.unit,
            "pass": t.pass, "note": t.note,
        })).collect::<Vec<_>>(),
        "verdict": decision,
        "reasons": verdict.reasons,
        "expectations": verdict.expectations,
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
