//! One deterministic example envelope per event type (fixed ids and timestamps), for
//! the docs and the tests.
//!
//! They tell three orders' stories: `o-1042` succeeds and ships, `o-1043` is rejected
//! by inventory, `o-1044`'s payment fails and its stock is released (the saga's
//! compensation). `o-1041` was placed by an old producer that still writes
//! `OrderPlaced` v1. Event ids read `0000<order>-0000-4000-8000-0000000000<step>`, and
//! each `causation_id` is the id of the example that caused it.

use std::collections::BTreeMap;

use time::{Duration, OffsetDateTime, macros::datetime};
use uuid::Uuid;

use crate::catalog::service;
use crate::envelope::{Envelope, Source};
use crate::event::{Event, EventType};
use crate::payloads::{
    AlertTriggered, CancellationReason, Currency, LowStockAlert, MetricUpdated,
    NotificationChannel, NotificationSent, OrderCancelled, OrderConfirmed, OrderPlaced,
    OrderPlacedV1, OrderShipped, PaymentCaptured, PaymentFailed, PaymentFailureReason,
    SalesChannel, Severity, ShipmentCreated, StockRejected, StockRejectionReason, StockReleased,
    StockReserved, StockUpdated,
};

/// The id of step `step` of order number `order`: `0000<order>-0000-4000-8000-…<step>`,
/// with both numbers written as hex digits so they read as the decimal they mean.
fn id(order: u16, step: u8) -> Uuid {
    let hex = |n: u64| u128::from_str_radix(&n.to_string(), 16).unwrap_or_default();
    Uuid::from_u128(
        hex(u64::from(order)) << 96 | 0x4000 << 64 | 0x8000 << 48 | hex(u64::from(step)),
    )
}

/// Where an example sits in its order's story.
struct Stamp {
    service: &'static str,
    instance: u32,
    order: u16,
    step: u8,
    /// The step that caused this one, in the same order's story.
    caused_by: Option<u8>,
    /// `None`: keyed by the order id.
    key: Option<&'static str>,
    seq: u64,
}

const fn stamp(service: &'static str, order: u16, step: u8, caused_by: Option<u8>) -> Stamp {
    Stamp {
        service,
        instance: 0,
        order,
        step,
        caused_by,
        key: None,
        seq: step as u64,
    }
}

fn occurred_at(step: u8) -> OffsetDateTime {
    datetime!(2025-03-14 09:26:53 UTC) + Duration::milliseconds(150 * i64::from(step))
}

fn envelope(event: &Event, s: &Stamp) -> Envelope {
    let order_id = format!("o-{}", s.order);
    Envelope::new(
        event,
        Source {
            service: s.service.to_owned(),
            instance: s.instance,
        },
        s.key.map_or_else(|| order_id.clone(), str::to_owned),
        s.seq,
        order_id,
        s.caused_by.map(|step| id(s.order, step)),
        occurred_at(s.step),
        id(s.order, s.step),
    )
}

/// The example envelope of `event_type`, at its current schema version.
pub fn example(event_type: EventType) -> Envelope {
    let (event, stamp) = parts(event_type);
    envelope(&event, &stamp)
}

/// The decoded payload of [`example`]`(event_type)`.
pub fn example_event(event_type: EventType) -> Event {
    parts(event_type).0
}

/// An `OrderPlaced` written at schema version 1 (order `o-1041`, from an old producer).
pub fn example_v1_order_placed() -> Envelope {
    Envelope::new_v1_order_placed(
        &example_v1_payload(),
        Source {
            service: service::ORDER.to_owned(),
            instance: 1,
        },
        "o-1041",
        1,
        "o-1041",
        None,
        occurred_at(0),
        id(1041, 1),
    )
}

/// The payload of [`example_v1_order_placed`].
pub(crate) fn example_v1_payload() -> OrderPlacedV1 {
    OrderPlacedV1 {
        order_id: "o-1041".into(),
        customer_id: "c-12".into(),
        sku: "sku-8".into(),
        quantity: 1,
        amount_cents: 1_999,
    }
}

fn s(text: &str) -> String {
    text.to_owned()
}

