//! Merging shards: the analyses of N harness processes that each drove a disjoint
//! slice of one schedule (by order key, `harness run --shard I/N`) and each measured
//! its own orders on its own clock, combined into the analysis of the whole run.
//!
//! Every order, and every event of it, belongs to exactly one shard, so what is
//! counted per order adds up and what is measured per order merges without loss:
//!
//! - **Counts, anomalies, in-flight orders, lost orders, shortfall**: added. Samples
//!   of ids are united (shard by shard, up to [`AnomalyReport::SAMPLE`]).
//! - **Latency** (end to end, per hop, per fault window, per second): the shards'
//!   HdrHistograms are added and the percentiles read from the sum, so a merged p99 is
//!   the p99 of every order of every shard, never an average of p99s. A shard's
//!   distribution without its histogram cannot be merged exactly: an error.
//! - **The per-second timeline**: seconds are each shard's own (from its start), so
//!   second `t` of the merged run adds second `t` of every shard; a second's p99 and
//!   p50 are read from its merged histogram (the shards' exact nearest-rank values
//!   cannot be combined; the histogram's are within 0.1 %).
//! - **Throughput**: the mean completion rates add up (every shard measures the same
//!   load window of the same experiment).
//! - **Faults**: taken once, from the first shard, which injected them; the other
//!   shards recorded the same windows on their own clocks without acting. Per window,
//!   orders and anomalies add and latency merges; recovery and drain times are the
//!   longest of any shard (the system has recovered when the orders of every shard
//!   have), `None` (never) if any shard never recovered.
//! - **Lag**: every shard sampled the same consumer groups of the one system, so the
//!   maximum is the largest any shard saw, and the timeline is the first shard's.
//! - **Service counters**: added (each shard counts what its own platform did; with
//!   an external system every shard has none).
//!
//! [`merge_meta`] checks that the shards' meta lines describe one run (experiment,
//! seed, backend, guarantee, analysis options, thresholds) and combines them: complete
//! only when every shard is, the worst drain end, the latest phase boundaries.

use std::collections::BTreeMap;

use crate::analysis::Analysis;
use crate::anomaly::{AnomalyReport, Finding};
use crate::attribution::{DeadLetterGroup, LostAttribution};
use crate::detect::AnomalyDetails;
use crate::faults::FaultWindowStats;
use crate::history::{DrainEnd, Meta};
use crate::inflight::{Backlog, InFlight};
use crate::measure::{CounterPoint, LagReport, Latency, Phases, Second, Shortfall, Throughput};
use crate::stats::{self, HistogramError, Percentiles};

/// Why shards cannot be merged.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("nothing to merge")]
    Empty,
    #[error("shard {shard} {what}: {source}")]
    Histogram {
        shard: usize,
        what: String,
        source: HistogramError,
    },
    #[error(
        "shard {shard}'s {what} has {count} values but no histogram (written by a harness \
         older than histograms in results): its percentiles cannot be merged exactly"
    )]
    NoHistogram {
        shard: usize,
        what: String,
        count: u64,
    },
    #[error("the shards are not one run: {0}")]
    Mismatch(String),
}

