//! In flight or lost: planted histories on both sides of the rule of
//! `check::inflight`, and a lost order among orders in flight.

mod support;

use check::{
    Analysis, AnalysisOptions, Anomaly, Decision, GroupPosition, Guarantee, History, LagSample,
    Observation, analyze, verdict,
};
use support::{Flow, acked, chain, meta};

const T0: u64 = 2_000_000;
const LOAD_END: u64 = 10_000_000;
/// `support::meta` ends the drain 5 s after the load.
const DRAIN_END: u64 = LOAD_END + 5_000_000;

fn run(history: &History) -> (Analysis, check::Verdict) {
    let analysis = analyze(history, &AnalysisOptions::default());
    let v = verdict(history.meta.as_ref(), &analysis, &[]);
    (analysis, v)
}

/// The first `steps` events of an order's shipped chain, at numeric positions
/// starting at `position` (one per event, on partition 0 of each topic).
fn partial(order: &str, steps: usize, t0: u64, position: u64) -> Vec<Observation> {
    chain(order, Flow::Shipped, t0, 1_000)
        .into_iter()
        .take(steps)
        .enumerate()
        .map(|(i, mut o)| {
            o.position = (position + i as u64).to_string();
            o
        })
        .collect()
}

fn lag(t_us: u64, group: &str, lag: u64, pending: Option<u64>, at: &[(&str, &str)]) -> LagSample {
    LagSample {
        t_us,
        group: group.into(),
        lag,
        pending,
        positions: at
            .iter()
            .map(|(topic, next)| GroupPosition {
                topic: (*topic).into(),
                partition: 0,
                next: (*next).into(),
            })
            .collect(),
    }
}

/// One finished order (o-1) and one stalled after its `OrderPlaced` at position 5 of
/// `orders` (o-2), with the lag samples given.
fn stalled_after_placed(lags: Vec<LagSample>) -> History {
    let mut observations = chain("o-1", Flow::Shipped, T0 + 5_000, 1_000);
    observations.extend(partial("o-2", 1, T0 + 25_000, 5));
    History {
        meta: Some(meta(Guarantee::AtLeastOnce, LOAD_END)),
        sends: vec![acked("o-1", T0), acked("o-2", T0 + 20_000)],
        observations,
        lags,
        ..History::default()
    }
}

#[test]
fn an_order_behind_a_groups_position_is_in_flight_and_the_verdict_inconclusive() {
    let history = stalled_after_placed(vec![
        lag(
            DRAIN_END - 500_000,
            "inventory",
            40,
            Some(2),
            &[("orders", "3")],
        ),
        lag(DRAIN_END - 500_000, "tap", 0, None, &[("orders", "6")]),
    ]);
    let (analysis, v) = run(&history);
    assert_eq!(analysis.anomalies.count(Anomaly::Lost), 0);
    assert_eq!(analysis.in_flight.count, 1);
    assert_eq!(analysis.in_flight.sample, ["o-2"]);
    assert_eq!(analysis.in_flight.groups[0].group, "inventory");
    assert_eq!(v.decision, Decision::Inconclusive);
    assert_eq!(v.decision.exit_code(), 3);
    assert!(
        v.reasons.contains(
            &"the drain did not finish: 1 order in flight, backlog 42 in group inventory"
                .to_string()
        ),
        "{:?}",
        v.reasons
    );
}

#[test]
fn an_order_a_group_has_moved_past_is_lost_even_while_the_group_has_a_backlog() {
    // Inventory's position (6) is past o-2's OrderPlaced (5): it took the entry and
    // produced nothing; its backlog is other orders' entries.
    let history = stalled_after_placed(vec![
        lag(
            DRAIN_END - 500_000,
            "inventory",
            40,
            Some(0),
            &[("orders", "6")],
        ),
        lag(DRAIN_END - 500_000, "tap", 0, None, &[]),
    ]);
    let (analysis, v) = run(&history);
    assert_eq!(analysis.anomalies.count(Anomaly::Lost), 1);
    assert_eq!(analysis.anomalies.sample(Anomaly::Lost), ["o-2"]);
    assert_eq!(analysis.in_flight.count, 0);
    assert_eq!(v.decision, Decision::Fail);
}

