//! The gate on literal trials: identical → pass, a slower run → regressed naming the
//! metric, a lost order → fail with unchanged performance, noisy trials → inconclusive,
//! interrupted trials refused; reading a real results.json and the baseline format.

use std::collections::BTreeMap;

use check::gate::baseline::{Baseline, BaselineError};
use check::gate::decide::Change;
use check::gate::trial::{
    AnomalyCount, ThresholdOutcome, Trial, TrialError, TrialSet, config_hash,
};
use check::gate::{CheckStatus, GateOptions, GateReport, gate};
use check::{Decision, ExpectationStatus, Results};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::{Value, json};

const REAL: &str = include_str!("../../tests/data/ci-gate-results.json");

/// A clean at-least-once trial with these e2e latencies (ms) and throughput.
fn trial(label: &str, p50_ms: f64, p99_ms: f64, throughput: f64) -> Trial {
    let metrics = BTreeMap::from([
        ("throughput.mean".to_string(), throughput),
        ("latency.e2e.p50".to_string(), p50_ms * 1e3),
        ("latency.e2e.p99".to_string(), p99_ms * 1e3),
        ("lag.max".to_string(), 5.0),
    ]);
    let anomalies = [("lost", true), ("duplicate_delivery", false)]
        .into_iter()
        .map(|(name, required)| {
            (
                name.to_string(),
                AnomalyCount {
                    count: 0,
                    required,
                    status: ExpectationStatus::Held,
                },
            )
        })
        .collect();
    Trial {
        label: label.into(),
        complete: true,
        verdict: Decision::Pass,
        metrics,
        anomalies,
        thresholds: vec![ThresholdOutcome {
            metric: "lost".into(),
            expression: "== 0".into(),
            actual: Some(0.0),
            unit: None,
            pass: true,
        }],
        sent: 480,
        late: 0,
    }
}

fn set(trials: Vec<Trial>) -> TrialSet {
    TrialSet {
        experiment: "ci-gate".into(),
        config_hash: "0123456789abcdef".into(),
        environment: json!({"cpus": 2}),
        trials,
    }
}

fn steady(n: usize, p50: f64, p99: f64) -> TrialSet {
    // Small, fixed wobble around the given values.
    let wobble = [1.0, 1.02, 0.98, 1.01, 0.99];
    set((0..n)
        .map(|i| {
            let w = wobble[i % wobble.len()];
            trial(
                &format!("trial-{}", i + 1),
                p50 * w,
                p99 * w,
                40.0 * (2.0 - w),
            )
        })
        .collect())
}

fn run(baseline: &TrialSet, current: &TrialSet) -> GateReport {
    gate(
        baseline,
        current,
        &GateOptions::default(),
        &mut StdRng::seed_from_u64(7),
    )
}

fn row<'a>(report: &'a GateReport, metric: &str) -> &'a check::gate::MetricRow {
    report
        .metrics
        .iter()
        .find(|r| r.metric == metric)
        .unwrap_or_else(|| panic!("no row for {metric}: {report:#?}"))
}

#[test]
fn identical_trials_pass() {
    let baseline = steady(3, 11.0, 120.0);
    let report = run(&baseline, &baseline.clone());
    assert_eq!(report.decision, Decision::Pass, "{report:#?}");
    assert!(
        report
            .metrics
            .iter()
            .all(|r| r.decision == Change::NoChange)
    );
    assert!(
        report
            .correctness
            .iter()
            .all(|r| r.status == CheckStatus::Held)
    );
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
}

#[test]
fn slower_latency_regresses_and_names_the_metric() {
    let baseline = steady(5, 11.0, 120.0);
    let current = steady(3, 11.0, 320.0);
    let report = run(&baseline, &current);
    assert_eq!(report.decision, Decision::Fail);
    assert_eq!(row(&report, "latency.e2e.p99").decision, Change::Regressed);
    assert_eq!(row(&report, "latency.e2e.p50").decision, Change::NoChange);
    assert!(
        report.reasons.iter().any(|r| r.contains("latency.e2e.p99")),
        "{:?}",
        report.reasons
    );
}

#[test]
fn faster_latency_is_an_improvement_and_passes() {
    let report = run(&steady(3, 20.0, 120.0), &steady(3, 10.0, 120.0));
    assert_eq!(row(&report, "latency.e2e.p50").decision, Change::Improved);
    assert_eq!(report.decision, Decision::Pass);
}