/// The analysis of the whole run from its shards' analyses (in shard order: the first
/// is the one that injected the faults).
pub fn merge(shards: &[Analysis]) -> Result<Analysis, MergeError> {
    let first = shards.first().ok_or(MergeError::Empty)?;
    let percentiles = |what: &str, pick: &dyn Fn(&Analysis) -> Option<&Percentiles>| {
        merge_percentiles(what, shards.iter().map(pick))
    };
    let e2e = percentiles("end-to-end latency", &|a| Some(&a.latency.e2e))?;
    let mut hops = BTreeMap::new();
    for hop in shards.iter().flat_map(|a| a.latency.hops.keys()) {
        if !hops.contains_key(hop) {
            let merged = percentiles(&format!("hop {hop}"), &|a| a.latency.hops.get(hop))?;
            hops.insert(hop.clone(), merged);
        }
    }
    let mut faults = Vec::with_capacity(first.faults.len());
    for window in &first.faults {
        faults.push(merge_window(window, shards)?);
    }
    Ok(Analysis {
        phases: merge_phases(shards.iter().map(|a| a.phases)),
        counts: sum_counts(shards),
        anomalies: merge_reports(shards.iter().map(|a| &a.anomalies)),
        anomaly_details: merge_details(shards.iter().map(|a| &a.anomaly_details)),
        in_flight: merge_in_flight(shards.iter().map(|a| &a.in_flight)),
        latency: Latency { e2e, hops },
        throughput: merge_throughput(shards)?,
        lag: merge_lag(shards.iter().map(|a| &a.lag)),
        faults,
        shortfall: merge_shortfall(shards.iter().map(|a| &a.shortfall)),
        services: {
            let mut totals = BTreeMap::new();
            for (name, value) in shards.iter().flat_map(|a| &a.services) {
                *totals.entry(name.clone()).or_insert(0.0) += value;
            }
            totals
        },
        services_timeline: merge_counters(shards),
        lost_attribution: merge_attribution(shards.iter().map(|a| &a.lost_attribution)),
    })
}

/// One meta line for the merged run; an error when the shards' lines disagree on what
/// the run was.
pub fn merge_meta(metas: &[Meta]) -> Result<Meta, MergeError> {
    let first = metas.first().ok_or(MergeError::Empty)?;
    for (k, meta) in metas.iter().enumerate().skip(1) {
        let differs = |what: &str, a: String, b: String| {
            MergeError::Mismatch(format!("shard {k}'s {what} is {b}, shard 0's {a}"))
        };
        macro_rules! same {
            ($field:ident) => {
                if meta.$field != first.$field {
                    return Err(differs(
                        stringify!($field),
                        format!("{:?}", first.$field),
                        format!("{:?}", meta.$field),
                    ));
                }
            };
        }
        same!(experiment);
        same!(seed);
        same!(backend);
        same!(guarantee);
        same!(analysis);
        same!(thresholds);
    }
    let phases = merge_phases(metas.iter().map(|m| Phases {
        warmup_end_us: m.warmup_end_us,
        load_end_us: m.load_end_us,
        drain_end_us: m.drain_end_us,
        drain_ended: m.drain,
        derived: false,
    }));
    Ok(Meta {
        warmup_end_us: phases.warmup_end_us,
        load_end_us: phases.load_end_us,
        drain_end_us: phases.drain_end_us,
        complete: metas.iter().all(|m| m.complete),
        drain: phases.drain_ended,
        ..first.clone()
    })
}

/// How bad a drain end is for the verdict: stopped, then timed out, then idle, then
/// finished.
fn drain_rank(end: Option<DrainEnd>) -> u8 {
    match end {
        Some(DrainEnd::Finished) => 0,
        Some(DrainEnd::Idle) => 1,
        None => 2,
        Some(DrainEnd::TimedOut) => 3,
        Some(DrainEnd::Stopped) => 4,
    }
}

fn merge_phases(phases: impl Iterator<Item = Phases>) -> Phases {
    let mut out: Option<Phases> = None;
    for p in phases {
        out = Some(match out {
            None => p,
            Some(o) => Phases {
                warmup_end_us: o.warmup_end_us.max(p.warmup_end_us),
                load_end_us: o.load_end_us.max(p.load_end_us),
                drain_end_us: o.drain_end_us.max(p.drain_end_us),
                drain_ended: if drain_rank(p.drain_ended) > drain_rank(o.drain_ended) {
                    p.drain_ended
                } else {
                    o.drain_ended
                },
                derived: o.derived || p.derived,
            },
        });
    }
    out.unwrap_or_default()
}

