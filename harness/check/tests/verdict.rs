//! The verdict under each guarantee: what fails, what is only reported, and what makes
//! a run inconclusive.

mod support;

use check::{
    AnalysisOptions, Anomaly, Decision, ExpectationStatus, Guarantee, History, Observation,
    Verdict, analyze, evaluate, parse_threshold, verdict,
};
use support::{Flow, generate};

const ALL: [Guarantee; 3] = [
    Guarantee::AtMostOnce,
    Guarantee::AtLeastOnce,
    Guarantee::ExactlyOnce,
];

fn clean(guarantee: Guarantee) -> History {
    generate(&[Flow::Shipped; 10], 11, guarantee).history
}

fn judge(history: &History, thresholds: &[(&str, &str)]) -> Verdict {
    let analysis = analyze(history, &AnalysisOptions::default());
    let thresholds: Vec<_> = thresholds
        .iter()
        .map(|(m, e)| parse_threshold(m, e).expect("valid"))
        .collect();
    let results = evaluate(&analysis, &thresholds);
    verdict(history.meta.as_ref(), &analysis, &results)
}

fn lose_one(history: &mut History) {
    history
        .observations
        .retain(|o| o.event_id != "o-3/OrderShipped");
}

/// A second delivery of `event_type` for o-2 (same id, a new log entry).
fn redeliver(history: &mut History, event_type: &str) {
    let copy = history
        .observations
        .iter()
        .find(|o| o.key == "o-2" && o.event_type == event_type)
        .cloned()
        .expect("event");
    history.observations.push(Observation {
        observed_us: copy.observed_us + 5_000_000,
        position: "again".into(),
        ..copy
    });
}

#[test]
fn a_clean_run_passes_in_every_mode() {
    for g in ALL {
        let v = judge(&clean(g), &[("lost", "== 0")]);
        assert_eq!(v.decision, Decision::Pass, "{g:?}: {:?}", v.reasons);
        assert_eq!(v.guarantee, Some(g));
        assert_eq!(v.expectations.len(), 7);
        assert!(
            v.expectations
                .iter()
                .all(|e| e.status == ExpectationStatus::Held)
        );
        assert_eq!(v.decision.exit_code(), 0);
    }
}

#[test]
fn at_most_once_may_lose() {
    let mut h = clean(Guarantee::AtMostOnce);
    lose_one(&mut h);
    let v = judge(&h, &[]);
    assert_eq!(v.decision, Decision::Pass, "{:?}", v.reasons);
    assert!(
        v.reasons
            .iter()
            .any(|r| r == "lost = 1, allowed under at-most-once (sample: o-3)"),
        "{:?}",
        v.reasons
    );
    let lost = v
        .expectations
        .iter()
        .find(|e| e.anomaly == Anomaly::Lost)
        .unwrap();
    assert_eq!(
        (lost.status, lost.required),
        (ExpectationStatus::Broken, false)
    );
}

#[test]
fn at_least_and_exactly_once_must_not_lose() {
    for g in [Guarantee::AtLeastOnce, Guarantee::ExactlyOnce] {
        let mut h = clean(g);
        lose_one(&mut h);
        let v = judge(&h, &[]);
        assert_eq!(v.decision, Decision::Fail, "{g:?}");
        assert_eq!(
            v.reasons[0],
            format!("lost = 1, expected 0 under {} (sample: o-3)", g.name())
        );
        assert_eq!(v.decision.exit_code(), 1);
    }
}

#[test]
fn duplicate_deliveries_fail_only_exactly_once() {
    for (g, expected) in [
        (Guarantee::AtMostOnce, Decision::Pass),
        (Guarantee::AtLeastOnce, Decision::Pass),
        (Guarantee::ExactlyOnce, Decision::Fail),
    ] {
        let mut h = clean(g);
        redeliver(&mut h, "PaymentCaptured");
        assert_eq!(judge(&h, &[]).decision, expected, "{g:?}");
    }
    // the ingress's OrderPlaced is outside the processing services' transactions
    let mut h = clean(Guarantee::ExactlyOnce);
    redeliver(&mut h, "OrderPlaced");
    let v = judge(&h, &[]);
    assert_eq!(v.decision, Decision::Pass, "{:?}", v.reasons);
    let rule = &v.expectations[2];
    assert_eq!(rule.rule, "duplicate_delivery (all but OrderPlaced) == 0");
    assert_eq!(rule.actual, 0);
}

#[test]
fn duplicate_effects_are_allowed_only_at_least_once() {
    for (g, expected) in [
        (Guarantee::AtMostOnce, Decision::Fail),
        (Guarantee::AtLeastOnce, Decision::Pass),
        (Guarantee::ExactlyOnce, Decision::Fail),
    ] {
        let mut h = clean(g);
        h.charges.push(check::Charge {
            order_id: "o-4".into(),
            charge_id: "ch-again".into(),
        });
        assert_eq!(judge(&h, &[]).decision, expected, "{g:?}");
    }
}

#[test]
fn phantoms_invariants_and_ordering_fail_every_mode() {
    for g in ALL {
        let mut h = clean(g);
        h.stock[0].available -= 1;
        let v = judge(&h, &[]);
        assert_eq!(v.decision, Decision::Fail, "{g:?}");
        assert!(
            v.reasons[0].starts_with("invariant_violation = 1"),
            "{:?}",
            v.reasons
        );
    }
}

