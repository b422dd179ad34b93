//! `results.json`: one run's results as one serde type, [`Results`]. The harness writes
//! it, `harness check --json` prints it, the reports render it and the gate reads it;
//! `reports/results.schema.json` is generated from it (`tests/schema.rs`).
//!
//! [`Results::from_analysis`] builds it from what the checker found (pure: the caller
//! passes the run's wall-clock times, command and environment in [`RunInfo`]).
//!
//! **Reading is tolerant.** Only `experiment` and `verdict` are required: every other
//! field defaults when absent, so an interrupted run's partial document, or one written
//! before a field existed, still reads, with "no data" where data is missing. Fields
//! are only ever added; a different layout gets a new `format`.
//!
//! The measured parts are the checker's own types ([`Counts`], [`Percentiles`],
//! [`crate::Second`], [`crate::LagPoint`], [`Shortfall`], [`Expectation`], ...); only
//! where the document has another shape than the analysis is a type defined here:
//! fault windows in seconds ([`FaultWindow`]), anomalies keyed by name, threshold rows
//! ([`ThresholdRow`]), service series ([`Services`]) and the cross-check ([`CrossCount`]).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::analysis::Analysis;
use crate::anomaly::Finding;
use crate::attribution::LostAttribution;
use crate::detect::AnomalyDetails;
use crate::faults::FaultWindowStats;
use crate::history::{DrainEnd, FaultKind, Meta};
use crate::inflight::InFlight;
use crate::measure::{CounterPoint, Counts, LagReport, Latency, Phases, Shortfall, Throughput};
use crate::threshold::{ThresholdResult, ThresholdStatus, Unit};
use crate::verdict::{Decision, Expectation, Verdict};

/// The layout [`Results::from_analysis`] writes.
pub const FORMAT: u32 = 1;

/// results.json of one run (`runs/<experiment>/<timestamp>/results.json`). Reports
/// render from this document alone. Times ending in `_us` are microseconds, `_s`
/// seconds, since the run started. Only `experiment` and `verdict` are required.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "harness run results")]
pub struct Results {
    /// The document's layout (1); absent in documents written before it was numbered. The gate reads only the format it knows.
    #[serde(default)]
    pub format: Option<u32>,
    /// The experiment's name, with the matrix combination (`name[guarantee=...]`).
    pub experiment: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub seed: u64,
    /// Wall-clock start, RFC 3339 (absent from `harness check`: a history has none).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub started_at: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub finished_at: String,
    /// `false` when the run was interrupted (Ctrl-C): partial results. Absent in very
    /// old documents, then `true`.
    #[serde(default = "yes")]
    pub complete: bool,
    /// The command line that produced the run.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub command: String,
    /// Versions of the harness and the lab's services, the machine. Kept as JSON: the
    /// lab's part is its install's versions file, whatever it lists, and readers only
    /// print it or diff it (the gate warns when it differs from the baseline's).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub environment: Value,
    /// The expanded experiment (matrix combination applied), as the harness's
    /// experiment model serializes it. Kept as JSON rather than typed here: that model
    /// belongs to the harness (this crate must not depend on it), readers print it
    /// whole or hash it (the gate's config hash), and only a few fields are read by
    /// name (`system.guarantee`, `system.backend`, `base_name`, `combination`).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub config: Value,
    /// Entries per topic as the tap read them and as an independent reader counted
    /// them (absent when no independent reader ran, e.g. from `harness check`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cross_check: Option<BTreeMap<String, CrossCount>>,
    #[serde(default)]
    pub phases: Option<Phases>,
    /// How long the drain took and how it ended (absent without a `meta` line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drain: Option<Drain>,
    #[serde(default)]
    pub counts: Counts,
    /// Anomaly name (`lost`, `duplicate_delivery`, ...) → count and sample ids. Keyed
    /// by name so that a document with an anomaly this version does not know reads.
    #[serde(default)]
    pub anomalies: BTreeMap<String, Finding>,
    #[serde(default)]
    pub anomaly_details: AnomalyDetails,
    /// Unfinished orders the system had not moved past when the drain ended: neither
    /// lost nor finished. More than zero makes the verdict inconclusive.
    #[serde(default)]
    pub in_flight: InFlight,
    /// Where each lost order went: its last observed step and the dead letter that
    /// holds it, grouped by service and reason (absent in older documents).
    #[serde(default)]
    pub lost_attribution: LostAttribution,
    #[serde(default)]
    pub latency: Latency,
    #[serde(default)]
    pub throughput: Throughput,
    #[serde(default)]
    pub lag: LagReport,
    #[serde(default)]
    pub services: Services,
    #[serde(default)]
    pub shortfall: Shortfall,
    #[serde(default)]
    pub faults: Vec<FaultWindow>,
    #[serde(default)]
    pub thresholds: Vec<ThresholdRow>,
    pub verdict: Decision,
    #[serde(default)]
    pub reasons: Vec<String>,
    /// The guarantee's rules and whether each held.
    #[serde(default)]
    pub expectations: Vec<Expectation>,
}