fn parts(event_type: EventType) -> (Event, Stamp) {
    use service::{ANALYTICS, INVENTORY, NOTIFICATION, ORDER, PAYMENT, SHIPPING};
    match event_type {
        EventType::OrderPlaced => (
            OrderPlaced {
                order_id: s("o-1042"),
                customer_id: s("c-77"),
                sku: s("sku-3"),
                quantity: 2,
                amount_cents: 4_998,
                currency: Currency::Eur,
                channel: SalesChannel::Mobile,
            }
            .into(),
            stamp(ORDER, 1042, 1, None),
        ),
        EventType::StockReserved => (
            StockReserved {
                order_id: s("o-1042"),
                customer_id: s("c-77"),
                sku: s("sku-3"),
                quantity: 2,
                amount_cents: 4_998,
                currency: Currency::Eur,
                available_after: 8,
            }
            .into(),
            Stamp {
                instance: 1,
                ..stamp(INVENTORY, 1042, 2, Some(1))
            },
        ),
        EventType::StockUpdated => (
            StockUpdated {
                sku: s("sku-3"),
                order_id: Some(s("o-1042")),
                delta: -2,
                available_after: 8,
                reserved_after: 5,
            }
            .into(),
            Stamp {
                instance: 1,
                ..stamp(INVENTORY, 1042, 3, Some(1))
            },
        ),
        EventType::LowStockAlert => (
            LowStockAlert {
                sku: s("sku-3"),
                available_after: 8,
                threshold: 10,
                order_id: Some(s("o-1042")),
            }
            .into(),
            Stamp {
                instance: 1,
                ..stamp(INVENTORY, 1042, 4, Some(1))
            },
        ),
        EventType::PaymentCaptured => (
            PaymentCaptured {
                order_id: s("o-1042"),
                customer_id: s("c-77"),
                amount_cents: 4_998,
                currency: Currency::Eur,
                charge_id: s("ch-5f2a9c01"),
                idempotency_key: s("pay-o-1042"),
                attempts: 2,
            }
            .into(),
            stamp(PAYMENT, 1042, 5, Some(2)),
        ),
        EventType::OrderConfirmed => (
            OrderConfirmed {
                order_id: s("o-1042"),
                customer_id: s("c-77"),
                sku: s("sku-3"),
                quantity: 2,
                amount_cents: 4_998,
                currency: Currency::Eur,
                charge_id: s("ch-5f2a9c01"),
            }
            .into(),
            stamp(ORDER, 1042, 6, Some(5)),
        ),
        EventType::ShipmentCreated => (
            ShipmentCreated {
                order_id: s("o-1042"),
                customer_id: s("c-77"),
                shipment_id: s("sh-1042"),
                sku: s("sku-3"),
                quantity: 2,
                carrier: s("dhl"),
            }
            .into(),
            stamp(SHIPPING, 1042, 7, Some(6)),
        ),
        EventType::OrderShipped => (
            OrderShipped {
                order_id: s("o-1042"),
                customer_id: s("c-77"),
                shipment_id: s("sh-1042"),
                carrier: s("dhl"),
                tracking_number: s("JD014600006281230704"),
            }
            .into(),
            stamp(SHIPPING, 1042, 8, Some(7)),
        ),
        EventType::NotificationSent => (
            NotificationSent {
                notification_id: s("n-1042-6"),
                order_id: s("o-1042"),
                customer_id: s("c-77"),
                channel: NotificationChannel::Email,
                trigger: EventType::OrderConfirmed,
                template: s("order_confirmed"),
            }
            .into(),
            stamp(NOTIFICATION, 1042, 9, Some(6)),
        ),
        EventType::MetricUpdated => (
            MetricUpdated {
                name: s("orders_confirmed_per_second"),
                value: 287.5,
                unit: s("1/s"),
                window_secs: 10,
                labels: BTreeMap::from([(s("topic"), s("orders"))]),
            }
            .into(),
            Stamp {
                key: Some("orders_confirmed_per_second"),
                seq: 318,
                ..stamp(ANALYTICS, 1042, 10, Some(6))
            },
        ),
        EventType::AlertTriggered => (
            AlertTriggered {
                name: s("low_stock"),
                severity: Severity::Warning,
                metric: s("stock_available"),
                observed: 8.0,
                threshold: 10.0,
                subject: Some(s("sku-3")),
                message: s("sku-3 has 8 units available, below the threshold of 10"),
            }
            .into(),
            Stamp {
                key: Some("low_stock"),
                seq: 3,
                ..stamp(ANALYTICS, 1042, 11, Some(4))
            },
        ),
        EventType::StockRejected => (
            StockRejected {
                order_id: s("o-1043"),
                customer_id: s("c-5"),
                sku: s("sku-9"),
                requested: 3,
                available: 1,
                reason: StockRejectionReason::InsufficientStock,
            }
            .into(),
            stamp(INVENTORY, 1043, 2, Some(1)),
        ),
        EventType::PaymentFailed => (
            PaymentFailed {
                order_id: s("o-1044"),
                customer_id: s("c-31"),
                sku: s("sku-1"),
                quantity: 1,
                amount_cents: 12_900,
                currency: Currency::Gbp,
                reason: PaymentFailureReason::Declined,
                detail: s("card declined: insufficient funds"),
                idempotency_key: s("pay-o-1044"),
                attempts: 1,
            }
            .into(),
            Stamp {
                instance: 1,
                ..stamp(PAYMENT, 1044, 3, Some(2))
            },
        ),
        EventType::StockReleased => (
            StockReleased {
                order_id: s("o-1044"),
                customer_id: s("c-31"),
                sku: s("sku-1"),
                quantity: 1,
                available_after: 40,
                payment_failure: PaymentFailureReason::Declined,
            }
            .into(),
            stamp(INVENTORY, 1044, 4, Some(3)),
        ),
        EventType::OrderCancelled => (
            OrderCancelled {
                order_id: s("o-1044"),
                customer_id: s("c-31"),
                reason: CancellationReason::PaymentFailed,
                detail: s("payment declined: card declined: insufficient funds"),
            }
            .into(),
            stamp(ORDER, 1044, 5, Some(4)),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_read_as_their_order_and_step() {
        assert_eq!(
            id(1042, 11).to_string(),
            "00001042-0000-4000-8000-000000000011"
        );
    }

    #[test]
    fn examples_are_of_their_type_emitted_by_their_service() {
        for t in EventType::ALL {
            let envelope = example(t);
            assert_eq!(envelope.event_type, t.as_str());
            assert_eq!(envelope.source.service, t.emitted_by(), "{t}");
            assert_eq!(example_event(t).event_type(), t);
        }
    }
}
