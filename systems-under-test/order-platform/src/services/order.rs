//! `order`: the HTTP API (`POST /orders`, `GET /orders/{id}`) and the saga's end: it
//! confirms an order when its payment is captured and cancels it when stock was
//! rejected or released. `GET /orders/{id}` reads the event-sourced read model, which a
//! projection keeps up to date from every order-flow topic.
//!
//! The saga decides from the order's own event-sourced state, kept consistent with what
//! this service has written and consumed, not only with what the projection has read
//! so far: an accepted order is in the store as soon as its `OrderPlaced` is
//! acknowledged (read your writes), and every event the saga consumes is folded in
//! before it decides. A payment for an order still unknown (an instance restarted, its
//! projection replaying the log) is early, not failed: [`Failure::NotYet`] parks it.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use events::{
    CancellationReason, Currency, Envelope, Event, OrderCancelled, OrderConfirmed, OrderPlaced,
    OrderPlacedV1, SalesChannel, Source,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio::sync::{Mutex, watch};
use uuid::Uuid;

use super::inventory::Catalog;
use super::order_model::OrderStore;
use super::runner::{Decision, Failure, Handler, StateView};
use crate::bus::{BusConfig, Outgoing, Producer};
use crate::http::error;
use crate::metrics::{Metrics, OutcomeLabels};

/// Largest accepted request body.
pub const MAX_BODY: usize = 16 * 1024;
/// Largest quantity in one order.
pub const MAX_QUANTITY: u32 = 1000;

/// `POST /orders` body.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewOrder {
    /// Optional: a client-chosen id makes the request idempotent (same id, same event).
    #[serde(default)]
    pub order_id: Option<String>,
    pub customer_id: String,
    pub sku: String,
    pub quantity: u32,
    /// Defaults to the SKU's list price times the quantity.
    #[serde(default)]
    pub amount_cents: Option<u64>,
    #[serde(default)]
    pub currency: Option<Currency>,
    #[serde(default)]
    pub channel: Option<SalesChannel>,
    /// 1 publishes an `OrderPlaced` v1 (to exercise consumers' upcasting); default 2.
    #[serde(default)]
    pub schema_version: Option<u32>,
}

/// `POST /orders` answer (201).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Accepted {
    pub order_id: String,
    pub event_id: Uuid,
    /// Where the broker stored it (Redis entry id, or `partition:offset`).
    pub position: String,
}

/// The id of the `OrderPlaced` for an order: derived from the order id, so a retried
/// request publishes the same event.
pub fn order_placed_id(order_id: &str) -> Uuid {
    Uuid::new_v5(
        &Uuid::NAMESPACE_OID,
        format!("OrderPlaced:{order_id}").as_bytes(),
    )
}

/// List price of a SKU, in cents.
pub fn price_cents(sku: &str) -> u64 {
    let n: u64 = sku
        .strip_prefix("sku-")
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    1000 + 25 * (n % 40)
}

#[derive(Clone)]
struct Api {
    producer: Producer,
    catalog: Catalog,
    source: Source,
    store: Arc<Mutex<OrderStore>>,
    metrics: Metrics,
}

fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

async fn place(State(api): State<Api>, body: Result<Json<NewOrder>, JsonRejection>) -> Response {
    let count = |outcome: &str| {
        api.metrics
            .http_requests
            .get_or_create(&OutcomeLabels {
                outcome: outcome.into(),
            })
            .inc();
    };
    let Json(order) = match body {
        Ok(body) => body,
        Err(rejection) => {
            count("rejected");
            return error(rejection.status(), "malformed", rejection.body_text());
        }
    };
    let invalid = |detail: String| {
        count("rejected");
        error(StatusCode::UNPROCESSABLE_ENTITY, "invalid", detail)
    };
    if !valid_id(&order.customer_id) {
        return invalid("customer_id: 1 to 64 letters, digits, '-' or '_'".into());
    }
    if !api.catalog.knows(&order.sku) {
        return invalid(format!(
            "unknown sku `{}` (the catalog has sku-0 .. sku-{})",
            order.sku,
            api.catalog.skus.saturating_sub(1)
        ));
    }
    if !(1..=MAX_QUANTITY).contains(&order.quantity) {
        return invalid(format!(
            "quantity {}: must be 1 to {MAX_QUANTITY}",
            order.quantity
        ));
    }
    let order_id = match order.order_id {
        Some(id) if valid_id(&id) => id,
        Some(_) => return invalid("order_id: 1 to 64 letters, digits, '-' or '_'".into()),
        None => format!("o-{}", Uuid::new_v4().simple()),
    };
    let amount_cents = order
        .amount_cents
        .unwrap_or(price_cents(&order.sku) * u64::from(order.quantity));
    let event_id = order_placed_id(&order_id);
    let now = OffsetDateTime::now_utc();
    let envelope = match order.schema_version.unwrap_or(2) {
        1 => Envelope::new_v1_order_placed(
            &OrderPlacedV1 {
                order_id: order_id.clone(),
                customer_id: order.customer_id,
                sku: order.sku,
                quantity: order.quantity,
                amount_cents,
            },
            api.source.clone(),
            order_id.clone(),
            1,
            order_id.clone(),
            None,
            now,
            event_id,
        ),
        2 => Envelope::new(
            &Event::OrderPlaced(OrderPlaced {
                order_id: order_id.clone(),
                customer_id: order.customer_id,
                sku: order.sku,
                quantity: order.quantity,
                amount_cents,
                currency: order.currency.unwrap_or(Currency::Eur),
                channel: order.channel.unwrap_or(SalesChannel::Api),
            }),
            api.source.clone(),
            order_id.clone(),
            1,
            order_id.clone(),
            None,
            now,
            event_id,
        ),
        other => {
            return invalid(format!(
                "schema_version {other}: OrderPlaced has versions 1 and 2"
            ));
        }
    };
    let payload = match envelope.to_bytes() {
        Ok(p) => p,
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()),
    };
    let message = Outgoing {
        topic: "orders".into(),
        key: order_id.clone(),
        payload,
    };
    match api.producer.publish(message).await {
        Ok(position) => {
            // Read your writes: the saga knows the order from now on, whatever the
            // projection has read.
            if let Ok(event) = envelope.decode() {
                api.store.lock().await.append(envelope, event);
            }
            count("accepted");
            api.metrics.published.inc();
            (
                StatusCode::CREATED,
                Json(Accepted {
                    order_id,
                    event_id,
                    position,
                }),
            )
                .into_response()
        }
        Err(e) => {
            count("unavailable");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                format!("the order was not accepted: {e}"),
            )
        }
    }
}

