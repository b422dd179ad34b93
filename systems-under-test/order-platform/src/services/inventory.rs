//! `inventory`: stock per SKU with reservations. Reserves stock for each `OrderPlaced`
//! (or rejects it), releases it when a payment fails (the saga's compensation), and
//! warns when stock falls under a threshold.
//!
//! Stock is kept as two counters per SKU, changed together with the outputs by the
//! bus: `available_delta` (available = initial + delta, never below zero) and
//! `reserved`. So per SKU, reserved + available = initial at every commit. On Redis the
//! counters are shared by every instance; on Kafka each partition is a warehouse shard
//! with its own `initial` units per SKU (the state of a partition moves with it).

use events::{
    Envelope, Event, LowStockAlert, StockRejected, StockRejectionReason, StockReleased,
    StockReserved, StockUpdated,
};

use super::runner::{Decision, Failure, Handler, StateView};
use crate::bus::Change;

/// The SKUs the shop sells and how many units each starts with.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub skus: u32,
    pub initial_stock: i64,
    pub low_stock_threshold: i64,
}

impl Catalog {
    /// `sku-0` .. `sku-{n-1}`.
    pub fn knows(&self, sku: &str) -> bool {
        sku.strip_prefix("sku-")
            .and_then(|n| n.parse::<u32>().ok())
            .is_some_and(|n| n < self.skus)
    }
}

const AVAILABLE_DELTA: &str = "available_delta";
const RESERVED: &str = "reserved";
/// A SKU's counters, read together.
const STOCK: &[&str] = &[AVAILABLE_DELTA, RESERVED];

fn stock_key(sku: &str) -> String {
    format!("stock:{sku}")
}

#[derive(Debug)]
pub struct Inventory {
    pub catalog: Catalog,
}

impl Handler for Inventory {
    fn topics(&self) -> Vec<&'static str> {
        super::subscriptions(events::Service::Inventory)
    }

    fn reads(&self, event: &Event) -> Vec<(String, &'static [&'static str])> {
        match event {
            Event::OrderPlaced(order) if self.catalog.knows(&order.sku) => {
                vec![(stock_key(&order.sku), STOCK)]
            }
            Event::PaymentFailed(failed) => vec![(stock_key(&failed.sku), STOCK)],
            _ => Vec::new(),
        }
    }

    async fn handle(
        &mut self,
        _input: &Envelope,
        event: &Event,
        state: &mut StateView<'_>,
    ) -> Result<Decision, Failure> {
        match event {
            Event::OrderPlaced(order) => {
                if !self.catalog.knows(&order.sku) {
                    return Ok(Decision::emit([Event::StockRejected(StockRejected {
                        order_id: order.order_id.clone(),
                        customer_id: order.customer_id.clone(),
                        sku: order.sku.clone(),
                        requested: order.quantity,
                        available: 0,
                        reason: StockRejectionReason::UnknownSku,
                    })]));
                }
                let key = stock_key(&order.sku);
                let (available, reserved) = self.read(state, &key).await?;
                let quantity = i64::from(order.quantity);
                if available < quantity {
                    return Ok(Decision::emit([Event::StockRejected(StockRejected {
                        order_id: order.order_id.clone(),
                        customer_id: order.customer_id.clone(),
                        sku: order.sku.clone(),
                        requested: order.quantity,
                        available,
                        reason: StockRejectionReason::InsufficientStock,
                    })]));
                }
                let after = available - quantity;
                let mut events = vec![
                    Event::StockReserved(StockReserved {
                        order_id: order.order_id.clone(),
                        customer_id: order.customer_id.clone(),
                        sku: order.sku.clone(),
                        quantity: order.quantity,
                        amount_cents: order.amount_cents,
                        currency: order.currency,
                        available_after: after,
                    }),
                    Event::StockUpdated(StockUpdated {
                        sku: order.sku.clone(),
                        order_id: Some(order.order_id.clone()),
                        delta: -quantity,
                        available_after: after,
                        reserved_after: reserved + quantity,
                    }),
                ];
                let threshold = self.catalog.low_stock_threshold;
                if after < threshold && available >= threshold {
                    events.push(Event::LowStockAlert(LowStockAlert {
                        sku: order.sku.clone(),
                        available_after: after,
                        threshold,
                        order_id: Some(order.order_id.clone()),
                    }));
                }
                Ok(Decision {
                    events,
                    changes: vec![
                        // The floor keeps available >= 0 even against a concurrent instance.
                        Change {
                            key: key.clone(),
                            field: AVAILABLE_DELTA.into(),
                            delta: -quantity,
                            floor: Some(-self.catalog.initial_stock),
                        },
                        Change {
                            key,
                            field: RESERVED.into(),
                            delta: quantity,
                            floor: None,
                        },
                    ],
                })
            }
            Event::PaymentFailed(failed) => {
                let key = stock_key(&failed.sku);
                let (available, reserved) = self.read(state, &key).await?;
                let quantity = i64::from(failed.quantity);
                // Under at-least-once a release can come again after it took effect (a
                // PaymentFailed redelivered from an older committed position): its
                // reservation is gone, and releasing it again would cross the floor
                // on every decision, stalling the partition for good. What is
                // reserved of it is released; the order is cancelled either way.
                let released = quantity.min(reserved.max(0));
                if released < quantity {
                    tracing::warn!(order = %failed.order_id, sku = %failed.sku, quantity, reserved, "release of more than is reserved (a redelivered compensation?): releasing what is reserved");
                }
                let after = available + released;
                let mut events = vec![Event::StockReleased(StockReleased {
                    order_id: failed.order_id.clone(),
                    customer_id: failed.customer_id.clone(),
                    sku: failed.sku.clone(),
                    quantity: u32::try_from(released).unwrap_or(failed.quantity),
                    available_after: after,
                    payment_failure: failed.reason,
                })];
                if released == 0 {
                    return Ok(Decision::emit(events));
                }
                events.push(Event::StockUpdated(StockUpdated {
                    sku: failed.sku.clone(),
                    order_id: Some(failed.order_id.clone()),
                    delta: released,
                    available_after: after,
                    reserved_after: reserved - released,
                }));
                Ok(Decision {
                    events,
                    changes: vec![
                        Change {
                            key: key.clone(),
                            field: AVAILABLE_DELTA.into(),
                            delta: released,
                            floor: None,
                        },
                        // Never release more than is reserved (against a concurrent
                        // instance on Redis).
                        Change {
                            key,
                            field: RESERVED.into(),
                            delta: -released,
                            floor: Some(0),
                        },
                    ],
                })
            }
            _ => Ok(Decision::none()),
        }
    }
}

impl Inventory {
    /// (available, reserved) of a SKU in this input's shard, read as one snapshot: two
    /// separate reads let another instance's reservation land between them, and the
    /// `StockUpdated` built from them broke `available + reserved == initial` (found by
    /// redis-consumer-kill at 300 orders/s with two inventory instances).
    async fn read(&self, state: &mut StateView<'_>, key: &str) -> Result<(i64, i64), Failure> {
        let values = state
            .counters(key, STOCK)
            .await
            .map_err(|e| Failure::Retry(e.to_string()))?;
        let at = |i: usize| values.get(i).copied().unwrap_or(0);
        let (delta, reserved) = (at(0), at(1));
        Ok((self.catalog.initial_stock + delta, reserved))
    }
}
