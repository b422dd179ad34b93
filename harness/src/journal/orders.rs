//! The orders a run is waiting on, for the drain and the progress line.

use std::collections::{HashSet, VecDeque};

/// Which orders are acknowledged and which have finished (a terminal event observed),
/// in memory that follows the orders in flight: an order is held from its
/// acknowledgement to its terminal event (or the other way round, when the tap reads
/// the terminal event before the acknowledgement is recorded), then only its count.
#[derive(Debug, Default)]
pub struct Orders {
    /// Acknowledgements recorded.
    pub acked: usize,
    /// Orders with a terminal event observed (each counted once, as long as a repeat
    /// comes within the last [`Orders::RECENT`] finished orders).
    pub completed: usize,
    /// Acknowledged, not finished.
    waiting: HashSet<String>,
    /// Finished, not (yet) acknowledged.
    early: HashSet<String>,
    /// The latest finished orders, so that a terminal event read again (or a second
    /// terminal event of one order) is not counted again.
    recent: VecDeque<String>,
    recent_set: HashSet<String>,
}

impl Orders {
    /// How many finished orders are remembered to recognise a repeat.
    pub const RECENT: usize = 1 << 16;

    pub fn acked(&mut self, order: &str) {
        self.acked += 1;
        if !self.early.remove(order) {
            self.waiting.insert(order.to_string());
        }
    }

    pub fn finished(&mut self, order: &str) {
        if self.recent_set.contains(order) {
            return;
        }
        if self.waiting.remove(order) || self.early.insert(order.to_string()) {
            self.completed += 1;
        }
        self.recent.push_back(order.to_string());
        self.recent_set.insert(order.to_string());
        if self.recent.len() > Self::RECENT
            && let Some(old) = self.recent.pop_front()
        {
            self.recent_set.remove(&old);
        }
    }

    /// Every acknowledged order has finished.
    pub fn all_finished(&self) -> bool {
        self.waiting.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_drain_waits_for_every_acknowledged_order_whichever_comes_first() {
        let mut orders = Orders::default();
        orders.acked("o-1");
        orders.finished("o-2"); // read by the tap before its acknowledgement was recorded
        assert!(!orders.all_finished());
        orders.acked("o-2");
        assert!(!orders.all_finished());
        orders.finished("o-1");
        orders.finished("o-1"); // read again: counted once
        assert!(orders.all_finished());
        assert_eq!((orders.acked, orders.completed), (2, 2));
        assert!(orders.waiting.is_empty() && orders.early.is_empty());
    }

    #[test]
    fn memory_follows_the_orders_in_flight() {
        let mut orders = Orders::default();
        for i in 0..200_000 {
            let id = format!("o-{i}");
            orders.acked(&id);
            orders.finished(&id);
        }
        assert!(orders.all_finished());
        assert_eq!(orders.completed, 200_000);
        assert!(orders.waiting.is_empty() && orders.early.is_empty());
        assert_eq!(orders.recent.len(), Orders::RECENT);
    }
}
