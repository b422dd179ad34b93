//! The platform's failure handling, on real brokers: the saga compensates failed
//! payments; poison messages go to the dead-letter stream/topic without blocking the
//! flow; a gateway outage (its proxy disabled) opens the circuit breaker, which closes
//! again through a half-open probe when the gateway is back; bad HTTP input is refused
//! with 4xx and the service keeps serving. Orders go out open loop; the pure checker
//! judges each flow alongside the test's own assertions (saga counts, dead letters,
//! breaker transitions).

mod common;

use std::time::{Duration, Instant};

use check::{Anomaly, Decision};
use common::{Options, Platform};
use events::{Envelope, Event};
use order_platform::bus::{Backend, Guarantee, Outgoing, Producer};
use order_platform::resilience::{DeadLetter, ReasonKind};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_payments_are_compensated_and_invariants_hold() {
    let options = Options {
        decline_ratio: 0.5,
        skus: 3,
        initial_stock: 100,
        ..Options::default()
    };
    let platform = Platform::start(Backend::Redis, Guarantee::AtLeastOnce, options).await;
    let orders = platform.place_many("saga", 60).await;
    assert!(
        platform
            .wait_terminal(&orders, Duration::from_secs(60))
            .await
            .is_empty()
    );

    let events = platform.events().await;
    let count = |f: fn(&Event) -> bool| events.iter().filter(|(_, e)| f(e)).count();
    let failed = count(|e| matches!(e, Event::PaymentFailed(_)));
    let released = count(|e| matches!(e, Event::StockReleased(_)));
    let cancelled_for_payment = count(
        |e| matches!(e, Event::OrderCancelled(c) if c.reason == events::CancellationReason::PaymentFailed),
    );
    assert!(failed > 10, "half the payments should fail, {failed} did");
    assert_eq!(released, failed, "every failed payment releases its stock");
    assert_eq!(cancelled_for_payment, failed, "and cancels its order");
    // The checker: nothing lost, no step twice, stock invariants hold per shard.
    platform
        .judge()
        .await
        .expect("saga", Decision::Pass, &[Anomaly::DuplicateEffect]);

    // Released stock is back: per SKU, reserved is exactly the confirmed units.
    for sku in 0..3 {
        let view = platform
            .get_json("inventory", &format!("/inventory/sku-{sku}"))
            .await;
        let confirmed: i64 = events
            .iter()
            .filter_map(|(_, e)| match e {
                Event::OrderConfirmed(c) if c.sku == format!("sku-{sku}") => {
                    Some(i64::from(c.quantity))
                }
                _ => None,
            })
            .sum();
        assert_eq!(view["reserved"].as_i64(), Some(confirmed), "{view}");
        assert_eq!(
            view["available"].as_i64().map(|a| a + confirmed),
            Some(100),
            "{view}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_messages_go_to_the_dead_letter_topic_and_the_flow_continues() {
    for backend in [Backend::Redis, Backend::Kafka] {
        let platform = Platform::start(backend, Guarantee::AtLeastOnce, Options::default()).await;
        let mut config = platform.reader_config();
        config.topics = vec!["orders".into()];
        let producer = Producer::connect(&config).await.expect("producer");
        let good = platform.place_many("before", 5).await;
        // Three kinds of poison on the orders topic, straight to the broker.
        let mut valid = events::example(events::EventType::OrderPlaced);
        valid.event_type = "OrderTeleported".into();
        let mut bad_payload = events::example(events::EventType::OrderPlaced);
        bad_payload.payload = serde_json::json!({"order_id": 17});
        // An id of its own: to the checker, a foreign OrderPlaced (a phantom).
        bad_payload.event_id = uuid::Uuid::new_v4();
        for payload in [
            b"\xff not json".to_vec(),
            valid.to_bytes().expect("json"),
            bad_payload.to_bytes().expect("json"),
        ] {
            producer
                .publish(Outgoing {
                    topic: "orders".into(),
                    key: "poison".into(),
                    payload,
                })
                .await
                .expect("publish poison");
        }
        let after = platform.place_many("after", 5).await;
        let all: Vec<String> = good.into_iter().chain(after).collect();
        let missing = platform.wait_terminal(&all, Duration::from_secs(60)).await;
        assert!(
            missing.is_empty(),
            "{backend:?}: the flow stopped at the poison: {missing:?}"
        );

        // Every consumer of `orders` dead-letters all three, with reason and attempts.
        let deadline = Instant::now() + Duration::from_secs(30);
        let letters = loop {
            let letters: Vec<DeadLetter> = platform
                .read_all(&["dlq.inventory"])
                .await
                .into_iter()
                .map(|(_, bytes)| DeadLetter::from_json(&bytes).expect("dead letter"))
                .collect();
            if letters.len() >= 3 || Instant::now() > deadline {
                break letters;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        };
        assert_eq!(letters.len(), 3, "{backend:?}: {letters:?}");
        assert!(
            letters
                .iter()
                .all(|l| l.reason.kind == ReasonKind::Undecodable
                    && l.attempts >= 1
                    && l.original_topic == "orders")
        );
        assert!(
            letters
                .iter()
                .any(|l| l.reason.message.contains("OrderTeleported")),
            "{letters:?}"
        );
        assert!(
            letters.iter().any(|l| l.original_event_id.is_none()),
            "raw garbage has no event id"
        );
        let metrics = platform.metrics("inventory", 0).await;
        assert!(
            metrics.contains(
                "order_platform_dead_letters_total{service=\"inventory\",instance=\"0\"} 3"
            ),
            "{metrics}"
        );
        // To the checker the foreign OrderPlaced (a key no order was sent with) is a
        // phantom; nothing else is wrong with the flow.
        let judged = platform.judge().await;
        assert_eq!(judged.count(Anomaly::Phantom), 1, "{}", judged.summary());
        let what = format!("{backend:?} poison");
        let none = [
            Anomaly::Lost,
            Anomaly::Unobserved,
            Anomaly::DuplicateDelivery,
            Anomaly::DuplicateEffect,
        ];
        judged.expect(&what, Decision::Fail, &none);
    }
}

fn breaker_state(metrics: &str) -> Option<i64> {
    metrics
        .lines()
        .find(|l| l.starts_with("order_platform_breaker_state{"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_outage_opens_the_breaker_and_a_probe_closes_it() {
    let platform =
        Platform::start(Backend::Redis, Guarantee::AtLeastOnce, Options::default()).await;
    let toxiproxy = platform.toxiproxy();
    toxiproxy
        .set_enabled(&platform.gateway_proxy, false)
        .await
        .expect("gateway down");
    let orders = platform.place_many("outage", 10).await;

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let metrics = platform.metrics("payment", 0).await;
        if breaker_state(&metrics) == Some(2) {
            assert!(metrics.contains(r#"from="closed",to="open""#), "{metrics}");
            let retries: f64 = metrics
                .lines()
                .find(|l| l.starts_with("order_platform_retries_total"))
                .and_then(|l| l.rsplit(' ').next())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0.0);
            assert!(retries >= 5.0, "retries before opening: {retries}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the breaker never opened: {metrics}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Nothing was confirmed while the gateway was down.
    let confirmed = platform
        .events()
        .await
        .iter()
        .filter(|(_, e)| matches!(e, Event::OrderConfirmed(_)))
        .count();
    assert_eq!(confirmed, 0);

    toxiproxy
        .set_enabled(&platform.gateway_proxy, true)
        .await
        .expect("gateway back");
    let missing = platform
        .wait_terminal(&orders, Duration::from_secs(60))
        .await;
    assert!(
        missing.is_empty(),
        "orders stuck after the gateway came back: {missing:?}"
    );
    let metrics = platform.metrics("payment", 0).await;
    assert_eq!(breaker_state(&metrics), Some(0), "{metrics}");
    assert!(
        metrics.contains(r#"from="open",to="half_open""#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"from="half_open",to="closed""#),
        "{metrics}"
    );
    // The outage delayed payments; it did not fail them.
    let events = platform.events().await;
    let confirmed = events
        .iter()
        .filter(|(_, e)| matches!(e, Event::OrderConfirmed(_)))
        .count();
    assert_eq!(confirmed, orders.len());
    platform.judge().await.expect(
        "gateway outage",
        Decision::Pass,
        &[Anomaly::DuplicateEffect],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_http_input_is_refused_and_the_service_keeps_serving() {
    let platform =
        Platform::start(Backend::Redis, Guarantee::AtLeastOnce, Options::default()).await;
    let url = format!("http://{}/orders", platform.http("order", 0));
    let client = platform.client();
    let post = |body: String, content_type: &'static str| {
        let request = client
            .post(&url)
            .header("content-type", content_type)
            .body(body);
        async move { request.send().await.expect("POST /orders") }
    };
    let cases: Vec<(String, &'static str, u16)> = vec![
        ("{not json".into(), "application/json", 400),
        (
            r#"{"customer_id":"c1","sku":"sku-1"}"#.into(),
            "application/json",
            422,
        ),
        (
            r#"{"customer_id":"c1","sku":"sku-999","quantity":1}"#.into(),
            "application/json",
            422,
        ),
        (
            r#"{"customer_id":"c1","sku":"sku-1","quantity":0}"#.into(),
            "application/json",
            422,
        ),
        (
            r#"{"customer_id":"c1","sku":"sku-1","quantity":1,"bogus":true}"#.into(),
            "application/json",
            422,
        ),
        (
            r#"{"customer_id":"","sku":"sku-1","quantity":1}"#.into(),
            "application/json",
            422,
        ),
        (
            r#"{"customer_id":"c1","sku":"sku-1","quantity":1}"#.into(),
            "text/plain",
            415,
        ),
        (
            format!(
                r#"{{"customer_id":"{}","sku":"sku-1","quantity":1}}"#,
                "x".repeat(20_000)
            ),
            "application/json",
            413,
        ),
    ];
    for (body, content_type, expected) in cases {
        let response = post(body.clone(), content_type).await;
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        assert_eq!(status, expected, "{}: {text}", &body[..body.len().min(80)]);
        let error: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("JSON error body, got {text}"));
        assert!(
            error["error"].is_string() && error["detail"].is_string(),
            "{text}"
        );
    }
    let response = post(
        r#"{"customer_id":"c1","sku":"sku-1","quantity":1}"#.into(),
        "application/json",
    )
    .await;
    assert_eq!(response.status().as_u16(), 201);
    let accepted: serde_json::Value = response.json().await.expect("JSON");
    let order = accepted["order_id"].as_str().expect("order id").to_string();
    assert!(
        platform
            .wait_terminal(&[order], Duration::from_secs(30))
            .await
            .is_empty()
    );
    // Unknown orders are 404 with a JSON body.
    let missing = client
        .get(format!("http://{}/orders/nope", platform.http("order", 0)))
        .send()
        .await
        .expect("GET");
    assert_eq!(missing.status().as_u16(), 404);
    // A v1 OrderPlaced is upcast by every consumer and completes like any other.
    let v1 = post(r#"{"order_id":"v1-order","customer_id":"c1","sku":"sku-2","quantity":1,"schema_version":1}"#.into(), "application/json").await;
    assert_eq!(v1.status().as_u16(), 201);
    assert!(
        platform
            .wait_terminal(&["v1-order".to_string()], Duration::from_secs(30))
            .await
            .is_empty()
    );
    let placed = platform
        .events()
        .await
        .into_iter()
        .find(|(e, _): &(Envelope, Event)| e.key == "v1-order" && e.event_type == "OrderPlaced");
    assert_eq!(placed.map(|(e, _)| e.schema_version), Some(1));
}
