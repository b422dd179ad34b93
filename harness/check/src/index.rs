//! A read-only index over a [`History`]: orders by id, first observations by event id,
//! observations in observed order. Built once per analysis; every rule and statistic
//! reads from it. Deterministic: ties are broken by the line order of the history.

use std::collections::{BTreeMap, HashMap};

use crate::history::{History, Observation, SendOutcome};

/// The event type lists, each derived from the events catalog (`events::platform`):
/// the order flow's steps (only these take part in `duplicate_effect` and
/// `ordering_violation`), the terminal types, and every known type.
pub use events::{KNOWN_TYPES, STEP_TYPES, TERMINAL_TYPES};

pub fn is_step(event_type: &str) -> bool {
    STEP_TYPES.contains(&event_type)
}

pub fn is_terminal(event_type: &str) -> bool {
    TERMINAL_TYPES.contains(&event_type)
}

/// One order as the load generator saw it (several send lines for one id are merged).
#[derive(Debug, Clone)]
pub struct Order<'h> {
    pub id: &'h str,
    /// The earliest intended time among its send lines.
    pub intended_us: u64,
    /// Any of its sends was acknowledged.
    pub acked: bool,
    /// All of its sends were dropped (never left the generator).
    pub dropped: bool,
    /// First observation of its `OrderPlaced`.
    pub placed_us: Option<u64>,
    /// First observation of any terminal event for it.
    pub terminal_us: Option<u64>,
}

impl Order<'_> {
    /// End-to-end latency: first terminal observation minus the intended send time.
    pub fn e2e_us(&self) -> Option<u64> {
        self.terminal_us.map(|t| t.saturating_sub(self.intended_us))
    }
}

#[derive(Debug)]
pub struct Index<'h> {
    /// Orders in intended order (ties: by id), the order samples are reported in.
    pub orders: Vec<Order<'h>>,
    pub order_by_id: HashMap<&'h str, usize>,
    /// Every observation, stably sorted by `observed_us`.
    pub observed: Vec<&'h Observation>,
    /// The first observation of each event id (earliest `observed_us`, then line order).
    pub first: HashMap<&'h str, &'h Observation>,
    /// First observations only, in observed order: the log as if nothing was read twice.
    pub firsts: Vec<&'h Observation>,
}

impl<'h> Index<'h> {
    /// The index of `history`; orders end at the terminal types of `options`.
    pub fn new(history: &'h History, options: &crate::AnalysisOptions) -> Index<'h> {
        let mut observed: Vec<&Observation> = history.observations.iter().collect();
        observed.sort_by_key(|o| o.observed_us);

        let mut first: HashMap<&str, &Observation> = HashMap::new();
        let mut firsts = Vec::new();
        for o in &observed {
            if !first.contains_key(o.event_id.as_str()) {
                first.insert(&o.event_id, o);
                firsts.push(*o);
            }
        }

        let mut merged: BTreeMap<&str, Order> = BTreeMap::new();
        for send in &history.sends {
            let entry = merged.entry(&send.order_id).or_insert(Order {
                id: &send.order_id,
                intended_us: send.intended_us,
                acked: false,
                dropped: true,
                placed_us: None,
                terminal_us: None,
            });
            entry.intended_us = entry.intended_us.min(send.intended_us);
            entry.acked |= send.outcome == SendOutcome::Acked;
            entry.dropped &= send.outcome == SendOutcome::Dropped;
        }
        for o in &firsts {
            if let Some(order) = merged.get_mut(o.key.as_str()) {
                if o.event_type == "OrderPlaced" && order.placed_us.is_none() {
                    order.placed_us = Some(o.observed_us);
                }
                if options.is_terminal(&o.event_type) && order.terminal_us.is_none() {
                    order.terminal_us = Some(o.observed_us);
                }
            }
        }
        let mut orders: Vec<Order> = merged.into_values().collect();
        orders.sort_by(|a, b| (a.intended_us, a.id).cmp(&(b.intended_us, b.id)));
        let order_by_id = orders.iter().enumerate().map(|(i, o)| (o.id, i)).collect();
        Index {
            orders,
            order_by_id,
            observed,
            first,
            firsts,
        }
    }

    pub fn order(&self, id: &str) -> Option<&Order<'h>> {
        self.order_by_id.get(id).map(|&i| &self.orders[i])
    }
}
