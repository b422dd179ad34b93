//! The `direct` driver (orders produced straight to the bus as `OrderPlaced`, for
//! broker-level benchmarking: no HTTP in the path) and poison injection (undecodable
//! messages on the orders topic, to exercise dead-lettering).

use std::sync::Arc;
use std::time::Duration;

use check::SendOutcome;
use events::{Currency, Envelope, Event, OrderPlaced, SalesChannel, Source};
use order_platform::bus::{BusConfig, Outgoing, Producer};
use order_platform::services::order::{order_placed_id, price_cents};

use super::{PlannedOrder, open_loop};
use crate::journal::Recorder;
use crate::stop::Stop;

fn envelope(order: &PlannedOrder) -> Envelope {
    let event = Event::OrderPlaced(OrderPlaced {
        order_id: order.order_id.clone(),
        customer_id: order.customer_id.clone(),
        sku: order.sku.clone(),
        quantity: order.quantity,
        amount_cents: price_cents(&order.sku) * u64::from(order.quantity),
        currency: Currency::Eur,
        channel: SalesChannel::Api,
    });
    let source = Source {
        service: "harness".into(),
        instance: 0,
    };
    let id = order_placed_id(&order.order_id);
    Envelope::new(
        &event,
        source,
        order.order_id.clone(),
        1,
        order.order_id.clone(),
        None,
        time::OffsetDateTime::now_utc(),
        id,
    )
}

/// Produces each order's `OrderPlaced` to the logical topic `input` at its intended
/// time; the broker's ack is the order's acknowledgement.
pub async fn run(
    orders: Vec<PlannedOrder>,
    bus: BusConfig,
    input: String,
    recorder: Arc<Recorder>,
    stop: Stop,
) {
    let producer = match Producer::connect(&bus).await {
        Ok(p) => p,
        Err(e) => {
            eprintln!("harness: the direct driver cannot connect to the bus: {e}");
            return;
        }
    };
    open_loop(orders, recorder, stop, |order, recorder| {
        let producer = producer.clone();
        let payload = envelope(&order).to_bytes().unwrap_or_default();
        let message = Outgoing {
            topic: input.clone(),
            key: order.order_id.clone(),
            payload,
        };
        async move {
            match producer.publish(message).await {
                Ok(_) => (SendOutcome::Acked, Some(recorder.now_us()), None),
                Err(e) => (SendOutcome::Error, None, Some(e.to_string())),
            }
        }
    })
    .await;
}

/// Publishes `count` undecodable messages on the logical topic `input`, evenly over `over`.
pub async fn poison(count: u64, over: Duration, bus: BusConfig, input: String, stop: Stop) {
    if count == 0 {
        return;
    }
    let Ok(producer) = Producer::connect(&bus).await else {
        eprintln!("harness: cannot connect to the bus to inject poison messages");
        return;
    };
    let every = over / u32::try_from(count).unwrap_or(u32::MAX).max(1);
    for i in 0..count {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.stopped() => return,
        }
        let payload = format!("\u{0}poison #{i}: not an envelope").into_bytes();
        let _ = producer
            .publish(Outgoing {
                topic: input.clone(),
                key: format!("poison-{i}"),
                payload,
            })
            .await;
    }
}
