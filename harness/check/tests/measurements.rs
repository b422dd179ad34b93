//! Measurements on a literal history with known numbers: 10 orders per second for 20 s,
//! 10 ms end to end, 500 ms for orders sent during a fault at 8-10 s, 300 ms for the
//! two seconds after it, then 10 ms again; one consumer group's lag rises in the fault
//! and settles at 13 s.

mod support;

use check::{
    AnalysisOptions, FaultKind, FaultRecord, Guarantee, History, LagSample, MetricSample,
    SendOutcome, analyze,
};
use support::{acked, ev, meta, send};

const S: u64 = 1_000_000;

fn latency_of(intended_us: u64) -> u64 {
    match intended_us / S {
        0 => 900_000, // warm-up: slow, and left out
        8 | 9 => 500_000,
        10 | 11 => 300_000,
        _ => 10_000,
    }
}

fn history() -> History {
    let mut h = History {
        meta: Some(meta(Guarantee::AtLeastOnce, 20 * S)),
        ..History::default()
    };
    for second in 0..20 {
        for j in 0..10 {
            let id = format!("o-{second}-{j}");
            let intended = second * S + j * 100_000;
            h.sends.push(acked(&id, intended));
            let placed = format!("{id}/placed");
            h.observations
                .push(ev(&placed, "OrderPlaced", &id, 1, None, intended + 2_000));
            h.observations.push(ev(
                &format!("{id}/cancelled"),
                "OrderCancelled",
                &id,
                2,
                Some(&placed),
                intended + latency_of(intended),
            ));
        }
    }
    h.sends[35].sent_us = Some(h.sends[35].intended_us + 20_000); // late, measured
    h.sends[5].sent_us = Some(h.sends[5].intended_us + 30_000); // late, in warm-up
    h.sends
        .push(send("o-dropped", 5 * S + 50_000, SendOutcome::Dropped));
    h.faults.push(FaultRecord {
        id: "f1".into(),
        kind: FaultKind::Pause,
        target: "payment#0".into(),
        start_us: 8 * S,
        end_us: 10 * S,
    });
    for t in 0..26 {
        let lag = match t {
            0..8 => 5,
            8..=12 => 100,
            _ => 3,
        };
        h.lags.push(LagSample {
            t_us: t * S,
            group: "inventory".into(),
            lag,
            pending: Some(1),
            positions: Vec::new(),
        });
    }
    for (instance, t, value) in [(0, S, 1.0), (0, 19 * S, 4.0), (1, 19 * S, 2.0)] {
        h.metrics.push(MetricSample {
            t_us: t,
            service: "payment".into(),
            instance,
            name: "retries_total".into(),
            value,
        });
    }
    h
}

#[test]
fn counts_cover_the_whole_run() {
    let a = analyze(&history(), &AnalysisOptions::default());
    assert_eq!(a.counts.attempted, 201);
    assert_eq!(a.counts.sent, 200);
    assert_eq!(a.counts.acknowledged, 200);
    assert_eq!(a.counts.acknowledged_measured, 190);
    assert_eq!(a.counts.completed, 200);
    assert_eq!(a.counts.observed, 200);
    assert_eq!((a.counts.dropped, a.counts.late), (1, 2));
    assert!(a.anomalies.is_clean());
}

#[test]
fn latency_leaves_warm_up_out() {
    let a = analyze(&history(), &AnalysisOptions::default());
    let e2e = &a.latency.e2e;
    assert_eq!(e2e.count, 190);
    // HdrHistogram keeps 3 significant digits: within 0.1 %
    let near =
        |v: Option<u64>, expected: u64| v.is_some_and(|v| v.abs_diff(expected) <= expected / 1000);
    assert!(near(e2e.p50_us, 10_000), "{e2e:?}");
    assert_eq!(e2e.max_us, Some(500_000), "the max is exact");
    // 150 at 10 ms, 20 at 300 ms, 20 at 500 ms: rank 171 of 190 is the first 500 ms
    assert!(near(e2e.p90_us, 500_000), "{e2e:?}");
    assert_eq!(
        e2e.p99_us,
        Some(500_000),
        "percentiles never exceed the max"
    );
    let hop = &a.latency.hops["OrderPlaced->OrderCancelled"];
    assert_eq!(hop.count, 190);
    assert!(near(hop.p50_us, 8_000), "{hop:?}");
}

