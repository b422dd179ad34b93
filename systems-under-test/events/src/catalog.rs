//! What each event type means and who uses it: emitter, consumers, ordering key and a
//! description of every payload field. The docs are rendered from this table
//! ([`crate::catalog_markdown`]), and a test checks the field lists against the
//! payloads the examples actually serialize, so the table cannot drift from the structs.

use crate::event::EventType;

/// The catalog entry of one event type.
#[derive(Debug)]
pub struct EventSpec {
    pub event_type: EventType,
    /// One sentence: what happened.
    pub summary: &'static str,
    /// The service that emits it, as written in `Source::service`.
    pub emitted_by: &'static str,
    /// The services that subscribe to it and act on it. The harness tap reads every
    /// topic and is not listed.
    pub consumed_by: &'static [&'static str],
    /// Services whose read model (CQRS projection) follows it without their consumer
    /// group acting on it: it is not one of their subscriptions.
    pub projected_by: &'static [&'static str],
    /// What the emitter writes in `Envelope::key` (and so the Kafka partition key).
    pub key: &'static str,
    /// The payload's fields at the current schema version, in struct order.
    pub fields: &'static [FieldSpec],
}

/// One payload field in the catalog.
#[derive(Debug)]
pub struct FieldSpec {
    pub name: &'static str,
    /// The JSON type, with the allowed values of enums (`"web" | "mobile" | "api"`).
    pub ty: &'static str,
    pub doc: &'static str,
}

/// The service names used in `Source::service` and in the catalog.
pub mod service {
    pub const ORDER: &str = "order";
    pub const INVENTORY: &str = "inventory";
    pub const PAYMENT: &str = "payment";
    pub const SHIPPING: &str = "shipping";
    pub const NOTIFICATION: &str = "notification";
    pub const ANALYTICS: &str = "analytics";
}

use service::{ANALYTICS, INVENTORY, NOTIFICATION, ORDER, PAYMENT, SHIPPING};

const fn f(name: &'static str, ty: &'static str, doc: &'static str) -> FieldSpec {
    FieldSpec { name, ty, doc }
}

const ORDER_ID: FieldSpec = f(
    "order_id",
    "string",
    "The order (`o-1042`); also the envelope's `key` and `correlation_id`.",
);
const CUSTOMER_ID: FieldSpec = f("customer_id", "string", "The customer (`c-77`).");
const SKU: FieldSpec = f(
    "sku",
    "string",
    "The order's single line: the stock-keeping unit.",
);
const QUANTITY: FieldSpec = f("quantity", "u32", "Units of `sku` in the line (≥ 1).");
const AMOUNT: FieldSpec = f(
    "amount_cents",
    "u64",
    "Price of the line in minor units of `currency`.",
);
const CURRENCY: FieldSpec = f("currency", "\"EUR\" | \"USD\" | \"GBP\"", "ISO 4217 code.");
const IDEMPOTENCY_KEY: FieldSpec = f(
    "idempotency_key",
    "string",
    "Key sent to the payment gateway, derived from the order id, so a retry or redelivery cannot charge twice when the service uses it.",
);
const PAYMENT_FAILURE: &str = "\"declined\" | \"gateway_unavailable\" | \"circuit_open\"";
const BY_ORDER: &str = "order id";

/// `OrderPlaced` schema version 1, still accepted by the decoder.
pub const ORDER_PLACED_V1_FIELDS: &[FieldSpec] = &[
    ORDER_ID,
    CUSTOMER_ID,
    SKU,
    QUANTITY,
    f(
        "amount_cents",
        "u64",
        "Price of the line in euro cents (v1 has no currency).",
    ),
];

