//! Measurements: counts, latency (end to end and per hop), the per-second timeline,
//! throughput, consumer lag, the generator's shortfall and scraped service counters.
//!
//! **Warm-up.** An order whose `intended_us` is before `warmup_end_us` is left out of
//! every statistic here (latency, throughput, per-second p99, shortfall); an event is in
//! warm-up when its key is such an order, or, for keys that are no scheduled order,
//! when its cause was observed before `warmup_end_us`. Lag samples before
//! `warmup_end_us` are left out of the maximum. [`Counts`] and the timeline's counts
//! cover the whole run.

use std::collections::{BTreeMap, HashMap};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::history::{DrainEnd, History, SendOutcome};
use crate::index::Index;
use crate::inflight::TAP_GROUP;
use crate::stats::{Percentiles, Recorder, p50_exact, p99_exact};

pub const SECOND_US: u64 = 1_000_000;

/// Longest timeline emitted densely; beyond it only seconds with activity are listed
/// (protects against a corrupted far-future timestamp allocating billions of rows).
const MAX_DENSE_SECONDS: u64 = 7 * 24 * 3600;

/// The phase boundaries the analysis used: from `meta`, or derived when it is absent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Phases {
    pub warmup_end_us: u64,
    pub load_end_us: u64,
    pub drain_end_us: u64,
    /// How the drain ended, from `meta` (absent in older histories and without one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drain_ended: Option<DrainEnd>,
    /// `true` when there was no `meta` line: warm-up 0, load end just after the last
    /// intended send, drain end at the last observation.
    pub derived: bool,
}

impl Phases {
    pub fn of(history: &History) -> Phases {
        if let Some(meta) = &history.meta {
            return Phases {
                warmup_end_us: meta.warmup_end_us,
                load_end_us: meta.load_end_us,
                drain_end_us: meta.drain_end_us,
                drain_ended: meta.drain,
                derived: false,
            };
        }
        let last_intended = history.sends.iter().map(|s| s.intended_us).max();
        let last_observed = history.observations.iter().map(|o| o.observed_us).max();
        let load_end_us = last_intended.map_or(0, |t| t.saturating_add(1));
        Phases {
            warmup_end_us: 0,
            load_end_us,
            drain_end_us: last_observed.unwrap_or(0).max(load_end_us),
            drain_ended: None,
            derived: true,
        }
    }

    pub fn measured(&self, intended_us: u64) -> bool {
        intended_us >= self.warmup_end_us
    }
}

/// Whole-run totals (warm-up included).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Counts {
    /// Distinct orders the schedule intended (send lines, dropped included).
    pub attempted: u64,
    /// Orders that actually left the generator (not dropped).
    pub sent: u64,
    /// Orders the system acknowledged.
    pub acknowledged: u64,
    /// Acknowledged orders intended after warm-up: the data the verdict stands on.
    pub acknowledged_measured: u64,
    /// Send lines with outcome `rejected`.
    pub rejected: u64,
    /// Send lines with outcome `error`.
    pub errors: u64,
    /// Send lines with outcome `dropped`.
    pub dropped: u64,
    /// Sent orders that left more than `late_after_us` after their intended time.
    pub late: u64,
    /// Scheduled orders whose `OrderPlaced` the tap observed.
    pub observed: u64,
    /// Scheduled orders that reached a terminal event.
    pub completed: u64,
    /// Distinct event ids the tap observed.
    pub events: u64,
    /// Observation lines (reads), duplicates and re-reads included.
    pub reads: u64,
}

/// End-to-end and per-hop latency after warm-up.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Latency {
    /// First terminal observation minus the order's intended send time.
    pub e2e: Percentiles,
    /// Observed time of an effect minus that of its cause, by `"Cause->Effect"` type
    /// pair (first observations; effects observed before their cause are left out).
    pub hops: BTreeMap<String, Percentiles>,
}