#[test]
fn throughput_and_the_timeline() {
    let a = analyze(&history(), &AnalysisOptions::default());
    let mean = a.throughput.mean_per_s.expect("a load window");
    assert!((mean - 10.0).abs() < 1e-9, "{mean}");
    let timeline = &a.throughput.timeline;
    assert_eq!(timeline[3].t_s, 3);
    assert_eq!(timeline[3].attempted, 10);
    assert_eq!(timeline[3].acked, 10);
    assert_eq!(timeline[3].completed, 10);
    assert_eq!(timeline[3].p99_e2e_us, Some(10_000));
    assert_eq!(timeline[0].p99_e2e_us, None, "warm-up has no statistics");
    assert_eq!(timeline[9].p99_e2e_us, Some(500_000));
    assert_eq!(timeline[3].p50_e2e_us, Some(10_000));
    assert_eq!(timeline[10].p50_e2e_us, Some(300_000));
    assert_eq!(timeline[0].p50_e2e_us, None, "warm-up has no statistics");
}

#[test]
fn the_median_over_time_is_the_nearest_rank_of_the_second() {
    // One second with latencies 10, 20, 30, 40 ms: median rank ceil(0.5 × 4) = 2.
    let mut h = History {
        meta: Some(meta(Guarantee::AtLeastOnce, 2 * S)),
        ..History::default()
    };
    h.meta.as_mut().expect("meta").warmup_end_us = 0;
    for (j, latency) in [40_000, 10_000, 30_000, 20_000].into_iter().enumerate() {
        let id = format!("o-{j}");
        let intended = S + j as u64 * 1_000;
        h.sends.push(acked(&id, intended));
        let placed = format!("{id}/placed");
        h.observations
            .push(ev(&placed, "OrderPlaced", &id, 1, None, intended + 1_000));
        h.observations.push(ev(
            &format!("{id}/cancelled"),
            "OrderCancelled",
            &id,
            2,
            Some(&placed),
            intended + latency,
        ));
    }
    let a = analyze(&h, &AnalysisOptions::default());
    let second = &a.throughput.timeline[1];
    assert_eq!(second.p50_e2e_us, Some(20_000));
    assert_eq!(second.p99_e2e_us, Some(40_000));
}

#[test]
fn a_fault_window_recovers_and_drains() {
    let a = analyze(&history(), &AnalysisOptions::default());
    let f = &a.faults[0];
    assert_eq!((f.id.as_str(), f.kind), ("f1", FaultKind::Pause));
    assert_eq!(f.orders, 21); // 8.0 s ..= 10.0 s
    assert!(f.anomalies.is_clean());
    assert_eq!(f.p99_e2e_us, Some(500_000));
    assert_eq!(f.steady_p99_us, Some(10_000));
    assert_eq!(f.band_us, Some(60_000)); // max(1.5 × 10 ms, 10 ms + 50 ms)
    assert_eq!(f.recovery_us, Some(2 * S)); // seconds 10 and 11 are still slow
    assert_eq!(f.drain_us, Some(3 * S)); // lag back to ≤ 5 at 13 s
    assert!(f.drain_sampled);
}

#[test]
fn a_fault_that_never_recovers_or_drains() {
    let mut h = history();
    h.faults[0].end_us = 19 * S; // slow seconds end at 12 s, but...
    for o in &mut h.observations {
        if o.event_type == "OrderCancelled" && o.observed_us > 12 * S {
            o.observed_us += 400_000; // ...everything stays slow
        }
    }
    for l in &mut h.lags {
        l.lag = l.lag.max(if l.t_us >= 8 * S { 50 } else { 0 });
    }
    let a = analyze(&h, &AnalysisOptions::default());
    let f = &a.faults[0];
    assert_eq!(f.recovery_us, None);
    assert_eq!(f.drain_us, None);
    assert!(f.drain_sampled);
}

