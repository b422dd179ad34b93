//! The gate's report as a Markdown table: printed by `harness gate` and written to
//! `gate.md` (it reads well in a terminal and in a pull-request comment).

use std::fmt::Write;

use check::Decision;
use check::gate::decide::Change;
use check::gate::metric::GateUnit;
use check::gate::{CheckStatus, GateReport, MetricRow, percent};

fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

fn values(row: &MetricRow, values: &[f64]) -> String {
    match mean(values) {
        Some(m) => format!("{} (n={})", row.unit.show(m), values.len()),
        None => "—".into(),
    }
}

fn counts(values: &[Option<f64>], unit: Option<GateUnit>) -> String {
    values
        .iter()
        .map(|v| match v {
            Some(v) if unit.is_some() => unit.map(|u| u.show(*v)).unwrap_or_default(),
            Some(v) if v.fract() == 0.0 && v.abs() < 1e9 => format!("{v:.0}"),
            Some(v) => format!("{v:.4}"),
            None => "—".into(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn pad(rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let line = |r: &Vec<String>| {
        let cells: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell}{}", " ".repeat(w - cell.chars().count())))
            .collect();
        format!("| {} |\n", cells.join(" | "))
    };
    let mut out = line(&rows[0]);
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    out.push_str(&format!("| {} |\n", rule.join(" | ")));
    for r in &rows[1..] {
        out.push_str(&line(r));
    }
    out
}

/// The whole report: decision, reasons, warnings, the metric table and the
/// correctness table.
pub fn markdown(report: &GateReport, baseline: &str, current: &[String]) -> String {
    let mut out = String::new();
    let word = match report.decision {
        Decision::Pass => "PASS",
        Decision::Fail => "REGRESSED",
        Decision::Inconclusive => "INCONCLUSIVE",
    };
    let _ = writeln!(out, "## gate: {word}\n");
    let _ = writeln!(
        out,
        "baseline: `{baseline}` (trials: {}); current: {} (trials: {}); {:.0} % bootstrap intervals, {} resamples\n",
        report.baseline_trials,
        current
            .iter()
            .map(|c| format!("`{c}`"))
            .collect::<Vec<_>>()
            .join(", "),
        report.current_trials,
        report.confidence * 100.0,
        report.resamples
    );
    for reason in &report.reasons {
        let _ = writeln!(out, "- {reason}");
    }
    for warning in &report.warnings {
        let _ = writeln!(out, "- warning: {warning}");
    }
    if !report.metrics.is_empty() {
        let mut rows = vec![
            [
                "metric",
                "baseline",
                "current",
                "change [CI]",
                "tolerance",
                "decision",
            ]
            .map(String::from)
            .to_vec(),
        ];
        for row in &report.metrics {
            let change = match &row.change {
                Some(i) => format!(
                    "{} [{}, {}]",
                    percent(i.estimate),
                    percent(i.lower),
                    percent(i.upper)
                ),
                None => "—".into(),
            };
            let mut decision = match row.decision {
                Change::Regressed => "REGRESSED".to_string(),
                Change::Inconclusive => "INCONCLUSIVE".to_string(),
                other => other.name().to_string(),
            };
            if let Some(note) = &row.note {
                decision.push_str(&format!(" ({note})"));
            }
            rows.push(vec![
                row.metric.clone(),
                values(row, &row.baseline),
                values(row, &row.current),
                change,
                format!("±{:.0} %", row.tolerance * 100.0),
                decision,
            ]);
        }
        let _ = write!(out, "\n{}", pad(&rows));
    }
    if !report.correctness.is_empty() {
        let mut rows = vec![
            ["correctness (absolute)", "baseline", "current", "result"]
                .map(String::from)
                .to_vec(),
        ];
        for row in &report.correctness {
            rows.push(vec![
                row.rule.clone(),
                counts(&row.baseline, row.unit),
                counts(&row.current, row.unit),
                match row.status {
                    CheckStatus::Held => "held".into(),
                    CheckStatus::Broken => "BROKEN".into(),
                    CheckStatus::Allowed => "allowed by the guarantee".into(),
                },
            ]);
        }
        let _ = write!(out, "\n{}", pad(&rows));
    }
    out
}
