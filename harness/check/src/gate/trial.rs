//! What the gate reads of a run: one [`Trial`] per `results.json`, and a [`TrialSet`]
//! of repeated trials of one experiment (the current run, or a baseline).
//!
//! Reading is pure: a parsed [`Results`] in, a trial out. The caller reads the files
//! and names them (the `label`), so errors can point at the file.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::metric::METRICS;
use crate::results::{FORMAT, FaultWindow, Results};
use crate::threshold::Unit;
use crate::verdict::{Decision, ExpectationStatus};

/// A `results.json` the gate cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrialError {
    #[error("{label}: `{field}` is missing or not {expected}")]
    Field {
        label: String,
        field: String,
        expected: &'static str,
    },
    #[error("{label}: results format {found} is not one this harness reads ({FORMAT})")]
    Format { label: String, found: String },
    #[error("no trials to read")]
    Empty,
    #[error(
        "{first} is experiment `{first_name}` but {other} is `{other_name}`: trials must repeat one experiment"
    )]
    MixedExperiments {
        first: String,
        first_name: String,
        other: String,
        other_name: String,
    },
    #[error(
        "{first} and {other} ran different configurations (config hash {first_hash} vs {other_hash}): trials must repeat one experiment"
    )]
    MixedConfigs {
        first: String,
        first_hash: String,
        other: String,
        other_hash: String,
    },
}

/// One anomaly of a trial: its count and whether the run's guarantee requires it to be 0.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnomalyCount {
    pub count: u64,
    /// From the run's expectations: a required rule fails the run when broken.
    pub required: bool,
    pub status: ExpectationStatus,
}

/// One threshold of a trial, as its run evaluated it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdOutcome {
    pub metric: String,
    pub expression: String,
    pub actual: Option<f64>,
    /// The unit of `actual` (absent in baselines saved before it was recorded).
    #[serde(default)]
    pub unit: Option<Unit>,
    pub pass: bool,
}

/// The numbers the gate needs from one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    /// Where it came from (a path, or `trial-2`), for messages.
    pub label: String,
    /// False when the run was interrupted: the gate does not judge such a trial.
    pub complete: bool,
    pub verdict: Decision,
    /// Performance metric name ([`METRICS`]) → value; absent when the run had none.
    pub metrics: BTreeMap<String, f64>,
    /// Anomaly name → count and expectation.
    pub anomalies: BTreeMap<String, AnomalyCount>,
    pub thresholds: Vec<ThresholdOutcome>,
    /// Orders sent and orders the load generator sent late (`counts.sent`,
    /// `counts.late`): many late sends mean the machine was too busy to keep the
    /// schedule, and the trial's latencies say more about the machine than the system.
    #[serde(default)]
    pub sent: u64,
    #[serde(default)]
    pub late: u64,
}

/// Repeated trials of one experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialSet {
    pub experiment: String,
    /// [`config_hash`] of the trials' `config`: equal hashes, same experiment settings.
    pub config_hash: String,
    /// The first trial's `environment` (versions, machine), to warn when it differs.
    pub environment: Value,
    pub trials: Vec<Trial>,
}

fn bad(label: &str, field: &str, expected: &'static str) -> TrialError {
    TrialError::Field {
        label: label.to_owned(),
        field: field.to_owned(),
        expected,
    }
}

/// A measured number, if it is one (a non-finite value is no measurement).
fn finite(v: Option<f64>) -> Option<f64> {
    v.filter(|v| v.is_finite())
}