fn sum_counts(shards: &[Analysis]) -> crate::measure::Counts {
    let mut c = crate::measure::Counts::default();
    for a in shards {
        let s = &a.counts;
        c.attempted += s.attempted;
        c.sent += s.sent;
        c.acknowledged += s.acknowledged;
        c.acknowledged_measured += s.acknowledged_measured;
        c.rejected += s.rejected;
        c.errors += s.errors;
        c.dropped += s.dropped;
        c.late += s.late;
        c.observed += s.observed;
        c.completed += s.completed;
        c.events += s.events;
        c.reads += s.reads;
    }
    c
}

/// Ids united in shard order, at most [`AnomalyReport::SAMPLE`].
fn unite(samples: &mut Vec<String>, more: &[String]) {
    for id in more {
        if samples.len() >= AnomalyReport::SAMPLE {
            break;
        }
        if !samples.contains(id) {
            samples.push(id.clone());
        }
    }
}

fn merge_reports<'a>(reports: impl Iterator<Item = &'a AnomalyReport>) -> AnomalyReport {
    let mut out = AnomalyReport::default();
    for report in reports {
        for (anomaly, finding) in &report.findings {
            let merged: &mut Finding = out.findings.entry(*anomaly).or_default();
            merged.count += finding.count;
            unite(&mut merged.sample, &finding.sample);
        }
    }
    out
}

fn merge_details<'a>(details: impl Iterator<Item = &'a AnomalyDetails>) -> AnomalyDetails {
    let mut out = AnomalyDetails::default();
    for d in details {
        for (kind, n) in &d.duplicate_delivery_by_type {
            *out.duplicate_delivery_by_type
                .entry(kind.clone())
                .or_insert(0) += n;
        }
        out.extra_charges += d.extra_charges;
        out.tap_rereads += d.tap_rereads;
    }
    out
}

fn merge_in_flight<'a>(parts: impl Iterator<Item = &'a InFlight>) -> InFlight {
    let mut out = InFlight::default();
    let mut groups: Vec<Backlog> = Vec::new();
    for part in parts {
        out.count += part.count;
        unite(&mut out.sample, &part.sample);
        for g in &part.groups {
            match groups.iter_mut().find(|m| m.group == g.group) {
                // The orders are each shard's own; the backlog is the one system's, as
                // each shard last sampled it: the largest.
                Some(m) => {
                    m.orders += g.orders;
                    m.lag = m.lag.max(g.lag);
                    m.pending = m.pending.max(g.pending);
                }
                None => groups.push(g.clone()),
            }
        }
    }
    groups.sort_by(|a, b| b.orders.cmp(&a.orders).then_with(|| a.group.cmp(&b.group)));
    out.groups = groups;
    out
}

fn merge_attribution<'a>(parts: impl Iterator<Item = &'a LostAttribution>) -> LostAttribution {
    let mut out = LostAttribution::default();
    let mut groups: Vec<DeadLetterGroup> = Vec::new();
    for part in parts {
        out.orders.extend(part.orders.iter().cloned());
        for g in &part.dead_lettered {
            match groups
                .iter_mut()
                .find(|m| m.service == g.service && m.reason_kind == g.reason_kind)
            {
                Some(m) => m.orders += g.orders,
                None => groups.push(g.clone()),
            }
        }
        for (step, n) in &part.stopped_after {
            *out.stopped_after.entry(step.clone()).or_insert(0) += n;
        }
        out.dead_letters_total += part.dead_letters_total;
        out.dead_letters_not_lost += part.dead_letters_not_lost;
    }
    groups.sort_by(|a, b| {
        b.orders
            .cmp(&a.orders)
            .then_with(|| (&a.service, &a.reason_kind).cmp(&(&b.service, &b.reason_kind)))
    });
    out.dead_lettered = groups;
    out
}

