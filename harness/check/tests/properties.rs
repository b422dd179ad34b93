//! Properties over generated histories: a clean history has no anomaly and passes;
//! planting k anomalies of one kind is reported as exactly k of that kind and 0 of
//! every other.

mod support;

use check::{AnalysisOptions, Anomaly, Decision, History, analyze, verdict};
use proptest::prelude::*;
use support::plant::{any_history, flows, guarantee, plant};
use support::{Rng, generate};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 48,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn a_clean_history_has_no_anomaly_and_passes(
        flows in flows(), seed in any::<u64>(), guarantee in guarantee(),
    ) {
        let generated = generate(&flows, seed, guarantee);
        let analysis = analyze(&generated.history, &AnalysisOptions::default());
        prop_assert!(analysis.anomalies.is_clean(), "{:#?}", analysis.anomalies);
        let verdict = verdict(generated.history.meta.as_ref(), &analysis, &[]);
        prop_assert_eq!(verdict.decision, Decision::Pass, "{:?}", verdict.reasons);
        let acked = generated.acked().len() as u64;
        prop_assert_eq!(analysis.counts.acknowledged, acked);
        prop_assert_eq!(analysis.counts.completed, acked);
        prop_assert_eq!(analysis.latency.e2e.count, acked);
    }

    #[test]
    fn planted_anomalies_are_counted_exactly(
        flows in flows(),
        seed in any::<u64>(),
        guarantee in guarantee(),
        which in 0..Anomaly::ALL.len(),
        k in 1usize..5,
        plant_seed in any::<u64>(),
    ) {
        let kind = Anomaly::ALL[which];
        let mut generated = generate(&flows, seed, guarantee);
        let planted = plant(&mut generated, kind, k, &mut Rng::new(plant_seed));
        prop_assert!(planted > 0);
        // the plant survives the JSONL round trip too
        let text = generated.history.to_jsonl();
        let history = History::from_jsonl(&text).expect("generated histories parse");
        let analysis = analyze(&history, &AnalysisOptions::default());
        for anomaly in Anomaly::ALL {
            let expected = if anomaly == kind { planted as u64 } else { 0 };
            prop_assert_eq!(
                analysis.anomalies.count(anomaly), expected,
                "{} after planting {} {}: {:#?}", anomaly.name(), planted, kind.name(), analysis.anomalies
            );
        }
        let sample = analysis.anomalies.sample(kind);
        prop_assert_eq!(sample.len(), planted.min(check::AnomalyReport::SAMPLE));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_history_is_analysed_without_panicking(history in any_history(false)) {
        let analysis = analyze(&history, &AnalysisOptions::default());
        let thresholds: Vec<_> = [
            ("lost", "== 0"), ("latency.e2e.p99", "< 1s"), ("recovery.max", "< 5s"),
            ("drain.max", "< 5s"), ("throughput.mean", ">= 1/s"), ("lag.max", "< 10"),
        ]
        .iter()
        .map(|(m, e)| check::parse_threshold(m, e).expect("valid"))
        .collect();
        let results = check::evaluate(&analysis, &thresholds);
        let _ = verdict(history.meta.as_ref(), &analysis, &results);
        prop_assert!(serde_json::to_string(&analysis).is_ok());
    }
}
