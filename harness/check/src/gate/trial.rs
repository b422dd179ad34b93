//! What the gate reads of a run: one [`Trial`] per `results.json`, and a [`TrialSet`]
//! of repeated trials of one experiment (the current run, or a baseline).
//!
//! Reading is pure: a parsed JSON value in, a trial out. The caller reads the files and
//! names them (the `label`), so errors can point at the file.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::metric::METRICS;
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
    #[error("{label}: results format {found} is not one this harness reads (1)")]
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

fn field<'a>(
    doc: &'a Value,
    label: &str,
    path: &str,
    expected: &'static str,
) -> Result<&'a Value, TrialError> {
    let pointer = format!("/{}", path.replace('.', "/"));
    doc.pointer(&pointer).ok_or_else(|| TrialError::Field {
        label: label.to_owned(),
        field: path.to_owned(),
        expected,
    })
}

fn number(doc: &Value, path: &str) -> Option<f64> {
    doc.pointer(&format!("/{}", path.replace('.', "/")))
        .and_then(Value::as_f64)
        .filter(|v| v.is_finite())
}

fn bad(label: &str, field: &str, expected: &'static str) -> TrialError {
    TrialError::Field {
        label: label.to_owned(),
        field: field.to_owned(),
        expected,
    }
}

impl Trial {
    /// Reads a parsed `results.json` (schema: reports/results.schema.json).
    pub fn from_results(label: &str, doc: &Value) -> Result<Trial, TrialError> {
        let format = field(doc, label, "format", "a number")?;
        if format.as_u64() != Some(1) {
            return Err(TrialError::Format {
                label: label.to_owned(),
                found: format.to_string(),
            });
        }
        let complete = field(doc, label, "complete", "a boolean")?
            .as_bool()
            .ok_or_else(|| bad(label, "complete", "a boolean"))?;
        let verdict = match field(doc, label, "verdict", "a string")?.as_str() {
            Some("pass") => Decision::Pass,
            Some("fail") => Decision::Fail,
            Some("inconclusive") => Decision::Inconclusive,
            _ => return Err(bad(label, "verdict", "pass, fail or inconclusive")),
        };

        let mut metrics = BTreeMap::new();
        let e2e = field(doc, label, "latency.e2e", "an object")?;
        let faults = field(doc, label, "faults", "an array")?
            .as_array()
            .ok_or_else(|| bad(label, "faults", "an array"))?;
        let slowest = |key: &str| {
            faults
                .iter()
                .map(|f| number(f, key))
                .collect::<Option<Vec<f64>>>()
                .filter(|v| !v.is_empty())
                .map(|v| v.into_iter().fold(f64::MIN, f64::max))
        };
        for spec in METRICS {
            let value = match spec.name {
                "throughput.mean" => number(doc, "throughput.mean_per_s"),
                "latency.e2e.p50" => number(e2e, "p50_us"),
                "latency.e2e.p90" => number(e2e, "p90_us"),
                "latency.e2e.p99" => number(e2e, "p99_us"),
                "latency.e2e.p99.9" => number(e2e, "p999_us"),
                "lag.max" => number(doc, "lag.max"),
                // A fault that never recovered or drained has no value: the metric is
                // then not measured for this trial (its threshold, if any, failed).
                "recovery.max" => slowest("recovery_s"),
                "drain.max" => slowest("drain_s"),
                _ => None,
            };
            // Latency percentiles of an empty histogram are 0: not a measurement.
            let empty = spec.name.starts_with("latency.") && number(e2e, "count") == Some(0.0);
            if let (Some(v), false) = (value, empty) {
                metrics.insert(spec.name.to_owned(), v);
            }
        }

        let expectations = field(doc, label, "expectations", "an array")?
            .as_array()
            .ok_or_else(|| bad(label, "expectations", "an array"))?;
        let mut anomalies = BTreeMap::new();
        for (i, e) in expectations.iter().enumerate() {
            let at = |name: &str| format!("expectations.{i}.{name}");
            let name = e["anomaly"]
                .as_str()
                .ok_or_else(|| TrialError::Field {
                    label: label.to_owned(),
                    field: at("anomaly"),
                    expected: "a string",
                })?
                .to_owned();
            let status: ExpectationStatus =
                serde_json::from_value(e["status"].clone()).map_err(|_| TrialError::Field {
                    label: label.to_owned(),
                    field: at("status"),
                    expected: "held, broken or not_judged",
                })?;
            // The anomaly's own count, else the rule's (they differ only for
            // duplicate_delivery, whose rule leaves OrderPlaced out).
            let count = e["actual"].as_u64().ok_or_else(|| TrialError::Field {
                label: label.to_owned(),
                field: at("actual"),
                expected: "a count",
            })?;
            anomalies.insert(
                name,
                AnomalyCount {
                    count,
                    required: e["required"].as_bool().unwrap_or(true),
                    status,
                },
            );
        }

        let thresholds = field(doc, label, "thresholds", "an array")?
            .as_array()
            .ok_or_else(|| bad(label, "thresholds", "an array"))?
            .iter()
            .enumerate()
            .map(|(i, t)| {
                Ok(ThresholdOutcome {
                    metric: t["metric"].as_str().unwrap_or_default().to_owned(),
                    expression: t["expression"].as_str().unwrap_or_default().to_owned(),
                    actual: t["actual"].as_f64(),
                    unit: serde_json::from_value(t["unit"].clone()).ok(),
                    pass: t["pass"].as_bool().ok_or_else(|| TrialError::Field {
                        label: label.to_owned(),
                        field: format!("thresholds.{i}.pass"),
                        expected: "a boolean",
                    })?,
                })
            })
            .collect::<Result<Vec<_>, TrialError>>()?;

        Ok(Trial {
            label: label.to_owned(),
            complete,
            verdict,
            metrics,
            anomalies,
            thresholds,
            sent: number(doc, "counts.sent").map_or(0, |v| v as u64),
            late: number(doc, "counts.late").map_or(0, |v| v as u64),
        })
    }
}

impl TrialSet {
    /// Reads repeated trials: `(label, parsed results.json)` each. Every trial must be
    /// the same experiment with the same configuration.
    pub fn from_results(documents: &[(String, Value)]) -> Result<TrialSet, TrialError> {
        let (first_label, first) = documents.first().ok_or(TrialError::Empty)?;
        let name = |label: &str, doc: &Value| {
            field(doc, label, "experiment", "a string")?
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| bad(label, "experiment", "a string"))
        };
        let experiment = name(first_label, first)?;
        let hash =
            |label: &str, doc: &Value| field(doc, label, "config", "an object").map(config_hash);
        let config = hash(first_label, first)?;
        let mut trials = Vec::new();
        for (label, doc) in documents {
            let other = name(label, doc)?;
            if other != experiment {
                return Err(TrialError::MixedExperiments {
                    first: first_label.clone(),
                    first_name: experiment,
                    other: label.clone(),
                    other_name: other,
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
            environment: first.get("environment").cloned().unwrap_or(Value::Null),
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