fn merge_shortfall<'a>(parts: impl Iterator<Item = &'a Shortfall>) -> Shortfall {
    let mut out = Shortfall::default();
    for p in parts {
        out.dropped += p.dropped;
        out.late += p.late;
        out.late_after_us = out.late_after_us.max(p.late_after_us);
        out.max_send_delay_us = out.max_send_delay_us.max(p.max_send_delay_us);
    }
    out
}

fn merge_lag<'a>(parts: impl Iterator<Item = &'a LagReport>) -> LagReport {
    let mut out: Option<LagReport> = None;
    for p in parts {
        match &mut out {
            None => out = Some(p.clone()),
            Some(o) => {
                o.max = o.max.max(p.max);
                for (group, max) in &p.max_by_group {
                    let m = o.max_by_group.entry(group.clone()).or_insert(0);
                    *m = (*m).max(*max);
                }
                // A group only another shard sampled keeps that shard's points.
                for (group, points) in &p.timeline {
                    o.timeline
                        .entry(group.clone())
                        .or_insert_with(|| points.clone());
                }
            }
        }
    }
    out.unwrap_or_default()
}

fn merge_counters(shards: &[Analysis]) -> BTreeMap<String, Vec<CounterPoint>> {
    let mut out: BTreeMap<String, BTreeMap<u64, f64>> = BTreeMap::new();
    for (name, points) in shards.iter().flat_map(|a| &a.services_timeline) {
        let series = out.entry(name.clone()).or_default();
        for p in points {
            *series.entry(p.t_s).or_insert(0.0) += p.value;
        }
    }
    out.into_iter()
        .map(|(name, series)| {
            let points = series
                .into_iter()
                .map(|(t_s, value)| CounterPoint { t_s, value })
                .collect();
            (name, points)
        })
        .collect()
}

/// The histogram sum of `parts` (each shard's distribution, `None` where a shard has
/// none of it), with the percentiles read from it as [`stats::Recorder`] reads them.
fn merge_percentiles<'a>(
    what: &str,
    parts: impl Iterator<Item = Option<&'a Percentiles>>,
) -> Result<Percentiles, MergeError> {
    let mut sum: Option<hdrhistogram::Histogram<u64>> = None;
    let mut max: Option<u64> = None;
    // The exact maximum is known only when every part kept its own.
    let mut exact = true;
    for (shard, part) in parts.enumerate() {
        let Some(part) = part.filter(|p| p.count > 0) else {
            continue;
        };
        let Some(text) = &part.histogram else {
            return Err(MergeError::NoHistogram {
                shard,
                what: what.to_owned(),
                count: part.count,
            });
        };
        let h = stats::decode(text).map_err(|source| MergeError::Histogram {
            shard,
            what: what.to_owned(),
            source,
        })?;
        exact &= part.max_us.is_some();
        max = max.max(part.max_us);
        // A decoded histogram has a fixed range; the sum grows to hold every shard's.
        let s = sum.get_or_insert_with(stats::new_histogram::<u64>);
        s.add(&h).map_err(|e| {
            MergeError::Mismatch(format!(
                "shard {shard}'s {what} histogram cannot be added to the others: {e:?}"
            ))
        })?;
    }
    let Some(sum) = sum else {
        return Ok(Percentiles::default());
    };
    Ok(stats::percentiles_of(&sum, max.filter(|_| exact)))
}

