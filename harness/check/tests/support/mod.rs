//! Builders for literal histories and a generator of clean ones (every order flowing
//! through its whole chain with correct seqs, causes and times), shared by the tests.
//! Each test file uses a part of it.
#![allow(dead_code)]

use check::{
    Backend, Charge, FaultKind, FaultRecord, Guarantee, History, LagSample, Meta, MetricSample,
    Observation, SendOutcome, SendRecord, StockLine,
};

pub mod plant;

pub const WARMUP_END: u64 = 1_000_000;

pub fn meta(guarantee: Guarantee, load_end_us: u64) -> Meta {
    Meta {
        experiment: "test".into(),
        seed: 42,
        backend: Backend::Kafka,
        guarantee,
        warmup_end_us: WARMUP_END,
        load_end_us,
        drain_end_us: load_end_us + 5_000_000,
        complete: true,
        drain: None,
        analysis: None,
        thresholds: Vec::new(),
        faults: None,
    }
}

pub fn send(order: &str, intended_us: u64, outcome: SendOutcome) -> SendRecord {
    let sent = (outcome != SendOutcome::Dropped).then_some(intended_us + 100);
    SendRecord {
        order_id: order.into(),
        intended_us,
        sent_us: sent,
        acked_us: (outcome == SendOutcome::Acked).then_some(intended_us + 1_000),
        outcome,
        error: matches!(outcome, SendOutcome::Error | SendOutcome::Rejected)
            .then(|| "boom".to_string()),
    }
}

pub fn acked(order: &str, intended_us: u64) -> SendRecord {
    send(order, intended_us, SendOutcome::Acked)
}

/// The topic the reference platform writes an event type to.
pub fn topic_of(event_type: &str) -> &'static str {
    match event_type {
        "OrderPlaced" | "OrderConfirmed" | "OrderCancelled" => "orders",
        "StockReserved" | "StockRejected" | "StockReleased" | "StockUpdated" | "LowStockAlert" => {
            "inventory"
        }
        "PaymentCaptured" | "PaymentFailed" => "payments",
        "ShipmentCreated" | "OrderShipped" => "shipping",
        "NotificationSent" => "notifications",
        _ => "analytics",
    }
}

/// One observation on partition 0 whose position is its id (a distinct log entry).
pub fn ev(
    id: &str,
    event_type: &str,
    key: &str,
    seq: u64,
    cause: Option<&str>,
    t: u64,
) -> Observation {
    Observation {
        event_id: id.into(),
        event_type: event_type.into(),
        key: key.into(),
        seq,
        causation_id: cause.map(str::to_string),
        produced_us: Some(t.saturating_sub(50)),
        observed_us: t,
        topic: topic_of(event_type).into(),
        partition: 0,
        position: format!("pos-{id}"),
    }
}

/// Which way an order goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Placed, reserved, captured, confirmed, shipment created, shipped.
    Shipped,
    /// Placed, stock rejected, cancelled.
    StockRejected,
    /// Placed, reserved, payment failed, stock released, cancelled.
    PaymentFailed,
    /// The order API refused it: no events.
    Rejected,
    /// The generator never sent it: no events.
    Dropped,
}

impl Flow {
    /// (event type, seq, index of the cause in this list) of the order's step events.
    pub fn steps(self) -> &'static [(&'static str, u64, Option<usize>)] {
        match self {
            Flow::Shipped => &[
                ("OrderPlaced", 1, None),
                ("StockReserved", 2, Some(0)),
                ("PaymentCaptured", 3, Some(1)),
                ("OrderConfirmed", 4, Some(2)),
                ("ShipmentCreated", 5, Some(3)),
                ("OrderShipped", 6, Some(3)),
            ],
            Flow::StockRejected => &[
                ("OrderPlaced", 1, None),
                ("StockRejected", 2, Some(0)),
                ("OrderCancelled", 3, Some(1)),
            ],
            Flow::PaymentFailed => &[
                ("OrderPlaced", 1, None),
                ("StockReserved", 2, Some(0)),
                ("PaymentFailed", 3, Some(1)),
                ("StockReleased", 4, Some(2)),
                ("OrderCancelled", 5, Some(3)),
            ],
            Flow::Rejected | Flow::Dropped => &[],
        }
    }

    pub fn acked(self) -> bool {
        matches!(
            self,
            Flow::Shipped | Flow::StockRejected | Flow::PaymentFailed
        )
    }
}

