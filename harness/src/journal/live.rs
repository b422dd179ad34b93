//! What the run reads back while it goes (never the history itself): counts, each
//! group's latest lag sample, the faults active and ended, the services' latest
//! counters, and end-to-end latency as orders finish. Memory follows the orders in
//! flight and the faults and services of the run, not the run's length.

use std::collections::BTreeMap;

use check::{FaultKind, FaultRecord, LagSample, SendOutcome};

use super::Orders;

/// The upper bounds (seconds) of the end-to-end latency histogram the dashboard and
/// `/metrics` show: from 5 ms (a quiet pipeline) to two minutes (a drain after an
/// outage); above the last, `+Inf`.
pub const E2E_BOUNDS_S: [f64; 15] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0,
];

/// Latencies kept for one second's percentiles: past this many in one second, the
/// rest count in the histogram but not in that second's p50/p99 (it says so).
const WINDOW_CAP: usize = 200_000;

/// End-to-end latency of the orders that finished so far: a cumulative histogram over
/// [`E2E_BOUNDS_S`] and the latencies of the current second.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LatencyTotals {
    /// Orders per bucket (not cumulative); the last is above every bound.
    pub buckets: [u64; E2E_BOUNDS_S.len() + 1],
    pub count: u64,
    pub sum_us: u64,
}

impl LatencyTotals {
    pub fn record(&mut self, us: u64) {
        let s = us as f64 / 1e6;
        let i = E2E_BOUNDS_S.partition_point(|b| *b < s);
        self.buckets[i] += 1;
        self.count += 1;
        self.sum_us = self.sum_us.saturating_add(us);
    }
}

/// One second's end-to-end percentiles (nearest rank), of the orders that finished in it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SecondLatency {
    pub orders: usize,
    pub p50_us: u64,
    pub p99_us: u64,
    /// More orders finished than [`WINDOW_CAP`]: the percentiles are of the first.
    pub capped: bool,
}

/// The latencies of the current second, taken once a second.
#[derive(Debug, Default)]
pub struct LatencyWindow {
    values: Vec<u64>,
    over: bool,
}

impl LatencyWindow {
    pub fn record(&mut self, us: u64) {
        if self.values.len() < WINDOW_CAP {
            self.values.push(us);
        } else {
            self.over = true;
        }
    }

    /// The second's percentiles (none when no order finished), and a new second.
    pub fn take(&mut self) -> Option<SecondLatency> {
        let mut values = std::mem::take(&mut self.values);
        let capped = std::mem::take(&mut self.over);
        if values.is_empty() {
            return None;
        }
        values.sort_unstable();
        let rank =
            |q: f64| values[((q * values.len() as f64).ceil() as usize).clamp(1, values.len()) - 1];
        Some(SecondLatency {
            orders: values.len(),
            p50_us: rank(0.50),
            p99_us: rank(0.99),
            capped,
        })
    }
}

/// A fault applied and not yet healed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveFault {
    pub id: String,
    pub kind: FaultKind,
    pub target: String,
    pub start_us: u64,
}

/// A service instance's latest counters from its `/metrics` (the scrape's kept families).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServiceNow {
    pub retries: f64,
    pub dead_letters: f64,
    pub redelivered: f64,
    /// 0 closed, 1 half-open, 2 open; `None` for a service without a breaker.
    pub breaker_state: Option<f64>,
}

/// What the run reads back while it goes.
#[derive(Debug, Default)]
pub struct Live {
    /// Send lines recorded (every outcome).
    pub sends: usize,
    /// Send lines by outcome.
    pub outcomes: BTreeMap<&'static str, u64>,
    /// The acknowledged orders and those that finished: what the drain waits for.
    pub orders: Orders,
    /// End-to-end latency of the finished orders (intended send to terminal event).
    pub e2e: LatencyTotals,
    pub e2e_window: LatencyWindow,
    /// Each consumer group's (and the tap's) latest lag sample.
    pub latest_lag: BTreeMap<String, LagSample>,
    /// Observation lines recorded.
    pub observations: u64,
    /// The faults applied and not yet healed.
    pub active_faults: Vec<ActiveFault>,
    /// The fault lines recorded (ended faults), repeated in the meta line (`meta.faults`).
    pub faults: Vec<FaultRecord>,
    /// Each service instance's latest counters.
    pub services: BTreeMap<(String, u32), ServiceNow>,
}

impl Live {
    pub(super) fn outcome(&mut self, outcome: SendOutcome) {
        *self.outcomes.entry(outcome.name()).or_default() += 1;
    }

    pub(super) fn finished_in(&mut self, latency_us: Option<u64>) {
        if let Some(us) = latency_us {
            self.e2e.record(us);
            self.e2e_window.record(us);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_names_are_those_of_the_history_lines() {
        for o in SendOutcome::ALL {
            assert_eq!(
                serde_json::to_string(&o).expect("json"),
                format!("\"{}\"", o.name())
            );
        }
    }

    #[test]
    fn a_latency_lands_in_the_first_bucket_whose_bound_holds_it() {
        let mut t = LatencyTotals::default();
        t.record(5_000); // exactly 5 ms: le="0.005"
        t.record(5_001);
        t.record(200_000_000); // 200 s: above every bound
        assert_eq!(t.buckets[0], 1);
        assert_eq!(t.buckets[1], 1);
        assert_eq!(t.buckets[E2E_BOUNDS_S.len()], 1);
        assert_eq!((t.count, t.sum_us), (3, 200_010_001));
    }

    #[test]
    fn a_second_s_percentiles_are_nearest_rank_and_the_window_starts_again() {
        let mut w = LatencyWindow::default();
        assert_eq!(w.take(), None);
        for us in (1..=200).rev() {
            w.record(us * 1_000);
        }
        let s = w.take().expect("orders finished");
        assert_eq!(
            (s.orders, s.p50_us, s.p99_us, s.capped),
            (200, 100_000, 198_000, false)
        );
        assert_eq!(w.take(), None);
    }
}