/// The drain phase: from the end of the load until the tap stopped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Drain {
    pub seconds: f64,
    /// Absent in histories written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended: Option<DrainEnd>,
}

fn yes() -> bool {
    true
}

/// What a run knows besides its analysis: names, wall-clock times, where it ran.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunInfo {
    pub experiment: String,
    pub description: Option<String>,
    pub seed: u64,
    /// RFC 3339; empty when unknown.
    pub started_at: String,
    pub finished_at: String,
    pub complete: bool,
    pub command: String,
    pub environment: Value,
    pub config: Value,
    pub cross_check: Option<BTreeMap<String, CrossCount>>,
}

impl RunInfo {
    /// What a bare history says of its run (`harness check`): the name, seed and
    /// completeness from its `meta` line, `fallback` as the name without one.
    pub fn from_meta(meta: Option<&Meta>, fallback: &str) -> RunInfo {
        RunInfo {
            experiment: meta.map_or_else(|| fallback.to_owned(), |m| m.experiment.clone()),
            seed: meta.map_or(0, |m| m.seed),
            // A run writes its meta line last: a history without one did not end.
            complete: meta.is_some_and(|m| m.complete),
            ..RunInfo::default()
        }
    }
}

/// One topic's entries: read by the tap, and counted by an independent reader
/// (`redis-cli XLEN` on Redis, `kcat` read_committed on Kafka).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct CrossCount {
    pub tap: u64,
    pub independent: u64,
}

/// Scraped service series (retries, dead letters, circuit breaker).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Services {
    /// `"service.name"` → final value summed over instances.
    pub totals: BTreeMap<String, f64>,
    /// `"service.name"` → one point per second.
    pub timeline: BTreeMap<String, Vec<CounterPoint>>,
}

/// One fault window and what it did, in seconds since the run started (the analysis
/// has microseconds: `FaultWindowStats`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FaultWindow {
    #[serde(default)]
    pub id: String,
    pub kind: FaultKind,
    #[serde(default)]
    pub target: String,
    #[serde(default)]
    pub start_s: f64,
    #[serde(default)]
    pub end_s: f64,
    /// Scheduled orders intended within the window.
    #[serde(default)]
    pub orders: u64,
    /// Anomaly name → count among the orders intended in the window.
    #[serde(default)]
    pub anomalies: BTreeMap<String, u64>,
    #[serde(default)]
    pub p99_us: Option<u64>,
    /// The p99 the recovery is judged against (`None`: no steady state before).
    #[serde(default)]
    pub steady_p99_us: Option<u64>,
    /// From the fault's end until back within the steady-state band; `None`: never.
    #[serde(default)]
    pub recovery_s: Option<f64>,
    /// From the fault's end until every group's lag was back to its pre-fault level.
    #[serde(default)]
    pub drain_s: Option<f64>,
    /// End-to-end and per-hop latency of the window's measured orders (each with its
    /// histogram); absent in documents written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<Latency>,
}

impl FaultWindow {
    pub fn of(f: &FaultWindowStats) -> FaultWindow {
        let seconds = |us: u64| us as f64 / 1e6;
        FaultWindow {
            id: f.id.clone(),
            kind: f.kind,
            target: f.target.clone(),
            start_s: seconds(f.start_us),
            end_s: seconds(f.end_us),
            orders: f.orders,
            anomalies: f
                .anomalies
                .findings
                .iter()
                .map(|(a, x)| (a.name().to_owned(), x.count))
                .collect(),
            p99_us: f.p99_e2e_us,
            steady_p99_us: f.steady_p99_us,
            recovery_s: f.recovery_us.map(seconds),
            drain_s: f.drain_us.map(seconds),
            latency: Some(f.latency.clone()),
        }
    }

    /// All anomalies of the window's orders.
    pub fn anomaly_total(&self) -> u64 {
        self.anomalies.values().sum()
    }
}

/// One threshold as the run evaluated it: a `ThresholdResult`, with every field
/// optional on reading (documents written before `unit` and `status` were recorded).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct ThresholdRow {
    pub metric: String,
    pub expression: String,
    /// The measured value in `unit` (`None`: no data, or a fault that never recovered).
    pub actual: Option<f64>,
    pub unit: Option<Unit>,
    /// `pass`, `fail` or `no_data` (absent in older documents: see `pass`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<ThresholdStatus>,
    /// `status == pass`, for tools that only want a boolean.
    pub pass: bool,
    /// Why there is no value, or which fault made it fail.
    pub note: Option<String>,
}

impl From<&ThresholdResult> for ThresholdRow {
    fn from(t: &ThresholdResult) -> ThresholdRow {
        ThresholdRow {
            metric: t.metric.clone(),
            expression: t.expression.clone(),
            actual: t.actual,
            unit: Some(t.unit),
            status: Some(t.status),
            pass: t.pass,
            note: t.note.clone(),
        }
    }
}