fn merge_throughput(shards: &[Analysis]) -> Result<Throughput, MergeError> {
    let mut mean: Option<f64> = None;
    for a in shards {
        if let Some(m) = a.throughput.mean_per_s {
            mean = Some(mean.unwrap_or(0.0) + m);
        }
    }
    let mut seconds: BTreeMap<u64, Vec<&Second>> = BTreeMap::new();
    for a in shards {
        for s in &a.throughput.timeline {
            seconds.entry(s.t_s).or_default().push(s);
        }
    }
    let mut timeline = Vec::with_capacity(seconds.len());
    for (t_s, parts) in seconds {
        let what = format!("second {t_s}");
        let as_percentiles: Vec<Percentiles> = parts
            .iter()
            .map(|s| Percentiles {
                // A second with a p99 completed at least one measured order; its exact
                // maximum was not kept.
                count: u64::from(s.p99_e2e_us.is_some()),
                max_us: None,
                histogram: s.e2e_histogram.clone(),
                ..Percentiles::default()
            })
            .collect();
        let merged = merge_percentiles(&what, as_percentiles.iter().map(Some))?;
        timeline.push(Second {
            t_s,
            attempted: parts.iter().map(|s| s.attempted).sum(),
            acked: parts.iter().map(|s| s.acked).sum(),
            completed: parts.iter().map(|s| s.completed).sum(),
            p99_e2e_us: merged.p99_us,
            p50_e2e_us: merged.p50_us,
            e2e_histogram: merged.histogram,
        });
    }
    Ok(Throughput {
        mean_per_s: mean,
        timeline,
    })
}

/// One fault window of the first shard, with every shard's window of the same id
/// merged into it.
fn merge_window(
    window: &FaultWindowStats,
    shards: &[Analysis],
) -> Result<FaultWindowStats, MergeError> {
    let same: Vec<&FaultWindowStats> = shards
        .iter()
        .filter_map(|a| a.faults.iter().find(|f| f.id == window.id))
        .collect();
    let what = |part: &str| format!("fault {} {part}", window.id);
    let e2e = merge_percentiles(
        &what("end-to-end latency"),
        shards.iter().map(|a| {
            a.faults
                .iter()
                .find(|f| f.id == window.id)
                .map(|f| &f.latency.e2e)
        }),
    )?;
    let mut hops = BTreeMap::new();
    for hop in same.iter().flat_map(|f| f.latency.hops.keys()) {
        if !hops.contains_key(hop) {
            let merged = merge_percentiles(
                &what(&format!("hop {hop}")),
                same.iter().map(|f| f.latency.hops.get(hop)),
            )?;
            hops.insert(hop.clone(), merged);
        }
    }
    // The longest of the shards' times; `None` ("never") when a shard's never came.
    let longest = |pick: fn(&FaultWindowStats) -> Option<u64>| -> Option<u64> {
        same.iter()
            .map(|f| pick(f))
            .try_fold(0u64, |m, v| v.map(|v| m.max(v)))
    };
    Ok(FaultWindowStats {
        orders: same.iter().map(|f| f.orders).sum(),
        anomalies: merge_reports(same.iter().map(|f| &f.anomalies)),
        p99_e2e_us: e2e.p99_us,
        steady_p99_us: same.iter().filter_map(|f| f.steady_p99_us).max(),
        band_us: same.iter().filter_map(|f| f.band_us).max(),
        recovery_us: longest(|f| f.recovery_us),
        // A shard whose lag was never sampled after the window says nothing of drain.
        drain_us: {
            let sampled: Vec<&&FaultWindowStats> =
                same.iter().filter(|f| f.drain_sampled).collect();
            sampled
                .iter()
                .map(|f| f.drain_us)
                .try_fold(0u64, |m, v| v.map(|v| m.max(v)))
                .filter(|_| !sampled.is_empty())
        },
        drain_sampled: same.iter().any(|f| f.drain_sampled),
        latency: Latency { e2e, hops },
        ..window.clone()
    })
}

/// The shard (0 ≤ shard < `count`) that owns `key`: 64-bit FNV-1a of the key's bytes,
/// modulo `count`. Every harness process of a sharded run applies it to order ids (to
/// choose its orders from the schedule) and to the key of every event its tap reads
/// (to keep only its own), so the slices are disjoint, cover every key, and any other
/// tool can compute them.
pub fn shard_of(key: &str, count: u32) -> u32 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let hash = key
        .bytes()
        .fold(OFFSET, |h, b| (h ^ u64::from(b)).wrapping_mul(PRIME));
    (hash % u64::from(count.max(1))) as u32
}

#[cfg(test)]
mod tests;
