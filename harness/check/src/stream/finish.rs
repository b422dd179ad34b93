//! The end of a streamed check: the rules that need the whole run (lost or in flight,
//! unobserved, the ledger, the stock), then every measurement, into one [`Analysis`]
//! equal to the reference checker's.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::ids::EventId;
use super::key::{Unfinished, effect_of, occ};
use super::{CauseSeen, Checker, FirstSeen, FoldMap, Occ};
use crate::analysis::Analysis;
use crate::anomaly::{Anomaly, AnomalyReport};
use crate::attribution::attribute_with;
use crate::detect::AnomalyDetails;
use crate::faults::{Band, FaultWindowStats, drain, recovery, steady_second};
use crate::inflight::{InFlight, TAP_GROUP, last_samples, moved_past_entry, summarize};
use crate::measure::{
    self, Counts, Latency, Phases, SECOND_US, Second, Shortfall, Throughput, second_at, timeline_of,
};
use crate::stats::{Recorder, p99_exact};

/// A scheduled order as the end needs it.
#[derive(Debug, Clone, Copy)]
struct Order {
    intended_us: u64,
    e2e_us: Option<u64>,
    terminal_us: Option<u64>,
}

impl Checker {
    /// Judges the effects whose causes were looked up elsewhere: `found` maps a cause's
    /// id to its first observation's time and type.
    pub(crate) fn resolve_causes(&mut self, found: &HashMap<EventId, FirstSeen>) {
        for orphan in std::mem::take(&mut self.orphans) {
            if let Some((observed_us, produced_us, ty)) = found.get(&orphan.cause) {
                let cause = CauseSeen {
                    observed_us: *observed_us,
                    produced_us: *produced_us,
                    ty: self.types.intern(ty),
                };
                effect_of(
                    self,
                    orphan.key,
                    (orphan.observed_us, orphan.produced_us),
                    orphan.line,
                    orphan.ty,
                    &orphan.id,
                    cause,
                );
            }
        }
    }

    fn phases(&self) -> Phases {
        if let Some(meta) = &self.setup.meta {
            return Phases {
                warmup_end_us: meta.warmup_end_us,
                load_end_us: meta.load_end_us,
                drain_end_us: meta.drain_end_us,
                drain_ended: meta.drain,
                derived: false,
            };
        }
        let load_end_us = self.tally.last_intended.map_or(0, |t| t.saturating_add(1));
        Phases {
            warmup_end_us: 0,
            load_end_us,
            drain_end_us: self.tally.last_observed.unwrap_or(0).max(load_end_us),
            drain_ended: None,
            derived: true,
        }
    }