/// One second of the run: `t_s` covers `[t_s, t_s + 1)` seconds after the start.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Second {
    pub t_s: u64,
    /// Orders intended in this second.
    pub attempted: u64,
    /// Acknowledgements received in this second.
    pub acked: u64,
    /// Orders whose first terminal event was observed in this second.
    pub completed: u64,
    /// Exact p99 end-to-end latency of the completed measured orders *intended* in
    /// this second (`None` when none completed): what the recovery rule reads.
    pub p99_e2e_us: Option<u64>,
    /// Exact median end-to-end latency of the same orders, for the p50-over-time chart
    /// (absent in results written before it existed).
    #[serde(default)]
    pub p50_e2e_us: Option<u64>,
    /// The same orders' end-to-end latencies as a histogram (text form of
    /// [`crate::stats`]): a column of the report's latency heatmap. Absent when none
    /// completed, and in results written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e2e_histogram: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Throughput {
    /// Measured orders completed per second with their terminal event observed in
    /// `warmup_end..load_end`; `None` when that window is empty.
    pub mean_per_s: Option<f64>,
    pub timeline: Vec<Second>,
}

/// One lag sample as charted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct LagPoint {
    pub t_us: u64,
    pub lag: u64,
    pub pending: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct LagReport {
    /// Highest lag of any group after warm-up (`None` without samples after warm-up).
    pub max: Option<u64>,
    pub max_by_group: BTreeMap<String, u64>,
    /// Every sample, per group, in time order.
    pub timeline: BTreeMap<String, Vec<LagPoint>>,
}

/// What the load generator failed to do on schedule, after warm-up.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Shortfall {
    /// Measured orders never sent.
    pub dropped: u64,
    /// Measured orders sent more than `late_after_us` after their intended time.
    pub late: u64,
    pub late_after_us: u64,
    /// The largest `sent_us - intended_us` among measured sends.
    pub max_send_delay_us: Option<u64>,
}

pub(crate) fn counts(
    history: &History,
    index: &Index<'_>,
    phases: &Phases,
    late_after_us: u64,
) -> Counts {
    let lines = |outcome| {
        history
            .sends
            .iter()
            .filter(|s| s.outcome == outcome)
            .count() as u64
    };
    let late = history
        .sends
        .iter()
        .filter(|s| {
            s.sent_us
                .is_some_and(|t| t.saturating_sub(s.intended_us) > late_after_us)
        })
        .count() as u64;
    Counts {
        attempted: index.orders.len() as u64,
        sent: index.orders.iter().filter(|o| !o.dropped).count() as u64,
        acknowledged: index.orders.iter().filter(|o| o.acked).count() as u64,
        acknowledged_measured: index
            .orders
            .iter()
            .filter(|o| o.acked && phases.measured(o.intended_us))
            .count() as u64,
        rejected: lines(SendOutcome::Rejected),
        errors: lines(SendOutcome::Error),
        dropped: lines(SendOutcome::Dropped),
        late,
        observed: index
            .orders
            .iter()
            .filter(|o| o.placed_us.is_some())
            .count() as u64,
        completed: index
            .orders
            .iter()
            .filter(|o| o.terminal_us.is_some())
            .count() as u64,
        events: index.firsts.len() as u64,
        reads: index.observed.len() as u64,
    }
}

pub(crate) fn latency(index: &Index<'_>, phases: &Phases) -> Latency {
    latency_within(index, phases, |_| true)
}

/// [`latency`] of the measured orders whose intended send time `within` keeps (a fault
/// window's); a hop of a key that is no scheduled order is kept when `within` keeps
/// the time its cause was observed.
pub(crate) fn latency_within(
    index: &Index<'_>,
    phases: &Phases,
    within: impl Fn(u64) -> bool,
) -> Latency {
    let mut e2e = Recorder::new();
    for order in index
        .orders
        .iter()
        .filter(|o| phases.measured(o.intended_us) && within(o.intended_us))
    {
        if let Some(l) = order.e2e_us() {
            e2e.record(l);
        }
    }
    let mut hops: BTreeMap<String, Recorder> = BTreeMap::new();
    for effect in &index.firsts {
        let Some(cause) = effect
            .causation_id
            .as_deref()
            .and_then(|c| index.first.get(c))
        else {
            continue;
        };
        let measured = match index.order(&effect.key) {
            Some(order) => phases.measured(order.intended_us) && within(order.intended_us),
            None => cause.observed_us >= phases.warmup_end_us && within(cause.observed_us),
        };
        if measured && effect.observed_us >= cause.observed_us {
            hops.entry(format!("{}->{}", cause.event_type, effect.event_type))
                .or_default()
                .record(effect.observed_us - cause.observed_us);
        }
    }
    Latency {
        e2e: e2e.finish(),
        hops: hops.into_iter().map(|(k, r)| (k, r.finish())).collect(),
    }
}

