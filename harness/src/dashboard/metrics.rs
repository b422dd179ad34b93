//! `GET /metrics`: the run in the Prometheus text format (OpenMetrics), for a
//! Prometheus scraping the harness beside the services (`deploy/prometheus/`).
//!
//! Counters count over every run of the process (a matrix's combinations, `--repeat`'s
//! trials), so they only grow; gauges are the current run's. Families (prefix `harness_`):
//!
//! | family | type | labels |
//! |---|---|---|
//! | `orders_total` | counter | `outcome`: acked, rejected, error, dropped |
//! | `orders_completed_total` | counter | (a terminal event observed) |
//! | `events_observed_total` | counter | (read by the tap) |
//! | `e2e_latency_seconds` | histogram | (intended send to terminal event) |
//! | `anomalies_total` | counter | `kind`: what the live judge proved so far |
//! | `consumer_lag` | gauge | `group` (the tap's own backlog is group `tap`) |
//! | `consumer_pending` | gauge | `group` (Redis only) |
//! | `fault_active` | gauge | `kind`, `target`: 1 while active, 0 once healed |
//! | `phase` | gauge | `phase`: 1 for the current phase, 0 for the others |
//! | `run_info` | gauge | `experiment`, `combination`, `trial`: 1 |
//! | `run_elapsed_seconds` | gauge | (the run's clock) |
//! | `orders_planned` | gauge | |

use std::collections::BTreeMap;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use crate::journal::LatencyTotals;
use crate::journal::live::E2E_BOUNDS_S;
use crate::run::{Phase, Status};

/// The content type of [`Totals::render`]'s text.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The content type of [`Totals::render_classic`]'s text.
pub const CLASSIC: &str = "text/plain; version=0.0.4; charset=utf-8";

const PHASES: [Phase; 9] = [
    Phase::Setup,
    Phase::Load,
    Phase::Heal,
    Phase::Drain,
    Phase::FinalReads,
    Phase::Teardown,
    Phase::Judge,
    Phase::Write,
    Phase::Done,
];

/// The counters of one run, or added up over several.
#[derive(Debug, Clone, Default)]
struct Base {
    outcomes: BTreeMap<&'static str, u64>,
    completed: u64,
    observed: u64,
    anomalies: BTreeMap<&'static str, u64>,
    e2e: LatencyTotals,
}

/// The counters over the process's runs (the gauges are read from the latest status
/// at each scrape).
#[derive(Debug, Clone, Default)]
pub struct Totals {
    /// The runs before the current one.
    base: Base,
    /// The current run's counters, each the largest seen (a counter never goes back).
    current: Base,
    /// The current run (`Status::run`).
    run: u64,
}

fn fold(into: &mut Base, from: &Base) {
    for (k, v) in &from.outcomes {
        *into.outcomes.entry(k).or_default() += v;
    }
    for (k, v) in &from.anomalies {
        *into.anomalies.entry(k).or_default() += v;
    }
    into.completed += from.completed;
    into.observed += from.observed;
    for (a, b) in into.e2e.buckets.iter_mut().zip(from.e2e.buckets) {
        *a += b;
    }
    into.e2e.count += from.e2e.count;
    into.e2e.sum_us += from.e2e.sum_us;
}

impl Totals {
    pub fn update(&mut self, s: &Status) {
        if s.run != self.run {
            self.run = s.run;
            let ended = std::mem::take(&mut self.current);
            fold(&mut self.base, &ended);
        }
        let c = &mut self.current;
        for (k, v) in &s.outcomes {
            let e = c.outcomes.entry(k).or_default();
            *e = (*e).max(*v);
        }
        for (a, n) in &s.so_far.anomalies {
            let e = c.anomalies.entry(a.name()).or_default();
            *e = (*e).max(*n);
        }
        c.completed = c.completed.max(s.completed as u64);
        c.observed = c.observed.max(s.observed);
        if s.e2e.count >= c.e2e.count {
            c.e2e = s.e2e.clone();
        }
    }

