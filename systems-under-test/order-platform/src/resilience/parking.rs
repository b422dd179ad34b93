//! Waiting for state that has not arrived yet, per lane, without holding other lanes.
//!
//! An input whose decision needs state the service has not consumed yet (a read model
//! behind its log: "order not in the order's state yet") is not failing: it is early.
//! It is *parked* at the head of its lane (the order key on Redis, the topic-partition on
//! Kafka, whose committed offset is a watermark), later inputs of that lane queue behind
//! it so the lane keeps its order, and every other lane goes on. The head is tried again
//! every `recheck`; once `wait_for` has passed since it was first parked it has waited
//! long enough, and the caller dead-letters it with a reason of its own.
//!
//! Pure: times come in as [`Instant`]s, nothing here sleeps or reads a clock. Items are
//! identified by an id (topic, partition and position), so a copy of a parked input
//! delivered again (a Redis pending entry re-read or claimed, a Kafka seek back) is
//! recognised and left to the parked one.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

/// One lane's parked inputs: the head waits, the rest queue behind it in arrival order.
#[derive(Debug)]
struct Lane<T> {
    /// When the current head was first parked: the wait bound counts from here.
    since: Instant,
    /// When the head is to be tried next.
    next: Instant,
    items: VecDeque<(String, T)>,
}

/// Parked inputs by lane (see the module documentation).
#[derive(Debug)]
pub struct Parking<T> {
    wait_for: Duration,
    recheck: Duration,
    /// Most inputs parked at once; past it the caller stops taking new inputs.
    limit: usize,
    lanes: HashMap<String, Lane<T>>,
    ids: HashSet<String>,
}

impl<T> Parking<T> {
    /// Heads wait at most `wait_for`, tried every `recheck`; at most `limit` inputs parked.
    pub fn new(wait_for: Duration, recheck: Duration, limit: usize) -> Self {
        Parking {
            wait_for,
            recheck,
            limit: limit.max(1),
            lanes: HashMap::new(),
            ids: HashSet::new(),
        }
    }

    /// Whether the input `id` is parked (a redelivered copy of it is to be dropped).
    pub fn contains(&self, id: &str) -> bool {
        self.ids.contains(id)
    }

