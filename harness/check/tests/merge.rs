//! Merging shards gives the analysis of the whole: a generated history (with anomalies
//! planted) split by key as a sharded run splits it, each part analysed on its own and
//! the analyses merged, equals the analysis of the whole history in every count, every
//! anomaly, the latency percentiles and the verdict.

mod support;

use std::collections::HashMap;

use check::merge::{merge, merge_meta, shard_of};
use check::{AnalysisOptions, Anomaly, History, analyze, evaluate, verdict};
use proptest::prelude::*;
use support::plant::{config, flows, guarantee, plant};
use support::{Rng, generate};

/// The part of `history` shard `shard` of `count` records: its orders' sends,
/// observations, charges and dead letters; the system's lag and faults (every shard
/// samples the same groups and records the same fault windows); the final stock and
/// the service counters in the first shard only (read once).
fn part(history: &History, shard: u32, count: u32) -> History {
    let mine = |key: &str| shard_of(key, count) == shard;
    // The tap keeps an event by the order it belongs to (its envelope's correlation id);
    // the observation lines do not carry it, so it is found here by following causes
    // back to an order's event (the generator's analytics events are keyed by metric).
    let by_id: HashMap<&str, &check::Observation> = history
        .observations
        .iter()
        .map(|o| (o.event_id.as_str(), o))
        .collect();
    let order_of = |o: &check::Observation| -> String {
        let mut at = o;
        for _ in 0..64 {
            if at.key.starts_with("o-") {
                break;
            }
            match at.causation_id.as_deref().and_then(|c| by_id.get(c)) {
                Some(cause) => at = cause,
                None => break,
            }
        }
        at.key.clone()
    };
    History {
        meta: history.meta.clone(),
        sends: history
            .sends
            .iter()
            .filter(|s| mine(&s.order_id))
            .cloned()
            .collect(),
        observations: history
            .observations
            .iter()
            .filter(|o| mine(&order_of(o)))
            .cloned()
            .collect(),
        faults: history.faults.clone(),
        lags: history.lags.clone(),
        charges: history
            .charges
            .iter()
            .filter(|c| mine(&c.order_id))
            .cloned()
            .collect(),
        stock: if shard == 0 {
            history.stock.clone()
        } else {
            Vec::new()
        },
        metrics: if shard == 0 {
            history.metrics.clone()
        } else {
            Vec::new()
        },
        dead_letters: history
            .dead_letters
            .iter()
            .filter(|d| d.order_id.as_deref().map_or(shard == 0, mine))
            .cloned()
            .collect(),
    }
}

/// The same percentiles and the same histogram (its text form is not canonical: two
/// encodings of one histogram may differ in their ranges).
fn same_distribution(a: &check::Percentiles, b: &check::Percentiles) -> bool {
    let decoded = |p: &check::Percentiles| {
        p.histogram
            .as_deref()
            .map(|t| check::stats::decode(t).expect("a histogram"))
    };
    let bare = |p: &check::Percentiles| check::Percentiles {
        histogram: None,
        ..p.clone()
    };
    bare(a) == bare(b) && decoded(a) == decoded(b)
}

proptest! {
    #![proptest_config(config(48))]

    #[test]
    fn merged_shards_are_the_whole(
        flows in flows(),
        seed in any::<u64>(),
        guarantee in guarantee(),
        planted in proptest::option::of((0..Anomaly::ALL.len(), 1usize..4, any::<u64>())),
        count in 1u32..4,
    ) {
        let mut generated = generate(&flows, seed, guarantee);
        if let Some((which, k, plant_seed)) = planted {
            plant(&mut generated, Anomaly::ALL[which], k, &mut Rng::new(plant_seed));
        }
        let whole = &generated.history;
        let options = AnalysisOptions::default();
        let expected = analyze(whole, &options);
        let parts: Vec<History> = (0..count).map(|i| part(whole, i, count)).collect();
        let analyses: Vec<_> = parts.iter().map(|p| analyze(p, &options)).collect();
        let merged = merge(&analyses).expect("merge");

        prop_assert_eq!(&merged.counts, &expected.counts);
        for anomaly in Anomaly::ALL {
            prop_assert_eq!(
                merged.anomalies.count(anomaly),
                expected.anomalies.count(anomaly),
                "{}", anomaly.name()
            );
        }
        prop_assert_eq!(&merged.anomaly_details, &expected.anomaly_details);
        prop_assert_eq!(merged.in_flight.count, expected.in_flight.count);
        prop_assert_eq!(merged.lost_attribution.orders.len(), expected.lost_attribution.orders.len());
        prop_assert!(same_distribution(&merged.latency.e2e, &expected.latency.e2e));
        prop_assert_eq!(merged.latency.hops.len(), expected.latency.hops.len());
        for (hop, p) in &expected.latency.hops {
            let m = merged.latency.hops.get(hop);
            prop_assert!(m.is_some_and(|m| same_distribution(m, p)), "{}", hop);
        }
        let seconds = |a: &check::Analysis| -> Vec<(u64, u64, u64, u64)> {
            a.throughput.timeline.iter()
                .filter(|s| s.attempted + s.acked + s.completed > 0)
                .map(|s| (s.t_s, s.attempted, s.acked, s.completed)).collect()
        };
        prop_assert_eq!(seconds(&merged), seconds(&expected));

        let metas: Vec<_> = parts.iter().filter_map(|p| p.meta.clone()).collect();
        let meta = merge_meta(&metas).ok();
        let merged_verdict = verdict(meta.as_ref(), &merged, &evaluate(&merged, &[]));
        let expected_verdict = verdict(whole.meta.as_ref(), &expected, &evaluate(&expected, &[]));
        prop_assert_eq!(merged_verdict.decision, expected_verdict.decision);
    }
}

#[test]
fn a_loss_in_one_shard_fails_the_merged_run() {
    let flows = vec![support::Flow::Shipped; 12];
    let mut generated = generate(&flows, 7, check::Guarantee::ExactlyOnce);
    let options = AnalysisOptions::default();
    let clean: Vec<_> = (0..2)
        .map(|i| analyze(&part(&generated.history, i, 2), &options))
        .collect();
    let clean = merge(&clean).expect("merge");
    let meta = generated.history.meta.clone();
    assert_eq!(
        verdict(meta.as_ref(), &clean, &evaluate(&clean, &[])).decision,
        check::Decision::Pass
    );
    assert_eq!(plant(&mut generated, Anomaly::Lost, 1, &mut Rng::new(3)), 1);
    let parts: Vec<_> = (0..2)
        .map(|i| analyze(&part(&generated.history, i, 2), &options))
        .collect();
    // Exactly one shard holds the planted loss and fails on its own.
    let failing = parts
        .iter()
        .filter(|a| a.anomalies.count(Anomaly::Lost) > 0)
        .count();
    assert_eq!(failing, 1);
    let merged = merge(&parts).expect("merge");
    assert_eq!(merged.anomalies.count(Anomaly::Lost), 1);
    let decision = verdict(meta.as_ref(), &merged, &evaluate(&merged, &[])).decision;
    assert_eq!(decision, check::Decision::Fail);
}
