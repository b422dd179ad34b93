//! One open key's events, and the rules judged when it settles: duplicate deliveries,
//! duplicate steps, the seq and cause rules, phantoms, an order both confirmed and
//! cancelled, hop latencies, and what an unfinished order leaves for the end.

use std::collections::HashMap;

use super::ids::{EventId, Pos};
use super::{CauseSeen, Checker, ObserveView, Occ, Orphan, PLACED, TERMINAL};
use crate::anomaly::Anomaly;

/// One distinct log entry: topic, partition, position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub topic: u16,
    pub partition: u32,
    pub pos: Pos,
}

/// One event id of the key, with its first observation (earliest, then first line).
#[derive(Debug, Clone)]
pub(crate) struct Event {
    pub id: EventId,
    pub cause: Option<EventId>,
    pub first_us: u64,
    /// The first observation's producer time (the envelope's), if the line says.
    pub produced_us: Option<u64>,
    pub first_line: u64,
    pub seq: u64,
    pub ty: u16,
    /// The entry of the first observation: 0 is `entry`, `i` is `more[i - 1]`.
    first_entry: u16,
    entry: Entry,
    more: Vec<Entry>,
}

impl Event {
    fn first_entry(&self) -> &Entry {
        match self.first_entry {
            0 => &self.entry,
            i => &self.more[usize::from(i) - 1],
        }
    }

    fn entries(&self) -> usize {
        1 + self.more.len()
    }
}

/// An open key: its events, and its last step by (seq, observed time) for attribution.
#[derive(Debug, Default)]
pub(crate) struct KeyState {
    events: Vec<Event>,
    /// Event ids → index, once the key has many (a sku's restocks).
    index: Option<HashMap<EventId, u32>>,
    last_step: Option<(u64, u64, u16)>,
}

/// Past this many events a key's events are found through a map.
const SCAN: usize = 24;

impl KeyState {
    fn find(&self, id: &EventId) -> Option<usize> {
        match &self.index {
            Some(index) => index.get(id).map(|&i| i as usize),
            None => self.events.iter().position(|e| e.id == *id),
        }
    }

    pub fn observe(&mut self, line: u64, o: &ObserveView<'_>, ty: u16, topic: u16, step: bool) {
        if step {
            let rank = (o.seq, o.observed_us);
            if self.last_step.is_none_or(|(s, t, _)| rank >= (s, t)) {
                self.last_step = Some((o.seq, o.observed_us, ty));
            }
        }
        let entry = Entry {
            topic,
            partition: o.partition,
            pos: Pos::of(o.position),
        };
        let id = EventId::of(o.event_id);
        let Some(i) = self.find(&id) else {
            if self.events.is_empty() {
                // An order has about ten events: one allocation for most keys.
                self.events.reserve_exact(12);
            }
            let event = Event {
                id,
                cause: o.causation_id.map(EventId::of),
                first_us: o.observed_us,
                produced_us: o.produced_us,
                first_line: line,
                seq: o.seq,
                ty,
                first_entry: 0,
                entry,
                more: Vec::new(),
            };
            if let Some(index) = &mut self.index {
                index.insert(event.id.clone(), self.events.len() as u32);
            }
            self.events.push(event);
            if self.index.is_none() && self.events.len() > SCAN {
                self.index = Some(
                    self.events
                        .iter()
                        .enumerate()
                        .map(|(i, e)| (e.id.clone(), i as u32))
                        .collect(),
                );
            }
            return;
        };
        let event = &mut self.events[i];
        let at = if event.entry == entry {
            0
        } else if let Some(k) = event.more.iter().position(|e| *e == entry) {
            k + 1
        } else {
            event.more.push(entry);
            event.more.len()
        };
        if (o.observed_us, line) < (event.first_us, event.first_line) {
            event.first_us = o.observed_us;
            event.produced_us = o.produced_us;
            event.first_line = line;
            event.seq = o.seq;
            event.ty = ty;
            event.cause = o.causation_id.map(EventId::of);
            event.first_entry = u16::try_from(at).unwrap_or(u16::MAX);
        }
    }
}