#[test]
fn a_lost_order_fails_even_with_unchanged_performance() {
    let baseline = steady(3, 11.0, 120.0);
    let mut current = baseline.clone();
    let lost = current.trials[1].anomalies.get_mut("lost").unwrap();
    lost.count = 1;
    lost.status = ExpectationStatus::Broken;
    let report = run(&baseline, &current);
    assert_eq!(report.decision, Decision::Fail);
    assert!(
        report
            .metrics
            .iter()
            .all(|r| r.decision == Change::NoChange)
    );
    let lost = report
        .correctness
        .iter()
        .find(|r| r.rule == "lost == 0")
        .unwrap();
    assert_eq!(lost.status, CheckStatus::Broken);
    assert!(
        report.reasons[0].contains("lost = 1 in trial-2"),
        "{:?}",
        report.reasons
    );
}

#[test]
fn a_failed_threshold_fails() {
    let baseline = steady(3, 11.0, 120.0);
    let mut current = baseline.clone();
    current.trials[2].thresholds[0].pass = false;
    let report = run(&baseline, &current);
    assert_eq!(report.decision, Decision::Fail);
    assert!(
        report
            .reasons
            .iter()
            .any(|r| r.contains("threshold `lost == 0` failed in trial-3"))
    );
}

#[test]
fn allowed_duplicates_do_not_fail() {
    let baseline = steady(3, 11.0, 120.0);
    let mut current = baseline.clone();
    let dup = current.trials[0]
        .anomalies
        .get_mut("duplicate_delivery")
        .unwrap();
    dup.count = 4;
    dup.status = ExpectationStatus::Broken;
    let report = run(&baseline, &current);
    assert_eq!(report.decision, Decision::Pass);
    let row = report
        .correctness
        .iter()
        .find(|r| r.rule == "duplicate_delivery == 0")
        .unwrap();
    assert_eq!(row.status, CheckStatus::Allowed);
}

#[test]
fn trials_too_noisy_to_decide_are_inconclusive() {
    let baseline = steady(3, 11.0, 120.0);
    // One trial on a busy machine: p99 ten times the others.
    let current = set(vec![
        trial("trial-1", 11.0, 120.0, 40.0),
        trial("trial-2", 11.5, 1200.0, 40.0),
        trial("trial-3", 10.8, 118.0, 40.0),
    ]);
    let report = run(&baseline, &current);
    assert_eq!(report.decision, Decision::Inconclusive, "{report:#?}");
    assert_eq!(
        row(&report, "latency.e2e.p99").decision,
        Change::Inconclusive
    );
    assert!(report.reasons.iter().any(|r| r.contains("too noisy")));
}

#[test]
fn incomplete_trials_are_refused() {
    let baseline = steady(3, 11.0, 120.0);
    let mut current = baseline.clone();
    current.trials[2].complete = false;
    let report = run(&baseline, &current);
    assert_eq!(report.decision, Decision::Inconclusive);
    assert!(report.metrics.is_empty());
    assert!(
        report.reasons[0].contains("trial-3 is incomplete"),
        "{:?}",
        report.reasons
    );
}

#[test]
fn a_wider_tolerance_turns_a_regression_into_no_change() {
    let baseline = steady(3, 11.0, 120.0);
    let current = steady(3, 11.0, 160.0);
    assert_eq!(run(&baseline, &current).decision, Decision::Fail);
    let options = GateOptions {
        tolerances: BTreeMap::from([("latency".to_string(), 0.5)]),
        ..GateOptions::default()
    };
    assert_eq!(options.tolerance("latency.e2e.p99"), 0.5);
    assert_eq!(options.tolerance("lag.max"), 0.25);
    let report = gate(&baseline, &current, &options, &mut StdRng::seed_from_u64(7));
    assert_eq!(report.decision, Decision::Pass, "{report:#?}");
}

#[test]
fn a_metric_the_baseline_had_but_no_current_trial_has_is_inconclusive() {
    let baseline = steady(3, 11.0, 120.0);
    let mut current = baseline.clone();
    for t in &mut current.trials {
        t.metrics.remove("lag.max");
    }
    let report = run(&baseline, &current);
    assert_eq!(report.decision, Decision::Inconclusive);
    assert_eq!(row(&report, "lag.max").decision, Change::Inconclusive);
}

#[test]
fn different_experiments_and_busy_machines_are_warned_about() {
    let baseline = steady(3, 11.0, 120.0);
    let mut current = baseline.clone();
    current.config_hash = "fedcba9876543210".into();
    current.environment = json!({"cpus": 4});
    current.trials[0].late = 100;
    let report = run(&baseline, &current);
    let text = report.warnings.join("\n");
    assert!(text.contains("different configuration"), "{text}");
    assert!(text.contains("cpus: 2 → 4"), "{text}");
    assert!(
        text.contains("1 of 3 current trials had more than 5 % of their orders sent late (worst: trial-1, 100 of 480)"),
        "{text}"
    );
}

