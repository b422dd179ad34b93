//! The order aggregate, event-sourced: its state is a fold over the order's events
//! (from every topic), kept as snapshots every N events plus the events since. The read
//! model behind `GET /orders/{id}` is this store, and it can be rebuilt from the event
//! log alone by folding the same events again.

use std::collections::{HashMap, HashSet};

use events::{Envelope, Event};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Where an order is in the flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    Placed,
    StockReserved,
    PaymentCaptured,
    PaymentFailed,
    Confirmed,
    Cancelled,
    Shipped,
}

/// The order as its events tell it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderView {
    pub order_id: String,
    pub status: OrderStatus,
    pub customer_id: Option<String>,
    pub sku: Option<String>,
    pub quantity: Option<u32>,
    pub amount_cents: Option<u64>,
    pub charge_id: Option<String>,
    pub confirmed: bool,
    pub cancelled: bool,
    pub shipped: bool,
    /// Events applied (distinct ids).
    pub version: u64,
    /// Highest `seq` seen for the order.
    pub last_seq: u64,
}

impl OrderView {
    fn new(order_id: &str) -> Self {
        OrderView {
            order_id: order_id.to_string(),
            status: OrderStatus::Placed,
            customer_id: None,
            sku: None,
            quantity: None,
            amount_cents: None,
            charge_id: None,
            confirmed: false,
            cancelled: false,
            shipped: false,
            version: 0,
            last_seq: 0,
        }
    }

    /// Applies one event. Terminal facts (confirmed, cancelled, shipped) are kept as
    /// flags too, so an order both confirmed and cancelled stays visible as such.
    pub fn apply(&mut self, envelope: &Envelope, event: &Event) {
        self.version += 1;
        self.last_seq = self.last_seq.max(envelope.seq);
        let advance = |s: &mut OrderStatus, to: OrderStatus| {
            if rank(to) >= rank(*s) {
                *s = to;
            }
        };
        match event {
            Event::OrderPlaced(p) => {
                self.customer_id = Some(p.customer_id.clone());
                self.sku = Some(p.sku.clone());
                self.quantity = Some(p.quantity);
                self.amount_cents = Some(p.amount_cents);
            }
            Event::StockReserved(r) => {
                // The reservation carries the order's line: an order whose OrderPlaced
                // has not been read yet is still known from it.
                self.customer_id
                    .get_or_insert_with(|| r.customer_id.clone());
                self.sku.get_or_insert_with(|| r.sku.clone());
                self.quantity.get_or_insert(r.quantity);
                self.amount_cents.get_or_insert(r.amount_cents);
                advance(&mut self.status, OrderStatus::StockReserved);
            }
            Event::PaymentCaptured(p) => {
                self.charge_id = Some(p.charge_id.clone());
                advance(&mut self.status, OrderStatus::PaymentCaptured);
            }
            Event::PaymentFailed(_) => advance(&mut self.status, OrderStatus::PaymentFailed),
            Event::OrderConfirmed(_) => {
                self.confirmed = true;
                advance(&mut self.status, OrderStatus::Confirmed);
            }
            Event::OrderCancelled(_) => {
                self.cancelled = true;
                advance(&mut self.status, OrderStatus::Cancelled);
            }
            Event::OrderShipped(_) => {
                self.shipped = true;
                advance(&mut self.status, OrderStatus::Shipped);
            }
            _ => {}
        }
    }
}

fn rank(status: OrderStatus) -> u8 {
    match status {
        OrderStatus::Placed => 0,
        OrderStatus::StockReserved => 1,
        OrderStatus::PaymentCaptured | OrderStatus::PaymentFailed => 2,
        OrderStatus::Confirmed => 3,
        OrderStatus::Cancelled => 4,
        OrderStatus::Shipped => 4,
    }
}

#[derive(Debug, Default)]
struct Stream {
    snapshot: Option<OrderView>,
    tail: Vec<(Envelope, Event)>,
    seen: HashSet<Uuid>,
}

/// Per-order event streams with snapshots every `snapshot_every` events.
#[derive(Debug)]
pub struct OrderStore {
    snapshot_every: usize,
    orders: HashMap<String, Stream>,
    snapshots_taken: u64,
}

impl OrderStore {
    pub fn new(snapshot_every: usize) -> Self {
        OrderStore {
            snapshot_every: snapshot_every.max(1),
            orders: HashMap::new(),
            snapshots_taken: 0,
        }
    }

    /// Appends an event to its order's stream; a redelivered event (same id) is ignored.
    pub fn append(&mut self, envelope: Envelope, event: Event) {
        let Some(order_id) = event.order_id().map(str::to_string) else {
            return;
        };
        let stream = self.orders.entry(order_id.clone()).or_default();
        if !stream.seen.insert(envelope.event_id) {
            return;
        }
        stream.tail.push((envelope, event));
        if stream.tail.len() >= self.snapshot_every {
            let mut view = stream
                .snapshot
                .take()
                .unwrap_or_else(|| OrderView::new(&order_id));
            for (e, ev) in stream.tail.drain(..) {
                view.apply(&e, &ev);
            }
            stream.snapshot = Some(view);
            self.snapshots_taken += 1;
        }
    }

    /// The order rebuilt: its latest snapshot plus the events since.
    pub fn get(&self, order_id: &str) -> Option<OrderView> {
        let stream = self.orders.get(order_id)?;
        let mut view = stream
            .snapshot
            .clone()
            .unwrap_or_else(|| OrderView::new(order_id));
        for (e, ev) in &stream.tail {
            view.apply(e, ev);
        }
        Some(view)
    }

    pub fn order_ids(&self) -> impl Iterator<Item = &String> {
        self.orders.keys()
    }

    pub fn len(&self) -> usize {
        self.orders.len()
    }

    pub fn is_empty(&self) -> bool {
        self.orders.is_empty()
    }

    pub fn snapshots_taken(&self) -> u64 {
        self.snapshots_taken
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use events::{EventType, example};

    fn flow() -> Vec<(Envelope, Event)> {
        [
            EventType::OrderPlaced,
            EventType::StockReserved,
            EventType::PaymentCaptured,
            EventType::OrderConfirmed,
            EventType::OrderShipped,
        ]
        .into_iter()
        .enumerate()
        .map(|(i, t)| {
            let mut e = example(t);
            e.event_id = Uuid::from_u128(i as u128 + 1);
            e.seq = i as u64 + 1;
            let ev = e.decode().expect("example decodes");
            (e, ev)
        })
        .collect()
    }

    #[test]
    fn snapshots_do_not_change_the_fold() {
        for every in 1..=6 {
            let mut store = OrderStore::new(every);
            let mut plain = None;
            for (e, ev) in flow() {
                let id = ev.order_id().expect("order event").to_string();
                plain
                    .get_or_insert_with(|| OrderView::new(&id))
                    .apply(&e, &ev);
                store.append(e, ev);
            }
            let plain = plain.expect("events");
            assert_eq!(
                store.get(&plain.order_id),
                Some(plain.clone()),
                "snapshot every {every}"
            );
            assert_eq!(plain.status, OrderStatus::Shipped);
            assert!(plain.confirmed && plain.shipped && !plain.cancelled);
        }
    }

    #[test]
    fn redelivered_events_are_applied_once() {
        let mut store = OrderStore::new(3);
        for (e, ev) in flow().into_iter().chain(flow()) {
            store.append(e, ev);
        }
        let id = flow()[0].1.order_id().expect("order").to_string();
        assert_eq!(store.get(&id).expect("order").version, 5);
    }
}
