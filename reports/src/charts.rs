//! Which charts a report shows and what goes into each: [`run_charts`] for one run,
//! [`compare_charts`] for several runs overlaid (one series per run).

use std::collections::BTreeMap;

use crate::chart::{Chart, HeatCell, MAX_X, PERCENTILE_TICKS, Series, Window, XAxis, percentile_x};
use crate::error::ReportError;
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

/// p50, p90, p99, p99.9 and max on the log-percentile axis, in milliseconds: what a
/// document without histograms can draw.
pub fn percentile_points(p: &Percentiles) -> Vec<(f64, f64)> {
    let values = [p.p50_us, p.p90_us, p.p99_us, p.p999_us, p.max_us];
    let ticks = [0, 1, 2, 3, PERCENTILE_TICKS.len() - 1].map(|i| PERCENTILE_TICKS[i].0);
    ticks
        .iter()
        .zip(values)
        .filter_map(|(x, v)| v.map(|v| (*x, ms(v))))
        .collect()
}

/// The percentile spectrum of `p` (p50 … p99.999, then the maximum) read from its
/// histogram, on the log-percentile axis in milliseconds; the five percentiles
/// ([`percentile_points`]) when the document has no histogram. `what` names the
/// latency in the error when the histogram cannot be read.
pub fn spectrum_points(p: &Percentiles, what: &str) -> Result<Vec<(f64, f64)>, ReportError> {
    if p.histogram.is_none() {
        return Ok(percentile_points(p));
    }
    let points = check::spectrum(p).map_err(|source| ReportError::Histogram {
        what: what.to_string(),
        source,
    })?;
    Ok(points
        .iter()
        .map(|s| (s.quantile.map_or(MAX_X, percentile_x), ms(s.value_us)))
        .collect())
}

/// A fault window's label: its kind and target (`down gateway`).
pub fn fault_label(f: &crate::results::FaultWindow) -> String {
    format!("{} {}", f.kind.name(), f.target)
}

fn windows(results: &Results) -> Vec<Window> {
    results
        .faults
        .iter()
        .map(|f| Window {
            start: f.start_s,
            end: f.end_s,
            label: fault_label(f),
        })
        .collect()
}

/// Rows of the latency heatmap: a tenth of a decade each, in milliseconds.
const HEAT_ROWS_PER_DECADE: f64 = 10.0;

/// The heatmap of end-to-end latency: per second of intended send time, how many
/// orders fell in each tenth of a decade of latency (from the per-second histograms).
pub fn heat_cells(results: &Results) -> Result<Vec<HeatCell>, ReportError> {
    let mut cells = Vec::new();
    for second in &results.throughput.timeline {
        let Some(text) = &second.e2e_histogram else {
            continue;
        };
        let h = check::stats::decode(text).map_err(|source| ReportError::Histogram {
            what: format!("throughput.timeline second {}", second.t_s),
            source,
        })?;
        let mut rows: BTreeMap<i64, u64> = BTreeMap::new();
        for v in h.iter_recorded() {
            let value_ms = ms(v.value_iterated_to()).max(crate::chart::LOG_FLOOR);
            let row = (value_ms.log10() * HEAT_ROWS_PER_DECADE).floor() as i64;
            *rows.entry(row).or_default() += v.count_at_value();
        }
        let x = (second.t_s as f64, second.t_s as f64 + 1.0);
        cells.extend(rows.into_iter().map(|(row, count)| HeatCell {
            x,
            y: (
                10f64.powf(row as f64 / HEAT_ROWS_PER_DECADE),
                10f64.powf((row + 1) as f64 / HEAT_ROWS_PER_DECADE),
            ),
            count,
        }));
    }
    Ok(cells)
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
        heat: Vec::new(),
    }
}

