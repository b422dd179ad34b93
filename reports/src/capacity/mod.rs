//! `harness capacity`'s results: `capacity.json` (one type, [`CapacityDocument`]), and
//! its renderings `capacity.md` and `capacity.html` with PNG charts (completed vs
//! offered, p99 vs offered, the knee marked).
//!
//! The renderings are in `render`. Also the pure rules of the search: when a trial's rate is **sustained**
//! ([`judge_trial`]) and which rate to try next ([`next_rate`]).

use std::collections::BTreeMap;

use check::Results;
use serde::{Deserialize, Serialize};

mod render;

pub use render::{charts, write_all, write_html, write_md};

/// A rate is sustained only if the completed rate is at least this share of the
/// offered one.
pub const COMPLETED_SHARE: f64 = 0.99;
/// A consumer group's lag may grow over the second half of a trial's load by at most
/// `max(LAG_GROWTH_FLOOR, LAG_GROWTH_SECONDS × offered orders/s)` entries.
pub const LAG_GROWTH_FLOOR: f64 = 200.0;
pub const LAG_GROWTH_SECONDS: f64 = 1.0;

/// `capacity.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CapacityDocument {
    /// The file's `name`.
    pub experiment: String,
    pub started_at: String,
    pub finished_at: String,
    /// The command line that produced it.
    pub command: String,
    /// What "sustained" meant in this search.
    pub criteria: Vec<String>,
    /// One per matrix combination, in the file's order.
    pub combinations: Vec<CombinationCapacity>,
    /// With a guarantee matrix: what exactly-once costs at capacity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost: Option<Cost>,
    /// `false` when the search was interrupted.
    pub complete: bool,
}

/// The search's answer for one combination.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CombinationCapacity {
    /// The experiment's name with its combination (`capacity-redis[guarantee=...]`).
    pub name: String,
    /// `guarantee=exactly-once`; empty without a matrix.
    pub combination: String,
    pub backend: String,
    pub guarantee: String,
    /// The highest rate a trial sustained (`None`: not even the first one).
    pub max_sustainable_per_s: Option<f64>,
    /// The lowest rate a trial did not sustain (`None`: every trial held).
    pub min_unsustained_per_s: Option<f64>,
    /// Why the search stopped there.
    pub stopped: String,
    pub trials: Vec<TrialResult>,
}

/// One trial: a short constant-rate run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrialResult {
    pub offered_per_s: f64,
    /// Orders whose terminal event was observed per second, over the measured load.
    pub completed_per_s: f64,
    pub p50_us: Option<u64>,
    pub p99_us: Option<u64>,
    /// Highest total lag (every consumer group) during the measured load.
    pub lag_max: u64,
    /// The largest growth of one group's lag over the second half of the load (least
    /// squares).
    pub lag_growth: f64,
    pub sustained: bool,
    /// Why not, in words (empty when sustained).
    pub reasons: Vec<String>,
    /// The trial's run directory, relative to capacity.json.
    pub run: String,
    /// The trial's verdict (`pass`, `fail`, `inconclusive`).
    pub verdict: String,
}

/// What exactly-once (and at-most-once) costs at capacity.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Cost {
    /// The highest rate every guarantee sustained.
    pub common_rate_per_s: Option<f64>,
    pub guarantees: Vec<GuaranteeCost>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GuaranteeCost {
    pub guarantee: String,
    pub max_sustainable_per_s: Option<f64>,
    /// Its maximum over at-least-once's.
    pub ratio_to_at_least_once: Option<f64>,
    /// Latency of its trial at the common rate.
    pub p50_us_at_common: Option<u64>,
    pub p99_us_at_common: Option<u64>,
}

impl CapacityDocument {
    pub fn parse(text: &str) -> Result<CapacityDocument, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// Fills [`CapacityDocument::cost`] when the combinations differ by guarantee.
    pub fn compute_cost(&mut self) {
        let mut by: BTreeMap<&str, &CombinationCapacity> = BTreeMap::new();
        for c in &self.combinations {
            by.entry(c.guarantee.as_str()).or_insert(c);
        }
        if by.len() < 2 {
            self.cost = None;
            return;
        }
        let common = by
            .values()
            .map(|c| c.max_sustainable_per_s)
            .collect::<Option<Vec<f64>>>()
            .and_then(|maxima| maxima.into_iter().reduce(f64::min));
        let alo = by
            .get("at-least-once")
            .and_then(|c| c.max_sustainable_per_s);
        let mut guarantees = Vec::new();
        for guarantee in ["at-most-once", "at-least-once", "exactly-once"] {
            let Some(c) = by.get(guarantee) else { continue };
            let at_common = common.and_then(|rate| {
                c.trials
                    .iter()
                    .rfind(|t| t.sustained && (t.offered_per_s - rate).abs() < 0.5)
            });
            guarantees.push(GuaranteeCost {
                guarantee: guarantee.to_string(),
                max_sustainable_per_s: c.max_sustainable_per_s,
                ratio_to_at_least_once: match (c.max_sustainable_per_s, alo) {
                    (Some(m), Some(a)) if a > 0.0 => Some(m / a),
                    _ => None,
                },
                p50_us_at_common: at_common.and_then(|t| t.p50_us),
                p99_us_at_common: at_common.and_then(|t| t.p99_us),
            });
        }
        self.cost = Some(Cost {
            common_rate_per_s: common,
            guarantees,
        });
    }
}

