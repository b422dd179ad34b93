//! The verdict: `pass`, `fail` or `inconclusive`, with the expectations of the run's
//! delivery guarantee and the reasons in words.
//!
//! **Expectations.** Every run is held to the same seven rules; the guarantee decides
//! which are *required* (a broken required rule fails the run) and which are only
//! reported:
//!
//! | rule | at-most-once | at-least-once | exactly-once |
//! | --- | --- | --- | --- |
//! | `lost == 0` | reported | required | required |
//! | `unobserved == 0` | reported | required | required |
//! | `duplicate_delivery == 0` (all types but `OrderPlaced`) | reported | reported | required |
//! | `duplicate_effect == 0` (steps and gateway charges) | required | reported | required |
//! | `ordering_violation == 0` | required | required | required |
//! | `phantom == 0` | required | required | required |
//! | `invariant_violation == 0` | required | required | required |
//!
//! - At-most-once may lose, but processes each input at most once: no step twice, no
//!   second charge. A duplicate *delivery* (a producer retry writing an entry twice) is
//!   reported, not failed.
//! - At-least-once must lose nothing and may duplicate, both deliveries and effects
//!   (a non-idempotent gateway charge redone after a crash).
//! - Exactly-once must do neither. Duplicate deliveries of `OrderPlaced` are left out
//!   of its rule: the ingress (HTTP handler or direct driver) writes them, outside the
//!   processing services' transactions.
//! - Ordering is required in every mode, at-least-once included: redelivery republishes
//!   the *same* event id, and the ordering rules only read each id's first
//!   observation, so a redelivered copy is a duplicate delivery, never a reordering.
//!   An out-of-order *first* observation is a real reordering in any mode.
//!
//! **Decision.** `fail` when a required rule is broken or a threshold failed. Otherwise
//! `inconclusive` when the history has no `meta` line (the guarantee is unknown: only
//! the rules required in every mode are judged), the run was interrupted (`complete:
//! false`: the drain may not have finished, so `lost` and `unobserved` are not judged),
//! the drain ended with orders still in flight (the system had not caught up: those
//! orders are neither lost nor finished, see [`crate::inflight`]), no acknowledged
//! order was intended after warm-up, or a threshold had no data.
//! Otherwise `pass`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::analysis::Analysis;
use crate::anomaly::Anomaly;
use crate::history::{Guarantee, Meta};
use crate::threshold::{ThresholdResult, ThresholdStatus, Unit};

/// The outcome of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Pass,
    Fail,
    Inconclusive,
}

impl Decision {
    /// The name in results.json: `pass`, `fail` or `inconclusive`.
    pub fn name(self) -> &'static str {
        match self {
            Decision::Pass => "pass",
            Decision::Fail => "fail",
            Decision::Inconclusive => "inconclusive",
        }
    }

    /// The process exit code DESIGN.md assigns: 0 pass, 1 fail, 3 inconclusive.
    pub fn exit_code(self) -> i32 {
        match self {
            Decision::Pass => 0,
            Decision::Fail => 1,
            Decision::Inconclusive => 3,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExpectationStatus {
    Held,
    Broken,
    /// Not judged: the run was interrupted before its drain finished.
    NotJudged,
}

impl ExpectationStatus {
    /// The name in results.json: `held`, `broken` or `not_judged`.
    pub fn name(self) -> &'static str {
        match self {
            ExpectationStatus::Held => "held",
            ExpectationStatus::Broken => "broken",
            ExpectationStatus::NotJudged => "not_judged",
        }
    }
}

/// One rule of the guarantee and whether it held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Expectation {
    /// E.g. `lost == 0`.
    pub rule: String,
    pub anomaly: Anomaly,
    pub actual: u64,
    /// Whether breaking it fails the run under this guarantee.
    pub required: bool,
    pub status: ExpectationStatus,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub decision: Decision,
    /// The guarantee judged against (`None` without a `meta` line).
    pub guarantee: Option<Guarantee>,
    /// Why, in words: failures first, then what made it inconclusive, then notes.
    pub reasons: Vec<String>,
    pub expectations: Vec<Expectation>,
}

/// The rules and whether `guarantee` requires each (`None`: only the universal ones).
pub fn expectations_for(guarantee: Option<Guarantee>) -> [(Anomaly, bool); 7] {
    use Guarantee::*;
    let loses = matches!(guarantee, Some(AtLeastOnce | ExactlyOnce));
    [
        (Anomaly::Lost, loses),
        (Anomaly::Unobserved, loses),
        (Anomaly::DuplicateDelivery, guarantee == Some(ExactlyOnce)),
        (
            Anomaly::DuplicateEffect,
            matches!(guarantee, Some(AtMostOnce | ExactlyOnce)),
        ),
        (Anomaly::OrderingViolation, true),
        (Anomaly::Phantom, true),
        (Anomaly::InvariantViolation, true),
    ]
}

