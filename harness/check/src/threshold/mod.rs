//! k6-style thresholds, extended to correctness: `metric = "OP VALUE"`.
//!
//! - `OP` is one of `==`, `!=`, `<`, `<=`, `>`, `>=`.
//! - `VALUE` is a non-negative number (`0`, `2.5`), a duration (`250us`, `800ms`,
//!   `1.5s`, `2m`; `µs` is accepted for `us`) or a rate (`280/s`). Spaces are allowed
//!   around the operator and between number and unit.
//! - The value's kind must match the metric's: counts take plain numbers, durations a
//!   time unit, rates `/s` (`0` fits all three). Durations are compared in µs.
//!
//! | metric | kind | actual value |
//! | --- | --- | --- |
//! | `lost`, `duplicate_delivery`, ... (every [`Anomaly`] name) | count | the anomaly's count |
//! | `latency.e2e.p50` \| `p90` \| `p99` \| `p99.9` \| `max` | duration | end-to-end latency after warm-up |
//! | `latency.hop.<From>-><To>.<pct>` | duration | per-hop latency, e.g. `latency.hop.OrderPlaced->StockReserved.p99` |
//! | `throughput.mean` | rate | completed orders per second over the load window |
//! | `lag.max` | count | highest consumer-group lag after warm-up |
//! | `shortfall.dropped`, `shortfall.late` | count | sends the generator dropped / sent late, after warm-up |
//! | `errors`, `rejected` | count | send lines with outcome `error` / `rejected` |
//! | `recovery.max`, `drain.max` | duration | the slowest fault window's recovery / drain |
//! | `service.<service>.<counter>` | count | a scraped counter, e.g. `service.payment.retries_total` |
//!
//! Evaluation gives each threshold a [`ThresholdStatus`]: `pass`, `fail`, or `no_data`
//! when the analysis has no value for the metric (no completed order, no such hop, no
//! fault...). A fault that never recovered or never drained makes `recovery.max` or
//! `drain.max` fail, with a note naming the fault.

mod parse;

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::analysis::Analysis;
use crate::anomaly::Anomaly;
use crate::stats::Pct;

pub use parse::parse_threshold;

/// What a threshold compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Metric {
    Anomaly(Anomaly),
    E2e(Pct),
    Hop { from: String, to: String, pct: Pct },
    ThroughputMean,
    LagMax,
    ShortfallDropped,
    ShortfallLate,
    Errors,
    Rejected,
    RecoveryMax,
    DrainMax,
    Service { service: String, name: String },
}

/// The kind of quantity a metric is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Count,
    Duration,
    Rate,
}

impl Metric {
    pub fn kind(&self) -> Kind {
        match self {
            Metric::E2e(_) | Metric::Hop { .. } | Metric::RecoveryMax | Metric::DrainMax => {
                Kind::Duration
            }
            Metric::ThroughputMean => Kind::Rate,
            _ => Kind::Count,
        }
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Op {
    pub fn symbol(self) -> &'static str {
        match self {
            Op::Eq => "==",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }

    pub fn holds(self, actual: f64, value: f64) -> bool {
        match self {
            Op::Eq => actual == value,
            Op::Ne => actual != value,
            Op::Lt => actual < value,
            Op::Le => actual <= value,
            Op::Gt => actual > value,
            Op::Ge => actual >= value,
        }
    }
}

/// The value as written, with its unit resolved.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Quantity {
    Number(f64),
    Duration { us: f64 },
    Rate { per_s: f64 },
}

/// One parsed threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    pub metric: Metric,
    /// The metric as written (reported back verbatim).
    pub metric_text: String,
    /// The expression as written (reported back verbatim).
    pub expression: String,
    pub op: Op,
    pub quantity: Quantity,
    /// The value in the metric's unit: a count, µs, or per second.
    pub value: f64,
}

/// Which of the two strings a [`ThresholdError`]'s offset points into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Metric,
    Expression,
}

/// A threshold that could not be parsed: where, what, and what to write instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThresholdError {
    pub part: Part,
    /// Byte offset into the metric or the expression (see `part`), on a char boundary.
    pub offset: usize,
    /// What is wrong, e.g. "unknown unit `mss`".
    pub message: String,
    /// What to write instead, e.g. "use us, ms, s or m (durations) or /s (rates)".
    pub hint: String,
}

impl fmt::Display for ThresholdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let part = match self.part {
            Part::Metric => "metric",
            Part::Expression => "expression",
        };
        write!(
            f,
            "{}; {} (byte {} of the {part})",
            self.message, self.hint, self.offset
        )
    }
}

impl std::error::Error for ThresholdError {}

