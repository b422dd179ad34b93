//! Where lost orders went: for each order counted `lost`, the last step of the flow the
//! tap observed for it, and the dead letter that holds it if a service gave it up.
//! Dead letters of anything else (poison messages, foreign or duplicate inputs of an
//! order that finished) are counted apart: they are not losses.
//!
//! ```text
//! lost 35 — 35 dead-lettered by order (too_many_attempts, e.g. "failed 8 times; last: order o-7 not in the read model yet")
//! ```

use std::collections::{BTreeMap, HashMap, HashSet};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::history::{DeadLetterRecord, History};
use crate::index::is_step;

/// One lost order, attributed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LostOrder {
    pub order_id: String,
    /// The last step of the flow observed for it (`PaymentCaptured`); `None` when the
    /// tap saw nothing of it (see `unobserved`).
    #[serde(default)]
    pub last_step: Option<String>,
    /// The dead letter holding it, if a service gave it up (the latest if several).
    #[serde(default)]
    pub dead_letter: Option<DeadLetterRecord>,
}

/// Lost orders grouped by the dead letter that holds them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DeadLetterGroup {
    pub service: String,
    pub reason_kind: String,
    /// Lost orders in this group.
    pub orders: u64,
    /// One of the group's reasons, as the service wrote it.
    pub example_reason: String,
}

/// What the checker knows of where the lost orders went, and of every dead letter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct LostAttribution {
    /// Every lost order (in the order `lost` counts them) with its last step and
    /// dead letter.
    pub orders: Vec<LostOrder>,
    /// Lost orders held by a dead letter, by service and reason kind (most first).
    pub dead_lettered: Vec<DeadLetterGroup>,
    /// Lost orders with a last step but no dead letter, by that step (`PaymentCaptured`
    /// → 3): where the flow stopped.
    pub stopped_after: BTreeMap<String, u64>,
    /// Every dead letter the tap read.
    pub dead_letters_total: u64,
    /// Dead letters of no lost order: poison, foreign messages, or an input of an
    /// order that finished anyway. Not losses.
    pub dead_letters_not_lost: u64,
}

impl LostAttribution {
    /// Lost orders a dead letter holds.
    pub fn dead_lettered_count(&self) -> u64 {
        self.dead_lettered.iter().map(|g| g.orders).sum()
    }

    /// One line for summaries, e.g. `lost 35 — 35 dead-lettered by order
    /// (too_many_attempts, e.g. "...")`; `None` when nothing was lost.
    pub fn sentence(&self) -> Option<String> {
        let lost = self.orders.len();
        if lost == 0 {
            return None;
        }
        let mut parts: Vec<String> = self
            .dead_lettered
            .iter()
            .map(|g| {
                format!(
                    "{} dead-lettered by {} ({}, e.g. \"{}\")",
                    g.orders, g.service, g.reason_kind, g.example_reason
                )
            })
            .collect();
        let mut stopped: Vec<(&String, &u64)> = self.stopped_after.iter().collect();
        stopped.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        parts.extend(
            stopped
                .into_iter()
                .map(|(step, n)| format!("{n} stopped after {step} (no dead letter)")),
        );
        let unseen = self
            .orders
            .iter()
            .filter(|o| o.last_step.is_none() && o.dead_letter.is_none())
            .count();
        if unseen > 0 {
            parts.push(format!("{unseen} never observed"));
        }
        Some(format!("lost {lost} — {}", parts.join("; ")))
    }
}

/// Attributes `lost` (order ids, in the order they were counted) from `history`. Pure.
pub fn attribute(history: &History, lost: &[&str]) -> LostAttribution {
    let wanted: HashSet<&str> = lost.iter().copied().collect();
    // Last observed step per lost order: highest seq, then latest observation.
    let mut last: HashMap<&str, (u64, u64, &str)> = HashMap::new();
    // Event id → order, for dead letters without a readable key.
    let mut order_of_event: HashMap<&str, &str> = HashMap::new();
    for o in &history.observations {
        if !wanted.contains(o.key.as_str()) {
            continue;
        }
        order_of_event.insert(o.event_id.as_str(), o.key.as_str());
        if !is_step(&o.event_type) {
            continue;
        }
        let rank = (o.seq, o.observed_us);
        let slot =
            last.entry(o.key.as_str())
                .or_insert((o.seq, o.observed_us, o.event_type.as_str()));
        if rank >= (slot.0, slot.1) {
            *slot = (o.seq, o.observed_us, o.event_type.as_str());
        }
    }
    attribute_with(
        lost,
        |id| last.get(id).map(|(_, _, t)| (*t).to_string()),
        |event| order_of_event.get(event).map(|o| (*o).to_string()),
        &history.dead_letters,
    )
}