#[test]
fn the_same_seed_gives_the_same_report() {
    let (a, b) = (steady(3, 11.0, 120.0), steady(4, 12.0, 125.0));
    assert_eq!(run(&a, &b), run(&a, &b));
}

fn real() -> Value {
    serde_json::from_str(REAL).unwrap()
}

fn typed(doc: Value) -> Results {
    serde_json::from_value(doc).unwrap()
}

#[test]
fn reads_a_real_results_json() {
    let trial = Trial::from_results("real", &typed(real())).unwrap();
    assert!(trial.complete);
    assert_eq!(trial.verdict, Decision::Pass);
    for metric in check::gate::metric::METRICS {
        assert!(
            trial.metrics.contains_key(metric.name),
            "{} missing",
            metric.name
        );
    }
    assert_eq!(trial.anomalies["lost"].count, 0);
    assert!(trial.anomalies["lost"].required);
    assert!(!trial.anomalies["duplicate_delivery"].required);
    assert_eq!(trial.thresholds.len(), 5);
    assert!(trial.sent > 0);
}

#[test]
fn a_missing_field_is_named() {
    let mut doc = real();
    doc.as_object_mut().unwrap().remove("expectations");
    let e = Trial::from_results("runs/x/results.json", &typed(doc)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "runs/x/results.json: `expectations` is missing or not a list of the guarantee's rules (every finished run has them)"
    );
    let mut doc = real();
    doc["format"] = json!(9);
    let e = Trial::from_results("runs/y/results.json", &typed(doc)).unwrap_err();
    assert!(matches!(e, TrialError::Format { .. }), "{e}");
    assert_eq!(
        e.to_string(),
        "runs/y/results.json: results format 9 is not one this harness reads (1)"
    );
    let mut doc = real();
    doc.as_object_mut().unwrap().remove("format");
    let e = Trial::from_results("runs/z/results.json", &typed(doc)).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("runs/z/results.json: results format (missing)"),
        "{e}"
    );
    let mut doc = real();
    doc.as_object_mut().unwrap().remove("config");
    let e = TrialSet::from_results(&[("runs/c/results.json".into(), typed(doc))]).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("runs/c/results.json: `config` is missing"),
        "{e}"
    );
}

#[test]
fn an_interrupted_trial_reads_as_incomplete() {
    let mut doc = real();
    doc["complete"] = json!(false);
    let trial = Trial::from_results("r", &typed(doc)).unwrap();
    assert!(!trial.complete);
}

#[test]
fn trials_of_different_configurations_do_not_mix() {
    let a = typed(real());
    let mut b = real();
    b["config"]["workload"]["rate"] = json!(80);
    let e = TrialSet::from_results(&[("a".into(), a.clone()), ("b".into(), typed(b))]).unwrap_err();
    assert!(matches!(e, TrialError::MixedConfigs { .. }), "{e}");
    let set = TrialSet::from_results(&[("a".into(), a.clone()), ("b".into(), a)]).unwrap();
    assert_eq!(set.trials.len(), 2);
    assert_eq!(set.experiment, "ci-gate");
}

#[test]
fn the_config_hash_ignores_key_order_and_origin() {
    let a = json!({"name": "x", "origin": "experiments/x.toml", "workload": {"rate": 40, "customers": 1}});
    let b = json!({"workload": {"customers": 1, "rate": 40}, "name": "x", "origin": "/elsewhere/x.toml"});
    assert_eq!(config_hash(&a), config_hash(&b));
    let c = json!({"name": "x", "workload": {"rate": 41, "customers": 1}});
    assert_ne!(config_hash(&a), config_hash(&c));
}

#[test]
fn baseline_files_round_trip_and_are_recognised() {
    let set = TrialSet::from_results(&[("trial-1".into(), typed(real()))]).unwrap();
    let baseline = Baseline::new("runs/ci-gate/latest".into(), set);
    let text = serde_json::to_string_pretty(&baseline).unwrap();
    assert_eq!(Baseline::from_json(&text).unwrap(), baseline);
    assert!(matches!(
        Baseline::from_json(REAL),
        Err(BaselineError::Kind(_))
    ));
    assert!(matches!(
        Baseline::from_json("{"),
        Err(BaselineError::Json(_))
    ));
    let future = text.replace("\"format\": 1", "\"format\": 2");
    assert!(matches!(
        Baseline::from_json(&future),
        Err(BaselineError::Format(2))
    ));
}

#[test]
fn the_committed_ci_baseline_reads() {
    let baseline = Baseline::from_json(include_str!("../../../baselines/ci.json"))
        .expect("baselines/ci.json reads");
    assert_eq!(baseline.set.experiment, "ci-gate");
    assert!(baseline.set.trials.iter().all(|t| t.complete));
}