#[test]
fn without_positions_zero_lag_and_nothing_pending_means_moved_past() {
    let idle = stalled_after_placed(vec![lag(DRAIN_END, "inventory", 0, Some(0), &[])]);
    let (analysis, _) = run(&idle);
    assert_eq!(analysis.anomalies.count(Anomaly::Lost), 1);
    assert_eq!(analysis.in_flight.count, 0);

    for (lag_now, pending) in [(3, Some(0)), (0, Some(1))] {
        let busy = stalled_after_placed(vec![lag(DRAIN_END, "inventory", lag_now, pending, &[])]);
        let (analysis, _) = run(&busy);
        assert_eq!(analysis.anomalies.count(Anomaly::Lost), 0);
        assert_eq!(analysis.in_flight.count, 1);
    }
}

#[test]
fn a_group_without_samples_holds_no_evidence_of_a_backlog() {
    // No lag lines at all (histories written before they were recorded, planted ones).
    let (analysis, _) = run(&stalled_after_placed(Vec::new()));
    assert_eq!(analysis.anomalies.count(Anomaly::Lost), 1);
    assert_eq!(analysis.in_flight.count, 0);
}

#[test]
fn samples_after_the_drain_ended_do_not_count() {
    let history = stalled_after_placed(vec![
        lag(
            DRAIN_END - 500_000,
            "inventory",
            7,
            Some(0),
            &[("orders", "2")],
        ),
        lag(
            DRAIN_END + 500_000,
            "inventory",
            0,
            Some(0),
            &[("orders", "9")],
        ),
    ]);
    let (analysis, _) = run(&history);
    assert_eq!(analysis.in_flight.count, 1);
    assert_eq!(analysis.in_flight.groups[0].lag, 7);
}

#[test]
fn a_tap_with_entries_left_to_read_keeps_every_unfinished_order_in_flight() {
    let mut history = stalled_after_placed(vec![
        lag(DRAIN_END, "inventory", 0, Some(0), &[("orders", "9")]),
        lag(DRAIN_END, "tap", 12, None, &[]),
    ]);
    // An order whose OrderPlaced the tap has not read yet: neither lost nor unobserved.
    history.sends.push(acked("o-3", T0 + 40_000));
    let (analysis, v) = run(&history);
    assert_eq!(analysis.anomalies.count(Anomaly::Lost), 0);
    assert_eq!(analysis.anomalies.count(Anomaly::Unobserved), 0);
    assert_eq!(analysis.in_flight.count, 2);
    assert_eq!(analysis.in_flight.sample, ["o-2", "o-3"]);
    assert!(
        v.reasons
            .iter()
            .any(|r| r.contains("backlog 12 in the harness's tap")),
        "{:?}",
        v.reasons
    );
}

#[test]
fn a_caught_up_tap_makes_a_never_observed_order_lost_and_unobserved() {
    let mut history = stalled_after_placed(vec![
        lag(DRAIN_END, "inventory", 0, Some(0), &[("orders", "9")]),
        lag(DRAIN_END, "tap", 0, None, &[]),
    ]);
    history.sends.push(acked("o-3", T0 + 40_000));
    let (analysis, _) = run(&history);
    assert_eq!(analysis.anomalies.sample(Anomaly::Lost), ["o-2", "o-3"]);
    assert_eq!(analysis.anomalies.sample(Anomaly::Unobserved), ["o-3"]);
    assert_eq!(analysis.in_flight.count, 0);
}

#[test]
fn one_order_lost_while_others_are_in_flight_fails_the_run() {
    // o-2 stalled after OrderPlaced behind inventory's position in partition 0: in
    // flight. o-3 (partition 1) stalled after StockReserved (position 21 of
    // `inventory`); inventory is past its OrderPlaced, payment past its StockReserved:
    // lost.
    let mut history = stalled_after_placed(vec![
        LagSample {
            positions: vec![
                GroupPosition {
                    topic: "orders".into(),
                    partition: 0,
                    next: "4".into(),
                },
                GroupPosition {
                    topic: "orders".into(),
                    partition: 1,
                    next: "40".into(),
                },
            ],
            ..lag(DRAIN_END, "inventory", 900, Some(10), &[])
        },
        LagSample {
            positions: vec![GroupPosition {
                topic: "inventory".into(),
                partition: 1,
                next: "22".into(),
            }],
            ..lag(DRAIN_END, "payment", 0, Some(0), &[])
        },
        lag(DRAIN_END, "tap", 0, None, &[]),
    ]);
    history.sends.push(acked("o-3", T0 + 40_000));
    history.observations.extend(
        partial("o-3", 2, T0 + 45_000, 20)
            .into_iter()
            .map(|o| Observation { partition: 1, ..o }),
    );
    let (analysis, v) = run(&history);
    assert_eq!(analysis.anomalies.sample(Anomaly::Lost), ["o-3"]);
    assert_eq!(analysis.in_flight.sample, ["o-2"]);
    assert_eq!(v.decision, Decision::Fail);
    assert!(
        v.reasons[0].starts_with("lost = 1, expected 0"),
        "{:?}",
        v.reasons
    );
    assert!(
        v.reasons
            .iter()
            .any(|r| r.starts_with("the drain did not finish: 1 order in flight")),
        "{:?}",
        v.reasons
    );
}

