//! One small literal history per anomaly: the count and the sample ids, and the
//! look-alikes that must not count.

mod support;

use check::{
    Analysis, AnalysisOptions, Anomaly, Charge, Guarantee, History, SendOutcome, StockLine, analyze,
};
use support::{Flow, acked, chain, ev, meta, send};

const T0: u64 = 2_000_000;

fn run(history: &History) -> Analysis {
    analyze(history, &AnalysisOptions::default())
}

/// Asserts `anomaly` was found `count` times with exactly `sample`, and nothing else.
fn only(analysis: &Analysis, anomaly: Anomaly, count: u64, sample: &[&str]) {
    for other in Anomaly::ALL {
        let expected = if other == anomaly { count } else { 0 };
        assert_eq!(
            analysis.anomalies.count(other),
            expected,
            "{}: {:#?}",
            other.name(),
            analysis.anomalies
        );
    }
    assert_eq!(analysis.anomalies.sample(anomaly), sample);
}

/// Two acked orders flowing cleanly: o-1 ships, o-2 is cancelled for lack of stock.
fn clean() -> History {
    let mut observations = chain("o-1", Flow::Shipped, T0 + 5_000, 1_000);
    observations.extend(chain("o-2", Flow::StockRejected, T0 + 25_000, 1_000));
    History {
        meta: Some(meta(Guarantee::AtLeastOnce, 10_000_000)),
        sends: vec![acked("o-1", T0), acked("o-2", T0 + 20_000)],
        observations,
        charges: vec![Charge {
            order_id: "o-1".into(),
            charge_id: "ch-1".into(),
        }],
        stock: vec![StockLine {
            sku: "sku-1".into(),
            shard: 0,
            available: 999,
            reserved: 1,
            initial: 1_000,
        }],
        ..History::default()
    }
}

#[test]
fn the_clean_history_is_clean() {
    assert!(run(&clean()).anomalies.is_clean());
}

#[test]
fn lost_an_acked_order_without_a_terminal_event() {
    let mut history = clean();
    history
        .observations
        .retain(|o| o.event_id != "o-2/OrderCancelled");
    // an order that stops at OrderConfirmed is lost too: shipping never finished it
    history.sends.push(acked("o-3", T0 + 40_000));
    history.observations.extend(
        chain("o-3", Flow::Shipped, T0 + 45_000, 1_000)
            .into_iter()
            .filter(|o| o.event_type != "ShipmentCreated" && o.event_type != "OrderShipped"),
    );
    // not acked, not obligated
    history
        .sends
        .push(send("o-4", T0 + 60_000, SendOutcome::Error));
    only(&run(&history), Anomaly::Lost, 2, &["o-2", "o-3"]);
}

#[test]
fn unobserved_an_acked_order_whose_order_placed_the_tap_never_read() {
    let mut history = clean();
    history
        .observations
        .retain(|o| o.event_id != "o-1/OrderPlaced");
    only(&run(&history), Anomaly::Unobserved, 1, &["o-1"]);
}

#[test]
fn duplicate_delivery_counts_extra_log_entries_not_tap_rereads() {
    let mut history = clean();
    let reserved = ev(
        "o-1/StockReserved",
        "StockReserved",
        "o-1",
        2,
        Some("o-1/OrderPlaced"),
        0,
    );
    // written twice more (three entries: two extra), read late, after higher seqs
    for (n, t) in [(1, T0 + 90_000), (2, T0 + 95_000)] {
        history.observations.push(check::Observation {
            observed_us: t,
            position: format!("again-{n}"),
            ..reserved.clone()
        });
    }
    // the tap read one entry twice (same position): not the system's doing
    let mut reread = history.observations[0].clone();
    reread.observed_us += 70_000;
    history.observations.push(reread);

    let analysis = run(&history);
    only(
        &analysis,
        Anomaly::DuplicateDelivery,
        2,
        &["o-1/StockReserved"],
    );
    assert_eq!(analysis.anomaly_details.tap_rereads, 1);
    assert_eq!(
        analysis.anomaly_details.duplicate_delivery_by_type["StockReserved"],
        2
    );
}

#[test]
fn duplicate_effect_a_step_under_a_second_id_or_a_second_charge() {
    let mut history = clean();
    history.observations.push(ev(
        "o-1/PaymentCaptured#2",
        "PaymentCaptured",
        "o-1",
        3,
        Some("o-1/StockReserved"),
        T0 + 7_500,
    ));
    history.charges.push(Charge {
        order_id: "o-1".into(),
        charge_id: "ch-2".into(),
    });
    // by-products repeat legitimately: two StockUpdated for one order are fine
    for n in 0..2 {
        history.observations.push(ev(
            &format!("o-1/stock-updated-{n}"),
            "StockUpdated",
            "o-1",
            3,
            Some("o-1/StockReserved"),
            T0 + 6_500 + n,
        ));
    }
    let analysis = run(&history);
    only(
        &analysis,
        Anomaly::DuplicateEffect,
        2,
        &["o-1/PaymentCaptured#2", "o-1"],
    );
    assert_eq!(analysis.anomaly_details.extra_charges, 1);
}

