//! `harness check HISTORY.jsonl`: re-analyse a recorded history offline, with the
//! analysis options and thresholds the run recorded, and print the verdict the run
//! gave (format: docs/history-format.md); `--json` prints the run's results document.

use std::path::PathBuf;

use anyhow::bail;
use clap::Args;

use crate::exit;

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The recorded history: a run directory's history.jsonl, or history.jsonl.zst
    /// (compressed; told by its content). One cut short by a killed harness is read up
    /// to the cut, with a warning.
    pub history: PathBuf,
    /// A threshold to judge, as METRIC=EXPRESSION (repeatable), e.g. `lost=== 0` or
    /// `latency.e2e.p99=< 800ms`. Replaces the thresholds the run recorded in the
    /// history (which are judged when none is given).
    #[arg(long = "threshold", value_name = "METRIC=EXPR")]
    pub thresholds: Vec<String>,
    /// Print the results as JSON: the same document as a run's results.json (without
    /// the run's config, command, environment and times, which a history has not).
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

/// The thresholds the run recorded in its meta line (none without one).
pub(super) fn recorded_thresholds(
    meta: Option<&check::Meta>,
    path: &std::path::Path,
) -> anyhow::Result<Vec<check::Threshold>> {
    let recorded = meta.map_or(&[][..], |m| &m.thresholds[..]);
    recorded
        .iter()
        .map(|t| {
            check::parse_threshold(&t.metric, &t.expression).map_err(|e| {
                anyhow::anyhow!(
                    "{}: the meta line's threshold {} = {:?}: {e}",
                    path.display(),
                    t.metric,
                    t.expression
                )
            })
        })
        .collect()
}

pub fn run(args: CheckArgs) -> anyhow::Result<u8> {
    let given = parse_thresholds(&args.thresholds)?;
    // Judged as it is read, with the options the run judged itself with (recorded in
    // its meta line), so this gives the run's verdict; the defaults for a history that
    // did not record them.
    let file = crate::journal::check(&args.history)?;
    if let Some(why) = &file.cut_short {
        eprintln!(
            "harness: warning: {} is cut short: {why}; the run is judged incomplete",
            args.history.display()
        );
    }
    let thresholds = if args.thresholds.is_empty() {
        recorded_thresholds(file.meta.as_ref(), &args.history)?
    } else {
        given
    };
    let analysis = file.analysis;
    let evaluated = check::evaluate(&analysis, &thresholds);
    let verdict = check::verdict(file.meta.as_ref(), &analysis, &evaluated);
    // The same document a run writes as results.json, less what only the run knows
    // (its experiment file, wall-clock times, command, environment, cross-check).
    let run = check::RunInfo::from_meta(file.meta.as_ref(), &args.history.display().to_string());
    let results = check::Results::from_analysis(run, &analysis, &evaluated, &verdict);
    if args.json {
        crate::say!("{}", serde_json::to_string_pretty(&results)?);
    } else {
        // The same Markdown summary a run writes, rendered by the reports crate.
        let mut out = std::io::stdout().lock();
        reports::summary::write(&mut out, &results)?;
    }
    Ok(match verdict.decision {
        check::Decision::Pass => exit::PASS,
        check::Decision::Fail => exit::FAIL,
        check::Decision::Inconclusive => exit::INCONCLUSIVE,
    })
}
