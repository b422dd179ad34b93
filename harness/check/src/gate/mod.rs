//! The gate: repeated trials of a run against a baseline's trials → improved,
//! regressed or no significant change per metric, and one decision with an exit code.
//!
//! Two kinds of rules:
//!
//! - **Correctness is absolute.** In any current trial, a broken required rule of the
//!   guarantee (e.g. one `lost` order under at-least-once) or a failed threshold is a
//!   regression, however the baseline did and whatever the performance. An interrupted
//!   (incomplete) trial, on either side, is not judged at all: the gate is inconclusive.
//! - **Performance is relative.** Each metric of [`metric::METRICS`] gets the bootstrap
//!   interval of its relative change ([`bootstrap`]) and a decision against its tolerance
//!   band ([`decide`]): a change counts only when the whole interval lies beyond the band.
//!
//! The decision: [`Decision::Fail`] (exit 1) when anything regressed; else
//! [`Decision::Inconclusive`] (exit 3) when a metric was inconclusive, a baseline metric
//! was not measured at all now, or a trial's own verdict was inconclusive; else
//! [`Decision::Pass`] (exit 0). Differences between the two sides' experiment, its
//! configuration or the environment are warnings, not decisions.
//!
//! Modules: [`trial`] (what is read of a `results.json`), [`metric`] (the metrics, their
//! directions and default tolerances), [`bootstrap`], [`decide`], [`baseline`] (the
//! baseline file format). [`GateDocument`] is the type of `gate.json`.

pub mod baseline;
pub mod bootstrap;
pub mod decide;
pub mod metric;
pub mod trial;

use std::collections::BTreeMap;

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::threshold::Unit;
use crate::verdict::{Decision, ExpectationStatus};
use bootstrap::{BootstrapOptions, Interval};
use decide::Change;
use metric::{Direction, GateUnit, METRICS};
use trial::{Trial, TrialSet};

/// How the gate decides.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GateOptions {
    pub bootstrap: BootstrapOptions,
    /// Metric name → tolerance (a fraction), replacing the metric's default.
    pub tolerances: BTreeMap<String, f64>,
}

impl GateOptions {
    /// The tolerance of `metric`: the longest key of `tolerances` that is the metric's
    /// name or a dotted prefix of it (`latency` covers `latency.e2e.p99`), else the
    /// metric's default.
    pub fn tolerance(&self, metric: &str) -> f64 {
        self.tolerances
            .iter()
            .filter(|(key, _)| {
                metric == key.as_str()
                    || (metric.starts_with(key.as_str())
                        && metric.as_bytes().get(key.len()) == Some(&b'.'))
            })
            .max_by_key(|(key, _)| key.len())
            .map(|(_, t)| *t)
            .or_else(|| metric::spec(metric).map(|s| s.tolerance))
            .unwrap_or(0.0)
            .abs()
    }
}

/// One performance metric's row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricRow {
    pub metric: String,
    pub unit: GateUnit,
    pub direction: Direction,
    /// Each trial's value (trials without one are left out).
    pub baseline: Vec<f64>,
    pub current: Vec<f64>,
    /// The relative change and its interval; `None` when a side has no value.
    pub change: Option<Interval>,
    /// The band's half-width, a fraction.
    pub tolerance: f64,
    pub decision: Change,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A correctness rule's state across the current trials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    /// Held in every current trial.
    Held,
    /// Broken in at least one current trial: a regression, whatever the baseline.
    Broken,
    /// Not zero, but the guarantee allows it (e.g. duplicates under at-least-once).
    Allowed,
}

/// One correctness rule's row: a rule of the guarantee, or a threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckRow {
    /// `lost == 0` (a rule of the guarantee), or `threshold latency.e2e.p99 < 5s`.
    pub rule: String,
    /// Per trial: the count (rules) or the actual value (thresholds; `None`: no data).
    pub baseline: Vec<Option<f64>>,
    pub current: Vec<Option<f64>>,
    /// The values' unit (thresholds on durations or rates; `None`: counts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<GateUnit>,
    pub status: CheckStatus,
}

/// The gate's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateReport {
    pub decision: Decision,
    /// Why, in words: regressions first, then what made it inconclusive.
    pub reasons: Vec<String>,
    /// Things to know that do not decide (different experiment, environment, few trials).
    pub warnings: Vec<String>,
    pub correctness: Vec<CheckRow>,
    pub metrics: Vec<MetricRow>,
    pub baseline_trials: usize,
    pub current_trials: usize,
    pub confidence: f64,
    pub resamples: usize,
}

/// `gate.json`, written beside the current run by `harness gate`: the report and what
/// it was computed from (rerun with the same `seed` for the same intervals).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateDocument {
    /// The layout, 1 (fields are only ever added; another layout gets another number).
    pub format: u32,
    /// The baseline as given (a baseline file or a run directory).
    pub baseline: String,
    /// The current runs as given.
    pub current: Vec<String>,
    /// The bootstrap's seed.
    pub seed: u64,
    /// `--tolerance` overrides: metric (or dotted prefix) → fraction.
    pub tolerance_overrides: BTreeMap<String, f64>,
    pub report: GateReport,
}

