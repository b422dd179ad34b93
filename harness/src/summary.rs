//! The plain-text summary a person reads on the terminal after `harness run` or
//! `harness check`: verdict, counts, anomalies with sample ids, latency percentiles,
//! throughput, faults and thresholds. Tables are Markdown, so the same text pastes into
//! a pull request. Writers are generic over `io::Write`.

use std::io::{self, Write};

use check::{Analysis, Decision, Percentiles, ThresholdResult, Unit, Verdict};
use reports::markdown::table;

fn ms(us: Option<u64>) -> String {
    us.map(|v| format!("{:.1} ms", v as f64 / 1000.0))
        .unwrap_or_else(|| "-".into())
}

fn percentile_row(name: &str, p: &Percentiles) -> Vec<String> {
    vec![
        name.to_string(),
        p.count.to_string(),
        ms(p.p50_us),
        ms(p.p90_us),
        ms(p.p99_us),
        ms(p.p999_us),
        ms(p.max_us),
    ]
}

fn actual(result: &ThresholdResult) -> String {
    match (result.actual, result.unit) {
        (None, _) => "no data".into(),
        (Some(v), Unit::Us) => format!("{:.1} ms", v / 1000.0),
        (Some(v), Unit::PerS) => format!("{v:.1}/s"),
        (Some(v), Unit::Count) => format!("{v}"),
    }
}

/// Writes the summary of one analysed run.
pub fn write<W: Write>(
    out: &mut W,
    title: &str,
    analysis: &Analysis,
    thresholds: &[ThresholdResult],
    verdict: &Verdict,
) -> io::Result<()> {
    let decision = match verdict.decision {
        Decision::Pass => "PASS",
        Decision::Fail => "FAIL",
        Decision::Inconclusive => "INCONCLUSIVE",
    };
    writeln!(out, "## {title}: {decision}\n")?;
    for reason in &verdict.reasons {
        writeln!(out, "- {reason}")?;
    }
    let c = &analysis.counts;
    writeln!(
        out,
        "\norders: {} attempted, {} acknowledged, {} completed; {} rejected, {} errors, {} dropped, {} late; {} events observed\n",
        c.attempted,
        c.acknowledged,
        c.completed,
        c.rejected,
        c.errors,
        c.dropped,
        c.late,
        c.observed
    )?;
    let anomalies: Vec<Vec<String>> = analysis
        .anomalies
        .findings
        .iter()
        .map(|(anomaly, f)| {
            vec![
                anomaly.name().to_string(),
                f.count.to_string(),
                f.sample
                    .iter()
                    .take(3)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(" "),
            ]
        })
        .collect();
    table(out, &["anomaly", "count", "sample"], &anomalies)?;
    writeln!(out)?;
    let mut latency = vec![percentile_row("end to end", &analysis.latency.e2e)];
    latency.extend(
        analysis
            .latency
            .hops
            .iter()
            .map(|(hop, p)| percentile_row(hop, p)),
    );
    table(
        out,
        &["latency", "count", "p50", "p90", "p99", "p99.9", "max"],
        &latency,
    )?;
    let mean = analysis
        .throughput
        .mean_per_s
        .map(|m| format!("{m:.1}/s"))
        .unwrap_or_else(|| "-".into());
    let lag = analysis
        .lag
        .max
        .map(|l| l.to_string())
        .unwrap_or_else(|| "-".into());
    writeln!(
        out,
        "\nthroughput (completed, load phase): {mean}; max consumer lag: {lag}\n"
    )?;
    if !analysis.faults.is_empty() {
        let rows: Vec<Vec<String>> = analysis
            .faults
            .iter()
            .map(|f| {
                vec![
                    format!("{:?}", f.kind).to_lowercase(),
                    f.target.clone(),
                    format!(
                        "{:.1}-{:.1} s",
                        f.start_us as f64 / 1e6,
                        f.end_us as f64 / 1e6
                    ),
                    f.anomalies
                        .findings
                        .values()
                        .map(|x| x.count)
                        .sum::<u64>()
                        .to_string(),
                    ms(f.p99_e2e_us),
                    ms(f.recovery_us),
                    ms(f.drain_us),
                ]
            })
            .collect();
        table(
            out,
            &[
                "fault",
                "target",
                "window",
                "anomalies",
                "p99 during",
                "recovery",
                "drain",
            ],
            &rows,
        )?;
        writeln!(out)?;
    }
    if !thresholds.is_empty() {
        let rows: Vec<Vec<String>> = thresholds
            .iter()
            .map(|t| {
                vec![
                    t.metric.clone(),
                    t.expression.clone(),
                    actual(t),
                    if t.pass { "pass".into() } else { "FAIL".into() },
                ]
            })
            .collect();
        table(out, &["threshold", "expression", "actual", "result"], &rows)?;
    }
    Ok(())
}
