//! `harness check HISTORY.jsonl`: re-analyse a recorded history offline and print the
//! same verdict a run would (format: docs/history-format.md).

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;

use crate::exit;

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The recorded history (a run directory's history.jsonl).
    pub history: PathBuf,
    /// A threshold to judge, as METRIC=EXPRESSION (repeatable), e.g. `lost=== 0` or
    /// `latency.e2e.p99=< 800ms`.
    #[arg(long = "threshold", value_name = "METRIC=EXPR")]
    pub thresholds: Vec<String>,
    /// Print the analysis, threshold results and verdict as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Parses `METRIC=EXPR` pairs, with a caret under the offending character on error.
pub fn parse_thresholds(pairs: &[String]) -> anyhow::Result<Vec<check::Threshold>> {
    pairs
        .iter()
        .map(|pair| {
            let Some((metric, expr)) = pair.split_once('=') else {
                bail!("--threshold {pair:?}: expected METRIC=EXPRESSION, e.g. lost=\"== 0\"");
            };
            check::parse_threshold(metric.trim(), expr.trim()).map_err(|e| {
                let text = match e.part {
                    check::Part::Metric => metric.trim(),
                    check::Part::Expression => expr.trim(),
                };
                anyhow::anyhow!("--threshold {pair:?}:\n{}", e.caret(text))
            })
        })
        .collect()
}

pub fn run(args: CheckArgs) -> anyhow::Result<u8> {
    let thresholds = parse_thresholds(&args.thresholds)?;
    let text = std::fs::read_to_string(&args.history)
        .with_context(|| format!("reading {}", args.history.display()))?;
    let history = check::History::from_jsonl(&text)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.history.display()))?;
    let analysis = check::analyze(&history, &check::AnalysisOptions::default());
    let results = check::evaluate(&analysis, &thresholds);
    let verdict = check::verdict(history.meta.as_ref(), &analysis, &results);
    if args.json {
        let doc =
            serde_json::json!({ "analysis": analysis, "thresholds": results, "verdict": verdict });
        crate::say!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        let title = history
            .meta
            .as_ref()
            .map(|m| m.experiment.clone())
            .unwrap_or_else(|| args.history.display().to_string());
        // The same Markdown summary a run writes, rendered by the reports crate from the
        // analysis part of a results document.
        let mut document = crate::run::output::analysis_document(&analysis, &results, &verdict);
        document["experiment"] = title.into();
        document["complete"] = history.meta.as_ref().is_none_or(|m| m.complete).into();
        let summary: reports::Results = serde_json::from_value(document)
            .context("the analysis does not read back as reports::Results")?;
        let mut out = std::io::stdout().lock();
        reports::summary::write(&mut out, &summary)?;
    }
    Ok(match verdict.decision {
        check::Decision::Pass => exit::PASS,
        check::Decision::Fail => exit::FAIL,
        check::Decision::Inconclusive => exit::INCONCLUSIVE,
    })
}
