//! The orders a run is waiting on, for the drain and the progress line, and each
//! finished order's end-to-end latency as the run goes (for the dashboard).

use std::collections::{HashMap, HashSet, VecDeque};

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
    /// Acknowledged, not finished: the acknowledged send's intended time (run µs).
    waiting: HashMap<String, u64>,
    /// Finished, not (yet) acknowledged: when its terminal event was observed.
    early: HashMap<String, u64>,
    /// The latest finished orders, so that a terminal event read again (or a second
    /// terminal event of one order) is not counted again.
    recent: VecDeque<String>,
    recent_set: HashSet<String>,
}

impl Orders {
    /// How many finished orders are remembered to recognise a repeat.
    pub const RECENT: usize = 1 << 16;

    /// An acknowledgement of a send intended at `intended_us`; the order's end-to-end
    /// latency when its terminal event was already observed.
    pub fn acked(&mut self, order: &str, intended_us: u64) -> Option<u64> {
        self.acked += 1;
        match self.early.remove(order) {
            Some(terminal_us) => Some(terminal_us.saturating_sub(intended_us)),
            None => {
                self.waiting.insert(order.to_string(), intended_us);
                None
            }
        }
    }

    /// A terminal event observed at `observed_us`; the order's end-to-end latency
    /// (observed minus intended) when it was acknowledged and not finished before.
    pub fn finished(&mut self, order: &str, observed_us: u64) -> Option<u64> {
        if self.recent_set.contains(order) {
            return None;
        }
        let mut latency = None;
        if let Some(intended_us) = self.waiting.remove(order) {
            self.completed += 1;
            latency = Some(observed_us.saturating_sub(intended_us));
        } else if !self.early.contains_key(order) {
            self.early.insert(order.to_string(), observed_us);
            self.completed += 1;
        }
        self.recent.push_back(order.to_string());
        self.recent_set.insert(order.to_string());
        if self.recent.len() > Self::RECENT
            && let Some(old) = self.recent.pop_front()
        {
            self.recent_set.remove(&old);
        }
        latency
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
        assert_eq!(orders.acked("o-1", 1_000), None);
        // read by the tap before its acknowledgement was recorded
        assert_eq!(orders.finished("o-2", 9_000), None);
        assert!(!orders.all_finished());
        assert_eq!(orders.acked("o-2", 2_000), Some(7_000));
        assert!(!orders.all_finished());
        assert_eq!(orders.finished("o-1", 5_000), Some(4_000));
        assert_eq!(orders.finished("o-1", 6_000), None); // read again: counted once
        assert!(orders.all_finished());
        assert_eq!((orders.acked, orders.completed), (2, 2));
        assert!(orders.waiting.is_empty() && orders.early.is_empty());
    }

    #[test]
    fn memory_follows_the_orders_in_flight() {
        let mut orders = Orders::default();
        for i in 0..200_000 {
            let id = format!("o-{i}");
            orders.acked(&id, i);
            orders.finished(&id, i + 10);
        }
        assert!(orders.all_finished());
        assert_eq!(orders.completed, 200_000);
        assert!(orders.waiting.is_empty() && orders.early.is_empty());
        assert_eq!(orders.recent.len(), Orders::RECENT);
    }
}
