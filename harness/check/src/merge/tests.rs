//! Unit tests of the merge: the shard function, percentiles, meta lines.

use super::*;

#[test]
fn fnv1a_matches_its_published_values_and_slices_evenly() {
    // FNV-1a 64 of "a" is 0xaf63dc4c8601ec8c (the reference implementation's test
    // vector), so other tools can reproduce the slices.
    assert_eq!(
        shard_of("a", u32::MAX),
        (0xaf63_dc4c_8601_ec8c_u64 % u64::from(u32::MAX)) as u32
    );
    assert_eq!(shard_of("anything", 1), 0);
    let mut sizes = [0u32; 4];
    for i in 0..40_000 {
        sizes[shard_of(&format!("o42-{i}"), 4) as usize] += 1;
    }
    for size in sizes {
        assert!((9_000..11_000).contains(&size), "{sizes:?}");
    }
}

#[test]
fn a_percentile_merge_adds_histograms_and_refuses_a_distribution_without_one() {
    let mut a = stats::Recorder::new();
    let mut b = stats::Recorder::new();
    let mut all = stats::Recorder::new();
    for v in 1..=1000u64 {
        a.record(v * 7);
        all.record(v * 7);
    }
    for v in 1..=10u64 {
        b.record(v * 100_000);
        all.record(v * 100_000);
    }
    let (a, b) = (a.finish(), b.finish());
    let merged = merge_percentiles("e2e", [Some(&a), None, Some(&b)].into_iter()).expect("merge");
    let all = all.finish();
    let decoded = |p: &Percentiles| {
        stats::decode(p.histogram.as_deref().expect("histogram")).expect("decode")
    };
    assert_eq!(decoded(&merged), decoded(&all));
    let bare = |p: &Percentiles| Percentiles {
        histogram: None,
        ..p.clone()
    };
    assert_eq!(bare(&merged), bare(&all));
    let bare = Percentiles {
        histogram: None,
        ..a.clone()
    };
    let err = merge_percentiles("e2e", [Some(&bare)].into_iter()).expect_err("no histogram");
    assert!(err.to_string().contains("no histogram"), "{err}");
}

#[test]
fn metas_of_different_runs_do_not_merge() {
    let meta = Meta {
        experiment: "x".into(),
        seed: 1,
        backend: crate::history::Backend::Redis,
        guarantee: crate::history::Guarantee::AtLeastOnce,
        warmup_end_us: 5,
        load_end_us: 10,
        drain_end_us: 20,
        complete: true,
        drain: Some(DrainEnd::Finished),
        analysis: None,
        thresholds: Vec::new(),
        faults: None,
    };
    let later = Meta {
        warmup_end_us: 6,
        drain_end_us: 25,
        complete: false,
        drain: Some(DrainEnd::TimedOut),
        ..meta.clone()
    };
    let merged = merge_meta(&[meta.clone(), later]).expect("one run");
    assert_eq!(
        (
            merged.warmup_end_us,
            merged.load_end_us,
            merged.drain_end_us
        ),
        (6, 10, 25)
    );
    assert!(!merged.complete);
    assert_eq!(merged.drain, Some(DrainEnd::TimedOut));
    let other = Meta {
        seed: 2,
        ..meta.clone()
    };
    let err = merge_meta(&[meta, other]).expect_err("two seeds");
    assert!(err.to_string().contains("seed"), "{err}");
}