/// What an acknowledged order that never finished leaves for the end: its observed
/// steps (for the in-flight rule), its last step and its event ids (attribution).
#[derive(Debug, Clone)]
pub(crate) struct Unfinished {
    pub key: u32,
    pub leaves: Vec<(u16, Entry)>,
    pub last_step: Option<u16>,
    pub events: Vec<EventId>,
}

/// Judges a settled key (see the module docs of [`crate::detect`] for each rule).
pub(crate) fn settle(c: &mut Checker, key: u32, state: KeyState) {
    let mut events = state.events;
    events.sort_by_key(|e| (e.first_us, e.first_line));
    let rec = c.recs[key as usize];
    let order = rec.is_order().then_some(key);

    c.tally.events += events.len() as u64;
    let mut placed = None;
    let mut terminal = None;
    // Few step types and partitions per key: searched, not hashed, and kept on the
    // stack (two small vectors per key were a malloc and a free each, per order).
    let mut steps: Few<u16, u32> = Few::default();
    let mut highest: Few<(u16, u32), u64> = Few::default();
    let (mut confirmed, mut cancelled, mut outcome_at) = (false, false, 0);
    for e in &events {
        let info = c.types.get(e.ty);
        let (step, is_placed) = (info.step, info.placed);
        c.tally.entries += e.entries() as u64;
        if info.placed && placed.is_none() {
            placed = Some(e.first_us);
        }
        if info.terminal && terminal.is_none() {
            terminal = Some(e.first_us);
        }
        if info.confirmed || info.cancelled {
            confirmed |= info.confirmed;
            cancelled |= info.cancelled;
            outcome_at = e.first_us;
        }
        let rank = (e.first_us, e.first_line);
        let extra = e.entries() as u64 - 1;
        if extra > 0 {
            *c.tally.by_type.entry(e.ty).or_default() += extra;
            c.occs.push(occ(
                Anomaly::DuplicateDelivery,
                2,
                rank,
                e.id.text(),
                order,
                extra,
            ));
        }
        if step {
            let seen = steps.entry(e.ty);
            *seen += 1;
            if *seen > 1 {
                c.occs.push(occ(
                    Anomaly::DuplicateEffect,
                    3,
                    rank,
                    e.id.text(),
                    order,
                    1,
                ));
            }
            let first = e.first_entry();
            let at = (first.topic, first.partition);
            let top = highest.entry(at);
            if e.seq < *top {
                c.occs.push(occ(
                    Anomaly::OrderingViolation,
                    5,
                    rank,
                    e.id.text(),
                    order,
                    1,
                ));
            }
            *top = (*top).max(e.seq);
        }
        if is_placed && !rec.is_order() {
            c.occs
                .push(occ(Anomaly::Phantom, 7, rank, e.id.text(), None, 1));
        }
    }
    // Causes: within the key, else looked up at the end.
    let by_id: Option<HashMap<&EventId, usize>> =
        (events.len() > SCAN).then(|| events.iter().enumerate().map(|(i, e)| (&e.id, i)).collect());
    for e in &events {
        let Some(cause_id) = &e.cause else { continue };
        let found = match &by_id {
            Some(map) => map.get(cause_id).copied(),
            None => events.iter().position(|x| x.id == *cause_id),
        };
        match found {
            Some(i) => {
                let cause = CauseSeen {
                    observed_us: events[i].first_us,
                    produced_us: events[i].produced_us,
                    ty: events[i].ty,
                };
                let at = (e.first_us, e.produced_us);
                effect_of(c, key, at, e.first_line, e.ty, &e.id, cause);
            }
            None => c.orphans.push(Orphan {
                key,
                observed_us: e.first_us,
                produced_us: e.produced_us,
                line: e.first_line,
                ty: e.ty,
                id: e.id.clone(),
                cause: cause_id.clone(),
            }),
        }
    }
    if confirmed && cancelled {
        let id = c.keys.name(key).to_string();
        c.occs.push(occ(
            Anomaly::InvariantViolation,
            9,
            (outcome_at, 0),
            id,
            order,
            1,
        ));
    }
    let rec = &mut c.recs[key as usize];
    if let Some(t) = placed {
        rec.placed_us = t;
        rec.flags |= PLACED;
    }
    if let Some(t) = terminal {
        rec.terminal_us = t;
        rec.flags |= TERMINAL;
    }
    if rec.is_order() && rec.acked() && terminal.is_none() {
        let leaves = events
            .iter()
            .filter(|e| c.types.get(e.ty).step)
            .map(|e| (e.ty, e.first_entry().clone()))
            .collect();
        c.unfinished.push(Unfinished {
            key,
            leaves,
            last_step: state.last_step.map(|(_, _, ty)| ty),
            events: events.into_iter().map(|e| e.id).collect(),
        });
    }
}

