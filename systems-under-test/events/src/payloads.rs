//! One payload struct per event type, plus the small enums they use.
//!
//! Conventions shared by every payload:
//! - ids are strings as the services mint them (`o-1042`, `c-77`, `sku-3`, `ch-…`);
//! - money is an integer number of minor units (`amount_cents`) plus a [`Currency`];
//! - stock levels are **signed** (`i64`): a broken delivery guarantee that oversells must
//!   show up as a negative number the checker can see, not be clamped at zero;
//! - payloads reject unknown fields, so a typo or a foreign producer is a decode error
//!   rather than silently dropped data. (`MetricUpdated.labels` is the open-ended part.)
//! - `Option` fields are written as `null`, never omitted, so every payload of a type has
//!   the same keys.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::event::EventType;

/// ISO 4217 currency of an amount. The platform sells in three.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Currency {
    #[serde(rename = "EUR")]
    Eur,
    #[serde(rename = "USD")]
    Usd,
    #[serde(rename = "GBP")]
    Gbp,
}

/// Where an order came from (`OrderPlaced` v2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SalesChannel {
    Web,
    Mobile,
    Api,
}

/// The currency a v1 `OrderPlaced` is upcast with: v1 predates multi-currency, and
/// every v1 order was priced in euros.
pub const V1_DEFAULT_CURRENCY: Currency = Currency::Eur;
/// The sales channel a v1 `OrderPlaced` is upcast with: v1 predates the mobile app and
/// the public API, so every v1 order came through the web shop.
pub const V1_DEFAULT_CHANNEL: SalesChannel = SalesChannel::Web;

/// A customer placed an order (current schema, version 2). Exactly one line: one sku.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderPlaced {
    pub order_id: String,
    pub customer_id: String,
    pub sku: String,
    pub quantity: u32,
    /// Total price of the line, in minor units of `currency`.
    pub amount_cents: u64,
    /// Added in v2.
    pub currency: Currency,
    /// Added in v2.
    pub channel: SalesChannel,
}

/// `OrderPlaced` as schema version 1 wrote it. Decoding upcasts it to [`OrderPlaced`]
/// with [`V1_DEFAULT_CURRENCY`] and [`V1_DEFAULT_CHANNEL`]; producers write it only to
/// exercise the upcaster (`Envelope::new_v1_order_placed`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderPlacedV1 {
    pub order_id: String,
    pub customer_id: String,
    pub sku: String,
    pub quantity: u32,
    pub amount_cents: u64,
}

impl From<OrderPlacedV1> for OrderPlaced {
    /// The upcast: v1 fields carried over, v2 additions set to their documented defaults.
    fn from(v1: OrderPlacedV1) -> Self {
        OrderPlaced {
            order_id: v1.order_id,
            customer_id: v1.customer_id,
            sku: v1.sku,
            quantity: v1.quantity,
            amount_cents: v1.amount_cents,
            currency: V1_DEFAULT_CURRENCY,
            channel: V1_DEFAULT_CHANNEL,
        }
    }
}

/// Payment captured: the order is accepted for fulfilment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderConfirmed {
    pub order_id: String,
    pub customer_id: String,
    /// The line, carried so shipping can build the shipment from this event alone.
    pub sku: String,
    pub quantity: u32,
    pub amount_cents: u64,
    pub currency: Currency,
    /// The gateway charge that paid for the order (from `PaymentCaptured`).
    pub charge_id: String,
}

/// Why an order was cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CancellationReason {
    /// Inventory could not reserve the line (`StockRejected`).
    StockRejected,
    /// The charge failed and the reservation was released (`StockReleased`).
    PaymentFailed,
}

/// The order will not be fulfilled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderCancelled {
    pub order_id: String,
    pub customer_id: String,
    pub reason: CancellationReason,
    /// Human-readable detail for support and notifications (`"payment declined"`).
    pub detail: String,
}

/// The parcel left the warehouse; the last event of a fulfilled order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderShipped {
    pub order_id: String,
    pub customer_id: String,
    pub shipment_id: String,
    pub carrier: String,
    pub tracking_number: String,
}

/// Inventory reserved the order's line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StockReserved {
    pub order_id: String,
    pub customer_id: String,
    pub sku: String,
    pub quantity: u32,
    /// The amount to charge, carried from `OrderPlaced` so the payment service can act on
    /// this event alone (services never call each other).
    pub amount_cents: u64,
    pub currency: Currency,
    /// Units of `sku` still available after this reservation.
    pub available_after: i64,
}

/// Why inventory refused a reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StockRejectionReason {
    /// Fewer units available than requested.
    InsufficientStock,
    /// The sku is not in the catalog.
    UnknownSku,
}

