//! Per fault window: which anomalies its orders suffered, how slow they were, how long
//! the system took to get back to normal, and how long to work off the backlog.
//!
//! - **Orders of a window**: scheduled orders with `start_us <= intended_us <= end_us`.
//!   Anomalies that belong to no scheduled order (phantoms, stock lines) are in no
//!   window.
//! - **p99 during the window**: exact p99 end-to-end latency of the window's measured
//!   orders that completed (lost orders have no latency; they are in `anomalies`).
//! - **Steady state**: the measured orders intended in whole seconds after warm-up,
//!   before the fault's start, and not overlapping any fault window. Its exact p99 is
//!   `steady_p99_us`.
//! - **Band**: a second is within the steady-state band when its p99 end-to-end latency
//!   (orders intended in that second, [`crate::Second::p99_e2e_us`]) is at most
//!   `max(steady_p99 × recovery_factor, steady_p99 + recovery_margin_us)` — by default
//!   `max(1.5 × steady, steady + 50 ms)`: the factor for slow systems, the margin so a
//!   1 ms steady state does not demand 1.5 ms after a broker restart.
//! - **Recovery**: from `end_us` to the start of the first whole second at or after
//!   `end_us`, before the load ended, whose p99 is within the band. `None` when no such
//!   second exists (never recovered, load ended first, or no steady state to compare
//!   with: see `steady_p99_us`).
//! - **Drain**: per consumer group, from `end_us` to the first lag sample at or after
//!   `end_us` whose lag is at most that group's highest lag between warm-up and the
//!   fault's start (0 without such samples); the window's drain is the slowest group's.
//!   Groups without samples after `end_us` are ignored; `None` when some group never
//!   drains or no group was sampled after `end_us`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::anomaly::AnomalyReport;
use crate::detect::{Occurrence, report};
use crate::history::{FaultKind, FaultRecord, History};
use crate::index::Index;
use crate::inflight::TAP_GROUP;
use crate::measure::{Latency, Phases, SECOND_US, Second, latency_within};
use crate::stats::p99_exact;

/// Everything the report says about one fault window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultWindowStats {
    pub id: String,
    pub kind: FaultKind,
    pub target: String,
    pub start_us: u64,
    pub end_us: u64,
    /// Scheduled orders intended within the window.
    pub orders: u64,
    /// Anomalies of those orders.
    pub anomalies: AnomalyReport,
    pub p99_e2e_us: Option<u64>,
    /// The p99 the recovery is judged against (`None`: no steady state before).
    pub steady_p99_us: Option<u64>,
    /// Upper edge of the steady-state band.
    pub band_us: Option<u64>,
    /// Time from `end_us` until back within the band.
    pub recovery_us: Option<u64>,
    /// Time from `end_us` until every group's lag was back to its pre-fault level.
    pub drain_us: Option<u64>,
    /// Some group's lag was sampled after `end_us`: when `false`, a `None` drain means
    /// "no data" rather than "never drained".
    pub drain_sampled: bool,
    /// End-to-end and per-hop latency of the window's measured orders, with their
    /// histograms: what the fault did to each hop.
    #[serde(default)]
    pub latency: Latency,
}

/// The knobs of the recovery band (from [`crate::AnalysisOptions`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Band {
    pub factor: f64,
    pub margin_us: u64,
}

impl Band {
    pub fn upper(&self, steady_us: u64) -> u64 {
        let scaled = (steady_us as f64 * self.factor).round();
        let scaled = if scaled.is_finite() && scaled < u64::MAX as f64 {
            scaled as u64
        } else {
            u64::MAX
        };
        scaled.max(steady_us.saturating_add(self.margin_us))
    }
}