    /// Settles what is still open and judges the run.
    pub fn finish(mut self) -> Analysis {
        self.settle_all();
        let phases = self.phases();
        let (in_flight_keys, in_flight) = self.in_flight(&phases);
        let mut occs = std::mem::take(&mut self.occs);
        let mut lost_keys = Vec::new();
        // lost and unobserved: acknowledged orders, in intended order.
        for (id, rec) in self.recs.iter().enumerate() {
            let id = id as u32;
            if !rec.is_order() || !rec.acked() || in_flight_keys.contains(&id) {
                continue;
            }
            let name = self.keys.name(id);
            let rank = (rec.intended_us, 0);
            if rec.terminal().is_none() {
                lost_keys.push(id);
                occs.push(occ(Anomaly::Lost, 0, rank, name.into(), Some(id), 1));
            }
            if rec.placed().is_none() {
                occs.push(occ(Anomaly::Unobserved, 1, rank, name.into(), Some(id), 1));
            }
        }
        let mut details = AnomalyDetails::default();
        for (id, rec) in self.recs.iter().enumerate() {
            if rec.charges > 1 {
                let n = u64::from(rec.charges) - 1;
                details.extra_charges += n;
                let order = rec.is_order().then_some(id as u32);
                let name = self.keys.name(id as u32).to_string();
                occs.push(occ(Anomaly::DuplicateEffect, 4, (0, 0), name, order, n));
            }
        }
        for (i, line) in self.small.stock.iter().enumerate() {
            let broken = line.available < 0
                || line.reserved < 0
                || line.available.checked_add(line.reserved) != Some(line.initial);
            if broken {
                let id = format!("{}/{}", line.sku, line.shard);
                occs.push(occ(
                    Anomaly::InvariantViolation,
                    8,
                    (i as u64, 0),
                    id,
                    None,
                    1,
                ));
            }
        }
        occs.sort_by(|a, b| (a.rank, &a.id).cmp(&(b.rank, &b.id)));
        lost_keys.sort_by_key(|&k| (self.recs[k as usize].intended_us, self.keys.name(k)));

        details.tap_rereads = self.tally.reads - self.tally.entries;
        for (ty, n) in &self.tally.by_type {
            *details
                .duplicate_delivery_by_type
                .entry(self.types.get(*ty).name.to_string())
                .or_default() += n;
        }

        let orders = self.orders();
        let throughput = self.throughput(&orders, &phases);
        let lost_attribution = self.attribution(&lost_keys);
        let faults = self.fault_windows(&orders, &phases, &occs, &throughput.timeline);
        let options = &self.setup.options;
        Analysis {
            phases,
            counts: self.counts(&orders, &phases),
            anomalies: report(&occs),
            anomaly_details: details,
            in_flight,
            latency: Latency {
                e2e: e2e(&orders, |o| phases.measured(o.intended_us)),
                hops: hops(&self, &self.hops),
            },
            throughput,
            lag: measure::lag(&self.small, &phases),
            faults,
            shortfall: Shortfall {
                dropped: self.tally.short_dropped,
                late: self.tally.short_late,
                late_after_us: options.late_after_us,
                max_send_delay_us: self.tally.max_send_delay_us,
            },
            services: measure::services(&self.small),
            services_timeline: measure::services_timeline(&self.small),
            lost_attribution,
        }
    }

    /// Scheduled orders in intended order (ties: by id).
    fn orders(&self) -> Vec<(Order, u32)> {
        let mut out: Vec<(Order, u32)> = self
            .recs
            .iter()
            .enumerate()
            .filter(|(_, r)| r.is_order())
            .map(|(id, r)| {
                let terminal_us = r.terminal();
                let order = Order {
                    intended_us: r.intended_us,
                    e2e_us: terminal_us.map(|t| t.saturating_sub(r.intended_us)),
                    terminal_us,
                };
                (order, id as u32)
            })
            .collect();
        out.sort_by(|a, b| {
            (a.0.intended_us, self.keys.name(a.1)).cmp(&(b.0.intended_us, self.keys.name(b.1)))
        });
        out
    }

    /// The in-flight rule of [`crate::inflight`] over the unfinished orders.
    fn in_flight(&self, phases: &Phases) -> (HashSet<u32>, InFlight) {
        let last = last_samples(&self.small, phases.drain_end_us);
        let tap_behind = last
            .get(TAP_GROUP)
            .is_some_and(|s| s.lag > 0 || s.pending.unwrap_or(0) > 0);
        let mut unfinished: Vec<&Unfinished> = self.unfinished.iter().collect();
        unfinished.sort_by_key(|u| (self.recs[u.key as usize].intended_us, self.keys.name(u.key)));
        let mut keys = Vec::new();
        let mut waiting: BTreeMap<&str, u64> = BTreeMap::new();
        for order in unfinished {
            let mut holders: Vec<&str> = Vec::new();
            if tap_behind {
                holders.push(TAP_GROUP);
            }
            for (ty, entry) in &order.leaves {
                let topic = &self.topics.names[entry.topic as usize];
                for group in &self.types.get(*ty).advanced_by {
                    let past = last.get(group).is_none_or(|s| {
                        moved_past_entry(s, topic, entry.partition, entry.pos.key())
                    });
                    if !past && !holders.contains(group) {
                        holders.push(group);
                    }
                }
            }
            if !holders.is_empty() {
                keys.push(order.key);
                for group in holders {
                    *waiting.entry(group).or_default() += 1;
                }
            }
        }
        let sample = keys
            .iter()
            .take(AnomalyReport::SAMPLE)
            .map(|&k| self.keys.name(k).to_string())
            .collect();
        let summary = summarize(keys.len() as u64, sample, waiting, &last);
        (keys.into_iter().collect(), summary)
    }