#[test]
fn ordering_violation_a_lower_seq_after_a_higher_one_in_a_partition() {
    let mut history = clean();
    for o in &mut history.observations {
        // OrderShipped (seq 6) now read before ShipmentCreated (seq 5), same partition
        if o.event_id == "o-1/OrderShipped" {
            o.observed_us = T0 + 8_500; // its cause, OrderConfirmed, is at T0 + 8 000
        }
    }
    only(
        &run(&history),
        Anomaly::OrderingViolation,
        1,
        &["o-1/ShipmentCreated"],
    );
}

#[test]
fn ordering_violation_an_effect_before_its_cause() {
    let mut history = clean();
    for o in &mut history.observations {
        if o.event_id == "o-2/StockRejected" {
            // Produced (and read) before OrderPlaced, which is stamped at T0 + 24 950
            // and read at T0 + 25 000.
            o.observed_us = T0 + 24_000;
            o.produced_us = Some(T0 + 23_950);
        }
    }
    only(
        &run(&history),
        Anomaly::OrderingViolation,
        1,
        &["o-2/StockRejected"],
    );
    // within the allowed slack it is not a violation
    let options = AnalysisOptions {
        causality_slack_us: 1_000,
        ..AnalysisOptions::default()
    };
    assert!(analyze(&history, &options).anomalies.is_clean());
}

#[test]
fn an_effect_only_read_before_its_cause_is_not_a_violation_when_produced_after_it() {
    // The tap reads every topic on its own: behind on one, it reads an effect before
    // the cause the system produced first. The producers' times are what prove it.
    let mut history = clean();
    for o in &mut history.observations {
        if o.event_id == "o-2/StockRejected" {
            o.observed_us = T0 + 24_000; // produced after OrderPlaced, read before it
        }
    }
    assert!(run(&history).anomalies.is_clean());
    // Without producer times, the observation times are all there is.
    for o in &mut history.observations {
        o.produced_us = None;
    }
    only(
        &run(&history),
        Anomaly::OrderingViolation,
        1,
        &["o-2/StockRejected"],
    );
}

#[test]
fn ordering_ignores_other_partitions_by_products_and_missing_causes() {
    let mut history = clean();
    // notifications: the service read topics in its own order, seqs go backwards
    history.observations.push(ev(
        "n-2",
        "NotificationSent",
        "o-1",
        5,
        Some("o-1/PaymentCaptured"),
        T0 + 8_000,
    ));
    history.observations.push(ev(
        "n-1",
        "NotificationSent",
        "o-1",
        2,
        Some("o-1/OrderPlaced"),
        T0 + 8_100,
    ));
    // a cause that was never observed is not "later"
    history
        .observations
        .retain(|o| o.event_id != "o-1/StockReserved");
    // same key, another partition: no order between partitions
    let mut other = ev(
        "o-1/OrderCancelled",
        "OrderCancelled",
        "o-1",
        2,
        None,
        T0 + 1,
    );
    other.partition = 1;
    history.observations.push(other);
    let analysis = run(&history);
    assert_eq!(analysis.anomalies.count(Anomaly::OrderingViolation), 0);
}

#[test]
fn phantom_an_order_placed_nobody_sent() {
    let mut history = clean();
    history.observations.push(ev(
        "e-foreign",
        "OrderPlaced",
        "o-999",
        1,
        None,
        T0 + 50_000,
    ));
    // an order the API refused but which got through anyway is not a phantom
    history
        .sends
        .push(send("o-5", T0 + 60_000, SendOutcome::Rejected));
    history.observations.push(ev(
        "o-5/OrderPlaced",
        "OrderPlaced",
        "o-5",
        1,
        None,
        T0 + 61_000,
    ));
    only(&run(&history), Anomaly::Phantom, 1, &["e-foreign"]);
}

#[test]
fn invariant_violation_broken_stock_and_confirmed_and_cancelled() {
    let mut history = clean();
    history.stock.push(StockLine {
        sku: "sku-2".into(),
        shard: 1,
        available: -2,
        reserved: 1_002,
        initial: 1_000,
    });
    history.stock.push(StockLine {
        sku: "sku-3".into(),
        shard: 0,
        available: 990,
        reserved: 5,
        initial: 1_000,
    });
    history.observations.push(ev(
        "o-1/OrderCancelled",
        "OrderCancelled",
        "o-1",
        5,
        Some("o-1/OrderConfirmed"),
        T0 + 8_500,
    ));
    only(
        &run(&history),
        Anomaly::InvariantViolation,
        3,
        &["sku-2/1", "sku-3/0", "o-1"],
    );
}

#[test]
fn samples_are_bounded_but_counts_are_not() {
    let mut history = clean();
    for n in 0..25 {
        history
            .sends
            .push(acked(&format!("lost-{n:02}"), T0 + 100_000 + n));
    }
    let analysis = run(&history);
    assert_eq!(analysis.anomalies.count(Anomaly::Lost), 25);
    let sample = analysis.anomalies.sample(Anomaly::Lost);
    assert_eq!(sample.len(), check::AnomalyReport::SAMPLE);
    assert_eq!(sample[0], "lost-00");
}