    /// The text a scrape gets: the counters, and the gauges of `latest` (the status
    /// last given to [`update`](Self::update)).
    pub fn render(&self, latest: &Status) -> String {
        let mut registry = Registry::with_prefix("harness");
        let mut all = self.base.clone();
        fold(&mut all, &self.current);
        registry.register_collector(Box::new(Snapshot {
            all,
            latest: latest.clone(),
        }));
        let mut text = String::new();
        // Writing to a String does not fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &registry);
        text
    }
}

/// The same exposition in the classic Prometheus text format (0.0.4), for what asks
/// for it (`promtool check metrics`, curl, older scrapers): the two differ, for these
/// families, only in a counter's `HELP`/`TYPE` name (`harness_orders_total`, not
/// `harness_orders`) and the closing `# EOF`.
pub fn classic(openmetrics: &str) -> String {
    let counters: std::collections::BTreeSet<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len() + 16 * counters.len());
    for line in openmetrics.lines() {
        if line == "# EOF" {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(name)
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        out.push_str(renamed.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

impl Totals {
    /// [`render`](Self::render) in the classic text format.
    pub fn render_classic(&self, latest: &Status) -> String {
        classic(&self.render(latest))
    }
}

#[derive(Debug)]
struct Snapshot {
    all: Base,
    latest: Status,
}

/// One family: its descriptor, then each labelled value.
fn family<M: EncodeMetric>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    kind: MetricType,
    values: Vec<(Vec<(&str, String)>, M)>,
) -> Result<(), std::fmt::Error> {
    let mut descriptor = encoder.encode_descriptor(name, help, None, kind)?;
    for (labels, metric) in values {
        if labels.is_empty() {
            // Without labels: `name 1`, not `name{} 1`.
            return metric.encode(descriptor);
        }
        let labels: Vec<(&str, String)> =
            labels.into_iter().map(|(k, v)| (k, escape(&v))).collect();
        metric.encode(descriptor.encode_family(&labels)?)?;
    }
    Ok(())
}

/// A label value as the text format writes it: `prometheus-client` 0.24 writes label
/// values as given, so a `"`, `\` or newline (an experiment's name is the user's)
/// would end the value early and break the whole scrape.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

impl Collector for Snapshot {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let (all, s) = (&self.all, &self.latest);
        let outcomes = check::SendOutcome::ALL
            .iter()
            .map(|o| {
                let n = all.outcomes.get(o.name()).copied().unwrap_or(0);
                (
                    vec![("outcome", o.name().to_string())],
                    ConstCounter::new(n),
                )
            })
            .collect();
        family(
            &mut encoder,
            "orders",
            "Orders the load generator scheduled, by how their send ended",
            MetricType::Counter,
            outcomes,
        )?;
        family(
            &mut encoder,
            "orders_completed",
            "Orders whose terminal event the tap observed",
            MetricType::Counter,
            vec![(vec![], ConstCounter::new(all.completed))],
        )?;
        family(
            &mut encoder,
            "events_observed",
            "Events the tap read",
            MetricType::Counter,
            vec![(vec![], ConstCounter::new(all.observed))],
        )?;
        {
            let mut e = encoder.encode_descriptor(
                "e2e_latency_seconds",
                "End-to-end latency of finished orders: intended send time to the first terminal event",
                None,
                MetricType::Histogram,
            )?;
            let buckets: Vec<(f64, u64)> = E2E_BOUNDS_S
                .iter()
                .copied()
                .chain([f64::MAX])
                .zip(all.e2e.buckets)
                .collect();
            e.encode_histogram::<NoLabelSet>(
                all.e2e.sum_us as f64 / 1e6,
                all.e2e.count,
                &buckets,
                None,
            )?;
        }
        let anomalies = check::Anomaly::ALL
            .iter()
            .map(|a| {
                let n = all.anomalies.get(a.name()).copied().unwrap_or(0);
                (vec![("kind", a.name().to_string())], ConstCounter::new(n))
            })
            .collect();
        family(
            &mut encoder,
            "anomalies",
            "Anomalies the live judge proved so far (keys quiet for 10 s judged; the verdict reads the whole history)",
            MetricType::Counter,
            anomalies,
        )?;
        let lags = s
            .lags
            .iter()
            .map(|(g, l)| (vec![("group", g.clone())], ConstGauge::new(l.lag as i64)))
            .collect();
        family(
            &mut encoder,
            "consumer_lag",
            "Each consumer group's latest backlog (entries not yet processed); group tap is the harness's own reader",
            MetricType::Gauge,
            lags,
        )?;
        let pending = s
            .lags
            .iter()
            .filter_map(|(g, l)| {
                Some((
                    vec![("group", g.clone())],
                    ConstGauge::new(l.pending? as i64),
                ))
            })
            .collect();
        family(
            &mut encoder,
            "consumer_pending",
            "Redis: entries delivered to a group and not yet acknowledged",
            MetricType::Gauge,
            pending,
        )?;
        let mut faults: BTreeMap<(&str, &str), i64> = BTreeMap::new();
        for f in &s.faults_done {
            faults.entry((f.kind.name(), &f.target)).or_insert(0);
        }
        for f in &s.faults_active {
            faults.insert((f.kind.name(), &f.target), 1);
        }
        let faults = faults
            .into_iter()
            .map(|((kind, target), v)| {
                (
                    vec![("kind", kind.to_string()), ("target", target.to_string())],
                    ConstGauge::new(v),
                )
            })
            .collect();
        family(
            &mut encoder,
            "fault_active",
            "1 while a fault of this kind acts on this target, 0 once healed (the current run's faults)",
            MetricType::Gauge,
            faults,
        )?;
        let phases = PHASES
            .iter()
            .map(|p| {
                (
                    vec![("phase", p.name().to_string())],
                    ConstGauge::new(i64::from(*p == s.phase)),
                )
            })
            .collect();
        family(
            &mut encoder,
            "phase",
            "The run's current phase (1) among all phases (0)",
            MetricType::Gauge,
            phases,
        )?;
        let fraction = |p: Option<(String, String)>| p.map(|(k, of)| format!("{k}/{of}"));
        let info = vec![(
            vec![
                ("experiment", s.experiment.clone()),
                (
                    "combination",
                    fraction(
                        s.position
                            .combination
                            .map(|(k, of)| (k.to_string(), of.to_string())),
                    )
                    .unwrap_or_default(),
                ),
                (
                    "trial",
                    fraction(
                        s.position
                            .trial
                            .map(|(i, of)| (i.to_string(), of.to_string())),
                    )
                    .unwrap_or_default(),
                ),
            ],
            ConstGauge::new(1i64),
        )];
        family(
            &mut encoder,
            "run_info",
            "The run now going (combination k/of of a matrix, trial i/of of --repeat)",
            MetricType::Gauge,
            info,
        )?;
        family(
            &mut encoder,
            "run_elapsed_seconds",
            "The run's clock: seconds since its load generator's clock started",
            MetricType::Gauge,
            vec![(vec![], ConstGauge::new(s.elapsed.as_secs_f64()))],
        )?;
        family(
            &mut encoder,
            "orders_planned",
            "Orders the current run's schedule holds",
            MetricType::Gauge,
            vec![(vec![], ConstGauge::new(s.planned as i64))],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::status::GroupLag;

    fn parse(text: &str) -> prometheus_parse::Scrape {
        prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("parses")
    }

    fn value(scrape: &prometheus_parse::Scrape, name: &str, label: Option<(&str, &str)>) -> f64 {
        let sample = scrape
            .samples
            .iter()
            .find(|s| s.metric == name && label.is_none_or(|(k, v)| s.labels.get(k) == Some(v)))
            .unwrap_or_else(|| panic!("{name} {label:?} missing"));
        match sample.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => panic!("{name}: not a number"),
        }
    }

    #[test]
    fn counters_add_up_over_runs_and_gauges_are_the_current_run_s() {
        let mut totals = Totals::default();
        let mut s = Status {
            run: 1,
            phase: Phase::Load,
            completed: 40,
            ..Status::default()
        };
        s.outcomes.insert("acked", 50);
        s.lags.insert(
            "inventory".into(),
            GroupLag {
                lag: 7,
                pending: Some(2),
                t_us: 1,
            },
        );
        s.e2e.record(30_000);
        totals.update(&s);
        let mut second = Status {
            run: 2,
            phase: Phase::Drain,
            completed: 5,
            ..Status::default()
        };
        second.outcomes.insert("acked", 6);
        second.lags.insert(
            "inventory".into(),
            GroupLag {
                lag: 3,
                pending: None,
                t_us: 2,
            },
        );
        second.e2e.record(2_000_000);
        totals.update(&second);
        let text = totals.render(&second);
        let scrape = parse(&text);
        assert_eq!(
            value(&scrape, "harness_orders_total", Some(("outcome", "acked"))),
            56.0
        );
        assert_eq!(
            value(
                &scrape,
                "harness_orders_total",
                Some(("outcome", "dropped"))
            ),
            0.0
        );
        assert_eq!(value(&scrape, "harness_orders_completed_total", None), 45.0);
        assert_eq!(
            value(
                &scrape,
                "harness_consumer_lag",
                Some(("group", "inventory"))
            ),
            3.0
        );
        assert_eq!(
            value(&scrape, "harness_phase", Some(("phase", "drain"))),
            1.0
        );
        assert_eq!(
            value(&scrape, "harness_phase", Some(("phase", "load"))),
            0.0
        );
        assert!(
            text.contains("harness_e2e_latency_seconds_bucket{le=\"0.05\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("harness_e2e_latency_seconds_bucket{le=\"+Inf\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("harness_e2e_latency_seconds_count 2\n"),
            "{text}"
        );
        assert!(
            !text.contains("consumer_pending{"),
            "no Redis pending in run 2: {text}"
        );
    }

    #[test]
    fn the_classic_format_names_counters_by_their_samples() {
        let mut totals = Totals::default();
        totals.update(&Status::default());
        let open = totals.render(&Status::default());
        assert!(open.contains("# TYPE harness_orders counter\n") && open.ends_with("# EOF\n"));
        let text = totals.render_classic(&Status::default());
        assert!(
            text.contains("# TYPE harness_orders_total counter\n"),
            "{text}"
        );
        assert!(
            text.contains("# HELP harness_orders_total Orders"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE harness_e2e_latency_seconds histogram\n"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE harness_consumer_lag gauge\n"),
            "{text}"
        );
        assert!(!text.contains("# EOF"), "{text}");
        assert_eq!(parse(&text).samples.len(), parse(&open).samples.len());
    }

    #[test]
    fn label_values_are_escaped() {
        let mut totals = Totals::default();
        let s = Status {
            run: 1,
            experiment: "a \"quoted\"\\name\nline two".into(),
            ..Status::default()
        };
        totals.update(&s);
        let text = totals.render(&s);
        assert!(
            text.contains(r#"experiment="a \"quoted\"\\name\nline two""#),
            "{text}"
        );
        let scrape = parse(&text);
        let info = scrape
            .samples
            .iter()
            .find(|s| s.metric == "harness_run_info")
            .expect("run_info");
        // The value did not end early: the labels after it are still labels
        // (prometheus-parse keeps escapes as written; promtool reads them:
        // harness/tests/deploy_prometheus.rs).
        assert_eq!(info.labels.get("combination"), Some(""));
        assert_eq!(info.labels.get("trial"), Some(""));
    }
}