/// The seconds of the measured load (after warm-up, before the load ended) that lie
/// wholly inside it.
fn measured_seconds(r: &Results) -> Vec<&check::Second> {
    let Some(p) = r.phases.as_ref() else {
        return Vec::new();
    };
    let first = p.warmup_end_us.div_ceil(1_000_000);
    let end = p.load_end_us / 1_000_000;
    r.throughput
        .timeline
        .iter()
        .filter(|s| s.t_s >= first && s.t_s < end)
        .collect()
}

/// Each consumer group's lag plus pending (the tap left out) at its sample times in
/// `from_us..to_us`, by group.
fn group_lags(r: &Results, from_us: u64, to_us: u64) -> BTreeMap<&str, Vec<(f64, f64)>> {
    let mut out = BTreeMap::new();
    for (group, points) in &r.lag.timeline {
        if group == check::TAP_GROUP {
            continue;
        }
        let series: Vec<(f64, f64)> = points
            .iter()
            .filter(|p| p.t_us >= from_us && p.t_us < to_us)
            .map(|p| (p.t_us as f64 / 1e6, (p.lag + p.pending.unwrap_or(0)) as f64))
            .collect();
        out.insert(group.as_str(), series);
    }
    out
}

/// Least-squares slope of `points` (per unit of x); 0 with fewer than two points.
fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if points.len() < 2 {
        return 0.0;
    }
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    if sxx == 0.0 { 0.0 } else { sxy / sxx }
}

/// Judges one trial run at `offered` orders/s: sustained when
/// 1. the completed rate over the measured load is at least [`COMPLETED_SHARE`] of
///    the rate the schedule offered in the same seconds;
/// 2. no consumer group's lag grows over the load's second half (growth at most
///    `max(LAG_GROWTH_FLOOR, LAG_GROWTH_SECONDS × offered)` entries: a side consumer
///    that falls behind, such as analytics, counts too);
/// 3. no rule the guarantee requires was broken (an anomaly is never capacity);
/// 4. every SLO (the trial's thresholds) passed.
pub fn judge_trial(r: &Results, offered: f64, run: String) -> TrialResult {
    let mut reasons = Vec::new();
    let seconds = measured_seconds(r);
    let (attempted, completed) = seconds
        .iter()
        .fold((0u64, 0u64), |(a, c), s| (a + s.attempted, c + s.completed));
    let n = seconds.len().max(1) as f64;
    let completed_per_s = completed as f64 / n;
    let offered_here = attempted as f64 / n;
    if seconds.is_empty() {
        reasons.push("no whole second of measured load".to_string());
    } else if completed_per_s < COMPLETED_SHARE * offered_here {
        reasons.push(format!(
            "completed {completed_per_s:.1}/s of {offered_here:.1}/s offered ({:.1} %)",
            100.0 * completed_per_s / offered_here.max(f64::MIN_POSITIVE)
        ));
    }

    let (mut lag_max, mut lag_growth) = (0u64, 0.0f64);
    if let Some(p) = r.phases.as_ref() {
        let mut totals: BTreeMap<u64, f64> = BTreeMap::new();
        for series in group_lags(r, p.warmup_end_us, p.load_end_us).values() {
            for (t, lag) in series {
                *totals.entry((t * 1e6) as u64).or_default() += lag;
            }
        }
        lag_max = totals.values().fold(0.0, |a: f64, b| a.max(*b)) as u64;
        let mid = (p.warmup_end_us + p.load_end_us) / 2;
        let span = p.load_end_us.saturating_sub(mid) as f64 / 1e6;
        // A second's worth of orders (or the floor): a group whose backlog grows by
        // more over the half is falling behind, whichever group it is.
        let allowed = LAG_GROWTH_FLOOR.max(offered * LAG_GROWTH_SECONDS);
        for (group, half) in group_lags(r, mid, p.load_end_us) {
            let growth = slope(&half) * span;
            lag_growth = lag_growth.max(growth);
            if growth > allowed {
                reasons.push(format!(
                    "the lag of group {group} grew by {growth:.0} entries over the second half (allowed {allowed:.0})"
                ));
            }
        }
    }

    for e in r
        .expectations
        .iter()
        .filter(|e| e.required && e.status == check::ExpectationStatus::Broken)
    {
        reasons.push(format!("{} broken: {}", e.rule, e.actual));
    }
    for t in r.thresholds.iter().filter(|t| !t.pass) {
        let actual = match (&t.actual, &t.note) {
            (None, Some(note)) => note.clone(),
            _ => crate::results::actual_text(t),
        };
        reasons.push(format!(
            "SLO `{} {}` not met: {actual}",
            t.metric, t.expression
        ));
    }

    TrialResult {
        offered_per_s: offered,
        completed_per_s,
        p50_us: r.latency.e2e.p50_us,
        p99_us: r.latency.e2e.p99_us,
        lag_max,
        lag_growth,
        sustained: reasons.is_empty(),
        reasons,
        run,
        verdict: r.verdict.name().to_string(),
    }
}

