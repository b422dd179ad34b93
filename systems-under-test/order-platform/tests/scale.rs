//! Horizontal scale: two instances of every service (the gateway aside) on both
//! backends, at-least-once and exactly-once, 200 orders sent open loop to both order
//! instances — judged by the pure checker like one instance each (`flow.rs`): every
//! order reaches one terminal state, nothing applied twice, no per-key ordering
//! violation, stock consistent.

mod common;

use common::{Options, Platform};
use order_platform::bus::{Backend, Guarantee};

async fn two_of_each(backend: Backend, guarantee: Guarantee) {
    let options = Options {
        instances: 2,
        decline_ratio: 0.1,
        ..Options::default()
    };
    let platform = Platform::start(backend, guarantee, options).await;
    let running = platform.pids();
    for service in lab::platform::SERVICES
        .iter()
        .filter(|s| **s != "payment-gateway")
    {
        let n = running.iter().filter(|(s, _, _)| s == service).count();
        assert_eq!(n, 2, "{service}: instances running");
    }
    let what = format!("{backend:?} {guarantee:?} ×2");
    platform.expect_clean_run(200, &what).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_at_least_once_two_of_each() {
    two_of_each(Backend::Redis, Guarantee::AtLeastOnce).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_exactly_once_two_of_each() {
    two_of_each(Backend::Redis, Guarantee::ExactlyOnce).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_at_least_once_two_of_each() {
    two_of_each(Backend::Kafka, Guarantee::AtLeastOnce).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_exactly_once_two_of_each() {
    two_of_each(Backend::Kafka, Guarantee::ExactlyOnce).await;
}
