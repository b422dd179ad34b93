//! Both backends × all three delivery modes, on real Redis and Kafka: 200 orders sent
//! open loop each reach exactly one terminal state — judged by the pure checker (no
//! order lost or unobserved, no step applied twice, no order both confirmed and
//! cancelled, stock never negative and reserved + available = initial); the read model
//! (`GET /orders/{id}`) and inventory (`GET /inventory/{sku}`) agree with the events;
//! rebuilding the read model from the event log alone gives the live one.

mod common;

use std::collections::BTreeMap;

use common::{Options, Platform};
use events::Event;
use order_platform::bus::{Backend, Guarantee};
use order_platform::services::order_model::{OrderStore, OrderView};

async fn two_hundred_orders(backend: Backend, guarantee: Guarantee) {
    let options = Options {
        decline_ratio: 0.1,
        ..Options::default()
    };
    let platform = Platform::start(backend, guarantee, options).await;
    let what = format!("{backend:?} {guarantee:?}");
    let (orders, _) = platform.expect_clean_run(200, &what).await;

    // The read model agrees with the events, and a rebuild from the log equals it.
    let events = platform.events().await;
    let mut rebuilt = OrderStore::new(3);
    for (e, ev) in events.iter().cloned() {
        rebuilt.append(e, ev);
    }
    for order in &orders {
        let live: OrderView = serde_json::from_value(
            platform
                .get_json("order", &format!("/orders/{order}"))
                .await,
        )
        .unwrap_or_else(|e| panic!("{order}: read model answer: {e}"));
        let from_log = rebuilt.get(order).expect("order in the log");
        assert_eq!(
            live, from_log,
            "{order}: live read model vs rebuilt from the event log"
        );
        assert_eq!(
            live.shipped, live.confirmed,
            "{order}: confirmed orders ship, others do not"
        );
    }

    // Inventory: per SKU, reserved = units of confirmed orders (the checker holds
    // available >= 0 and available + reserved = initial per shard).
    let mut confirmed_units: BTreeMap<String, i64> = BTreeMap::new();
    for (_, ev) in &events {
        if let Event::OrderConfirmed(c) = ev {
            *confirmed_units.entry(c.sku.clone()).or_default() += i64::from(c.quantity);
        }
    }
    for sku in 0..platform.options.skus {
        let sku = format!("sku-{sku}");
        let view = platform
            .get_json("inventory", &format!("/inventory/{sku}"))
            .await;
        let reserved: i64 = view["reserved"].as_i64().expect("reserved");
        assert_eq!(
            reserved,
            confirmed_units.get(&sku).copied().unwrap_or(0),
            "{sku}: {view}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_at_most_once() {
    two_hundred_orders(Backend::Redis, Guarantee::AtMostOnce).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_at_least_once() {
    two_hundred_orders(Backend::Redis, Guarantee::AtLeastOnce).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_exactly_once() {
    two_hundred_orders(Backend::Redis, Guarantee::ExactlyOnce).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_at_most_once() {
    two_hundred_orders(Backend::Kafka, Guarantee::AtMostOnce).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_at_least_once() {
    two_hundred_orders(Backend::Kafka, Guarantee::AtLeastOnce).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_exactly_once() {
    two_hundred_orders(Backend::Kafka, Guarantee::ExactlyOnce).await;
}
