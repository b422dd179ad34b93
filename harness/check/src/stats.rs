//! Latency percentiles over an HdrHistogram in microseconds (3 significant digits: a
//! reported percentile is within 0.1 % of the true value), and the exact nearest-rank
//! p99 used for the small per-second groups.

use hdrhistogram::Histogram;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Percentiles of one latency distribution, in microseconds. All `None` when `count`
/// is 0: there is nothing to report, and 0 would read as "instant".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Percentiles {
    pub count: u64,
    pub p50_us: Option<u64>,
    pub p90_us: Option<u64>,
    pub p99_us: Option<u64>,
    pub p999_us: Option<u64>,
    /// The exact largest value recorded (not rounded to a histogram bucket).
    pub max_us: Option<u64>,
}

/// Which percentile of [`Percentiles`] a threshold names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Pct {
    #[serde(rename = "p50")]
    P50,
    #[serde(rename = "p90")]
    P90,
    #[serde(rename = "p99")]
    P99,
    #[serde(rename = "p99.9")]
    P999,
    #[serde(rename = "max")]
    Max,
}

impl Pct {
    pub const ALL: [Pct; 5] = [Pct::P50, Pct::P90, Pct::P99, Pct::P999, Pct::Max];

    /// The name in threshold metrics (`p50`, `p90`, `p99`, `p99.9`, `max`).
    pub fn name(self) -> &'static str {
        match self {
            Pct::P50 => "p50",
            Pct::P90 => "p90",
            Pct::P99 => "p99",
            Pct::P999 => "p99.9",
            Pct::Max => "max",
        }
    }

    pub fn from_name(name: &str) -> Option<Pct> {
        Pct::ALL.into_iter().find(|p| p.name() == name)
    }
}

impl Percentiles {
    pub fn get(&self, pct: Pct) -> Option<u64> {
        match pct {
            Pct::P50 => self.p50_us,
            Pct::P90 => self.p90_us,
            Pct::P99 => self.p99_us,
            Pct::P999 => self.p999_us,
            Pct::Max => self.max_us,
        }
    }
}

/// Collects latencies; [`Recorder::finish`] turns them into [`Percentiles`].
#[derive(Debug)]
pub struct Recorder {
    histogram: Histogram<u64>,
    max: Option<u64>,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder::new()
    }
}

impl Recorder {
    pub fn new() -> Recorder {
        // 3 significant digits, auto-resizing: never fails for sigfig in 0..=5.
        let histogram = Histogram::new(3).expect("3 significant digits is a valid precision");
        Recorder {
            histogram,
            max: None,
        }
    }

    pub fn record(&mut self, value_us: u64) {
        // `record` grows the auto-resizing histogram; only a value beyond any histogram's
        // reach (about 2^63) fails, and is then clamped to the largest trackable value.
        if self.histogram.record(value_us).is_err() {
            self.histogram.saturating_record(value_us);
        }
        self.max = Some(self.max.map_or(value_us, |m| m.max(value_us)));
    }

    pub fn finish(&self) -> Percentiles {
        if self.histogram.is_empty() {
            return Percentiles::default();
        }
        let at = |q: f64| {
            Some(
                self.histogram
                    .value_at_quantile(q)
                    .min(self.max.unwrap_or(0)),
            )
        };
        Percentiles {
            count: self.histogram.len(),
            p50_us: at(0.50),
            p90_us: at(0.90),
            p99_us: at(0.99),
            p999_us: at(0.999),
            max_us: self.max,
        }
    }
}

/// Exact nearest-rank 99th percentile of a small sample (sorts it in place).
pub fn p99_exact(values: &mut [u64]) -> Option<u64> {
    nearest_rank(values, 99)
}

/// Exact nearest-rank median of a small sample (sorts it in place).
pub fn p50_exact(values: &mut [u64]) -> Option<u64> {
    nearest_rank(values, 50)
}

/// Exact nearest-rank `percent`-th percentile (sorts `values` in place): the value of
/// rank `ceil(percent / 100 × n)`, 1-based. `None` for an empty sample.
fn nearest_rank(values: &mut [u64], percent: usize) -> Option<u64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let n = values.len();
    let rank = (n * percent).div_ceil(100).clamp(1, n);
    Some(values[rank - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_recorder_reports_nothing() {
        assert_eq!(Recorder::new().finish(), Percentiles::default());
    }

    #[test]
    fn percentiles_of_one_to_a_thousand() {
        let mut r = Recorder::new();
        for v in 1..=1000 {
            r.record(v);
        }
        r.record(10_000_000); // grows the histogram
        r.record(u64::MAX); // beyond any histogram: clamped, max stays exact
        let p = r.finish();
        assert_eq!(p.count, 1002);
        assert_eq!(p.p50_us, Some(501));
        assert_eq!(p.p99_us, Some(992));
        assert_eq!(p.max_us, Some(u64::MAX));
    }

    #[test]
    fn exact_p99_uses_the_nearest_rank() {
        assert_eq!(p99_exact(&mut []), None);
        assert_eq!(p99_exact(&mut [7]), Some(7));
        let mut values: Vec<u64> = (1..=200).rev().collect();
        assert_eq!(p99_exact(&mut values), Some(198));
    }

    #[test]
    fn exact_median_uses_the_nearest_rank() {
        assert_eq!(p50_exact(&mut []), None);
        assert_eq!(p50_exact(&mut [7]), Some(7));
        assert_eq!(p50_exact(&mut [4, 1, 3, 2]), Some(2));
        assert_eq!(p50_exact(&mut [5, 1, 3, 2, 4]), Some(3));
    }
}