#[test]
fn a_step_whose_input_is_not_yet_acknowledged_keeps_its_order_in_flight() {
    // o-2 reached OrderConfirmed and ShipmentCreated; shipping published that but has
    // not acknowledged OrderConfirmed (its position is at it), so OrderShipped may
    // still come.
    let mut observations = partial("o-2", 5, T0 + 25_000, 30);
    observations.retain(|o| o.event_type != "OrderShipped");
    let history = History {
        meta: Some(meta(Guarantee::AtLeastOnce, LOAD_END)),
        sends: vec![acked("o-2", T0 + 20_000)],
        observations,
        lags: vec![
            lag(DRAIN_END, "shipping", 0, Some(1), &[("orders", "33")]),
            lag(DRAIN_END, "tap", 0, None, &[]),
        ],
        ..History::default()
    };
    let (analysis, _) = run(&history);
    assert_eq!(analysis.anomalies.count(Anomaly::Lost), 0);
    assert_eq!(analysis.in_flight.sample, ["o-2"]);
    assert_eq!(analysis.in_flight.groups[0].group, "shipping");
}

#[test]
fn a_by_product_does_not_hide_the_step_an_order_waits_at() {
    // o-2 reached OrderConfirmed (which also caused a NotificationSent); shipping is
    // behind it.
    let mut observations = partial("o-2", 4, T0 + 25_000, 30);
    let confirmed = observations[3].clone();
    let mut note = confirmed.clone();
    note.event_id = "n-1".into();
    note.event_type = "NotificationSent".into();
    note.topic = "notifications".into();
    note.causation_id = Some(confirmed.event_id.clone());
    note.position = "0".into();
    observations.push(note);
    let history = History {
        meta: Some(meta(Guarantee::ExactlyOnce, LOAD_END)),
        sends: vec![acked("o-2", T0 + 20_000)],
        observations,
        lags: vec![
            lag(DRAIN_END, "shipping", 3, None, &[("orders", "33")]),
            lag(DRAIN_END, "tap", 0, None, &[]),
        ],
        ..History::default()
    };
    let (analysis, _) = run(&history);
    assert_eq!(analysis.in_flight.sample, ["o-2"]);
    assert_eq!(analysis.in_flight.groups[0].group, "shipping");
    // Once shipping is past OrderConfirmed's entry (33), it is lost.
    let mut past = history.clone();
    past.lags[0].positions[0].next = "34".into();
    let (analysis, _) = run(&past);
    assert_eq!(analysis.anomalies.sample(Anomaly::Lost), ["o-2"]);
}

#[test]
fn redis_stream_ids_compare_as_pairs() {
    let mut history = stalled_after_placed(vec![lag(
        DRAIN_END,
        "inventory",
        0,
        Some(0),
        &[("orders", "1700000000000-10")],
    )]);
    let o2 = history
        .observations
        .iter_mut()
        .find(|o| o.key == "o-2")
        .unwrap();
    o2.position = "1700000000000-9".into();
    assert_eq!(run(&history).0.anomalies.count(Anomaly::Lost), 1);
    let o2 = history
        .observations
        .iter_mut()
        .find(|o| o.key == "o-2")
        .unwrap();
    // Same millisecond, a higher sequence than the group's next: not yet processed.
    o2.position = "1700000000000-10".into();
    assert_eq!(run(&history).0.in_flight.count, 1);
}

#[test]
fn an_unknown_partition_or_a_position_that_does_not_parse_is_no_proof() {
    let history = stalled_after_placed(vec![lag(
        DRAIN_END,
        "inventory",
        0,
        Some(0),
        &[("payments", "99")],
    )]);
    assert_eq!(run(&history).0.in_flight.count, 1);
    let mut garbled = history.clone();
    garbled.lags[0].positions[0].topic = "orders".into();
    garbled.lags[0].positions[0].next = "not-a-position".into();
    assert_eq!(run(&garbled).0.in_flight.count, 1);
}