/// Judges a run: its meta (`None` if the history had none), its analysis and its
/// evaluated thresholds.
pub fn verdict(meta: Option<&Meta>, analysis: &Analysis, results: &[ThresholdResult]) -> Verdict {
    let guarantee = meta.map(|m| m.guarantee);
    let mode = guarantee.map_or("an unknown guarantee", Guarantee::name);
    let interrupted = meta.is_some_and(|m| !m.complete);
    let mut failures = Vec::new();
    let mut doubts = Vec::new();
    let mut notes = Vec::new();

    let mut expectations = Vec::new();
    for (anomaly, required) in expectations_for(guarantee) {
        let (actual, rule) = if anomaly == Anomaly::DuplicateDelivery {
            (
                analysis.anomaly_details.processing_duplicate_deliveries(),
                "duplicate_delivery (all but OrderPlaced) == 0".to_string(),
            )
        } else {
            (
                analysis.anomalies.count(anomaly),
                format!("{} == 0", anomaly.name()),
            )
        };
        let drain_dependent = matches!(anomaly, Anomaly::Lost | Anomaly::Unobserved);
        // Without a meta line the history may end where its writer was killed: an order
        // observed just before has no send line yet, which would look like a phantom.
        let end_dependent = meta.is_none() && anomaly == Anomaly::Phantom;
        let status = if (interrupted && drain_dependent) || end_dependent {
            ExpectationStatus::NotJudged
        } else if actual == 0 {
            ExpectationStatus::Held
        } else {
            ExpectationStatus::Broken
        };
        if status == ExpectationStatus::Broken {
            let sample = analysis.anomalies.sample(anomaly).join(", ");
            if required {
                failures.push(format!(
                    "{} = {actual}, expected 0 under {mode} (sample: {sample})",
                    anomaly.name()
                ));
            } else {
                notes.push(format!(
                    "{} = {actual}, allowed under {mode} (sample: {sample})",
                    anomaly.name()
                ));
            }
        }
        expectations.push(Expectation {
            rule,
            anomaly,
            actual,
            required,
            status,
        });
    }

    for r in results {
        let what = format!("threshold `{} = \"{}\"`", r.metric, r.expression);
        match r.status {
            ThresholdStatus::Pass => {}
            ThresholdStatus::Fail => failures.push(match (&r.actual, &r.note) {
                (Some(actual), _) => format!("{what} failed: actual {}", show(*actual, r.unit)),
                (None, Some(note)) => format!("{what} failed: {note}"),
                (None, None) => format!("{what} failed"),
            }),
            ThresholdStatus::NoData => doubts.push(format!(
                "{what} has no data: {}",
                r.note.as_deref().unwrap_or("no value")
            )),
        }
    }

    if meta.is_none() {
        doubts.push(
            "the history has no meta line (the run did not end: a killed harness leaves none): \
             the guarantee is unknown, and phantom is not judged (an order observed at the cut \
             may have no send line yet)"
                .into(),
        );
    }
    if interrupted {
        doubts.push(
            "the run was interrupted (complete: false): lost and unobserved are not judged".into(),
        );
    }
    if analysis.in_flight.count > 0 && !interrupted {
        doubts.push(format!(
            "the drain did not finish: {}",
            analysis.in_flight.summary()
        ));
    }
    if analysis.counts.acknowledged_measured == 0 {
        doubts.push("too little data: no acknowledged order was intended after warm-up".into());
    }

    let decision = if !failures.is_empty() {
        Decision::Fail
    } else if !doubts.is_empty() {
        Decision::Inconclusive
    } else {
        Decision::Pass
    };
    if meta
        .and_then(|m| m.analysis.as_ref())
        .is_some_and(|o| o.final_state_unread)
    {
        notes.push(UNREAD_FINAL_STATE.into());
    }
    let mut reasons = failures;
    reasons.extend(doubts);
    if decision == Decision::Pass {
        let required = expectations.iter().filter(|e| e.required).count();
        reasons.push(format!(
            "all {required} rules required under {mode} held and all {} thresholds passed",
            results.len()
        ));
    }
    reasons.extend(notes);
    Verdict {
        decision,
        guarantee,
        reasons,
        expectations,
    }
}

/// The note of a run whose system's own final state was not read
/// ([`crate::AnalysisOptions::final_state_unread`]).
pub const UNREAD_FINAL_STATE: &str = "not checked: gateway double charges and the stock \
     invariants (stock below zero, reserved + available = initial): the system's payment ledger \
     and inventory were not read (an external platform); duplicate_effect and \
     invariant_violation count what the observed events show, nothing more";

/// A threshold's actual value for a sentence (`912.0ms`, `281.3/s`, `3`).
fn show(value: f64, unit: Unit) -> String {
    match unit {
        Unit::Count if value.fract() == 0.0 => format!("{value:.0}"),
        Unit::Count => format!("{value:.2}"),
        Unit::Us if value >= 1e6 => format!("{:.2}s", value / 1e6),
        Unit::Us if value >= 1e3 => format!("{:.1}ms", value / 1e3),
        Unit::Us => format!("{value:.0}us"),
        Unit::PerS => format!("{value:.1}/s"),
    }
}