/// [`attribute`] from what is known of the lost orders: each one's last observed step,
/// the lost order an event id belongs to, and the dead letters.
pub(crate) fn attribute_with(
    lost: &[&str],
    last_step: impl Fn(&str) -> Option<String>,
    order_of_event: impl Fn(&str) -> Option<String>,
    dead_letters: &[DeadLetterRecord],
) -> LostAttribution {
    let wanted: HashSet<&str> = lost.iter().copied().collect();
    // The latest dead letter per lost order.
    let mut held: HashMap<String, &DeadLetterRecord> = HashMap::new();
    let mut not_lost = 0;
    for d in dead_letters {
        let order = d
            .order_id
            .as_deref()
            .filter(|id| wanted.contains(id))
            .map(str::to_string)
            .or_else(|| d.input_event_id.as_deref().and_then(&order_of_event));
        match order {
            Some(order) => {
                let slot = held.entry(order).or_insert(d);
                if d.observed_us >= slot.observed_us {
                    *slot = d;
                }
            }
            None => not_lost += 1,
        }
    }
    let orders: Vec<LostOrder> = lost
        .iter()
        .map(|id| LostOrder {
            order_id: (*id).to_string(),
            last_step: last_step(id),
            dead_letter: held.get(*id).map(|d| (*d).clone()),
        })
        .collect();
    let mut groups: BTreeMap<(String, String), DeadLetterGroup> = BTreeMap::new();
    let mut stopped_after = BTreeMap::new();
    for o in &orders {
        match (&o.dead_letter, &o.last_step) {
            (Some(d), _) => {
                groups
                    .entry((d.service.clone(), d.reason_kind.clone()))
                    .or_insert_with(|| DeadLetterGroup {
                        service: d.service.clone(),
                        reason_kind: d.reason_kind.clone(),
                        orders: 0,
                        example_reason: d.reason.clone(),
                    })
                    .orders += 1;
            }
            (None, Some(step)) => *stopped_after.entry(step.clone()).or_insert(0) += 1,
            (None, None) => {}
        }
    }
    let mut dead_lettered: Vec<DeadLetterGroup> = groups.into_values().collect();
    dead_lettered.sort_by_key(|g| std::cmp::Reverse(g.orders));
    LostAttribution {
        orders,
        dead_lettered,
        stopped_after,
        dead_letters_total: dead_letters.len() as u64,
        dead_letters_not_lost: not_lost,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Observation, SendOutcome, SendRecord};
    use crate::{AnalysisOptions, Anomaly, analyze};

    fn send(id: &str, t: u64) -> SendRecord {
        SendRecord {
            order_id: id.into(),
            intended_us: t,
            sent_us: Some(t),
            acked_us: Some(t + 1),
            outcome: SendOutcome::Acked,
            error: None,
        }
    }

    fn observe(id: &str, order: &str, event_type: &str, seq: u64, t: u64) -> Observation {
        Observation {
            event_id: id.into(),
            event_type: event_type.into(),
            key: order.into(),
            seq,
            causation_id: None,
            produced_us: None,
            observed_us: t,
            topic: "orders".into(),
            partition: 0,
            position: format!("{t}-0"),
        }
    }

    fn letter(
        order: Option<&str>,
        input: Option<&str>,
        kind: &str,
        reason: &str,
        t: u64,
    ) -> DeadLetterRecord {
        DeadLetterRecord {
            order_id: order.map(str::to_string),
            service: "order".into(),
            reason_kind: kind.into(),
            reason: reason.into(),
            attempts: 8,
            input_event_id: input.map(str::to_string),
            input_topic: "payments".into(),
            observed_us: t,
        }
    }

    /// o-1 completes; o-2 is dead-lettered by the order service after PaymentCaptured;
    /// o-3 stops after StockReserved with no dead letter; o-4 is never observed; a
    /// poison message is dead-lettered by inventory (no order).
    fn planted() -> History {
        let mut h = History::default();
        for (i, id) in ["o-1", "o-2", "o-3", "o-4"].iter().enumerate() {
            h.sends.push(send(id, i as u64 * 10));
        }
        let flow = [
            ("OrderPlaced", 1),
            ("StockReserved", 2),
            ("PaymentCaptured", 3),
            ("OrderConfirmed", 4),
            ("OrderShipped", 5),
        ];
        for (t, seq) in flow {
            h.observations
                .push(observe(&format!("a{seq}"), "o-1", t, seq, 100 + seq));
        }
        for (t, seq) in &flow[..3] {
            h.observations
                .push(observe(&format!("b{seq}"), "o-2", t, *seq, 200 + seq));
        }
        for (t, seq) in &flow[..2] {
            h.observations
                .push(observe(&format!("c{seq}"), "o-3", t, *seq, 300 + seq));
        }
        // Only the input event id names o-2's dead letter.
        h.dead_letters.push(letter(
            None,
            Some("b3"),
            "too_many_attempts",
            "failed 8 times; last: order o-2 not in the read model yet",
            400,
        ));
        let mut poison = letter(None, None, "undecodable", "undecodable envelope", 410);
        poison.service = "inventory".into();
        poison.input_topic = "orders".into();
        h.dead_letters.push(poison);
        h
    }

    #[test]
    fn lost_orders_name_their_last_step_and_dead_letter() {
        let h = planted();
        let analysis = analyze(&h, &AnalysisOptions::default());
        assert_eq!(analysis.anomalies.count(Anomaly::Lost), 3);
        let a = &analysis.lost_attribution;
        let by_id: HashMap<&str, &LostOrder> =
            a.orders.iter().map(|o| (o.order_id.as_str(), o)).collect();
        assert_eq!(by_id["o-2"].last_step.as_deref(), Some("PaymentCaptured"));
        let held = by_id["o-2"]
            .dead_letter
            .as_ref()
            .expect("o-2's dead letter");
        assert_eq!((held.service.as_str(), held.attempts), ("order", 8));
        assert_eq!(by_id["o-3"].last_step.as_deref(), Some("StockReserved"));
        assert!(by_id["o-3"].dead_letter.is_none());
        assert_eq!(by_id["o-4"].last_step, None);
        assert_eq!(a.dead_lettered_count(), 1);
        assert_eq!((a.dead_letters_total, a.dead_letters_not_lost), (2, 1));
        assert_eq!(
            a.sentence().as_deref(),
            Some(
                "lost 3 — 1 dead-lettered by order (too_many_attempts, e.g. \"failed 8 times; last: order o-2 not in the read model yet\"); 1 stopped after StockReserved (no dead letter); 1 never observed"
            )
        );
    }

    #[test]
    fn a_dead_lettered_poison_message_is_not_a_loss() {
        let mut h = planted();
        h.sends.truncate(1);
        h.dead_letters.remove(0);
        let analysis = analyze(&h, &AnalysisOptions::default());
        assert_eq!(analysis.anomalies.count(Anomaly::Lost), 0);
        let a = &analysis.lost_attribution;
        assert_eq!(a.sentence(), None);
        assert_eq!((a.dead_letters_total, a.dead_letters_not_lost), (1, 1));
    }

    #[test]
    fn the_latest_dead_letter_of_an_order_holds_it_and_groups_are_counted() {
        let mut h = History::default();
        for i in 0..3 {
            h.sends.push(send(&format!("o-{i}"), i));
        }
        h.dead_letters
            .push(letter(Some("o-0"), None, "too_many_attempts", "first", 10));
        h.dead_letters
            .push(letter(Some("o-0"), None, "state_timeout", "waited", 20));
        h.dead_letters.push(letter(
            Some("o-1"),
            None,
            "state_timeout",
            "waited 30 s",
            30,
        ));
        let a = attribute(&h, &["o-0", "o-1", "o-2"]);
        assert_eq!(
            a.orders[0].dead_letter.as_ref().map(|d| d.reason.as_str()),
            Some("waited")
        );
        assert_eq!(a.dead_lettered.len(), 1);
        assert_eq!(a.dead_lettered[0].orders, 2);
        assert_eq!(a.dead_lettered[0].reason_kind, "state_timeout");
        assert_eq!(a.dead_letters_not_lost, 0);
        assert_eq!(a.stopped_after, BTreeMap::new());
    }
}
