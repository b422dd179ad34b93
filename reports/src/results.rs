//! `results.json` as typed values: what every renderer reads (schema:
//! `reports/results.schema.json`). Only `experiment` and `verdict` are required;
//! everything else defaults when absent, so a partial (interrupted) run or a document
//! written before a field existed still renders, with "no data" where data is missing.
//!
//! Several types here have the shape of the checker's (`check::Percentiles`,
//! `check::Second`, ...) on purpose: this crate reads the *document*, whatever wrote
//! it, so it neither depends on the checker nor requires every field the checker
//! always writes.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

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

/// One run's results document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Results {
    pub experiment: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub seed: u64,
    #[serde(default)]
    pub started_at: String,
    #[serde(default)]
    pub finished_at: String,
    /// `false` when the run was interrupted; absent in very old documents (then `true`).
    #[serde(default = "yes")]
    pub complete: bool,
    /// The command line that produced the run.
    #[serde(default)]
    pub command: String,
    /// Versions of the harness and the lab's services, the machine.
    #[serde(default)]
    pub environment: Value,
    /// The expanded experiment, kept as JSON: the report prints it whole, and only a
    /// few fields are read (see [`Results::guarantee`]).
    #[serde(default)]
    pub config: Value,
    #[serde(default)]
    pub phases: Option<Phases>,
    #[serde(default)]
    pub counts: Counts,
    #[serde(default)]
    pub anomalies: BTreeMap<String, Finding>,
    #[serde(default)]
    pub latency: Latency,
    #[serde(default)]
    pub throughput: Throughput,
    #[serde(default)]
    pub lag: Lag,
    #[serde(default)]
    pub services: Services,
    #[serde(default)]
    pub faults: Vec<Fault>,
    #[serde(default)]
    pub thresholds: Vec<ThresholdRow>,
    pub verdict: Decision,
    #[serde(default)]
    pub reasons: Vec<String>,
    /// The guarantee's rules and whether each held (one JUnit test case each).
    #[serde(default)]
    pub expectations: Vec<ExpectationRow>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Pass,
    Fail,
    Inconclusive,
}

impl Decision {
    pub fn upper(self) -> &'static str {
        match self {
            Decision::Pass => "PASS",
            Decision::Fail => "FAIL",
            Decision::Inconclusive => "INCONCLUSIVE",
        }
    }

    pub fn lower(self) -> &'static str {
        match self {
            Decision::Pass => "pass",
            Decision::Fail => "fail",
            Decision::Inconclusive => "inconclusive",
        }
    }
}

/// Phase boundaries, microseconds since the run started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Phases {
    pub warmup_end_us: u64,
    pub load_end_us: u64,
    pub drain_end_us: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Counts {
    pub attempted: u64,
    pub sent: u64,
    pub acknowledged: u64,
    pub rejected: u64,
    pub errors: u64,
    pub dropped: u64,
    pub late: u64,
    pub observed: u64,
    pub completed: u64,
    pub events: u64,
}

