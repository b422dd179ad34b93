//! Two inventory instances, one SIGKILLed mid-stream, on both backends and in all three
//! modes, under open-loop load (orders go out at their intended times whatever the
//! platform answers; latency counts from the intended time). The pure checker judges
//! each run by its guarantee's rules:
//! - at-most-once may lose what the killed instance had taken but not processed, on
//!   both backends (counted and printed): Kafka commits before processing, Redis reads
//!   with NOACK, so an entry in flight at the kill is gone (a run lost `k-90`, the
//!   order intended at the kill, on Redis); at-least-once and exactly-once lose
//!   nothing;
//! - at-least-once may duplicate (counted and printed, not forbidden);
//! - exactly-once shows no duplicate output event, no step applied twice and no
//!   double charge at the gateway;
//! - every mode keeps running: no order intended a second or more after the kill is
//!   lost.

mod common;

use std::time::{Duration, Instant};

use check::{Anomaly, Decision};
use common::{Options, Platform};
use order_platform::bus::{Backend, Guarantee};

const ORDERS: usize = 240;
/// Orders intended per second (open loop).
const RATE: u32 = 60;
/// When inventory#1 is killed, from the start of the schedule.
const KILL_AT: Duration = Duration::from_millis(1500);

async fn kill_one_inventory(backend: Backend, guarantee: Guarantee) {
    let options = Options {
        inventory: 2,
        partitions: 4,
        claim_idle: Duration::from_millis(1500),
        ..Options::default()
    };
    let platform = Platform::start(backend, guarantee, options).await;
    let orders = platform.orders("k", ORDERS);
    let ids: Vec<String> = orders.iter().map(|o| o.id.clone()).collect();
    let start = Instant::now();
    let kill = async {
        tokio::time::sleep_until((start + KILL_AT).into()).await;
        platform.kill("inventory", 1);
    };
    tokio::join!(platform.send_open_loop(orders, start, RATE), kill);

    let wait = match guarantee {
        Guarantee::AtMostOnce => Duration::from_secs(40),
        _ => Duration::from_secs(120),
    };
    let missing = platform.wait_terminal(&ids, wait).await;
    if !missing.is_empty() {
        let found = platform.terminal_in_log(&missing).await;
        eprintln!(
            "{backend:?} {guarantee:?}: {} orders without a terminal event at the tap; a fresh read of the log finds one for {found:?}",
            missing.len()
        );
    }
    let judged = platform.judge().await;
    let what = format!("{backend:?} {guarantee:?}, inventory#1 killed");
    eprintln!("{what}: {}", judged.summary());
    eprintln!(
        "{what}: {} of {ORDERS} lost, {} duplicate deliveries, {} duplicate effects ({} extra charges)",
        judged.count(Anomaly::Lost),
        judged.count(Anomaly::DuplicateDelivery),
        judged.count(Anomaly::DuplicateEffect),
        judged.analysis.anomaly_details.extra_charges,
    );

    // Every mode's required rules (the checker's verdict), then what this test claims
    // beyond them.
    let none: &[Anomaly] = match guarantee {
        Guarantee::AtMostOnce => &[],
        Guarantee::AtLeastOnce => &[Anomaly::Lost],
        Guarantee::ExactlyOnce => &[Anomaly::Lost, Anomaly::DuplicateEffect],
    };
    judged.expect(&what, Decision::Pass, none);
    if guarantee == Guarantee::ExactlyOnce {
        assert_eq!(
            judged
                .analysis
                .anomaly_details
                .processing_duplicate_deliveries(),
            0,
            "{what}: an output event was published twice: {}",
            judged.summary()
        );
    }
    // Kept running: what was lost was in flight around the kill. Order i is intended
    // at i / RATE s.
    let after = (KILL_AT + Duration::from_secs(1)).as_secs_f64() * f64::from(RATE);
    let lost_later: Vec<&String> = missing
        .iter()
        .filter(|o| o[2..].parse::<f64>().is_ok_and(|i| i >= after))
        .collect();
    assert!(
        lost_later.is_empty(),
        "{what}: stopped processing after the kill: {lost_later:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_at_most_once_keeps_running() {
    kill_one_inventory(Backend::Redis, Guarantee::AtMostOnce).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_at_least_once_loses_nothing() {
    kill_one_inventory(Backend::Redis, Guarantee::AtLeastOnce).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_exactly_once_loses_and_duplicates_nothing() {
    kill_one_inventory(Backend::Redis, Guarantee::ExactlyOnce).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_at_most_once_keeps_running() {
    kill_one_inventory(Backend::Kafka, Guarantee::AtMostOnce).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_at_least_once_loses_nothing() {
    kill_one_inventory(Backend::Kafka, Guarantee::AtLeastOnce).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_exactly_once_loses_and_duplicates_nothing() {
    kill_one_inventory(Backend::Kafka, Guarantee::ExactlyOnce).await;
}