/// Inventory could not reserve the order's line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StockRejected {
    pub order_id: String,
    pub customer_id: String,
    pub sku: String,
    /// The quantity the order asked for.
    pub requested: u32,
    /// Units available when the request was refused.
    pub available: i64,
    pub reason: StockRejectionReason,
}

/// Why the payment of an order failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentFailureReason {
    /// The gateway (the card issuer) refused the charge.
    Declined,
    /// The gateway kept failing or timing out until the retries ran out.
    GatewayUnavailable,
    /// The circuit breaker around the gateway was open; no charge was attempted.
    CircuitOpen,
}

/// Saga compensation: the reservation of an order whose payment failed was given back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StockReleased {
    pub order_id: String,
    pub customer_id: String,
    pub sku: String,
    pub quantity: u32,
    /// Units of `sku` available after the release.
    pub available_after: i64,
    /// Why the payment failed, carried from `PaymentFailed` so the order service can
    /// explain the cancellation from this event alone.
    pub payment_failure: PaymentFailureReason,
}

/// A sku's stock level changed (reservation, release or restock).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StockUpdated {
    pub sku: String,
    /// The order that caused the change; `null` for a restock.
    pub order_id: Option<String>,
    /// Change of available units: negative for a reservation, positive for a release.
    pub delta: i64,
    pub available_after: i64,
    /// Units held by reservations not yet paid or released.
    pub reserved_after: i64,
}

/// A sku's available stock dropped below the inventory service's threshold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LowStockAlert {
    pub sku: String,
    pub available_after: i64,
    /// The threshold crossed (configured in the inventory service).
    pub threshold: i64,
    /// The order whose reservation crossed the threshold; `null` if none did.
    pub order_id: Option<String>,
}

/// The gateway charged the customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentCaptured {
    pub order_id: String,
    pub customer_id: String,
    pub amount_cents: u64,
    pub currency: Currency,
    /// The gateway's id for the charge; the harness counts charges per order with it.
    pub charge_id: String,
    /// The idempotency key sent to the gateway, derived from the order id, so a retry or
    /// a redelivery cannot charge twice when the service uses it.
    pub idempotency_key: String,
    /// Gateway calls made for this charge, retries included (1 = first try).
    pub attempts: u32,
}

/// The charge failed; inventory must release the reservation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentFailed {
    pub order_id: String,
    pub customer_id: String,
    /// The reserved line, carried from `StockReserved` so inventory can compensate from
    /// this event alone.
    pub sku: String,
    pub quantity: u32,
    pub amount_cents: u64,
    pub currency: Currency,
    pub reason: PaymentFailureReason,
    /// The gateway's or the breaker's message.
    pub detail: String,
    pub idempotency_key: String,
    /// Gateway calls made, retries included (0 when the circuit was open).
    pub attempts: u32,
}

/// Shipping created a shipment for a confirmed order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShipmentCreated {
    pub order_id: String,
    pub customer_id: String,
    pub shipment_id: String,
    pub sku: String,
    pub quantity: u32,
    pub carrier: String,
}

/// How a notification reached the customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationChannel {
    Email,
    Sms,
    Push,
}

/// A customer was told about an order, inventory or payment outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationSent {
    pub notification_id: String,
    pub order_id: String,
    pub customer_id: String,
    pub channel: NotificationChannel,
    /// The event type the notification is about (`"PaymentFailed"`).
    pub trigger: EventType,
    /// The message template used (`"order_confirmed"`).
    pub template: String,
}

/// Analytics published a live metric's current value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricUpdated {
    /// Metric name (`"orders_confirmed_per_second"`).
    pub name: String,
    /// Must be finite: JSON has no NaN or infinity, and a non-finite value would be
    /// written as `null` and fail to decode.
    pub value: f64,
    /// Unit of `value` (`"1/s"`, `"ms"`, `"ratio"`, `"count"`).
    pub unit: String,
    /// Length of the sliding window the value is computed over, in seconds.
    pub window_secs: u32,
    /// Dimensions of the metric (`{"topic": "orders"}`); may be empty.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// How urgent an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

/// Analytics raised an alert: a metric crossed a threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertTriggered {
    /// Alert name (`"low_stock"`, `"payment_failure_rate"`).
    pub name: String,
    pub severity: Severity,
    /// The metric that crossed the threshold.
    pub metric: String,
    /// The metric's value when the alert fired (finite, as in `MetricUpdated`).
    pub observed: f64,
    pub threshold: f64,
    /// What the alert is about (a sku, a topic); `null` for platform-wide alerts.
    pub subject: Option<String>,
    pub message: String,
}