/// The second of `t_us` in `seconds`, added empty if new.
pub(crate) fn second_at(seconds: &mut BTreeMap<u64, Second>, t_us: u64) -> &mut Second {
    let t_s = t_us / SECOND_US;
    seconds.entry(t_s).or_insert_with(|| Second {
        t_s,
        ..Second::default()
    })
}

/// The timeline from its seconds with activity and the end-to-end latencies of the
/// orders intended in each: every second from 0 to the last (only those with activity
/// if that would pass a week), each with its latencies' p99, p50 and histogram.
pub(crate) fn timeline_of(
    mut seconds: BTreeMap<u64, Second>,
    latencies: HashMap<u64, Vec<u64>>,
) -> Vec<Second> {
    for (t_s, mut values) in latencies {
        if let Some(second) = seconds.get_mut(&t_s) {
            second.p99_e2e_us = p99_exact(&mut values);
            second.p50_e2e_us = p50_exact(&mut values);
            let mut recorder = Recorder::new();
            values.iter().for_each(|&v| recorder.record(v));
            second.e2e_histogram = recorder.finish().histogram;
        }
    }
    match (seconds.keys().next(), seconds.keys().next_back()) {
        (Some(_), Some(&last)) if last < MAX_DENSE_SECONDS => (0..=last)
            .map(|t_s| {
                seconds.remove(&t_s).unwrap_or(Second {
                    t_s,
                    ..Second::default()
                })
            })
            .collect(),
        _ => seconds.into_values().collect(),
    }
}

/// The per-second timeline and the mean completion rate over the load window.
pub(crate) fn throughput(history: &History, index: &Index<'_>, phases: &Phases) -> Throughput {
    let mut seconds: BTreeMap<u64, Second> = BTreeMap::new();
    let mut latencies: HashMap<u64, Vec<u64>> = HashMap::new();
    for order in &index.orders {
        second_at(&mut seconds, order.intended_us).attempted += 1;
        if let Some(t) = order.terminal_us {
            second_at(&mut seconds, t).completed += 1;
        }
        if let (true, Some(l)) = (phases.measured(order.intended_us), order.e2e_us()) {
            latencies
                .entry(order.intended_us / SECOND_US)
                .or_default()
                .push(l);
        }
    }
    for send in &history.sends {
        if let (SendOutcome::Acked, Some(t)) = (send.outcome, send.acked_us) {
            second_at(&mut seconds, t).acked += 1;
        }
    }
    let timeline = timeline_of(seconds, latencies);

    let window_us = phases.load_end_us.saturating_sub(phases.warmup_end_us);
    let mean_per_s = (window_us > 0).then(|| {
        let done = index
            .orders
            .iter()
            .filter(|o| phases.measured(o.intended_us))
            .filter_map(|o| o.terminal_us)
            .filter(|&t| t >= phases.warmup_end_us && t < phases.load_end_us)
            .count();
        done as f64 / (window_us as f64 / SECOND_US as f64)
    });
    Throughput {
        mean_per_s,
        timeline,
    }
}

pub(crate) fn lag(history: &History, phases: &Phases) -> LagReport {
    let mut report = LagReport::default();
    // Consumer groups only: the tap's own backlog (group `tap`) is the harness's, read
    // by the in-flight rule from the history, not part of the system's lag.
    for sample in history.lags.iter().filter(|s| s.group != TAP_GROUP) {
        report
            .timeline
            .entry(sample.group.clone())
            .or_default()
            .push(LagPoint {
                t_us: sample.t_us,
                lag: sample.lag,
                pending: sample.pending,
            });
        if sample.t_us >= phases.warmup_end_us {
            let group = report.max_by_group.entry(sample.group.clone()).or_default();
            *group = (*group).max(sample.lag);
            report.max = Some(report.max.unwrap_or(0).max(sample.lag));
        }
    }
    for points in report.timeline.values_mut() {
        points.sort_by_key(|p| p.t_us);
    }
    report
}

