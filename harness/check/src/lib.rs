//! Pure analysis of what a run observed. No clock, no file, no socket, no async:
//! values in, values out, so every rule here is tested on literal histories.
//!
//! The pipeline, each step a plain function:
//!
//! ```text
//! history.jsonl ──History::from_jsonl──► History ──analyze──► Analysis ──evaluate(thresholds)──► Vec<ThresholdResult>
//!                                                                  └──────────── verdict(meta, analysis, results) ──► Verdict
//! RunInfo × Analysis × thresholds × Verdict ──Results::from_analysis──► Results (results.json)
//! ```
//!
//! ```
//! use check::{AnalysisOptions, Decision, History, analyze, evaluate, parse_threshold, verdict};
//!
//! let history = History::from_jsonl(r#"{"kind":"send","order_id":"o-1","intended_us":0,"sent_us":10,"acked_us":900,"outcome":"acked","error":null}"#).unwrap();
//! let analysis = analyze(&history, &AnalysisOptions::default());
//! assert_eq!(analysis.anomalies.count(check::Anomaly::Lost), 1);
//! let results = evaluate(&analysis, &[parse_threshold("lost", "== 0").unwrap()]);
//! let verdict = verdict(history.meta.as_ref(), &analysis, &results);
//! assert_eq!(verdict.decision, Decision::Fail);
//! ```
//!
//! Modules:
//! - [`history`]: the recorded history, its JSONL format (documented there) and reader.
//! - [`anomaly`]: the named anomalies a verdict counts (lost, duplicate_delivery, ...),
//!   each with a count and a sample of ids.
//! - [`detect`]: the rules that find anomalies, with their exact counting.
//! - [`inflight`]: when an unfinished order is lost and when it is still in flight.
//! - [`measure`]: counts, latency, throughput timeline, lag, shortfall, service counters.
//! - [`attribution`]: where each lost order went — its last observed step and the dead
//!   letter that holds it ([`LostAttribution`]).
//! - [`faults`]: per fault window: anomalies, p99, time to recover and to drain.
//! - [`stats`]: HdrHistogram percentiles, the histogram's text form in results.json
//!   and the percentile spectrum read from it.
//! - [`analysis`]: [`analyze`], tying the above into one serializable [`Analysis`].
//! - [`threshold`]: the threshold grammar, its parser and [`evaluate`].
//! - [`verdict`](mod@verdict): each guarantee's expectations and the [`verdict()`] function.
//! - [`results`](mod@results): `results.json` as one type, [`Results`], built from an
//!   analysis by [`Results::from_analysis`]; everyone writes and reads it through this
//!   type, and `reports/results.schema.json` is generated from it.
//! - [`gate`]: repeated trials against a baseline — correctness absolute, performance
//!   by bootstrap interval against a tolerance band — and the baseline file format.
//! - [`stream`]: the streaming checker — a history judged line by line in memory that
//!   follows the keys still open; [`stream::check_reader`] judges a file in bounded
//!   memory.
//! - [`synth`]: a streamed generator of large clean histories, for benchmarks.
//! - `index` (private): orders and first observations, shared by the rules.

pub mod analysis;
pub mod anomaly;
pub mod attribution;
pub mod detect;
pub mod faults;
pub mod gate;
pub mod history;
mod index;
pub mod inflight;
pub mod measure;
pub mod merge;
pub mod results;
pub mod stats;
pub mod stream;
pub mod synth;
pub mod threshold;
pub mod verdict;

pub use analysis::{Analysis, AnalysisOptions, analyze, analyze_reference};
pub use anomaly::{Anomaly, AnomalyReport, Finding};
pub use attribution::{DeadLetterGroup, LostAttribution, LostOrder};
pub use detect::AnomalyDetails;
pub use faults::FaultWindowStats;
pub use history::{
    Backend, Charge, DeadLetterRecord, DrainEnd, FaultKind, FaultRecord, GroupPosition, Guarantee,
    History, HistoryError, LagSample, Line, LineParser, Loaded, Meta, MetricSample, Observation,
    RecordedThreshold, SendOutcome, SendRecord, StockLine, TruncatedTail,
};
pub use index::{KNOWN_TYPES, STEP_TYPES, TERMINAL_TYPES};
pub use inflight::{Backlog, InFlight, TAP_GROUP};
pub use measure::{
    CounterPoint, Counts, LagPoint, LagReport, Latency, Phases, Second, Shortfall, Throughput,
};
pub use results::{CrossCount, Drain, FaultWindow, Results, RunInfo, Services, ThresholdRow};
pub use stats::{HistogramError, Pct, Percentiles, SpectrumPoint, spectrum};
pub use threshold::{
    Metric, Op, Part, Quantity, Threshold, ThresholdError, ThresholdResult, ThresholdStatus, Unit,
    evaluate, parse_threshold,
};
pub use verdict::{Decision, Expectation, ExpectationStatus, Verdict, expectations_for, verdict};
