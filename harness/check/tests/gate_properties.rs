//! Properties of the gate's bootstrap and decision rules.

use check::gate::bootstrap::{BootstrapOptions, Interval, bootstrap, relative_change};
use check::gate::decide::{Change, decide};
use check::gate::metric::Direction;
use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;

const FEW: BootstrapOptions = BootstrapOptions {
    confidence: 0.95,
    resamples: 500,
};

fn values() -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(1.0f64..1e6, 1..7)
}

fn ci(base: &[f64], cur: &[f64], floor: f64, seed: u64) -> Interval {
    bootstrap(base, cur, floor, FEW, &mut StdRng::seed_from_u64(seed)).unwrap()
}

proptest! {
    #[test]
    fn the_interval_is_ordered_and_bounded(base in values(), cur in values(), seed: u64) {
        let i = ci(&base, &cur, 0.0, seed);
        prop_assert!(i.lower <= i.upper);
        // Every resampled mean lies between its side's extremes.
        let (bmin, bmax) = base.iter().fold((f64::MAX, f64::MIN), |(a, b), &v| (a.min(v), b.max(v)));
        let (cmin, cmax) = cur.iter().fold((f64::MAX, f64::MIN), |(a, b), &v| (a.min(v), b.max(v)));
        prop_assert!(i.lower >= cmin / bmax - 1.0 - 1e-9, "{i:?}");
        prop_assert!(i.upper <= cmax / bmin - 1.0 + 1e-9, "{i:?}");
    }

    #[test]
    fn the_same_seed_gives_the_same_interval(base in values(), cur in values(), seed: u64) {
        prop_assert_eq!(ci(&base, &cur, 0.0, seed), ci(&base, &cur, 0.0, seed));
    }

    #[test]
    fn constant_trials_give_a_point_interval(b in 1.0f64..1e6, c in 1.0f64..1e6, n in 1usize..6, m in 1usize..6, seed: u64) {
        let i = ci(&vec![b; n], &vec![c; m], 0.0, seed);
        prop_assert_eq!(i.lower, i.estimate);
        prop_assert_eq!(i.upper, i.estimate);
        // Relative: the change goes up to 1e6, where 1e-12 is below one ulp.
        let expected = c / b - 1.0;
        prop_assert!((i.estimate - expected).abs() <= 1e-12 * expected.abs().max(1.0), "{i:?}");
    }

    #[test]
    fn the_interval_does_not_depend_on_the_unit(base in values(), cur in values(), power in -10i32..10, seed: u64) {
        // Scaling by a power of two is exact in floating point.
        let k = 2f64.powi(power);
        let scaled = |v: &[f64]| v.iter().map(|x| x * k).collect::<Vec<_>>();
        prop_assert_eq!(ci(&base, &cur, 0.0, seed), ci(&scaled(&base), &scaled(&cur), 0.0, seed));
    }

    #[test]
    fn the_floor_bounds_changes_of_small_baselines(cur in values(), floor in 1.0f64..100.0) {
        let change = relative_change(&[0.0, 0.0], &cur, floor).unwrap();
        let mean = cur.iter().sum::<f64>() / cur.len() as f64;
        prop_assert!((change - mean / floor).abs() < 1e-9);
    }

    #[test]
    fn a_whole_interval_beyond_the_band_decides(t in 0.0f64..1.0, lo in 0.0f64..5.0, width in 0.0f64..5.0) {
        let above = Interval { lower: t + lo + 1e-6, upper: t + lo + 1e-6 + width, estimate: t + lo + 1e-6 };
        prop_assert_eq!(decide(&above, t, Direction::HigherIsBetter), Change::Improved);
        prop_assert_eq!(decide(&above, t, Direction::LowerIsBetter), Change::Regressed);
    }

    #[test]
    fn a_whole_interval_inside_the_band_is_no_change(t in 0.01f64..1.0, a in 0.0f64..1.0, b in 0.0f64..1.0) {
        let (x, y) = ((a * 2.0 - 1.0) * t, (b * 2.0 - 1.0) * t);
        let inside = Interval { lower: x.min(y), upper: x.max(y), estimate: (x + y) / 2.0 };
        for d in [Direction::HigherIsBetter, Direction::LowerIsBetter] {
            prop_assert_eq!(decide(&inside, t, d), Change::NoChange);
        }
    }

    #[test]
    fn an_interval_reaching_beyond_both_sides_is_inconclusive(t in 0.0f64..1.0, out in 1e-6f64..3.0, est in -1.0f64..1.0) {
        let wide = Interval { lower: -t - out, upper: t + out, estimate: est * t };
        for d in [Direction::HigherIsBetter, Direction::LowerIsBetter] {
            prop_assert_eq!(decide(&wide, t, d), Change::Inconclusive);
        }
    }

    #[test]
    fn directions_mirror_each_other(t in 0.0f64..1.0, a in -3.0f64..3.0, b in -3.0f64..3.0, e in 0.0f64..1.0) {
        let (lower, upper) = (a.min(b), a.max(b));
        let i = Interval { lower, upper, estimate: lower + e * (upper - lower) };
        let mirrored = Interval { lower: -upper, upper: -lower, estimate: -i.estimate };
        prop_assert_eq!(decide(&i, t, Direction::HigherIsBetter), decide(&mirrored, t, Direction::LowerIsBetter));
    }

    #[test]
    fn moving_an_interval_to_the_bad_side_never_makes_it_better(t in 0.0f64..1.0, a in -3.0f64..3.0, w in 0.0f64..2.0, shift in 0.0f64..3.0) {
        let rank = |c: Change| match c {
            Change::Improved => 0,
            Change::NoChange | Change::Inconclusive | Change::NotMeasured => 1,
            Change::Regressed => 2,
        };
        let i = Interval { lower: a, upper: a + w, estimate: a + w / 2.0 };
        let worse = Interval { lower: a + shift, upper: a + w + shift, estimate: a + w / 2.0 + shift };
        prop_assert!(rank(decide(&worse, t, Direction::LowerIsBetter)) >= rank(decide(&i, t, Direction::LowerIsBetter)));
    }

    #[test]
    fn trials_within_a_quarter_of_the_tolerance_never_change(center in 1.0f64..1e6, t in 0.05f64..1.0, jitter in prop::collection::vec(-1.0f64..1.0, 2..12), seed: u64) {
        let eps = t / 4.0;
        let all: Vec<f64> = jitter.iter().map(|j| center * (1.0 + j * eps)).collect();
        let (base, cur) = all.split_at(all.len() / 2);
        let i = ci(base, cur, 0.0, seed);
        for d in [Direction::HigherIsBetter, Direction::LowerIsBetter] {
            prop_assert_eq!(decide(&i, t, d), Change::NoChange, "{:?}", i);
        }
    }
}