async fn get_order(State(api): State<Api>, Path(order_id): Path<String>) -> Response {
    match api.store.lock().await.get(&order_id) {
        Some(view) => Json(view).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no order {order_id} (yet)"),
        ),
    }
}

#[derive(Serialize)]
struct Summary {
    orders: usize,
    snapshots_taken: u64,
}

async fn list(State(api): State<Api>) -> Json<Summary> {
    let store = api.store.lock().await;
    Json(Summary {
        orders: store.len(),
        snapshots_taken: store.snapshots_taken(),
    })
}

/// The order service's routes.
pub fn router(
    producer: Producer,
    catalog: Catalog,
    source: Source,
    store: Arc<Mutex<OrderStore>>,
    metrics: Metrics,
) -> Router {
    Router::new()
        .route("/orders", post(place).get(list))
        .route("/orders/{order_id}", get(get_order))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(Api {
            producer,
            catalog,
            source,
            store,
            metrics,
        })
}

/// Keeps the read model up to date from the event log, until shutdown.
pub async fn project(
    bus: BusConfig,
    store: Arc<Mutex<OrderStore>>,
    shutdown: watch::Receiver<bool>,
) {
    let topics = ["orders", "inventory", "payments", "shipping"];
    super::projection::follow(bus, &topics, "orders", shutdown, |batch| {
        let store = store.clone();
        async move {
            let mut store = store.lock().await;
            for d in batch {
                let Ok(envelope) = Envelope::from_bytes(&d.payload) else {
                    continue;
                };
                let Ok(event) = envelope.decode() else {
                    continue;
                };
                store.append(envelope, event);
            }
        }
    })
    .await;
}

/// Confirms or cancels orders from the outcomes of inventory and payment.
#[derive(Debug)]
pub struct OrderSaga {
    pub store: Arc<Mutex<OrderStore>>,
}

impl Handler for OrderSaga {
    fn topics(&self) -> Vec<&'static str> {
        super::subscriptions(events::Service::Order)
    }

    async fn handle(
        &mut self,
        input: &Envelope,
        event: &Event,
        _state: &mut StateView<'_>,
    ) -> Result<Decision, Failure> {
        // What the saga consumed is part of the order's state (the store ignores an
        // event it already has), so it never decides on less than it has read.
        self.store.lock().await.append(input.clone(), event.clone());
        let cancel = |order_id: &str, customer_id: &str, reason, detail: String| {
            Event::OrderCancelled(OrderCancelled {
                order_id: order_id.into(),
                customer_id: customer_id.into(),
                reason,
                detail,
            })
        };
        Ok(match event {
            Event::StockRejected(r) => Decision::emit([cancel(
                &r.order_id,
                &r.customer_id,
                CancellationReason::StockRejected,
                format!(
                    "{:?}: {} requested, {} available",
                    r.reason, r.requested, r.available
                ),
            )]),
            Event::StockReleased(r) => Decision::emit([cancel(
                &r.order_id,
                &r.customer_id,
                CancellationReason::PaymentFailed,
                format!("payment failed ({:?}); stock released", r.payment_failure),
            )]),
            Event::PaymentCaptured(p) => {
                // The order's line comes from its state (its OrderPlaced or StockReserved);
                // if neither has been read yet the payment is early: it waits.
                let view = self.store.lock().await.get(&p.order_id);
                let Some((sku, quantity)) = view.and_then(|v| Some((v.sku?, v.quantity?))) else {
                    return Err(Failure::NotYet(format!(
                        "order {} not in the order's state yet",
                        p.order_id
                    )));
                };
                Decision::emit([Event::OrderConfirmed(OrderConfirmed {
                    order_id: p.order_id.clone(),
                    customer_id: p.customer_id.clone(),
                    sku,
                    quantity,
                    amount_cents: p.amount_cents,
                    currency: p.currency,
                    charge_id: p.charge_id.clone(),
                })])
            }
            _ => Decision::none(),
        })
    }
}