/// An anomaly's count and a sample of the ids involved.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Finding {
    pub count: u64,
    pub sample: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Percentiles {
    pub count: u64,
    pub p50_us: Option<u64>,
    pub p90_us: Option<u64>,
    pub p99_us: Option<u64>,
    pub p999_us: Option<u64>,
    pub max_us: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Latency {
    pub e2e: Percentiles,
    /// `"Cause->Effect"` → percentiles.
    pub hops: BTreeMap<String, Percentiles>,
}

/// One second of the run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Second {
    pub t_s: u64,
    pub attempted: u64,
    pub acked: u64,
    pub completed: u64,
    /// Of the orders *intended* in this second.
    pub p50_e2e_us: Option<u64>,
    pub p99_e2e_us: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Throughput {
    pub mean_per_s: Option<f64>,
    pub timeline: Vec<Second>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LagPoint {
    pub t_us: u64,
    pub lag: u64,
    pub pending: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Lag {
    pub max: Option<u64>,
    /// Consumer group → samples in time order.
    pub timeline: BTreeMap<String, Vec<LagPoint>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CounterPoint {
    pub t_s: u64,
    pub value: f64,
}

/// Scraped service series (retries, dead letters, circuit breaker).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Services {
    /// `"service.name"` → final value summed over instances.
    pub totals: BTreeMap<String, f64>,
    /// `"service.name"` → one point per second.
    pub timeline: BTreeMap<String, Vec<CounterPoint>>,
}

/// One fault window and what it did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Fault {
    pub id: String,
    pub kind: String,
    pub target: String,
    pub start_s: f64,
    pub end_s: f64,
    /// Anomaly name → count among the orders intended in the window.
    pub anomalies: BTreeMap<String, u64>,
    pub p99_us: Option<u64>,
    pub steady_p99_us: Option<u64>,
    pub recovery_s: Option<f64>,
    pub drain_s: Option<f64>,
}

impl Fault {
    pub fn anomaly_total(&self) -> u64 {
        self.anomalies.values().sum()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ThresholdRow {
    pub metric: String,
    pub expression: String,
    pub actual: Option<f64>,
    /// `us`, `per_s` or `count` (how to print `actual`).
    pub unit: Option<String>,
    pub pass: bool,
    pub note: Option<String>,
}

/// One rule of the guarantee (`lost == 0`) and whether it held.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExpectationRow {
    pub rule: String,
    pub anomaly: String,
    pub actual: u64,
    /// Whether breaking it fails the run under this guarantee.
    pub required: bool,
    /// `held`, `broken` or `not_judged`.
    pub status: String,
}

impl ThresholdRow {
    /// `actual` in the unit people read: milliseconds, per second, or a count.
    pub fn actual_text(&self) -> String {
        match (self.actual, self.unit.as_deref()) {
            (None, _) => "no data".into(),
            (Some(v), Some("us")) => format!("{:.1} ms", v / 1000.0),
            (Some(v), Some("per_s")) => format!("{v:.1}/s"),
            (Some(v), _) => format!("{v}"),
        }
    }
}

impl Results {
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

    pub fn parse(text: &str) -> Result<Results, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// An anomaly's count (0 when absent).
    pub fn anomaly(&self, name: &str) -> u64 {
        self.anomalies.get(name).map_or(0, |f| f.count)
    }

    /// The anomalies in report order: the known ones, then any others the document has.
    pub fn anomaly_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = ANOMALIES.to_vec();
        names.extend(
            self.anomalies
                .keys()
                .map(String::as_str)
                .filter(|k| !ANOMALIES.contains(k)),
        );
        names
    }

    /// The processing guarantee the system ran with (`config.system.guarantee`).
    pub fn guarantee(&self) -> Option<&str> {
        self.config.pointer("/system/guarantee")?.as_str()
    }

    /// The backend (`config.system.backend`).
    pub fn backend(&self) -> Option<&str> {
        self.config.pointer("/system/backend")?.as_str()
    }

    /// The experiment file's name as written, without the matrix combination.
    pub fn base_name(&self) -> &str {
        self.config
            .pointer("/base_name")
            .and_then(Value::as_str)
            .unwrap_or(&self.experiment)
    }

    /// The matrix combination as `key=value,...` (empty without a matrix).
    pub fn combination(&self) -> String {
        match self.config.pointer("/combination") {
            Some(Value::Object(map)) => map
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => format!("{k}={s}"),
                    other => format!("{k}={other}"),
                })
                .collect::<Vec<_>>()
                .join(","),
            _ => String::new(),
        }
    }

    /// Harness, service and machine versions as `name version` pairs, flattened.
    pub fn environment_rows(&self) -> Vec<(String, String)> {
        let mut rows = Vec::new();
        flatten("", &self.environment, &mut rows);
        rows
    }
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
    fn a_minimal_document_parses_with_defaults() {
        let r = Results::parse(r#"{"experiment":"x","verdict":"inconclusive"}"#).expect("parse");
        assert_eq!(r.verdict, Decision::Inconclusive);
        assert!(r.complete);
        assert_eq!(r.anomaly("lost"), 0);
        assert_eq!(r.guarantee(), None);
        assert_eq!(r.base_name(), "x");
        assert_eq!(r.combination(), "");
        assert!(r.environment_rows().is_empty());
    }

    #[test]
    fn a_document_without_a_verdict_is_an_error() {
        assert!(Results::parse(r#"{"experiment":"x"}"#).is_err());
        assert!(Results::parse("[]").is_err());
    }

    #[test]
    fn config_fields_are_read() {
        let r = Results::parse(
            r#"{"experiment":"k[guarantee=exactly-once]","verdict":"pass",
                "config":{"base_name":"k","system":{"guarantee":"exactly-once","backend":"kafka"},
                          "combination":{"guarantee":"exactly-once","brokers":3}},
                "environment":{"harness":"0.1.0","lab":{"redis":"7.0"},"cpus":2}}"#,
        )
        .expect("parse");
        assert_eq!(r.guarantee(), Some("exactly-once"));
        assert_eq!(r.backend(), Some("kafka"));
        assert_eq!(r.base_name(), "k");
        assert_eq!(r.combination(), "brokers=3,guarantee=exactly-once");
        assert_eq!(
            r.environment_rows(),
            vec![
                ("cpus".to_string(), "2".to_string()),
                ("harness".into(), "0.1.0".into()),
                ("lab.redis".into(), "7.0".into())
            ]
        );
    }
}