pub(crate) fn fault_windows(
    history: &History,
    index: &Index<'_>,
    phases: &Phases,
    occurrences: &[Occurrence],
    timeline: &[Second],
    band: Band,
) -> Vec<FaultWindowStats> {
    let by_second: BTreeMap<u64, &Second> = timeline.iter().map(|s| (s.t_s, s)).collect();
    history
        .faults
        .iter()
        .map(|fault| {
            let inside = |t: u64| t >= fault.start_us && t <= fault.end_us;
            let orders: Vec<_> = index
                .orders
                .iter()
                .filter(|o| inside(o.intended_us))
                .collect();
            let anomalies = report(occurrences.iter().filter(|o| {
                o.order
                    .as_deref()
                    .and_then(|id| index.order(id))
                    .is_some_and(|order| inside(order.intended_us))
            }));
            let mut during: Vec<u64> = orders
                .iter()
                .filter(|o| phases.measured(o.intended_us))
                .filter_map(|o| o.e2e_us())
                .collect();
            let steady_p99_us = steady_p99(history, index, phases, fault);
            let band_us = steady_p99_us.map(|s| band.upper(s));
            let recovery_us = band_us.and_then(|b| recovery(fault, phases, &by_second, b));
            let (drain_us, drain_sampled) = drain(history, phases, fault);
            FaultWindowStats {
                id: fault.id.clone(),
                kind: fault.kind,
                target: fault.target.clone(),
                start_us: fault.start_us,
                end_us: fault.end_us,
                orders: orders.len() as u64,
                anomalies,
                p99_e2e_us: p99_exact(&mut during),
                steady_p99_us,
                band_us,
                recovery_us,
                drain_us,
                drain_sampled,
                latency: latency_within(index, phases, inside),
            }
        })
        .collect()
}

fn steady_p99(
    history: &History,
    index: &Index<'_>,
    phases: &Phases,
    fault: &FaultRecord,
) -> Option<u64> {
    let mut values: Vec<u64> = index
        .orders
        .iter()
        .filter(|o| steady_second(phases, &history.faults, fault, o.intended_us / SECOND_US))
        .filter_map(|o| o.e2e_us())
        .collect();
    p99_exact(&mut values)
}

/// Whether second `t_s` is steady state for `fault`: after warm-up, before the fault,
/// overlapping no fault window.
pub(crate) fn steady_second(
    phases: &Phases,
    faults: &[FaultRecord],
    fault: &FaultRecord,
    t_s: u64,
) -> bool {
    let (from, to) = (
        t_s.saturating_mul(SECOND_US),
        (t_s + 1).saturating_mul(SECOND_US),
    );
    from >= phases.warmup_end_us
        && to <= fault.start_us
        && faults.iter().all(|f| f.end_us < from || f.start_us >= to)
}

pub(crate) fn recovery(
    fault: &FaultRecord,
    phases: &Phases,
    by_second: &BTreeMap<u64, &Second>,
    band_us: u64,
) -> Option<u64> {
    let first = fault.end_us.div_ceil(SECOND_US);
    by_second
        .range(first..)
        .take_while(|(t_s, _)| t_s.saturating_mul(SECOND_US) < phases.load_end_us)
        .find(|(_, s)| s.p99_e2e_us.is_some_and(|p| p <= band_us))
        .map(|(t_s, _)| t_s.saturating_mul(SECOND_US) - fault.end_us)
}

/// The drain time, and whether any group was sampled after the fault.
pub(crate) fn drain(
    history: &History,
    phases: &Phases,
    fault: &FaultRecord,
) -> (Option<u64>, bool) {
    let mut baseline: BTreeMap<&str, u64> = BTreeMap::new();
    let mut after: BTreeMap<&str, Vec<(u64, u64)>> = BTreeMap::new();
    // Consumer groups only: the tap's backlog is the harness's, not the system's.
    for s in history.lags.iter().filter(|s| s.group != TAP_GROUP) {
        if s.t_us >= phases.warmup_end_us && s.t_us < fault.start_us {
            let b = baseline.entry(&s.group).or_default();
            *b = (*b).max(s.lag);
        }
        if s.t_us >= fault.end_us {
            after.entry(&s.group).or_default().push((s.t_us, s.lag));
        }
    }
    let sampled = !after.is_empty();
    let mut slowest = None;
    for (group, mut samples) in after {
        samples.sort_unstable();
        let limit = baseline.get(group).copied().unwrap_or(0);
        let Some(drained) = samples.iter().find(|(_, lag)| *lag <= limit) else {
            return (None, sampled);
        };
        let took = drained.0 - fault.end_us;
        slowest = Some(slowest.map_or(took, |s: u64| s.max(took)));
    }
    (slowest, sampled)
}