impl ThresholdError {
    /// `text` (the metric or expression this error is about) with a caret under the
    /// offending character, for terminal output.
    pub fn caret(&self, text: &str) -> String {
        let column = text
            .char_indices()
            .take_while(|(i, _)| *i < self.offset)
            .count();
        format!(
            "{text}\n{}^ {}; {}",
            " ".repeat(column),
            self.message,
            self.hint
        )
    }
}

/// How a threshold came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ThresholdStatus {
    Pass,
    Fail,
    /// The analysis has no value for the metric: the verdict is at best inconclusive.
    NoData,
}

/// The unit of a threshold's `actual` value: a count, microseconds or per second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    Count,
    Us,
    PerS,
}

/// One threshold checked against an analysis (a row of results.json `thresholds`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdResult {
    pub metric: String,
    pub expression: String,
    /// The measured value in `unit` (`None`: no data, or a fault that never recovered).
    pub actual: Option<f64>,
    pub unit: Unit,
    pub status: ThresholdStatus,
    /// `status == pass`, for tools that only want a boolean.
    pub pass: bool,
    /// Why there is no value, or which fault made it fail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Checks every threshold against the analysis, in the given order.
pub fn evaluate(analysis: &Analysis, thresholds: &[Threshold]) -> Vec<ThresholdResult> {
    thresholds
        .iter()
        .map(|t| evaluate_one(analysis, t))
        .collect()
}

/// The value of a metric, or why there is none (`Err((failed, note))`).
fn actual(analysis: &Analysis, metric: &Metric) -> Result<f64, (bool, String)> {
    let no_data = |note: String| Err((false, note));
    let duration = |v: Option<u64>, note: &str| v.map(|v| v as f64).ok_or((false, note.into()));
    match metric {
        Metric::Anomaly(a) => Ok(analysis.anomalies.count(*a) as f64),
        Metric::E2e(pct) => duration(
            analysis.latency.e2e.get(*pct),
            "no order completed after warm-up",
        ),
        Metric::Hop { from, to, pct } => {
            let hop = format!("{from}->{to}");
            match analysis.latency.hops.get(&hop).and_then(|p| p.get(*pct)) {
                Some(v) => Ok(v as f64),
                None => no_data(format!("no `{hop}` hop was observed after warm-up")),
            }
        }
        Metric::ThroughputMean => analysis
            .throughput
            .mean_per_s
            .ok_or((false, "the load window is empty".into())),
        Metric::LagMax => analysis
            .lag
            .max
            .map(|v| v as f64)
            .ok_or((false, "no lag samples after warm-up".into())),
        Metric::ShortfallDropped => Ok(analysis.shortfall.dropped as f64),
        Metric::ShortfallLate => Ok(analysis.shortfall.late as f64),
        Metric::Errors => Ok(analysis.counts.errors as f64),
        Metric::Rejected => Ok(analysis.counts.rejected as f64),
        Metric::RecoveryMax | Metric::DrainMax => {
            let recovery = *metric == Metric::RecoveryMax;
            if analysis.faults.is_empty() {
                return no_data("the run had no faults".into());
            }
            let mut slowest: u64 = 0;
            for fault in &analysis.faults {
                let (value, missing, never) = if recovery {
                    (
                        fault.recovery_us,
                        fault.steady_p99_us.is_none(),
                        "never recovered",
                    )
                } else {
                    (fault.drain_us, !fault.drain_sampled, "never drained")
                };
                match value {
                    Some(v) => slowest = slowest.max(v),
                    None if missing => {
                        return no_data(format!("fault `{}`: nothing to compare with", fault.id));
                    }
                    None => return Err((true, format!("fault `{}` {never}", fault.id))),
                }
            }
            Ok(slowest as f64)
        }
        Metric::Service { service, name } => {
            let key = format!("{service}.{name}");
            analysis
                .services
                .get(&key)
                .copied()
                .ok_or((false, format!("no samples of `{key}` were scraped")))
        }
    }
}

fn evaluate_one(analysis: &Analysis, threshold: &Threshold) -> ThresholdResult {
    let unit = match threshold.metric.kind() {
        Kind::Count => Unit::Count,
        Kind::Duration => Unit::Us,
        Kind::Rate => Unit::PerS,
    };
    let (actual, status, note) = match actual(analysis, &threshold.metric) {
        Ok(v) if threshold.op.holds(v, threshold.value) => (Some(v), ThresholdStatus::Pass, None),
        Ok(v) => (Some(v), ThresholdStatus::Fail, None),
        Err((true, note)) => (None, ThresholdStatus::Fail, Some(note)),
        Err((false, note)) => (None, ThresholdStatus::NoData, Some(note)),
    };
    ThresholdResult {
        metric: threshold.metric_text.clone(),
        expression: threshold.expression.clone(),
        actual,
        unit,
        status,
        pass: status == ThresholdStatus::Pass,
        note,
    }
}
