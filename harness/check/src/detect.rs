//! The rules that find anomalies. Each rule's exact counting is documented here, since a
//! count is only useful if a person knows what one unit of it is.
//!
//! - **lost**: one per order that has an `acked` send line and no first observation of
//!   a terminal event (`OrderShipped`, `OrderCancelled`, or the types
//!   [`AnalysisOptions::terminal_types`](crate::AnalysisOptions::terminal_types) names) with that order id as key,
//!   and that is not in flight: the system had moved past it when the drain ended
//!   (the rule is in [`crate::inflight`]). Sample: order ids.
//! - **unobserved**: one per acknowledged order, not in flight, whose `OrderPlaced`
//!   was never observed.
//!   An order can be both lost and unobserved (nothing of it arrived) or only
//!   unobserved (the tap missed the entry, the rest of the flow arrived). Sample: order
//!   ids.
//! - **duplicate_delivery**: per event id, the number of *distinct log entries*
//!   (`topic`, `partition`, `position`) carrying it, minus one; so an id written three
//!   times counts 2. Re-reads of one entry by the tap (same position) are not counted:
//!   they are a property of the tap, not of the system ([`AnomalyDetails::tap_rereads`]).
//!   Sample: each duplicated event id once. All event types count.
//! - **duplicate_effect**: per (order, step type), the number of distinct event ids
//!   minus one (only the [`STEP_TYPES`](crate::index::STEP_TYPES)); plus, per order, gateway charges minus one.
//!   Sample: the extra event ids (the later-observed ones), and the order id for charges.
//! - **ordering_violation**, over first observations of step events only (a re-read or
//!   redelivered copy of an event is a duplicate, not a reordering):
//!   - seq rule: per (key, topic, partition), in observed order, one per event whose
//!     `seq` is lower than the highest `seq` already observed there;
//!   - cause rule: one per event that came strictly more than
//!     [`AnalysisOptions::causality_slack_us`] before its cause, when it and its cause
//!     are step events and both were observed ([`before_its_cause`]): by the times
//!     their producers stamped them (`produced_us`) when both lines carry one, else by
//!     when they were first observed. A never-observed cause is not an ordering
//!     violation. (The tap reads every topic on its own: once it falls behind on one,
//!     it observes effects before causes the system produced in order, so observation
//!     times prove a reversal only when nothing better is recorded.)
//!
//!   Sample: the out-of-order event ids.
//! - **phantom**: one per distinct `OrderPlaced` event id whose key no send line
//!   names (acked or not). Sample: event ids.
//! - **invariant_violation**: one per stock line with `available < 0`, `reserved < 0` or
//!   `available + reserved != initial` (sample `sku/shard`); one per order observed both
//!   `OrderConfirmed` and `OrderCancelled` (sample: order id).
//!
//! [`AnalysisOptions::causality_slack_us`]: crate::AnalysisOptions::causality_slack_us

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::anomaly::{Anomaly, AnomalyReport};
use crate::history::History;
use crate::index::{Index, is_step};
use crate::inflight::{self, InFlight};
use crate::measure::Phases;

/// Breakdowns behind some counts, for the verdict and for a person reading the report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct AnomalyDetails {
    /// `duplicate_delivery` split by event type. Exactly-once judges the processing
    /// services by everything except `OrderPlaced`, which the ingress writes.
    pub duplicate_delivery_by_type: BTreeMap<String, u64>,
    /// Extra charges at the gateway (included in `duplicate_effect`).
    pub extra_charges: u64,
    /// Times the tap read one log entry again (same topic, partition and position):
    /// not an anomaly of the system, reported so a noisy tap is visible.
    pub tap_rereads: u64,
}

impl AnomalyDetails {
    /// Duplicate deliveries of events written by the processing services (all types
    /// but `OrderPlaced`).
    pub fn processing_duplicate_deliveries(&self) -> u64 {
        self.duplicate_delivery_by_type
            .iter()
            .filter(|(t, _)| t.as_str() != "OrderPlaced")
            .map(|(_, n)| n)
            .sum()
    }
}

/// One finding before aggregation: kept per order so fault windows can select theirs.
#[derive(Debug, Clone)]
pub(crate) struct Occurrence {
    pub anomaly: Anomaly,
    /// The id put in the sample.
    pub id: String,
    /// The order it belongs to, when it belongs to a scheduled order.
    pub order: Option<String>,
    /// How many units it counts for.
    pub weight: u64,
}

impl Occurrence {
    fn new(anomaly: Anomaly, id: &str, order: Option<&str>, weight: u64) -> Occurrence {
        Occurrence {
            anomaly,
            id: id.to_string(),
            order: order.map(str::to_string),
            weight,
        }
    }
}

/// Aggregates occurrences into a report (counts and samples, in occurrence order).
pub(crate) fn report<'a>(occurrences: impl IntoIterator<Item = &'a Occurrence>) -> AnomalyReport {
    let mut report = AnomalyReport::default();
    for o in occurrences {
        report.record_many(o.anomaly, o.id.clone(), o.weight);
    }
    report
}

/// The cause rule: whether an effect came more than `slack_us` before its cause, each
/// given as (first observed, produced): by the producer's times when both are known,
/// else by the observation times.
pub(crate) fn before_its_cause(
    effect: (u64, Option<u64>),
    cause: (u64, Option<u64>),
    slack_us: u64,
) -> bool {
    let (effect_at, cause_at) = match (effect.1, cause.1) {
        (Some(e), Some(c)) => (e, c),
        _ => (effect.0, cause.0),
    };
    effect_at.saturating_add(slack_us) < cause_at
}