impl Results {
    /// The results document of a run: `run`'s fields, then everything measured.
    pub fn from_analysis(
        run: RunInfo,
        analysis: &Analysis,
        thresholds: &[ThresholdResult],
        verdict: &Verdict,
    ) -> Results {
        Results {
            format: Some(FORMAT),
            experiment: run.experiment,
            description: run.description,
            seed: run.seed,
            started_at: run.started_at,
            finished_at: run.finished_at,
            complete: run.complete,
            command: run.command,
            environment: run.environment,
            config: run.config,
            cross_check: run.cross_check,
            phases: Some(analysis.phases),
            drain: (!analysis.phases.derived).then(|| Drain {
                seconds: analysis
                    .phases
                    .drain_end_us
                    .saturating_sub(analysis.phases.load_end_us) as f64
                    / 1e6,
                ended: analysis.phases.drain_ended,
            }),
            counts: analysis.counts.clone(),
            anomalies: analysis
                .anomalies
                .findings
                .iter()
                .map(|(a, f)| (a.name().to_owned(), f.clone()))
                .collect(),
            anomaly_details: analysis.anomaly_details.clone(),
            in_flight: analysis.in_flight.clone(),
            lost_attribution: analysis.lost_attribution.clone(),
            latency: analysis.latency.clone(),
            throughput: analysis.throughput.clone(),
            lag: analysis.lag.clone(),
            services: Services {
                totals: analysis.services.clone(),
                timeline: analysis.services_timeline.clone(),
            },
            shortfall: analysis.shortfall.clone(),
            faults: analysis.faults.iter().map(FaultWindow::of).collect(),
            thresholds: thresholds.iter().map(ThresholdRow::from).collect(),
            verdict: verdict.decision,
            reasons: verdict.reasons.clone(),
            expectations: verdict.expectations.clone(),
        }
    }

    /// Parses a results document.
    pub fn parse(text: &str) -> Result<Results, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// An anomaly's count (0 when absent).
    pub fn anomaly(&self, name: &str) -> u64 {
        self.anomalies.get(name).map_or(0, |f| f.count)
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minimal_document_parses_with_defaults() {
        let r = Results::parse(r#"{"experiment":"x","verdict":"inconclusive"}"#).expect("parse");
        assert_eq!(r.verdict, Decision::Inconclusive);
        assert!(r.complete);
        assert_eq!(r.format, None);
        assert_eq!(r.anomaly("lost"), 0);
        assert_eq!(r.guarantee(), None);
        assert_eq!(r.base_name(), "x");
        assert_eq!(r.combination(), "");
    }

    #[test]
    fn a_document_without_a_verdict_is_an_error() {
        assert!(Results::parse(r#"{"experiment":"x"}"#).is_err());
        assert!(Results::parse(r#"{"verdict":"pass"}"#).is_err());
        assert!(Results::parse("[]").is_err());
    }

    #[test]
    fn config_fields_are_read() {
        let r = Results::parse(
            r#"{"experiment":"k[guarantee=exactly-once]","verdict":"pass",
                "config":{"base_name":"k","system":{"guarantee":"exactly-once","backend":"kafka"},
                          "combination":{"guarantee":"exactly-once","brokers":3}}}"#,
        )
        .expect("parse");
        assert_eq!(r.guarantee(), Some("exactly-once"));
        assert_eq!(r.backend(), Some("kafka"));
        assert_eq!(r.base_name(), "k");
        assert_eq!(r.combination(), "brokers=3,guarantee=exactly-once");
    }

    fn json<T: Serialize>(value: T) -> String {
        serde_json::to_string(&value).expect("serializes")
    }

    #[test]
    fn printed_names_match_serde() {
        use crate::history::FaultKind::*;
        use crate::verdict::ExpectationStatus::*;
        let kinds = [
            Latency, Bandwidth, Timeout, ResetPeer, Slicer, LimitData, Down, Kill, Pause, Restart,
        ];
        for k in kinds {
            assert_eq!(json(k), format!("\"{}\"", k.name()));
        }
        for s in [Held, Broken, NotJudged] {
            assert_eq!(json(s), format!("\"{}\"", s.name()));
        }
        for d in [Decision::Pass, Decision::Fail, Decision::Inconclusive] {
            assert_eq!(json(d), format!("\"{}\"", d.name()));
        }
    }

    #[test]
    fn an_older_threshold_row_reads() {
        let r = Results::parse(
            r#"{"experiment":"x","verdict":"fail",
                "thresholds":[{"metric":"lost","expression":"== 0","actual":3.0,"pass":false}]}"#,
        )
        .expect("parse");
        assert_eq!(r.thresholds[0].unit, None);
        assert_eq!(r.thresholds[0].status, None);
        assert!(!r.thresholds[0].pass);
    }
}