    fn counts(&self, orders: &[(Order, u32)], phases: &Phases) -> Counts {
        let recs = || orders.iter().map(|(_, k)| &self.recs[*k as usize]);
        let t = &self.tally;
        Counts {
            attempted: orders.len() as u64,
            sent: recs().filter(|r| r.flags & super::SENT != 0).count() as u64,
            acknowledged: recs().filter(|r| r.acked()).count() as u64,
            acknowledged_measured: recs()
                .filter(|r| r.acked() && phases.measured(r.intended_us))
                .count() as u64,
            rejected: t.rejected,
            errors: t.errors,
            dropped: t.dropped,
            late: t.late,
            observed: recs().filter(|r| r.placed().is_some()).count() as u64,
            completed: recs().filter(|r| r.terminal().is_some()).count() as u64,
            events: t.events,
            reads: t.reads,
        }
    }

    fn throughput(&self, orders: &[(Order, u32)], phases: &Phases) -> Throughput {
        let mut seconds: BTreeMap<u64, Second> = BTreeMap::new();
        let mut latencies: HashMap<u64, Vec<u64>> = HashMap::new();
        for (order, _) in orders {
            second_at(&mut seconds, order.intended_us).attempted += 1;
            if let Some(t) = order.terminal_us {
                second_at(&mut seconds, t).completed += 1;
            }
            if let (true, Some(l)) = (phases.measured(order.intended_us), order.e2e_us) {
                latencies
                    .entry(order.intended_us / SECOND_US)
                    .or_default()
                    .push(l);
            }
        }
        for (&t_s, &n) in &self.tally.acked_per_s {
            second_at(&mut seconds, t_s.saturating_mul(SECOND_US)).acked += n;
        }
        let timeline = timeline_of(seconds, latencies);
        let window_us = phases.load_end_us.saturating_sub(phases.warmup_end_us);
        let mean_per_s = (window_us > 0).then(|| {
            let done = orders
                .iter()
                .filter(|(o, _)| phases.measured(o.intended_us))
                .filter_map(|(o, _)| o.terminal_us)
                .filter(|&t| t >= phases.warmup_end_us && t < phases.load_end_us)
                .count();
            done as f64 / (window_us as f64 / SECOND_US as f64)
        });
        Throughput {
            mean_per_s,
            timeline,
        }
    }

    fn attribution(&self, lost: &[u32]) -> crate::LostAttribution {
        let names: Vec<&str> = lost.iter().map(|&k| self.keys.name(k)).collect();
        let wanted: HashSet<u32> = lost.iter().copied().collect();
        let of: HashMap<u32, &Unfinished> = self
            .unfinished
            .iter()
            .filter(|u| wanted.contains(&u.key))
            .map(|u| (u.key, u))
            .collect();
        // Event id → lost order, built only if a dead letter needs it.
        let needs_events = !lost.is_empty()
            && self.small.dead_letters.iter().any(|d| {
                d.input_event_id.is_some()
                    && d.order_id
                        .as_deref()
                        .and_then(|o| self.keys.get(o))
                        .is_none_or(|k| !wanted.contains(&k))
            });
        let order_of_event: HashMap<&EventId, u32> = if needs_events {
            of.values()
                .flat_map(|u| u.events.iter().map(|e| (e, u.key)))
                .collect()
        } else {
            HashMap::new()
        };
        attribute_with(
            &names,
            |id| {
                let key = self.keys.get(id)?;
                let ty = of.get(&key)?.last_step?;
                Some(self.types.get(ty).name.to_string())
            },
            |event| {
                order_of_event
                    .get(&EventId::of(event))
                    .map(|&k| self.keys.name(k).to_string())
            },
            &self.small.dead_letters,
        )
    }

