//! Two inventory instances, one SIGKILLed mid-stream, on both backends:
//! - at-least-once loses no order (duplicates are counted and reported, not forbidden);
//! - exactly-once loses none and shows no duplicate output event and no double charge;
//! - at-most-once keeps running (what it lost is counted and reported).

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{Options, Platform, duplicate_effects, id_counts};
use order_platform::bus::{Backend, Guarantee};

const ORDERS: usize = 240;
/// Orders placed per second (open loop, roughly).
const RATE: u64 = 60;

struct Outcome {
    lost: Vec<String>,
    /// Orders placed well after the kill that never completed.
    lost_after_recovery: Vec<String>,
    duplicate_deliveries: usize,
    duplicate_effects: usize,
    double_charges: usize,
}

async fn kill_one_inventory(backend: Backend, guarantee: Guarantee) -> Outcome {
    let options = Options {
        inventory: 2,
        partitions: 4,
        claim_idle_ms: 1500,
        ..Options::default()
    };
    let mut platform = Platform::start(backend, guarantee, options).await;
    let started = Instant::now();
    let mut orders = Vec::new();
    let mut killed_at = None;
    for i in 0..ORDERS {
        if killed_at.is_none() && started.elapsed() >= Duration::from_millis(1500) {
            platform.kill("inventory", 1);
            killed_at = Some(orders.len());
        }
        let id = format!("k-{i}");
        platform
            .place(&id, (i as u32) % platform.options.skus, 1)
            .await
            .expect("order accepted");
        orders.push(id);
        let next = started + Duration::from_millis(1000 * (i as u64 + 1) / RATE);
        tokio::time::sleep_until(next.into()).await;
    }
    let killed_at = killed_at.expect("the kill happened during the load");
    let wait = match guarantee {
        Guarantee::AtMostOnce => Duration::from_secs(40),
        _ => Duration::from_secs(120),
    };
    let lost = platform.wait_terminal(&orders, wait).await;
    // "Well after": a few seconds of load after the kill (Kafka moves partitions after
    // the 10 s session timeout; they are processed then, so those orders complete too).
    let recovery = (RATE as usize) * 3;
    let lost_after_recovery: Vec<String> = lost
        .iter()
        .filter(|o| {
            o[2..]
                .parse::<usize>()
                .is_ok_and(|i| i > killed_at + recovery)
        })
        .cloned()
        .collect();

    let events = platform.events().await;
    let duplicate_deliveries = id_counts(&events).values().filter(|&&n| n > 1).count();
    let duplicate_effects = duplicate_effects(&events).len();
    let ledger = platform.get_json("payment-gateway", "/ledger").await;
    let mut charges: BTreeMap<String, usize> = BTreeMap::new();
    for charge in ledger["charges"].as_array().expect("charges") {
        *charges
            .entry(charge["order_id"].as_str().expect("order").to_string())
            .or_default() += 1;
    }
    let double_charges = charges.values().filter(|&&n| n > 1).count();
    eprintln!(
        "{backend:?} {guarantee:?}: {} of {ORDERS} lost ({} after recovery), {duplicate_deliveries} duplicate deliveries, {duplicate_effects} duplicate effects, {double_charges} double charges",
        lost.len(),
        lost_after_recovery.len()
    );
    Outcome {
        lost,
        lost_after_recovery,
        duplicate_deliveries,
        duplicate_effects,
        double_charges,
    }
}

async fn at_least_once(backend: Backend) {
    let outcome = kill_one_inventory(backend, Guarantee::AtLeastOnce).await;
    assert!(
        outcome.lost.is_empty(),
        "{backend:?} at-least-once lost {:?}",
        outcome.lost
    );
}

async fn exactly_once(backend: Backend) {
    let outcome = kill_one_inventory(backend, Guarantee::ExactlyOnce).await;
    assert!(
        outcome.lost.is_empty(),
        "{backend:?} exactly-once lost {:?}",
        outcome.lost
    );
    assert_eq!(
        outcome.duplicate_deliveries, 0,
        "{backend:?}: an output event was published twice"
    );
    assert_eq!(
        outcome.duplicate_effects, 0,
        "{backend:?}: a step was applied twice"
    );
    assert_eq!(
        outcome.double_charges, 0,
        "{backend:?}: an order was charged twice"
    );
}

async fn at_most_once(backend: Backend) {
    let outcome = kill_one_inventory(backend, Guarantee::AtMostOnce).await;
    assert!(
        outcome.lost_after_recovery.is_empty(),
        "{backend:?} at-most-once stopped processing after the kill: {:?}",
        outcome.lost_after_recovery
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_at_least_once_loses_nothing() {
    at_least_once(Backend::Redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_exactly_once_loses_and_duplicates_nothing() {
    exactly_once(Backend::Redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_at_most_once_keeps_running() {
    at_most_once(Backend::Redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_at_least_once_loses_nothing() {
    at_least_once(Backend::Kafka).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_exactly_once_loses_and_duplicates_nothing() {
    exactly_once(Backend::Kafka).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_at_most_once_keeps_running() {
    at_most_once(Backend::Kafka).await;
}