/// The step chain of one order starting at `t0`, one event every `gap` µs, partition 0.
pub fn chain(order: &str, flow: Flow, t0: u64, gap: u64) -> Vec<Observation> {
    flow.steps()
        .iter()
        .enumerate()
        .map(|(i, (event_type, seq, cause))| {
            let cause = cause.map(|c| format!("{order}/{}", flow.steps()[c].0));
            let id = format!("{order}/{event_type}");
            ev(
                &id,
                event_type,
                order,
                *seq,
                cause.as_deref(),
                t0 + gap * i as u64,
            )
        })
        .collect()
}

/// A tiny deterministic generator (xorshift64*), so a proptest seed fixes all times.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform-ish in `lo..hi` (`hi > lo`).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo)
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    /// `k` distinct items of `items`, in a random order.
    pub fn pick<T: Clone>(&mut self, items: &[T], k: usize) -> Vec<T> {
        let mut items = items.to_vec();
        for i in (1..items.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
        items.truncate(k);
        items
    }
}

/// A generated order, so plants can find its events.
#[derive(Debug, Clone)]
pub struct GenOrder {
    pub id: String,
    pub flow: Flow,
    pub partition: u32,
}

#[derive(Debug, Clone)]
pub struct Generated {
    pub history: History,
    pub orders: Vec<GenOrder>,
}

impl Generated {
    pub fn acked(&self) -> Vec<GenOrder> {
        self.orders
            .iter()
            .filter(|o| o.flow.acked())
            .cloned()
            .collect()
    }

    pub fn with_flow(&self, flow: Flow) -> Vec<GenOrder> {
        self.orders
            .iter()
            .filter(|o| o.flow == flow)
            .cloned()
            .collect()
    }

    /// The first observation of `event_type` for `order`.
    pub fn event(&self, order: &str, event_type: &str) -> Observation {
        self.history
            .observations
            .iter()
            .find(|o| o.key == order && o.event_type == event_type)
            .cloned()
            .unwrap_or_else(|| panic!("{order} has no {event_type}"))
    }

    pub fn last_time(&self) -> u64 {
        self.history
            .observations
            .iter()
            .map(|o| o.observed_us)
            .max()
            .unwrap_or(0)
    }
}

const PARTITIONS: u32 = 3;
const SKUS: usize = 4;