    fn fault_windows(
        &self,
        orders: &[(Order, u32)],
        phases: &Phases,
        occs: &[Occ],
        timeline: &[Second],
    ) -> Vec<FaultWindowStats> {
        let by_second: BTreeMap<u64, &Second> = timeline.iter().map(|s| (s.t_s, s)).collect();
        let band = Band {
            factor: self.setup.options.recovery_factor,
            margin_us: self.setup.options.recovery_margin_us,
        };
        let faults = &self.small.faults;
        faults
            .iter()
            .enumerate()
            .map(|(i, fault)| {
                let inside = |t: u64| t >= fault.start_us && t <= fault.end_us;
                let window: Vec<&Order> = orders
                    .iter()
                    .map(|(o, _)| o)
                    .filter(|o| inside(o.intended_us))
                    .collect();
                let anomalies = report(occs.iter().filter(|o| {
                    o.order
                        .is_some_and(|k| inside(self.recs[k as usize].intended_us))
                }));
                let mut during: Vec<u64> = window
                    .iter()
                    .filter(|o| phases.measured(o.intended_us))
                    .filter_map(|o| o.e2e_us)
                    .collect();
                let mut steady: Vec<u64> = orders
                    .iter()
                    .filter(|(o, _)| {
                        steady_second(phases, faults, fault, o.intended_us / SECOND_US)
                    })
                    .filter_map(|(o, _)| o.e2e_us)
                    .collect();
                let steady_p99_us = p99_exact(&mut steady);
                let band_us = steady_p99_us.map(|s| band.upper(s));
                let recovery_us = band_us.and_then(|b| recovery(fault, phases, &by_second, b));
                let (drain_us, drain_sampled) = drain(&self.small, phases, fault);
                let empty = FoldMap::default();
                let window_hops = self
                    .setup
                    .faults
                    .get(i)
                    .filter(|f| *f == fault)
                    .map_or(&empty, |_| &self.window_hops[i]);
                FaultWindowStats {
                    id: fault.id.clone(),
                    kind: fault.kind,
                    target: fault.target.clone(),
                    start_us: fault.start_us,
                    end_us: fault.end_us,
                    orders: window.len() as u64,
                    anomalies,
                    p99_e2e_us: p99_exact(&mut during),
                    steady_p99_us,
                    band_us,
                    recovery_us,
                    drain_us,
                    drain_sampled,
                    latency: Latency {
                        e2e: e2e(orders, |o| {
                            phases.measured(o.intended_us) && inside(o.intended_us)
                        }),
                        hops: hops(self, window_hops),
                    },
                }
            })
            .collect()
    }
}

fn report<'a>(occs: impl IntoIterator<Item = &'a Occ>) -> AnomalyReport {
    let mut report = AnomalyReport::default();
    for o in occs {
        report.record_many(o.anomaly, o.id.clone(), o.weight);
    }
    report
}

fn e2e(orders: &[(Order, u32)], keep: impl Fn(&Order) -> bool) -> crate::Percentiles {
    let mut recorder = Recorder::new();
    for (o, _) in orders.iter().filter(|(o, _)| keep(o)) {
        if let Some(l) = o.e2e_us {
            recorder.record(l);
        }
    }
    recorder.finish()
}

fn hops(
    c: &Checker,
    recorders: &FoldMap<(u16, u16), Recorder>,
) -> BTreeMap<String, crate::Percentiles> {
    recorders
        .iter()
        .map(|((cause, effect), r)| {
            let name = format!(
                "{}->{}",
                c.types.get(*cause).name,
                c.types.get(*effect).name
            );
            (name, r.finish())
        })
        .collect()
}
