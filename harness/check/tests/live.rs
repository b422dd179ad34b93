//! The live judge ([`check::stream::Live`]) claims nothing the history does not prove:
//! fed a history's lines in the order a run records them, with keys settled after any
//! quiet time, each anomaly it reports is counted at most as often as the verdict
//! counts it; given the whole history before settling, it finds every planted
//! duplicate delivery and ordering violation. Its memory follows the keys in flight.

mod support;

use check::stream::{LIVE_ANOMALIES, Live};
use check::{Anomaly, History, Line, analyze_reference};
use proptest::prelude::*;
use support::generate;
use support::plant::{any_history, config, planted_history};

/// Send and observe lines in the order a run records them (a send line when its
/// request ended, an observation when the tap read it), each with that time.
fn as_recorded(history: &History) -> Vec<(u64, Line)> {
    let mut lines: Vec<(u64, Line)> = history
        .sends
        .iter()
        .map(|s| {
            let t = s.acked_us.or(s.sent_us).unwrap_or(s.intended_us);
            (t, Line::Send(s.clone()))
        })
        .chain(
            history
                .observations
                .iter()
                .map(|o| (o.observed_us, Line::Observe(o.clone()))),
        )
        .collect();
    lines.sort_by_key(|(t, _)| *t);
    lines
}

fn judged_live(history: &History, quiet_us: u64) -> Live {
    let options = history
        .meta
        .as_ref()
        .and_then(|m| m.analysis.clone())
        .unwrap_or_default();
    let mut live = Live::new(options, quiet_us);
    for (t, line) in as_recorded(history) {
        live.line(&line);
        live.advance(t);
    }
    live.settle_all();
    live
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn live_counts_never_exceed_the_verdicts(
        (history, kind) in planted_history(),
        quiet_ms in prop_oneof![Just(0u64), 1u64..100, 100u64..10_000],
    ) {
        let options = history.meta.as_ref().and_then(|m| m.analysis.clone()).unwrap_or_default();
        let reference = analyze_reference(&history, &options);
        let verdict = |a: Anomaly| reference.anomalies.findings[&a].count;

        let early = judged_live(&history, quiet_ms * 1000).so_far();
        for (a, n) in &early.anomalies {
            prop_assert!(LIVE_ANOMALIES.contains(a), "{a:?} is not a live kind");
            prop_assert!(*n <= verdict(*a), "{a:?}: live {n} > verdict {}", verdict(*a));
        }

        let whole = judged_live(&history, u64::MAX / 4).so_far();
        let live = |a: Anomaly| whole.anomalies.get(&a).copied().unwrap_or(0);
        for a in LIVE_ANOMALIES {
            prop_assert!(live(a) <= verdict(a), "{a:?}: live {} > verdict {}", live(a), verdict(a));
        }
        prop_assert_eq!(live(Anomaly::DuplicateDelivery), verdict(Anomaly::DuplicateDelivery));
        if matches!(kind, Anomaly::DuplicateDelivery | Anomaly::OrderingViolation) {
            prop_assert!(live(kind) > 0, "planted {kind:?} not found live");
        }
        let orders = history.sends.iter().map(|s| &s.order_id).collect::<std::collections::BTreeSet<_>>();
        prop_assert_eq!(whole.orders, orders.len() as u64);
    }
}

proptest! {
    #![proptest_config(config(300))]

    #[test]
    fn live_counts_never_exceed_the_verdicts_on_arbitrary_histories(
        history in any_history(true),
        quiet in prop_oneof![Just(0u64), 1u64..1_000_000, Just(u64::MAX / 4)],
    ) {
        let options = history.meta.as_ref().and_then(|m| m.analysis.clone()).unwrap_or_default();
        let reference = analyze_reference(&history, &options);
        for (a, n) in judged_live(&history, quiet).so_far().anomalies {
            let verdict = reference.anomalies.findings[&a].count;
            prop_assert!(n <= verdict, "{a:?}: live {n} > verdict {verdict}");
        }
    }
}

#[test]
fn memory_follows_the_keys_in_flight() {
    // 5 000 orders placed 20 ms apart, each order's lines spread over a few hundred
    // ms; judged after 50 ms quiet, the keys held stay near the lines of one quiet
    // time (without forgetting they would reach 5 000).
    let flows = vec![support::Flow::Shipped; 5_000];
    let history = generate(&flows, 3, check::Guarantee::AtLeastOnce).history;
    let lines = as_recorded(&history);
    let span = lines.last().map_or(0, |(t, _)| *t) - lines.first().map_or(0, |(t, _)| *t);
    let quiet_us = 50_000;
    let mut live = Live::new(Default::default(), quiet_us);
    let mut most = 0;
    for (t, line) in &lines {
        live.line(line);
        live.advance(*t);
        most = most.max(live.keys_held());
    }
    let per_quiet = (lines.len() as u64 * quiet_us / span.max(1)) as usize;
    assert!(
        most <= 4 * per_quiet + 16,
        "held {most} keys at most; about {per_quiet} lines fall in a quiet time"
    );
    live.advance(u64::MAX / 2);
    assert_eq!(live.keys_held(), 0);
    assert_eq!(live.so_far().orders, 5_000);
    assert!(live.so_far().anomalies.is_empty());
}