/// Runs every rule. Occurrences come out grouped by anomaly, each group in a
/// deterministic order (orders by intended time, events by observed time).
pub(crate) fn detect(
    history: &History,
    index: &Index<'_>,
    phases: &Phases,
    causality_slack_us: u64,
) -> (Vec<Occurrence>, AnomalyDetails, InFlight) {
    let mut out = Vec::new();
    let mut details = AnomalyDetails::default();
    let known = |key: &str| index.order(key).map(|o| o.id);

    // lost and unobserved (in-flight orders are neither)
    let (in_flight, in_flight_summary) = inflight::classify(history, index, phases);
    let in_flight: HashSet<&str> = in_flight.iter().map(String::as_str).collect();
    for order in index.orders.iter().filter(|o| o.acked) {
        if order.terminal_us.is_none() && !in_flight.contains(order.id) {
            out.push(Occurrence::new(Anomaly::Lost, order.id, Some(order.id), 1));
        }
    }
    for order in index.orders.iter().filter(|o| o.acked) {
        if order.placed_us.is_none() && !in_flight.contains(order.id) {
            out.push(Occurrence::new(
                Anomaly::Unobserved,
                order.id,
                Some(order.id),
                1,
            ));
        }
    }

    // duplicate_delivery
    let mut entries: HashMap<&str, BTreeSet<(&str, u32, &str)>> = HashMap::new();
    let mut reads = 0u64;
    for o in &index.observed {
        reads += 1;
        entries
            .entry(&o.event_id)
            .or_default()
            .insert((&o.topic, o.partition, &o.position));
    }
    let distinct: u64 = entries.values().map(|s| s.len() as u64).sum();
    details.tap_rereads = reads - distinct;
    for first in &index.firsts {
        let extra = entries[first.event_id.as_str()].len() as u64 - 1;
        if extra > 0 {
            *details
                .duplicate_delivery_by_type
                .entry(first.event_type.clone())
                .or_default() += extra;
            out.push(Occurrence::new(
                Anomaly::DuplicateDelivery,
                &first.event_id,
                known(&first.key),
                extra,
            ));
        }
    }

    // duplicate_effect: same step for one order under a second event id
    let mut steps: HashMap<(&str, &str), u32> = HashMap::new();
    for o in index.firsts.iter().filter(|o| is_step(&o.event_type)) {
        let seen = steps.entry((&o.key, &o.event_type)).or_default();
        *seen += 1;
        if *seen > 1 {
            out.push(Occurrence::new(
                Anomaly::DuplicateEffect,
                &o.event_id,
                known(&o.key),
                1,
            ));
        }
    }
    let mut charges: BTreeMap<&str, u64> = BTreeMap::new();
    for charge in &history.charges {
        *charges.entry(&charge.order_id).or_default() += 1;
    }
    for (order, n) in charges.into_iter().filter(|(_, n)| *n > 1) {
        details.extra_charges += n - 1;
        out.push(Occurrence::new(
            Anomaly::DuplicateEffect,
            order,
            known(order),
            n - 1,
        ));
    }

    // ordering_violation: the seq rule, then the cause rule
    let mut highest: HashMap<(&str, &str, u32), u64> = HashMap::new();
    for o in index.firsts.iter().filter(|o| is_step(&o.event_type)) {
        let top = highest.entry((&o.key, &o.topic, o.partition)).or_insert(0);
        if o.seq < *top {
            out.push(Occurrence::new(
                Anomaly::OrderingViolation,
                &o.event_id,
                known(&o.key),
                1,
            ));
        }
        *top = (*top).max(o.seq);
    }
    for o in index.firsts.iter().filter(|o| is_step(&o.event_type)) {
        let Some(cause) = o.causation_id.as_deref().and_then(|c| index.first.get(c)) else {
            continue;
        };
        if is_step(&cause.event_type)
            && before_its_cause(
                (o.observed_us, o.produced_us),
                (cause.observed_us, cause.produced_us),
                causality_slack_us,
            )
        {
            out.push(Occurrence::new(
                Anomaly::OrderingViolation,
                &o.event_id,
                known(&o.key),
                1,
            ));
        }
    }

    // phantom
    for o in index
        .firsts
        .iter()
        .filter(|o| o.event_type == "OrderPlaced")
    {
        if index.order(&o.key).is_none() {
            out.push(Occurrence::new(Anomaly::Phantom, &o.event_id, None, 1));
        }
    }

    // invariant_violation: stock lines, then orders both confirmed and cancelled
    for line in &history.stock {
        let broken = line.available < 0
            || line.reserved < 0
            || line.available.checked_add(line.reserved) != Some(line.initial);
        if broken {
            let id = format!("{}/{}", line.sku, line.shard);
            out.push(Occurrence::new(Anomaly::InvariantViolation, &id, None, 1));
        }
    }
    let mut outcome: BTreeMap<&str, (bool, bool, u64)> = BTreeMap::new();
    for o in &index.firsts {
        let confirmed = o.event_type == "OrderConfirmed";
        if confirmed || o.event_type == "OrderCancelled" {
            let entry = outcome
                .entry(&o.key)
                .or_insert((false, false, o.observed_us));
            entry.0 |= confirmed;
            entry.1 |= !confirmed;
            entry.2 = o.observed_us;
        }
    }
    let mut both: Vec<(u64, &str)> = outcome
        .into_iter()
        .filter(|(_, (c, x, _))| *c && *x)
        .map(|(key, (_, _, at))| (at, key))
        .collect();
    both.sort();
    for (_, key) in both {
        out.push(Occurrence::new(
            Anomaly::InvariantViolation,
            key,
            known(key),
            1,
        ));
    }

    (out, details, in_flight_summary)
}