#[test]
fn the_recovery_band_follows_the_options() {
    let options = AnalysisOptions {
        recovery_factor: 40.0, // band 400 ms: 300 ms counts as recovered
        ..AnalysisOptions::default()
    };
    let a = analyze(&history(), &options);
    assert_eq!(a.faults[0].band_us, Some(400_000));
    assert_eq!(a.faults[0].recovery_us, Some(0));
}

#[test]
fn anomalies_are_attributed_to_the_window_of_their_order() {
    let mut h = history();
    h.observations
        .retain(|o| o.event_id != "o-9-0/cancelled" && o.event_id != "o-3-0/cancelled");
    // Inventory caught up after the load: the two unfinished orders are lost, not in
    // flight.
    for sample in h.lags.iter_mut().filter(|s| s.t_us >= 20 * S) {
        sample.lag = 0;
        sample.pending = Some(0);
    }
    let a = analyze(&h, &AnalysisOptions::default());
    assert_eq!(a.anomalies.count(check::Anomaly::Lost), 2);
    let f = &a.faults[0];
    assert_eq!(f.anomalies.count(check::Anomaly::Lost), 1);
    assert_eq!(f.anomalies.sample(check::Anomaly::Lost), ["o-9-0"]);
}

#[test]
fn lag_shortfall_and_service_counters() {
    let a = analyze(&history(), &AnalysisOptions::default());
    assert_eq!(a.lag.max, Some(100));
    assert_eq!(a.lag.max_by_group["inventory"], 100);
    assert_eq!(a.lag.timeline["inventory"].len(), 26);
    assert_eq!(a.shortfall.dropped, 1);
    assert_eq!(a.shortfall.late, 1, "the warm-up late send is left out");
    assert_eq!(a.shortfall.max_send_delay_us, Some(20_000));
    // last value per instance, summed: 4 + 2
    assert_eq!(a.services["payment.retries_total"], 6.0);
    // per second from the first sample (1 s) to the last (19 s), each instance's latest
    // value carried forward: 1 until 18 s, then 4 + 2
    let timeline = &a.services_timeline["payment.retries_total"];
    assert_eq!(timeline.len(), 19);
    assert_eq!((timeline[0].t_s, timeline[0].value), (1, 1.0));
    assert_eq!((timeline[17].t_s, timeline[17].value), (18, 1.0));
    assert_eq!((timeline[18].t_s, timeline[18].value), (19, 6.0));
}

#[test]
fn a_history_without_metrics_has_no_service_timeline() {
    let mut h = history();
    h.metrics.clear();
    let a = analyze(&h, &AnalysisOptions::default());
    assert!(a.services_timeline.is_empty());
    assert!(a.services.is_empty());
}

#[test]
fn without_meta_the_phases_are_derived() {
    let mut h = history();
    h.meta = None;
    let a = analyze(&h, &AnalysisOptions::default());
    assert!(a.phases.derived);
    assert_eq!(a.phases.warmup_end_us, 0);
    assert_eq!(a.latency.e2e.count, 200);
}

#[test]
fn the_analysis_serialises_to_json_and_back() {
    let a = analyze(&history(), &AnalysisOptions::default());
    let json = serde_json::to_value(&a).expect("serialise");
    assert_eq!(json["latency"]["e2e"]["max_us"], 500_000);
    assert_eq!(json["anomalies"]["findings"]["lost"]["count"], 0);
    assert_eq!(json["faults"][0]["kind"], "pause");
    let back: check::Analysis = serde_json::from_value(json).expect("deserialise");
    assert_eq!(back, a);
}
