//! The bootstrap confidence interval of a relative change between two sets of trials.
//!
//! The statistic is the relative change of the means,
//! `(mean(current) - mean(baseline)) / max(mean(baseline), floor)`. Each bootstrap
//! resample draws the baseline trials and the current trials again, with replacement and
//! independently, and recomputes the statistic; the interval is the central `confidence`
//! share of those resampled statistics (the percentile method). The random numbers come
//! from the generator passed in, so the same seed gives the same interval.
//!
//! With a handful of trials the interval is only as good as those trials: three values
//! have ten distinct resamples, and a side with a single trial adds no spread at all.

use rand::Rng;
use serde::{Deserialize, Serialize};

/// A relative change with its confidence interval (fractions: 0.1 = +10 %).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// The change of the observed means.
    pub estimate: f64,
    pub lower: f64,
    pub upper: f64,
}

impl Interval {
    pub fn width(&self) -> f64 {
        self.upper - self.lower
    }
}

/// How the interval is computed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BootstrapOptions {
    /// The share of resampled changes inside the interval, in `(0, 1)`.
    pub confidence: f64,
    /// How many resamples.
    pub resamples: usize,
}

impl Default for BootstrapOptions {
    fn default() -> Self {
        BootstrapOptions {
            confidence: 0.95,
            resamples: 10_000,
        }
    }
}

pub(crate) fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

/// `difference / denominator`, defined for a zero denominator (0 when nothing changed,
/// an infinite change otherwise).
fn ratio(difference: f64, denominator: f64) -> f64 {
    if denominator > 0.0 {
        difference / denominator
    } else if difference == 0.0 {
        0.0
    } else {
        difference.signum() * f64::INFINITY
    }
}

/// The relative change of `current`'s mean against `baseline`'s, measured against
/// `max(baseline mean, floor)`.
pub fn relative_change(baseline: &[f64], current: &[f64], floor: f64) -> Option<f64> {
    if baseline.is_empty() || current.is_empty() {
        return None;
    }
    let base = mean(baseline);
    Some(ratio(mean(current) - base, base.max(floor)))
}

/// The mean of `values.len()` draws from `values` with replacement.
fn resampled_mean<R: Rng + ?Sized>(values: &[f64], rng: &mut R) -> f64 {
    let sum: f64 = (0..values.len())
        .map(|_| values[rng.random_range(0..values.len())])
        .sum();
    sum / values.len() as f64
}

/// The bootstrap interval of the relative change; `None` when a side has no value.
/// Non-finite values are the caller's to filter out.
pub fn bootstrap<R: Rng + ?Sized>(
    baseline: &[f64],
    current: &[f64],
    floor: f64,
    options: BootstrapOptions,
    rng: &mut R,
) -> Option<Interval> {
    let estimate = relative_change(baseline, current, floor)?;
    let resamples = options.resamples.max(1);
    let mut changes: Vec<f64> = (0..resamples)
        .map(|_| {
            let base = resampled_mean(baseline, rng);
            let cur = resampled_mean(current, rng);
            ratio(cur - base, base.max(floor))
        })
        .collect();
    changes.sort_by(f64::total_cmp);
    let tail = ((1.0 - options.confidence.clamp(0.0, 1.0)) / 2.0).max(0.0);
    let at = |q: f64| {
        let index = (q * (changes.len() - 1) as f64).round() as usize;
        changes[index.min(changes.len() - 1)]
    };
    Some(Interval {
        estimate,
        lower: at(tail),
        upper: at(1.0 - tail),
    })
}