/// A few (key, value) pairs found by comparison: the first [`Few::INLINE`] in an
/// array, any more in a vector (a key has a handful of step types and partitions).
struct Few<K, V> {
    inline: [(K, V); Few::<(), ()>::INLINE],
    len: usize,
    more: Vec<(K, V)>,
}

impl Few<(), ()> {
    const INLINE: usize = 12;
}

impl<K: Copy + Default + PartialEq, V: Copy + Default> Default for Few<K, V> {
    fn default() -> Self {
        Few {
            inline: [(K::default(), V::default()); Few::<(), ()>::INLINE],
            len: 0,
            more: Vec::new(),
        }
    }
}

impl<K: Copy + Default + PartialEq, V: Copy + Default> Few<K, V> {
    /// The value of `key`, added as `V::default()` if new.
    fn entry(&mut self, key: K) -> &mut V {
        if let Some(i) = self.inline[..self.len].iter().position(|(k, _)| *k == key) {
            return &mut self.inline[i].1;
        }
        if self.len < self.inline.len() {
            self.inline[self.len] = (key, V::default());
            self.len += 1;
            return &mut self.inline[self.len - 1].1;
        }
        let i = match self.more.iter().position(|(k, _)| *k == key) {
            Some(i) => i,
            None => {
                self.more.push((key, V::default()));
                self.more.len() - 1
            }
        };
        &mut self.more[i].1
    }
}

/// The cause rule and the hop latency of one effect whose cause was observed.
#[allow(clippy::too_many_arguments)]
pub(crate) fn effect_of(
    c: &mut Checker,
    key: u32,
    (observed_us, produced_us): (u64, Option<u64>),
    line: u64,
    ty: u16,
    id: &EventId,
    cause: CauseSeen,
) {
    let (effect_step, cause_step) = (c.types.get(ty).step, c.types.get(cause.ty).step);
    let rec = c.recs[key as usize];
    let order = rec.is_order().then_some(key);
    if effect_step
        && cause_step
        && crate::detect::before_its_cause(
            (observed_us, produced_us),
            (cause.observed_us, cause.produced_us),
            c.setup.options.causality_slack_us,
        )
    {
        c.occs.push(occ(
            Anomaly::OrderingViolation,
            6,
            (observed_us, line),
            id.text(),
            order,
            1,
        ));
    }
    if observed_us >= cause.observed_us {
        let measure = if rec.is_order() {
            rec.intended_us
        } else {
            cause.observed_us
        };
        c.hop(measure, (cause.ty, ty), observed_us - cause.observed_us);
    }
}

pub(crate) fn occ(
    anomaly: Anomaly,
    rule: u8,
    rank: (u64, u64),
    id: String,
    order: Option<u32>,
    weight: u64,
) -> Occ {
    Occ {
        anomaly,
        rank: (rule, rank.0, rank.1),
        id,
        order,
        weight,
    }
}

#[cfg(test)]
mod few_tests {
    use super::Few;

    #[test]
    fn entries_are_found_again_past_the_inline_ones() {
        let mut few: Few<u16, u32> = Few::default();
        for round in 1..=3u32 {
            for k in 0..40u16 {
                *few.entry(k) += 1;
                assert_eq!(*few.entry(k), round, "{k}");
            }
        }
        assert_eq!(few.len, Few::<(), ()>::INLINE);
        assert_eq!(few.more.len(), 40 - Few::<(), ()>::INLINE);
    }
}
