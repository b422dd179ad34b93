//! Which charts a report shows and what goes into each: [`run_charts`] for one run,
//! [`compare_charts`] for several runs overlaid (one series per run).

use std::collections::BTreeMap;

use crate::chart::{Chart, PERCENTILE_TICKS, Series, Window, XAxis};
use crate::results::{Percentiles, Results};

/// A series' points: (x, y).
type Points = Vec<(f64, f64)>;

/// Hops drawn in the per-hop percentile chart.
const MAX_HOPS: usize = 8;

/// Service series the resilience chart draws (suffixes of `"service.name"`).
const RESILIENCE: [&str; 4] = [
    "retries_total",
    "dead_letters_total",
    "breaker_transitions_total",
    "breaker_state",
];

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// p50, p90, p99, p99.9 and max on the log-percentile axis, in milliseconds.
pub fn percentile_points(p: &Percentiles) -> Vec<(f64, f64)> {
    let values = [p.p50_us, p.p90_us, p.p99_us, p.p999_us, p.max_us];
    PERCENTILE_TICKS
        .iter()
        .zip(values)
        .filter_map(|((x, _), v)| v.map(|v| (*x, ms(v))))
        .collect()
}

fn windows(results: &Results) -> Vec<Window> {
    results
        .faults
        .iter()
        .map(|f| Window {
            start: f.start_s,
            end: f.end_s,
        })
        .collect()
}

fn seconds_chart(
    slug: &str,
    title: &str,
    y_label: &str,
    series: Vec<Series>,
    w: Vec<Window>,
) -> Chart {
    Chart {
        slug: slug.into(),
        title: title.into(),
        x: XAxis::Seconds,
        x_label: "seconds since start (shaded: fault windows)".into(),
        y_label: y_label.into(),
        y_log: false,
        series,
        windows: w,
    }
}

fn percentile_chart(slug: &str, title: &str, series: Vec<Series>) -> Chart {
    Chart {
        slug: slug.into(),
        title: title.into(),
        x: XAxis::LogPercentile,
        x_label: "percentile (log scale: -log10(1 - p))".into(),
        y_label: "latency (ms, log scale)".into(),
        y_log: true,
        series,
        windows: Vec::new(),
    }
}

/// p50 and p99 end to end per second of intended send time.
fn latency_series(results: &Results) -> (Points, Points) {
    let timeline = &results.throughput.timeline;
    let at = |f: fn(&crate::results::Second) -> Option<u64>| {
        timeline
            .iter()
            .filter_map(|s| f(s).map(|v| (s.t_s as f64, ms(v))))
            .collect()
    };
    (at(|s| s.p50_e2e_us), at(|s| s.p99_e2e_us))
}

/// The summed lag of all groups per whole second (for the overlaid compare chart).
fn total_lag(results: &Results) -> Vec<(f64, f64)> {
    let mut by_second: BTreeMap<u64, BTreeMap<&str, u64>> = BTreeMap::new();
    for (group, points) in &results.lag.timeline {
        for p in points {
            by_second
                .entry(p.t_us / 1_000_000)
                .or_default()
                .insert(group, p.lag);
        }
    }
    by_second
        .into_iter()
        .map(|(t, groups)| (t as f64, groups.values().sum::<u64>() as f64))
        .collect()
}

/// Summed over services: the per-second value of every series ending in `suffix`.
fn service_sum(results: &Results, suffix: &str) -> Vec<(f64, f64)> {
    let mut by_second: BTreeMap<u64, f64> = BTreeMap::new();
    for (name, points) in &results.services.timeline {
        if name.ends_with(suffix) {
            for p in points {
                *by_second.entry(p.t_s).or_default() += p.value;
            }
        }
    }
    by_second.into_iter().map(|(t, v)| (t as f64, v)).collect()
}

/// The charts of one run's report, in page order.
pub fn run_charts(results: &Results) -> Vec<Chart> {
    let w = windows(results);
    // The slowest hops by p99: more would not fit one legend; the table lists them all.
    let mut hops: Vec<(&String, &Percentiles)> = results.latency.hops.iter().collect();
    hops.sort_by_key(|(_, p)| std::cmp::Reverse(p.p99_us));
    let hops: Vec<Series> = hops
        .into_iter()
        .take(MAX_HOPS)
        .map(|(hop, p)| Series::new(hop.replace("->", " → "), percentile_points(p)))
        .collect();
    let (p50, p99) = latency_series(results);
    let timeline = &results.throughput.timeline;
    let per_second = |f: fn(&crate::results::Second) -> u64| {
        timeline
            .iter()
            .map(|s| (s.t_s as f64, f(s) as f64))
            .collect()
    };
    let lag = results
        .lag
        .timeline
        .iter()
        .map(|(group, points)| {
            Series::new(
                group.clone(),
                points
                    .iter()
                    .map(|p| (p.t_us as f64 / 1e6, p.lag as f64))
                    .collect(),
            )
        })
        .collect();
    let mut resilience: Vec<Series> = results
        .services
        .timeline
        .iter()
        .filter(|(name, points)| {
            RESILIENCE.iter().any(|s| name.contains(s)) && points.iter().any(|p| p.value != 0.0)
        })
        .map(|(name, points)| {
            Series::new(
                name.clone(),
                points.iter().map(|p| (p.t_s as f64, p.value)).collect(),
            )
        })
        .collect();
    let mut resilience_title = "Retries, dead letters and circuit breakers (cumulative; breaker_state 0 closed, 1 half-open, 2 open)".to_string();
    if resilience.is_empty() && !results.services.timeline.is_empty() {
        resilience_title = "Retries, dead letters and circuit breakers: all zero".into();
        resilience.push(Series::new(
            "all service counters",
            service_sum(results, ""),
        ));
        if let Some(s) = resilience.first_mut() {
            s.points.iter_mut().for_each(|p| p.1 = 0.0);
        }
    }
    vec![
        percentile_chart(
            "latency-percentiles",
            "End-to-end latency distribution",
            vec![Series::new(
                "end to end",
                percentile_points(&results.latency.e2e),
            )],
        ),
        percentile_chart(
            "hop-latency-percentiles",
            &format!("Per-hop latency distribution (the {MAX_HOPS} slowest hops by p99)"),
            hops,
        ),
        seconds_chart(
            "latency-over-time",
            "End-to-end latency by intended send second",
            "latency (ms)",
            vec![
                Series {
                    name: "p50".into(),
                    points: p50,
                    light: true,
                },
                Series::new("p99", p99),
            ],
            w.clone(),
        ),
        seconds_chart(
            "throughput",
            "Throughput: orders per second",
            "orders / s",
            vec![
                Series::new("attempted", per_second(|s| s.attempted)),
                Series::new("acknowledged", per_second(|s| s.acked)),
                Series::new("completed", per_second(|s| s.completed)),
            ],
            w.clone(),
        ),
        seconds_chart(
            "lag",
            "Consumer lag per group",
            "entries behind",
            lag,
            w.clone(),
        ),
        seconds_chart("resilience", &resilience_title, "count", resilience, w),
    ]
}

