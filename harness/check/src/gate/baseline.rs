//! The baseline file (`baselines/NAME.json`), written by `harness baseline save` and
//! read by `harness gate --baseline`.
//!
//! ```json
//! {
//!   "format": 1,
//!   "kind": "harness-baseline",
//!   "source": "runs/ci-gate/20261126T172903Z",
//!   "experiment": "ci-gate",
//!   "config_hash": "9f0c1d2e3a4b5c6d",
//!   "environment": { "harness": "0.1.0", "cpus": 2, "lab": { "redis": "7.0.15" } },
//!   "trials": [
//!     {
//!       "label": "trial-1",
//!       "complete": true,
//!       "verdict": "pass",
//!       "metrics": { "throughput.mean": 39.8, "latency.e2e.p99": 312319.0, "lag.max": 9.0 },
//!       "anomalies": { "lost": { "count": 0, "required": true, "status": "held" } },
//!       "thresholds": [ { "metric": "lost", "expression": "== 0", "actual": 0.0, "unit": "count", "pass": true } ],
//!       "sent": 600,
//!       "late": 0
//!     }
//!   ]
//! }
//! ```
//!
//! - `experiment`, `config_hash` ([`super::trial::config_hash`] of the expanded
//!   experiment) and `environment` let the gate warn when a run is compared with a
//!   baseline of another experiment, configuration or machine.
//! - `trials`: one [`Trial`](super::trial::Trial) per trial; `metrics` holds the
//!   performance metrics of [`super::metric::METRICS`] in their units (µs for latency,
//!   seconds for recovery and drain, orders/s, entries), absent when not measured.
//! - Fields are only ever added; a different layout gets a new `format`.

use serde::{Deserialize, Serialize};

use super::trial::TrialSet;

/// The layout this harness writes and reads.
pub const FORMAT: u32 = 1;
/// The `kind` of a baseline file, so a results.json passed by mistake is named as such.
pub const KIND: &str = "harness-baseline";

/// A baseline file's content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    pub format: u32,
    pub kind: String,
    /// The run directories it was saved from, as given to `baseline save` (space-separated).
    pub source: String,
    #[serde(flatten)]
    pub set: TrialSet,
}

/// A baseline file that cannot be read (the caller adds the path).
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    #[error("not JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("not a baseline file (its `kind` is {0}); save one with `harness baseline save`")]
    Kind(String),
    #[error("baseline format {0} is not one this harness reads ({FORMAT})")]
    Format(u32),
    #[error("the baseline has no trials")]
    Empty,
}

impl Baseline {
    pub fn new(source: String, set: TrialSet) -> Baseline {
        Baseline {
            format: FORMAT,
            kind: KIND.to_owned(),
            source,
            set,
        }
    }

    /// Parses a baseline file's text.
    pub fn from_json(text: &str) -> Result<Baseline, BaselineError> {
        let value: serde_json::Value = serde_json::from_str(text)?;
        match value.get("kind").and_then(|k| k.as_str()) {
            Some(KIND) => {}
            other => {
                return Err(BaselineError::Kind(
                    other.map_or("missing".into(), |k| format!("`{k}`")),
                ));
            }
        }
        match value.get("format").and_then(|f| f.as_u64()) {
            Some(f) if f == u64::from(FORMAT) => {}
            other => return Err(BaselineError::Format(other.unwrap_or(0) as u32)),
        }
        let baseline: Baseline = serde_json::from_value(value)?;
        if baseline.set.trials.is_empty() {
            return Err(BaselineError::Empty);
        }
        Ok(baseline)
    }
}