pub(crate) fn shortfall(history: &History, phases: &Phases, late_after_us: u64) -> Shortfall {
    let mut out = Shortfall {
        late_after_us,
        ..Shortfall::default()
    };
    for send in history
        .sends
        .iter()
        .filter(|s| phases.measured(s.intended_us))
    {
        if send.outcome == SendOutcome::Dropped {
            out.dropped += 1;
        }
        if let Some(sent) = send.sent_us {
            let delay = sent.saturating_sub(send.intended_us);
            out.late += u64::from(delay > late_after_us);
            out.max_send_delay_us = Some(out.max_send_delay_us.unwrap_or(0).max(delay));
        }
    }
    out
}

/// One second of a scraped service series.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct CounterPoint {
    /// Covers `[t_s, t_s + 1)` seconds after the start.
    pub t_s: u64,
    /// The sum over instances of each instance's latest sample at or before the end of
    /// this second (an instance not yet sampled counts 0).
    pub value: f64,
}

/// Scraped series over time, `"service.name"` → one point per second from the series'
/// first sample to its last (only the sampled seconds if that would exceed a week): what the retries / dead letters / circuit-breaker chart
/// draws. Counters stay cumulative (a restart resets its instance's share);
/// `breaker_state` is the sum of the instances' states (0 closed, 1 half-open, 2 open).
pub(crate) fn services_timeline(history: &History) -> BTreeMap<String, Vec<CounterPoint>> {
    // (series, instance) → samples (t_us, value)
    let mut samples: BTreeMap<(String, u32), Vec<(u64, f64)>> = BTreeMap::new();
    for m in &history.metrics {
        samples
            .entry((format!("{}.{}", m.service, m.name), m.instance))
            .or_default()
            .push((m.t_us, m.value));
    }
    let mut by_series: BTreeMap<String, Vec<Vec<(u64, f64)>>> = BTreeMap::new();
    for ((series, _), mut points) in samples {
        points.sort_by_key(|(t, _)| *t);
        by_series.entry(series).or_default().push(points);
    }
    let mut out = BTreeMap::new();
    for (series, instances) in by_series {
        let seconds: std::collections::BTreeSet<u64> = instances
            .iter()
            .flatten()
            .map(|(t, _)| t / SECOND_US)
            .collect();
        let (Some(&first), Some(&last)) = (seconds.first(), seconds.last()) else {
            continue;
        };
        // Dense unless a corrupted timestamp would make it huge; then sampled seconds only.
        let seconds: Vec<u64> = if last - first < MAX_DENSE_SECONDS {
            (first..=last).collect()
        } else {
            seconds.into_iter().collect()
        };
        let mut next = vec![0usize; instances.len()];
        let mut latest = vec![0.0; instances.len()];
        let mut points = Vec::new();
        for t_s in seconds {
            let end_us = (t_s + 1).saturating_mul(SECOND_US);
            for (i, samples) in instances.iter().enumerate() {
                while let Some(&(_, v)) = samples.get(next[i]).filter(|(t, _)| *t < end_us) {
                    latest[i] = v;
                    next[i] += 1;
                }
            }
            points.push(CounterPoint {
                t_s,
                value: latest.iter().sum(),
            });
        }
        out.insert(series, points);
    }
    out
}

/// Scraped counters as `"service.name"` → the last value of each instance, summed over
/// instances. A counter reset by a restart undercounts; the report says "at least".
pub(crate) fn services(history: &History) -> BTreeMap<String, f64> {
    let mut last: BTreeMap<(&str, &str, u32), (u64, f64)> = BTreeMap::new();
    for m in &history.metrics {
        let key = (m.service.as_str(), m.name.as_str(), m.instance);
        match last.get(&key) {
            Some((t, _)) if *t > m.t_us => {}
            _ => {
                last.insert(key, (m.t_us, m.value));
            }
        }
    }
    let mut out: BTreeMap<String, f64> = BTreeMap::new();
    for ((service, name, _), (_, value)) in last {
        *out.entry(format!("{service}.{name}")).or_default() += value;
    }
    out
}