/// The search's bracket so far and its knobs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bracket {
    /// Highest sustained rate.
    pub lo: Option<f64>,
    /// Lowest unsustained rate.
    pub hi: Option<f64>,
    pub max: f64,
    pub resolution: f64,
}

/// The next rate to try, or `None` when the search is done (with why).
///
/// - Nothing failed yet: double the rate, up to `max` (done once `max` held).
/// - A failure and no success: the failed trial's completed rate is what the system
///   managed while overloaded; try 90 % of it (at most half the failed rate's
///   distance down if it completed nearly nothing... never below 1/s).
/// - Both: the midpoint, until `hi / lo − 1 ≤ resolution`. An overloaded trial's
///   completed rate, when it falls inside the bracket, is tried first instead of the
///   midpoint, since the knee is usually just under it.
pub fn next_rate(b: Bracket, last: &TrialResult) -> Result<f64, String> {
    let round = |r: f64| (r.max(1.0) * 10.0).round() / 10.0;
    match (b.lo, b.hi) {
        (_, None) if b.lo.is_some_and(|lo| lo >= b.max) => Err(format!(
            "sustained the configured maximum, {} orders/s",
            b.max
        )),
        (_, None) => Ok(round((last.offered_per_s * 2.0).min(b.max))),
        (None, Some(hi)) => {
            if hi <= 1.0 {
                return Err("not even 1 order/s was sustained".into());
            }
            let estimate = 0.9 * last.completed_per_s;
            let next = if estimate >= 1.0 && estimate < hi {
                estimate
            } else {
                hi / 2.0
            };
            Ok(round(next))
        }
        (Some(lo), Some(hi)) => {
            if hi / lo - 1.0 <= b.resolution {
                return Err(format!(
                    "bracketed within {:.0} %: {lo}/s held, {hi}/s did not",
                    100.0 * (hi / lo - 1.0)
                ));
            }
            // Only when it splits the bracket: an estimate next to either end would
            // repeat a rate already tried.
            let estimate = 0.97 * last.completed_per_s;
            let margin = 1.0 + b.resolution / 2.0;
            let next = if !last.sustained && estimate > lo * margin && estimate * margin < hi {
                estimate
            } else {
                (lo + hi) / 2.0
            };
            Ok(round(next))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trial(offered: f64, completed: f64, sustained: bool) -> TrialResult {
        TrialResult {
            offered_per_s: offered,
            completed_per_s: completed,
            sustained,
            ..TrialResult::default()
        }
    }

    fn bracket(lo: Option<f64>, hi: Option<f64>) -> Bracket {
        Bracket {
            lo,
            hi,
            max: 5000.0,
            resolution: 0.1,
        }
    }

    #[test]
    fn the_search_doubles_then_aims_under_what_the_overloaded_trial_completed() {
        let held = trial(100.0, 100.0, true);
        assert_eq!(next_rate(bracket(Some(100.0), None), &held), Ok(200.0));
        assert_eq!(
            next_rate(bracket(Some(4000.0), None), &trial(4000.0, 4000.0, true)),
            Ok(5000.0)
        );
        assert!(next_rate(bracket(Some(5000.0), None), &trial(5000.0, 5000.0, true)).is_err());
        // The first trial failed at 2000/s completing 800/s: try 720/s.
        let over = trial(2000.0, 800.0, false);
        assert_eq!(next_rate(bracket(None, Some(2000.0)), &over), Ok(720.0));
        // It completed nothing: halve.
        let dead = trial(2000.0, 0.0, false);
        assert_eq!(next_rate(bracket(None, Some(2000.0)), &dead), Ok(1000.0));
    }

    #[test]
    fn with_a_bracket_the_search_narrows_until_the_resolution() {
        // 800 held, 1600 failed completing 900/s: 873/s is inside, tried first.
        let over = trial(1600.0, 900.0, false);
        assert_eq!(
            next_rate(bracket(Some(800.0), Some(1600.0)), &over),
            Ok(873.0)
        );
        // A sustained last trial: the midpoint.
        let held = trial(873.0, 873.0, true);
        assert_eq!(
            next_rate(bracket(Some(873.0), Some(1600.0)), &held),
            Ok(1236.5)
        );
        // An overloaded trial that completed about what it was offered (a backlog
        // from the warm-up counted in) does not make the search try it again.
        let close = trial(157.0, 161.6, false);
        assert_eq!(
            next_rate(bracket(Some(120.0), Some(157.0)), &close),
            Ok(138.5)
        );
        let done = next_rate(bracket(Some(1000.0), Some(1090.0)), &held);
        assert!(done.is_err_and(|why| why.contains("bracketed within 9 %")));
    }

    /// A 10 s trial (2 s warm-up, 8 s load) at `offered`/s completing `completed` per
    /// second, with the groups' lag series given per second.
    /// A group's lag at each second.
    type LagOf = fn(u64) -> u64;

    fn results(offered: u64, completed: u64, lags: &[(&str, LagOf)]) -> Results {
        let mut r: Results =
            serde_json::from_str(r#"{"experiment":"t","verdict":"pass"}"#).expect("minimal");
        r.phases = Some(check::Phases {
            warmup_end_us: 2_000_000,
            load_end_us: 10_000_000,
            drain_end_us: 12_000_000,
            ..check::Phases::default()
        });
        r.throughput.timeline = (0..10)
            .map(|t| check::Second {
                t_s: t,
                attempted: offered,
                completed,
                ..check::Second::default()
            })
            .collect();
        for (group, lag) in lags {
            r.lag.timeline.insert(
                group.to_string(),
                (0..10)
                    .map(|t| check::LagPoint {
                        t_us: t * 1_000_000,
                        lag: lag(t),
                        pending: Some(0),
                    })
                    .collect(),
            );
        }
        r
    }

    #[test]
    fn a_trial_holds_when_it_completes_what_it_is_offered_and_no_group_falls_behind() {
        let steady = results(
            300,
            300,
            &[("inventory", |t| 20 + t % 3), ("tap", |t| t * 1000)],
        );
        let t = judge_trial(&steady, 300.0, "run".into());
        assert!(t.sustained, "{:?}", t.reasons);
        assert_eq!(t.completed_per_s, 300.0);

        let short = results(300, 290, &[("inventory", |_| 20)]);
        let t = judge_trial(&short, 300.0, "run".into());
        assert!(!t.sustained);
        assert!(
            t.reasons[0].starts_with("completed 290.0/s of 300.0/s offered"),
            "{:?}",
            t.reasons
        );

        // The order path keeps up; analytics falls behind by 150 entries a second.
        let behind = results(
            100,
            100,
            &[("inventory", |_| 3), ("analytics", |t| 150 * t)],
        );
        let t = judge_trial(&behind, 100.0, "run".into());
        assert!(!t.sustained);
        assert!(
            t.reasons[0].starts_with("the lag of group analytics grew by 600 entries"),
            "{:?}",
            t.reasons
        );
    }

    #[test]
    fn the_least_squares_slope_of_a_line_is_its_slope() {
        let line: Vec<(f64, f64)> = (0..10).map(|x| (x as f64, 3.0 * x as f64 + 7.0)).collect();
        assert!((slope(&line) - 3.0).abs() < 1e-9);
        assert_eq!(slope(&[(1.0, 5.0)]), 0.0);
    }

    #[test]
    fn the_cost_compares_maxima_and_latency_at_the_common_rate() {
        let combination = |g: &str, max: f64| CombinationCapacity {
            guarantee: g.into(),
            max_sustainable_per_s: Some(max),
            trials: vec![
                trial(max * 2.0, max, false),
                TrialResult {
                    offered_per_s: 400.0,
                    sustained: true,
                    p99_us: Some(if g == "exactly-once" { 90_000 } else { 30_000 }),
                    ..TrialResult::default()
                },
            ],
            ..CombinationCapacity::default()
        };
        let mut doc = CapacityDocument {
            combinations: vec![
                combination("at-least-once", 800.0),
                combination("exactly-once", 400.0),
            ],
            ..CapacityDocument::default()
        };
        doc.compute_cost();
        let cost = doc.cost.expect("a cost with two guarantees");
        assert_eq!(cost.common_rate_per_s, Some(400.0));
        let eos = &cost.guarantees[1];
        assert_eq!(eos.guarantee, "exactly-once");
        assert_eq!(eos.ratio_to_at_least_once, Some(0.5));
        assert_eq!(eos.p99_us_at_common, Some(90_000));
    }
}