/// The charts of a comparison: each run one series, labelled by `labels`.
pub fn compare_charts(runs: &[Results], labels: &[String]) -> Vec<Chart> {
    let series = |f: &dyn Fn(&Results) -> Vec<(f64, f64)>| -> Vec<Series> {
        runs.iter()
            .zip(labels)
            .map(|(r, label)| Series::new(label.clone(), f(r)))
            .collect()
    };
    // Fault windows of every run, without repeats (runs of one matrix share them).
    let mut w: Vec<Window> = Vec::new();
    for r in runs {
        for window in windows(r) {
            let same = |x: &Window| {
                (x.start - window.start).abs() < 0.5 && (x.end - window.end).abs() < 0.5
            };
            if !w.iter().any(same) {
                w.push(window);
            }
        }
    }
    vec![
        percentile_chart(
            "compare-latency-percentiles",
            "End-to-end latency distribution",
            series(&|r| percentile_points(&r.latency.e2e)),
        ),
        seconds_chart(
            "compare-p99-over-time",
            "End-to-end p99 by intended send second",
            "latency (ms)",
            series(&|r| latency_series(r).1),
            w.clone(),
        ),
        seconds_chart(
            "compare-throughput",
            "Completed orders per second",
            "orders / s",
            series(&|r| {
                r.throughput
                    .timeline
                    .iter()
                    .map(|s| (s.t_s as f64, s.completed as f64))
                    .collect()
            }),
            w.clone(),
        ),
        seconds_chart(
            "compare-lag",
            "Consumer lag, all groups summed",
            "entries behind",
            series(&total_lag),
            w.clone(),
        ),
        seconds_chart(
            "compare-retries",
            "Retries, all services summed (cumulative)",
            "retries",
            series(&|r| service_sum(r, "retries_total")),
            w,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal() -> Results {
        Results::parse(r#"{"experiment":"x","verdict":"pass"}"#).expect("parse")
    }

    #[test]
    fn a_run_without_data_still_has_every_chart() {
        let charts = run_charts(&minimal());
        let slugs: Vec<&str> = charts.iter().map(|c| c.slug.as_str()).collect();
        assert_eq!(
            slugs,
            [
                "latency-percentiles",
                "hop-latency-percentiles",
                "latency-over-time",
                "throughput",
                "lag",
                "resilience"
            ]
        );
        for c in &charts {
            assert!(c.series.iter().all(|s| s.points.is_empty()), "{c:?}");
        }
    }

    #[test]
    fn missing_percentiles_are_left_out() {
        let p = Percentiles {
            count: 1,
            p50_us: Some(2_000),
            max_us: Some(9_000),
            ..Percentiles::default()
        };
        assert_eq!(
            percentile_points(&p),
            vec![(std::f64::consts::LOG10_2, 2.0), (4.0, 9.0)]
        );
    }

    #[test]
    fn lag_is_summed_per_second_across_groups() {
        let r = Results::parse(
            r#"{"experiment":"x","verdict":"pass","lag":{"timeline":{
                "a":[{"t_us":100,"lag":2},{"t_us":1000100,"lag":4}],
                "b":[{"t_us":900000,"lag":3}]}}}"#,
        )
        .expect("parse");
        assert_eq!(total_lag(&r), vec![(0.0, 5.0), (1.0, 4.0)]);
    }

    #[test]
    fn all_zero_service_counters_draw_one_flat_series() {
        let r = Results::parse(
            r#"{"experiment":"x","verdict":"pass","services":{"timeline":{
                "payment.retries_total":[{"t_s":0,"value":0},{"t_s":1,"value":0}]}}}"#,
        )
        .expect("parse");
        let charts = run_charts(&r);
        let resilience = &charts[5];
        assert!(resilience.title.contains("all zero"));
        assert_eq!(resilience.series[0].points, vec![(0.0, 0.0), (1.0, 0.0)]);
    }
}
