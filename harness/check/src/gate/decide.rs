//! The decision for one metric: its change's confidence interval against the
//! tolerance band `[-tolerance, +tolerance]`, in the spirit of criterion's
//! `compare_to_threshold` — a change counts only when the *whole* interval lies beyond
//! the band.
//!
//! Seen from the metric's good side (a throughput gain and a latency drop are both
//! positive), with `t` the tolerance and `[lo, hi]` the interval:
//!
//! | interval | decision |
//! | --- | --- |
//! | `lo > t` | improved |
//! | `hi < -t` | regressed |
//! | `-t <= lo` and `hi <= t` | no significant change |
//! | straddles `-t` or `t`, narrower than the band (`hi - lo <= 2t`) and its estimate inside the band | no significant change |
//! | straddles, and wider than the band or its estimate outside it | inconclusive |
//!
//! The last row is where the trials cannot tell: the noise is larger than the band (the
//! interval could reach beyond it on both sides), or the estimate says "changed" while
//! the interval says "maybe not". More trials, or a wider tolerance, settle it.

use serde::{Deserialize, Serialize};

use super::bootstrap::Interval;
use super::metric::Direction;

/// One metric's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    Improved,
    Regressed,
    NoChange,
    /// The interval straddles the band and is too wide, or its estimate lies beyond it.
    Inconclusive,
    /// A side has no value for the metric (see the row's note).
    NotMeasured,
}

impl Change {
    pub fn name(self) -> &'static str {
        match self {
            Change::Improved => "improved",
            Change::Regressed => "regressed",
            Change::NoChange => "no significant change",
            Change::Inconclusive => "inconclusive",
            Change::NotMeasured => "not measured",
        }
    }
}

/// Decides one metric: `interval` is the relative change (positive = the value grew),
/// `tolerance` a non-negative fraction.
pub fn decide(interval: &Interval, tolerance: f64, direction: Direction) -> Change {
    let t = tolerance.abs();
    // The interval seen from the good side: positive means better.
    let (lo, hi, estimate) = match direction {
        Direction::HigherIsBetter => (interval.lower, interval.upper, interval.estimate),
        Direction::LowerIsBetter => (-interval.upper, -interval.lower, -interval.estimate),
    };
    if lo > t {
        Change::Improved
    } else if hi < -t {
        Change::Regressed
    } else if (lo >= -t && hi <= t) || (hi - lo <= 2.0 * t && estimate.abs() <= t) {
        // Inside the band, or straddling it narrowly with the estimate inside.
        Change::NoChange
    } else {
        Change::Inconclusive
    }
}