/// Compares `current` with `baseline`. `rng` drives the bootstrap: seed it for a
/// reproducible report.
pub fn gate<R: Rng + ?Sized>(
    baseline: &TrialSet,
    current: &TrialSet,
    options: &GateOptions,
    rng: &mut R,
) -> GateReport {
    let mut report = GateReport {
        decision: Decision::Pass,
        reasons: Vec::new(),
        warnings: warnings(baseline, current),
        correctness: Vec::new(),
        metrics: Vec::new(),
        baseline_trials: baseline.trials.len(),
        current_trials: current.trials.len(),
        confidence: options.bootstrap.confidence,
        resamples: options.bootstrap.resamples,
    };
    let incomplete: Vec<String> = [("baseline", baseline), ("current", current)]
        .iter()
        .flat_map(|(side, set)| {
            set.trials
                .iter()
                .filter(|t| !t.complete)
                .map(move |t| format!("{side} trial {} is incomplete (interrupted)", t.label))
        })
        .collect();
    if baseline.trials.is_empty() || current.trials.is_empty() || !incomplete.is_empty() {
        report.decision = Decision::Inconclusive;
        report.reasons = incomplete;
        if baseline.trials.is_empty() || current.trials.is_empty() {
            report.reasons.push("a side has no trials".into());
        }
        report
            .reasons
            .push("the gate does not judge incomplete trials: run them again".into());
        return report;
    }

    let mut failures = Vec::new();
    let mut doubts = Vec::new();
    report.correctness = correctness(baseline, current, &mut failures, &mut doubts);
    for spec in METRICS {
        let values = |set: &TrialSet| -> Vec<f64> {
            set.trials
                .iter()
                .filter_map(|t| t.metrics.get(spec.name).copied())
                .collect()
        };
        let (base, cur) = (values(baseline), values(current));
        if base.is_empty() && cur.is_empty() {
            continue;
        }
        let tolerance = options.tolerance(spec.name);
        let change = bootstrap::bootstrap(&base, &cur, spec.floor, options.bootstrap, rng);
        let (decision, note) = match &change {
            Some(interval) => {
                let partial =
                    cur.len() < current.trials.len() || base.len() < baseline.trials.len();
                let note = partial.then(|| {
                    format!(
                        "measured in {} of {} baseline and {} of {} current trials",
                        base.len(),
                        baseline.trials.len(),
                        cur.len(),
                        current.trials.len()
                    )
                });
                (decide::decide(interval, tolerance, spec.direction), note)
            }
            None if cur.is_empty() => {
                doubts.push(format!(
                    "{} was measured in the baseline but in no current trial",
                    spec.name
                ));
                (
                    Change::Inconclusive,
                    Some("not measured in any current trial".into()),
                )
            }
            None => (Change::NotMeasured, Some("no baseline value".into())),
        };
        if let Some(interval) = &change {
            let line = format!(
                "{} changed {} (CI {} .. {}), beyond the ±{:.0} % tolerance",
                spec.name,
                percent(interval.estimate),
                percent(interval.lower),
                percent(interval.upper),
                tolerance * 100.0
            );
            match decision {
                Change::Regressed => failures.push(format!("regression: {line}")),
                Change::Inconclusive => doubts.push(format!(
                    "{} changed {} but its CI {} .. {} straddles the ±{:.0} % tolerance: too noisy to decide",
                    spec.name,
                    percent(interval.estimate),
                    percent(interval.lower),
                    percent(interval.upper),
                    tolerance * 100.0
                )),
                _ => {}
            }
        }
        report.metrics.push(MetricRow {
            metric: spec.name.to_owned(),
            unit: spec.unit,
            direction: spec.direction,
            baseline: base,
            current: cur,
            change,
            tolerance,
            decision,
            note,
        });
    }
    for (side, set) in [("baseline", baseline), ("current", current)] {
        let busy: Vec<&Trial> = set
            .trials
            .iter()
            .filter(|t| t.sent > 0 && t.late * 20 > t.sent)
            .collect();
        let worst = busy.iter().max_by(|a, b| {
            (a.late as f64 / a.sent as f64).total_cmp(&(b.late as f64 / b.sent as f64))
        });
        if let Some(worst) = worst {
            report.warnings.push(format!(
                "{} of {} {side} trials had more than 5 % of their orders sent late (worst: {}, {} of {}): the machine was busy, or the system answered slowly enough to hold the load generator back",
                busy.len(),
                set.trials.len(),
                worst.label,
                worst.late,
                worst.sent
            ));
        }
    }
    if current.trials.len() < 2 || baseline.trials.len() < 2 {
        report.warnings.push(
            "a side has a single trial: its intervals carry no noise from it (use --repeat)".into(),
        );
    }
    report.decision = if !failures.is_empty() {
        Decision::Fail
    } else if !doubts.is_empty() {
        Decision::Inconclusive
    } else {
        Decision::Pass
    };
    report.reasons = failures;
    report.reasons.extend(doubts);
    if report.decision == Decision::Pass {
        report.reasons.push(format!(
            "no correctness rule broken in {} trials; no metric regressed beyond its tolerance",
            current.trials.len()
        ));
    }
    report
}