static SPECS: [EventSpec; EventType::ALL.len()] = [
    EventSpec {
        event_type: EventType::OrderPlaced,
        summary: "A customer placed an order (`POST /orders`, or the harness's direct driver).",
        emitted_by: ORDER,
        consumed_by: &[INVENTORY, NOTIFICATION, ANALYTICS],
        projected_by: &[],
        key: BY_ORDER,
        fields: &[
            ORDER_ID,
            CUSTOMER_ID,
            SKU,
            QUANTITY,
            AMOUNT,
            f(
                "currency",
                "\"EUR\" | \"USD\" | \"GBP\"",
                "ISO 4217 code. Added in v2.",
            ),
            f(
                "channel",
                "\"web\" | \"mobile\" | \"api\"",
                "Where the order came from. Added in v2.",
            ),
        ],
    },
    EventSpec {
        event_type: EventType::OrderConfirmed,
        summary: "The payment was captured; the order will be fulfilled. One of the two order outcomes.",
        emitted_by: ORDER,
        consumed_by: &[SHIPPING, NOTIFICATION, ANALYTICS],
        projected_by: &[],
        key: BY_ORDER,
        fields: &[
            ORDER_ID,
            CUSTOMER_ID,
            f(
                "sku",
                "string",
                "The line, carried so shipping needs no other event.",
            ),
            QUANTITY,
            AMOUNT,
            CURRENCY,
            f(
                "charge_id",
                "string",
                "The gateway charge that paid (from `PaymentCaptured`).",
            ),
        ],
    },
    EventSpec {
        event_type: EventType::OrderCancelled,
        summary: "The order will not be fulfilled: stock was rejected, or the payment failed and the stock was released. One of the two order outcomes, and terminal.",
        emitted_by: ORDER,
        consumed_by: &[NOTIFICATION, ANALYTICS],
        projected_by: &[],
        key: BY_ORDER,
        fields: &[
            ORDER_ID,
            CUSTOMER_ID,
            f(
                "reason",
                "\"stock_rejected\" | \"payment_failed\"",
                "Which saga step ended the order.",
            ),
            f(
                "detail",
                "string",
                "Human-readable detail (`\"payment declined\"`).",
            ),
        ],
    },
    EventSpec {
        event_type: EventType::StockReserved,
        summary: "Inventory reserved the order's line.",
        emitted_by: INVENTORY,
        consumed_by: &[PAYMENT, ANALYTICS],
        projected_by: &[],
        key: BY_ORDER,
        fields: &[
            ORDER_ID,
            CUSTOMER_ID,
            SKU,
            QUANTITY,
            f(
                "amount_cents",
                "u64",
                "The amount to charge, carried from `OrderPlaced` so payment needs no other event.",
            ),
            CURRENCY,
            f(
                "available_after",
                "i64",
                "Units of `sku` still available after the reservation (signed: overselling shows as negative).",
            ),
        ],
    },
    EventSpec {
        event_type: EventType::StockRejected,
        summary: "Inventory could not reserve the order's line.",
        emitted_by: INVENTORY,
        consumed_by: &[ORDER, NOTIFICATION, ANALYTICS],
        projected_by: &[],
        key: BY_ORDER,
        fields: &[
            ORDER_ID,
            CUSTOMER_ID,
            SKU,
            f("requested", "u32", "The quantity the order asked for."),
            f(
                "available",
                "i64",
                "Units available when the request was refused.",
            ),
            f(
                "reason",
                "\"insufficient_stock\" | \"unknown_sku\"",
                "Why it was refused.",
            ),
        ],
    },
    EventSpec {
        event_type: EventType::StockReleased,
        summary: "Saga compensation: the payment failed, so the order's reservation was given back.",
        emitted_by: INVENTORY,
        consumed_by: &[ORDER, ANALYTICS],
        projected_by: &[],
        key: BY_ORDER,
        fields: &[
            ORDER_ID,
            CUSTOMER_ID,
            SKU,
            QUANTITY,
            f(
                "available_after",
                "i64",
                "Units of `sku` available after the release.",
            ),
            f(
                "payment_failure",
                PAYMENT_FAILURE,
                "Why the payment failed, carried from `PaymentFailed`.",
            ),
        ],
    },
    EventSpec {
        event_type: EventType::StockUpdated,
        summary: "A sku's stock level changed (reservation, release or restock).",
        emitted_by: INVENTORY,
        consumed_by: &[ANALYTICS],
        projected_by: &[],
        key: "order id (the sku for a restock)",
        fields: &[
            f("sku", "string", "The sku whose level changed."),
            f(
                "order_id",
                "string | null",
                "The order that caused the change; null for a restock.",
            ),
            f(
                "delta",
                "i64",
                "Change of available units: negative for a reservation, positive for a release.",
            ),
            f(
                "available_after",
                "i64",
                "Units available after the change.",
            ),
            f(
                "reserved_after",
                "i64",
                "Units held by reservations not yet paid or released.",
            ),
        ],
    },
    EventSpec {
        event_type: EventType::LowStockAlert,
        summary: "A sku's available stock dropped below the inventory service's threshold.",
        emitted_by: INVENTORY,
        consumed_by: &[ANALYTICS],
        projected_by: &[],
        key: "order id (the sku for a restock)",
        fields: &[
            f("sku", "string", "The sku running low."),
            f(
                "available_after",
                "i64",
                "Units available after the change that crossed the threshold.",
            ),
            f(
                "threshold",
                "i64",
                "The threshold crossed (inventory configuration).",
            ),
            f(
                "order_id",
                "string | null",
                "The order whose reservation crossed it, if any.",
            ),
        ],
    },
    EventSpec {
        event_type: EventType::PaymentCaptured,
        summary: "The payment gateway charged the customer.",
        emitted_by: PAYMENT,
        consumed_by: &[ORDER, NOTIFICATION, ANALYTICS],
        projected_by: &[],
        key: BY_ORDER,
        fields: &[
            ORDER_ID,
            CUSTOMER_ID,
            AMOUNT,
            CURRENCY,
            f(
                "charge_id",
                "string",
                "The gateway's id for the charge (the harness counts charges per order).",
            ),
            IDEMPOTENCY_KEY,
            f(
                "attempts",
                "u32",
                "Gateway calls made, retries included (1 = first try).",
            ),
        ],
    },
    EventSpec {
        event_type: EventType::PaymentFailed,
        summary: "The charge failed (declined, gateway down after retries, or circuit open); inventory must compensate.",
        emitted_by: PAYMENT,
        consumed_by: &[INVENTORY, NOTIFICATION, ANALYTICS],
        projected_by: &[],
        key: BY_ORDER,
        fields: &[
            ORDER_ID,
            CUSTOMER_ID,
            f(
                "sku",
                "string",
                "The reserved line, carried so inventory can release it from this event alone.",
            ),
            QUANTITY,
            AMOUNT,
            CURRENCY,
            f("reason", PAYMENT_FAILURE, "Why the charge failed."),
            f(
                "detail",
                "string",
                "The gateway's or the circuit breaker's message.",
            ),
            IDEMPOTENCY_KEY,
            f(
                "attempts",
                "u32",
                "Gateway calls made, retries included (0 when the circuit was open).",
            ),
        ],
    },
    EventSpec {
        event_type: EventType::ShipmentCreated,
        summary: "Shipping created a shipment for a confirmed order.",
        emitted_by: SHIPPING,
        consumed_by: &[ANALYTICS],
        projected_by: &[],
        key: BY_ORDER,
        fields: &[
            ORDER_ID,
            CUSTOMER_ID,
            f("shipment_id", "string", "The shipment (`sh-1042`)."),
            SKU,
            QUANTITY,
            f("carrier", "string", "The carrier booked (`dhl`)."),
        ],
    },
    EventSpec {
        event_type: EventType::OrderShipped,
        summary: "The parcel left the warehouse. Terminal: the last event of a fulfilled order.",
        emitted_by: SHIPPING,
        consumed_by: &[ANALYTICS],
        projected_by: &[ORDER],
        key: BY_ORDER,
        fields: &[
            ORDER_ID,
            CUSTOMER_ID,
            f(
                "shipment_id",
                "string",
                "The shipment from `ShipmentCreated`.",
            ),
            f("carrier", "string", "The carrier."),
            f(
                "tracking_number",
                "string",
                "The carrier's tracking number.",
            ),
        ],
    },
    EventSpec {
        event_type: EventType::NotificationSent,
        summary: "The customer was told about an order, inventory or payment outcome.",
        emitted_by: NOTIFICATION,
        consumed_by: &[ANALYTICS],
        projected_by: &[],
        key: BY_ORDER,
        fields: &[
            f("notification_id", "string", "The notification (`n-…`)."),
            ORDER_ID,
            CUSTOMER_ID,
            f(
                "channel",
                "\"email\" | \"sms\" | \"push\"",
                "How the customer was reached.",
            ),
            f(
                "trigger",
                "event type name",
                "The event the notification is about (`\"OrderConfirmed\"`).",
            ),
            f(
                "template",
                "string",
                "The message template used (`\"order_confirmed\"`).",
            ),
        ],
    },
    EventSpec {
        event_type: EventType::MetricUpdated,
        summary: "Analytics published a live metric's current value.",
        emitted_by: ANALYTICS,
        consumed_by: &[],
        projected_by: &[],
        key: "metric name",
        fields: &[
            f(
                "name",
                "string",
                "Metric name (`\"orders_confirmed_per_second\"`).",
            ),
            f(
                "value",
                "f64",
                "Current value; always finite (JSON has no NaN).",
            ),
            f(
                "unit",
                "string",
                "Unit of `value` (`\"1/s\"`, `\"ms\"`, `\"ratio\"`, `\"count\"`).",
            ),
            f(
                "window_secs",
                "u32",
                "Sliding window the value is computed over, in seconds.",
            ),
            f(
                "labels",
                "object of strings",
                "Dimensions (`{\"topic\": \"orders\"}`); may be empty or omitted.",
            ),
        ],
    },
    EventSpec {
        event_type: EventType::AlertTriggered,
        summary: "Analytics raised an alert: a metric crossed a threshold (e.g. after a `LowStockAlert`).",
        emitted_by: ANALYTICS,
        consumed_by: &[],
        projected_by: &[],
        key: "alert name",
        fields: &[
            f(
                "name",
                "string",
                "Alert name (`\"low_stock\"`, `\"payment_failure_rate\"`).",
            ),
            f(
                "severity",
                "\"info\" | \"warning\" | \"critical\"",
                "How urgent it is.",
            ),
            f("metric", "string", "The metric that crossed the threshold."),
            f(
                "observed",
                "f64",
                "The metric's value when the alert fired (finite).",
            ),
            f("threshold", "f64", "The threshold crossed."),
            f(
                "subject",
                "string | null",
                "What it is about (a sku, a topic); null for platform-wide alerts.",
            ),
            f("message", "string", "Human-readable summary."),
        ],
    },
];

impl EventType {
    /// This event type's catalog entry.
    pub fn spec(self) -> &'static EventSpec {
        // SPECS is in EventType::ALL order; the test below holds it to that.
        &SPECS[self as usize]
    }

    /// The service that emits this event type (`"inventory"`), as in `Source::service`.
    pub fn emitted_by(self) -> &'static str {
        self.spec().emitted_by
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_are_in_event_type_order() {
        for t in EventType::ALL {
            assert_eq!(t.spec().event_type, t);
        }
    }
}