fn percentile_chart(slug: &str, title: &str, series: Vec<Series>) -> Chart {
    Chart {
        slug: slug.into(),
        title: title.into(),
        x: XAxis::LogPercentile,
        x_label: "percentile (log scale of 1 / (1 - p))".into(),
        y_label: "latency (ms, log scale)".into(),
        y_log: true,
        series,
        windows: Vec::new(),
        heat: Vec::new(),
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

/// The hops the per-hop spectrum draws: the order flow's steps in flow order, then
/// the slowest others, [`MAX_HOPS`] in all (more would not fit one legend; the table
/// lists them all).
pub fn charted_hops(results: &Results) -> Vec<(&String, &Percentiles)> {
    let mut hops: Vec<(String, &Percentiles)> = results
        .latency
        .hops
        .iter()
        .filter(|(_, p)| p.count > 0)
        .map(|(h, p)| (h.clone(), p))
        .collect();
    events::flow::sort_hops(&mut hops);
    let is_step =
        |h: &str| events::flow::hop_key(h).is_some_and(|k| k.branch != events::flow::Branch::Side);
    let mut out: Vec<&String> = hops
        .iter()
        .filter(|(h, _)| is_step(h))
        .map(|(h, _)| h)
        .filter_map(|h| results.latency.hops.get_key_value(h).map(|(k, _)| k))
        .collect();
    let mut others: Vec<(&String, &Percentiles)> = results
        .latency
        .hops
        .iter()
        .filter(|(h, p)| p.count > 0 && !is_step(h))
        .collect();
    others.sort_by_key(|(_, p)| std::cmp::Reverse(p.p99_us));
    out.extend(others.into_iter().map(|(h, _)| h));
    out.truncate(MAX_HOPS);
    out.into_iter()
        .filter_map(|h| results.latency.hops.get_key_value(h))
        .collect()
}

/// A hop's name as printed: `A → B`.
pub fn hop_label(hop: &str) -> String {
    hop.replace("->", " → ")
}

/// The charts of one run's report, in page order. An unreadable histogram is an error
/// naming the latency it belongs to.
pub fn run_charts(results: &Results) -> Result<Vec<Chart>, ReportError> {
    let w = windows(results);
    let mut hops = Vec::new();
    for (hop, p) in charted_hops(results) {
        let points = spectrum_points(p, &format!("latency.hops[{hop}]"))?;
        hops.push(Series::new(hop_label(hop), points));
    }
    let mut e2e = vec![Series::new(
        "end to end, whole run",
        spectrum_points(&results.latency.e2e, "latency.e2e")?,
    )];
    for f in &results.faults {
        if let Some(latency) = f.latency.as_ref().filter(|l| l.e2e.count > 0) {
            let what = format!("faults[{}].latency.e2e", f.id);
            e2e.push(Series::new(
                format!("orders sent during {}", fault_label(f)),
                spectrum_points(&latency.e2e, &what)?,
            ));
        }
    }
    let from_histograms = results.latency.e2e.histogram.is_some();
    let spectrum_title = |what: &str| {
        if from_histograms {
            format!("{what}: percentile spectrum")
        } else {
            format!("{what}: five percentiles (this results.json has no histograms)")
        }
    };
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
    let heat = heat_cells(results)?;
    let mut over_time = seconds_chart(
        "latency-over-time",
        if heat.is_empty() {
            "End-to-end latency by intended send second"
        } else {
            "End-to-end latency by intended send second: orders per cell (darker: more), p50 and p99"
        },
        "latency (ms, log scale)",
        vec![
            Series {
                name: "p50".into(),
                points: p50,
                light: true,
            },
            Series::new("p99", p99),
        ],
        w.clone(),
    );
    over_time.y_log = true;
    over_time.heat = heat;
    Ok(vec![
        percentile_chart(
            "latency-percentiles",
            &spectrum_title("End-to-end latency"),
            e2e,
        ),
        percentile_chart(
            "hop-latency-percentiles",
            &spectrum_title("Per-hop latency, in the order flow's order"),
            hops,
        ),
        over_time,
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
    ])
}

/// The step hop with the highest p99 in any of `runs` (`None` without hops).
fn slowest_step_hop(runs: &[Results]) -> Option<String> {
    runs.iter()
        .flat_map(|r| r.latency.hops.iter())
        .filter(|(h, _)| {
            events::flow::hop_key(h).is_some_and(|k| k.branch != events::flow::Branch::Side)
        })
        .max_by_key(|(_, p)| p.p99_us)
        .map(|(h, _)| h.clone())
}

/// The charts of a comparison: each run one series, labelled by `labels`; the
/// distributions first.
pub fn compare_charts(runs: &[Results], labels: &[String]) -> Result<Vec<Chart>, ReportError> {
    let series = |f: &dyn Fn(&Results) -> Vec<(f64, f64)>| -> Vec<Series> {
        runs.iter()
            .zip(labels)
            .map(|(r, label)| Series::new(label.clone(), f(r)))
            .collect()
    };
    let spectra = |f: &dyn Fn(&Results) -> Option<&Percentiles>,
                   what: &str|
     -> Result<Vec<Series>, ReportError> {
        let mut out = Vec::new();
        for (r, label) in runs.iter().zip(labels) {
            let points = match f(r) {
                Some(p) => spectrum_points(p, &format!("{what} of {label}"))?,
                None => Vec::new(),
            };
            out.push(Series::new(label.clone(), points));
        }
        Ok(out)
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
    let hop = slowest_step_hop(runs);
    let hop_series = match &hop {
        Some(h) => spectra(&|r| r.latency.hops.get(h), &format!("latency.hops[{h}]"))?,
        None => Vec::new(),
    };
    let how = if runs.iter().all(|r| r.latency.e2e.histogram.is_some()) {
        "percentile spectrum of each run"
    } else {
        "percentiles of each run (five points where a results.json has no histograms)"
    };
    Ok(vec![
        percentile_chart(
            "compare-latency-percentiles",
            &format!("End-to-end latency: {how}"),
            spectra(&|r| Some(&r.latency.e2e), "latency.e2e")?,
        ),
        percentile_chart(
            "compare-hop-percentiles",
            &match &hop {
                Some(h) => format!("The slowest hop, {}: {how}", hop_label(h)),
                None => "Per-hop latency: no hops recorded".to_string(),
            },
            hop_series,
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
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal() -> Results {
        Results::parse(r#"{"experiment":"x","verdict":"pass"}"#).expect("parse")
    }

    #[test]
    fn a_run_without_data_still_has_every_chart() {
        let charts = run_charts(&minimal()).expect("charts");
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
            vec![(std::f64::consts::LOG10_2, 2.0), (MAX_X, 9.0)]
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
        let charts = run_charts(&r).expect("charts");
        let resilience = &charts[5];
        assert!(resilience.title.contains("all zero"));
        assert_eq!(resilience.series[0].points, vec![(0.0, 0.0), (1.0, 0.0)]);
    }
}
