//! **In flight or lost.** When a run's drain ends, an acknowledged order without a
//! terminal event is one of two things: the system has moved past it and will never
//! finish it (*lost*), or it is still queued somewhere (*in flight*: the drain ended
//! before the system caught up). Only the first is an anomaly; the second makes the
//! verdict inconclusive, because the history cannot say how the order would have ended.
//!
//! The rule, for one unfinished acknowledged order, reading each group's last `lag`
//! line at or before the drain's end ([`Phases::drain_end_us`]):
//!
//! 1. **The tap.** If the tap (group `tap`) still had entries to read, the order's
//!    missing events may be among them: in flight.
//! 2. **Its steps.** For each observed step of the order (by-products such as
//!    `NotificationSent` aside), the groups that take an order a step further from it
//!    are the services that consume its type and emit a step
//!    ([`events::EventType::advanced_by`]: a `StockReserved` waits for `payment`, a
//!    `PaymentCaptured` for `order`). Every step counts, not only the last: a service
//!    that has published one output of a step (`ShipmentCreated`) but not yet
//!    acknowledged its input may still publish the next (`OrderShipped`).
//! 3. **Each such group.** It has *moved past* the step when its recorded position in
//!    the step's partition is beyond the step's entry (`positions[].next` greater than
//!    the step's `position`). A sample without positions (older histories) counts as
//!    moved past only with `lag == 0` and nothing pending. A group with no sample at
//!    all is taken as caught up: the history holds no evidence of a backlog.
//! 4. The order is **lost** when the tap had caught up and every such group of every
//!    step has moved past it; otherwise it is **in flight**, and the groups that had
//!    not moved past it are named with their backlog (lag plus pending).
//!
//! An order whose `OrderPlaced` was never observed has no steps: with the tap caught
//! up it is lost (and unobserved); with the tap behind, in flight.
//!
//! Under at-most-once a group acknowledges before it processes, so its position says
//! *delivered*: an entry it took and then dropped is, by that guarantee's own
//! definition, lost.

use std::collections::{BTreeMap, HashMap};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::anomaly::AnomalyReport;
use crate::history::{History, LagSample, Observation};
use crate::index::{Index, Order, is_step};
use crate::measure::Phases;

/// The first entry of one partition that a consumer group (or the tap) has not yet
/// processed: Kafka's committed offset; on Redis the oldest pending entry's id, or,
/// with nothing pending, the id just after the group's last delivered one
/// (`<ms>-<seq+1>`). For the tap, the next entry it will read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupPosition {
    /// Logical topic name (`orders`), as on `observe` lines.
    pub topic: String,
    pub partition: u32,
    pub next: String,
}

/// A log position as a comparable pair: a Kafka offset `17` is `(17, 0)`, a Redis
/// stream id `1700000000000-3` is `(1700000000000, 3)`. `None` for anything else.
pub fn position_key(position: &str) -> Option<(u64, u64)> {
    match position.split_once('-') {
        Some((ms, seq)) => Some((ms.parse().ok()?, seq.parse().ok()?)),
        None => Some((position.parse().ok()?, 0)),
    }
}

/// The group name of the harness's tap on `lag` lines.
pub const TAP_GROUP: &str = "tap";

/// The unfinished orders the system had not moved past when the drain ended.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct InFlight {
    pub count: u64,
    /// The first [`AnomalyReport::SAMPLE`] order ids, in intended order.
    pub sample: Vec<String>,
    /// The groups that held them, most orders first.
    pub groups: Vec<Backlog>,
}

/// One group holding in-flight orders, with its backlog in its last sample.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Backlog {
    pub group: String,
    /// In-flight orders waiting on this group (an order can wait on several).
    pub orders: u64,
    /// Entries not yet read by the group.
    pub lag: u64,
    /// Entries read and not yet acknowledged (Redis only).
    pub pending: u64,
}

impl InFlight {
    /// "N orders in flight, backlog B in group G[, B2 in group G2 ...]" (the groups
    /// with a backlog, most orders first).
    pub fn summary(&self) -> String {
        let orders = if self.count == 1 { "order" } else { "orders" };
        let mut out = format!("{} {orders} in flight", self.count);
        // Groups whose backlog was empty when sampled hold only entries written after
        // the sample; name them only when no group had a backlog.
        let busy: Vec<&Backlog> = self
            .groups
            .iter()
            .filter(|g| g.lag + g.pending > 0)
            .collect();
        let named = if busy.is_empty() {
            self.groups.iter().collect()
        } else {
            busy
        };
        for (i, g) in named.into_iter().enumerate() {
            let backlog = g.lag + g.pending;
            let place = if g.group == TAP_GROUP {
                "the harness's tap".to_string()
            } else {
                format!("group {}", g.group)
            };
            out.push_str(if i == 0 { ", backlog " } else { ", " });
            out.push_str(&format!("{backlog} in {place}"));
        }
        out
    }
}