/// A clean history: `flows[i]` is order `o-i`'s flow; `seed` fixes every time and the
/// noise (notifications, stock updates, metrics, tap re-reads). No anomaly of any kind.
pub fn generate(flows: &[Flow], seed: u64, guarantee: Guarantee) -> Generated {
    let mut rng = Rng::new(seed);
    let mut history = History::default();
    let mut orders = Vec::new();
    let mut position = 0u64;
    let mut observations = Vec::new();
    let mut next_position = || {
        position += 1;
        position.to_string()
    };
    for (i, flow) in flows.iter().copied().enumerate() {
        let id = format!("o-{i}");
        let partition = i as u32 % PARTITIONS;
        let intended = WARMUP_END + i as u64 * 20_000 + rng.range(0, 10_000);
        let outcome = match flow {
            Flow::Rejected => SendOutcome::Rejected,
            Flow::Dropped => SendOutcome::Dropped,
            _ => SendOutcome::Acked,
        };
        let sent = (flow != Flow::Dropped).then(|| intended + rng.range(0, 5_000));
        let acked_at = sent.map(|s| s + rng.range(100, 5_000));
        history.sends.push(SendRecord {
            order_id: id.clone(),
            intended_us: intended,
            sent_us: sent,
            acked_us: acked_at.filter(|_| flow.acked()),
            outcome,
            error: (flow == Flow::Rejected).then(|| "422 Unprocessable Entity".into()),
        });
        let mut t = acked_at.unwrap_or(intended);
        let mut ids: Vec<String> = Vec::new();
        for (event_type, seq, cause) in flow.steps() {
            t += rng.range(1_000, 40_000);
            let event_id = format!("{id}/{event_type}");
            let cause_id = cause.map(|c| ids[c].clone());
            observations.push(Observation {
                event_id: event_id.clone(),
                event_type: event_type.to_string(),
                key: id.clone(),
                seq: *seq,
                causation_id: cause_id,
                produced_us: Some(t - 200),
                observed_us: t,
                topic: topic_of(event_type).into(),
                partition,
                position: next_position(),
            });
            // by-products: their seqs and times need not be in order
            if rng.chance(50) {
                let at = t + rng.range(1, 80_000);
                observations.push(Observation {
                    event_id: format!("{event_id}/notified"),
                    event_type: "NotificationSent".into(),
                    key: id.clone(),
                    seq: seq + 1,
                    causation_id: Some(event_id.clone()),
                    produced_us: None,
                    observed_us: at,
                    topic: "notifications".into(),
                    partition,
                    position: next_position(),
                });
            }
            if *event_type == "StockReserved" {
                observations.push(Observation {
                    event_id: format!("{event_id}/stock-updated"),
                    event_type: "StockUpdated".into(),
                    key: id.clone(),
                    seq: seq + 1,
                    causation_id: Some(event_id.clone()),
                    produced_us: None,
                    observed_us: t + rng.range(0, 3),
                    topic: "inventory".into(),
                    partition,
                    position: next_position(),
                });
            }
            if rng.chance(10) {
                observations.push(Observation {
                    event_id: format!("{event_id}/metric"),
                    event_type: "MetricUpdated".into(),
                    key: "orders_per_s".into(),
                    seq: 1,
                    causation_id: Some(event_id.clone()),
                    produced_us: None,
                    observed_us: t + rng.range(0, 100_000),
                    topic: "analytics".into(),
                    partition: 0,
                    position: next_position(),
                });
            }
            ids.push(event_id);
        }
        if flow == Flow::Shipped {
            history.charges.push(Charge {
                order_id: id.clone(),
                charge_id: format!("ch-{i}"),
            });
        }
        orders.push(GenOrder {
            id,
            flow,
            partition,
        });
    }
    // the tap reads a few entries twice (same position): not an anomaly
    let mut rereads = Vec::new();
    for o in &observations {
        if rng.chance(5) {
            rereads.push(Observation {
                observed_us: o.observed_us + rng.range(1, 1_000_000),
                ..o.clone()
            });
        }
    }
    observations.extend(rereads);
    observations.sort_by_key(|o| o.observed_us);
    history.observations = observations;

    let end = history
        .observations
        .iter()
        .map(|o| o.observed_us)
        .max()
        .unwrap_or(0);
    let load_end = WARMUP_END + flows.len() as u64 * 20_000 + 20_000;
    history.meta = Some(meta(guarantee, load_end));
    for s in 0..SKUS {
        let reserved = rng.range(0, 50) as i64;
        history.stock.push(StockLine {
            sku: format!("sku-{s}"),
            shard: 0,
            available: 1_000 - reserved,
            reserved,
            initial: 1_000,
        });
    }
    for group in ["inventory", "payment", "order", "shipping"] {
        for t in (0..=end / 1_000_000 + 1).map(|s| s * 1_000_000) {
            history.lags.push(LagSample {
                t_us: t,
                group: group.into(),
                // Busy while the load runs, caught up once it ended: every order of a
                // generated history finished, and a planted unfinished one is lost.
                lag: if t <= load_end { rng.range(0, 20) } else { 0 },
                pending: Some(if t <= load_end { rng.range(0, 5) } else { 0 }),
                positions: Vec::new(),
            });
        }
    }
    history.metrics.push(MetricSample {
        t_us: end,
        service: "payment".into(),
        instance: 0,
        name: "retries_total".into(),
        value: rng.range(0, 10) as f64,
    });
    let start = WARMUP_END + rng.range(0, load_end - WARMUP_END);
    history.faults.push(FaultRecord {
        id: "f1".into(),
        kind: FaultKind::Latency,
        target: "kafka-1".into(),
        start_us: start,
        end_us: start + rng.range(1, 200_000),
    });
    Generated { history, orders }
}