/// `+12.3 %`.
pub fn percent(fraction: f64) -> String {
    if fraction.is_infinite() {
        return if fraction > 0.0 { "+inf %" } else { "-inf %" }.into();
    }
    format!("{:+.1} %", fraction * 100.0)
}

fn warnings(baseline: &TrialSet, current: &TrialSet) -> Vec<String> {
    let mut out = Vec::new();
    if baseline.experiment != current.experiment {
        out.push(format!(
            "different experiments: the baseline is `{}`, the current run `{}`",
            baseline.experiment, current.experiment
        ));
    } else if baseline.config_hash != current.config_hash {
        out.push(format!(
            "`{}` ran with a different configuration than the baseline (config hash {} vs {})",
            current.experiment, baseline.config_hash, current.config_hash
        ));
    }
    let differences = trial::environment_differences(&baseline.environment, &current.environment);
    if !differences.is_empty() {
        out.push(format!("different environment: {}", differences.join("; ")));
    }
    out
}

/// The guarantee's rules and the thresholds, absolute over the current trials.
fn correctness(
    baseline: &TrialSet,
    current: &TrialSet,
    failures: &mut Vec<String>,
    doubts: &mut Vec<String>,
) -> Vec<CheckRow> {
    let mut rows = Vec::new();
    let mut names: Vec<&String> = current
        .trials
        .iter()
        .flat_map(|t| t.anomalies.keys())
        .collect();
    names.sort();
    names.dedup();
    let counts = |set: &TrialSet, name: &str| -> Vec<Option<f64>> {
        set.trials
            .iter()
            .map(|t| t.anomalies.get(name).map(|a| a.count as f64))
            .collect()
    };
    for name in names {
        let mut status = CheckStatus::Held;
        for trial in &current.trials {
            let Some(a) = trial.anomalies.get(name) else {
                continue;
            };
            if a.count > 0 && a.status != ExpectationStatus::NotJudged {
                if a.required {
                    status = CheckStatus::Broken;
                    failures.push(format!(
                        "{name} = {} in {}: the guarantee requires 0",
                        a.count, trial.label
                    ));
                } else if status == CheckStatus::Held {
                    status = CheckStatus::Allowed;
                }
            }
        }
        rows.push(CheckRow {
            rule: format!("{name} == 0"),
            baseline: counts(baseline, name),
            current: counts(current, name),
            unit: None,
            status,
        });
    }

    let mut rules: Vec<(String, String)> = current
        .trials
        .iter()
        .flat_map(|t| {
            t.thresholds
                .iter()
                .map(|x| (x.metric.clone(), x.expression.clone()))
        })
        .collect();
    rules.sort();
    rules.dedup();
    let actuals = |set: &TrialSet, metric: &str, expression: &str| -> Vec<Option<f64>> {
        set.trials
            .iter()
            .map(|t| {
                t.thresholds
                    .iter()
                    .find(|x| x.metric == metric && x.expression == expression)
                    .and_then(|x| x.actual)
            })
            .collect()
    };
    for (metric, expression) in rules {
        let failed: Vec<&Trial> = current
            .trials
            .iter()
            .filter(|t| {
                t.thresholds
                    .iter()
                    .any(|x| x.metric == metric && x.expression == expression && !x.pass)
            })
            .collect();
        for trial in &failed {
            failures.push(format!(
                "threshold `{metric} {expression}` failed in {}",
                trial.label
            ));
        }
        rows.push(CheckRow {
            rule: format!("threshold {metric} {expression}"),
            baseline: actuals(baseline, &metric, &expression),
            current: actuals(current, &metric, &expression),
            unit: current
                .trials
                .iter()
                .flat_map(|t| &t.thresholds)
                .find(|x| x.metric == metric && x.expression == expression)
                .and_then(|x| x.unit)
                .and_then(|u| match u {
                    Unit::Count => None,
                    Unit::Us => Some(GateUnit::Us),
                    Unit::PerS => Some(GateUnit::PerS),
                }),
            status: if failed.is_empty() {
                CheckStatus::Held
            } else {
                CheckStatus::Broken
            },
        });
    }

    for trial in &current.trials {
        match trial.verdict {
            Decision::Fail if failures.is_empty() => failures.push(format!(
                "{} failed its own check (see its results.json reasons)",
                trial.label
            )),
            Decision::Inconclusive => doubts.push(format!(
                "{}'s own verdict is inconclusive (see its results.json reasons)",
                trial.label
            )),
            _ => {}
        }
    }
    rows
}
