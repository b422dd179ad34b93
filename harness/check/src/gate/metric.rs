//! The performance metrics the gate compares, each with its direction, its default
//! tolerance and its noise floor.
//!
//! | metric | unit | better | default tolerance | floor |
//! | --- | --- | --- | --- | --- |
//! | `throughput.mean` | orders/s | higher | 5 % | 1 /s |
//! | `latency.e2e.p50` | µs | lower | 15 % | 1 ms |
//! | `latency.e2e.p90` | µs | lower | 20 % | 1 ms |
//! | `latency.e2e.p99` | µs | lower | 25 % | 1 ms |
//! | `latency.e2e.p99.9` | µs | lower | 30 % | 1 ms |
//! | `lag.max` | entries | lower | 25 % | 50 |
//! | `recovery.max` | s | lower | 25 % | 1 s |
//! | `drain.max` | s | lower | 25 % | 1 s |
//!
//! The names are the threshold names of [`crate::threshold`]. The *floor* is the
//! smallest baseline value a change is measured against: a change is relative to
//! `max(baseline mean, floor)`, so a baseline lag of 0 or 2 entries does not turn a lag
//! of 10 into "+400 %". The defaults suit a quiet machine; a noisy CI runner passes
//! wider tolerances (docs/ci.md says how they were measured for this project's CI).

use serde::{Deserialize, Serialize};

/// Which way is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    HigherIsBetter,
    LowerIsBetter,
}

/// The unit a metric's values are in (for display).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GateUnit {
    /// Orders per second.
    PerS,
    /// Microseconds.
    Us,
    /// Seconds.
    S,
    /// A count (entries of lag).
    Count,
}

impl GateUnit {
    /// A value for a table: `31.3 ms`, `39.8/s`, `2.00 s`, `9`.
    pub fn show(self, value: f64) -> String {
        match self {
            GateUnit::PerS => format!("{value:.1}/s"),
            GateUnit::Us if value.abs() >= 1e6 => format!("{:.2} s", value / 1e6),
            GateUnit::Us if value.abs() >= 1e3 => format!("{:.1} ms", value / 1e3),
            GateUnit::Us => format!("{value:.0} us"),
            GateUnit::S => format!("{value:.2} s"),
            GateUnit::Count if value.fract() == 0.0 => format!("{value:.0}"),
            GateUnit::Count => format!("{value:.1}"),
        }
    }
}

/// One performance metric of the gate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetricSpec {
    /// The threshold name, e.g. `latency.e2e.p99`.
    pub name: &'static str,
    pub unit: GateUnit,
    pub direction: Direction,
    /// The default tolerance, a fraction (0.25 = ±25 %).
    pub tolerance: f64,
    /// Changes are relative to `max(baseline mean, floor)` (in `unit`).
    pub floor: f64,
}

/// Every metric the gate compares, in table order.
pub const METRICS: [MetricSpec; 8] = [
    MetricSpec {
        name: "throughput.mean",
        unit: GateUnit::PerS,
        direction: Direction::HigherIsBetter,
        tolerance: 0.05,
        floor: 1.0,
    },
    MetricSpec {
        name: "latency.e2e.p50",
        unit: GateUnit::Us,
        direction: Direction::LowerIsBetter,
        tolerance: 0.15,
        floor: 1_000.0,
    },
    MetricSpec {
        name: "latency.e2e.p90",
        unit: GateUnit::Us,
        direction: Direction::LowerIsBetter,
        tolerance: 0.20,
        floor: 1_000.0,
    },
    MetricSpec {
        name: "latency.e2e.p99",
        unit: GateUnit::Us,
        direction: Direction::LowerIsBetter,
        tolerance: 0.25,
        floor: 1_000.0,
    },
    MetricSpec {
        name: "latency.e2e.p99.9",
        unit: GateUnit::Us,
        direction: Direction::LowerIsBetter,
        tolerance: 0.30,
        floor: 1_000.0,
    },
    MetricSpec {
        name: "lag.max",
        unit: GateUnit::Count,
        direction: Direction::LowerIsBetter,
        tolerance: 0.25,
        floor: 50.0,
    },
    MetricSpec {
        name: "recovery.max",
        unit: GateUnit::S,
        direction: Direction::LowerIsBetter,
        tolerance: 0.25,
        floor: 1.0,
    },
    MetricSpec {
        name: "drain.max",
        unit: GateUnit::S,
        direction: Direction::LowerIsBetter,
        tolerance: 0.25,
        floor: 1.0,
    },
];

/// The spec of a metric by name.
pub fn spec(name: &str) -> Option<&'static MetricSpec> {
    METRICS.iter().find(|m| m.name == name)
}
