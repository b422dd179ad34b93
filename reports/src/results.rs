//! What the renderers read: [`Results`], the one results type (`check::Results`,
//! schema `reports/results.schema.json`, generated from it), plus reading a file and
//! the few ways the reports print its values.
//!
//! Only `experiment` and `verdict` are required: everything else defaults when absent,
//! so a partial (interrupted) run or a document written before a field existed still
//! renders, with "no data" where data is missing.

use std::path::Path;

use serde_json::Value;

pub use check::{
    CounterPoint, Counts, Decision, Expectation, ExpectationStatus, FaultWindow, Finding, LagPoint,
    LagReport, Latency, Percentiles, Phases, Results, Second, Services, ThresholdRow, Throughput,
    Unit,
};

use crate::error::ReportError;

/// The anomalies every run counts, in the order reports list them.
pub const ANOMALIES: [&str; 7] = [
    "lost",
    "duplicate_delivery",
    "duplicate_effect",
    "ordering_violation",
    "unobserved",
    "phantom",
    "invariant_violation",
];

/// The anomalies exactly-once exists to avoid: the "cost of exactly-once" table weighs
/// the performance change against these.
pub const AVOIDABLE: [&str; 4] = [
    "lost",
    "duplicate_delivery",
    "duplicate_effect",
    "ordering_violation",
];

/// Reads and parses a results.json file.
pub fn load(path: &Path) -> Result<Results, ReportError> {
    let text = std::fs::read_to_string(path).map_err(|source| ReportError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    Results::parse(&text).map_err(|source| ReportError::Parse {
        path: path.to_path_buf(),
        source,
    })
}

/// `PASS`, `FAIL` or `INCONCLUSIVE`, for headings.
pub fn upper(decision: Decision) -> &'static str {
    match decision {
        Decision::Pass => "PASS",
        Decision::Fail => "FAIL",
        Decision::Inconclusive => "INCONCLUSIVE",
    }
}

/// The anomalies in report order: the known ones, then any others the document has.
pub fn anomaly_names(r: &Results) -> Vec<&str> {
    let mut names: Vec<&str> = ANOMALIES.to_vec();
    names.extend(
        r.anomalies
            .keys()
            .map(String::as_str)
            .filter(|k| !ANOMALIES.contains(k)),
    );
    names
}

/// Where the lost orders went and what else was dead-lettered, one sentence each
/// (`lost 35 — 35 dead-lettered by order (...)`): under the anomaly table.
pub fn dead_letter_lines(r: &Results) -> Vec<String> {
    let a = &r.lost_attribution;
    let mut lines: Vec<String> = a.sentence().into_iter().collect();
    if a.dead_letters_not_lost > 0 {
        lines.push(format!(
            "{} dead letters hold no lost order (poison or foreign messages, or inputs of orders that finished)",
            a.dead_letters_not_lost
        ));
    }
    lines
}

/// Harness, service and machine versions as `name version` pairs, flattened.
pub fn environment_rows(r: &Results) -> Vec<(String, String)> {
    let mut rows = Vec::new();
    flatten("", &r.environment, &mut rows);
    rows
}

fn flatten(prefix: &str, value: &Value, rows: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, rows);
            }
        }
        Value::Null => {}
        Value::String(s) => rows.push((prefix.to_string(), s.clone())),
        other => rows.push((prefix.to_string(), other.to_string())),
    }
}

/// A threshold's `actual` in the unit people read: milliseconds, per second, or a count.
pub fn actual_text(t: &ThresholdRow) -> String {
    match (t.actual, t.unit) {
        (None, _) => "no data".into(),
        (Some(v), Some(Unit::Us)) => format!("{:.1} ms", v / 1000.0),
        (Some(v), Some(Unit::PerS)) => format!("{v:.1}/s"),
        (Some(v), _) => format!("{v}"),
    }
}

/// Milliseconds with one decimal, `-` for no data.
pub fn ms(us: Option<u64>) -> String {
    us.map(|v| format!("{:.1} ms", v as f64 / 1000.0))
        .unwrap_or_else(|| "-".into())
}

/// Seconds with one decimal, `-` for no data.
pub fn secs(s: Option<f64>) -> String {
    s.map(|v| format!("{v:.1} s")).unwrap_or_else(|| "-".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_is_flattened_and_unknown_anomalies_listed_last() {
        let r = Results::parse(
            r#"{"experiment":"x","verdict":"pass",
                "anomalies":{"lost":{"count":1,"sample":["o-1"]},"torn_write":{"count":2}},
                "environment":{"harness":"0.1.0","lab":{"redis":"7.0"},"cpus":2}}"#,
        )
        .expect("parse");
        assert_eq!(
            environment_rows(&r),
            vec![
                ("cpus".to_string(), "2".to_string()),
                ("harness".into(), "0.1.0".into()),
                ("lab.redis".into(), "7.0".into())
            ]
        );
        assert_eq!(anomaly_names(&r).last(), Some(&"torn_write"));
        assert_eq!(r.anomaly("torn_write"), 2);
        let empty = Results::parse(r#"{"experiment":"x","verdict":"pass"}"#).expect("parse");
        assert!(environment_rows(&empty).is_empty());
    }

    #[test]
    fn actual_values_are_printed_in_their_unit() {
        let row = |actual, unit| ThresholdRow {
            actual,
            unit,
            ..ThresholdRow::default()
        };
        assert_eq!(actual_text(&row(Some(1500.0), Some(Unit::Us))), "1.5 ms");
        assert_eq!(actual_text(&row(Some(39.84), Some(Unit::PerS))), "39.8/s");
        assert_eq!(actual_text(&row(Some(3.0), None)), "3");
        assert_eq!(actual_text(&row(None, Some(Unit::Us))), "no data");
    }
}
