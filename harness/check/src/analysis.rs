//! [`analyze`]: a history in, one serializable [`Analysis`] out. Reports render it,
//! thresholds read it, the verdict judges it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::anomaly::{Anomaly, AnomalyReport};
use crate::attribution::{LostAttribution, attribute};
use crate::detect::{AnomalyDetails, detect, report};
use crate::faults::{Band, FaultWindowStats, fault_windows};
use crate::history::History;
use crate::index::Index;
use crate::inflight::InFlight;
use crate::measure::{
    self, CounterPoint, Counts, LagReport, Latency, Phases, Shortfall, Throughput,
};

/// The knobs of an analysis. [`Default`] gives the documented values. A run records
/// the options it used in its history's `meta` line (every field optional there, the
/// default when left out), so a re-analysis judges by the same rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnalysisOptions {
    /// A send leaving more than this after its intended time is late (default 10 ms).
    pub late_after_us: u64,
    /// An effect up to this long before its cause is not an ordering violation
    /// (default 0): compared by the producers' times (`produced_us`) when both lines
    /// carry one, else by the times they were first observed. The tap reads topics
    /// concurrently and can fall behind on one, so observation times alone need this
    /// bound; producer times need it only for producers whose clocks differ.
    pub causality_slack_us: u64,
    /// Recovery band factor over the steady p99 (default 1.5).
    pub recovery_factor: f64,
    /// Recovery band margin over the steady p99 (default 50 ms); the band's upper edge
    /// is the larger of the two.
    pub recovery_margin_us: u64,
    /// The event types that end an order (an order's first one is its terminal event,
    /// the end of its end-to-end latency). Empty: the catalog's
    /// ([`crate::TERMINAL_TYPES`]: `OrderShipped`, `OrderCancelled`). A system measured
    /// as an external platform names its own (`[system.external] terminal_types`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub terminal_types: Vec<String>,
    /// The system's own final state was not read (an external platform: the harness
    /// cannot read its payment ledger or inventory), so gateway double charges and the
    /// stock invariants are not checked; the verdict says so.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub final_state_unread: bool,
}

impl AnalysisOptions {
    /// Whether `event_type` ends an order under these options.
    pub fn is_terminal(&self, event_type: &str) -> bool {
        if self.terminal_types.is_empty() {
            crate::index::is_terminal(event_type)
        } else {
            self.terminal_types.iter().any(|t| t == event_type)
        }
    }
}

impl Default for AnalysisOptions {
    fn default() -> Self {
        AnalysisOptions {
            late_after_us: 10_000,
            causality_slack_us: 0,
            recovery_factor: 1.5,
            recovery_margin_us: 50_000,
            terminal_types: Vec::new(),
            final_state_unread: false,
        }
    }
}

/// Everything the checker found and measured in one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    /// The phase boundaries used (from `meta`, or derived without it).
    pub phases: Phases,
    pub counts: Counts,
    pub anomalies: AnomalyReport,
    pub anomaly_details: AnomalyDetails,
    /// Unfinished orders the system had not moved past when the drain ended: neither
    /// lost nor finished ([`crate::inflight`]).
    #[serde(default)]
    pub in_flight: InFlight,
    pub latency: Latency,
    pub throughput: Throughput,
    pub lag: LagReport,
    pub faults: Vec<FaultWindowStats>,
    pub shortfall: Shortfall,
    /// Scraped service counters, `"service.name"` → last value summed over instances
    /// (retries, dead letters, breaker transitions...).
    pub services: BTreeMap<String, f64>,
    /// The same series per second (retries, dead letters, breaker state over time),
    /// for the report's timeline chart.
    #[serde(default)]
    pub services_timeline: BTreeMap<String, Vec<CounterPoint>>,
    /// Where each lost order went: its last step and the dead letter holding it.
    #[serde(default)]
    pub lost_attribution: LostAttribution,
}

/// Analyses a recorded history. Pure and deterministic: the same history and options
/// always give the same analysis. Runs the streaming checker ([`crate::stream`]) over
/// the history held in memory.
pub fn analyze(history: &History, options: &AnalysisOptions) -> Analysis {
    crate::stream::analyze_history(history, options)
}

/// The checker before [`crate::stream`]: every rule over one index of the whole
/// history held in memory (about 1.4 KB per observation). Kept, until it is removed,
/// as the reference the streaming checker must agree with on every history
/// (`tests/stream_equivalence.rs`).
pub fn analyze_reference(history: &History, options: &AnalysisOptions) -> Analysis {
    let index = Index::new(history, options);
    let phases = Phases::of(history);
    let (occurrences, anomaly_details, in_flight) =
        detect(history, &index, &phases, options.causality_slack_us);
    let lost: Vec<&str> = occurrences
        .iter()
        .filter(|o| o.anomaly == Anomaly::Lost)
        .filter_map(|o| o.order.as_deref())
        .collect();
    let lost_attribution = attribute(history, &lost);
    let throughput = measure::throughput(history, &index, &phases);
    let faults = fault_windows(
        history,
        &index,
        &phases,
        &occurrences,
        &throughput.timeline,
        Band {
            factor: options.recovery_factor,
            margin_us: options.recovery_margin_us,
        },
    );
    Analysis {
        phases,
        counts: measure::counts(history, &index, &phases, options.late_after_us),
        anomalies: report(&occurrences),
        anomaly_details,
        in_flight,
        latency: measure::latency(&index, &phases),
        throughput,
        lag: measure::lag(history, &phases),
        faults,
        shortfall: measure::shortfall(history, &phases, options.late_after_us),
        services: measure::services(history),
        services_timeline: measure::services_timeline(history),
        lost_attribution,
    }
}