    /// Whether `lane` has a parked head (a new input of it queues behind).
    pub fn holds(&self, lane: &str) -> bool {
        self.lanes.contains_key(lane)
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Whether the limit is reached: take no new inputs until some leave.
    pub fn is_full(&self) -> bool {
        self.ids.len() >= self.limit
    }

    /// Parks `item`: as the head of a new lane if `lane` holds nothing (it was found
    /// early at `now`), else behind the lane's parked inputs. An id already parked is
    /// ignored.
    pub fn park(&mut self, lane: &str, id: String, item: T, now: Instant) {
        if !self.ids.insert(id.clone()) {
            return;
        }
        self.lanes
            .entry(lane.to_string())
            .or_insert_with(|| Lane {
                since: now,
                next: now + self.recheck,
                items: VecDeque::new(),
            })
            .items
            .push_back((id, item));
    }

    /// Lanes whose head is due to be tried at `now`, soonest first.
    pub fn due(&self, now: Instant) -> Vec<String> {
        let mut due: Vec<(&Instant, &String)> = self
            .lanes
            .iter()
            .filter(|(_, lane)| lane.next <= now)
            .map(|(name, lane)| (&lane.next, name))
            .collect();
        due.sort();
        due.into_iter().map(|(_, name)| name.clone()).collect()
    }

    /// When the next head is due, if anything is parked.
    pub fn next_due(&self) -> Option<Instant> {
        self.lanes.values().map(|lane| lane.next).min()
    }

    /// The head of `lane`.
    pub fn head(&self, lane: &str) -> Option<&T> {
        self.lanes.get(lane)?.items.front().map(|(_, item)| item)
    }

    /// How long the head of `lane` has waited at `now`.
    pub fn waited(&self, lane: &str, now: Instant) -> Duration {
        self.lanes
            .get(lane)
            .map_or(Duration::ZERO, |l| now.saturating_duration_since(l.since))
    }

    /// Whether the head of `lane` has waited its bound at `now`.
    pub fn expired(&self, lane: &str, now: Instant) -> bool {
        self.lanes.contains_key(lane) && self.waited(lane, now) >= self.wait_for
    }

    /// The head is still early: try it again after `recheck`.
    pub fn recheck(&mut self, lane: &str, now: Instant) {
        let recheck = self.recheck;
        self.retry_at(lane, now + recheck);
    }

    /// The head failed for another reason (it will be retried with backoff): try it
    /// again at `at`, keeping its place and its wait.
    pub fn retry_at(&mut self, lane: &str, at: Instant) {
        if let Some(l) = self.lanes.get_mut(lane) {
            l.next = at;
        }
    }

    /// Takes the head of `lane` out (it was decided, or dead-lettered). The next input
    /// of the lane, if any, becomes the head: due at once, its wait counting from `now`.
    pub fn pop(&mut self, lane: &str, now: Instant) -> Option<T> {
        let l = self.lanes.get_mut(lane)?;
        let (id, item) = l.items.pop_front()?;
        self.ids.remove(&id);
        if l.items.is_empty() {
            self.lanes.remove(lane);
        } else {
            l.since = now;
            l.next = now;
        }
        Some(item)
    }

    /// Takes out every parked input (to give them back to the bus), lanes in no order,
    /// each lane in its order.
    pub fn drain(&mut self) -> Vec<T> {
        self.ids.clear();
        self.lanes
            .drain()
            .flat_map(|(_, lane)| lane.items.into_iter().map(|(_, item)| item))
            .collect()
    }

    /// Takes out the lanes whose head `keep` rejects (e.g. of a partition this member
    /// no longer holds), returning their inputs.
    pub fn release_unless(&mut self, mut keep: impl FnMut(&T) -> bool) -> Vec<T> {
        let gone: Vec<String> = self
            .lanes
            .iter()
            .filter(|(_, lane)| lane.items.front().is_some_and(|(_, item)| !keep(item)))
            .map(|(name, _)| name.clone())
            .collect();
        let mut out = Vec::new();
        for name in gone {
            if let Some(lane) = self.lanes.remove(&name) {
                for (id, item) in lane.items {
                    self.ids.remove(&id);
                    out.push(item);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn parking() -> Parking<&'static str> {
        Parking::new(10 * S, S, 4)
    }

    #[test]
    fn a_lane_keeps_its_order_and_others_are_free() {
        let t0 = Instant::now();
        let mut p = parking();
        p.park("o-1", "payments/0/1".into(), "pay o-1", t0);
        assert!(p.holds("o-1") && !p.holds("o-2"));
        p.park("o-1", "inventory/0/2".into(), "later o-1", t0);
        assert_eq!(p.len(), 2);
        assert!(p.contains("payments/0/1"));
        assert_eq!(p.due(t0), Vec::<String>::new());
        assert_eq!(p.due(t0 + S), vec!["o-1".to_string()]);
        assert_eq!(p.head("o-1"), Some(&"pay o-1"));
        assert_eq!(p.pop("o-1", t0 + 3 * S), Some("pay o-1"));
        // The next one is due at once, and its wait starts now.
        assert_eq!(p.due(t0 + 3 * S), vec!["o-1".to_string()]);
        assert_eq!(p.waited("o-1", t0 + 4 * S), S);
        assert_eq!(p.pop("o-1", t0 + 3 * S), Some("later o-1"));
        assert!(p.is_empty() && !p.holds("o-1") && p.next_due().is_none());
    }

    #[test]
    fn the_wait_is_bounded_and_rechecks_do_not_extend_it() {
        let t0 = Instant::now();
        let mut p = parking();
        p.park("o-1", "a".into(), "x", t0);
        for i in 1..10 {
            assert!(!p.expired("o-1", t0 + i * S));
            p.recheck("o-1", t0 + i * S);
        }
        assert!(p.expired("o-1", t0 + 10 * S));
        assert!(!p.expired("o-2", t0 + 10 * S), "no lane, nothing expired");
    }

    #[test]
    fn copies_are_ignored_and_the_limit_is_reported() {
        let t0 = Instant::now();
        let mut p = parking();
        for i in 0..4 {
            p.park(&format!("o-{i}"), format!("id-{i}"), "x", t0);
        }
        p.park("o-0", "id-0".into(), "copy", t0);
        assert_eq!(p.len(), 4);
        assert!(p.is_full());
        assert_eq!(p.drain().len(), 4);
        assert!(p.is_empty() && !p.is_full());
    }

    #[test]
    fn retry_at_and_release_unless() {
        let t0 = Instant::now();
        let mut p: Parking<i32> = Parking::new(10 * S, S, 10);
        p.park("p0", "a".into(), 0, t0);
        p.park("p0", "b".into(), 10, t0);
        p.park("p1", "c".into(), 1, t0);
        p.retry_at("p1", t0 + 5 * S);
        assert_eq!(p.due(t0 + 2 * S), vec!["p0".to_string()]);
        assert_eq!(p.next_due(), Some(t0 + S));
        let mut released = p.release_unless(|&head| head != 0);
        released.sort_unstable();
        assert_eq!(released, vec![0, 10]);
        assert!(!p.contains("a") && p.contains("c"));
    }
}