impl Trial {
    /// Reads one run's results (schema: reports/results.schema.json). `label` names
    /// the document in errors. A document of another format, or without the
    /// guarantee's rules (`expectations`), is refused: the gate would judge nothing.
    pub fn from_results(label: &str, doc: &Results) -> Result<Trial, TrialError> {
        if doc.format != Some(FORMAT) {
            return Err(TrialError::Format {
                label: label.to_owned(),
                found: doc.format.map_or("(missing)".into(), |f| f.to_string()),
            });
        }
        let e2e = &doc.latency.e2e;
        // A fault that never recovered or drained has no value: the metric is then not
        // measured for this trial (its threshold, if any, failed).
        let slowest = |value: fn(&FaultWindow) -> Option<f64>| {
            doc.faults
                .iter()
                .map(|f| finite(value(f)))
                .collect::<Option<Vec<f64>>>()
                .filter(|v| !v.is_empty())
                .map(|v| v.into_iter().fold(f64::MIN, f64::max))
        };
        let us = |v: Option<u64>| v.map(|v| v as f64);
        let mut metrics = BTreeMap::new();
        for spec in METRICS {
            let value = match spec.name {
                "throughput.mean" => finite(doc.throughput.mean_per_s),
                "latency.e2e.p50" => us(e2e.p50_us),
                "latency.e2e.p90" => us(e2e.p90_us),
                "latency.e2e.p99" => us(e2e.p99_us),
                "latency.e2e.p99.9" => us(e2e.p999_us),
                "lag.max" => us(doc.lag.max),
                "recovery.max" => slowest(|f| f.recovery_s),
                "drain.max" => slowest(|f| f.drain_s),
                _ => None,
            };
            // Latency percentiles of an empty histogram are not a measurement.
            let empty = spec.name.starts_with("latency.") && e2e.count == 0;
            if let (Some(v), false) = (value, empty) {
                metrics.insert(spec.name.to_owned(), v);
            }
        }

        if doc.expectations.is_empty() {
            return Err(bad(
                label,
                "expectations",
                "a list of the guarantee's rules (every finished run has them)",
            ));
        }
        // The rule's count (it differs from the anomaly's only for duplicate_delivery,
        // whose rule leaves OrderPlaced out).
        let anomalies = doc
            .expectations
            .iter()
            .map(|e| {
                (
                    e.anomaly.name().to_owned(),
                    AnomalyCount {
                        count: e.actual,
                        required: e.required,
                        status: e.status,
                    },
                )
            })
            .collect();
        let thresholds = doc
            .thresholds
            .iter()
            .map(|t| ThresholdOutcome {
                metric: t.metric.clone(),
                expression: t.expression.clone(),
                actual: t.actual,
                unit: t.unit,
                pass: t.pass,
            })
            .collect();

        Ok(Trial {
            label: label.to_owned(),
            complete: doc.complete,
            verdict: doc.verdict,
            metrics,
            anomalies,
            thresholds,
            sent: doc.counts.sent,
            late: doc.counts.late,
        })
    }
}

impl TrialSet {
    /// Reads repeated trials: `(label, results)` each. Every trial must be the same
    /// experiment with the same configuration.
    pub fn from_results(documents: &[(String, Results)]) -> Result<TrialSet, TrialError> {
        let (first_label, first) = documents.first().ok_or(TrialError::Empty)?;
        let hash = |label: &str, doc: &Results| {
            if doc.config.is_object() {
                Ok(config_hash(&doc.config))
            } else {
                Err(bad(label, "config", "an object (the expanded experiment)"))
            }
        };
        let experiment = first.experiment.clone();
        let config = hash(first_label, first)?;
        let mut trials = Vec::new();
        for (label, doc) in documents {
            if doc.experiment != experiment {
                return Err(TrialError::MixedExperiments {
                    first: first_label.clone(),
                    first_name: experiment,
                    other: label.clone(),
                    other_name: doc.experiment.clone(),
                });
            }
            let other_hash = hash(label, doc)?;
            if other_hash != config {
                return Err(TrialError::MixedConfigs {
                    first: first_label.clone(),
                    first_hash: config,
                    other: label.clone(),
                    other_hash,
                });
            }
            trials.push(Trial::from_results(label, doc)?);
        }
        Ok(TrialSet {
            experiment,
            config_hash: config,
            environment: first.environment.clone(),
            trials,
        })
    }
}

/// A stable hash of an experiment's expanded `config`: FNV-1a (64 bits, hex) of its
/// JSON with object keys sorted, leaving out `origin` (the path the file was read from).
pub fn config_hash(config: &Value) -> String {
    let mut text = String::new();
    canonical(config, true, &mut text);
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

fn canonical(value: &Value, top: bool, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().filter(|k| !(top && *k == "origin")).collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                canonical(&map[key], false, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(item, false, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// The leaves of two `environment` values that differ, as `path: a → b`.
pub fn environment_differences(baseline: &Value, current: &Value) -> Vec<String> {
    let mut out = Vec::new();
    diff("", baseline, current, &mut out);
    out
}

fn diff(path: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                let sub = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                diff(
                    &sub,
                    x.get(key).unwrap_or(&Value::Null),
                    y.get(key).unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        _ if a != b => out.push(format!("{path}: {a} → {b}")),
        _ => {}
    }
}
