//! A payment that reaches the order service before anything else of its order is early,
//! not failed, on both backends: it waits for the order's state (without counting as an
//! attempt and without holding other orders back), is decided once the state arrives,
//! and is dead-lettered with a reason of its own (`state_timeout`) when the wait bound
//! runs out. "Other orders": on Redis every other order; on Kafka every order whose
//! payment is in another partition of `payments` (the committed offset is a watermark,
//! so a partition's later payments queue behind a waiting one; see
//! `services/runner.rs`).
//!
//! The test publishes `PaymentCaptured` for two orders the order service has never seen,
//! straight to the `payments` topic, while real orders flow. For `early-2` a
//! `StockReserved` (which carries the order's line) follows 6 s later, after the 8
//! attempts the order service used to spend on it (a few seconds of backoff) and well
//! inside the 12 s wait: its payment must be confirmed. `early-1` never gets one: its
//! payment must be dead-lettered after the 12 s, as `state_timeout`, with one attempt.

mod common;

use std::time::{Duration, Instant};

use common::{Options, Platform};
use events::{Currency, Envelope, Event, PaymentCaptured, Source, StockReserved};
use order_platform::bus::{Backend, Guarantee, Outgoing, Producer};
use order_platform::resilience::ReasonKind;
use time::OffsetDateTime;
use uuid::Uuid;

const STATE_WAIT: Duration = Duration::from_secs(12);

fn envelope(event: &Event, order_id: &str, seq: u64) -> Envelope {
    Envelope::new(
        event,
        Source {
            service: "test".into(),
            instance: 0,
        },
        order_id,
        seq,
        order_id,
        None,
        OffsetDateTime::now_utc(),
        Uuid::new_v4(),
    )
}

fn payment(order_id: &str) -> Envelope {
    let event = Event::PaymentCaptured(PaymentCaptured {
        order_id: order_id.into(),
        customer_id: "c-early".into(),
        amount_cents: 1025,
        currency: Currency::Eur,
        charge_id: format!("ch-{order_id}"),
        idempotency_key: order_id.into(),
        attempts: 1,
    });
    envelope(&event, order_id, 3)
}

fn reservation(order_id: &str) -> Envelope {
    let event = Event::StockReserved(StockReserved {
        order_id: order_id.into(),
        customer_id: "c-early".into(),
        sku: "sku-1".into(),
        quantity: 1,
        amount_cents: 1025,
        currency: Currency::Eur,
        available_after: 999,
    });
    envelope(&event, order_id, 2)
}

/// Publishes; returns the partition (0 on Redis).
async fn publish(producer: &Producer, topic: &str, envelope: &Envelope) -> u32 {
    let position = producer
        .publish(Outgoing {
            topic: topic.into(),
            key: envelope.key.clone(),
            payload: envelope.to_bytes().expect("json"),
        })
        .await
        .unwrap_or_else(|e| panic!("publish to {topic}: {e}"));
    match position.split_once(':') {
        Some((partition, _)) => partition.parse().expect("partition:offset"),
        None => 0,
    }
}