/// Each group's last sample at or before `end_us`.
pub(crate) fn last_samples(history: &History, end_us: u64) -> HashMap<&str, &LagSample> {
    let mut last: HashMap<&str, &LagSample> = HashMap::new();
    for s in history.lags.iter().filter(|s| s.t_us <= end_us) {
        let slot = last.entry(&s.group).or_insert(s);
        if s.t_us >= slot.t_us {
            *slot = s;
        }
    }
    last
}

/// Whether `sample`'s group has processed `leaf`'s entry.
fn moved_past(sample: &LagSample, leaf: &Observation) -> bool {
    moved_past_entry(
        sample,
        &leaf.topic,
        leaf.partition,
        position_key(&leaf.position),
    )
}

/// Whether `sample`'s group has processed the entry at `entry` (its [`position_key`])
/// of `topic`'s `partition`.
pub(crate) fn moved_past_entry(
    sample: &LagSample,
    topic: &str,
    partition: u32,
    entry: Option<(u64, u64)>,
) -> bool {
    if sample.positions.is_empty() {
        return sample.lag == 0 && sample.pending.unwrap_or(0) == 0;
    }
    let here = sample
        .positions
        .iter()
        .find(|p| p.topic == topic && p.partition == partition);
    match (here, entry) {
        (Some(p), Some(entry)) => position_key(&p.next).is_some_and(|next| next > entry),
        // A partition the group does not report, or a position we cannot compare:
        // no proof that it moved past.
        _ => false,
    }
}

/// The summary of `count` in-flight orders (`sample`: the first ones' ids), given how
/// many wait on each group and each group's last sample.
pub(crate) fn summarize(
    count: u64,
    sample: Vec<String>,
    waiting: BTreeMap<&str, u64>,
    last: &HashMap<&str, &LagSample>,
) -> InFlight {
    let mut groups: Vec<Backlog> = waiting
        .into_iter()
        .map(|(group, orders)| {
            let sample = last.get(group);
            Backlog {
                group: group.to_string(),
                orders,
                lag: sample.map_or(0, |s| s.lag),
                pending: sample.and_then(|s| s.pending).unwrap_or(0),
            }
        })
        .collect();
    groups.sort_by(|a, b| b.orders.cmp(&a.orders).then(a.group.cmp(&b.group)));
    InFlight {
        count,
        sample,
        groups,
    }
}

/// Splits the unfinished acknowledged orders: returns the ids of those in flight (in
/// intended order) and the summary. Every other unfinished order is lost.
pub(crate) fn classify(
    history: &History,
    index: &Index<'_>,
    phases: &Phases,
) -> (Vec<String>, InFlight) {
    let last = last_samples(history, phases.drain_end_us);
    let tap_behind = last
        .get(TAP_GROUP)
        .is_some_and(|s| s.lag > 0 || s.pending.unwrap_or(0) > 0);

    let unfinished: Vec<&Order> = index
        .orders
        .iter()
        .filter(|o| o.acked && o.terminal_us.is_none())
        .collect();
    // The observed steps of each unfinished order (first observations).
    let mut events: HashMap<&str, Vec<&Observation>> = HashMap::new();
    for o in index.firsts.iter().filter(|o| is_step(&o.event_type)) {
        if let Some(order) = index.order(&o.key)
            && order.acked
            && order.terminal_us.is_none()
        {
            events.entry(order.id).or_default().push(o);
        }
    }

    let mut in_flight = Vec::new();
    let mut waiting: BTreeMap<&str, u64> = BTreeMap::new();
    for order in unfinished {
        let mut holders: Vec<&str> = Vec::new();
        if tap_behind {
            holders.push(TAP_GROUP);
        }
        let observed = events.get(order.id).map_or(&[][..], Vec::as_slice);
        for leaf in observed {
            let Ok(event_type) = leaf.event_type.parse::<events::EventType>() else {
                continue;
            };
            for group in event_type.advanced_by() {
                let past = last.get(group).is_none_or(|s| moved_past(s, leaf));
                if !past && !holders.contains(&group) {
                    holders.push(group);
                }
            }
        }
        if !holders.is_empty() {
            in_flight.push(order.id.to_string());
            for group in holders {
                *waiting.entry(group).or_default() += 1;
            }
        }
    }

    let sample = in_flight
        .iter()
        .take(AnomalyReport::SAMPLE)
        .cloned()
        .collect();
    let summary = summarize(in_flight.len() as u64, sample, waiting, &last);
    (in_flight, summary)
}