#[test]
fn a_failing_threshold_fails_and_no_data_is_inconclusive() {
    let h = clean(Guarantee::AtLeastOnce);
    let v = judge(&h, &[("latency.e2e.p99", "< 1us")]);
    assert_eq!(v.decision, Decision::Fail);
    assert!(
        v.reasons[0].starts_with("threshold `latency.e2e.p99 = \"< 1us\"` failed: actual "),
        "{:?}",
        v.reasons
    );
    let v = judge(
        &h,
        &[("latency.hop.OrderPlaced->StockRejected.p99", "< 1s")],
    );
    assert_eq!(v.decision, Decision::Inconclusive, "{:?}", v.reasons);
    assert_eq!(v.decision.exit_code(), 3);
    // a failure outweighs a missing value
    let v = judge(
        &h,
        &[
            ("latency.hop.OrderPlaced->StockRejected.p99", "< 1s"),
            ("lost", "> 0"),
        ],
    );
    assert_eq!(v.decision, Decision::Fail);
}

#[test]
fn an_interrupted_run_is_at_best_inconclusive() {
    let mut h = clean(Guarantee::AtLeastOnce);
    h.meta.as_mut().unwrap().complete = false;
    lose_one(&mut h);
    let v = judge(&h, &[]);
    assert_eq!(v.decision, Decision::Inconclusive, "{:?}", v.reasons);
    let lost = v
        .expectations
        .iter()
        .find(|e| e.anomaly == Anomaly::Lost)
        .unwrap();
    assert_eq!(lost.status, ExpectationStatus::NotJudged);
    // what does not depend on the drain is still judged
    h.stock[0].reserved += 1;
    assert_eq!(judge(&h, &[]).decision, Decision::Fail);
}

#[test]
fn too_little_data_or_no_meta_is_inconclusive() {
    let mut h = clean(Guarantee::AtLeastOnce);
    h.meta.as_mut().unwrap().warmup_end_us = u64::MAX; // everything is warm-up
    let v = judge(&h, &[]);
    assert_eq!(v.decision, Decision::Inconclusive);
    assert!(
        v.reasons[0].starts_with("too little data"),
        "{:?}",
        v.reasons
    );

    let mut h = clean(Guarantee::AtLeastOnce);
    h.meta = None;
    let v = judge(&h, &[]);
    assert_eq!((v.decision, v.guarantee), (Decision::Inconclusive, None));
    // without a guarantee, losing is reported but only the universal rules fail
    lose_one(&mut h);
    assert_eq!(judge(&h, &[]).decision, Decision::Inconclusive);
    h.stock[0].available = -1;
    assert_eq!(judge(&h, &[]).decision, Decision::Fail);
}

#[test]
fn the_verdict_serialises_with_the_documented_names() {
    let v = judge(&clean(Guarantee::ExactlyOnce), &[]);
    let json = serde_json::to_value(&v).expect("serialise");
    assert_eq!(json["decision"], "pass");
    assert_eq!(json["guarantee"], "exactly-once");
    assert_eq!(json["expectations"][0]["anomaly"], "lost");
    assert_eq!(json["expectations"][0]["status"], "held");
}

/// A history with no meta line is one whose run did not end (a run writes it last):
/// an order observed just before the cut may have no send line yet, so a phantom is
/// not judged there, and nothing is claimed of the guarantee.
#[test]
fn a_history_without_its_meta_line_judges_no_phantom() {
    let mut history = clean(Guarantee::AtLeastOnce);
    // The last order's send line was still in the writer's buffer when it was killed.
    let last = history.sends.pop().expect("a send");
    assert!(
        history.observations.iter().any(|o| o.key == last.order_id),
        "the order was observed"
    );
    let with_meta = judge(&history, &[]);
    assert_eq!(
        with_meta.decision,
        Decision::Fail,
        "{:?}",
        with_meta.reasons
    );

    history.meta = None;
    let cut = judge(&history, &[]);
    assert_eq!(cut.decision, Decision::Inconclusive, "{:?}", cut.reasons);
    let phantom = cut
        .expectations
        .iter()
        .find(|e| e.anomaly == Anomaly::Phantom)
        .expect("phantom rule");
    assert_eq!(phantom.status, ExpectationStatus::NotJudged);
    assert!(cut.reasons.iter().any(|r| r.contains("no meta line")));
}

#[test]
fn an_unread_final_state_is_said_not_held() {
    let mut history = clean(Guarantee::AtLeastOnce);
    let options = AnalysisOptions {
        final_state_unread: true,
        ..AnalysisOptions::default()
    };
    history.meta.as_mut().expect("meta").analysis = Some(options.clone());
    let analysis = analyze(&history, &options);
    let v = verdict(history.meta.as_ref(), &analysis, &[]);
    assert_eq!(v.decision, Decision::Pass, "{:?}", v.reasons);
    assert!(
        v.reasons
            .iter()
            .any(|r| r.starts_with("not checked: gateway double charges and the stock")),
        "{:?}",
        v.reasons
    );
    // Without the flag, nothing is said about it.
    let v = judge(&clean(Guarantee::AtLeastOnce), &[]);
    assert!(
        !v.reasons.iter().any(|r| r.contains("not checked")),
        "{:?}",
        v.reasons
    );
}

#[test]
fn terminal_types_from_the_options_decide_what_ends_an_order() {
    let mut history = clean(Guarantee::AtLeastOnce);
    lose_one(&mut history);
    let catalog = AnalysisOptions::default();
    // A system whose orders end at OrderConfirmed: o-3 did end.
    let confirmed = AnalysisOptions {
        terminal_types: vec!["OrderConfirmed".into()],
        ..AnalysisOptions::default()
    };
    for analyze in [check::analyze, check::analyze_reference] {
        assert_eq!(
            analyze(&history, &catalog).anomalies.count(Anomaly::Lost),
            1
        );
        let analysis = analyze(&history, &confirmed);
        assert_eq!(analysis.anomalies.count(Anomaly::Lost), 0);
        assert_eq!(analysis.counts.completed, 10);
    }
}