async fn early_payments_wait(backend: Backend) {
    let options = Options {
        state_wait: Some(STATE_WAIT),
        ..Options::default()
    };
    let platform = Platform::start(backend, Guarantee::ExactlyOnce, options).await;
    let mut bus = platform.reader_config();
    bus.topics = vec!["payments".into(), "inventory".into()];
    let producer = Producer::connect(&bus).await.expect("producer");
    let (never, later) = (payment("early-1"), payment("early-2"));
    let injected = Instant::now();
    let waiting = [
        publish(&producer, "payments", &never).await,
        publish(&producer, "payments", &later).await,
    ];

    // Other orders are not held back while the two wait: each finishes before the
    // waits end (12 s), except, on Kafka, those queued behind them in their partition.
    let later_state = async {
        tokio::time::sleep_until((injected + Duration::from_secs(6)).into()).await;
        publish(&producer, "inventory", &reservation("early-2")).await;
    };
    let busy = async {
        let orders = platform.place_many("busy", 100).await;
        let deadline = injected + Duration::from_secs(11);
        loop {
            let missing = platform
                .wait_terminal(&orders, Duration::from_millis(500))
                .await;
            let behind: Vec<String> = match backend {
                Backend::Redis => Vec::new(),
                Backend::Kafka => platform
                    .observations()
                    .into_iter()
                    .filter(|o| o.topic == "payments" && waiting.contains(&o.partition))
                    .map(|o| o.key)
                    .collect(),
            };
            let held: Vec<String> = missing
                .iter()
                .filter(|o| !behind.contains(o))
                .cloned()
                .collect();
            if held.is_empty() || Instant::now() >= deadline {
                break (orders, missing.len(), held);
            }
        }
    };
    let ((), (orders, unfinished, held)) = tokio::join!(later_state, busy);
    eprintln!(
        "{backend:?}: {:.1} s after the early payments, {unfinished} of 100 other orders unfinished, {} of them not queued behind them",
        injected.elapsed().as_secs_f64(),
        held.len()
    );
    assert!(
        held.is_empty(),
        "{backend:?}: orders held back behind the early payments: {held:?}"
    );

    // early-2's own payment is decided: an OrderConfirmed caused by it.
    let deadline = Instant::now() + Duration::from_secs(20);
    let confirmed = loop {
        let events = platform.events().await;
        let confirmed = events.iter().find(|(e, ev)| {
            matches!(ev, Event::OrderConfirmed(_)) && e.causation_id == Some(later.event_id)
        });
        if let Some((e, _)) = confirmed {
            break e.clone();
        }
        assert!(
            Instant::now() < deadline,
            "{backend:?}: early-2's payment was never confirmed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(confirmed.key, "early-2");

    // early-1's payment: dead-lettered once the wait ran out, with its own reason.
    let deadline = injected + STATE_WAIT + Duration::from_secs(20);
    let letters = loop {
        let letters = platform.dead_letters("order").await;
        if !letters.is_empty() || Instant::now() >= deadline {
            break letters;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let dead_at = injected.elapsed();
    // Everything queued behind the waits went through once they ended.
    let missing = platform
        .wait_terminal(&orders, Duration::from_secs(20))
        .await;
    assert!(
        missing.is_empty(),
        "{backend:?}: never finished: {missing:?}"
    );
    assert_eq!(
        letters.len(),
        1,
        "{backend:?}: one dead letter expected (early-1's payment): {letters:?}"
    );
    let letter = &letters[0];
    assert_eq!(letter.reason.kind, ReasonKind::StateTimeout, "{letter:?}");
    assert_eq!(
        letter.original_event_id.as_deref(),
        Some(never.event_id.to_string().as_str())
    );
    assert!(
        letter
            .reason
            .message
            .contains("early-1 not in the order's state yet")
            && letter.reason.message.starts_with("waited "),
        "{letter:?}"
    );
    assert_eq!(letter.attempts, 1, "waiting is not an attempt: {letter:?}");
    assert!(
        dead_at >= STATE_WAIT,
        "{backend:?}: dead-lettered after {dead_at:?}, before the {STATE_WAIT:?} wait"
    );
}

/// A real order the platform gives up is lost, and the checker names the dead letter
/// that holds it: an `OrderPlaced` for `dl-1` acknowledged by the broker whose payload
/// does not match its schema is dead-lettered (undecodable) by its consumers; the
/// checker counts it lost, "dead-lettered by ...", while the orders around it finish.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_a_dead_lettered_order_is_lost_and_named() {
    let platform =
        Platform::start(Backend::Redis, Guarantee::AtLeastOnce, Options::default()).await;
    let mut bus = platform.reader_config();
    bus.topics = vec!["orders".into()];
    let producer = Producer::connect(&bus).await.expect("producer");
    let mut broken = events::example(events::EventType::OrderPlaced);
    broken.event_id = Uuid::new_v4();
    broken.key = "dl-1".into();
    broken.correlation_id = "dl-1".into();
    broken.payload = serde_json::json!({"order_id": "dl-1"});
    publish(&producer, "orders", &broken).await;
    platform.record_acked("dl-1");
    let orders = platform.place_many("fine", 20).await;
    let missing = platform
        .wait_terminal(&orders, Duration::from_secs(30))
        .await;
    assert!(missing.is_empty(), "{missing:?}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while platform.dead_letters("inventory").await.is_empty() {
        assert!(
            Instant::now() < deadline,
            "inventory never dead-lettered dl-1"
        );
    }

    let judged = platform.judge().await;
    assert_eq!(
        judged.count(check::Anomaly::Lost),
        1,
        "{}",
        judged.summary()
    );
    let a = &judged.analysis.lost_attribution;
    assert_eq!(a.orders.len(), 1);
    let held = a.orders[0]
        .dead_letter
        .as_ref()
        .expect("dl-1's dead letter");
    assert_eq!(a.orders[0].order_id, "dl-1");
    assert_eq!(held.reason_kind, "undecodable", "{held:?}");
    assert_eq!(held.input_event_id, Some(broken.event_id.to_string()));
    let sentence = a.sentence().unwrap_or_default();
    eprintln!("{sentence}");
    assert!(
        sentence.starts_with("lost 1 — 1 dead-lettered by ")
            && sentence.contains("(undecodable, e.g."),
        "{sentence}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_early_payments_wait_for_their_order() {
    early_payments_wait(Backend::Redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_early_payments_wait_for_their_order() {
    early_payments_wait(Backend::Kafka).await;
}
